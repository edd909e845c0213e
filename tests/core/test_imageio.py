"""Image loading: formats, bit depths, EXIF orientation, reduced decoding, and bad inputs."""

from __future__ import annotations

import io
import struct
import sys
import zlib

import cv2
import numpy as np
import pytest

from edge_screen.errors import ImageError
from edge_screen.imageio import (MIN_SIDE, image_size_from_header, load_image, sniff_format)


@pytest.fixture(scope="module")
def pattern() -> np.ndarray:
    """A 96x128 RGB pattern with distinct channels, (96, 128, 3) uint8."""
    y, x = np.mgrid[0:96, 0:128]
    return np.dstack([x * 2, y * 2, (x + y) % 256]).astype(np.uint8)


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp"])
def test_lossless_formats_round_trip_as_rgb(pattern, encode, ext, tmp_path):
    data = encode(pattern, ext)
    path = tmp_path / f"img{ext}"
    path.write_bytes(data)
    for source in (path, str(path), data):
        img = load_image(source)
        np.testing.assert_array_equal(img.rgb, pattern)  # RGB order, not BGR
        assert img.original_size == (128, 96) and img.scale == 1.0 and img.bit_depth == 8
    assert load_image(path).source == str(path) and load_image(data).source is None


def test_jpeg_loads_close_to_original(pattern, encode):
    img = load_image(encode(pattern, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 98]))
    assert img.rgb.shape == pattern.shape and img.rgb.dtype == np.uint8
    assert np.abs(img.rgb.astype(int) - pattern).mean() < 3
    assert img.metadata["format"] == "JPEG"


def test_grayscale_becomes_three_equal_channels(pattern, encode):
    gray = pattern[..., 0]
    img = load_image(encode(gray, ".png"))
    assert img.rgb.shape == (96, 128, 3)
    for c in range(3):
        np.testing.assert_array_equal(img.rgb[..., c], gray)


def test_rgba_png_drops_alpha(pattern, encode):
    rgba = np.dstack([pattern, np.full(pattern.shape[:2], 77, np.uint8)])
    img = load_image(encode(rgba, ".png"))
    np.testing.assert_array_equal(img.rgb, pattern)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16_bit_is_scaled_to_8_bit(encode, ext):
    a = np.zeros((80, 80, 3), np.uint16)
    a[..., 0], a[..., 1], a[..., 2] = 65535, 32896, 257  # -> 255, 128, 1
    img = load_image(encode(a, ext))
    assert img.bit_depth == 16 and img.rgb.dtype == np.uint8
    np.testing.assert_array_equal(img.rgb[0, 0], [255, 128, 1])


def _exif_jpeg(rgb: np.ndarray, orientation: int) -> bytes:
    PIL = pytest.importorskip("PIL.Image")
    im = PIL.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def test_exif_orientation_is_applied():
    stored = np.zeros((100, 200, 3), np.uint8)  # landscape as stored
    stored[:20, :20] = (255, 0, 0)  # red square at the stored top-left
    img = load_image(_exif_jpeg(stored, 6))  # 6 = rotate 90 degrees clockwise to display
    assert img.rgb.shape == (200, 100, 3)
    assert img.original_size == (100, 200)
    assert img.rgb[5:15, 85:95, 0].mean() > 200  # stored top-left is now the top-right
    assert img.rgb[5:15, 5:15, 0].mean() < 30


def test_exif_orientation_with_reduced_decode():
    stored = np.full((800, 1600, 3), 90, np.uint8)
    stored[:80, :80] = (255, 0, 0)
    img = load_image(_exif_jpeg(stored, 6), target_size=128)  # short side 800 -> 1/4 keeps 200
    assert img.original_size == (800, 1600)
    assert img.rgb.shape == (400, 200, 3) and img.scale == pytest.approx(0.25)
    assert img.rgb[2:15, -15:-2, 0].mean() > 200


@pytest.fixture(scope="module")
def camera_jpeg(encode) -> tuple[bytes, tuple[int, int]]:
    """An IDRiD-sized 4288x2848 JPEG with a marked point (its bytes and the point, x/y)."""
    from edge_screen.synthetic import synthetic_fundus

    rgb = cv2.resize(synthetic_fundus(width=1072, height=712, seed=5), (4288, 2848),
                     interpolation=cv2.INTER_LINEAR)
    point = (2900, 1000)
    cv2.circle(rgb, point, 14, (255, 255, 255), -1)
    return encode(rgb, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90]), point


