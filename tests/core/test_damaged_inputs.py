"""Damaged data and broken models never produce a verdict (issue 13, items 1-2).

Corrupt JPEG entropy data, PNG CRC errors, DICOM pixel data shorter than declared, and a runtime that
returns NaN: each is an error naming the file (CLI exit 3), never "normal" or "abnormal".
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_screen.errors import ImageError, InferenceError
from edge_screen.imageio import load_image
from edge_screen.screener import ScreenFailure, Screener


def _first_dev_jpeg(fundus_dev: Path, source: str = "codras") -> Path:
    with open(fundus_dev / "labels.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if source in row["source_repo"]:
                return fundus_dev / row["file"]
    raise AssertionError(f"no {source} image in the dev set")


def _garbled(data: bytes, at: float = 0.6, n: int = 64, seed: int = 0) -> bytes:
    """``n`` random bytes written over the file at fraction ``at`` (inside the entropy-coded scan)."""
    i = int(len(data) * at)
    junk = np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
    return data[:i] + junk + data[i + n:]


# ------------------------------------------------------------------------------------------ JPEG
def test_garbage_inside_a_real_jpeg_is_a_damaged_file_error(fundus_dev):
    path = _first_dev_jpeg(fundus_dev)
    data = path.read_bytes()
    assert load_image(data).rgb.shape[2] == 3  # the intact photo loads
    # OpenCV alone decodes the garbled photo without complaint: this is the failure being fixed
    assert cv2.imdecode(np.frombuffer(_garbled(data), np.uint8), cv2.IMREAD_COLOR) is not None
    for seed in range(3):
        with pytest.raises(ImageError, match=r"(?i)corrupt JPEG data.*damaged; re-export") as exc:
            load_image(_garbled(data, seed=seed))
        assert exc.value.reason == "damaged_file"


def test_damaged_jpeg_error_names_the_file(fundus_dev, tmp_path):
    bad = tmp_path / "patient_photo.jpg"
    bad.write_bytes(_garbled(_first_dev_jpeg(fundus_dev).read_bytes()))
    with pytest.raises(ImageError, match="patient_photo.jpg") as exc:
        load_image(bad, target_size=384)
    assert exc.value.reason == "damaged_file"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_opencv(orientation):
    """Every EXIF orientation is applied exactly as OpenCV's own decoder applies it."""
    pil = pytest.importorskip("PIL.Image")
    stored = np.zeros((90, 160, 3), np.uint8)
    stored[:30, :40] = (250, 20, 20)   # a red block at the stored top-left ...
    stored[-20:, -60:] = (20, 20, 250)  # ... and a blue one at the bottom-right
    im = pil.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    data = buf.getvalue()
    ours = load_image(data).rgb
    ref = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert ours.shape == ref.shape
    assert np.abs(ours.astype(int) - ref.astype(int)).mean() < 1.0


# ------------------------------------------------------------------------------------------- PNG
def _png(rgb: np.ndarray) -> bytes:
    ok, enc = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return enc.tobytes()


def _chunks(data: bytes) -> list[tuple[int, bytes, int]]:
    """(offset, type, length) of each chunk."""
    out, i = [], 8
    while i + 12 <= len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        out.append((i, data[i + 4:i + 8], length))
        i += 12 + length
    return out


def test_png_crc_error_is_a_damaged_file_error(fundus_rgb):
    data = bytearray(_png(fundus_rgb))
    off, ctype, length = next(c for c in _chunks(bytes(data)) if c[1] == b"IDAT")
    data[off + 8 + length // 2] ^= 0x01  # one flipped bit inside the image data: the CRC no longer matches
    with pytest.raises(ImageError, match=r"chunk 'IDAT'.*CRC") as exc:
        load_image(bytes(data))
    assert exc.value.reason == "damaged_file"


def test_png_without_iend_is_truncated(fundus_rgb):
    data = _png(fundus_rgb)
    off = next(c[0] for c in _chunks(data) if c[1] == b"IEND")
    with pytest.raises(ImageError, match="truncated: no IEND") as exc:
        load_image(data[:off])
    assert exc.value.reason == "damaged_file"


def test_png_with_valid_crcs_still_loads(fundus_rgb):
    data = _png(fundus_rgb)
    # recompute-and-compare is what the check does: an intact file passes it
    for off, ctype, length in _chunks(data):
        (crc,) = struct.unpack(">I", data[off + 8 + length: off + 12 + length])
        assert zlib.crc32(data[off + 4: off + 8 + length]) == crc
    np.testing.assert_array_equal(load_image(data).rgb, fundus_rgb)


# ----------------------------------------------------------------------------------------- DICOM
def _dicom(rgb: np.ndarray, *, cut: int = 0) -> bytes:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.5.1"  # Ophthalmic Photography 8 Bit
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.PatientID = "P-0001"
    ds.Rows, ds.Columns = rgb.shape[:2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    pixels = rgb.tobytes()
    ds.PixelData = pixels[: len(pixels) - cut] if cut else pixels
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def test_dicom_with_short_pixel_data_is_a_damaged_file_error(fundus_rgb):
    small = cv2.resize(fundus_rgb, (200, 200))
    np.testing.assert_array_equal(load_image(_dicom(small)).rgb, small)
    with pytest.raises(ImageError, match=r"damaged: its pixel data has 119,000 bytes.*need 120,000") as exc:
        load_image(_dicom(small, cut=1000))
    assert exc.value.reason == "damaged_file"


# ------------------------------------------------------------------------------- broken runtime
def _nan_for_dark_images(src: Path, dst: Path) -> Path:
    """Rewire the tiny model so that P(abnormal) is NaN for images darker than mid-grey.

    logits += log(mean(image) + 0.2): the log of a negative number is NaN, exactly what a broken
    runtime or a damaged weight file produces, but only for some images of a batch.
    """
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(src))
    g = m.graph
    for node in g.node:
        if node.op_type == "Softmax":
            node.input[0] = "logits_nan"
    g.initializer.append(numpy_helper.from_array(np.array([0.2], np.float32), "nan_shift"))
    g.node.extend([
        helper.make_node("ReduceMean", ["image"], ["img_mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Add", ["img_mean", "nan_shift"], ["img_shift"]),
        helper.make_node("Log", ["img_shift"], ["img_log"]),
        helper.make_node("Unsqueeze", ["img_log", "axis1"], ["img_log2"]),
        helper.make_node("Add", ["logits", "img_log2"], ["logits_nan"]),
    ])
    # keep the graph topologically sorted: move Softmax and the heatmap nodes after the new ones
    nodes = list(g.node)
    softmax = [n for n in nodes if n.op_type == "Softmax"]
    rest = [n for n in nodes if n.op_type != "Softmax"]
    del g.node[:]
    g.node.extend(rest + softmax)
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))
    return dst


