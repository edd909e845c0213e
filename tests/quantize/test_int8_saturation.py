"""INT8 export does not depend on the CPU's INT8 kernels (issue 12).

Without VNNI, x86 INT8 kernels add pairs of u8 x s8 products into a saturating int16
(``vpmaddubsw``): 2 x 255 x 127 > 32,767. A model built to hit that case is quantized with the
default 7-bit weights and with 8-bit weights; ONNX Runtime's fused INT8 kernels are compared with
the exact Q/DQ arithmetic (the same graph with graph optimisations off: DequantizeLinear + float
Conv, no integer kernel). 7-bit must match on every CPU; 8-bit matches only where the CPU
accumulates in int32 (VNNI, AMX, ARM dot product). Where qemu-x86_64 is installed the same check
runs on an emulated AVX2-only CPU (Haswell), which is how the saturation was found.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_screen.cpuinfo import int8_dot_product
from edge_screen.quantize.ort_quant import onnx_to_ort_int8

S, C = 8, 32
QEMU = shutil.which("qemu-x86_64")


def _saturating_model(path: Path) -> Path:
    """image [B,3,S,S] -> float 1x1 conv (3->32, ReLU: large activations) -> 1x1 conv 32->4 whose weight
    pairs are large and of one sign (ReLU) -> pool -> head -> probabilities, CAM heatmap."""
    rng = np.random.default_rng(0)
    w1 = np.abs(rng.normal(2.0, 0.3, (C, 3, 1, 1))).astype(np.float32)
    w2 = rng.uniform(0.5, 1.0, (4, C, 1, 1)).astype(np.float32)
    w2[1] *= -1  # a negative channel saturates towards -32768
    w2[2, ::2] *= -1  # alternating signs: pair sums stay small, no saturation
    head = np.array([[0.0, -0.05, 0.0, -0.05], [0.05, 0.0, 0.05, 0.0]], np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in [
        (w1, "w1"), (np.zeros(C, np.float32), "b1"), (w2, "w2"), (np.zeros(4, np.float32), "b2"),
        (head, "head_w"), (np.zeros(2, np.float32), "head_b"), (head[1].reshape(1, 4, 1, 1).copy(), "cam_w"),
        (np.array([1e-6], np.float32), "eps"), (np.array([1], np.int64), "axis1")]]  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["x1"], name="conv_a"),
        helper.make_node("Relu", ["x1"], ["r1"], name="relu_a"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["x2"], name="conv_b"),
        helper.make_node("Relu", ["x2"], ["feat"], name="relu_b"),
        helper.make_node("GlobalAveragePool", ["feat"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["pooled"], axis=1, name="flat"),
        helper.make_node("Gemm", ["pooled", "head_w", "head_b"], ["logits"], transB=1, name="head"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1, name="softmax"),
        helper.make_node("Conv", ["feat", "cam_w"], ["cam_raw"], name="cam"),
        helper.make_node("Relu", ["cam_raw"], ["cam_pos"], name="cam_relu"),
        helper.make_node("ReduceMax", ["cam_pos"], ["cam_max"], axes=[2, 3], keepdims=1, name="cam_max"),
        helper.make_node("Max", ["cam_max", "eps"], ["cam_den"], name="cam_den"),
        helper.make_node("Div", ["cam_pos", "cam_den"], ["cam_norm"], name="cam_div"),
        helper.make_node("Squeeze", ["cam_norm", "axis1"], ["heatmap"], name="cam_squeeze"),
    ]
    graph = helper.make_graph(
        nodes, "saturating", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, S, S])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2]),
         helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, ["batch", S, S])], inits)  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _calib() -> np.ndarray:
    return np.random.default_rng(1).uniform(0.5, 1.0, (16, 3, S, S)).astype(np.float32)


def _with_conv_output(qdq: Path, out: Path) -> Path:
    """The Q/DQ model with conv_b's dequantized (int8-computed) output as an extra graph output."""
    m = onnx.load(str(qdq))
    consumers = {i: n for n in m.graph.node for i in n.input}
    q = consumers["x2"] if "x2" in consumers and consumers["x2"].op_type == "QuantizeLinear" else \
        next(n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] in ("x2", "feat"))  # fmt: skip
    dq = next(n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == q.output[0])
    m.graph.output.append(helper.make_empty_tensor_value_info(dq.output[0]))
    onnx.save(m, str(out))
    return out


