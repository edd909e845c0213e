"""The app in a real X11 window (Qt's xcb platform) on an Xvfb screen of 1280x720, the smallest the app
supports: it maps, screens a photo, saves it, and its window fits the screen. Skipped where Xvfb or
the xcb platform's libraries are absent (apt-get install xvfb libxcb-icccm4 libxcb-keysyms1
libxcb-cursor0 libxkbcommon-x11-0)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui


@pytest.fixture()
def xvfb_display():
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb): no real-window test on this machine")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as fh:
            number = fh.readline().strip()
        if not number:
            pytest.skip(f"Xvfb did not start: {proc.stderr.read().decode(errors='replace')[-300:]}")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_real_window_under_xvfb(xvfb_display, tmp_path, screen_bundle, idrid_image):
    from edge_screen.gui.records import RecordStore

    shot = tmp_path / "xcb.png"
    env = {"DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "EDGE_SCREEN_APP_TIMING": "1"}
    cmd = [sys.executable, "-m", "edge_screen.gui.app", "--settings", str(tmp_path / "s.ini"), "--data-dir",
           str(tmp_path / "data"), "--bundle", str(screen_bundle), "--backend", "onnxruntime", "--open",
           str(idrid_image), "--patient", "X-1", "--eye", "OS", "--screenshot", str(shot)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    if out.returncode != 0 and ("could not connect to display" in out.stderr
                                or ("xcb" in out.stderr and "plugin" in out.stderr)):
        pytest.skip(f"Qt's xcb platform cannot run here: {out.stderr.strip().splitlines()[-1]}")
    assert out.returncode == 0, out.stderr
    marks = {m[0]: (m[1], m[2]) for m in re.findall(r"timing (\w+) [\d.]+ since_run_s=[\d.]+ window=(\S+) "
                                                     r"screen=(\S+)", out.stdout)}
    assert set(marks) == {"window_shown", "first_screened"}, out.stdout
    geometry, screen = marks["first_screened"]
    w, h = (int(v) for v in geometry.split("+")[0].split("x"))
    sw, sh = (int(v) for v in screen.split("x"))
    assert (sw, sh) == (1280, 720) and w <= sw and h <= sh, (geometry, screen)    # fits, status bar included
    import cv2

    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (720, 1280)
    assert img[-30:].std() > 0 or img[-30:].mean() > 0                            # the bottom row is drawn
    assert [(r.patient_id, r.eye) for r in RecordStore(tmp_path / "data").search()] == [("X-1", "OS")]
    assert Path(shot).stat().st_size > 10_000
