"""INT8 fidelity measures: leading convolutions kept float, and bias correction of Q/DQ graphs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from edge_screen.errors import UsageError
from edge_screen.quantize import bias_correction as bc
from edge_screen.quantize.cam import with_heatmap
from edge_screen.quantize.onnx_export import leading_convs, run_onnx, tail_nodes, torch_to_onnx
from edge_screen.quantize.ort_quant import DEFAULT_FLOAT_CONVS, onnx_to_ort_int8
from edge_screen.quantize.tiny import tiny_classifier

SIZE = 64


@pytest.fixture(scope="module")
def fp32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    graph = with_heatmap(tiny_classifier("linear", input_size=SIZE, seed=11))
    return torch_to_onnx(graph, tmp_path_factory.mktemp("mp") / "fp32.onnx", input_size=SIZE)


@pytest.fixture(scope="module")
def calib() -> np.ndarray:
    return np.random.default_rng(3).uniform(-1, 1, (24, 3, SIZE, SIZE)).astype(np.float32)


def _weight_kinds(path: Path) -> dict[str, str]:
    """Conv name -> "float" (weight is an FP32 initializer) or "int8" (behind a DequantizeLinear)."""
    model = onnx.load(str(path))
    inits = {t.name: t for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    kinds = {}
    for conv in (n for n in model.graph.node if n.op_type == "Conv"):
        if conv.input[1] in inits and inits[conv.input[1]].data_type == onnx.TensorProto.FLOAT:
            kinds[conv.name] = "float"
        else:
            dq = producer[conv.input[1]]
            assert dq.op_type == "DequantizeLinear" and inits[dq.input[0]].data_type == onnx.TensorProto.INT8
            kinds[conv.name] = "int8"
    return kinds


def test_leading_convs_are_the_first_backbone_convs(fp32: Path) -> None:
    model = onnx.load(str(fp32))
    tail = set(tail_nodes(model))
    convs = [n.name for n in model.graph.node if n.op_type == "Conv" and n.name not in tail]
    assert leading_convs(model, 2) == convs[:2] and leading_convs(model, 0) == []
    assert leading_convs(model, 999) == convs  # more than there are: all of them
    with pytest.raises(UsageError, match=">= 0"):
        leading_convs(model, -1)


@pytest.mark.parametrize("float_convs", [0, DEFAULT_FLOAT_CONVS])
def test_ort_int8_keeps_exactly_the_leading_convs_float(fp32: Path, calib: np.ndarray, tmp_path: Path,
                                                        float_convs: int) -> None:  # fmt: skip
    path = onnx_to_ort_int8(fp32, tmp_path / "q.onnx", calib, float_convs=float_convs, bias_correction=False)
    kinds = _weight_kinds(path)
    names = list(kinds)
    assert [kinds[n] for n in names[:float_convs]] == ["float"] * float_convs
    assert set(kinds[n] for n in names[float_convs:]) == {"int8"}


def test_openvino_int8_keeps_the_leading_convs_float(fp32: Path, calib: np.ndarray) -> None:
    ov = pytest.importorskip("openvino")
    from edge_screen.quantize.openvino_export import leading_ov_convs, quantize_openvino

    model = ov.convert_model(str(fp32))
    assert len(leading_ov_convs(model, 2)) == 2
    quantized = quantize_openvino(model, calib[:8], float_convs=2)
    weights = [op.input_value(1).get_node().get_type_name() for op in quantized.get_ordered_ops()
               if op.get_type_name() in ("Convolution", "GroupConvolution")]  # fmt: skip
    # float conv: the weight is a plain Constant; quantized: dequantized through a Multiply
    assert weights[:2] == ["Constant", "Constant"] and "Constant" not in weights[2:]


def _mean_shift(qdq: Path, fp32: Path, x: np.ndarray) -> float:
    """Mean |E[y_float] - E[y_int8]| over the quantized convs' outputs (what the correction targets)."""
    q = onnx.load(str(qdq))
    plan = [(bc._observed_tensor(q, c), c.output[0]) for c in bc._quantized_convs(q)]
    got = bc._channel_means(q, [p[0] for p in plan], x, 8, 2)
    ref = bc._channel_means(onnx.load(str(fp32)), [p[1] for p in plan], x, 8, 2)
    return float(np.mean([np.abs(got[a] - ref[b]).mean() for a, b in plan]))


