"""Entry point of the desktop app (``edge-screen-app`` / ``edge-screen app``), and the wiring of its parts.

:func:`build` puts the window, the controllers and the worker pool together (tests use it too).
The window shows before the model is loaded: the model loads in a worker, and photos opened
meanwhile wait for it.

Headless screenshot mode for documentation and checks::

    edge-screen-app --open IMAGE --screenshot OUT.png

opens the window (offscreen when there is no display), screens IMAGE, saves a screenshot of the
window and exits: 0 when the image was screened, 3 when it could not be (no model, unreadable
image; the screenshot then shows why), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments shared by ``edge-screen-app`` and ``edge-screen app``."""
    p = parser or argparse.ArgumentParser(prog="edge-screen-app", description="Fundus screening desktop app (offline).")
    p.add_argument("--open", metavar="IMAGE", nargs="+", help="image(s) to screen at start-up")
    p.add_argument("--screenshot", metavar="OUT.png", help="headless: screen --open, save a window screenshot, exit")
    p.add_argument("--bundle", help="model bundle folder or .zip (default: the Settings value, else the shipped model)")
    p.add_argument("--backend", help="inference backend (default: the Settings value, else the fastest installed)")
    p.add_argument("--threads", type=int, help="inference threads (0 = automatic)")
    p.add_argument("--settings", metavar="FILE.ini", help="use this INI file instead of the per-user settings")
    p.add_argument("--data-dir", help="records folder (database + images) for this run")
    p.add_argument("--patient", help="patient ID to pre-fill (not logged)")
    p.add_argument("--eye", choices=["OD", "OS"], help="eye to pre-select")
    p.add_argument("--language", help="language for this run (en, es, fr, hi, sw)")
    p.add_argument("--size", default="1280x720", help="window size WxH (default 1280x720)")
    p.add_argument("--timeout", type=float, default=60.0, help="screenshot mode: give up after this many seconds")
    return p


@dataclass
class App:
    """The window and its controllers."""

    window: Any
    settings: Any
    pool: Any
    models: Any
    history: Any
    visits: Any
    settings_page: Any
    files: Any
    camera: Any
    watch: Any
    dicom: Any

    def shutdown(self) -> None:
        """Stop sources and workers; close the database."""
        self.camera.stop()
        self.watch.stop()
        self.dicom.stop()
        self.pool.shutdown(5000)
        self.settings.sync()
        if self.history.store is not None:
            self.history.store.close()
            self.history.store = None


def build(settings, *, bundle: str | None = None, backend: str | None = None, threads: int | None = None,
          language: str | None = None, load_model: bool = False) -> App:  # noqa: ANN001
    """Create the window and every controller (a QApplication must exist).

    ``load_model``: start loading the model in its worker as soon as its controller exists, so the
    runtime import and model compilation overlap with building the rest of the window.
    """
    from edge_screen.gui import translations
    from edge_screen.gui.history_controller import HistoryController
    from edge_screen.gui.model_controller import ModelController
    from edge_screen.gui.settings_controller import SettingsController
    from edge_screen.gui.source_controllers import CameraSource, DicomSource, FileSource, WatchSource
    from edge_screen.gui.views import MainWindow
    from edge_screen.gui.visit_controller import VisitController
    from edge_screen.gui.workers import WorkerPool

    translations.install(language or settings.language)
    window = MainWindow()
    pool = WorkerPool(max_threads=6)
    models = ModelController(window, pool, bundle=settings.bundle_path if bundle is None else bundle,
                             backend=settings.backend if backend is None else backend,
                             threads=settings.threads if threads is None else threads)
    if load_model:
        models.load()
    history = HistoryController(window, pool, settings)
    history.open_store()
    visits = VisitController(window, pool, models, history, settings)
    files, camera = FileSource(window, pool), CameraSource(window, pool, settings)
    watch, dicom = WatchSource(window, pool, settings), DicomSource(window, pool, settings)
    for source in (files, camera, watch, dicom):
        source.captured.connect(visits.offer)
        source.failed.connect(visits.report_failure)
    history.store_changed.connect(lambda _s: visits.render())
    visits.saved.connect(lambda _r: history.refresh())
    visits.corrected.connect(lambda _r: history.refresh())

    def mark_watch(shot) -> None:  # noqa: ANN001 - the watch list follows what happened to its files
        from edge_screen.gui.wording import failure_text, retake_headline, verdict_word

        if shot.capture is None or shot.capture.source.value != "watch":
            return
        if shot.result is None:
            watch.mark(shot.capture.id, failure_text(shot.failure.reason if shot.failure else None)[0], False)
        elif shot.result.verdict == "ungradable":
            watch.mark(shot.capture.id, retake_headline(shot.result.quality.reasons), False)
        else:
            watch.mark(shot.capture.id, verdict_word(shot.result.verdict), True)

    visits.screened.connect(mark_watch)
    visits.failed.connect(mark_watch)
    settings_page = SettingsController(window, settings, models, history)
    return App(window, settings, pool, models, history, visits, settings_page, files, camera, watch, dicom)


