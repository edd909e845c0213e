"""Image loading: every accepted format to one ``(H, W, 3) uint8 RGB`` array.

Accepted: JPEG, PNG, TIFF, BMP (8- or 16-bit, grayscale, RGB or RGBA) from a path or bytes, and
DICOM through the optional ``dicom`` extra (:mod:`edge_screen.dicom`). EXIF orientation is applied.

Two protections run *before* any pixel is decoded:

* the width and height are read from the file header (PNG IHDR, JPEG SOFn, BMP info header,
  TIFF IFD0) and ``width * height > max_pixels`` is refused, so a decompression bomb costs only
  the bytes of its header;
* a frame smaller than :data:`MIN_SIDE` on either side is refused as too small to grade.

Large JPEGs are decoded with libjpeg's DCT scaling (``IMREAD_REDUCED_COLOR_{2,4,8}``) when a
``target_size`` is given and the image keeps at least :data:`REDUCED_MIN_FACTOR` x
``target_size`` pixels on its short side (the fundus disc spans roughly the short side).
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import simplejpeg

from edge_screen.errors import ImageError

logger = logging.getLogger(__name__)

#: Refuse frames with more pixels than this (about 200 MP; a 12 MP camera frame is far below).
DEFAULT_MAX_PIXELS = 200_000_000
#: Smallest side, in pixels, that can still be graded.
MIN_SIDE = 64
#: A reduced decode must keep the short side >= this factor x target_size. Why 1.5: the quality gate
#: grades only photos whose disc covers >= 35 % of the frame (``min_fov_coverage``), so in a square
#: frame the disc is >= 2 sqrt(0.35 / pi) = 0.67 of the short side across (0.82 in a 3:2 frame); 1.5 x
#: the input size on the short side keeps every gradable disc >= the model input, never upsampled.
#: (libjpeg's entropy decoding dominates: a 12 MP JPEG costs about the same at 1/4 as at 1/8.)
REDUCED_MIN_FACTOR = 1.5

SUPPORTED_FORMATS = ("JPEG", "PNG", "TIFF", "BMP", "DICOM")

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
                  8: cv2.IMREAD_REDUCED_GRAYSCALE_8}


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image.

    Attributes:
        rgb: ``(H, W, 3) uint8``, RGB, EXIF orientation applied (possibly decoded reduced).
        original_size: ``(width, height)`` of the stored image, after EXIF rotation.
        scale: ``rgb`` width / original width (1.0 unless decoded reduced).
        source: the path, or ``None`` for bytes.
        bit_depth: bits per sample of the stored image (8 or 16; 16-bit is scaled to uint8).
        metadata: e.g. ``{"format": "JPEG"}`` plus DICOM ``PatientID`` / ``Laterality``.
    """

    rgb: np.ndarray
    original_size: tuple[int, int]
    scale: float
    source: str | None
    bit_depth: int
    metadata: dict = field(default_factory=dict)


