"""PDF report, settings persistence, CLI plug-in and the headless screenshot mode."""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")

from edge_screen.errors import UsageError  # noqa: E402
from edge_screen.gui.records import RecordStore  # noqa: E402
from edge_screen.gui.strings import Strings  # noqa: E402

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]


def test_pdf_report_from_record(qapp, tmp_path, idrid_image):
    from edge_screen.gui.workers import heatmap_png
    from edge_screen.gui.report import load_visit_images, write_visit_report

    store = RecordStore(tmp_path / "rec")
    yy, xx = np.mgrid[0:680, 0:1024]
    heat = np.exp(-((xx - 600) ** 2 + (yy - 300) ** 2) / (2 * 80.0 ** 2)).astype(np.float32)
    rec = store.add_visit(patient_id="P-PDF", eye="OD", image=idrid_image.read_bytes(), image_ext=".jpg",
                          verdict="abnormal", probability=0.82, threshold=0.31, bundle_id="tiny@0.0.1:abc",
                          bundle_version="0.0.1", backend="onnxruntime/fp32", operator="op",
                          heatmap_png=heatmap_png(heat))
    rgb, loaded_heat = load_visit_images(rec, store)
    assert rgb.shape == (680, 1024, 3) and np.abs(loaded_heat - heat).max() <= 1 / 255 + 1e-6
    out = write_visit_report(tmp_path / "visit.pdf", rec, store, Strings())
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 1
    assert len(re.findall(rb"/Subtype\s*/Image", data)) >= 2          # the photo and the heatmap overlay
    assert len(data) > 20_000
    # ungradable visit without heatmap still gives a report
    rec2 = store.add_visit(patient_id="P-PDF", eye="OS", image=idrid_image.read_bytes(), image_ext=".jpg",
                           verdict="ungradable", probability=None, threshold=0.31, bundle_id="b", bundle_version="1",
                           backend="onnxruntime", quality_reasons=("blurred",))
    data2 = write_visit_report(tmp_path / "visit2.pdf", rec2, store, Strings()).read_bytes()
    assert len(re.findall(rb"/Subtype\s*/Image", data2)) == 1


def test_settings_persist_and_validate(tmp_path, caplog):
    from edge_screen.gui.settings import AppSettings

    ini = tmp_path / "s.ini"
    s = AppSettings(ini)
    assert (s.backend, s.threads, s.dicom_port, s.dicom_host, s.dicom_enabled) == ("auto", 0, 11112, "127.0.0.1", False)
    s.bundle_path, s.backend, s.threads = "/models/b.zip", "openvino", 4
    s.camera, s.watch_folder, s.dicom_port, s.dicom_enabled = "/dev/video2", "/exports", 4242, True
    s.operator, s.language = "tech7", "en"
    s.sync()
    t = AppSettings(ini)
    assert (t.bundle_path, t.backend, t.threads, t.camera, t.watch_folder, t.dicom_port, t.dicom_enabled,
            t.operator) == ("/models/b.zip", "openvino", 4, "/dev/video2", "/exports", 4242, True, "tech7")
    for attr, bad in [("backend", "cuda"), ("threads", -1), ("dicom_port", 70000), ("language", "xx")]:
        with pytest.raises(UsageError):
            setattr(t, attr, bad)
    # a hand-edited bad value: default used, and said so
    ini.write_text(ini.read_text().replace("port=4242", "port=banana"))
    caplog.set_level(logging.WARNING)
    assert AppSettings(ini).dicom_port == 11112
    assert "banana" in caplog.text


def test_cli_plugin_registers_app_without_importing_qt():
    code = ("import argparse, sys\n"
            "from edge_screen.gui.cli import register_app\n"
            "p = argparse.ArgumentParser(); sub = p.add_subparsers()\n"
            "register_app(sub)\n"
            "a = p.parse_args(['app', '--open', 'x.jpg', '--screenshot', 'o.png', '--eye', 'OS'])\n"
            "assert a.func.__name__ == '_run_app' and a.open == ['x.jpg'] and a.eye == 'OS'\n"
            "print(sorted(m for m in sys.modules if m.startswith('PySide6')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _run_app(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "edge_screen.gui.app", "--settings", str(tmp_path / "s.ini"),
           "--data-dir", str(tmp_path / "data"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def test_headless_screenshot_without_model_says_so(tmp_path, idrid_image):
    shot = tmp_path / "nomodel.png"
    out = _run_app(tmp_path, "--bundle", str(tmp_path / "missing"), "--open", str(idrid_image),
                   "--screenshot", str(shot))
    assert out.returncode == 3, out.stderr
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (800, 1280)


def test_headless_screenshot_png_a_person_can_look_at(tmp_path, screen_bundle, idrid_image):
    """Writes out/screenshots/app_screen.png (git-ignored) for a person to look at."""
    from edge_screen.gui.widgets import VERDICT_COLOURS

    shot = REPO / "out" / "screenshots" / "app_screen.png"
    out = _run_app(tmp_path, "--bundle", str(screen_bundle), "--open", str(idrid_image), "--screenshot", str(shot),
                   "--patient", "DEMO-0001")
    assert out.returncode == 0, out.stderr
    img = cv2.imread(str(shot))
    assert img.shape[:2] == (800, 1280)
    # the verdict banner is painted in one of the verdict colours (not the empty grey)
    bgr_colours = {k: tuple(int(c, 16) for c in (v[0][5:7], v[0][3:5], v[0][1:3]))
                   for k, v in VERDICT_COLOURS.items() if k in ("abnormal", "normal", "ungradable")}
    banner = img[200:320, 380:1250].reshape(-1, 3)
    hits = {k: int(np.all(np.abs(banner.astype(int) - np.array(c)) <= 3, axis=1).sum()) for k, c in bgr_colours.items()}
    assert max(hits.values()) > 20_000, hits
    assert (tmp_path / "data" / "records.sqlite3").is_file()       # the visit was saved too


def test_main_usage_errors(capsys):
    from edge_screen.gui.app import main

    assert main(["--screenshot", "x.png"]) == 2
    assert "--open" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        argparse.ArgumentParser()
        main(["--eye", "left"])
