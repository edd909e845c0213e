"""Loading the screening model in a worker (the window is up before it), and what the app says about it.

The slow part of start-up is importing the runtime and compiling the model; it runs in a worker so
the window shows at once. A bundle with a per-clinic ``calibration`` block (written by
``edge-screen calibrate``, shared contract 3) is shown as "calibrated on N photos from this clinic".
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QCoreApplication, QObject, Signal

from edge_screen.gui.jobs import load_model_job
from edge_screen.gui.workers import JobError, WorkerPool

translate = QCoreApplication.translate   # lupdate finds calls named translate(...)


log = logging.getLogger(__name__)


def calibration_text(manifest: dict) -> str:
    """"Calibrated on N photos from this clinic (...)" from a manifest's calibration block, or "" without one."""
    cal = manifest.get("calibration") if isinstance(manifest, dict) else None
    if not isinstance(cal, dict) or not isinstance(cal.get("n_images"), int):
        return ""
    n = int(cal["n_images"])
    text = translate("Model", "Calibrated on %n photo(s) from this clinic", "", n)
    site, created = str(cal.get("site") or "").strip(), str(cal.get("created") or "")[:10]
    extra = [x for x in (site, created) if x]
    sens, spec = cal.get("sensitivity"), cal.get("specificity")
    if isinstance(sens, (int, float)) and isinstance(spec, (int, float)):
        extra.append(translate("Model", "finds {sens:.0%} of eyes to refer, clears {spec:.0%} of "
                                                         "healthy eyes").format(sens=sens, spec=spec))
    return f"{text} ({'; '.join(extra)})" if extra else text


class ModelController(QObject):
    """Holds the Screener; ``model_changed(screener or None)`` after each load."""

    model_changed = Signal(object)

    def __init__(self, window, pool: WorkerPool, *, bundle: str, backend: str, threads: int) -> None:  # noqa: ANN001
        super().__init__(window)
        self.w, self.pool = window, pool
        self.bundle_path, self.backend, self.threads = bundle, backend, threads
        self.screener = None
        self.error: JobError | None = None
        self.loading = False
        self.loaded_in_s: float | None = None
        window.language_changed.connect(self.render)

    def load(self, *, bundle: str | None = None, backend: str | None = None, threads: int | None = None):  # noqa: ANN201
        """(Re)load the model off the GUI thread; returns the worker."""
        if bundle is not None:
            self.bundle_path = bundle
        if backend is not None:
            self.backend = backend
        if threads is not None:
            self.threads = threads
        self.loading, self.screener, self.error = True, None, None
        self.render()
        t0 = time.perf_counter()
        return self.pool.submit(load_model_job, self.bundle_path, self.backend, self.threads,
                                on_done=lambda s: self._on_loaded(s, t0), on_error=self._on_error)

    def _on_loaded(self, screener, t0: float) -> None:  # noqa: ANN001
        self.loading, self.screener, self.error = False, screener, None
        self.loaded_in_s = time.perf_counter() - t0
        log.info("model ready in %.0f ms: %s on %s/%s", self.loaded_in_s * 1000, screener.bundle.id,
                 screener.backend, screener.precision)
        self.render()
        self.model_changed.emit(screener)

    def _on_error(self, err: JobError) -> None:
        self.loading, self.screener, self.error = False, None, err
        log.warning("no model: %s", err.message)
        self.render()
        self.model_changed.emit(None)

    def render(self) -> None:
        """The model status in the top bar and on the Settings page."""
        w = self.w
        if self.loading:
            w.model_status.setText(translate("Model", "Loading the model..."))
        elif self.screener is not None:
            w.model_status.setText(translate("Model", "Model ready"))
        else:
            w.model_status.setText(translate("Model", "No model"))
        w.model_status.setStyleSheet("color: #B00020; font-weight: bold;" if self.error is not None else "")
        info, cal = w.settings.model_info, w.settings.calibration
        if self.screener is not None:
            b = self.screener.bundle
            info.setText(translate("Model", "In use: {name} {version}").format(name=b.name, version=b.version))
            cal.setText(calibration_text(b.manifest) or translate("Model", "Not calibrated for this clinic."))
            text = translate("Model", "Running on {backend} ({precision}).").format(
                backend=self.screener.backend, precision=self.screener.precision)
            if self.screener.recheck is not None:  # edge_screen.recheck: borderline INT8 results decided by FP32
                text += " " + translate("Model", "Borderline results are checked again at full precision.")
            w.settings.runtime_info.setText(text)
            # what was chosen and why on this computer (self-check, measured speeds): for engineers
            sel = self.screener.selection
            w.settings.runtime_info.setToolTip("" if sel is None else sel.summary())
        elif self.error is not None:
            info.setText(translate("Model", "No model could be loaded. Choose a model folder, or leave the field empty for "
                                    "the model that came with the app, then press Apply settings."))
            cal.setText("")
            w.settings.runtime_info.setText("")
            w.settings.runtime_info.setToolTip("")
        else:
            info.setText(translate("Model", "Loading the model..."))
            cal.setText("")