def _weights_and_biases(path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    model = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    weights = {k: v for k, v in inits.items() if v.dtype == np.int8}
    biases = {}
    for conv in bc._quantized_convs(model):
        slot = bc._BiasSlot(model, conv)
        biases[conv.name] = numpy_helper.to_array(slot.tensor)
    return weights, biases


def test_ort_bias_correction_cuts_the_mean_shift_and_touches_only_biases(fp32: Path, calib: np.ndarray,
                                                                         tmp_path: Path) -> None:  # fmt: skip
    raw = onnx_to_ort_int8(fp32, tmp_path / "raw.onnx", calib, float_convs=0, bias_correction=False)
    fixed = tmp_path / "fixed.onnx"
    result = bc.correct_biases(raw, _ort_preprocessed(fp32, tmp_path), calib, out=fixed)
    assert result.corrected == len(bc._quantized_convs(onnx.load(str(raw)))) and not result.skipped
    before, after = _mean_shift(raw, _ort_preprocessed(fp32, tmp_path), calib), None
    after = _mean_shift(fixed, _ort_preprocessed(fp32, tmp_path), calib)
    assert after < 0.5 * before, (before, after)
    w0, b0 = _weights_and_biases(raw)
    w1, b1 = _weights_and_biases(fixed)
    assert w0.keys() == w1.keys() and all(np.array_equal(w0[k], w1[k]) for k in w0)  # INT8 weights untouched
    assert all(b1[k].dtype == np.int32 for k in b1)  # still the fused INT32 bias form
    assert any(not np.array_equal(b0[k], b1[k]) for k in b0)
    p, h = run_onnx(fixed, calib[:4])
    assert np.isfinite(p).all() and np.isfinite(h).all()


def _ort_preprocessed(fp32: Path, tmp_path: Path) -> Path:
    """The float graph ONNX Runtime's quantizer reads (BN folded, Clip names as in the QDQ graph)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = tmp_path / "pre.onnx"
    if not pre.is_file():
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    return pre


def test_tensorrt_qdq_bias_correction_changes_float_biases_only(fp32: Path, calib: np.ndarray,
                                                                tmp_path: Path) -> None:  # fmt: skip
    pytest.importorskip("modelopt.onnx.quantization")
    from edge_screen.quantize.tensorrt_export import check_qdq_s8s8, onnx_to_qdq_s8s8

    raw = onnx_to_qdq_s8s8(fp32, tmp_path / "raw.onnx", calib, float_convs=0, bias_correction=False)
    fixed = onnx_to_qdq_s8s8(fp32, tmp_path / "fixed.onnx", calib, float_convs=0, bias_correction=True)
    check_qdq_s8s8(fixed)  # still symmetric S8S8 per-channel
    assert _mean_shift(fixed, fp32, calib) < 0.5 * _mean_shift(raw, fp32, calib)
    w0, b0 = _weights_and_biases(raw)
    w1, b1 = _weights_and_biases(fixed)
    assert all(np.array_equal(w0[k], w1[k]) for k in w0)
    assert all(b1[k].dtype == np.float32 for k in b1) and any(not np.allclose(b0[k], b1[k]) for k in b0)


def test_bias_correction_refuses_unrelated_graphs(fp32: Path, calib: np.ndarray, tmp_path: Path) -> None:
    from edge_screen.errors import EdgeScreenError

    with pytest.raises(EdgeScreenError, match="no quantized Conv"):
        bc.correct_biases(fp32, fp32, calib)  # a float graph has nothing to correct
    with pytest.raises(UsageError, match=r"\[N,3,S,S\]"):
        bc.correct_biases(fp32, fp32, calib[0])


def test_export_records_the_int8_settings(tmp_path: Path) -> None:
    from edge_screen.bundle import load_bundle
    from edge_screen.quantize.calib import ImageSet
    from edge_screen.quantize.export import export_bundle

    model = tiny_classifier("linear", input_size=SIZE, seed=12)
    x = np.random.default_rng(4).uniform(-1, 1, (8, 3, SIZE, SIZE)).astype(np.float32)
    calib = ImageSet(x, np.array([0, 1] * 4), tuple(f"c{i}" for i in range(8)))
    root = export_bundle(model, tmp_path / "b", targets=[("onnx", "int8"), ("openvino", "int8")], calib=calib,
                         float_convs=1, bias_correction=False).root  # fmt: skip
    entries = {e["backend"]: e for e in load_bundle(root).manifest["models"] if e["precision"] == "int8"}
    entry = entries["onnxruntime"]
    assert entry["float_convs"] == 1 and entry["bias_correction"] is False
    assert list(_weight_kinds(root / entry["files"]["model"]).values())[:2] == ["float", "int8"]
    # OpenVINO: the float parts run in FP32 as the report measured them (not the plugin's BF16 default)
    assert entries["openvino"]["float_convs"] == 1 and entries["openvino"]["inference_precision"] == "f32"
    from edge_screen.runtime import create_runtime

    assert create_runtime(load_bundle(root), backend="openvino", precision="int8").inference_precision == "f32"
    with pytest.raises(UsageError, match="float-convs"):
        export_bundle(model, tmp_path / "c", targets=[("onnx", "int8")], calib=calib, float_convs=-1)


def test_cli_rejects_a_negative_float_convs(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "edge_screen.cli", "export", "--model", "x.pt", "--format", "onnx",
                           "--float-convs", "-1", "--out", str(tmp_path / "b")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and "expected an integer >= 0" in proc.stderr


def test_qat_leaves_the_float_convs_unquantized() -> None:
    from torch.nn.utils import parametrize

    from edge_screen.quantize.qat import prepare_qat, strip_qat

    model = tiny_classifier("linear", input_size=SIZE, seed=13)
    handles = prepare_qat(model, skip_first=2)
    convs = [m for m in model.features.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [parametrize.is_parametrized(c, "weight") for c in convs[:3]] == [False, False, True]
    assert len(handles) == len(convs) - 2
    strip_qat(model, handles)