def load_image(source: str | os.PathLike | bytes, *, target_size: int | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file or its bytes into 8-bit RGB.

    Args:
        source: a path, or the encoded file content (``bytes``/``bytearray``/``memoryview``).
        target_size: the model input size; allows a reduced JPEG decode (see module docs).
        max_pixels: refuse images whose header claims more than this many pixels.

    Raises:
        ImageError: missing/empty/corrupt/truncated file, unsupported format, too small, too large,
            or DICOM without pydicom installed.
    """
    data, name = _read_source(source, max_bytes=16 * max_pixels + (1 << 20))
    fmt = sniff_format(data)
    if fmt is None and name is not None and name.lower().endswith(".dcm"):
        fmt = "DICOM"  # DICOM without the 128-byte preamble; pydicom reads it with force=True
    if fmt is None:
        where = f" {name!r}" if name else ""
        raise ImageError(
            f"unsupported or unrecognised image format{where} (first bytes {bytes(data[:8])!r}); "
            f"valid formats: {', '.join(SUPPORTED_FORMATS)}. Is the file an image, and complete?",
            reason="unsupported_format")
    if fmt == "DICOM":
        from edge_screen import dicom  # optional dependency lives there

        rgb, bit_depth, meta = dicom.decode_dicom(data, max_pixels=max_pixels, name=name)
        _check_min_size(rgb.shape[1], rgb.shape[0], name)
        h, w = rgb.shape[:2]
        return LoadedImage(rgb=rgb, original_size=(w, h), scale=1.0, source=name,
                           bit_depth=bit_depth, metadata={"format": "DICOM", **meta})

    width, height = image_size_from_header(data, fmt, name=name)
    if width * height > max_pixels:
        raise ImageError(
            f"image{_named(name)} is {width}x{height} = {width * height:,} pixels, more than the "
            f"limit max_pixels={max_pixels:,} (possible decompression bomb); refusing to decode. "
            "Pass a larger max_pixels if the image is genuine.", reason="too_large")
    _check_min_size(width, height, name)

    if fmt == "JPEG" and not _jpeg_complete(data):
        raise ImageError(
            f"JPEG{_named(name)} is truncated: no end-of-image marker after the image data "
            f"({len(data):,} bytes). The file was cut short; re-copy or re-export it.",
            reason="damaged_file")
    reduce = _reduce_factor(width, height, target_size) if fmt == "JPEG" else 1
    if fmt == "JPEG" and _jpeg_components(data) in (1, 3):
        img = _decode_jpeg(data, width, height, reduce, name)
    else:
        if fmt == "PNG":
            _check_png_chunks(data, name)
        img = _decode_opencv(data, fmt, width, height, reduce, name)
    rgb, bit_depth = _to_uint8(img, fmt, name)
    h, w = rgb.shape[:2]
    # EXIF orientation may swap the axes; the header holds the stored (unrotated) size.
    if reduce == 1:
        original = (w, h)
    else:
        stored = (-(-width // reduce), -(-height // reduce))
        original = (width, height) if (w, h) == stored else (height, width)
    if reduce > 1:
        logger.debug("decoded %s%s reduced 1/%d: %dx%d -> %dx%d", fmt, _named(name), reduce,
                     original[0], original[1], w, h)
    return LoadedImage(rgb=rgb, original_size=original, scale=w / original[0], source=name,
                       bit_depth=bit_depth, metadata={"format": fmt})


def sniff_format(data: bytes | memoryview) -> str | None:
    """The format from the magic bytes: ``"JPEG" | "PNG" | "TIFF" | "BMP" | "DICOM"`` or None."""
    head = bytes(data[:132])
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == _PNG_SIG:
        return "PNG"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[:2] == b"BM" and len(head) >= 26:
        return "BMP"
    if head[128:132] == b"DICM":
        return "DICOM"
    return None


def image_size_from_header(data: bytes | memoryview, fmt: str, *,
                           name: str | None = None) -> tuple[int, int]:
    """``(width, height)`` as stored, read from the header without decoding pixels.

    Raises:
        ImageError: the header is truncated or malformed.
    """
    parser = {"PNG": _png_size, "JPEG": _jpeg_size, "BMP": _bmp_size, "TIFF": _tiff_size}[fmt]
    try:
        size = parser(memoryview(data))
    except (struct.error, IndexError, ValueError) as exc:
        raise ImageError(
            f"malformed or truncated {fmt} header{_named(name)}: {exc}. The file is corrupt; "
            "re-export or re-copy it.", reason="damaged_file") from exc
    if size[0] <= 0 or size[1] <= 0:
        raise ImageError(f"{fmt} header{_named(name)} claims an empty image {size[0]}x{size[1]}; "
                         "the file is corrupt.", reason="damaged_file")
    return size


# --------------------------------------------------------------------------------------------
def _read_source(source: str | os.PathLike | bytes, *,
                 max_bytes: int) -> tuple[bytes | memoryview, str | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = memoryview(source).cast("B") if not isinstance(source, bytes) else source
        name = None
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(path)
        if not path.exists():
            raise ImageError(f"image file not found: {name!r}. Check the path.", reason="not_found")
        if not path.is_file():
            raise ImageError(f"not a file: {name!r} (a directory or device); give an image file.",
                             reason="not_found")
        size = path.stat().st_size
        if size > max_bytes:  # larger than any image of max_pixels could need, even raw
            raise ImageError(f"image file {name!r} is {size:,} bytes, more than {max_bytes:,} "
                             "bytes allowed for max_pixels; refusing to read it.", reason="too_large")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read image file {name!r}: {exc}", reason="unreadable") from exc
    else:
        raise ImageError(f"load_image needs a path or bytes, got {type(source).__name__}; "
                         "pass a file path or the encoded file content.", reason="unreadable")
    if len(data) == 0:
        raise ImageError(f"image{_named(name)} is empty (0 bytes); the file is truncated or was "
                         "never written.", reason="damaged_file")
    return data, name


def _named(name: str | None) -> str:
    return f" {name!r}" if name else ""


def _check_min_size(width: int, height: int, name: str | None) -> None:
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"image{_named(name)} is {width}x{height} pixels, too small to grade: both sides must "
            f"be at least {MIN_SIDE} px. Use the original photograph, not a thumbnail.",
            reason="too_small")


def _reduce_factor(width: int, height: int, target_size: int | None) -> int:
    """Largest DCT scale 1/k (k in 8, 4, 2) keeping the short side >= 1.5 x target_size."""
    if target_size is None:
        return 1
    short = min(width, height)
    for k in (8, 4, 2):
        if short // k >= REDUCED_MIN_FACTOR * target_size:
            return k
    return 1


def _to_uint8(img: np.ndarray, fmt: str, name: str | None) -> tuple[np.ndarray, int]:
    if img.ndim == 2:  # not expected with IMREAD_COLOR_RGB, but cheap to handle
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img), 8
    if img.dtype == np.uint16:
        # Full-range scaling (65535 -> 255), rounded; the same convention as DICOM with 16 bits stored.
        return cv2.convertScaleAbs(img, alpha=255.0 / 65535.0), 16
    raise ImageError(
        f"{fmt}{_named(name)} has {img.dtype} samples; supported are 8- and 16-bit integer "
        "images. Convert it to 8- or 16-bit first.", reason="unsupported_format")


def _decode_opencv(data: bytes | memoryview, fmt: str, width: int, height: int, reduce: int,
                   name: str | None) -> np.ndarray:
    """Decode with OpenCV: PNG, TIFF, BMP, and the rare JPEGs libjpeg-turbo cannot give as RGB (CMYK)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if fmt == "JPEG":
        # The reduced modes only exist as IMREAD_REDUCED_GRAYSCALE_n | <colour flag>.
        flags = cv2.IMREAD_COLOR_RGB | (_REDUCED_FLAGS[reduce] if reduce > 1 else 0)
    else:
        # OpenCV 5.0 garbles 16-bit TIFF with IMREAD_COLOR_RGB | IMREAD_ANYDEPTH: decode BGR.
        flags = cv2.IMREAD_COLOR_BGR | cv2.IMREAD_ANYDEPTH
    try:
        img = cv2.imdecode(buf, flags)
    except cv2.error as exc:
        raise ImageError(f"could not decode {fmt}{_named(name)}: {exc}".strip(), reason="damaged_file") from exc
    if img is None:
        raise ImageError(
            f"could not decode {fmt}{_named(name)} ({len(data):,} bytes, header says "
            f"{width}x{height}): the file is corrupt or truncated. Re-export or re-copy it.",
            reason="damaged_file")
    if fmt != "JPEG" and img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def _decode_jpeg(data: bytes | memoryview, width: int, height: int, reduce: int,
                 name: str | None) -> np.ndarray:
    """Decode a JPEG with libjpeg-turbo (simplejpeg) in strict mode, then apply EXIF orientation.

    libjpeg *recovers* from corrupt entropy-coded data ("Corrupt JPEG data: premature end of data
    segment", "bad Huffman code", "extraneous bytes before marker"): it fills the damaged blocks with
    grey or garbage and only prints a warning on stderr, tied to no file. OpenCV's decoder returns
    such an image as if nothing happened, and a screener then grades a damaged photo. ``strict=True``
    turns every such warning into an error for this one file. (No false alarm on the 5,153 real
    photos of fundus-dev and fundus-extra.)
    """
    kwargs = {}
    if reduce > 1:  # libjpeg's DCT scaling: the smallest scale whose size is at least 1/reduce
        kwargs = {"min_height": -(-height // reduce), "min_width": -(-width // reduce)}
    try:
        rgb = simplejpeg.decode_jpeg(bytes(data), colorspace="RGB", strict=True, **kwargs)
    except ValueError as exc:
        detail = _dedupe_messages(str(exc))
        unsupported = "unsupported" in detail.lower() or "not supported" in detail.lower()
        raise ImageError(
            f"JPEG{_named(name)} cannot be decoded: {detail}. "
            + ("Save it as an 8-bit baseline or progressive JPEG, or as PNG."
               if unsupported else "The file is damaged; re-export or re-copy it from the camera."),
            reason="unsupported_format" if unsupported else "damaged_file") from exc
    return _apply_orientation(rgb, _exif_orientation(data))


def _dedupe_messages(text: str) -> str:
    """libjpeg repeats a warning per damaged segment, glued together: keep each message once."""
    parts = [p.strip() for p in text.replace("Corrupt JPEG data", "\0Corrupt JPEG data").split("\0")]
    seen: list[str] = []
    for p in parts:
        if p and p not in seen:
            seen.append(p)
    return "; ".join(seen) or text.strip()


def _jpeg_components(d: bytes | memoryview) -> int:
    """Number of colour components in the first JPEG frame header (0 when not found)."""
    b = bytes(d[: 1 << 16]) if len(d) > (1 << 16) else bytes(d)
    i, n = 2, len(b)
    while i + 4 <= n:
        if b[i] != 0xFF:
            return 0
        marker = b[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            i += 2
            continue
        if marker in _SOF_MARKERS and i + 10 <= n:
            return b[i + 9]
        if marker == 0xDA:
            return 0
        i += 2 + int.from_bytes(b[i + 2:i + 4], "big")
    return 0


def _exif_orientation(d: bytes | memoryview) -> int:
    """EXIF orientation (1..8) from the APP1 segment before the first scan; 1 when absent or unreadable."""
    b = bytes(d[: 1 << 17]) if len(d) > (1 << 17) else bytes(d)
    i, n = 2, len(b)
    while i + 4 <= n:
        if b[i] != 0xFF:
            return 1
        marker = b[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            i += 2
            continue
        if marker == 0xDA:
            return 1
        length = int.from_bytes(b[i + 2:i + 4], "big")
        if marker == 0xE1 and b[i + 4:i + 10] == b"Exif\x00\x00":
            try:
                return _tiff_orientation(b[i + 10:i + 2 + length])
            except (struct.error, IndexError, ValueError):
                return 1
        i += 2 + length
    return 1


def _tiff_orientation(t: bytes) -> int:
    endian = {b"II": "<", b"MM": ">"}.get(t[:2])
    if endian is None:
        return 1
    (off,) = struct.unpack(endian + "I", t[4:8])
    (count,) = struct.unpack(endian + "H", t[off:off + 2])
    for k in range(count):
        p = off + 2 + 12 * k
        tag, typ = struct.unpack(endian + "HH", t[p:p + 4])
        if tag == 0x0112 and typ == 3:
            (value,) = struct.unpack(endian + "H", t[p + 8:p + 10])
            return int(value) if 1 <= value <= 8 else 1
    return 1


def _apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a stored image into its display orientation (EXIF 274 / TIFF 6.0 semantics)."""
    if orientation == 2:
        return cv2.flip(img, 1)
    if orientation == 3:
        return cv2.rotate(img, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(img, 0)
    if orientation == 5:
        return cv2.transpose(img)
    if orientation == 6:
        return cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.transpose(img), -1)
    if orientation == 8:
        return cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return img


def _check_png_chunks(d: bytes | memoryview, name: str | None) -> None:
    """Walk the PNG chunks and check every CRC and the IEND marker.

    libpng's handling of a CRC error depends on how the decoder configured it (OpenCV's build
    accepts some damaged files), so the check is done here, for every chunk, before decoding.
    """
    b = memoryview(d)
    i, n = 8, len(b)
    while i + 12 <= n:
        (length,) = struct.unpack(">I", b[i:i + 4])
        ctype = bytes(b[i + 4:i + 8])
        end = i + 12 + length
        if end > n:
            break
        (crc,) = struct.unpack(">I", b[end - 4:end])
        if zlib.crc32(b[i + 4:end - 4]) != crc:
            raise ImageError(
                f"PNG{_named(name)} is damaged: chunk {ctype.decode('latin-1')!r} at byte {i:,} fails its "
                "CRC check. Re-export or re-copy the file.", reason="damaged_file")
        if ctype == b"IEND":
            return
        i = end
    raise ImageError(f"PNG{_named(name)} is truncated: no IEND chunk ({n:,} bytes). The file was cut "
                     "short; re-copy or re-export it.", reason="damaged_file")


def _png_size(d: memoryview) -> tuple[int, int]:
    if bytes(d[12:16]) != b"IHDR":
        raise ValueError("first chunk is not IHDR")
    w, h = struct.unpack(">II", d[16:24])
    return w, h


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(d: memoryview) -> tuple[int, int]:
    """Walk the marker segments up to the first SOFn (frame header) and read its size."""
    i, n = 2, len(d)
    while i < n:
        if d[i] != 0xFF:
            raise ValueError(f"expected a marker at byte {i}")
        while i < n and d[i] == 0xFF:  # fill bytes
            i += 1
        marker = d[i]
        i += 1
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # standalone markers
            continue
        if marker == 0xD9:
            raise ValueError("end of image before any frame header")
        (length,) = struct.unpack(">H", d[i:i + 2])
        if marker in _SOF_MARKERS:
            h, w = struct.unpack(">HH", d[i + 3:i + 7])
            if h == 0:
                raise ValueError("frame height 0 (DNL-defined height is not supported)")
            return w, h
        if marker == 0xDA:
            raise ValueError("scan data before any frame header")
        i += length
    raise ValueError("no frame header (SOF) found")


def _jpeg_complete(d: bytes | memoryview) -> bool:
    """True when an end-of-image marker follows the first scan (libjpeg would otherwise pad a
    truncated file with grey and only warn). Walking the segments skips EXIF thumbnails, whose
    own markers sit inside APP1."""
    b = bytes(d)
    i, n = 2, len(b)
    while i + 4 <= n:
        if b[i] != 0xFF:
            return False
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            i += 2
            continue
        if marker == 0xDA:
            return b.rfind(b"\xff\xd9") > i
        i += 2 + int.from_bytes(b[i + 2:i + 4], "big")
    return False


def _bmp_size(d: memoryview) -> tuple[int, int]:
    (header_size,) = struct.unpack("<I", d[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        w, h = struct.unpack("<HH", d[18:22])
    else:
        w, h = struct.unpack("<ii", d[18:26])
    return w, abs(h)  # negative height = top-down rows


def _tiff_size(d: memoryview) -> tuple[int, int]:
    endian = "<" if bytes(d[:2]) == b"II" else ">"
    (version,) = struct.unpack(endian + "H", d[2:4])
    if version == 42:
        (off,) = struct.unpack(endian + "I", d[4:8])
        (count,) = struct.unpack(endian + "H", d[off:off + 2])
        entry, first, hdr = 12, off + 2, "HHI"
    else:  # BigTIFF
        (off,) = struct.unpack(endian + "Q", d[8:16])
        (count,) = struct.unpack(endian + "Q", d[off:off + 8])
        entry, first, hdr = 20, off + 8, "HHQ"
    vals: dict[int, int] = {}
    for k in range(count):
        p = first + k * entry
        tag, typ, _ = struct.unpack(endian + hdr, d[p:p + struct.calcsize(endian + hdr)])
        if tag in (256, 257):
            vp = p + struct.calcsize(endian + hdr)
            fmt = {3: "H", 4: "I", 16: "Q"}.get(typ)
            if fmt is None:
                raise ValueError(f"tag {tag} has unexpected type {typ}")
            (vals[tag],) = struct.unpack(endian + fmt, d[vp:vp + struct.calcsize(fmt)])
    if 256 not in vals or 257 not in vals:
        raise ValueError("IFD0 lacks ImageWidth/ImageLength")
    return vals[256], vals[257]
