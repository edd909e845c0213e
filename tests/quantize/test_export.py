"""Export matrix (format x precision) round trips for both outputs, bundle integrity, ONNX contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_screen.bundle import load_bundle
from edge_screen.errors import BundleError, UsageError
from edge_screen.quantize.calib import ImageSet
from edge_screen.quantize.cam import with_heatmap
from edge_screen.quantize.export import ExportReport, Format, Precision, export_bundle, parse_targets
from edge_screen.quantize.onnx_export import check_onnx, run_onnx
from edge_screen.quantize.openvino_export import run_openvino
from edge_screen.quantize.quant_report import heatmap_pearson
from edge_screen.quantize.tiny import tiny_classifier

SIZE = 64
# (format, precision) -> (bundle backend, max |dp|, |d heatmap| bound, min mean heatmap Pearson r).
# The heatmap bound is on the max for float precisions and on the mean for INT8: on a coarse
# feature map a quantized net may move the single hottest cell, so one cell can differ by ~1.
MATRIX = {
    ("onnx", "fp32"): ("onnxruntime", 1e-5, 1e-4, 0.9999),
    ("openvino", "fp32"): ("openvino", 1e-5, 1e-4, 0.9999),
    ("openvino", "fp16"): ("openvino", 5e-3, 3e-2, 0.999),
    ("onnx", "int8"): ("onnxruntime", 0.05, 0.1, 0.9),
    ("openvino", "int8"): ("openvino", 0.05, 0.1, 0.9),
    ("tensorrt", "int8"): ("tensorrt", 0.05, 0.1, 0.9),
    ("tensorrt", "fp16"): ("tensorrt", 1e-5, 1e-4, 0.9999),  # ships the FP32 ONNX; fp16 is the engine's
}


def _images(n: int, seed: int) -> np.ndarray:
    """Smooth random images in the normalised range (more image-like than white noise)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, SIZE // 8, SIZE // 8, generator=g)
    x = torch.nn.functional.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    return (x + 0.3 * torch.randn(n, 3, SIZE, SIZE, generator=g)).clamp(-1, 1).numpy()


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    m = tiny_classifier("linear", input_size=SIZE)
    # A random head gives mostly negative abnormal maps (all zero after the ReLU, so correlation
    # is undefined); mostly-positive channel weights give dense maps like a trained head's.
    with torch.no_grad():
        w = m.head.fc.weight[1]
        w.copy_(w.abs() - 0.25 * w.abs().mean())
    return m


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, model: torch.nn.Module) -> tuple[ExportReport, ExportReport]:
    root = tmp_path_factory.mktemp("bundle")
    calib = ImageSet(_images(16, 0), np.full(16, -1), tuple(f"synthetic{i}" for i in range(16)))
    targets = [t for t in MATRIX if t != ("tensorrt", "fp16")]
    first = export_bundle(model, root, targets=targets, calib=calib, name="tiny", version="0.0.1")
    # Extending an existing bundle keeps what is there (name, reports) and adds the new artifact.
    second = export_bundle(model, root, targets=[(Format.TENSORRT, Precision.FP16)])
    return first, second


@pytest.fixture(scope="module")
def bundle_dir(exported: tuple[ExportReport, ExportReport]) -> Path:
    return exported[0].root


def test_export_report_says_what_was_written(exported: tuple[ExportReport, ExportReport], bundle_dir: Path) -> None:
    first, second = exported
    assert first.root == second.root == bundle_dir.resolve()
    assert (first.name, first.version, second.name, second.version) == ("tiny", "0.0.1", "tiny", "0.0.1")
    assert first.targets == tuple((Format(f), Precision(p)) for f, p in MATRIX if (f, p) != ("tensorrt", "fp16"))
    assert second.targets == ((Format.TENSORRT, Precision.FP16),) and second.quantization == {}
    assert first.preprocessing == load_bundle(bundle_dir).preprocessing and first.heatmap_kind == "cam"
    on_disk = json.loads((bundle_dir / "reports" / "quantization.json").read_text())
    assert set(first.quantization) == {"onnxruntime/int8", "openvino/int8", "tensorrt/int8"}
    for key, entry in first.quantization.items():
        assert entry["verdict_agreement"] == on_disk[key]["verdict_agreement"]
        # the borderline re-check (edge_screen.recheck): a margin that covers the largest error seen, in the
        # manifest entry and the report, and what the screener then reports agrees with FP32
        b, _, p = key.partition("/")
        margin = load_bundle(bundle_dir).model(b, p).extra["recheck"]["margin"]
        screened = on_disk[key]["recheck"]
        assert screened["margin"] == margin >= on_disk[key]["prob_max_abs_diff"]
        assert screened["verdict_agreement"] == 1.0 and screened["prob_mean_abs_diff"] <= on_disk[key]["prob_mean_abs_diff"]
    assert json.loads(json.dumps(first.to_dict()))["targets"][0] == ["onnx", "fp32"]


