"""INT8 fine-tuning of a Q/DQ graph against its FP32 graph (issue 12): the torch interpreter computes
what the ONNX graphs compute, writing back without training changes nothing, fine-tuning brings the
INT8 file closer to FP32 with the same nodes and the same weight grid, and export/requantize/CLI
record it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from edge_screen.bundle import load_bundle
from edge_screen.errors import UsageError
from edge_screen.quantize.calib import ImageSet
from edge_screen.quantize.onnx_export import INPUT_NAME, run_onnx
from edge_screen.quantize.ort_quant import onnx_to_ort_int8
from edge_screen.quantize.qdq_finetune import OnnxTorch, finetune_qdq, pooled_feature_tensor, quantized_view
from edge_screen.quantize.tiny import tiny_classifier

from .conftest import fundus_batch, tiny_fp32_onnx

SIZE = 64


def _photos(seeds: range) -> np.ndarray:
    return fundus_batch(seeds, SIZE)


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(FP32, INT8 Q/DQ) of a tiny CNN, every conv quantized and no bias correction: a coarse INT8 model."""
    root = tmp_path_factory.mktemp("qft")
    fp32 = tiny_fp32_onnx(root / "fp32.onnx", seed=31, size=SIZE)
    qdq = onnx_to_ort_int8(fp32, root / "int8.onnx", _photos(range(16)), float_convs=0, bias_correction=False)
    return fp32, qdq


def _ort(path: Path, x: np.ndarray, optimize: bool = True) -> list[np.ndarray]:
    so = ort.SessionOptions()
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {INPUT_NAME: x})


def test_the_interpreter_computes_what_onnx_runtime_computes(graphs: tuple[Path, Path]) -> None:
    fp32, qdq = graphs
    x = _photos(range(100, 106))
    with torch.no_grad():
        got = OnnxTorch(onnx.load(str(fp32)), trainable=False)(torch.from_numpy(x))
    for name, ref in zip(OnnxTorch(onnx.load(str(fp32))).outputs, _ort(fp32, x)):
        np.testing.assert_allclose(got[name].numpy(), ref, atol=1e-5, err_msg=name)
    # the Q/DQ graph: the ONNX semantics (ORT without its fused integer kernels), rounding for rounding
    model = OnnxTorch(onnx.load(str(qdq)))
    assert model.weights and len(model.biases) == len(model.weights)
    with torch.no_grad():
        got = model(torch.from_numpy(x))
    ref = _ort(qdq, x, optimize=False)
    np.testing.assert_allclose(got["probabilities"].numpy(), ref[0], atol=2e-3)
    assert np.abs(got["probabilities"].numpy() - ref[0]).max() < 0.5 * np.abs(ref[0] - _ort(fp32, x)[0]).max() + 1e-3


def test_writing_back_untrained_weights_changes_no_initializer(graphs: tuple[Path, Path]) -> None:
    _, qdq = graphs
    model = onnx.load(str(qdq))
    before = {t.name: numpy_helper.to_array(t).copy() for t in model.graph.initializer}
    OnnxTorch(model).write_into(model)
    after = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert before.keys() == after.keys()
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)


def test_the_pooled_features_are_read_after_their_quantizer(graphs: tuple[Path, Path]) -> None:
    """ORT folds the ReLU6 into the QuantizeLinear: the FP32 name holds the unclipped conv output there."""
    fp32, qdq = graphs
    feature = pooled_feature_tensor(onnx.load(str(fp32)))
    assert feature is not None
    view = quantized_view(onnx.load(str(qdq)), feature)
    producer = {o: n for n in onnx.load(str(qdq)).graph.node for o in n.output}[view]
    assert producer.op_type in ("DequantizeLinear", "Relu", "Clip"), producer.op_type
    assert quantized_view(onnx.load(str(qdq)), "no such tensor") is None


