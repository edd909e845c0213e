"""Background work for the app: a cancel token and a QRunnable that reports through Qt signals.

Every slow thing (model loading, screening, file import, camera frames, folder polling, PDF/CSV
export) runs in a :class:`Worker` on a ``QThreadPool``. A worker never touches a widget: it only
emits ``progress(object)``, ``finished(object)`` or ``failed(str)``; Qt queues those to the GUI
thread because the receivers live there.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import QListWidgetItem

from edge_screen.errors import EdgeScreenError, UsageError
from edge_screen.gui.records import RecordStore, VisitRecord
from edge_screen.gui.sources import DICOM_EXTS, DicomImage, read_dicom

log = logging.getLogger(__name__)


class CancelToken:
    """A thread-safe flag a worker checks between steps (``token.cancelled``) or sleeps on."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the work to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; returns True early when cancelled."""
        return self._event.wait(seconds)


class WorkerSignals(QObject):
    """Signals of one :class:`Worker` (a QRunnable cannot own signals itself)."""

    progress = Signal(object)   # any payload: a frame, a status line, a percentage
    finished = Signal(object)   # the function's return value
    failed = Signal(str)        # a message fit for the user (EdgeScreenError text) or a short internal error


class Worker(QRunnable):
    """Runs ``fn(token, report, *args, **kwargs)`` on a pool thread.

    ``report(payload)`` emits ``signals.progress``. An :class:`EdgeScreenError` (or OSError) becomes
    ``failed(message)``; any other exception is logged with its traceback and also reported as
    ``failed`` so the GUI never waits forever.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)   # the Python side owns it; avoids a deleted-C++-object race on signals
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.token = CancelToken()
        self.signals = WorkerSignals()

    def cancel(self) -> None:
        """Ask the function to stop (it must check the token)."""
        self.token.cancel()

    def run(self) -> None:  # noqa: D102 - Qt entry point
        try:
            result = self.fn(self.token, self.signals.progress.emit, *self.args, **self.kwargs)
        except (EdgeScreenError, OSError) as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - report, never hang the GUI; traceback goes to the log
            log.error("worker %s crashed:\n%s", getattr(self.fn, "__name__", self.fn), traceback.format_exc())
            self.signals.failed.emit(f"Internal error ({type(exc).__name__}): {exc}")
        else:
            self.signals.finished.emit(result)


class WorkerPool:
    """A QThreadPool that keeps its running workers alive and cancels them all on shutdown.

    Args:
        max_threads: pool size; long-running sources (camera, folder watch) each hold one thread.
    """

    def __init__(self, max_threads: int = 6) -> None:
        self.pool = QThreadPool()
        self.pool.setMaxThreadCount(max_threads)
        self._live: set[Worker] = set()

    def start(self, worker: Worker) -> Worker:
        """Queue ``worker``; it is kept referenced until it finishes or fails."""
        self._live.add(worker)
        worker.signals.finished.connect(lambda _r, w=worker: self._live.discard(w))
        worker.signals.failed.connect(lambda _m, w=worker: self._live.discard(w))
        self.pool.start(worker)
        return worker

    def submit(self, fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[str], None] | None = None,
               on_progress: Callable[[Any], None] | None = None, **kwargs: Any) -> Worker:
        """Run ``fn(token, report, *args, **kwargs)`` and connect the callbacks (called on the GUI thread)."""
        worker = Worker(fn, *args, **kwargs)
        if on_done is not None:
            worker.signals.finished.connect(on_done)
        if on_error is not None:
            worker.signals.failed.connect(on_error)
        if on_progress is not None:
            worker.signals.progress.connect(on_progress)
        return self.start(worker)

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Cancel every running worker and wait for them; True when all stopped in time."""
        for w in list(self._live):
            w.cancel()
        return self.pool.waitForDone(timeout_ms)


# ---------------------------------------------------------------------------------------------
# jobs: the functions the controller runs in workers, and the data they carry
DISPLAY_MAX = 1000   # pixels: longest side of the images kept for display / overlay


