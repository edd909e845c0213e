"""One controller per image source (file, camera, watch folder, DICOM), all emitting the same events.

Each emits ``captured(Capture)`` for a photo and ``failed(CaptureFailure)`` for a file that cannot
be one; the app connects both to the :class:`~edge_screen.gui.visit_controller.VisitController`.
Reading, decoding DICOM and camera frames run in workers (or pynetdicom's threads); no source
touches the session.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFileDialog, QListWidgetItem

from edge_screen.errors import EdgeScreenError
from edge_screen.gui.camera import CameraControl, CameraLost, CameraOpened, Frame, camera_loop, list_cameras
from edge_screen.gui.jobs import read_file_job
from edge_screen.gui.visit import Capture, CaptureFailure, SourceKind
from edge_screen.gui.watch import WatchProblem, WatchStarted, watch_loop
from edge_screen.gui.workers import JobError, Worker, WorkerPool

translate = QCoreApplication.translate   # lupdate finds calls named translate(...)


log = logging.getLogger(__name__)


class _Source(QObject):
    captured = Signal(object)   # Capture
    failed = Signal(object)     # CaptureFailure

    def __init__(self, window, pool: WorkerPool) -> None:  # noqa: ANN001
        super().__init__(window)
        self.w, self.page, self.pool = window, window.screen_page, pool


class FileSource(_Source):
    """Open... and drag-and-drop (also DICOM files)."""

    def __init__(self, window, pool: WorkerPool) -> None:  # noqa: ANN001
        super().__init__(window, pool)
        self.page.open_button.clicked.connect(self.choose)
        self.page.dicom_import.clicked.connect(lambda: self.choose(dicom=True))
        window.files_dropped.connect(self.open_paths)

    def choose(self, *, dicom: bool = False) -> None:
        """The file dialog."""
        filters = ("DICOM (*.dcm *.dicom);;* (*)" if dicom else
                   "Photos (*.jpg *.jpeg *.png *.tif *.tiff *.bmp *.dcm *.dicom);;* (*)")
        paths, _ = QFileDialog.getOpenFileNames(self.w, translate("Sources", "Open photo"), "",
                                                filters)
        self.open_paths(paths)

    def open_paths(self, paths: list[str]) -> None:
        """Read files in workers; each becomes a Capture (or a failure with its reason)."""
        for p in paths:
            name = Path(p).name
            self.pool.submit(read_file_job, p, on_done=self.captured.emit,
                             on_error=lambda err, n=name: self.failed.emit(
                                 CaptureFailure(SourceKind.FILE, n, err.reason if err.kind == "ImageError"
                                                else "internal")))


class CameraSource(_Source):
    """A USB/UVC camera: preview, capture button and space bar."""

    def __init__(self, window, pool: WorkerPool, settings) -> None:  # noqa: ANN001
        super().__init__(window, pool)
        self.settings = settings
        self.worker: Worker | None = None
        self.control = CameraControl()
        p = self.page
        p.camera_refresh.clicked.connect(self.refresh)
        p.camera_start.clicked.connect(self.toggle)
        p.capture_button.clicked.connect(self.capture)
        window.capture_shortcut.activated.connect(self.capture)
        window.language_changed.connect(self.render)
        if settings.camera:
            p.camera_combo.addItem(settings.camera, settings.camera)
        self.render()

    def render(self) -> None:
        """Start/Stop text."""
        running = self.worker is not None
        self.page.camera_start.setText(translate("Sources", "Stop preview") if running else
                                       translate("Sources", "Start preview"))

    def refresh(self) -> None:
        """List cameras (in a worker: opening devices can take seconds)."""
        self.pool.submit(lambda tok, rep: list_cameras(), on_done=self._fill)

    def _fill(self, cams: list[tuple[str, str]]) -> None:
        combo = self.page.camera_combo
        combo.clear()
        for label, dev in cams:
            combo.addItem(label, dev)
        if not cams:
            self.page.camera_status.setText(translate("Sources", "No camera found. Plug in the camera and press "
                                                                "Find cameras."))

    def device(self) -> str:
        """The chosen device (a listed camera, or a typed index / device path)."""
        combo = self.page.camera_combo
        data = combo.currentData()
        if data and combo.currentText() == combo.itemText(combo.currentIndex()):
            return str(data)
        return combo.currentText().strip()

    def toggle(self) -> None:
        """Start or stop the preview."""
        if self.worker is not None:
            self.worker.cancel()
            return
        device = self.device()
        if not device:
            self.page.camera_status.setText(translate("Sources", "No camera found. Plug in the camera and press "
                                                                "Find cameras."))
            return
        self.settings.camera = device
        self.control = CameraControl()
        self.worker = self.pool.submit(camera_loop, device, self.control, on_progress=self._on_event,
                                       on_done=lambda _r: self._stopped(), on_error=self._on_error)
        self.render()

    def stop(self) -> None:
        """Stop the preview (app shutdown)."""
        if self.worker is not None:
            self.worker.cancel()

    def _stopped(self) -> None:
        self.worker = None
        self.page.capture_button.setEnabled(False)
        self.render()

    def _on_error(self, err: JobError) -> None:
        self._stopped()
        self.page.camera_status.setText(translate("Sources", "The camera could not be opened. Check it is plugged in and "
                                                      "not used by another program."))

    def _on_event(self, ev: object) -> None:
        p = self.page
        if isinstance(ev, Frame):
            p.camera_preview.set_image(ev.rgb)
        elif isinstance(ev, CameraOpened):
            i = ev.info
            p.camera_status.setText(translate("Sources", "Camera ready: {w} x {h}").format(w=i.width, h=i.height))
            p.capture_button.setEnabled(True)
        elif isinstance(ev, Capture):
            self.captured.emit(ev)
        elif isinstance(ev, CameraLost):
            p.camera_status.setText(translate("Sources", "The camera stopped sending pictures. Check the cable and press "
                                                  "Start preview."))

    def capture(self) -> None:
        """Capture button / space bar: take the next full-resolution frame."""
        if self.worker is not None:
            self.control.capture.set()


class WatchSource(_Source):
    """The folder a tabletop camera exports to."""

    def __init__(self, window, pool: WorkerPool, settings) -> None:  # noqa: ANN001
        super().__init__(window, pool)
        self.settings = settings
        self.worker: Worker | None = None
        self.items: dict[str, QListWidgetItem] = {}   # capture id -> its line in the list
        p = self.page
        p.watch_path.setText(settings.watch_folder)
        p.watch_choose.clicked.connect(self.choose)
        p.watch_start.clicked.connect(self.toggle)
        window.language_changed.connect(self.render)
        self.render()

    def render(self) -> None:
        """Start/Stop text."""
        running = self.worker is not None
        self.page.watch_start.setText(translate("Sources", "Stop watching") if running else
                                      translate("Sources", "Start watching"))

    def choose(self) -> None:
        """Folder dialog."""
        title = translate("Sources", "Camera folder")
        folder = QFileDialog.getExistingDirectory(self.w, title, self.page.watch_path.text())
        if folder:
            self.page.watch_path.setText(folder)

    def toggle(self) -> None:
        """Start or stop watching."""
        if self.worker is not None:
            self.worker.cancel()
            return
        folder = self.page.watch_path.text().strip()
        self.settings.watch_folder = folder
        self.worker = self.pool.submit(watch_loop, folder, on_progress=self._on_event, on_done=lambda _r: self._stopped(),
                                       on_error=self._on_error)
        self.render()

    def stop(self) -> None:
        """Stop watching (app shutdown)."""
        if self.worker is not None:
            self.worker.cancel()

    def _stopped(self) -> None:
        self.worker = None
        self.render()

    def _on_error(self, err: JobError) -> None:
        self._stopped()
        text = translate("Sources", "This folder does not exist. Choose the folder the camera saves photos to.")
        self.page.watch_list.insertItem(0, QListWidgetItem(text))
        self.w.status.showMessage(text, 15000)

    def _line(self, name: str, text: str, ok: bool) -> QListWidgetItem:
        item = QListWidgetItem(f"{name}: {text}")
        item.setForeground(QColor("#000000" if ok else "#B00020"))
        item.setData(Qt.ItemDataRole.UserRole, name)
        self.page.watch_list.insertItem(0, item)
        return item

    def _on_event(self, ev: object) -> None:
        from edge_screen.gui.wording import failure_text

        if isinstance(ev, WatchStarted):
            self.w.status.showMessage(translate("Sources", "Watching the camera folder."), 15000)
        elif isinstance(ev, WatchProblem):
            self.w.status.showMessage(translate("Sources", "The camera folder cannot be read right now."), 15000)
        elif isinstance(ev, Capture):
            self.items[ev.id] = self._line(ev.name, translate("Sources", "taken"), True)
            self.captured.emit(ev)
        elif isinstance(ev, CaptureFailure):
            self._line(ev.name, failure_text(ev.reason)[0], False)
            self.failed.emit(ev)

    def mark(self, capture_id: str, text: str, ok: bool) -> None:
        """Update a file's line after screening (e.g. "retake: blurred")."""
        item = self.items.get(capture_id)
        if item is not None:
            item.setText(f"{item.data(Qt.ItemDataRole.UserRole)}: {text}")
            item.setForeground(QColor("#000000" if ok else "#B00020"))


