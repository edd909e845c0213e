"""DICOM for the app: reading ophthalmic photographs, and a C-STORE receiver that accepts only them.

Qt-free: the receiver reports through plain callbacks (the source controller turns them into
queued Qt signals). Nothing here opens an outbound connection; the receiver listens on 127.0.0.1
unless the clinic configures otherwise, and only for the calling AE titles configured.

Which objects are accepted (PS3.4 Annex B, Storage SOP classes):

- **Ophthalmic Photography 8 Bit Image Storage** (1.2.840.10008.5.1.4.1.1.77.1.5.1) and **16 Bit**
  (1.2.840.10008.5.1.4.1.1.77.1.5.2): what fundus cameras are meant to send (modality OP, with
  ImageLaterality). Always accepted.
- **VL Photographic Image Storage** (1.2.840.10008.5.1.4.1.1.77.1.4) and **Secondary Capture
  Image Storage** (1.2.840.10008.5.1.4.1.1.7): some older or cheaper cameras and PACS exports use
  them, but they carry any kind of picture (a skin photo, a scanned form) and often no laterality.
  Accepted only when the clinic switches it on; the quality gate still checks each image.
- Everything else (CT, MR, OCT volumes, wide-field projections the model was not trained on, ...)
  is refused at association time.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_screen.errors import ImageError, UsageError
from edge_screen.gui.visit import Eye

log = logging.getLogger(__name__)

OPHTHALMIC_PHOTOGRAPHY = ("1.2.840.10008.5.1.4.1.1.77.1.5.1",    # Ophthalmic Photography 8 Bit Image Storage
                          "1.2.840.10008.5.1.4.1.1.77.1.5.2")    # Ophthalmic Photography 16 Bit Image Storage
GENERAL_PHOTOGRAPHY = ("1.2.840.10008.5.1.4.1.1.77.1.4",         # VL Photographic Image Storage
                       "1.2.840.10008.5.1.4.1.1.7")              # Secondary Capture Image Storage
VERIFICATION = "1.2.840.10008.1.1"
#: Default size limit of one received object.
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
#: Largest PDU we announce; conforming senders never send more in one piece.
MAX_PDU = 64 * 1024


@dataclass(frozen=True)
class DicomImage:
    """A photograph read from DICOM."""

    rgb: np.ndarray            # (H, W, 3) uint8 RGB (first frame of multi-frame objects)
    patient_id: str            # (0010,0020); "" when absent
    eye: Eye | None            # from ImageLaterality or Laterality R/L; None when absent
    sop_class_uid: str
    sop_instance_uid: str
    data: bytes                # the DICOM file bytes (Part 10), as stored with the record


def read_dicom(source: str | os.PathLike | bytes | object) -> DicomImage:
    """Read an ophthalmic photograph from a path, bytes or a pydicom Dataset.

    Decoding is the core's (:func:`edge_screen.imageio.load_image`, with its pixel limit): YBR ->
    RGB, 16 -> 8 bit, grey -> 3 channels, first frame of multi-frame objects.

    Raises:
        ImageError: not DICOM, no pixel data, too large, or pixel data that cannot be decoded here
            (its ``reason`` says which).
    """
    import pydicom

    from edge_screen.imageio import load_image

    if isinstance(source, pydicom.Dataset):
        buf = io.BytesIO()
        try:
            pydicom.dcmwrite(buf, source, enforce_file_format=True)
        except (ValueError, AttributeError, TypeError) as exc:
            raise ImageError(f"the received DICOM object cannot be stored: {exc}", reason="damaged_file") from exc
        data = buf.getvalue()
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise ImageError(f"DICOM file cannot be read: {exc.strerror or exc}", reason="unreadable") from exc
    if data[128:132] != b"DICM":
        raise ImageError("not a DICOM file (no DICM preamble)", reason="unsupported_format")
    loaded = load_image(data)
    meta = loaded.metadata or {}
    side = str(meta.get("Laterality") or meta.get("ImageLaterality") or "").upper()
    sop_class = ""
    try:
        sop_class = str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True).get("SOPClassUID", ""))
    except Exception:  # noqa: BLE001 - the pixels decoded; a header we cannot re-read only loses the class
        log.debug("could not re-read the DICOM header for its SOP class")
    return DicomImage(rgb=loaded.rgb, patient_id=str(meta.get("PatientID") or "").strip(),
                      eye={"R": Eye.OD, "L": Eye.OS}.get(side), sop_class_uid=sop_class,
                      sop_instance_uid=str(meta.get("SOPInstanceUID") or ""), data=data)


@dataclass(frozen=True)
class ReceiverPolicy:
    """Who may send what: calling AE titles, SOP classes, the size of one object."""

    allowed_callers: tuple[str, ...]
    accept_general_photos: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES

    def __post_init__(self) -> None:
        if not self.allowed_callers:
            raise UsageError("No camera is allowed to send: enter the AE title of the fundus camera in Settings "
                             "(DICOM receiver) before starting the receiver.")
        if self.max_bytes < 1024:
            raise UsageError(f"The DICOM size limit {self.max_bytes} bytes is too small.")

    @property
    def sop_classes(self) -> tuple[str, ...]:
        """The storage SOP classes accepted."""
        return OPHTHALMIC_PHOTOGRAPHY + (GENERAL_PHOTOGRAPHY if self.accept_general_photos else ())


def _transfer_syntaxes() -> list[str]:
    """Uncompressed syntaxes plus the compressed ones pydicom can decode here."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import (
        JPEG2000,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        JPEG2000Lossless,
        JPEGBaseline8Bit,
        JPEGExtended12Bit,
        JPEGLosslessSV1,
        RLELossless,
    )

    out = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian]
    for uid in (JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLosslessSV1, JPEG2000Lossless, JPEG2000, RLELossless):
        try:
            if get_decoder(uid).is_available:
                out.append(uid)
        except (NotImplementedError, ValueError):
            continue
    return out


