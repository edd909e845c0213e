"""Background work for the app: a cancel token and a QRunnable that reports through Qt signals.

Every slow thing (model loading, screening, file import, camera frames, folder polling, saving,
PDF/CSV export) runs in a :class:`Worker` on a ``QThreadPool``. A worker never touches a widget: it
only emits ``progress(object)``, ``finished(object)`` or ``failed(JobError)``; Qt queues those to the
GUI thread because the receivers live there.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from edge_screen.errors import EdgeScreenError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobError:
    """Why a job failed, typed so the GUI can word it: ``kind`` is the exception class name,
    ``reason`` its ``.reason`` code (ImageError, StoreError) or None, ``message`` the technical text
    (for the log and the Details view; never the main message a technician reads)."""

    kind: str
    reason: str | None
    message: str
    error: BaseException | None = None

    @classmethod
    def from_exception(cls, exc: BaseException) -> JobError:
        """Wrap an exception raised by a job."""
        return cls(type(exc).__name__, getattr(exc, "reason", None), " ".join(str(exc).split()), exc)


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

    progress = Signal(object)   # any payload: a frame, a capture, a status event
    finished = Signal(object)   # the function's return value
    failed = Signal(object)     # a JobError


class Worker(QRunnable):
    """Runs ``fn(token, report, *args, **kwargs)`` on a pool thread.

    ``report(payload)`` emits ``signals.progress``. An :class:`EdgeScreenError` or OSError becomes
    ``failed(JobError)``; any other exception is logged with its traceback and reported as a
    JobError of its own kind, so the GUI never waits forever.
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
            self.signals.failed.emit(JobError.from_exception(exc))
        except Exception as exc:  # noqa: BLE001 - report, never hang the GUI; traceback goes to the log
            log.error("worker %s crashed:\n%s", getattr(self.fn, "__name__", self.fn), traceback.format_exc())
            self.signals.failed.emit(JobError(type(exc).__name__, "internal", " ".join(str(exc).split()), exc))
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
               on_error: Callable[[JobError], None] | None = None,
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

    @property
    def busy(self) -> bool:
        """True while any worker runs."""
        return bool(self._live)

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Cancel every running worker and wait for them; True when all stopped in time."""
        for w in list(self._live):
            w.cancel()
        return self.pool.waitForDone(timeout_ms)