class _DicomBridge(QObject):
    """Carries receiver callbacks (pynetdicom threads) to the GUI thread as queued Qt signals."""

    received = Signal(object, str)   # DicomImage, peer
    rejected = Signal(str, str)      # reason, peer


class DicomSource(_Source):
    """The C-STORE receiver (DICOM files are opened by the FileSource)."""

    def __init__(self, window, pool: WorkerPool, settings) -> None:  # noqa: ANN001
        super().__init__(window, pool)
        self.settings = settings
        self.receiver = None
        self.bridge = _DicomBridge(self)
        self.bridge.received.connect(self._on_image)
        self.bridge.rejected.connect(self._on_rejected)
        self.page.dicom_receiver.toggled.connect(self.set_running)
        window.language_changed.connect(self.render)
        self.render()

    def render(self) -> None:
        """The receiver's status line."""
        p = self.page
        if self.receiver is None:
            p.dicom_status.setText(translate("Sources", "Receiver off."))
        else:
            host, port = self.receiver.address
            p.dicom_status.setText(translate("Sources", "Waiting for photos on {host}:{port} (AE title {ae}).").format(
                host=host, port=port, ae=self.receiver.ae_title))

    def set_running(self, on: bool) -> None:
        """Start or stop the receiver with the Settings values."""
        from edge_screen.gui.dicom_io import DicomReceiver, ReceiverPolicy

        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None
        self.settings.dicom_enabled = on
        if on:
            s = self.settings
            try:
                policy = ReceiverPolicy(tuple(s.dicom_callers), accept_general_photos=s.dicom_general,
                                        max_bytes=s.dicom_max_mb * 1024 * 1024)
                receiver = DicomReceiver(self.bridge.received.emit, self.bridge.rejected.emit, policy=policy,
                                         host=s.dicom_host, port=s.dicom_port)
                receiver.start()
            except EdgeScreenError as exc:
                log.warning("DICOM receiver not started: %s", exc)
                box = self.page.dicom_receiver
                box.blockSignals(True)
                box.setChecked(False)
                box.blockSignals(False)
                self.render()
                no_callers = not s.dicom_callers
                self.page.dicom_status.setText(
                    translate("Sources", "Enter the AE title of the camera in Settings first.") if no_callers else
                    translate("Sources", "The receiver could not start: the network port is in use. Choose another in "
                                  "Settings."))
                return
            self.receiver = receiver
        self.render()

    def stop(self) -> None:
        """Stop the receiver (app shutdown)."""
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None

    def _on_image(self, image, peer: str) -> None:  # noqa: ANN001
        from edge_screen.gui.visit import Identity

        self.w.status.showMessage(translate("Sources", "A photo arrived from the camera."), 10000)
        self.captured.emit(Capture(data=image.data, ext=".dcm", source=SourceKind.DICOM_SCP, name="DICOM",
                                   pixels=image.rgb, identity=Identity(image.patient_id, image.eye)))

    def _on_rejected(self, reason: str, peer: str) -> None:
        self.failed.emit(CaptureFailure(SourceKind.DICOM_SCP, "DICOM", reason))