class DicomReceiver:
    """A DICOM storage SCP (C-STORE receiver) so a fundus camera can push photographs to the app.

    Args:
        on_image: called with ``(DicomImage, peer)`` from pynetdicom's thread for each accepted photo.
        on_rejected: called with ``(reason, peer)``: ``"too_large"`` or an ImageError reason.
        policy: allowed calling AE titles, accepted SOP classes, size limit.
        host: bind address; loopback by default so nothing outside this computer can connect.
        port: TCP port (0 = any free port, handy in tests).
        ae_title: this receiver's application entity title.
    """

    def __init__(self, on_image: Callable[[DicomImage, str], None], on_rejected: Callable[[str, str], None], *,
                 policy: ReceiverPolicy, host: str = "127.0.0.1", port: int = 11112,
                 ae_title: str = "EDGESCREEN") -> None:
        if not 0 <= int(port) <= 65535:
            raise UsageError(f"DICOM port {port!r} is not valid: use 1 to 65535.")
        self.on_image, self.on_rejected, self.policy = on_image, on_rejected, policy
        self.host, self.port, self.ae_title = host, int(port), ae_title
        self._server = None
        self._received: dict[int, int] = {}   # association id -> bytes received since its last C-STORE
        self._aborting: weakref.WeakSet = weakref.WeakSet()   # associations aborted for size: rejected once
        self._lock = threading.Lock()

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

    @staticmethod
    def _peer(event) -> str:  # noqa: ANN001
        return f"{event.assoc.requestor.address}:{event.assoc.requestor.port}"

    def _on_data(self, event) -> None:  # noqa: ANN001
        """Count what arrives and abort an association whose object grows past the limit."""
        key = id(event.assoc)
        with self._lock:
            if event.assoc in self._aborting:   # PDUs already in flight after the abort: reported once
                return
            total = self._received.get(key, 0) + len(event.data)
            self._received[key] = total
            if total <= self.policy.max_bytes:
                return
            self._aborting.add(event.assoc)
        log.warning("DICOM: aborting an association that sent more than %d bytes", self.policy.max_bytes)
        self.on_rejected("too_large", self._peer(event))
        event.assoc.abort()

    def _on_closed(self, event) -> None:  # noqa: ANN001
        with self._lock:
            self._received.pop(id(event.assoc), None)

    def _on_store(self, event) -> int:  # noqa: ANN001
        with self._lock:
            self._received[id(event.assoc)] = 0
        peer = self._peer(event)
        ds = event.dataset
        ds.file_meta = event.file_meta
        try:
            image = read_dicom(ds)
        except ImageError as exc:
            log.info("C-STORE: rejected a dataset (%s)", exc.reason)
            self.on_rejected(exc.reason or "unreadable", peer)
            return 0xC210   # cannot understand
        self.on_image(image, peer)
        return 0x0000

    def start(self) -> tuple[str, int]:
        """Start listening (non-blocking). Raises UsageError when the port is taken."""
        from pynetdicom import AE, evt

        if self._server is not None:
            return self.address
        ae = AE(ae_title=self.ae_title)
        syntaxes = _transfer_syntaxes()
        for uid in self.policy.sop_classes:
            ae.add_supported_context(uid, syntaxes)
        ae.add_supported_context(VERIFICATION)
        ae.require_calling_aet = list(self.policy.allowed_callers)
        ae.maximum_pdu_size = MAX_PDU
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_DATA_RECV, self._on_data),
                    (evt.EVT_RELEASED, self._on_closed), (evt.EVT_ABORTED, self._on_closed)]
        try:
            self._server = ae.start_server((self.host, self.port), block=False, evt_handlers=handlers)
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
