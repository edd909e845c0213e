"""Quantization: report metrics, ORT U8S8 form, calibration from real images, accuracy control."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from edge_screen.quantize.cam import with_heatmap
from edge_screen.quantize.onnx_export import run_onnx, tail_nodes, torch_to_onnx
from edge_screen.quantize.ort_quant import onnx_to_ort_int8
from edge_screen.metrics import roc_auc
from edge_screen.quantize.quant_report import compare_outputs, heatmap_pearson, hot_iou
from edge_screen.quantize.tiny import tiny_classifier

SIZE = 64


def test_heatmap_metrics() -> None:
    rng = np.random.default_rng(1)
    a = rng.random((3, 10, 10)).astype(np.float32)
    assert np.allclose(heatmap_pearson(a, a), 1.0) and np.allclose(hot_iou(a, a), 1.0)
    assert np.allclose(heatmap_pearson(a, 1.0 - a), -1.0)
    assert np.allclose(hot_iou(a, 1.0 - a), 0.0)  # hottest 10% of a are the coldest of 1-a
    zero = np.zeros((1, 4, 4), np.float32)
    assert heatmap_pearson(zero, zero)[0] == 1.0 and heatmap_pearson(zero, a[:1, :4, :4])[0] == 0.0


def test_compare_outputs_counts_verdict_flips() -> None:
    p_ref = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3]], np.float32)
    p_can = np.array([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8], [0.6, 0.4]], np.float32)
    h = np.random.default_rng(2).random((4, 5, 5)).astype(np.float32)
    r = compare_outputs((p_ref, h), (p_can, h), reference_name="a", candidate_name="b", threshold=0.5,
                        labels=np.array([0, 1, 1, 0]))  # fmt: skip
    assert r.verdict_agreement == 0.75
    assert r.prob_max_abs_diff == pytest.approx(0.15) and r.prob_mean_abs_diff == pytest.approx(0.25 / 4)
    assert r.auc_reference == 1.0 and r.auc_candidate == 1.0
    assert r.heatmap_pearson_mean == pytest.approx(1.0) and r.heatmap_iou_top10_mean == 1.0
    one_class = compare_outputs((p_ref, h), (p_can, h), reference_name="a", candidate_name="b", threshold=0.5,
                                labels=np.ones(4, int))  # fmt: skip
    assert one_class.auc_reference is None and one_class.auc_candidate is None  # undefined, not NaN, in the JSON


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    graph = with_heatmap(tiny_classifier("mlp", input_size=SIZE, seed=4))
    return graph, torch_to_onnx(graph, tmp_path_factory.mktemp("q") / "fp32.onnx", input_size=SIZE)


def test_ort_int8_is_u8s8_per_channel_with_float_tail(fp32_onnx: tuple, tmp_path: Path) -> None:
    graph, fp32 = fp32_onnx
    calib = np.random.default_rng(0).uniform(-1, 1, (12, 3, SIZE, SIZE)).astype(np.float32)
    path = onnx_to_ort_int8(fp32, tmp_path / "int8.onnx", calib, float_convs=0)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    act_types, weight_axes = set(), []
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear":
            act_types.add(inits[node.input[2]].dtype)
        if node.op_type == "Conv":
            dq = producer[node.input[1]]
            assert dq.op_type == "DequantizeLinear"
            assert inits[dq.input[0]].dtype == np.int8 and inits[dq.input[1]].size == inits[dq.input[0]].shape[0]
            weight_axes.append(next((a.i for a in dq.attribute if a.name == "axis"), 1))
    assert act_types == {np.dtype(np.uint8)} and weight_axes and set(weight_axes) == {0}
    # The tail reads the dequantized feature map (the last Conv's output is INT8), but nothing in it
    # is quantized: no tail output feeds a QuantizeLinear and the head's weights stay float.
    tail = [n for n in model.graph.node if n.name in set(tail_nodes(model))]
    quantized_inputs = {n.input[0] for n in model.graph.node if n.op_type == "QuantizeLinear"}
    assert tail and not [n.name for n in tail if set(n.output) & quantized_inputs]
    gemms = [n for n in tail if n.op_type in ("Gemm", "MatMul")]
    assert len(gemms) >= 2 and all(n.input[1] in inits and inits[n.input[1]].dtype == np.float32 for n in gemms)
    with torch.no_grad():
        p_ref, _ = graph(torch.from_numpy(calib[:4]))
    p, h = run_onnx(path, calib[:4])
    assert np.abs(p - p_ref.numpy()).max() < 0.05 and np.isfinite(h).all()


def test_calibration_from_real_images(fundus_dev: Path) -> None:
    from edge_screen.preprocess import Preprocessing
    from edge_screen.quantize.calib import load_image_set

    prep = Preprocessing(input_size=SIZE)
    data = load_image_set(fundus_dev / "labels.csv", prep, limit=6, seed=0)
    assert data.images.shape == (6, 3, SIZE, SIZE) and data.images.dtype == np.float32
    assert data.labelled and set(data.labels.tolist()) == {0, 1}  # stratified: both classes
    assert -1.0 <= float(data.images.min()) < 0.0 < float(data.images.max()) <= 1.0  # mean=std=0.5
    again = load_image_set(fundus_dev / "labels.csv", prep, limit=6, seed=0)
    assert again.paths == data.paths


def test_openvino_accuracy_control_keeps_auc(fp32_onnx: tuple, tmp_path: Path) -> None:
    from edge_screen.quantize.openvino_export import onnx_to_openvino, run_openvino

    _, fp32 = fp32_onnx
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (40, 3, SIZE, SIZE)).astype(np.float32)
    p_ref, _ = run_onnx(fp32, x)
    y = (p_ref[:, 1] >= np.median(p_ref[:, 1])).astype(int)  # labels the FP32 model ranks perfectly
    xml = onnx_to_openvino(fp32, tmp_path / "m.xml", precision="int8", calibration=x[:16],
                           validation=(x, y), max_auc_drop=0.02)  # fmt: skip
    p, h = run_openvino(xml, x)
    assert roc_auc(y, p[:, 1]) >= 1.0 - 0.02 - 1e-9 and np.isfinite(h).all()


def test_qat_fake_quant_trains_then_strips_and_exports(tmp_path: Path) -> None:
    from torch.nn.utils import parametrize

    from edge_screen.bundle import load_bundle
    from edge_screen.quantize.calib import ImageSet
    from edge_screen.quantize.qat import prepare_qat, qat_finetune, strip_qat

    model = tiny_classifier("linear", input_size=SIZE, seed=6)
    x = torch.from_numpy(np.random.default_rng(6).uniform(-1, 1, (4, 3, SIZE, SIZE)).astype(np.float32))
    with torch.no_grad():
        ref = model(x)
        handles = prepare_qat(model)
        fq = model(x)
        strip_qat(model, handles)
        back = model(x)
    assert not torch.allclose(ref, fq)  # fake quantization is active
    torch.testing.assert_close(back, ref)  # ... and removed without touching the weights
    assert not any(parametrize.is_parametrized(m) for m in model.modules())

    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = np.random.default_rng(7).uniform(-1, 1, (16, 3, SIZE, SIZE)).astype(np.float32)
    train = ImageSet(images, np.array([0, 1] * 8), tuple(f"s{i}" for i in range(16)))
    root = qat_finetune(model, train, tmp_path / "b", epochs=1, lr=1e-3)
    assert model.state_dict().keys() == before.keys()
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items() if k.endswith("weight"))
    bundle = load_bundle(root)
    assert bundle.model("openvino", "int8").files["model"] == "openvino/int8/model.xml"
    report = (root / bundle.manifest["reports"]["quantization"]).read_text()
    assert "openvino/int8" in report
