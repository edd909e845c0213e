"""Image sources run in workers: folder watch, camera (VideoCapture on a real video file), DICOM import + C-STORE."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")

from edge_screen.errors import ImageError  # noqa: E402
from edge_screen.gui.sources import (  # noqa: E402
    CameraControl,
    DicomBridge,
    DicomReceiver,
    camera_loop,
    read_dicom,
    watch_loop,
)
from edge_screen.gui.workers import WorkerPool  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture()
def pool(qapp):
    p = WorkerPool()
    yield p
    assert p.shutdown(5000)


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


# ------------------------------------------------------------------------------- folder watch
def test_watch_folder_takes_settled_files_rejects_bad_and_keeps_watching(qtbot, pool, tmp_path, disc_image):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "old.jpg").write_bytes(_jpeg(disc_image(seed=9)))   # present before watching: skipped
    events: list[tuple] = []
    worker = pool.submit(watch_loop, folder, interval_s=0.1, settle_polls=3, on_progress=events.append)
    qtbot.waitUntil(lambda: any(e[0] == "watching" for e in events), timeout=3000)

    good = _jpeg(disc_image(seed=1))
    # a file "still being written": first half, then the rest a moment later -> taken once, complete
    growing = folder / "a_growing.jpg"
    growing.write_bytes(good[: len(good) // 2])
    qtbot.wait(30)
    with growing.open("ab") as fh:
        fh.write(good[len(good) // 2:])
    (folder / "b_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg \xff\xd9")
    (folder / "c_text.png").write_bytes(b"hello, I am a text file")
    qtbot.waitUntil(lambda: len([e for e in events if e[0] in ("taken", "rejected")]) >= 3, timeout=5000)
    # watching continues after the rejections
    (folder / "d_after.jpg").write_bytes(_jpeg(disc_image(seed=2)))
    qtbot.waitUntil(lambda: any(e[0] == "taken" and e[1].endswith("d_after.jpg") for e in events), timeout=5000)
    worker.cancel()

    taken = {Path(e[1]).name: e[2] for e in events if e[0] == "taken"}
    rejected = {Path(e[1]).name: e[2] for e in events if e[0] == "rejected"}
    assert set(taken) == {"a_growing.jpg", "d_after.jpg"}
    assert taken["a_growing.jpg"] == good                 # taken only once complete
    assert set(rejected) == {"b_corrupt.jpg", "c_text.png"}
    assert all(reason for reason in rejected.values())
    # the camera's files are never moved or changed
    assert sorted(p.name for p in folder.iterdir()) == ["a_growing.jpg", "b_corrupt.jpg", "c_text.png",
                                                        "d_after.jpg", "old.jpg"]
    assert growing.read_bytes() == good


def test_watch_missing_folder_fails_clearly(qtbot, pool, tmp_path):
    with qtbot.waitSignal(pool.submit(watch_loop, tmp_path / "nope").signals.failed, timeout=3000) as blocker:
        pass
    assert "does not exist" in blocker.args[0]


# ------------------------------------------------------------------------------- camera
def _make_video(path: Path, frames: int, size=(320, 240), fps=20.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        frame = np.full((size[1], size[0], 3), 0, np.uint8)
        cv2.circle(frame, (size[0] // 2, size[1] // 2), 20 + 3 * i, (40, 90, 200), -1)   # BGR
        writer.write(frame)
    writer.release()
    return path


def test_camera_preview_capture_and_unplug(qtbot, pool, tmp_path):
    """Same VideoCapture path as a USB camera; the end of the video is a camera that stops answering."""
    video = _make_video(tmp_path / "cam.avi", frames=12, fps=20.0)
    control = CameraControl()
    events: list[tuple] = []

    def on_event(ev):
        events.append(ev)
        if ev[0] == "frame" and not control.capture.is_set() and not any(e[0] == "captured" for e in events):
            control.capture.set()      # what the Capture button / space bar does

    worker = pool.submit(camera_loop, str(video), control, on_progress=on_event)
    with qtbot.waitSignal(worker.signals.finished, timeout=10000) as blocker:
        pass
    assert blocker.args[0] == "lost"
    kinds = [e[0] for e in events]
    assert kinds[0] == "opened" and kinds[-1] == "lost"
    info = events[0][1]
    assert (info.width, info.height) == (320, 240)           # negotiated size = delivered frames
    captured = [e[1] for e in events if e[0] == "captured"]
    assert len(captured) == 1 and captured[0].shape == (240, 320, 3) and captured[0].dtype == np.uint8
    # RGB order: the disc was drawn BGR (40, 90, 200) -> red channel high
    centre = captured[0][120, 160]
    assert centre[0] > 150 and centre[2] < 100
    assert kinds.count("frame") >= 5
    assert "no picture" in events[-1][1]


def test_camera_that_cannot_open_fails_clearly(qtbot, pool, tmp_path):
    worker = pool.submit(camera_loop, str(tmp_path / "no-such-camera.avi"), CameraControl())
    with qtbot.waitSignal(worker.signals.failed, timeout=5000) as blocker:
        pass
    assert "could not be opened" in blocker.args[0]


# ------------------------------------------------------------------------------- DICOM
def _dicom_dataset(rgb: np.ndarray, patient_id: str, laterality: str = "L", photometric: str = "RGB"):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_class = "1.2.840.10008.5.1.4.1.1.77.1.5.1"   # Ophthalmic Photography 8 Bit Image Storage
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = patient_id
    ds.PatientName = "Test^Patient"
    ds.Modality = "OP"
    ds.ImageLaterality = laterality
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Rows, ds.Columns = rgb.shape[:2]
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = photometric
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = rgb.tobytes()
    return ds


@pytest.fixture()
def dicom_file(tmp_path, disc_image):
    rgb = disc_image(120, 160, seed=3)
    ds = _dicom_dataset(rgb, "PID-777", "L")
    path = tmp_path / "eye.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path, rgb


def test_dicom_import(dicom_file):
    path, rgb = dicom_file
    img = read_dicom(path)
    assert img.patient_id == "PID-777" and img.eye == "OS"
    np.testing.assert_array_equal(img.rgb, rgb)
    assert read_dicom(path.read_bytes()).rgb.shape == rgb.shape


def test_dicom_not_dicom_is_clear(tmp_path):
    bad = tmp_path / "x.dcm"
    bad.write_bytes(b"definitely not dicom")
    with pytest.raises(ImageError, match="DICOM"):
        read_dicom(bad)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cstore_receive_on_loopback(qtbot, qapp, disc_image):
    from pynetdicom import AE

    bridge = DicomBridge()
    receiver = DicomReceiver(bridge, port=_free_port())
    host, port = receiver.start()
    try:
        assert host == "127.0.0.1"
        rgb = disc_image(100, 140, seed=4)
        ds = _dicom_dataset(rgb, "PID-C-STORE", "R")
        scu = AE(ae_title="FUNDUSCAM")
        scu.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
        with qtbot.waitSignal(bridge.received, timeout=10000) as blocker:
            assoc = scu.associate(host, port, ae_title="EDGESCREEN")
            assert assoc.is_established
            status = assoc.send_c_store(ds)
            assoc.release()
        assert status.Status == 0x0000
        image, peer = blocker.args
        assert peer.startswith("127.0.0.1:")
        assert image.patient_id == "PID-C-STORE" and image.eye == "OD"
        assert hashlib.sha256(image.rgb.tobytes()).digest() == hashlib.sha256(rgb.tobytes()).digest()
    finally:
        receiver.stop()
    assert not receiver.running