@pytest.fixture()
def nan_bundle(tiny_bundle_factory, tmp_path) -> Path:
    from edge_screen.bundle import BundleWriter, load_bundle

    good = load_bundle(tiny_bundle_factory(openvino=False))
    bad_onnx = _nan_for_dark_images(good.path(good.model("onnxruntime").files["model"]), tmp_path / "nan.onnx")
    w = BundleWriter(tmp_path / "nan-bundle", name="broken", version="0.0.1", preprocessing=good.preprocessing)
    w.add_model("onnxruntime", "fp32", {"model": bad_onnx})
    w.set_threshold(0.5, "fixed for tests")
    w.set_provenance(teacher="none", student="tiny CNN with a NaN for dark images", data="none", metrics={})
    return w.write()


def _photos(fundus_rgb):
    bright = fundus_rgb.copy()
    bright[fundus_rgb.max(axis=2) > 20] = np.clip(fundus_rgb[fundus_rgb.max(axis=2) > 20] * 2.2, 0, 255)
    dark = (fundus_rgb * 0.6).astype(np.uint8)
    return bright, dark


def test_nan_probability_is_an_error_not_normal(nan_bundle, fundus_rgb):
    bright, dark = _photos(fundus_rgb)
    screener = Screener(nan_bundle, backend="onnxruntime", quality=_lenient())
    assert screener.screen(bright).verdict in ("normal", "abnormal")  # finite for bright images
    with pytest.raises(InferenceError, match="NaN or infinite"):
        screener.screen(dark)
    results = list(screener.screen_many([bright, dark, bright], batch_size=2))
    # the batch holding the NaN fails as a whole (the runtime's output is not trusted), the stream goes on
    assert [type(r).__name__ for r in results] == ["ScreenFailure", "ScreenFailure", "ScreenResult"]
    assert all("NaN" in r.error for r in results[:2] if isinstance(r, ScreenFailure))
    assert results[2].verdict in ("normal", "abnormal")


def _lenient():
    """A quality gate that lets the synthetic photos through (this test is about the model's output)."""
    from edge_screen.quality import QualityThresholds

    return QualityThresholds.load().with_overrides({"min_focus": 0.0, "min_contrast": 0.0})


# ------------------------------------------------------------------------------------------- CLI
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_screen", *args], capture_output=True, text=True, timeout=300)


def test_cli_exits_3_with_one_line_per_damaged_file(fundus_dev, tmp_path, tiny_bundle):
    good = _first_dev_jpeg(fundus_dev)
    shutil.copy(good, tmp_path / "a_good.jpg")
    (tmp_path / "b_garbled.jpg").write_bytes(_garbled(good.read_bytes()))
    (tmp_path / "c_no_iend.png").write_bytes(_png(cv2.imread(str(good))[..., ::-1].copy())[:-12])
    proc = _cli("screen", str(tmp_path), "--bundle", str(tiny_bundle), "--backend", "onnxruntime", "--json")
    assert proc.returncode == 3, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("edge-screen:")]
    assert len(errors) == 2 and "Traceback" not in proc.stderr
    assert "b_garbled.jpg" in errors[0] and "damaged" in errors[0]
    assert "c_no_iend.png" in errors[1] and "truncated" in errors[1]
    rows = [json.loads(ln) for ln in proc.stdout.splitlines()]
    assert [Path(r["file"]).name for r in rows] == ["a_good.jpg"]


def test_cli_refuses_a_bundle_with_infinite_std(tiny_bundle, tmp_path, fundus_dev):
    broken = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, broken)
    m = json.loads((broken / "manifest.json").read_text())
    m["preprocessing"]["std"] = [0.5, float("inf"), 0.5]
    (broken / "manifest.json").write_text(json.dumps(m))
    proc = _cli("screen", str(_first_dev_jpeg(fundus_dev)), "--bundle", str(broken))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "finite" in proc.stderr and "Traceback" not in proc.stderr