@pytest.fixture(scope="module")
def reference(model: torch.nn.Module) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    x = _images(6, 1)
    with torch.no_grad():
        p, h = with_heatmap(model)(torch.from_numpy(x))
    return x, (p.numpy(), h.numpy())


def _run(bundle_dir: Path, backend: str, precision: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    entry = load_bundle(bundle_dir).model(backend, precision)
    if backend == "openvino":
        return run_openvino(bundle_dir / entry.files["model"], x)
    return run_onnx(bundle_dir / entry.files["onnx" if backend == "tensorrt" else "model"], x)


@pytest.mark.parametrize("target", list(MATRIX), ids=lambda t: f"{t[0]}-{t[1]}")
def test_round_trip_both_outputs(bundle_dir: Path, reference: tuple, target: tuple[str, str]) -> None:
    backend, p_tol, h_tol, r_min = MATRIX[target]
    x, (p_ref, h_ref) = reference
    p, h = _run(bundle_dir, backend, target[1], x)
    assert p.shape == p_ref.shape and h.shape == h_ref.shape == (6, SIZE // 8, SIZE // 8)
    assert np.isfinite(p).all() and np.isfinite(h).all()
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    assert float(np.abs(p - p_ref).max()) <= p_tol
    stat = np.mean if target[1] == "int8" else np.max
    assert float(stat(np.abs(h - h_ref))) <= h_tol
    assert float(heatmap_pearson(h, h_ref).mean()) >= r_min
    assert 0.0 <= float(h.min()) and float(h.max()) <= 1.0 + 1e-5


def test_onnx_contract_and_dynamic_batch(bundle_dir: Path) -> None:
    path = bundle_dir / "onnx" / "model_fp32.onnx"
    check_onnx(path)
    import onnx

    assert not any(len(n.metadata_props) for n in onnx.load(str(path)).graph.node)  # exporter debug info stripped
    for b in (1, 5):
        p, h = run_onnx(path, _images(b, 2))
        assert p.shape == (b, 2) and h.shape == (b, SIZE // 8, SIZE // 8)


def test_bundle_manifest_and_integrity(bundle_dir: Path, model: torch.nn.Module) -> None:
    bundle = load_bundle(bundle_dir, verify=True)
    assert bundle.name == "tiny"
    assert bundle.preprocessing.input_size == SIZE and bundle.preprocessing.crop == "fov"
    assert tuple(bundle.preprocessing.mean) == tuple(model.default_cfg["mean"])
    assert {(e.backend, e.precision) for e in bundle.models} == {(b, t[1]) for t, (b, *_) in MATRIX.items()}
    assert bundle.manifest["heatmap"] == {"kind": "cam", "class_index": 1}
    trt = [e for e in bundle.manifest["models"] if e["backend"] == "tensorrt"]
    assert all("build-engine" in e["note"] and e["trtexec"].startswith("trtexec --onnx=") for e in trt)
    assert bundle.model("tensorrt", "int8").files == {"onnx": "tensorrt/model_int8_qdq.onnx"}
    assert bundle.model("tensorrt", "fp16").files == {"onnx": "onnx/model_fp32.onnx"}
    for rel, info in bundle.manifest["files"].items():
        assert (bundle_dir / rel).stat().st_size == info["size"]


def test_tampered_bundle_is_refused(bundle_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle_dir, copy)
    with open(copy / "onnx" / "model_int8_u8s8.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError):
        load_bundle(copy, verify=True)


def test_quantization_report_in_bundle(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)
    report = json.loads((bundle_dir / bundle.manifest["reports"]["quantization"]).read_text())
    assert set(report) == {"onnxruntime/int8", "openvino/int8", "tensorrt/int8"}
    for name, r in report.items():
        assert r["images"] == 16 and r["auc_reference"] is None  # no --val: calibration images, no AUC
        assert 0.0 <= r["verdict_agreement"] <= 1.0
        assert 0.0 <= r["prob_mean_abs_diff"] <= r["prob_max_abs_diff"] < 0.1
        assert -1.0 <= r["heatmap_pearson_min"] <= r["heatmap_pearson_mean"] <= 1.0
        assert 0.0 <= r["heatmap_iou_top10_min"] <= r["heatmap_iou_top10_mean"] <= 1.0
        assert r["size_bytes"]["fp32"] == (bundle_dir / "onnx" / "model_fp32.onnx").stat().st_size
    assert report["onnxruntime/int8"]["size_bytes"]["int8"] < report["onnxruntime/int8"]["size_bytes"]["fp32"]


def test_export_rejects_bad_requests(model: torch.nn.Module, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no FP16 path"):
        export_bundle(model, tmp_path, targets=[("onnx", "fp16")])
    with pytest.raises(UsageError, match="--calib"):
        export_bundle(model, tmp_path, targets=[("openvino", "int8")])
    with pytest.raises(UsageError, match="valid: onnx"):
        export_bundle(model, tmp_path, targets=[("tflite", "fp32")])
    with pytest.raises(UsageError, match="nothing to export"):
        export_bundle(model, tmp_path, targets=[])
    with pytest.raises(UsageError, match="precision 'int4' is not available for openvino; valid: fp32, fp16, int8"):
        parse_targets([("openvino", "int4")])
    assert not (tmp_path / "manifest.json").exists()
    assert parse_targets([("openvino", "int8"), (Format.ONNX, Precision.FP32)]) == (
        (Format.OPENVINO, Precision.INT8), (Format.ONNX, Precision.FP32))


def test_cli_plugin_module_does_not_import_torch() -> None:
    # building every sub-command's parser (what `edge-screen --help` does) must not pull torch in either
    code = ("import sys, edge_screen.quantize.cli_export as m; from edge_screen.cli import build_parser; "
            "build_parser(); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_export_to_a_relative_bundle_path(model: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`edge-screen export --out runs/x/bundle` (relative to the working directory) must work."""
    monkeypatch.chdir(tmp_path)
    export_bundle(model, Path("runs") / "bundle", targets=[("onnx", "fp32")])
    bundle = load_bundle(tmp_path / "runs" / "bundle")
    assert bundle.model("onnxruntime", "fp32").files["model"] == "onnx/model_fp32.onnx"
    assert not (tmp_path / "runs" / "bundle" / "runs").exists()


def test_requantize_redoes_the_int8_model_from_the_bundle(model: torch.nn.Module, tmp_path: Path) -> None:
    """`edge-screen requantize` reuses the exporter's INT8 writer on an existing bundle's FP32 ONNX."""
    from edge_screen.quantize.cli_requantize import requantize_bundle

    calib = ImageSet(_images(8, 3), np.full(8, -1), tuple(f"c{i}" for i in range(8)))
    root = export_bundle(model, tmp_path / "b", targets=[("onnx", "int8")], calib=calib, weight_bits=8).root
    before = {e["backend"]: e for e in load_bundle(root).manifest["models"] if e["precision"] == "int8"}
    assert before["onnxruntime"]["weight_bits"] == 8
    assert requantize_bundle(root, calib, version="0.0.2") == root
    b = load_bundle(root)  # hashes verified: the rewritten files are recorded
    after = {e["backend"]: e for e in b.manifest["models"] if e["precision"] == "int8"}
    assert b.version == "0.0.2" and set(after) == {"onnxruntime"} and after["onnxruntime"]["weight_bits"] == 8
    assert after["onnxruntime"]["pair_safe"] is True and "requires_isa" not in after["onnxruntime"]  # the default
    assert before["onnxruntime"]["pair_safe"] is False and before["onnxruntime"]["requires_isa"]
    assert "onnxruntime/int8" in json.loads((root / "reports" / "quantization.json").read_text())
