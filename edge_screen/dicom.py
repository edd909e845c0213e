"""DICOM ophthalmic photographs through the optional ``dicom`` extra (pydicom).

Only :func:`decode_dicom` is public; :func:`edge_screen.imageio.load_image` calls it for ``.dcm``
files and for bytes carrying the ``DICM`` preamble. pydicom is imported lazily so that the core
does not need it.
"""

from __future__ import annotations

import io
import logging

import numpy as np

from edge_screen.errors import ImageError

logger = logging.getLogger(__name__)

#: Header elements copied into ``LoadedImage.metadata`` when present.
METADATA_KEYWORDS = ("PatientID", "Laterality", "ImageLaterality", "Modality", "StudyDate",
                     "SOPInstanceUID", "Manufacturer")


def decode_dicom(data: bytes | memoryview, *, max_pixels: int,
                 name: str | None = None) -> tuple[np.ndarray, int, dict]:
    """Decode the first frame of a DICOM image to 8-bit RGB.

    Returns:
        ``(rgb (H, W, 3) uint8 RGB, bits_stored, metadata)``; ``metadata`` holds the
        :data:`METADATA_KEYWORDS` found (``Laterality`` falls back to ``ImageLaterality``).

    Raises:
        ImageError: pydicom missing, not a DICOM image, too many pixels, or undecodable pixel data.
    """
    where = f" {name!r}" if name else ""
    try:
        import pydicom
    except ImportError as exc:
        raise ImageError(
            f"DICOM file{where} needs pydicom, which is not installed: "
            "pip install 'edge-screen[dicom]'", reason="unsupported_format") from exc
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(bytes(data)), force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise ImageError(f"could not parse DICOM{where}: {exc}. The file is corrupt.", reason="damaged_file") from exc
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows <= 0 or cols <= 0 or "PixelData" not in ds:
        raise ImageError(f"DICOM{where} holds no image (Rows={rows}, Columns={cols}); "
                         "give a DICOM photograph with pixel data.", reason="unsupported_format")
    if rows * cols > max_pixels:
        raise ImageError(f"DICOM{where} is {cols}x{rows} = {rows * cols:,} pixels, more than "
                         f"max_pixels={max_pixels:,}; refusing to decode.", reason="too_large")
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    _check_native_length(ds, ts, where)
    try:
        arr = ds.pixel_array
    except (RuntimeError, ValueError, NotImplementedError, AttributeError) as exc:
        # A missing codec is a set-up problem; anything else in compressed data means damage.
        missing_handler = isinstance(exc, (RuntimeError, NotImplementedError)) or "handler" in str(exc).lower() \
            or "plugin" in str(exc).lower()
        raise ImageError(
            f"cannot decode the DICOM pixel data{where} (transfer syntax {ts or 'unknown'}): {exc}. "
            + ("Compressed DICOM needs a pydicom pixel handler, e.g. pip install pylibjpeg pylibjpeg-libjpeg."
               if missing_handler else "The file is damaged; re-export it from the camera."),
            reason="unsupported_format" if missing_handler else "damaged_file") from exc
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        logger.info("DICOM%s has %d frames; using the first", where, frames)
        arr = arr[0]
    photometric = str(ds.get("PhotometricInterpretation", "RGB")).upper()
    if photometric.startswith("YBR") and arr.ndim == 3:
        from pydicom.pixels import convert_color_space

        arr = convert_color_space(arr, photometric, "RGB")
    bits = int(ds.get("BitsStored", 8) or 8)
    rgb = _to_rgb8(np.asarray(arr), bits, photometric, where)
    meta: dict = {}
    for key in METADATA_KEYWORDS:
        value = ds.get(key)
        if value not in (None, ""):
            meta[key] = str(value)
    if "Laterality" not in meta and "ImageLaterality" in meta:
        meta["Laterality"] = meta["ImageLaterality"]
    return rgb, (8 if bits <= 8 else 16), meta


def _check_native_length(ds, ts, where: str) -> None:  # noqa: ANN001 - pydicom objects
    """Uncompressed pixel data shorter than Rows x Columns x Samples x Frames x BitsAllocated
    declares is a truncated transfer: refuse it (with the byte counts) before pydicom tries."""
    if ts is None or getattr(ts, "is_compressed", True):
        return
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    bits = int(ds.get("BitsAllocated", 8) or 8)
    expected = (rows * cols * spp * frames * bits + 7) // 8
    actual = len(ds.PixelData)
    if actual < expected:
        raise ImageError(
            f"DICOM{where} is damaged: its pixel data has {actual:,} bytes, but {cols}x{rows} pixels x "
            f"{spp} sample(s) x {frames} frame(s) at {bits} bits need {expected:,}. The transfer was cut "
            "short; re-send or re-export it.", reason="damaged_file")


def _to_rgb8(arr: np.ndarray, bits: int, photometric: str, where: str) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.dtype.kind not in "ui":
        raise ImageError(f"DICOM{where} has {arr.dtype} pixels; expected integer samples.",
                         reason="unsupported_format")
    a = arr.astype(np.float32)
    if bits > 8 or arr.dtype.itemsize > 1:
        a = a * (255.0 / float(2 ** min(bits, 16) - 1))
    a = np.clip(a + 0.5, 0, 255).astype(np.uint8)
    if photometric == "MONOCHROME1":
        a = 255 - a
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ImageError(f"DICOM{where} pixel array has shape {arr.shape}; expected (H, W) or "
                         "(H, W, 3).")
    return np.ascontiguousarray(a)
