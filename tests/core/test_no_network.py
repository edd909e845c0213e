"""No network, ever: ``edge-screen screen`` and the app's screenshot mode attempt no connection.

Each command runs in a subprocess whose Python socket calls are recorded and blocked
(``netguard/sitecustomize.py``, inherited by Python children) and, where strace is installed, under
``strace -f`` as well, which sees every process (native code and non-Python children included).
``HOME`` points at an empty folder, so OpenVINO's telemetry would leave ``intel/openvino_ga_cid``
there. OpenVINO 2026.4 sent a Google Analytics event on ``import openvino`` (issue 12).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_screen.bundle import default_bundle_path

GUARD = Path(__file__).resolve().parent / "netguard"
SAMPLE = Path(__file__).resolve().parents[2] / "edge_screen" / "samples" / "idrid_0018.jpg"
STRACE = shutil.which("strace")
# connect()/sendto() to an IP address, or to the glibc name-service socket (a host-name lookup)
_NET_SYSCALL = re.compile(r"(connect|sendto|sendmsg)\(.*(sa_family=AF_INET6?\b|nscd/socket)")


def _probe_strace() -> bool:
    """strace can trace here (not in every container: ptrace may be forbidden)."""
    if STRACE is None:
        return False
    r = subprocess.run([STRACE, "-f", "-qq", "-e", "trace=none", "true"], capture_output=True, timeout=30)
    return r.returncode == 0


USE_STRACE = _probe_strace()


def _run_guarded(cmd: list[str], tmp: Path, *, timeout: float = 300, env: dict | None = None) -> tuple[subprocess.CompletedProcess, list[dict], list[str]]:  # fmt: skip
    """Run ``cmd`` with the recorder; returns (process, recorded Python attempts, strace network lines)."""
    log = tmp / "net.jsonl"
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    e = {**os.environ, **(env or {}), "EDGE_SCREEN_NETLOG": str(log), "HOME": str(home),
         "PYTHONPATH": os.pathsep.join([str(GUARD), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
         "EDGE_SCREEN_CACHE": str(tmp / "cache")}  # fmt: skip
    e.pop("CI", None)  # OpenVINO's own "CI" opt-out must not be what keeps the test green
    trace = tmp / "strace.txt"
    full = ([STRACE, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(trace)] if USE_STRACE else []) + cmd
    proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=e)
    attempts = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    lines = [ln for ln in trace.read_text().splitlines() if _NET_SYSCALL.search(ln)] if trace.is_file() else []
    return proc, attempts, lines


def test_the_guard_sees_attempts_of_children_and_grandchildren(tmp_path: Path) -> None:
    """The recorder must be able to fail: a grandchild's lookup and a child's connect are caught."""
    code = ("import socket, subprocess, sys\n"
            "subprocess.run([sys.executable, '-c', 'import socket\\ntry: socket.getaddrinfo(\"example.invalid\", 80)\\n"
            "except OSError: pass'])\n"
            "s = socket.socket()\n"
            "try: s.connect(('192.0.2.1', 9))\n"
            "except OSError: pass\n")  # fmt: skip
    proc, attempts, lines = _run_guarded([sys.executable, "-c", code], tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    kinds = sorted((a["kind"], a["pid"]) for a in attempts)
    assert [k for k, _ in kinds] == ["connect", "getaddrinfo"] and kinds[0][1] != kinds[1][1], attempts
    if USE_STRACE:  # the native view: the child's connect to 192.0.2.1 never reached the kernel (blocked
        assert not any("192.0.2.1" in ln for ln in lines)  # in Python), so strace shows none either


def _assert_offline(proc: subprocess.CompletedProcess, attempts: list[dict], lines: list[str], home: Path) -> None:
    assert not attempts, "network attempts: " + json.dumps(attempts, indent=1)[:3000]
    assert not lines, "network syscalls (strace -f):\n" + "\n".join(lines[:20])
    assert not (home / "intel" / "openvino_ga_cid").exists(), "OpenVINO telemetry wrote its client id"


@pytest.mark.skipif(default_bundle_path() is None, reason="no default bundle shipped")
def test_screen_attempts_no_connection(tmp_path: Path) -> None:
    pytest.importorskip("openvino", reason="the telemetry came with OpenVINO; without it there is nothing to test")
    cmd = [sys.executable, "-m", "edge_screen", "screen", str(SAMPLE), "--backend", "openvino", "--precision", "int8", "--json"]
    proc, attempts, lines = _run_guarded(cmd, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["backend"] == "openvino" and out["selection"]["backend"] == "openvino"
    _assert_offline(proc, attempts, lines, tmp_path / "home")


@pytest.mark.gui
@pytest.mark.skipif(default_bundle_path() is None, reason="no default bundle shipped")
def test_app_screenshot_mode_attempts_no_connection(tmp_path: Path) -> None:
    pytest.importorskip("PySide6", reason="the app needs PySide6")
    pytest.importorskip("openvino", reason="the telemetry came with OpenVINO; without it there is nothing to test")
    shot = tmp_path / "app.png"
    cmd = [sys.executable, "-m", "edge_screen", "app", "--open", str(SAMPLE), "--screenshot", str(shot),
           "--patient", "NET-0001", "--eye", "OD", "--backend", "openvino", "--settings", str(tmp_path / "settings.ini"), "--data-dir", str(tmp_path / "records")]
    proc, attempts, lines = _run_guarded(cmd, tmp_path, env={"QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
    assert shot.is_file() and shot.stat().st_size > 10_000
    _assert_offline(proc, attempts, lines, tmp_path / "home")


def test_openvino_is_imported_with_its_telemetry_stubbed() -> None:
    pytest.importorskip("openvino")
    code = ("import sys\n"
            "from edge_screen.runtimes.openvino import import_openvino\n"
            "ov = import_openvino()\n"
            "from openvino.tools.ovc import telemetry_utils\n"
            "print(sys.modules['openvino_telemetry'] is None, telemetry_utils.tm.__name__)\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.split() == ["True", "openvino.tools.ovc.telemetry_stub"]


def test_runtime_imports_openvino_without_its_converter_and_the_converter_stays_reachable() -> None:
    """The runtime skips openvino.tools.ovc (start-up time); code that later wants
    ``openvino.convert_model`` (the exporters, NNCF, a user's script) still gets it, telemetry-free."""
    pytest.importorskip("openvino")
    code = ("import sys\n"
            "from edge_screen.runtimes.openvino import import_openvino\n"
            "ov = import_openvino(converter=False)\n"
            "print('openvino.tools.ovc' in sys.modules, callable(ov.Core))\n"
            "import openvino\n"
            "fn = openvino.convert_model\n"
            "from openvino.tools.ovc import telemetry_utils\n"
            "print(fn.__module__, telemetry_utils.tm.__name__, sys.modules['openvino_telemetry'] is None)\n"
            "print(import_openvino().convert_model is fn)\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.split() == ["False", "True", "openvino.tools.ovc.convert", "openvino.tools.ovc.telemetry_stub", "True",
                           "True"]  # fmt: skip
