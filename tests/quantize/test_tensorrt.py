"""TensorRT path: symmetric S8S8 Q/DQ ONNX form + parity here; engine build where TensorRT imports."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from edge_screen.errors import BackendUnavailable, EdgeScreenError
from edge_screen.quantize.cam import with_heatmap
from edge_screen.quantize.onnx_export import leading_convs, run_onnx, tail_nodes, torch_to_onnx
from edge_screen.quantize.ort_quant import DEFAULT_FLOAT_CONVS
from edge_screen.quantize.tensorrt_export import check_qdq_s8s8, onnx_to_qdq_s8s8, trtexec_command
from edge_screen.quantize.tiny import tiny_classifier

SIZE = 64
HAS_TRT = importlib.util.find_spec("tensorrt") is not None


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path, Path, np.ndarray]:
    tmp = tmp_path_factory.mktemp("trt")
    graph = with_heatmap(tiny_classifier("mlp", input_size=SIZE, seed=3))
    fp32 = torch_to_onnx(graph, tmp / "fp32.onnx", input_size=SIZE)
    calib = np.random.default_rng(0).uniform(-1, 1, (16, 3, SIZE, SIZE)).astype(np.float32)
    qdq = onnx_to_qdq_s8s8(fp32, tmp / "qdq.onnx", calib)
    return graph, fp32, qdq, calib


def test_qdq_is_symmetric_per_channel_and_valid(graphs: tuple) -> None:
    _, fp32, qdq, _ = graphs
    model = onnx.load(str(qdq))
    onnx.checker.check_model(model, full_check=True)
    summary = check_qdq_s8s8(qdq)
    n_conv = sum(n.op_type == "Conv" for n in onnx.load(str(fp32)).graph.node)
    # every Conv but the leading DEFAULT_FLOAT_CONVS (mixed precision: the stem stays float)
    assert summary.quantized_weights == summary.per_channel_weights == n_conv - DEFAULT_FLOAT_CONVS
    assert summary.quantize_nodes > 0 and summary.dequantize_nodes >= summary.quantize_nodes
    inits = {t.name: t for t in model.graph.initializer}
    zps = [n.input[2] for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert all(inits[z].data_type == onnx.TensorProto.INT8 and not numpy_helper.to_array(inits[z]).any() for z in zps)
    # weights are stored as INT8 (DequantizeLinear only), so the file is ~4x smaller than FP32
    producer = {o: n for n in model.graph.node for o in n.output}
    float_stem = set(leading_convs(model, DEFAULT_FLOAT_CONVS))
    assert len(float_stem) == DEFAULT_FLOAT_CONVS
    for conv in (n for n in model.graph.node if n.op_type == "Conv"):
        if conv.name in float_stem:
            assert conv.input[1] in inits and inits[conv.input[1]].data_type == onnx.TensorProto.FLOAT, conv.name
            continue
        dq = producer[conv.input[1]]
        assert dq.op_type == "DequantizeLinear" and inits[dq.input[0]].data_type == onnx.TensorProto.INT8, conv.name


def test_heatmap_tail_stays_float(graphs: tuple) -> None:
    _, _, qdq, _ = graphs
    model = onnx.load(str(qdq))
    producer = {o: n for n in model.graph.node for o in n.output}
    tail = set(tail_nodes(model))
    for node in model.graph.node:
        if node.name in tail and node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            fed = [producer[i].op_type for i in node.input if i in producer]
            assert "DequantizeLinear" not in fed, f"{node.name} ({node.op_type}) is fed by a DequantizeLinear"


def test_qdq_parity_in_onnx_runtime(graphs: tuple) -> None:
    graph, _, qdq, calib = graphs
    x = calib[:4]
    with torch.no_grad():
        p_ref, h_ref = (t.numpy() for t in graph(torch.from_numpy(x)))
    p, h = run_onnx(qdq, x)
    assert np.abs(p - p_ref).max() <= 0.05
    assert np.abs(h - h_ref).mean() <= 0.1
    assert np.isfinite(h).all()


def test_asymmetric_zero_point_is_rejected(graphs: tuple, tmp_path: Path) -> None:
    _, _, qdq, _ = graphs
    model = onnx.load(str(qdq))
    q = next(n for n in model.graph.node if n.op_type == "QuantizeLinear")
    init = next(t for t in model.graph.initializer if t.name == q.input[2])
    init.CopyFrom(numpy_helper.from_array(np.array(5, dtype=np.int8), init.name))
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    with pytest.raises(EdgeScreenError, match="symmetric"):
        check_qdq_s8s8(bad)


def test_trtexec_line() -> None:
    line = trtexec_command("m.onnx", "m.engine", precision="int8", input_size=384, timing_cache="t.cache")
    assert "--int8" in line and "--fp16" in line and "image:8x3x384x384" in line and "--timingCacheFile=t.cache" in line


@pytest.mark.skipif(HAS_TRT, reason="TensorRT is importable: the engine build test runs instead")
def test_build_engine_without_tensorrt_says_how_to_get_it(graphs: tuple, tmp_path: Path) -> None:
    from edge_screen.quantize.tensorrt_export import onnx_to_tensorrt

    with pytest.raises(BackendUnavailable, match="JetPack"):
        onnx_to_tensorrt(graphs[2], tmp_path / "m.engine", precision="int8")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_TRT, reason="tensorrt does not import here (ships with JetPack / NVIDIA's index)")
def test_build_engine_int8_and_run(graphs: tuple, tmp_path: Path) -> None:  # pragma: no cover - needs TensorRT
    from edge_screen.quantize.tensorrt_export import onnx_to_tensorrt

    cache = tmp_path / "timing.cache"
    engine = onnx_to_tensorrt(graphs[2], tmp_path / "m.engine", precision="int8", timing_cache=cache)
    assert engine.stat().st_size > 0 and cache.stat().st_size > 0


@pytest.mark.gpu
@pytest.mark.skipif(
    importlib.util.find_spec("torch_tensorrt") is None or not torch.cuda.is_available(),
    reason="torch-tensorrt path needs torch_tensorrt and CUDA (neither is installable here)",
)
def test_torch_tensorrt_fp16(graphs: tuple, tmp_path: Path) -> None:  # pragma: no cover - needs CUDA
    from edge_screen.quantize.tensorrt_export import torch_to_torch_tensorrt

    out = torch_to_torch_tensorrt(graphs[0], tmp_path / "m.ep", input_size=SIZE, precision="fp16")
    assert out.stat().st_size > 0


def test_modelopt_leaves_onnx_runtime_quantization_unpatched(graphs: tuple) -> None:
    from onnxruntime.quantization import calibrate

    # ModelOpt patches these process-wide; a later U8S8 export then calibrated nothing.
    for fn in (calibrate.MinMaxCalibrater.collect_data, calibrate.CalibraterBase.__init__, calibrate.create_calibrator):
        assert fn.__module__.startswith("onnxruntime."), fn.__module__


def test_register_engine_adds_a_hashed_engine_to_the_bundle(tiny_bundle: Path, tmp_path: Path) -> None:
    """What build-engine --bundle does after a build; the engine bytes are opaque to the bundle."""
    import shutil

    from edge_screen.bundle import load_bundle
    from edge_screen.errors import BundleError
    from edge_screen.quantize.tensorrt_export import register_engine

    bundle = tmp_path / "b"
    shutil.copytree(tiny_bundle, bundle)
    engine = tmp_path / "model_int8.engine"
    engine.write_bytes(b"serialized-engine-" + bytes(range(256)))
    onnx_file = next(bundle.rglob("*.onnx"))
    register_engine(bundle, engine, precision="int8", onnx=onnx_file)
    loaded = load_bundle(bundle)
    entry = loaded.model("tensorrt", "int8")
    assert entry.files["engine"] == "tensorrt/int8/model_int8.engine"
    assert loaded.path(entry.files["engine"]).read_bytes() == engine.read_bytes()
    assert "onnx" in entry.files
    # the engine is covered by the manifest's hashes like every other file
    with open(loaded.path(entry.files["engine"]), "r+b") as f:
        f.write(b"X")
    with pytest.raises(BundleError, match="model_int8.engine"):
        load_bundle(bundle)
    with pytest.raises(EdgeScreenError, match="not found"):
        register_engine(bundle, tmp_path / "missing.engine", precision="int8")
