"""Runtime registry, automatic selection, backend parity and missing-backend errors."""

from __future__ import annotations

import json
import subprocess
import sys
import os
from pathlib import Path

import numpy as np
import pytest

from edge_screen.bundle import BundleWriter, load_bundle
from edge_screen.errors import BackendUnavailable, BundleError, UsageError
from edge_screen.runtime import (
    available_backends,
    create_runtime,
    get_runtime_class,
    runtime_names,
    select_model,
)

HAS_OPENVINO = "openvino" in available_backends()
needs_openvino = pytest.mark.skipif(not HAS_OPENVINO, reason="OpenVINO is not installed")


def _batch(n: int = 3, size: int = 64, seed: int = 0) -> np.ndarray:
    """A batch of normalised images: a reddish field with a bright patch growing per image."""
    rng = np.random.default_rng(seed)
    imgs = np.zeros((n, size, size, 3), np.float32)
    imgs[..., 0], imgs[..., 1], imgs[..., 2] = 180, 80, 40
    imgs += rng.normal(0, 5, imgs.shape)
    for i in range(n):
        k = 4 + 6 * i
        imgs[i, 10 : 10 + k, 30 : 30 + k] = 250
    return ((np.clip(imgs, 0, 255) / 255 - 0.5) / 0.5).transpose(0, 3, 1, 2).astype(np.float32)


def test_registry_names_and_unknown_backend() -> None:
    assert runtime_names() == ["tensorrt", "openvino", "onnxruntime"]
    assert "onnxruntime" in available_backends()
    with pytest.raises(UsageError, match=r"unknown backend 'openvno'.*Did you mean 'openvino'"):
        get_runtime_class("openvno")


def test_onnxruntime_contract_and_behaviour(tiny_bundle: Path) -> None:
    rt = create_runtime(load_bundle(tiny_bundle), backend="onnxruntime", threads=1)
    assert rt.name == "onnxruntime" and rt.precision == "fp32" and rt.device == "cpu"
    probs, heat = rt.run(_batch())
    assert probs.shape == (3, 2) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    assert heat.shape == (3, 16, 16) and heat.dtype == np.float32
    assert heat.min() >= 0.0 and np.allclose(heat.max(axis=(1, 2)), 1.0, atol=1e-6)
    assert probs[0, 1] < probs[1, 1] < probs[2, 1]  # larger bright lesion -> more abnormal
    # the heatmap peaks on the bright patch (rows 10.., cols 30.. at input scale; /4 on the map)
    r, c = np.unravel_index(heat[2].argmax(), heat[2].shape)
    assert 2 <= r <= 8 and 7 <= c <= 13


