"""Image sources: USB/UVC camera (OpenCV VideoCapture), watched export folder, DICOM file + C-STORE receiver.

The camera and folder loops are plain functions ``loop(token, report, ...)`` run by
:class:`edge_screen.gui.workers.Worker` on a pool thread; they talk to the GUI only through
``report((kind, ...))`` tuples:

- camera: ``("opened", CameraInfo)``, ``("frame", rgb)``, ``("captured", rgb)``, ``("lost", message)``
- folder: ``("watching", folder)``, ``("taken", path, data)``, ``("rejected", path, reason)``

The DICOM receiver runs in pynetdicom's own threads and calls back through a Qt signal bridge.
Nothing here opens an outbound connection; the receiver listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal

from edge_screen.errors import ImageError, UsageError

if TYPE_CHECKING:
    from edge_screen.gui.workers import CancelToken

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
DICOM_EXTS = (".dcm", ".dicom")
MIN_SIDE = 64   # pixels; anything smaller cannot be a fundus photograph


# ---------------------------------------------------------------------------------------------
# camera
@dataclass(frozen=True)
class CameraInfo:
    """What the driver actually gave us (drivers silently clamp requested resolutions)."""

    device: str
    width: int      # pixels of the delivered frames
    height: int
    fps: float      # as reported by the driver (0 when unknown)
    backend: str    # OpenCV capture backend name


@dataclass
class CameraControl:
    """Shared between the GUI and the camera loop: a capture request flag (set by button / space bar)."""

    capture: threading.Event = field(default_factory=threading.Event)


def list_cameras(max_index: int = 8) -> list[tuple[str, str]]:
    """Cameras as ``(label, device)`` pairs; ``device`` is what :func:`open_camera` takes.

    On Linux the V4L2 nodes are listed without opening them (opening can take seconds); elsewhere
    indices 0..max_index-1 are probed.
    """
    found: list[tuple[str, str]] = []
    if sys.platform.startswith("linux"):
        for node in sorted(Path("/dev").glob("video*"), key=lambda p: (len(p.name), p.name)):
            name_file = Path("/sys/class/video4linux") / node.name / "name"
            label = name_file.read_text().strip() if name_file.is_file() else node.name
            found.append((f"{label} ({node})", str(node)))
        return found
    for i in range(max_index):
        cap = cv2.VideoCapture(i)
        try:
            if cap.isOpened():
                found.append((f"Camera {i}", str(i)))
        finally:
            cap.release()
    return found


def open_camera(device: str, *, width: int | None = 1920, height: int | None = 1080) -> cv2.VideoCapture:
    """Open a camera index ("0"), a device node ("/dev/video0") or a video file, asking for ``width x height``.

    Raises:
        ImageError: the device cannot be opened.
    """
    source: int | str = int(device) if device.isdigit() else device
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        cap.release()
        raise ImageError(f"Camera {device!r} could not be opened: check it is plugged in and not used by "
                         "another program, then press Find cameras.")
    if width and height and not Path(str(device)).is_file():
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    return cap


def camera_loop(token: CancelToken, report: Callable[[tuple], None], device: str, control: CameraControl, *,
                width: int | None = 1920, height: int | None = 1080, max_fps: float = 30.0,
                preview_every: int = 1, max_failures: int = 5) -> str:
    """Read frames until cancelled or the camera stops answering.

    Reports ``("opened", CameraInfo)`` once (the size of the first real frame), ``("frame", rgb)``
    for the preview (every ``preview_every``-th frame, (H, W, 3) uint8 RGB), ``("captured", rgb)``
    when ``control.capture`` is set (full resolution), and ``("lost", message)`` after
    ``max_failures`` failed reads in a row (unplugged cable, end of a video file). Never raises for a
    lost camera: the GUI shows the message.

    Returns:
        "cancelled" or "lost".
    """
    cap = open_camera(device, width=width, height=height)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        period = 1.0 / min(max_fps, fps) if fps > 0 else 1.0 / max_fps
        failures = 0
        n = 0
        opened = False
        while not token.cancelled:
            t0 = time.perf_counter()
            ok, bgr = cap.read()
            if not ok or bgr is None:
                failures += 1
                if failures >= max_failures:
                    report(("lost", f"Camera {device}: no picture after {failures} tries."))
                    log.warning("camera %s lost after %d failed reads", device, failures)
                    return "lost"
                token.wait(0.05)
                continue
            failures = 0
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if not opened:
                opened = True
                backend = cap.getBackendName() if hasattr(cap, "getBackendName") else "?"
                info = CameraInfo(device=device, width=rgb.shape[1], height=rgb.shape[0], fps=fps, backend=backend)
                log.info("camera %s opened: %dx%d @ %.1f fps (%s)", device, info.width, info.height, fps, backend)
                report(("opened", info))
            if control.capture.is_set():
                control.capture.clear()
                report(("captured", rgb.copy()))
            if n % preview_every == 0:
                report(("frame", rgb))
            n += 1
            token.wait(max(0.0, period - (time.perf_counter() - t0)))
        return "cancelled"
    finally:
        cap.release()


# ---------------------------------------------------------------------------------------------
# watched folder
def check_image_bytes(data: bytes, name: str) -> str | None:
    """Why these bytes are not a usable photograph, or None when they decode.

    Checks: not empty; JPEG/PNG end markers present (a truncated or still-written file has none);
    decodes with OpenCV; at least :data:`MIN_SIDE` pixels on each side.
    """
    if not data:
        return "the file is empty"
    ext = Path(name).suffix.lower()
    if ext in (".jpg", ".jpeg") and b"\xff\xd9" not in data[-64:]:
        return "the JPEG is truncated or damaged (no end marker)"
    if ext == ".png" and b"IEND" not in data[-32:]:
        return "the PNG is truncated or damaged (no end chunk)"
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_4)
    if arr is None:
        return "not a readable image (corrupt, or not a photo)"
    h, w = arr.shape[:2]
    if min(h, w) * 4 < MIN_SIDE:
        return f"too small to be a fundus photo ({w * 4}x{h * 4} px; need at least {MIN_SIDE} px per side)"
    return None


def check_dicom_bytes(data: bytes) -> str | None:
    """Why these bytes are not a usable DICOM photograph, or None when :func:`read_dicom` accepts them."""
    try:
        read_dicom(data)
    except ImageError as exc:
        return str(exc)
    return None


def watch_loop(token: CancelToken, report: Callable[[tuple], None], folder: str | os.PathLike, *,
               interval_s: float = 0.5, settle_polls: int = 2, include_existing: bool = False) -> str:
    """Poll ``folder`` and report each new image once its size and mtime stop changing.

    A file is taken after ``settle_polls`` consecutive polls with the same non-zero size and mtime
    (cameras write exports in pieces). Files are only read, never moved or deleted. A file that
    does not decode is reported as rejected with the reason, and watching goes on. A file that is
    replaced (new size or mtime) is considered again.

    Returns:
        "cancelled".

    Raises:
        UsageError: ``folder`` is not a directory.
    """
    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"Watch folder {str(root)!r} does not exist or is not a folder: choose an existing "
                         "folder (the one the camera exports to).")
    done: set[tuple[str, int, int]] = set()
    pending: dict[str, tuple[int, int, int]] = {}   # name -> (size, mtime_ns, stable polls)

    def scan() -> list[os.DirEntry]:
        try:
            return [e for e in os.scandir(root)
                    if e.is_file() and not e.name.startswith(".") and e.name.lower().endswith(IMAGE_EXTS + DICOM_EXTS)]
        except OSError as exc:
            report(("rejected", str(root), f"the folder cannot be read: {exc.strerror or exc}"))
            return []

    if not include_existing:
        for e in scan():
            st = e.stat()
            done.add((e.name, st.st_size, st.st_mtime_ns))
    report(("watching", str(root)))
    log.info("watching a folder (%d existing files skipped)", len(done))
    while not token.cancelled:
        for e in scan():
            try:
                st = e.stat()
            except OSError:
                continue   # vanished between scandir and stat
            key = (e.name, st.st_size, st.st_mtime_ns)
            if key in done:
                continue
            prev = pending.get(e.name)
            stable = prev[2] + 1 if prev and prev[:2] == (st.st_size, st.st_mtime_ns) and st.st_size > 0 else 0
            pending[e.name] = (st.st_size, st.st_mtime_ns, stable)
            if stable < settle_polls:
                continue
            del pending[e.name]
            done.add(key)
            path = Path(e.path)
            try:
                data = path.read_bytes()
            except OSError as exc:
                report(("rejected", str(path), f"cannot be read: {exc.strerror or exc}"))
                continue
            is_dicom = path.suffix.lower() in DICOM_EXTS
            reason = check_dicom_bytes(data) if is_dicom else check_image_bytes(data, path.name)
            if reason is None:
                report(("taken", str(path), data))
            else:
                log.info("watch folder: rejected a file: %s", reason)
                report(("rejected", str(path), reason))
        token.wait(interval_s)
    return "cancelled"


# ---------------------------------------------------------------------------------------------
# DICOM
@dataclass(frozen=True)
class DicomImage:
    """A photograph read from DICOM."""

    rgb: np.ndarray            # (H, W, 3) uint8 RGB (first frame of multi-frame objects)
    patient_id: str            # (0010,0020); "" when absent
    eye: str | None            # "OD" / "OS" from ImageLaterality or Laterality R/L; None when absent
    sop_instance_uid: str
    data: bytes                # the DICOM file bytes (Part 10), as stored with the visit


def read_dicom(source: str | os.PathLike | bytes | object) -> DicomImage:
    """Read an ophthalmic photograph (or any single-image DICOM) from a path, bytes or a pydicom Dataset.

    Decoding is the core's (:func:`edge_screen.imageio.load_image`: YBR -> RGB, 16 -> 8 bit, grey ->
    3 channels, first frame of multi-frame objects); a received Dataset is serialised first.

    Raises:
        ImageError: not DICOM, no pixel data, or pixel data that cannot be decoded here.
    """
    import pydicom

    from edge_screen.imageio import load_image

    if isinstance(source, pydicom.Dataset):
        buf = io.BytesIO()
        try:
            pydicom.dcmwrite(buf, source, enforce_file_format=True)
        except (ValueError, AttributeError, TypeError) as exc:
            raise ImageError(f"The received DICOM object cannot be stored: {exc}.") from exc
        data = buf.getvalue()
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise ImageError(f"DICOM file cannot be read: {exc.strerror or exc}.") from exc
    try:
        loaded = load_image(data)
    except ImageError as exc:
        raise ImageError(f"Not a usable DICOM photograph: {exc}") from exc
    meta = loaded.metadata or {}
    side = str(meta.get("Laterality") or meta.get("ImageLaterality") or "").upper()
    return DicomImage(rgb=loaded.rgb, patient_id=str(meta.get("PatientID") or ""), eye={"R": "OD", "L": "OS"}.get(side),
                      sop_instance_uid=str(meta.get("SOPInstanceUID") or ""), data=data)


class DicomBridge(QObject):
    """Carries receiver callbacks (pynetdicom threads) to the GUI thread as queued Qt signals."""

    received = Signal(object, str)   # DicomImage, peer address
    failed = Signal(str)


class DicomReceiver:
    """A DICOM storage SCP (C-STORE receiver) so a camera can push photographs to the app.

    Args:
        bridge: signals emitted for each received image / failure.
        host: bind address; loopback by default so nothing outside this computer can connect.
        port: TCP port (0 = any free port, handy in tests).
        ae_title: this receiver's application entity title.
    """

    def __init__(self, bridge: DicomBridge, *, host: str = "127.0.0.1", port: int = 11112,
                 ae_title: str = "EDGESCREEN") -> None:
        if not 0 <= int(port) <= 65535:
            raise UsageError(f"DICOM port {port!r} is not valid: use 1 to 65535.")
        self.bridge = bridge
        self.host = host
        self.port = int(port)
        self.ae_title = ae_title
        self._server = None

    @property
    def running(self) -> bool:
        """True while listening."""
        return self._server is not None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound."""
        if self._server is None:
            return (self.host, self.port)
        host, port = self._server.server_address[:2]
        return (str(host), int(port))

    def _on_store(self, event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        try:
            image = read_dicom(ds)
        except ImageError as exc:
            log.info("C-STORE: rejected a dataset: %s", exc)
            self.bridge.failed.emit(f"Received DICOM could not be used: {exc}")
            return 0xC210   # cannot understand
        peer = f"{event.assoc.requestor.address}:{event.assoc.requestor.port}"
        self.bridge.received.emit(image, peer)
        return 0x0000

    def start(self) -> tuple[str, int]:
        """Start listening (non-blocking). Raises UsageError when the port is taken."""
        from pynetdicom import AE, evt
        from pynetdicom.presentation import AllStoragePresentationContexts
        from pynetdicom.sop_class import Verification

        if self._server is not None:
            return self.address
        ae = AE(ae_title=self.ae_title)
        ae.supported_contexts = AllStoragePresentationContexts
        ae.add_supported_context(Verification)
        ae.maximum_pdu_size = 0
        try:
            self._server = ae.start_server((self.host, self.port), block=False,
                                           evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        except OSError as exc:
            raise UsageError(f"The DICOM receiver cannot listen on {self.host}:{self.port}: {exc.strerror or exc}. "
                             "Choose another port in Settings.") from exc
        log.info("DICOM receiver listening on %s:%d", *self.address)
        return self.address

    def stop(self) -> None:
        """Stop listening and close open associations."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
            log.info("DICOM receiver stopped")
