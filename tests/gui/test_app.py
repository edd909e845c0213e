"""App flows under pytest-qt (offscreen): file open/drop, camera, watch folder, DICOM, save failures, offline, logs."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

from edge_screen.gui.controllers import AppController  # noqa: E402
from edge_screen.gui.strings import Strings  # noqa: E402
from edge_screen.gui.views import MainWindow  # noqa: E402

pytestmark = pytest.mark.gui

SECRET_PATIENT = "PAT-SECRET-314159"


@pytest.fixture()
def make_app(qtbot, app_settings):
    made: list[AppController] = []

    def make(bundle: str | os.PathLike | None, *, wait_model: bool = True) -> AppController:
        tr = Strings("en")
        win = MainWindow(tr)
        qtbot.addWidget(win)
        ctrl = AppController(win, app_settings, tr, bundle="" if bundle is None else str(bundle))
        made.append(ctrl)
        win.show()
        if wait_model:
            with qtbot.waitSignal(ctrl.model_changed, timeout=30000):
                ctrl.load_model()
        return ctrl

    yield make
    for c in made:
        c.shutdown()


def test_no_model_opens_and_says_how_to_fix(make_app, qtbot, tmp_path, disc_image):
    ctrl = make_app(tmp_path / "no-such-bundle")
    assert ctrl.screener is None
    assert ctrl.w.no_model.isVisible()
    assert "Settings" in ctrl.w.no_model.text() and "No model loaded" in ctrl.w.no_model.text()
    img = tmp_path / "x.png"
    cv2.imwrite(str(img), disc_image())
    with qtbot.waitSignal(ctrl.screen_failed, timeout=5000):
        ctrl.open_paths([str(img)])
    assert ctrl.w.banner.kind == "error"
    assert ctrl.w.original.view.pixmap() is not None and not ctrl.w.original.view.pixmap().isNull()


# --------------------------------------------------------------------------- with a real (tiny) model
def _screen_and_save(ctrl, qtbot, paths):
    with qtbot.waitSignal(ctrl.saved, timeout=30000) as blocker:
        ctrl.open_paths([str(p) for p in paths])
    return blocker.args[0]


def test_file_open_screens_shows_verdict_and_saves(make_app, qtbot, screen_bundle, idrid_image):
    ctrl = make_app(screen_bundle)
    ctrl.w.patient_id.setText("P-100")
    ctrl.w.eye_buttons["OS"].setChecked(True)
    with qtbot.waitSignal(ctrl.screened, timeout=30000) as got:
        rec = _screen_and_save(ctrl, qtbot, [idrid_image])
    result = got.args[0]
    assert ctrl.w.banner.kind == result.verdict
    assert ctrl.w.banner.headline.text() == Strings()(f"verdict.{result.verdict}")
    assert f"{result.threshold:.0%}" in ctrl.w.banner.detail.text()
    # the stored image is the file, byte for byte; the record carries the model and eye
    stored = ctrl.store.image_path(rec).read_bytes()
    assert stored == idrid_image.read_bytes()
    assert rec.image_sha256 == hashlib.sha256(stored).hexdigest()
    assert (rec.patient_id, rec.eye, rec.verdict, rec.bundle_id) == ("P-100", "OS", result.verdict, result.bundle)
    assert not ctrl.w.busy.isVisible()
    # heatmap toggle: off shows the plain original in the right pane; on differs where the map is non-zero
    assert result.heatmap is not None
    on = ctrl.w.overlay.view.pixmap().toImage()
    ctrl.w.heatmap_toggle.setChecked(False)
    off = ctrl.w.overlay.view.pixmap().toImage()
    assert off == ctrl.w.original.view.pixmap().toImage()
    assert (on != off) == bool(result.heatmap.max() > 0.05)
    assert ctrl.w.original.view.pixmap().width() >= 400      # shown in detail, not the screener's reduced decode
    # history finds it
    ctrl.w.history_search.setText("P-100")
    assert ctrl.w.history_table.rowCount() == 1


def test_drag_and_drop_opens(make_app, qtbot, screen_bundle, idrid_image):
    ctrl = make_app(screen_bundle)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(idrid_image))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(ctrl.screened, timeout=30000):
        ctrl.w.dropEvent(event)
    # no patient ID yet: not saved, the Save button asks for it
    assert ctrl.pending and ctrl.w.save_button.isEnabled()
    assert "patient ID" in ctrl.w.save_status.text()
    ctrl.w.patient_id.setText("P-200")
    with qtbot.waitSignal(ctrl.saved, timeout=10000) as blocker:
        ctrl.w.save_button.click()
    assert blocker.args[0].patient_id == "P-200" and not ctrl.pending


def test_camera_capture_space_bar_and_unplug(make_app, qtbot, screen_bundle, tmp_path, fundus_dev, idrid_image):
    """A real MJPG video made from a fundus photo stands in for the USB camera (same VideoCapture path)."""
    ctrl = make_app(screen_bundle)
    frame = cv2.resize(cv2.imread(str(idrid_image)), (640, 424))
    video = tmp_path / "camera.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 424))
    for _ in range(15):
        writer.write(frame)
    writer.release()
    ctrl.w.camera_combo.setEditText(str(video))
    ctrl.w.patient_id.setText("P-CAM")
    with qtbot.waitSignal(ctrl.camera_event, timeout=10000, check_params_cb=lambda e: e[0] == "opened"):
        ctrl.w.camera_start.click()
    assert "640 x 424" in ctrl.w.camera_resolution.text()
    ctrl.w.tabs.setFocus()
    with qtbot.waitSignal(ctrl.saved, timeout=30000) as blocker:
        qtbot.keyClick(ctrl.w, Qt.Key.Key_Space)
    assert blocker.args[0].source == "camera" and blocker.args[0].image_ext == ".png"
    # the video ends = camera unplugged: a message, no crash, the app keeps working
    qtbot.waitUntil(lambda: ctrl.camera_worker is None, timeout=10000)
    assert ctrl.w.camera_resolution.text() == Strings()("camera.lost")
    assert not ctrl.w.capture_button.isEnabled()


def test_watch_folder_rejects_bad_and_screens_good(make_app, qtbot, screen_bundle, tmp_path, idrid_image):
    ctrl = make_app(screen_bundle)
    folder = tmp_path / "export"
    folder.mkdir()
    ctrl.w.watch_path.setText(str(folder))
    ctrl.w.patient_id.setText("P-WATCH")
    ctrl.w.watch_start.click()
    qtbot.waitUntil(lambda: "Watching" in ctrl.w.status.currentMessage(), timeout=5000)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 garbage")
    with qtbot.waitSignal(ctrl.watch_event, timeout=10000, check_params_cb=lambda e: e[0] == "rejected"):
        pass
    flat = np.full((600, 800, 3), 128, np.uint8)          # decodes fine, but is not a fundus photo
    cv2.imwrite(str(folder / "grey.png"), flat)
    with qtbot.waitSignal(ctrl.screened, timeout=30000) as got:
        pass
    assert got.args[0].verdict == "ungradable"
    (folder / "eye.jpg").write_bytes(idrid_image.read_bytes())
    with qtbot.waitSignal(ctrl.saved, timeout=30000, check_params_cb=lambda r: r.source == "watch"
                          and r.image_sha256 == hashlib.sha256(idrid_image.read_bytes()).hexdigest()):
        pass
    texts = [ctrl.w.watch_list.item(i).text() for i in range(ctrl.w.watch_list.count())]
    assert any(t.startswith("broken.jpg: rejected") for t in texts)
    assert any(t.startswith("grey.png: rejected") for t in texts)
    assert any(t == "eye.jpg: taken" for t in texts)
    assert sorted(p.name for p in folder.iterdir()) == ["broken.jpg", "eye.jpg", "grey.png"]   # nothing moved


def _dicom_bytes_from(image_path: Path, patient: str, side: str):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    rgb = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
    sop = "1.2.840.10008.5.1.4.1.1.77.1.5.1"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.Modality, ds.ImageLaterality = patient, "OP", side
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows, ds.Columns = rgb.shape[:2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = rgb.tobytes()
    return ds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dicom_import_and_cstore_offline_and_no_ids_in_logs(make_app, qtbot, screen_bundle, tmp_path, idrid_image,
                                                            caplog, monkeypatch):
    """DICOM file import + C-STORE push on loopback, with every non-loopback connection refused and logs checked."""
    from pynetdicom import AE

    attempts: list[object] = []
    real_connect, real_create = socket.socket.connect, socket.create_connection

    def _loopback(addr) -> bool:
        host = addr[0] if isinstance(addr, tuple) else str(addr)
        return isinstance(addr, (str, bytes)) or host in ("127.0.0.1", "::1", "localhost")

    def guarded_connect(self, addr):
        if not _loopback(addr):
            attempts.append(addr)
            raise OSError(errno.ENETUNREACH, f"test: outbound connection to {addr} blocked")
        return real_connect(self, addr)

    def guarded_create(addr, *a, **k):
        if not _loopback(addr):
            attempts.append(addr)
            raise OSError(errno.ENETUNREACH, f"test: outbound connection to {addr} blocked")
        return real_create(addr, *a, **k)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create)
    caplog.set_level(logging.DEBUG)

    ctrl = make_app(screen_bundle)
    ds = _dicom_dataset = _dicom_bytes_from(idrid_image, SECRET_PATIENT, "L")
    dcm = tmp_path / f"{SECRET_PATIENT}.dcm"          # cameras name files after the patient
    ds.save_as(dcm, enforce_file_format=True)
    rec = _screen_and_save(ctrl, qtbot, [dcm])
    assert rec.patient_id == SECRET_PATIENT and rec.eye == "OS" and rec.source == "dicom"
    assert ctrl.w.patient_id.text() == SECRET_PATIENT

    # C-STORE receiver on loopback
    ctrl.w.dicom_port.setValue(_free_port())
    ctrl.w.dicom_receiver.setChecked(True)
    assert ctrl.dicom_receiver is not None and ctrl.dicom_receiver.address[0] == "127.0.0.1"
    assert "127.0.0.1" in ctrl.w.dicom_status.text()
    ds2 = _dicom_bytes_from(idrid_image, SECRET_PATIENT, "R")
    scu = AE(ae_title="FUNDUSCAM")
    scu.add_requested_context(ds2.SOPClassUID, ExplicitVRLittleEndian := ds2.file_meta.TransferSyntaxUID)
    with qtbot.waitSignal(ctrl.saved, timeout=30000) as blocker:
        assoc = scu.associate("127.0.0.1", ctrl.dicom_receiver.address[1], ae_title="EDGESCREEN")
        assert assoc.is_established
        assert assoc.send_c_store(ds2).Status == 0x0000
        assoc.release()
    assert blocker.args[0].source == "dicom-scp" and blocker.args[0].patient_id == SECRET_PATIENT
    # PDF and CSV exports too
    w = ctrl.export_report(blocker.args[0], str(tmp_path / "r.pdf"))
    with qtbot.waitSignal(w.signals.finished, timeout=20000):
        pass
    ctrl.shutdown()

    assert attempts == []                                     # nothing tried to leave the machine
    assert caplog.records, "the flow should have logged something"
    assert SECRET_PATIENT not in caplog.text                  # neither the ID nor the patient-named file
    assert ExplicitVRLittleEndian


def test_disk_full_keeps_result_and_retry_saves(make_app, qtbot, screen_bundle, idrid_image, monkeypatch):
    ctrl = make_app(screen_bundle)
    ctrl.w.patient_id.setText("P-FULL")
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *e):
            self.fh.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: Full(real_fdopen(fd, *a, **k)))
    with qtbot.waitSignal(ctrl.save_failed, timeout=30000) as failed:
        ctrl.open_paths([str(idrid_image)])
    assert "disk is full" in failed.args[0]
    assert "disk is full" in ctrl.w.save_status.text()
    assert ctrl.w.save_button.text() == Strings()("save.retry") and ctrl.w.save_button.isEnabled()
    assert len(ctrl.pending) == 1 and ctrl.store.count() == 0
    monkeypatch.undo()
    with qtbot.waitSignal(ctrl.saved, timeout=10000) as saved:
        ctrl.w.save_button.click()
    assert saved.args[0].patient_id == "P-FULL" and ctrl.store.count() == 1 and not ctrl.pending
