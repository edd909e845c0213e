"""The learned gate in exported graphs (issue 13): outputs present in every format, the gate tail
float in every INT8 graph, parity with torch, the bundle's gate block and report, and the screener
refusing a bundle whose model lacks the gate it declares."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_screen.bundle import load_bundle
from edge_screen.errors import BundleError, UsageError
from edge_screen.gate import DEFAULT_CLASSES, GATE_OUTPUTS, LearnedGate
from edge_screen.quantize.calib import ImageSet
from edge_screen.quantize.cam import with_heatmap
from edge_screen.quantize.export import export_bundle
from edge_screen.quantize.gate_model import GateHeads, backbone_sha256, load_gate, save_gate
from edge_screen.quantize.gate_train import fit_ood, ood_distance
from edge_screen.quantize.onnx_export import run_onnx_outputs
from edge_screen.quantize.tiny import tiny_classifier
from edge_screen.screener import Screener
from edge_screen.synthetic import synthetic_fundus

SIZE = 64
INT8 = [("onnx", "int8"), ("openvino", "int8"), ("tensorrt", "int8")]
GRAPHS = {"onnxruntime/fp32": "onnx/model_fp32.onnx", "onnxruntime/int8": "onnx/model_int8_u8s8.onnx",
          "tensorrt/int8": "tensorrt/model_int8_qdq.onnx"}


def _images(n: int, seed: int) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.interpolate(torch.randn(n, 3, SIZE // 8, SIZE // 8, generator=g), size=(SIZE, SIZE),
                                        mode="bilinear", align_corners=False)
    return (x + 0.3 * torch.randn(n, 3, SIZE, SIZE, generator=g)).clamp(-1, 1).numpy()


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return tiny_classifier("linear", input_size=SIZE)


@pytest.fixture(scope="module")
def gate_file(model, tmp_path_factory) -> Path:
    """A gate for the tiny model: distance fitted on its pooled features of smooth random images,
    a random gradability head, limits set so that some inputs pass and some do not."""
    with torch.no_grad():
        pooled = model.features(torch.from_numpy(_images(64, 5))).mean(dim=(2, 3)).numpy().astype(np.float64)
    ood = fit_ood(pooled, 16)
    rng = np.random.default_rng(0)
    weight = rng.normal(0, 0.05, (len(DEFAULT_CLASSES), pooled.shape[1]))
    heads = GateHeads.from_arrays(mean=ood["mean"], std=ood["std"], weight=weight, bias=np.zeros(len(DEFAULT_CLASSES)),
                                  axes=ood["axes"], eigvals=ood["eigvals"], delta=ood["delta"])
    d = ood_distance(pooled, ood)
    gate = LearnedGate(DEFAULT_CLASSES, max_ungradable=0.95, max_ood=float(np.quantile(d, 0.9)) * 3,
                       far_ood=float(d.max()) * 10, report="reports/gate.json")
    path = tmp_path_factory.mktemp("gate") / "gate.pt"
    return save_gate(path, heads, gate, backbone_sha256=backbone_sha256(model), report={"targets": {}, "note": "test"})


@pytest.fixture(scope="module")
def bundle_dir(model, gate_file, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gatebundle")
    calib = ImageSet(_images(16, 0), np.full(16, -1), tuple(f"synthetic{i}" for i in range(16)))
    export_bundle(model, root, targets=INT8, calib=calib, name="tiny-gate", version="0.0.1", gate=gate_file)
    return root


def _producers(graph_nodes):
    return {o: n for n in graph_nodes for o in n.output}


def _ops_up_to_pool(model, output: str) -> set[str]:
    """Op types on every path from ``output`` back to the global pool (exclusive of the backbone)."""
    prod = _producers(model.graph.node)
    seen, stack, ops = set(), [output], set()
    while stack:
        n = prod.get(stack.pop())
        if n is None or n.name in seen:
            continue
        seen.add(n.name)
        ops.add(n.op_type)
        if n.op_type not in ("ReduceMean", "GlobalAveragePool"):
            stack.extend(n.input)
    return ops


def test_gate_outputs_are_in_every_graph_and_float_in_int8(bundle_dir):
    import onnx

    for key, rel in GRAPHS.items():
        m = onnx.load(str(bundle_dir / rel))
        assert [o.name for o in m.graph.output] == ["probabilities", "heatmap", *GATE_OUTPUTS], key
        for out in GATE_OUTPUTS:
            ops = _ops_up_to_pool(m, out)
            assert "ReduceMean" in ops, (key, out, ops)  # the gate hangs on the pooled features ...
            assert not ops & {"QuantizeLinear", "DequantizeLinear", "QLinearMatMul", "MatMulInteger"}, (key, out, ops)
    # OpenVINO INT8 runs the ONNX Runtime Q/DQ model (checked above) unless the NNCF route was asked for
    ov_model = load_bundle(bundle_dir).model("openvino", "int8").files["model"]
    if ov_model.endswith(".onnx"):
        assert ov_model == GRAPHS["onnxruntime/int8"]
        return
    import openvino as ov

    ir = ov.Core().read_model(str(bundle_dir / ov_model))
    assert any(op.get_type_name() == "FakeQuantize" for op in ir.get_ops())  # it is an INT8 model ...
    for out in ir.outputs:
        if out.get_any_name() not in GATE_OUTPUTS:
            continue
        stack, seen = [out.get_node()], set()
        while stack:  # ... but no FakeQuantize between the pool and the gate outputs
            node = stack.pop()
            if node.get_friendly_name() in seen:
                continue
            seen.add(node.get_friendly_name())
            assert node.get_type_name() != "FakeQuantize", (out.get_any_name(), node.get_friendly_name())
            if node.get_type_name() != "ReduceMean":
                stack.extend(i.get_source_output().get_node() for i in node.inputs())


def test_gate_outputs_match_torch(bundle_dir, model, gate_file):
    heads, _ = load_gate(gate_file, model=model)
    x = _images(5, 9)
    with torch.no_grad():
        ref = [t.numpy() for t in with_heatmap(model, gate=heads)(torch.from_numpy(x))[2:]]
    got = run_onnx_outputs(bundle_dir / GRAPHS["onnxruntime/fp32"], x, GATE_OUTPUTS)
    np.testing.assert_allclose(got[0], ref[0], atol=1e-5)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-4)
    assert ref[0].shape == (5, len(DEFAULT_CLASSES)) and ref[1].shape == (5,)


def test_manifest_gate_block_and_report(bundle_dir, gate_file):
    b = load_bundle(bundle_dir)
    gate = LearnedGate.of_bundle(b)
    assert gate is not None and [c.name for c in gate.classes] == [c.name for c in DEFAULT_CLASSES]
    report = json.loads((bundle_dir / "reports" / "gate.json").read_text())
    assert report["training"]["note"] == "test"
    assert set(report["precisions"]) == {"onnxruntime/fp32", "onnxruntime/int8", "openvino/int8", "tensorrt/int8"}
    for key, entry in report["precisions"].items():
        assert entry["check_set"]["natural_circle"]["n"] > 0  # the generated non-fundus cases ran through it
        if key != "onnxruntime/fp32":
            assert 0.0 <= entry["vs_fp32"]["decision_agreement"] <= 1.0
            assert entry["vs_fp32"]["inputs_reaching_learned_gate"] >= 0


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_screener_uses_the_gate_outputs(bundle_dir, tmp_path, backend):
    rgb = synthetic_fundus(256, seed=1)
    r = Screener(bundle_dir, backend=backend, precision="int8").screen(rgb)
    assert {"p_ungradable", "ood_distance", "model_probability"} <= set(r.quality.metrics)
    # the same bundle with a distance limit every image exceeds: "ungradable", no probability, no heatmap
    strict = tmp_path / "strict"
    shutil.copytree(bundle_dir, strict)
    m = json.loads((strict / "manifest.json").read_text())
    m["gate"]["max_ood"] = m["gate"]["far_ood"] = 1e-6
    (strict / "manifest.json").write_text(json.dumps(m))
    r = Screener(strict, backend=backend, precision="int8").screen(rgb)
    assert r.verdict == "ungradable" and r.probability is None and r.image_heatmap is None
    assert r.quality.reasons[0] == "out_of_distribution" and "limit" in r.quality.messages[0]
    assert 0.0 <= r.quality.metrics["model_probability"] <= 1.0


def test_a_declared_gate_without_its_outputs_is_refused(tiny_bundle, bundle_dir, tmp_path):
    fake = tmp_path / "fake"
    shutil.copytree(tiny_bundle, fake)
    m = json.loads((fake / "manifest.json").read_text())
    m["gate"] = json.loads((bundle_dir / "manifest.json").read_text())["gate"]
    (fake / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="lacks the outputs"):
        Screener(fake, backend="onnxruntime")
    plain = Screener(fake, backend="onnxruntime", gate=False)  # asked for: hand-set checks only
    assert plain.gate is None and plain.screen(synthetic_fundus(256, seed=4)).verdict in ("normal", "abnormal")
    with pytest.raises(UsageError, match="LearnedGate"):
        Screener(fake, backend="onnxruntime", gate="yes")


def test_an_injected_gate_replaces_the_bundles(bundle_dir):
    declared = LearnedGate.of_bundle(load_bundle(bundle_dir))
    strict = dataclasses.replace(declared, max_ungradable=0.0, max_ood=0.0, far_ood=0.0)  # rejects every photo
    s = Screener(bundle_dir, backend="onnxruntime", gate=strict)
    assert s.gate is strict
    r = s.screen(synthetic_fundus(256, seed=5))
    assert r.verdict == "ungradable" and r.probability is None and "out_of_distribution" in r.quality.reasons


def test_export_refuses_mixing_gates(bundle_dir, model, gate_file, tmp_path):
    with pytest.raises(UsageError, match="learned gate"):  # extending a gated bundle without the gate
        export_bundle(model, bundle_dir, targets=[("openvino", "fp32")])
    other = tiny_classifier("linear", input_size=SIZE, seed=1)
    with pytest.raises(UsageError, match="another backbone"):
        export_bundle(other, tmp_path / "b", targets=[("onnx", "fp32")], gate=gate_file)


def test_requantize_rewrites_the_gate_entries_of_the_int8_models(bundle_dir, tmp_path):
    """`edge-screen requantize` redoes the INT8 graphs: their gate.json entries are measured again
    (here on 8 new photos instead of the export's 16), the training part is kept, hashes stay valid."""
    from edge_screen.quantize.cli_requantize import requantize_bundle

    root = tmp_path / "b"
    shutil.copytree(bundle_dir, root)
    before = json.loads((root / "reports" / "gate.json").read_text())
    assert {e["real_photos"]["n"] for e in before["precisions"].values()} == {16}
    calib = ImageSet(_images(8, 7), np.full(8, -1), tuple(f"new{i}" for i in range(8)))
    requantize_bundle(root, calib, formats=["onnx", "openvino"], version="0.0.2")
    b = load_bundle(root)  # the rewritten report's hash is recorded
    after = json.loads(b.path("reports/gate.json").read_text())
    assert after["training"] == before["training"]
    for key in ("onnxruntime/fp32", "onnxruntime/int8", "openvino/int8"):
        assert after["precisions"][key]["real_photos"]["n"] == 8, key
    for key in ("onnxruntime/int8", "openvino/int8"):
        assert 0.0 <= after["precisions"][key]["vs_fp32"]["real_photo_decision_agreement"] <= 1.0
    assert after["precisions"]["tensorrt/int8"] == before["precisions"]["tensorrt/int8"]  # not redone: kept