def test_onnxruntime_reuses_its_optimised_graph_per_machine(tiny_bundle: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    from edge_screen.runtimes.onnxruntime import OnnxRuntime, optimized_cache_dir

    monkeypatch.setenv("EDGE_SCREEN_CACHE", str(tmp_path / "cache"))
    b = load_bundle(tiny_bundle)
    entry = b.model("onnxruntime", "fp32")
    first = OnnxRuntime(b, entry, threads=1)
    [saved] = optimized_cache_dir().glob("*.onnx")
    second = OnnxRuntime(b, entry, threads=1)
    assert (first.optimized_cache, second.optimized_cache) == ("written", "hit")
    x = _batch()
    for a, c in zip(first.run(x), second.run(x)):
        np.testing.assert_array_equal(a, c)
    saved.write_bytes(saved.read_bytes()[:100])  # truncated (a full disk, a crash): rebuilt, not a failure
    with caplog.at_level("WARNING"):
        third = OnnxRuntime(b, entry, threads=1)
    assert third.optimized_cache == "written" and "rebuilding it" in caplog.text
    np.testing.assert_array_equal(third.run(x)[0], first.run(x)[0])
    optimized_cache_dir().chmod(0o500)  # read-only cache: the graph is optimised in memory, as before
    try:
        for f in optimized_cache_dir().glob("*.onnx"):
            f.unlink() if os.access(optimized_cache_dir(), os.W_OK) else None
        fourth = OnnxRuntime(b, entry, threads=1)
        np.testing.assert_array_equal(fourth.run(x)[0], first.run(x)[0])
    finally:
        optimized_cache_dir().chmod(0o700)


def test_all_zero_heatmap_stays_zero(tiny_bundle: Path) -> None:
    rt = create_runtime(load_bundle(tiny_bundle), backend="onnxruntime")
    # heatmap of a black image: random channels may respond weakly, but never NaN
    _, heat = rt.run(np.full((1, 3, 64, 64), -1.0, np.float32))
    assert np.isfinite(heat).all()


def test_run_rejects_wrong_shape(tiny_bundle: Path) -> None:
    rt = create_runtime(load_bundle(tiny_bundle), backend="onnxruntime")
    with pytest.raises(UsageError, match=r"\(B, 3, 64, 64\)"):
        rt.run(np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(UsageError, match="positive integer"):
        create_runtime(load_bundle(tiny_bundle), backend="onnxruntime", threads=0)


@needs_openvino
def test_openvino_fp32_matches_onnxruntime(tiny_bundle: Path) -> None:
    b = load_bundle(tiny_bundle)
    ort_rt = create_runtime(b, backend="onnxruntime")
    ov_rt = create_runtime(b, backend="openvino", threads=1)
    # fp32 entry -> f32 inference hint; without it this CPU would run BF16
    assert ov_rt.inference_precision == "f32"
    assert int(ov_rt._compiled.get_property("INFERENCE_NUM_THREADS")) == 1
    x = _batch(4, seed=1)
    p1, h1 = ort_rt.run(x)
    p2, h2 = ov_rt.run(x)
    np.testing.assert_allclose(p1, p2, atol=1e-5)
    np.testing.assert_allclose(h1, h2, atol=1e-4)
    # the results are copies: a second run does not change the first
    p2_copy = p2.copy()
    ov_rt.run(_batch(4, seed=2))
    np.testing.assert_array_equal(p2, p2_copy)


@needs_openvino
def test_openvino_bad_device(tiny_bundle: Path) -> None:
    with pytest.raises(UsageError, match="device must be one of"):
        create_runtime(load_bundle(tiny_bundle), backend="openvino", device="TPU")


def test_auto_selection_prefers_openvino_then_explicit_wins(tiny_bundle: Path) -> None:
    b = load_bundle(tiny_bundle)
    cls, entry = select_model(b)
    assert cls.name == ("openvino" if HAS_OPENVINO else "onnxruntime") and entry.precision == "fp32"
    cls, entry = select_model(b, backend="onnxruntime")
    assert cls.name == "onnxruntime"
    with pytest.raises(BackendUnavailable, match="no usable model at precision int8"):
        select_model(b, precision="int8")
    with pytest.raises(UsageError, match="unknown precision"):
        select_model(b, precision="int4")


def test_auto_precision_and_entries_lacking_files(tiny_bundle: Path, tmp_path: Path) -> None:
    import shutil

    root = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    src = load_bundle(root)
    model = src.path(src.model("onnxruntime").files["model"])
    w = BundleWriter(root)
    w.add_model("onnxruntime", "int8", {"model": model})  # same graph, labelled int8 for the test
    # a TensorRT entry carrying only the ONNX: needs an engine built on the device, so auto skips it
    w.add_model("tensorrt", "int8", {"onnx": model}, note="build the engine on the device: edge-screen build-engine")
    w.write()
    b = load_bundle(root)
    cls, entry = select_model(b, backend="onnxruntime")
    assert entry.precision == "int8"
    cls, entry = select_model(b)  # backend order first (openvino > onnxruntime), then precision
    assert (cls.name, entry.precision) == (("openvino", "fp32") if HAS_OPENVINO else ("onnxruntime", "int8"))


def test_tensorrt_unavailable_message(tiny_bundle: Path) -> None:
    if "tensorrt" in available_backends():
        pytest.skip("TensorRT is available here; the unavailable path cannot be exercised")
    with pytest.raises(BackendUnavailable, match="JetPack"):
        create_runtime(load_bundle(tiny_bundle), backend="tensorrt")


def test_tensorrt_engine_matches_onnxruntime(tiny_bundle: Path, tmp_path: Path) -> None:
    if "tensorrt" not in available_backends():
        pytest.skip("needs an NVIDIA GPU with TensorRT and cuda-python (Jetson/JetPack or a CUDA desktop)")
    import shutil

    import tensorrt as trt

    root = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    b = load_bundle(root)
    onnx_path = b.path(b.model("onnxruntime").files["model"])
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(onnx_path.read_bytes())
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape("image", (1, 3, 64, 64), (4, 3, 64, 64), (8, 3, 64, 64))
    config.add_optimization_profile(profile)
    engine = tmp_path / "model.engine"
    engine.write_bytes(bytes(builder.build_serialized_network(network, config)))
    w = BundleWriter(root)
    w.add_model("tensorrt", "fp32", {"engine": engine})
    w.write()
    b = load_bundle(root)
    x = _batch(10)  # more than the profile's max batch: the runtime splits it
    p1, h1 = create_runtime(b, backend="onnxruntime").run(x)
    p2, h2 = create_runtime(b, backend="tensorrt").run(x)
    np.testing.assert_allclose(p1, p2, atol=1e-3)
    np.testing.assert_allclose(h1, h2, atol=1e-2)


def test_model_violating_io_contract(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from edge_screen.preprocess import Preprocessing

    g = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 64, 64])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "bad.onnx"))
    w = BundleWriter(tmp_path / "b", name="bad", preprocessing=Preprocessing(input_size=64))
    w.add_model("onnxruntime", "fp32", {"model": tmp_path / "bad.onnx"})
    w.set_threshold(0.5, "test")
    with pytest.raises(BundleError, match=r"does not follow the I/O contract.*'image'"):
        create_runtime(load_bundle(w.write()), backend="onnxruntime")


_MISSING_OPENVINO = """
import json, sys
sys.modules["openvino"] = None  # simulate: OpenVINO not installed
from edge_screen.bundle import load_bundle
from edge_screen.errors import BackendUnavailable
from edge_screen.runtime import available_backends, create_runtime
b = load_bundle(sys.argv[1])
out = {"available": available_backends()}
try:
    create_runtime(b, backend="openvino")
except BackendUnavailable as exc:
    out["error"] = str(exc)
out["auto"] = create_runtime(b).name
print(json.dumps(out))
"""


def test_missing_openvino_names_the_pip_extra(tiny_bundle: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-c", _MISSING_OPENVINO, str(tiny_bundle)], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert "openvino" not in out["available"]
    assert out["error"] == "OpenVINO is not installed: pip install 'edge-screen[openvino]'"
    assert out["auto"] == "onnxruntime"  # auto-select falls back to what is installed
