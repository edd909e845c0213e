"""Entry point of the desktop app (``edge-screen-app`` / ``edge-screen app``).

Headless screenshot mode for documentation and checks::

    edge-screen-app --open IMAGE --screenshot OUT.png

opens the window (offscreen when there is no display), screens IMAGE, renders the verdict and
heatmap, saves a screenshot of the window and exits: 0 when the image was screened, 3 when it could
not be (no model, unreadable image; the screenshot then shows why), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments shared by ``edge-screen-app`` and ``edge-screen app``."""
    p = parser or argparse.ArgumentParser(prog="edge-screen-app", description="Fundus screening desktop app (offline).")
    p.add_argument("--open", metavar="IMAGE", nargs="+", help="image(s) to screen at start-up")
    p.add_argument("--screenshot", metavar="OUT.png", help="headless: screen --open, save a window screenshot, exit")
    p.add_argument("--bundle", help="model bundle folder or .zip (default: the Settings value, else the shipped model)")
    p.add_argument("--backend", choices=["auto", "onnxruntime", "openvino", "tensorrt"], help="inference backend")
    p.add_argument("--threads", type=int, help="inference threads (0 = automatic)")
    p.add_argument("--settings", metavar="FILE.ini", help="use this INI file instead of the per-user settings")
    p.add_argument("--data-dir", help="records folder (database + images) for this run")
    p.add_argument("--patient", help="patient ID to pre-fill (not logged)")
    p.add_argument("--eye", choices=["OD", "OS"], help="eye to pre-select")
    p.add_argument("--size", default="1280x800", help="window size WxH (default 1280x800)")
    p.add_argument("--timeout", type=float, default=60.0, help="screenshot mode: give up after this many seconds")
    return p


def run(args: argparse.Namespace) -> int:
    """Start the app with parsed arguments; returns the exit code."""
    if args.screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        print(f"edge-screen-app: --size {args.size!r} is not WxH (e.g. 1280x800)", file=sys.stderr)
        return 2
    if args.screenshot and not args.open:
        print("edge-screen-app: --screenshot needs --open IMAGE", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from edge_screen.gui.controllers import AppController
    from edge_screen.gui.settings import AppSettings
    from edge_screen.gui.strings import Strings
    from edge_screen.gui.views import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    settings = AppSettings(args.settings)
    if args.data_dir:
        settings.data_dir = args.data_dir
    tr = Strings(settings.language)
    window = MainWindow(tr)
    ctrl = AppController(window, settings, tr, bundle=args.bundle, backend=args.backend, threads=args.threads)
    window.resize(width, height)
    if args.patient:
        window.patient_id.setText(args.patient)
    if args.eye:
        window.eye_buttons[args.eye].setChecked(True)
    window.show()
    ctrl.load_model()
    if settings.dicom_enabled and not args.screenshot:
        window.dicom_receiver.setChecked(True)

    outcome: dict[str, int] = {}

    def ready(_s) -> None:  # noqa: ANN001
        log.info("ready in %.0f ms", (time.perf_counter() - t0) * 1000)

    ctrl.model_changed.connect(ready)
    if args.open:
        ctrl.open_paths(list(args.open))
    if args.screenshot:
        out = Path(args.screenshot)

        def shoot(code: int) -> None:
            if outcome:
                return
            outcome["code"] = code
            # let the layout and the overlay settle before grabbing
            QTimer.singleShot(200, lambda: (_save_shot(window, out), app.quit()))

        def screened(_r) -> None:  # noqa: ANN001
            if ctrl.queue or ctrl.busy:
                return
            shoot(0)

        ctrl.screened.connect(screened)
        ctrl.screen_failed.connect(lambda _m: shoot(3))
        QTimer.singleShot(int(args.timeout * 1000), lambda: shoot(3))
    app.exec()
    ctrl.shutdown()
    if args.screenshot:
        print(f"screenshot: {args.screenshot}")
        return outcome.get("code", 3)
    return 0


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
