"""INT8 activation-range calibration (issue 12): the method reaches ONNX Runtime's quantizer, the
histogram methods are fed in chunks, and export / requantize / the CLI record it in the manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edge_screen.bundle import load_bundle
from edge_screen.errors import UsageError
from edge_screen.quantize.cam import with_heatmap
from edge_screen.quantize.calib import ImageSet
from edge_screen.quantize.export import export_bundle, int8_options
from edge_screen.quantize.onnx_export import INPUT_NAME, run_onnx, torch_to_onnx
from edge_screen.quantize.ort_quant import ArrayReader, onnx_to_ort_int8
from edge_screen.quantize.tiny import tiny_classifier

SIZE = 64


@pytest.fixture(scope="module")
def fp32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    graph = with_heatmap(tiny_classifier("linear", input_size=SIZE, seed=21))
    return torch_to_onnx(graph, tmp_path_factory.mktemp("cal") / "fp32.onnx", input_size=SIZE)


@pytest.fixture(scope="module")
def calib() -> np.ndarray:
    """Mostly small values with a few extreme pixels: minmax spans the extremes, a percentile does not."""
    rng = np.random.default_rng(5)
    x = np.clip(rng.normal(0, 0.15, (16, 3, SIZE, SIZE)), -1, 1).astype(np.float32)
    x[:, :, :2, :2] = 1.0
    return x


def _scales(path: Path) -> dict[str, float]:
    """Activation tensor -> scale of its QuantizeLinear."""
    model = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return {n.input[0]: float(inits[n.input[1]]) for n in model.graph.node if n.op_type == "QuantizeLinear"}


def _input_scale(path: Path) -> float:
    """Scale of the QuantizeLinear on the graph input (the stem convolution's activation)."""
    return _scales(path)[INPUT_NAME]


def test_the_calibration_method_sets_the_activation_ranges(fp32: Path, calib: np.ndarray, tmp_path: Path) -> None:
    common = {"float_convs": 0, "bias_correction": False}
    minmax = onnx_to_ort_int8(fp32, tmp_path / "mm.onnx", calib, **common)
    pct = onnx_to_ort_int8(fp32, tmp_path / "p.onnx", calib, calibration_method="percentile", percentile=99.0, **common)
    ent = onnx_to_ort_int8(fp32, tmp_path / "e.onnx", calib, calibration_method="entropy", **common)
    # minmax: the observed range over 255 steps; the 99th percentile of |x| is far inside it
    assert _input_scale(minmax) == pytest.approx((calib.max() - calib.min()) / 255, rel=1e-3)
    assert _input_scale(pct) < 0.5 * _input_scale(minmax)
    assert set(_scales(ent)) == set(_scales(minmax)) and _scales(ent) != _scales(minmax)
    for path in (pct, ent):  # still a working model with both outputs
        probs, heat = run_onnx(path, calib[:4])
        assert probs.shape == (4, 2) and np.isfinite(heat).all()
    with pytest.raises(UsageError, match="minmax, percentile, entropy"):
        onnx_to_ort_int8(fp32, tmp_path / "x.onnx", calib, calibration_method="kl")
    with pytest.raises(UsageError, match="percentile"):
        onnx_to_ort_int8(fp32, tmp_path / "x.onnx", calib, calibration_method="percentile", percentile=100.0)


def test_reader_feeds_a_range_of_batches(calib: np.ndarray) -> None:
    """ONNX Runtime's strided calibration (used for the histogram methods) calls len() and set_range()."""
    r = ArrayReader(calib[:10], batch_size=4)
    assert len(r) == 3
    r.set_range(1, 3)
    sizes = [len(b[INPUT_NAME]) for b in iter(r.get_next, None)]
    assert sizes == [4, 2]
    r.rewind()
    assert [len(b[INPUT_NAME]) for b in iter(r.get_next, None)] == [4, 4, 2]


def test_int8_options_validate_and_record_the_percentile() -> None:
    assert int8_options()["calibration_method"] == "minmax" and "percentile" not in int8_options()
    opts = int8_options(calibration_method="percentile")
    assert opts["percentile"] == 99.999
    with pytest.raises(UsageError, match="goes with"):
        int8_options(percentile=99.9)
    with pytest.raises(UsageError, match="int8-calibration"):
        int8_options(calibration_method="mse")


def test_export_requantize_and_cli_record_the_calibration(tiny_set: Path, tmp_path: Path) -> None:
    from edge_screen.cli import main as cli_main
    from edge_screen.quantize.cli_requantize import requantize_bundle

    model = tiny_classifier("linear", input_size=SIZE, seed=22)
    x = np.random.default_rng(6).uniform(-1, 1, (8, 3, SIZE, SIZE)).astype(np.float32)
    calib = ImageSet(x, np.full(8, -1), tuple(f"c{i}" for i in range(8)))
    root = export_bundle(model, tmp_path / "b", targets=[("onnx", "int8"), ("openvino", "int8")], calib=calib,
                         calibration_method="percentile", percentile=99.9).root  # fmt: skip

    def entries() -> dict:
        return {e["backend"]: e for e in load_bundle(root).manifest["models"] if e["precision"] == "int8"}

    for backend in ("onnxruntime", "openvino"):  # one Q/DQ file serves both: both record how it was made
        assert entries()[backend]["calibration_method"] == "percentile" and entries()[backend]["percentile"] == 99.9
    requantize_bundle(root, calib)
    assert entries()["onnxruntime"]["calibration_method"] == "minmax" and "percentile" not in entries()["onnxruntime"]
    rc = cli_main(["requantize", str(root), "--calib", str(tiny_set), "--int8-calibration", "percentile",
                   "--int8-percentile", "99.99", "--float-convs", "1", "--version", "0.0.3"])  # fmt: skip
    assert rc == 0
    e = entries()["onnxruntime"]
    assert (e["calibration_method"], e["percentile"], e["float_convs"]) == ("percentile", 99.99, 1)
    assert load_bundle(root).version == "0.0.3"