def test_large_jpeg_decodes_reduced_when_target_allows(camera_jpeg):
    data, _ = camera_jpeg
    img = load_image(data, target_size=384)
    # 2848 / 4 = 712 >= 1.5 * 384 = 576, but 2848 / 8 = 356 is not: reduced 4.
    assert img.rgb.shape == (712, 1072, 3)
    assert img.original_size == (4288, 2848) and img.scale == pytest.approx(0.25)
    assert load_image(data, target_size=900).rgb.shape == (1424, 2144, 3)  # 1/2
    assert load_image(data, target_size=1024).rgb.shape == (2848, 4288, 3)  # 1424 < 1536
    assert load_image(data).rgb.shape == (2848, 4288, 3)


def test_header_sizes_match_decoded_sizes(pattern, encode):
    for ext in (".png", ".jpg", ".tif", ".bmp"):
        data = encode(pattern, ext)
        fmt = sniff_format(data)
        assert image_size_from_header(data, fmt) == (128, 96), ext


def _png_with_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    raw = zlib.compress(b"\x00" * 16)
    idat = b"IDAT" + raw
    return (b"\x89PNG\r\n\x1a\n"
            + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
            + struct.pack(">I", len(raw)) + idat + struct.pack(">I", zlib.crc32(idat))
            + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))


def test_decompression_bomb_is_refused_before_decoding():
    bomb = _png_with_header(100_000, 100_000)
    with pytest.raises(ImageError, match="decompression bomb") as exc:
        load_image(bomb)
    assert "100000x100000" in str(exc.value)
    with pytest.raises(ImageError, match="max_pixels"):
        load_image(_png_with_header(1000, 1000), max_pixels=500_000)


def test_bad_inputs_give_clear_errors(tmp_path, pattern, encode):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "missing.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.jpg")
    (tmp_path / "notes.jpg").write_text("this is not an image\n")
    with pytest.raises(ImageError, match="unsupported or unrecognised"):
        load_image(tmp_path / "notes.jpg")
    jpeg = encode(pattern, ".jpg")
    with pytest.raises(ImageError, match="truncated"):
        load_image(jpeg[: len(jpeg) // 2])
    with pytest.raises(ImageError, match="too small"):
        load_image(encode(np.zeros((1, 1, 3), np.uint8), ".png"))
    with pytest.raises(ImageError, match=f"at least {MIN_SIDE}"):
        load_image(encode(np.zeros((40, 400, 3), np.uint8), ".png"))
    with pytest.raises(ImageError, match="unsupported"):
        load_image(b"GIF89a" + b"\x00" * 64)
    with pytest.raises(ImageError, match="not a file"):
        load_image(tmp_path)


def test_corrupt_png_body_is_an_image_error(pattern, encode):
    data = bytearray(encode(pattern, ".png"))
    data[60:] = b"\x00" * (len(data) - 60)  # IHDR intact, compressed data destroyed
    with pytest.raises(ImageError):
        load_image(bytes(data))


def test_dev_jpeg_header_size(fundus_dev):
    path = next((fundus_dev / "images").glob("idrid_*.jpg"))
    data = path.read_bytes()
    assert image_size_from_header(data, "JPEG") == (1024, 680)


# --- DICOM -------------------------------------------------------------------------------------
def _dicom_bytes(rgb: np.ndarray | None = None, gray16: np.ndarray | None = None) -> bytes:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.5.1"  # ophthalmic photography
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.PatientID, ds.Laterality, ds.Modality = "P-0042", "R", "OP"
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    if rgb is not None:
        ds.Rows, ds.Columns = rgb.shape[:2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit, ds.PixelRepresentation = 7, 0
        ds.PixelData = rgb.tobytes()
    else:
        ds.Rows, ds.Columns = gray16.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = gray16.astype("<u2").tobytes()
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def test_dicom_rgb_keeps_patient_and_laterality(pattern, tmp_path):
    data = _dicom_bytes(rgb=pattern)
    path = tmp_path / "eye.dcm"
    path.write_bytes(data)
    for source in (data, path):
        img = load_image(source)
        np.testing.assert_array_equal(img.rgb, pattern)
        assert img.metadata["PatientID"] == "P-0042" and img.metadata["Laterality"] == "R"
        assert img.metadata["format"] == "DICOM" and img.bit_depth == 8


def test_dicom_12_bit_gray_is_scaled():
    g = np.full((70, 90), 4095, np.uint16)
    g[:, :45] = 0
    img = load_image(_dicom_bytes(gray16=g))
    assert img.bit_depth == 16
    assert img.rgb[0, 80].tolist() == [255, 255, 255] and img.rgb[0, 0].tolist() == [0, 0, 0]


def test_dicom_without_pydicom_names_the_extra(pattern, monkeypatch):
    data = _dicom_bytes(rgb=pattern)
    monkeypatch.setitem(sys.modules, "pydicom", None)  # as if the extra were not installed
    with pytest.raises(ImageError, match=r"pip install 'edge-screen\[dicom\]'"):
        load_image(data)
