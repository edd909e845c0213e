"""Start-up measurements, each in fresh processes: ``edge-screen screen IMG`` per backend (the CLI
user's one-image wall time) and the desktop app from launch to its window and its first screened image.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from edge_screen.benchmarks.harness import summarize
from edge_screen.errors import EdgeScreenError

if TYPE_CHECKING:
    from edge_screen.benchmarks.runner import BenchmarkConfig


def _app_marks(stdout: str) -> dict[str, float]:
    """``timing <what> <epoch> since_run_s=<s>`` lines the app prints with EDGE_SCREEN_APP_TIMING set -> ms."""
    marks = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] == "timing" and parts[3].startswith("since_run_s="):
            marks[parts[1]] = float(parts[3].split("=", 1)[1]) * 1e3
    return marks


def measure_app(cfg: BenchmarkConfig, *, image: Path, work: Path, backend: str | None = None) -> dict:
    """``edge-screen-app --open IMG --screenshot PNG`` (a fresh process per run): time from launch to the
    window shown and to the first screened image (the app's own ``EDGE_SCREEN_APP_TIMING`` marks), and
    to exit. ``backend`` None: the app's own choice.

    Returns a cell dict; ``status`` "skipped" when the GUI package or its launcher is absent.
    """
    import importlib.util

    cid = "app/startup" + (f"/{backend}" if backend else "")
    cell: dict = {"id": cid, "kind": "app", "backend": backend or "app", "status": "ok", "error": None}
    exe = shutil.which("edge-screen-app") or (str(Path(sys.executable).parent / "edge-screen-app"))
    if importlib.util.find_spec("edge_screen.gui.app") is None or not Path(exe).is_file():
        cell.update(status="skipped", reason="the GUI (edge_screen.gui.app / edge-screen-app) is not installed here")
        return cell
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"), EDGE_SCREEN_APP_TIMING="1")
    samples: list[float] = []
    marks: dict[str, list[float]] = {}
    for i in range(cfg.app_runs):
        shot = work / f"app_screenshot_{backend or 'auto'}_{i}.png"
        # a patient and an eye are given, so the workflow does not stop to ask for them
        cmd = [exe, "--open", str(image), "--screenshot", str(shot), "--data-dir", str(work / f"app_data_{i}"),
               "--settings", str(work / f"app_settings_{i}.ini"), "--patient", "BENCH-1", "--eye", "OD"]
        if cfg.bundle is not None:
            cmd += ["--bundle", str(cfg.bundle)]
        if backend:
            cmd += ["--backend", backend]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            cell.update(status="error", error="edge-screen-app did not exit within 300 s")
            return cell
        samples.append((time.perf_counter() - t0) * 1e3)
        if proc.returncode != 0:
            cell.update(status="error", error=f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-1500:]}")
            return cell
        for k, v in _app_marks(proc.stdout).items():
            marks.setdefault(k, []).append(v)
    cell.update(command=f"edge-screen-app --open {image.name} --screenshot PNG --patient P --eye OD"
                + (" --bundle B" if cfg.bundle else "") + (f" --backend {backend}" if backend else ""),
                startup_to_exit_ms=summarize(samples), qt_platform=env["QT_QPA_PLATFORM"],
                screenshot=str(work / f"app_screenshot_{backend or 'auto'}_0.png"),
                marks_ms={k: summarize(v) for k, v in marks.items()})
    if "first_screened" in marks:
        cell["to_screened_ms"] = summarize(marks["first_screened"])
    return cell


def measure_cli(cfg: BenchmarkConfig, *, image: Path, work: Path) -> list[dict]:
    """Wall time of ``edge-screen screen IMG --json`` per backend/precision of the bundle (a fresh
    process per run: interpreter start, imports, bundle load and runtime set-up, decode, screening),
    plus ``edge-screen --version`` (start-up without a model). One cell dict per command."""
    from edge_screen.bundle import load_bundle
    from edge_screen.runtime import get_runtime_class

    exe = shutil.which("edge-screen") or str(Path(sys.executable).parent / "edge-screen")
    base = [exe] if Path(exe).is_file() else [sys.executable, "-m", "edge_screen"]
    t = max(cfg.threads)
    jobs = [("cli/version", [*base, "--version"], None)]
    if cfg.bundle is not None:
        # what a user types: the machine's measured choice (the self-check cache of run 0 is reused)
        jobs.append((f"cli/default/t{t}", [*base, "screen", str(image), "--bundle", str(cfg.bundle), "--threads", str(t),
                                           "--json"], "default"))  # fmt: skip
        for e in load_bundle(cfg.bundle).models:
            try:
                cls = get_runtime_class(e.backend)
            except EdgeScreenError:  # unknown or broken backend: not measured
                continue
            if cls.is_available() and cls.accepts(e):
                jobs.append((f"cli/{e.backend}/{e.precision}/t{t}",
                             [*base, "screen", str(image), "--bundle", str(cfg.bundle), "--backend", e.backend,
                              "--precision", e.precision, "--threads", str(t), "--json"], e))
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(t)
    out = []
    for cid, cmd, entry in jobs:
        backend = entry if isinstance(entry, str) else entry.backend if entry else "none"
        cell: dict = {"id": cid, "kind": "cli", "backend": backend, "status": "ok",
                      "error": None,
                      "command": " ".join(Path(c).name if i == 0 or os.sep in c else c for i, c in enumerate(cmd))}
        samples, reported = [], []
        for i in range(cfg.cli_runs + 1):  # run 0 warms the page cache (first start after install)
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
            wall = (time.perf_counter() - t0) * 1e3
            if proc.returncode != 0:
                cell.update(status="error", error=f"exit {proc.returncode}: {proc.stderr[-800:]}")
                break
            if i:
                samples.append(wall)
                if entry is not None:
                    line = json.loads(proc.stdout.splitlines()[-1])
                    reported.append(line["timings_ms"]["total"])
                    if entry == "default":
                        sel = line.get("selection") or {}
                        cell["chosen"] = f"{line['backend']}/{sel.get('precision', '?')}"
        if cell["status"] == "ok":
            cell["wall_ms"] = summarize(samples)
            if reported:
                cell["screen_total_ms"] = summarize(reported)  # the Screener's own figure for the image
        out.append(cell)
    return out