@dataclass
class Capture:
    """One image to screen: what to feed the screener and what to store."""

    data: bytes                    # file bytes stored with the visit (JPEG/PNG/DICOM as received, PNG for frames)
    ext: str                       # ".jpg", ".png", ".dcm", ...
    source: str                    # "file" | "camera" | "watch" | "dicom" | "dicom-scp"
    pixels: np.ndarray | None = None   # (H, W, 3) uint8 RGB when already decoded (camera, DICOM)
    watch_item: QListWidgetItem | None = None
    patient_hint: str = ""
    eye_hint: str | None = None


@dataclass
class PendingVisit:
    """A screened image waiting to be saved."""

    capture: Capture
    result: Any                    # edge_screen.screener.ScreenResult
    patient_id: str
    eye: str
    operator: str
    record: VisitRecord | None = None   # set once saved


def encode_png(rgb: np.ndarray) -> bytes:
    """(H, W, 3) uint8 RGB -> PNG bytes (lossless)."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UsageError("PNG encoding failed for the captured frame.")
    return buf.tobytes()


def heatmap_png(heatmap: np.ndarray) -> bytes:
    """(H, W) float32 0..1 -> 8-bit grey PNG bytes."""
    ok, buf = cv2.imencode(".png", np.clip(np.round(heatmap * 255.0), 0, 255).astype(np.uint8))
    if not ok:
        raise UsageError("PNG encoding failed for the heatmap.")
    return buf.tobytes()


def for_display(rgb: np.ndarray, heatmap: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Shrink an image (and its heatmap to the same size) so the longest side is <= DISPLAY_MAX."""
    h, w = rgb.shape[:2]
    s = min(1.0, DISPLAY_MAX / max(h, w))
    small = rgb if s == 1.0 else cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    heat = None
    if heatmap is not None:
        heat = cv2.resize(heatmap.astype(np.float32), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_LINEAR)
    return small, heat


def _screen_job(token, report, screener, capture: Capture):  # noqa: ANN001 - worker signature
    """Screen, and prepare the display images: the screener may decode reduced, the panes want detail."""
    from edge_screen.imageio import load_image

    source = capture.pixels if capture.pixels is not None else capture.data
    result = screener.screen(source, heatmap=True)
    full = capture.pixels if capture.pixels is not None else load_image(capture.data, target_size=DISPLAY_MAX // 2).rgb
    return result, for_display(full, result.image_heatmap)


def _load_model_job(token, report, bundle_path: str, backend: str, threads: int):  # noqa: ANN001
    from edge_screen.bundle import default_bundle_path, load_bundle
    from edge_screen.errors import BundleError
    from edge_screen.screener import Screener

    path = bundle_path or default_bundle_path()
    if path is None:
        raise BundleError("no default model is installed and no bundle is set")
    bundle = load_bundle(path)
    return Screener(bundle, backend=None if backend == "auto" else backend, threads=threads or None)


def _save_job(token, report, store: RecordStore, visits: list[PendingVisit]):  # noqa: ANN001
    saved: list[tuple[PendingVisit, VisitRecord]] = []
    for v in visits:
        r = v.result
        bundle_version = r.bundle.split("@", 1)[1].split(":", 1)[0] if "@" in r.bundle else ""
        rec = store.add_visit(
            patient_id=v.patient_id, eye=v.eye, image=v.capture.data, image_ext=v.capture.ext, verdict=r.verdict,
            probability=r.probability, threshold=r.threshold, bundle_id=r.bundle, bundle_version=bundle_version,
            backend=f"{r.backend}/{r.precision}", operator=v.operator, source=v.capture.source,
            quality_reasons=r.quality.reasons,
            heatmap_png=None if r.image_heatmap is None else heatmap_png(r.image_heatmap))
        saved.append((v, rec))
        report(("saved", v, rec))
    return saved


def _dicom_capture(image: DicomImage, source: str, item: QListWidgetItem | None) -> Capture:
    return Capture(data=image.data, ext=".dcm", source=source, pixels=image.rgb, watch_item=item,
                   patient_hint=image.patient_id, eye_hint=image.eye)


def _read_file_job(token, report, path: str) -> Capture:  # noqa: ANN001
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UsageError(f"Cannot read {p.name}: {exc.strerror or exc}. Choose an image file.") from exc
    ext = p.suffix.lower()
    if ext in DICOM_EXTS:
        return _dicom_capture(read_dicom(data), "dicom", None)
    return Capture(data=data, ext=ext or ".img", source="file")