@pytest.mark.parametrize("round_activations", [False, True])
def test_finetuning_brings_int8_closer_to_fp32_on_other_photos(graphs: tuple[Path, Path], tmp_path: Path,
                                                               round_activations: bool) -> None:  # fmt: skip
    fp32, qdq = graphs
    train, held = _photos(range(200, 328)), _photos(range(400, 440))
    out = tmp_path / "tuned.onnx"
    result = finetune_qdq(qdq, fp32, train, out=out, epochs=4, lr=1e-3, batch_size=8, threads=1,
                          round_activations=round_activations)  # fmt: skip
    assert result.kept and result.loss_after < result.loss_before
    ref = run_onnx(fp32, held)[0][:, 1]
    before = np.abs(run_onnx(qdq, held)[0][:, 1] - ref).mean()
    after = np.abs(run_onnx(out, held)[0][:, 1] - ref).mean()
    assert after < 0.8 * before, (before, after)
    old, new = onnx.load(str(qdq)), onnx.load(str(out))
    assert [n.op_type for n in new.graph.node] == [n.op_type for n in old.graph.node]
    inits = {t.name: numpy_helper.to_array(t) for t in new.graph.initializer}
    for t in old.graph.initializer:  # the same 7-bit grid (no int16 saturation without VNNI), the same scales
        a = inits[t.name]
        if a.dtype == np.int8:
            assert np.abs(a).max() <= 64, t.name
        if t.name.endswith("_scale"):
            np.testing.assert_array_equal(a, numpy_helper.to_array(t), err_msg=t.name)


def test_bad_input_is_a_one_line_error(graphs: tuple[Path, Path], tmp_path: Path) -> None:
    fp32, qdq = graphs
    with pytest.raises(UsageError, match="at least 8 images"):
        finetune_qdq(qdq, fp32, _photos(range(4)), out=tmp_path / "x.onnx")
    with pytest.raises(UsageError, match="lr > 0"):
        finetune_qdq(qdq, fp32, _photos(range(8)), out=tmp_path / "x.onnx", lr=0)
    model = onnx.load(str(fp32))
    model.graph.node[1].op_type = "Einsum"
    with pytest.raises(UsageError, match="cannot run ONNX operator Einsum"):
        OnnxTorch(model, trainable=False)(torch.zeros(1, 3, SIZE, SIZE))


def test_export_requantize_and_cli_record_the_finetuning(tiny_set: Path, tmp_path: Path) -> None:
    from edge_screen.cli import main as cli_main
    from edge_screen.quantize.export import export_bundle, int8_options

    model = tiny_classifier("linear", input_size=SIZE, seed=32)
    x = _photos(range(400, 416))
    calib = ImageSet(x, np.full(len(x), -1), tuple(f"c{i}" for i in range(len(x))))
    root = export_bundle(model, tmp_path / "b", targets=[("onnx", "int8"), ("openvino", "int8")], calib=calib).root
    int8_file = root / "onnx" / "model_int8_u8s8.onnx"
    before = int8_file.read_bytes()

    def entries() -> dict:
        return {e["backend"]: e for e in load_bundle(root).manifest["models"] if e["precision"] == "int8"}

    assert "finetune_epochs" not in entries()["onnxruntime"]  # off unless asked for
    rc = cli_main(["requantize", str(root), "--calib", str(tiny_set), "--int8-finetune", "2", "--int8-finetune-lr",
                   "1e-3", "--finetune-data", str(tiny_set), "--finetune-images", "8"])  # fmt: skip
    assert rc == 0
    for backend in ("onnxruntime", "openvino"):  # one Q/DQ file serves both: both say how it was made
        e = entries()[backend]
        assert (e["finetune_epochs"], e["finetune_lr"], e["finetune_images"]) == (2, 1e-3, 8), e
    assert int8_file.read_bytes() != before  # and load_bundle (in entries) verified the new hashes
    assert cli_main(["requantize", str(root), "--calib", str(tiny_set), "--finetune-data", str(tiny_set)]) == 2
    with pytest.raises(UsageError, match="goes with --int8-finetune"):
        int8_options(finetune_lr=1e-3)
    with pytest.raises(UsageError, match=">= 0"):
        int8_options(finetune_epochs=-1)


def test_a_finetuning_that_does_worse_on_held_out_photos_keeps_the_quantized_weights(graphs: tuple[Path, Path],
                                                                                     tmp_path: Path) -> None:  # fmt: skip
    fp32, qdq = graphs
    out = tmp_path / "worse.onnx"
    result = finetune_qdq(qdq, fp32, _photos(range(500, 548)), out=out, epochs=1, lr=50.0, threads=1)  # 50 grid steps/step
    assert not result.kept and result.loss_after > result.loss_before
    old = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(qdq)).graph.initializer}
    for t in onnx.load(str(out)).graph.initializer:
        np.testing.assert_array_equal(numpy_helper.to_array(t), old[t.name], err_msg=t.name)
