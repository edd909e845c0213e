"""Behaviour of the main window: sources -> screening -> verdict display -> records.

Owns the signals/slots; calls only ``edge_screen`` APIs (bundle, screener, heatmap, imageio) and the
gui's own records/sources/report modules. Everything slow runs in :class:`WorkerPool` workers.

Nothing is lost: a screened visit stays in ``pending`` (shown with a Save / Retry save button)
until the record store has it. Patient identifiers and file names (cameras often name files after
the patient) never go into log messages.
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFileDialog, QListWidgetItem, QTableWidgetItem

from edge_screen.errors import EdgeScreenError, UsageError
from edge_screen.gui.records import RecordStore, StoreError, VisitRecord
from edge_screen.gui.settings import AppSettings
from edge_screen.gui.sources import (
    DICOM_EXTS,
    CameraControl,
    DicomBridge,
    DicomImage,
    DicomReceiver,
    camera_loop,
    list_cameras,
    read_dicom,
    watch_loop,
)
from edge_screen.gui.strings import Strings
from edge_screen.gui.views import MainWindow
from edge_screen.gui.workers import (
    Capture,
    PendingVisit,
    Worker,
    WorkerPool,
    _dicom_capture,
    _load_model_job,
    _read_file_job,
    _save_job,
    _screen_job,
    encode_png,
    for_display,
)

log = logging.getLogger(__name__)

class AppController(QObject):
    """Connects the window to sources, the screener and the record store."""

    model_changed = Signal(object)    # Screener or None
    screened = Signal(object)         # ScreenResult
    screen_failed = Signal(str)
    saved = Signal(object)            # VisitRecord
    save_failed = Signal(str)
    watch_event = Signal(tuple)       # ("taken"|"rejected", path, reason)
    camera_event = Signal(tuple)      # ("opened"|"captured"|"lost", ...)

    def __init__(self, window: MainWindow, settings: AppSettings, tr: Strings, *, bundle: str | None = None,
                 backend: str | None = None, threads: int | None = None) -> None:
        super().__init__(window)
        self.w = window
        self.settings = settings
        self.tr = tr
        self.pool = WorkerPool(max_threads=6)
        self.screener = None
        self.model_error: str | None = None
        self._bundle = settings.bundle_path if bundle is None else bundle
        self._backend = settings.backend if backend is None else backend
        self._threads = settings.threads if threads is None else threads
        self.queue: deque[Capture] = deque()
        self.busy = False
        self.pending: list[PendingVisit] = []
        self.current: PendingVisit | None = None
        self.current_record: VisitRecord | None = None
        self._display: tuple[np.ndarray, np.ndarray | None] | None = None
        self.store: RecordStore | None = None
        self.store_error: str | None = None
        self.camera_worker: Worker | None = None
        self.camera_control = CameraControl()
        self.watch_worker: Worker | None = None
        self.dicom_bridge = DicomBridge(self)
        self.dicom_receiver: DicomReceiver | None = None
        self._connect()
        self._load_settings_into_view()
        self.open_store()

    # -- wiring ------------------------------------------------------------------------------
    def _connect(self) -> None:
        w = self.w
        w.open_button.clicked.connect(self.on_open_clicked)
        w.files_dropped.connect(self.open_paths)
        w.heatmap_toggle.toggled.connect(lambda _on: self.refresh_overlay())
        w.opacity.valueChanged.connect(lambda _v: self.refresh_overlay())
        w.save_button.clicked.connect(self.save_pending)
        w.report_button.clicked.connect(lambda: self.export_report(self.current_record))
        w.patient_id.textChanged.connect(lambda _t: self._update_save_state())
        w.operator.editingFinished.connect(lambda: setattr(self.settings, "operator", w.operator.text()))
        w.camera_refresh.clicked.connect(self.refresh_cameras)
        w.camera_start.clicked.connect(self.toggle_camera)
        w.capture_button.clicked.connect(self.capture)
        w.capture_shortcut.activated.connect(self.capture)
        w.watch_choose.clicked.connect(self.on_choose_watch)
        w.watch_start.clicked.connect(self.toggle_watch)
        w.dicom_import.clicked.connect(self.on_dicom_import)
        w.dicom_receiver.toggled.connect(self.set_dicom_receiver)
        w.history_search.textChanged.connect(lambda _t: self.refresh_history())
        w.history_export.clicked.connect(self.on_export_csv)
        w.history_report.clicked.connect(self.on_history_report)
        w.tabs.currentChanged.connect(lambda i: self.refresh_history() if i == 1 else None)
        w.set_apply.clicked.connect(self.apply_settings)
        w.set_bundle_browse.clicked.connect(self.on_browse_bundle)
        self.dicom_bridge.received.connect(self.on_dicom_received)
        self.dicom_bridge.failed.connect(lambda msg: self._status(msg))

    def _load_settings_into_view(self) -> None:
        s, w = self.settings, self.w
        w.operator.setText(s.operator)
        w.watch_path.setText(s.watch_folder)
        w.dicom_port.setValue(s.dicom_port)
        w.set_bundle.setText(s.bundle_path)
        w.set_backend.setCurrentText(s.backend)
        w.set_threads.setValue(s.threads)
        w.set_data_dir.setText(s.data_dir)
        w.set_language.setCurrentText(s.language)
        w.camera_combo.setEditable(True)
        if s.camera:
            w.camera_combo.addItem(s.camera, s.camera)
        w.banner.set_verdict("none", self.tr("verdict.none"), self.tr("verdict.none.hint"))
        w.original.set_image(None, self.tr("verdict.none.hint"))
        w.overlay.set_image(None, "")

    def _status(self, text: str) -> None:
        self.w.status.showMessage(text, 15000)

    # -- model -------------------------------------------------------------------------------
    def load_model(self) -> Worker:
        """Load the bundle and create the screener off the GUI thread."""
        self.w.model_status.setText(self.tr("model.loading"))
        return self.pool.submit(_load_model_job, self._bundle, self._backend, self._threads,
                                on_done=self._on_model, on_error=self._on_model_error)

    def _on_model(self, screener) -> None:  # noqa: ANN001
        self.screener, self.model_error = screener, None
        self.w.no_model.hide()
        self.w.model_status.setText(self.tr("model.ready", bundle=f"{screener.bundle.name} {screener.bundle.version}",
                                            backend=f"{screener.backend}/{screener.precision}"))
        log.info("model ready: %s on %s", screener.bundle.id, screener.backend)
        self.model_changed.emit(screener)
        self._next()

    def _on_model_error(self, message: str) -> None:
        self.screener, self.model_error = None, message
        self.w.no_model.setText(f"{self.tr('model.none')}\n({message})")
        self.w.no_model.show()
        self.w.model_status.setText("")
        log.warning("no model: %s", message)
        self.model_changed.emit(None)
        while self.queue:                 # show what was asked for, without a verdict
            self._show_unscreened(self.queue.popleft())

    # -- screening ---------------------------------------------------------------------------
    def on_open_clicked(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self.w, self.tr("file.open"), "",
                                                "Images (*.jpg *.jpeg *.png *.tif *.tiff *.bmp *.dcm)")
        self.open_paths(paths)

    def open_paths(self, paths: list[str]) -> None:
        """Read files in a worker, then screen them one after another."""
        for p in paths:
            self.pool.submit(_read_file_job, p, on_done=self.submit, on_error=self._on_input_error)

    def _on_input_error(self, message: str) -> None:
        self.w.banner.set_verdict("error", self.tr("verdict.error"), message)
        self._status(message)

    def submit(self, capture: Capture) -> None:
        """Queue an image for screening (screened at once when idle and a model is loaded)."""
        if capture.patient_hint and not self.w.patient_id.text().strip():
            self.w.patient_id.setText(capture.patient_hint)
        if capture.eye_hint in self.w.eye_buttons:
            self.w.eye_buttons[capture.eye_hint].setChecked(True)
        if self.screener is None and self.model_error is not None:
            self._show_unscreened(capture)
            return
        self.queue.append(capture)
        self._next()

    def _next(self) -> None:
        if self.busy or not self.queue or self.screener is None:
            return
        capture = self.queue.popleft()
        self.busy = True
        self.w.busy.show()
        self.pool.submit(_screen_job, self.screener, capture,
                         on_done=lambda rd, c=capture: self._on_screened(c, *rd),
                         on_error=lambda m, c=capture: self._on_screen_error(c, m))

    def _show_unscreened(self, capture: Capture) -> None:
        rgb = capture.pixels
        if rgb is None:
            bgr = cv2.imdecode(np.frombuffer(capture.data, np.uint8), cv2.IMREAD_COLOR)
            rgb = None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        self._display = None if rgb is None else for_display(rgb, None)
        self.w.original.set_image(None if self._display is None else self._display[0], "")
        self.w.overlay.set_image(None, "")
        self.w.banner.set_verdict("error", self.tr("verdict.error"), self.tr("model.none"))
        self.screen_failed.emit(self.model_error or "no model")

    def _on_screen_error(self, capture: Capture, message: str) -> None:
        self.busy = False
        self.w.busy.hide()
        self.w.banner.set_verdict("error", self.tr("verdict.error"), message)
        if capture.watch_item is not None:
            self._mark_watch(capture.watch_item, "rejected", message)
        self.screen_failed.emit(message)
        self._next()

    def _on_screened(self, capture: Capture, result, display) -> None:  # noqa: ANN001
        self.busy = False
        self.w.busy.hide()
        self.current_record = None
        self.w.report_button.setEnabled(False)
        self._display = display
        from edge_screen.heatmap import evidence_weight

        self._evidence = evidence_weight(result.probability, result.threshold)
        self.show_result(result)
        if capture.watch_item is not None and result.verdict == "ungradable":
            self._mark_watch(capture.watch_item, "rejected", "; ".join(result.quality.messages))
        visit = PendingVisit(capture, result, self.w.patient_id.text().strip(), self._eye(), self.w.operator.text())
        self.current = visit
        self.pending.append(visit)
        log.info("screened an image from %s: %s", capture.source, result.verdict)
        self.screened.emit(result)
        if visit.patient_id:
            self.save_pending()
        else:
            self._update_save_state()
        self._next()

    def _eye(self) -> str:
        return "OS" if self.w.eye_buttons["OS"].isChecked() else "OD"

    def show_result(self, result) -> None:  # noqa: ANN001
        """Verdict banner + images for a ScreenResult."""
        tr = self.tr
        thr = result.threshold
        prob = (tr("verdict.prob", prob=result.probability, thr=thr) if result.probability is not None
                else tr("verdict.prob.none", thr=thr))
        lines = []
        if result.verdict == "ungradable":
            lines += [f"- {m}" for m in result.quality.messages]
        lines.append(prob)
        lines.append(tr("verdict.model", bundle=result.bundle.split(":")[0], backend=result.backend,
                        precision=result.precision))
        self.w.banner.set_verdict(result.verdict, tr(f"verdict.{result.verdict}"), "\n".join(lines))
        self.w.original.set_image(self._display[0])
        self.refresh_overlay()

    def refresh_overlay(self) -> None:
        """Redraw the heatmap pane from the toggle and opacity slider."""
        if self._display is None:
            return
        from edge_screen.heatmap import overlay

        rgb, heat = self._display
        if heat is None:
            self.w.overlay.set_image(None, "No heatmap: the image was not graded.")
        elif not self.w.heatmap_toggle.isChecked():
            self.w.overlay.set_image(rgb)
        else:
            weight = getattr(self, "_evidence", 1.0)  # faint map when there is little evidence (see evidence_weight)
            self.w.overlay.set_image(overlay(rgb, heat * weight, alpha=self.w.opacity.value() / 100.0))

    # -- records -----------------------------------------------------------------------------
    def open_store(self) -> None:
        """Open (or re-open) the record store in the settings' records folder."""
        try:
            self.store = RecordStore(self.settings.data_dir)
            self.store_error = None
        except StoreError as exc:
            self.store, self.store_error = None, str(exc)
            self.w.save_status.setText(str(exc))
            self.w.save_status.setStyleSheet("color: #B00020; font-weight: bold;")

    def _update_save_state(self) -> None:
        w = self.w
        has_pending = bool(self.pending)
        w.save_button.setEnabled(has_pending)
        if has_pending and not w.patient_id.text().strip() and not any(v.patient_id for v in self.pending):
            w.save_status.setText(self.tr("save.need_patient"))
            w.save_status.setStyleSheet("color: #000; font-weight: bold;")

    def save_pending(self) -> Worker | None:
        """Save every unsaved visit (in a worker). Visits without a patient ID take the current field."""
        if not self.pending:
            return None
        if self.store is None:
            self.open_store()
            if self.store is None:
                self._on_save_error(self.store_error or "no record store")
                return None
        typed = self.w.patient_id.text().strip()
        if not typed and not all(v.patient_id for v in self.pending):
            self._update_save_state()
            return None
        for v in self.pending:
            v.patient_id = v.patient_id or typed
        batch, self.pending = self.pending, []
        self.w.save_button.setEnabled(False)
        worker = self.pool.submit(_save_job, self.store, batch, on_progress=self._on_saved_one,
                                  on_error=lambda m, b=batch: self._on_save_error(m, b))
        return worker

    def _on_saved_one(self, event: tuple) -> None:
        _kind, visit, rec = event
        visit.record = rec
        if visit is self.current:
            self.current_record = rec
            self.w.report_button.setEnabled(True)
        self.w.save_status.setText(self.tr("save.saved", visit=rec.visit_id[:8]))
        self.w.save_status.setStyleSheet("color: #005a8c; font-weight: bold;")
        self.w.save_button.setText(self.tr("save.button"))
        self.saved.emit(rec)

    def _on_save_error(self, message: str, batch: list[PendingVisit] | None = None) -> None:
        if batch:   # put back what was not saved (saved ones were reported one by one, in order, before this)
            self.pending = [v for v in batch if v.record is None] + self.pending
        self.w.save_status.setText(message)
        self.w.save_status.setStyleSheet("color: #B00020; font-weight: bold;")
        self.w.save_button.setText(self.tr("save.retry"))
        self.w.save_button.setEnabled(True)
        log.error("saving failed: %s", message)
        self.save_failed.emit(message)

    def refresh_history(self) -> None:
        """Fill the history table from the search box."""
        if self.store is None:
            return
        rows = self.store.search(self.w.history_search.text())
        t = self.w.history_table
        t.setRowCount(len(rows))
        for i, r in enumerate(rows):
            prob = "" if r.probability is None else f"{r.probability:.0%}"
            values = [r.time_utc.replace("T", " ")[:19], r.patient_id, r.eye, self.tr(f"verdict.{r.verdict}"),
                      prob, r.bundle_id.split(":")[0], r.operator]
            for j, v in enumerate(values):
                item = QTableWidgetItem(v)
                item.setData(Qt.ItemDataRole.UserRole, r.visit_id)
                t.setItem(i, j, item)

    def selected_visit(self) -> VisitRecord | None:
        """The visit selected in the history table."""
        items = self.w.history_table.selectedItems()
        if not items or self.store is None:
            return None
        return self.store.get(items[0].data(Qt.ItemDataRole.UserRole))

    def on_history_report(self) -> None:
        self.export_report(self.selected_visit())

    def export_report(self, record: VisitRecord | None, path: str | None = None) -> Worker | None:
        """Write the PDF report of a saved visit (asks where when ``path`` is None)."""
        if record is None or self.store is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self.w, self.tr("report.button"), f"visit-{record.visit_id[:8]}.pdf",
                                                  "PDF (*.pdf)")
            if not path:
                return None
        from edge_screen.gui.report import write_visit_report

        # QPdfWriter/QPainter on images is safe off the GUI thread (no widgets involved).
        alpha, store = self.w.opacity.value() / 100.0, self.store
        return self.pool.submit(lambda tok, rep: write_visit_report(path, record, store, self.tr, alpha=alpha),
                                on_done=lambda p: self._status(f"PDF written: {p}"), on_error=self._status)

    def on_export_csv(self) -> None:
        if self.store is None:
            return
        path, _ = QFileDialog.getSaveFileName(self.w, self.tr("history.export"), "visits.csv", "CSV (*.csv)")
        if path:
            rows = self.store.search(self.w.history_search.text(), limit=10**9)
            self.pool.submit(lambda tok, rep: self.store.export_csv(path, rows),
                             on_done=lambda p: self._status(f"CSV written: {p}"), on_error=self._status)

    # -- camera ------------------------------------------------------------------------------
    def refresh_cameras(self) -> None:
        self.pool.submit(lambda tok, rep: list_cameras(), on_done=self._fill_cameras, on_error=self._status)

    def _fill_cameras(self, cams: list[tuple[str, str]]) -> None:
        combo = self.w.camera_combo
        combo.clear()
        for label, dev in cams:
            combo.addItem(label, dev)
        if not cams:
            self.w.camera_resolution.setText(self.tr("camera.none"))

    def toggle_camera(self) -> None:
        if self.camera_worker is not None:
            self.stop_camera()
            return
        combo = self.w.camera_combo
        device = combo.currentData() if combo.currentData() and combo.currentText() == combo.itemText(
            combo.currentIndex()) else combo.currentText().strip()
        if not device:
            self.w.camera_resolution.setText(self.tr("camera.none"))
            return
        self.settings.camera = device
        self.camera_control = CameraControl()
        self.camera_worker = self.pool.submit(camera_loop, device, self.camera_control,
                                              on_progress=self._on_camera_event,
                                              on_done=lambda _r: self._camera_stopped(),
                                              on_error=self._on_camera_error)
        self.w.camera_start.setText(self.tr("camera.stop"))

    def stop_camera(self) -> None:
        if self.camera_worker is not None:
            self.camera_worker.cancel()

    def _camera_stopped(self) -> None:
        self.camera_worker = None
        self.w.camera_start.setText(self.tr("camera.start"))
        self.w.capture_button.setEnabled(False)

    def _on_camera_error(self, message: str) -> None:
        self._camera_stopped()
        self.w.camera_resolution.setText(message)
        self.camera_event.emit(("lost", message))

    def _on_camera_event(self, ev: tuple) -> None:
        kind = ev[0]
        if kind == "frame":
            small, _ = for_display(ev[1], None)
            self.w.camera_preview.set_image(small)
            return
        if kind == "opened":
            info = ev[1]
            self.w.camera_resolution.setText(self.tr("camera.resolution", w=info.width, h=info.height, fps=info.fps))
            self.w.capture_button.setEnabled(True)
        elif kind == "captured":
            self.submit(Capture(data=encode_png(ev[1]), ext=".png", source="camera", pixels=ev[1]))
        elif kind == "lost":
            self.w.camera_resolution.setText(self.tr("camera.lost"))
            self._status(self.tr("camera.lost"))
        self.camera_event.emit(ev)

    def capture(self) -> None:
        """Capture button / space bar: take the next full-resolution frame."""
        if self.camera_worker is not None:
            self.camera_control.capture.set()

    # -- watch folder ------------------------------------------------------------------------
    def on_choose_watch(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.w, self.tr("watch.choose"), self.w.watch_path.text())
        if folder:
            self.w.watch_path.setText(folder)

    def toggle_watch(self) -> None:
        if self.watch_worker is not None:
            self.watch_worker.cancel()
            return
        folder = self.w.watch_path.text().strip()
        self.settings.watch_folder = folder
        self.watch_worker = self.pool.submit(watch_loop, folder, on_progress=self._on_watch_event,
                                             on_done=lambda _r: self._watch_stopped(),
                                             on_error=self._on_watch_error)
        self.w.watch_start.setText(self.tr("watch.stop"))

    def _watch_stopped(self) -> None:
        self.watch_worker = None
        self.w.watch_start.setText(self.tr("watch.start"))

    def _on_watch_error(self, message: str) -> None:
        self._watch_stopped()
        self._status(message)
        self.w.watch_list.insertItem(0, QListWidgetItem(message))

    def _mark_watch(self, item: QListWidgetItem, kind: str, reason: str = "") -> None:
        name = item.data(Qt.ItemDataRole.UserRole)
        text = self.tr("watch.taken") if kind == "taken" else self.tr("watch.rejected", reason=reason)
        item.setText(f"{name}: {text}")
        item.setForeground(QColor("#000000" if kind == "taken" else "#B00020"))

    def _on_watch_event(self, ev: tuple) -> None:
        if ev[0] == "watching":
            self._status(self.tr("watch.status", folder=ev[1]))
            return
        kind, path = ev[0], ev[1]
        item = QListWidgetItem()
        item.setData(Qt.ItemDataRole.UserRole, Path(path).name)
        self.w.watch_list.insertItem(0, item)
        self._mark_watch(item, kind, "" if kind == "taken" else ev[2])
        self.watch_event.emit((kind, path, "" if kind == "taken" else ev[2]))
        if kind == "taken":
            data, ext = ev[2], Path(path).suffix.lower()
            if ext in DICOM_EXTS:
                self.pool.submit(lambda tok, rep: read_dicom(data),
                                 on_done=lambda d, it=item: self.submit(_dicom_capture(d, "watch", it)),
                                 on_error=lambda m, it=item: self._mark_watch(it, "rejected", m))
            else:
                self.submit(Capture(data=data, ext=ext, source="watch", watch_item=item))

    # -- DICOM -------------------------------------------------------------------------------
    def on_dicom_import(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self.w, self.tr("dicom.import"), "", "DICOM (*.dcm *.dicom);;All (*)")
        self.open_paths(paths)

    def set_dicom_receiver(self, on: bool) -> None:
        """Start/stop the C-STORE receiver on the configured port (loopback unless configured)."""
        if self.dicom_receiver is not None:
            self.dicom_receiver.stop()
            self.dicom_receiver = None
        self.settings.dicom_enabled = on
        if not on:
            self.w.dicom_status.setText(self.tr("dicom.stopped"))
            return
        self.settings.dicom_port = self.w.dicom_port.value()
        receiver = DicomReceiver(self.dicom_bridge, host=self.settings.dicom_host, port=self.w.dicom_port.value())
        try:
            host, port = receiver.start()
        except EdgeScreenError as exc:
            self.w.dicom_status.setText(str(exc))
            self.w.dicom_receiver.blockSignals(True)
            self.w.dicom_receiver.setChecked(False)
            self.w.dicom_receiver.blockSignals(False)
            return
        self.dicom_receiver = receiver
        self.w.dicom_status.setText(self.tr("dicom.listening", host=host, port=port, ae=receiver.ae_title))

    def on_dicom_received(self, image: DicomImage, peer: str) -> None:
        self._status(self.tr("dicom.received", peer=peer))
        self.submit(_dicom_capture(image, "dicom-scp", None))

    # -- settings ----------------------------------------------------------------------------
    def on_browse_bundle(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.w, self.tr("settings.bundle"), self.w.set_bundle.text())
        if folder:
            self.w.set_bundle.setText(folder)

    def apply_settings(self) -> None:
        """Persist the Settings page; reload the model / reopen the records folder when they changed."""
        s, w = self.settings, self.w
        try:
            s.backend = w.set_backend.currentText()
            s.threads = w.set_threads.value()
            s.language = w.set_language.currentText()
        except UsageError as exc:
            self._status(str(exc))
            return
        model_changed = (w.set_bundle.text().strip(), s.backend, s.threads) != (self._bundle, self._backend,
                                                                                self._threads)
        s.bundle_path = w.set_bundle.text().strip()
        data_changed = w.set_data_dir.text().strip() != s.data_dir
        s.data_dir = w.set_data_dir.text().strip()
        s.sync()
        if data_changed:
            self.open_store()
        if model_changed:
            self._bundle, self._backend, self._threads = s.bundle_path, s.backend, s.threads
            self.load_model()
        self._status(self.tr("settings.applied"))

    # -- shutdown ----------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop sources and workers; close the database."""
        if self.dicom_receiver is not None:
            self.dicom_receiver.stop()
            self.dicom_receiver = None
        self.pool.shutdown(5000)
        self.settings.sync()
        if self.store is not None:
            self.store.close()
            self.store = None
