"""App flows under pytest-qt (offscreen) through every source: drag and drop, camera, watch folder,
DICOM import and C-STORE (offline, no patient IDs in logs), and a save that fails on a full disk."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import socket

import cv2
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

from edge_screen.gui.visit import Eye  # noqa: E402

pytestmark = pytest.mark.gui

SECRET_PATIENT = "PAT-SECRET-314159"


def test_drag_and_drop_screens_then_saves_once_the_id_is_entered(make_app, qtbot, screen_bundle, idrid_image):
    parts = make_app(screen_bundle)
    w = parts.window
    parts.visits.select_eye(Eye.OD)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(idrid_image))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(parts.visits.screened, timeout=30000):
        w.dropEvent(event)
    assert parts.history.store.count() == 0
    w.patient_id.setText("P-200")
    with qtbot.waitSignal(parts.visits.saved, timeout=10000) as saved:
        w.patient_id.editingFinished.emit()
    rec = saved.args[0]
    assert (rec.patient_id, rec.eye, rec.source) == ("P-200", "OD", "file")
    stored = parts.history.store.image_path(rec).read_bytes()
    assert stored == idrid_image.read_bytes() and rec.image_sha256 == hashlib.sha256(stored).hexdigest()
    w.tabs.setCurrentWidget(w.history)
    assert w.history.table.rowCount() == 1


def test_camera_capture_space_bar_and_unplug(make_app, qtbot, screen_bundle, tmp_path, idrid_image):
    """A real MJPG video made from a fundus photo stands in for the USB camera (same VideoCapture path)."""
    parts = make_app(screen_bundle)
    w, p = parts.window, parts.window.screen_page
    frame = cv2.resize(cv2.imread(str(idrid_image)), (640, 424))
    video = tmp_path / "camera.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 424))
    for _ in range(20):
        writer.write(frame)
    writer.release()
    w.patient_id.setText("P-CAM")
    parts.visits.commit_patient()
    parts.visits.select_eye(Eye.OS)
    p.source_buttons["camera"].click()
    p.camera_combo.setEditText(str(video))
    p.camera_start.click()
    qtbot.waitUntil(lambda: p.capture_button.isEnabled(), timeout=10000)
    assert "640 x 424" in p.camera_status.text()
    w.tabs.setFocus()
    with qtbot.waitSignal(parts.visits.saved, timeout=30000) as saved:
        qtbot.keyClick(w, Qt.Key.Key_Space)
    assert (saved.args[0].source, saved.args[0].image_ext, saved.args[0].eye) == ("camera", ".png", "OS")
    qtbot.waitUntil(lambda: parts.camera.worker is None, timeout=10000)      # video ended = camera unplugged
    assert "stopped sending" in p.camera_status.text() and not p.capture_button.isEnabled()


def test_watch_folder_rejects_bad_and_screens_good(make_app, qtbot, screen_bundle, tmp_path, idrid_image, photos):
    parts = make_app(screen_bundle)
    p = parts.window.screen_page
    folder = tmp_path / "export"
    folder.mkdir()
    parts.window.patient_id.setText("P-WATCH")
    parts.visits.commit_patient()
    parts.visits.select_eye(Eye.OD)
    p.source_buttons["watch"].click()
    p.watch_path.setText(str(folder))
    p.watch_start.click()
    qtbot.waitUntil(lambda: "Watching" in parts.window.status.currentMessage(), timeout=5000)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with qtbot.waitSignal(parts.visits.failed, timeout=10000):
        pass
    (folder / "house.jpg").write_bytes(photos["house"].read_bytes())
    with qtbot.waitSignal(parts.visits.screened, timeout=30000) as got:
        pass
    assert got.args[0].result.verdict == "ungradable"
    (folder / "eye.jpg").write_bytes(idrid_image.read_bytes())
    with qtbot.waitSignal(parts.visits.saved, timeout=30000) as saved:
        pass
    assert saved.args[0].source == "watch" and saved.args[0].patient_id == "P-WATCH"
    assert parts.history.store.count() == 1                        # the house photo was not saved
    texts = [p.watch_list.item(i).text() for i in range(p.watch_list.count())]
    assert any(t.startswith("broken.png: ") and "Damaged file" in t for t in texts), texts
    assert any(t.startswith("house.jpg: Retake the photo") for t in texts), texts
    assert any(t == "eye.jpg: No referable sign found" for t in texts), texts
    assert sorted(x.name for x in folder.iterdir()) == ["broken.png", "eye.jpg", "house.jpg"]   # nothing moved


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dicom_import_and_cstore_offline_and_no_ids_in_logs(make_app, qtbot, screen_bundle, tmp_path, idrid_image,
                                                            caplog, monkeypatch, dicom_ds):
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

    parts = make_app(screen_bundle)
    w = parts.window
    dcm = tmp_path / f"{SECRET_PATIENT}.dcm"          # cameras name files after the patient
    dicom_ds(idrid_image, SECRET_PATIENT, "L").save_as(dcm, enforce_file_format=True)
    with qtbot.waitSignal(parts.visits.saved, timeout=30000) as saved:
        parts.files.open_paths([str(dcm)])
    rec = saved.args[0]
    assert (rec.patient_id, rec.eye, rec.source) == (SECRET_PATIENT, "OS", "dicom")
    assert w.patient_id.text() == SECRET_PATIENT
    # the receiver refuses to start until a camera's AE title is configured
    parts.settings.dicom_port = _free_port()
    w.screen_page.dicom_receiver.setChecked(True)
    assert parts.dicom.receiver is None and not w.screen_page.dicom_receiver.isChecked()
    assert "AE title" in w.screen_page.dicom_status.text()
    parts.settings.dicom_callers = "FUNDUSCAM"
    w.screen_page.dicom_receiver.setChecked(True)
    assert parts.dicom.receiver is not None and parts.dicom.receiver.address[0] == "127.0.0.1"
    assert "127.0.0.1" in w.screen_page.dicom_status.text()
    ds2 = dicom_ds(idrid_image, SECRET_PATIENT, "R")
    scu = AE(ae_title="FUNDUSCAM")
    scu.add_requested_context(ds2.SOPClassUID, ds2.file_meta.TransferSyntaxUID)
    with qtbot.waitSignal(parts.visits.saved, timeout=30000) as saved:
        assoc = scu.associate("127.0.0.1", parts.dicom.receiver.address[1], ae_title="EDGESCREEN")
        assert assoc.is_established
        assert assoc.send_c_store(ds2).Status == 0x0000
        assoc.release()
    assert (saved.args[0].source, saved.args[0].patient_id, saved.args[0].eye) == ("dicom-scp", SECRET_PATIENT, "OD")
    with qtbot.waitSignal(parts.history.report_written, timeout=30000):
        parts.visits.write_report(tmp_path / "r.pdf")
    parts.shutdown()
    assert attempts == []                                     # nothing tried to leave the machine
    assert caplog.records, "the flow should have logged something"
    assert SECRET_PATIENT not in caplog.text                  # neither the ID nor the patient-named file


def test_disk_full_keeps_result_and_retry_saves(make_app, qtbot, screen_bundle, idrid_image, monkeypatch):
    parts = make_app(screen_bundle)
    p = parts.window.screen_page
    parts.window.patient_id.setText("P-FULL")
    parts.visits.commit_patient()
    parts.visits.select_eye(Eye.OD)
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
    with qtbot.waitSignal(parts.visits.save_failed, timeout=30000) as failed:
        parts.files.open_paths([str(idrid_image)])
    assert failed.args[0].reason == "disk_full"
    assert "disk is full" in p.eyes[Eye.OD].save_line.text() and "disk is full" in p.notice.text.text()
    assert p.retry_button.isVisible() and parts.history.store.count() == 0
    monkeypatch.undo()
    with qtbot.waitSignal(parts.visits.saved, timeout=10000) as saved:
        p.retry_button.click()
    assert saved.args[0].patient_id == "P-FULL" and parts.history.store.count() == 1
    assert not p.retry_button.isVisible() and p.eyes[Eye.OD].save_line.text() == "Saved."
