"""Image sources run in workers: folder watch (with the core's limits), camera (VideoCapture on a real
video file), DICOM reading and the C-STORE receiver's policy (SOP classes, calling AE titles, size)."""

from __future__ import annotations

import hashlib
import resource
import socket
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")

from edge_screen.errors import ImageError, UsageError  # noqa: E402
from edge_screen.gui.camera import CameraControl, CameraLost, CameraOpened, Frame, camera_loop  # noqa: E402
from edge_screen.gui.dicom_io import DicomReceiver, ReceiverPolicy, read_dicom  # noqa: E402
from edge_screen.gui.visit import Capture, CaptureFailure, Eye  # noqa: E402
from edge_screen.gui.watch import WatchStarted, check_header, watch_loop  # noqa: E402
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


def png_bomb(width: int, height: int, rows_per_block: int = 500) -> bytes:
    """A valid 8-bit grey PNG of zeros: under a megabyte on disk, ``width * height`` bytes decoded.

    Built from one repeated deflate block (full flushes make the blocks identical), so making it
    costs a second, not the minutes of compressing ~1 GB.
    """
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    block = (b"\0" * (width + 1)) * rows_per_block
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    n = height // rows_per_block
    adler = 1
    for _ in range(n):
        adler = zlib.adler32(block, adler)
    idat = b"\x78\xda" + first + again * (n - 1) + c.flush(zlib.Z_FINISH) + struct.pack(">I", adler & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, n * rows_per_block, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# ------------------------------------------------------------------------------- folder watch
def test_watch_folder_takes_settled_files_rejects_bad_and_keeps_watching(qtbot, pool, tmp_path, disc_image):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "old.jpg").write_bytes(_jpeg(disc_image(seed=9)))   # present before watching: skipped
    events: list = []
    worker = pool.submit(watch_loop, folder, interval_s=0.1, settle_polls=3, on_progress=events.append)
    qtbot.waitUntil(lambda: any(isinstance(e, WatchStarted) for e in events), timeout=3000)
    good = _jpeg(disc_image(seed=1))
    growing = folder / "a_growing.jpg"                 # still being written: taken once complete
    growing.write_bytes(good[: len(good) // 2])
    qtbot.wait(30)
    with growing.open("ab") as fh:
        fh.write(good[len(good) // 2:])
    (folder / "c_text.png").write_bytes(b"hello, I am a text file")
    (folder / "d_tiny.png").write_bytes(cv2.imencode(".png", np.zeros((20, 20, 3), np.uint8))[1].tobytes())

    def outcomes():
        return [e for e in events if isinstance(e, (Capture, CaptureFailure))]

    qtbot.waitUntil(lambda: len(outcomes()) >= 3, timeout=5000)
    (folder / "e_after.jpg").write_bytes(_jpeg(disc_image(seed=2)))     # watching goes on after rejections
    qtbot.waitUntil(lambda: any(getattr(e, "name", "") == "e_after.jpg" for e in outcomes()), timeout=5000)
    worker.cancel()
    taken = {e.name: e for e in outcomes() if isinstance(e, Capture)}
    rejected = {e.name: e.reason for e in outcomes() if isinstance(e, CaptureFailure)}
    assert set(taken) == {"a_growing.jpg", "e_after.jpg"}
    assert taken["a_growing.jpg"].data == good and taken["a_growing.jpg"].source.value == "watch"
    assert rejected == {"c_text.png": "unsupported_format", "d_tiny.png": "too_small"}
    assert sorted(p.name for p in folder.iterdir()) == ["a_growing.jpg", "c_text.png", "d_tiny.png", "e_after.jpg",
                                                        "old.jpg"]     # never moved or changed


def test_watch_folder_refuses_a_png_bomb_without_decoding_it(qtbot, pool, tmp_path):
    """'Why' 6: a 945 KB PNG took 1.1 GB of RAM in the watch folder's check and was accepted."""
    bomb = png_bomb(31000, 31000)
    assert len(bomb) < 1_000_000                         # under a megabyte on disk, ~961 MB decoded
    with pytest.raises(ImageError) as info:
        check_header(bomb)
    assert info.value.reason == "too_large"
    folder = tmp_path / "export"
    folder.mkdir()
    events: list = []
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    worker = pool.submit(watch_loop, folder, interval_s=0.05, settle_polls=1, on_progress=events.append)
    qtbot.waitUntil(lambda: any(isinstance(e, WatchStarted) for e in events), timeout=3000)
    (folder / "bomb.png").write_bytes(bomb)
    qtbot.waitUntil(lambda: any(isinstance(e, CaptureFailure) for e in events), timeout=5000)
    worker.cancel()
    [failure] = [e for e in events if isinstance(e, CaptureFailure)]
    assert (failure.name, failure.reason) == ("bomb.png", "too_large")
    assert not any(isinstance(e, Capture) for e in events)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 300, f"peak memory grew by {grown_mb:.0f} MB: the bomb was decoded"


def test_watch_missing_folder_fails_clearly(qtbot, pool, tmp_path):
    errors: list = []
    pool.submit(watch_loop, tmp_path / "nope", on_error=errors.append)   # connected before it can fail
    qtbot.waitUntil(lambda: bool(errors), timeout=3000)
    assert errors[0].kind == "UsageError" and "does not exist" in errors[0].message


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
    events: list = []

    def on_event(ev):
        events.append(ev)
        if isinstance(ev, Frame) and not control.capture.is_set() and not any(isinstance(e, Capture) for e in events):
            control.capture.set()      # what the Capture button / space bar does

    done: list = []
    pool.submit(camera_loop, str(video), control, on_progress=on_event, on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=10000)
    assert done == ["lost"]
    assert isinstance(events[0], CameraOpened) and isinstance(events[-1], CameraLost)
    assert (events[0].info.width, events[0].info.height) == (320, 240)    # negotiated size = delivered frames
    [cap] = [e for e in events if isinstance(e, Capture)]
    assert cap.pixels.shape == (240, 320, 3) and cap.ext == ".png" and cap.source.value == "camera"
    decoded = cv2.imdecode(np.frombuffer(cap.data, np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), cap.pixels)   # lossless PNG of the frame
    centre = cap.pixels[120, 160]
    assert centre[0] > 150 and centre[2] < 100          # RGB order: drawn BGR (40, 90, 200) -> red high
    assert sum(isinstance(e, Frame) for e in events) >= 5


def test_camera_that_cannot_open_fails_clearly(qtbot, pool, tmp_path):
    errors: list = []
    pool.submit(camera_loop, str(tmp_path / "no-such-camera.avi"), CameraControl(), on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors[0].reason == "unreadable"


# ------------------------------------------------------------------------------- DICOM
def test_read_dicom_identity_and_pixels(tmp_path, idrid_image, dicom_ds):
    path = tmp_path / "eye.dcm"
    dicom_ds(idrid_image, "PID-777", "L").save_as(path, enforce_file_format=True)
    img = read_dicom(path)
    assert (img.patient_id, img.eye) == ("PID-777", Eye.OS)
    assert img.sop_class_uid == "1.2.840.10008.5.1.4.1.1.77.1.5.1"
    expected = cv2.cvtColor(cv2.imread(str(idrid_image)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(img.rgb, expected)
    assert read_dicom(path.read_bytes()).rgb.shape == expected.shape


def test_read_dicom_refuses_non_dicom_and_short_pixel_data(tmp_path, idrid_image, dicom_ds):
    with pytest.raises(ImageError) as info:
        read_dicom(b"definitely not dicom" * 20)
    assert info.value.reason == "unsupported_format"
    ds = dicom_ds(idrid_image, "P", "R")
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]        # truncated pixel data
    path = tmp_path / "short.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageError):
        read_dicom(path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def receiver():
    got: list = []
    rejected: list = []
    made = []

    def start(**policy):
        r = DicomReceiver(lambda img, peer: got.append(img), lambda reason, peer: rejected.append(reason),
                          policy=ReceiverPolicy(("FUNDUSCAM",), **policy), port=_free_port())
        r.start()
        made.append(r)
        return r, got, rejected

    yield start
    for r in made:
        r.stop()
        assert not r.running


def _send(receiver, ds, *, calling: str = "FUNDUSCAM"):
    from pynetdicom import AE

    scu = AE(ae_title=calling)
    scu.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = scu.associate("127.0.0.1", receiver.address[1], ae_title="EDGESCREEN")
    if not assoc.is_established:
        return None
    try:
        status = assoc.send_c_store(ds)
        return status.Status if status else None
    except (RuntimeError, ValueError):
        return "refused"
    finally:
        if assoc.is_established:
            assoc.release()


def test_receiver_accepts_ophthalmic_photography_on_loopback(receiver, idrid_image, dicom_ds):
    r, got, rejected = receiver()
    assert r.address[0] == "127.0.0.1"
    ds = dicom_ds(idrid_image, "PID-C-STORE", "R")
    assert _send(r, ds) == 0x0000
    [img] = got
    assert (img.patient_id, img.eye) == ("PID-C-STORE", Eye.OD) and rejected == []
    assert hashlib.sha256(img.rgb.tobytes()).digest() == hashlib.sha256(ds.PixelData).digest()


def test_receiver_refuses_other_sop_classes_callers_and_oversized_objects(receiver, idrid_image, dicom_ds):
    r, got, rejected = receiver()
    ct = dicom_ds(idrid_image, "P", "R", sop="1.2.840.10008.5.1.4.1.1.2")          # CT Image Storage
    assert _send(r, ct) in (None, "refused")
    vl = dicom_ds(idrid_image, "P", "R", sop="1.2.840.10008.5.1.4.1.1.77.1.4")     # VL Photographic
    assert _send(r, vl) in (None, "refused")                        # off unless the clinic allows it
    ok = dicom_ds(idrid_image, "P", "R")
    assert _send(r, ok, calling="SOMEONE") is None                  # unknown caller: association rejected
    assert got == []
    r2, got2, rejected2 = receiver(accept_general_photos=True, max_bytes=1_000_000)   # the photo is ~2 MB
    assert _send(r2, vl) in (None, "refused", 0xA700, 0xC210) and got2 == []
    assert rejected2 == ["too_large"]
    r3, got3, _ = receiver(accept_general_photos=True)
    assert _send(r3, vl) == 0x0000 and len(got3) == 1


def test_receiver_reports_an_oversized_association_once_however_many_pdus_follow_the_abort():
    # pynetdicom may hand over PDUs that were already read after abort() is called (CI saw two
    # "too_large" for one object); the clinic's log must show one refusal per association.
    from types import SimpleNamespace
    rejected = []
    r = DicomReceiver(lambda *a: None, lambda reason, peer: rejected.append(reason),
                      policy=ReceiverPolicy(("CAMERA",), max_bytes=2048), port=0)
    aborts = []

    class Assoc:
        requestor = SimpleNamespace(address="127.0.0.1", port=5000)
        def abort(self):
            aborts.append(self)

    a, b = Assoc(), Assoc()
    for _ in range(4):
        r._on_data(SimpleNamespace(assoc=a, data=b"x" * 1500))
    assert rejected == ["too_large"] and aborts == [a]
    r._on_data(SimpleNamespace(assoc=b, data=b"x" * 1500))        # another camera's association: its own count
    assert rejected == ["too_large"]
    r._on_data(SimpleNamespace(assoc=b, data=b"x" * 1500))
    assert rejected == ["too_large", "too_large"] and aborts == [a, b]


def test_receiver_needs_configured_callers():
    with pytest.raises(UsageError, match="AE title"):
        ReceiverPolicy(())