def run(args: argparse.Namespace) -> int:
    """Start the app with parsed arguments; returns the exit code."""
    t_start = time.time()
    if args.screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        print(f"edge-screen-app: --size {args.size!r} is not WxH (e.g. 1280x720)", file=sys.stderr)
        return 2
    if args.screenshot and not args.open:
        print("edge-screen-app: --screenshot needs --open IMAGE", file=sys.stderr)
        return 2
    if args.backend:
        from edge_screen.gui.settings import backends

        if args.backend not in backends():   # the core's registry, read only when asked
            print(f"edge-screen-app: --backend {args.backend!r} is not one of {', '.join(backends())}", file=sys.stderr)
            return 2
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from edge_screen.gui.settings import AppSettings
    from edge_screen.gui.visit import Eye

    app = QApplication.instance() or QApplication([sys.argv[0]])
    settings = AppSettings(args.settings)
    if args.data_dir:
        settings.data_dir = args.data_dir
    parts = build(settings, bundle=args.bundle, backend=args.backend, threads=args.threads, language=args.language,
                  load_model=True)
    window = parts.window
    window.resize(width, height)
    if args.patient:
        window.patient_id.setText(args.patient)
        parts.visits.commit_patient()
    if args.eye:
        parts.visits.select_eye(Eye(args.eye))
    window.show()
    timing = os.environ.get("EDGE_SCREEN_APP_TIMING")
    QTimer.singleShot(0, lambda: _timing(timing, "window_shown", t_start, window))
    if settings.dicom_enabled and not args.screenshot:
        window.screen_page.dicom_receiver.setChecked(True)
    outcome: dict[str, int] = {}
    if args.open:
        parts.files.open_paths(list(args.open))

    def done(code: int) -> None:
        if outcome:
            return
        outcome["code"] = code
        _timing(timing, "first_screened" if code == 0 else "first_failed", t_start, window)
        if args.screenshot:   # let the layout settle before grabbing
            QTimer.singleShot(200, lambda: (_save_shot(window, Path(args.screenshot)), app.quit()))

    parts.visits.screened.connect(lambda _s: done(0) if not parts.visits.queue and not parts.visits.busy else None)
    parts.visits.failed.connect(lambda _s: done(3))
    parts.visits.asked.connect(lambda _q: done(3) if args.screenshot else None)
    if args.screenshot:
        QTimer.singleShot(int(args.timeout * 1000), lambda: done(3))
    app.exec()
    parts.shutdown()
    if args.screenshot:
        print(f"screenshot: {args.screenshot}")
        return outcome.get("code", 3)
    return 0


def _timing(enabled: str | None, what: str, t_start: float, window=None) -> None:  # noqa: ANN001
    """With EDGE_SCREEN_APP_TIMING set: print wall-clock marks (and the window's geometry) for measurements."""
    if not enabled:
        return
    line = f"timing {what} {time.time():.3f} since_run_s={time.time() - t_start:.3f}"
    if window is not None:
        g, screen = window.frameGeometry(), window.screen().availableGeometry()
        line += f" window={g.width()}x{g.height()}+{g.x()}+{g.y()} screen={screen.width()}x{screen.height()}"
    print(line, flush=True)


def _save_shot(window, out: Path) -> None:  # noqa: ANN001
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        log.error("could not write the screenshot to %s", out)


def main(argv: list[str] | None = None) -> int:
    """Console script ``edge-screen-app``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    from edge_screen.errors import EdgeScreenError

    try:
        return run(args)
    except EdgeScreenError as exc:
        print(f"edge-screen-app: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