# runs in this process and, under qemu, in an emulated AVX2 CPU: fused INT8 kernels vs exact Q/DQ
_COMPARE = """
import json, sys, numpy as np, onnxruntime as ort
path, x = sys.argv[1], np.load(sys.argv[2])
def run(level):
    o = ort.SessionOptions(); o.graph_optimization_level = level; o.intra_op_num_threads = 1
    s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
    return s.run([s.get_outputs()[-1].name], {"image": x})[0]
fused, exact = run(ort.GraphOptimizationLevel.ORT_ENABLE_ALL), run(ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
step = float(np.abs(np.diff(np.unique(exact))).min())
print(json.dumps({"max_steps": float(np.abs(fused - exact).max() / step)}))
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[int | str, Path]:
    tmp = tmp_path_factory.mktemp("sat")
    fp32 = _saturating_model(tmp / "fp32.onnx")
    out: dict[int | str, Path] = {}
    for key, bits, pair in ((7, 7, False), (8, 8, False), ("pair", 8, True)):
        q = onnx_to_ort_int8(fp32, tmp / f"q{key}.onnx", _calib(), float_convs=1, bias_correction=False,
                             weight_bits=bits, pair_safe=pair)  # fmt: skip
        out[key] = _with_conv_output(q, tmp / f"q{key}_probe.onnx")
    np.save(tmp / "x.npy", _calib()[:4])
    return out


def _max_steps(python: list[str], model: Path) -> float:
    proc = subprocess.run([*python, "-c", _COMPARE, str(model), str(model.parent / "x.npy")], capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])["max_steps"]


def test_default_export_has_7_bit_weights(models: dict[int | str, Path]) -> None:
    for bits, limit in ((7, 64), (8, 127)):
        m = onnx.load(str(models[bits]))
        w = [numpy_helper.to_array(t) for t in m.graph.initializer if t.data_type == TensorProto.INT8 and t.dims]
        assert w and max(int(np.abs(a).max()) for a in w) == limit


def test_7_bit_weights_give_exact_int8_results_on_this_cpu(models: dict[int | str, Path]) -> None:
    assert _max_steps([sys.executable], models[7]) <= 1.0  # +-1 output step: rounding of the requantization
    assert _max_steps([sys.executable], models["pair"]) <= 1.0  # pair-safe 8-bit: as safe
    eight = _max_steps([sys.executable], models[8])
    if int8_dot_product() in ("avx2", "avx512"):  # vpmaddubsw: 8-bit weights saturate here
        assert eight > 4.0
    else:  # VNNI / AMX / ARM dot product accumulate in int32
        assert eight <= 1.0


@pytest.mark.slow
@pytest.mark.skipif(QEMU is None or platform.machine() != "x86_64", reason="needs qemu-x86_64 (emulated AVX2 CPU) on x86-64")
def test_on_an_emulated_avx2_cpu_only_8_bit_weights_saturate(models: dict[int | str, Path]) -> None:
    haswell = [QEMU, "-cpu", "Haswell", sys.executable]
    assert _max_steps(haswell, models[7]) <= 1.0
    assert _max_steps(haswell, models["pair"]) <= 1.0
    assert _max_steps(haswell, models[8]) > 4.0


def test_the_pair_safe_grid_is_8_bit_where_pairs_allow(models: dict[int | str, Path]) -> None:
    """conv_b's weights are large and of one sign in channels 0, 1 (pairs need about the 7-bit step) and of
    alternating signs in channel 2 (no same-sign pair: the full 8-bit range)."""
    m = onnx.load(str(models["pair"]))
    w = next(numpy_helper.to_array(t) for t in m.graph.initializer if t.data_type == TensorProto.INT8
             and tuple(t.dims) == (4, C, 1, 1))  # fmt: skip
    peak = np.abs(w.astype(int)).reshape(4, -1).max(axis=1)
    assert peak[0] < 80 and peak[1] < 80 and peak[2] == 127, peak
    from edge_screen.quantize.pair_safe import saturating_pairs

    assert saturating_pairs(w) == 0
