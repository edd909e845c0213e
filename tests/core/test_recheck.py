"""Borderline re-check: reduced-precision results near the threshold are decided by FP32."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_screen import selfcheck
from edge_screen.bundle import BundleWriter, load_bundle
from edge_screen.errors import BundleError, UsageError
from edge_screen.recheck import (MAX_MARGIN, RecheckPolicy, borderline, entry_policy, policy_from_comparison,
                                 rechecked_probability, round_margin)
from edge_screen.screener import Screener
from edge_screen.synthetic import synthetic_fundus

onnx = pytest.importorskip("onnx", reason="building the tiny test models needs onnx (the dev extra)")
from onnx import numpy_helper  # noqa: E402

SHIFT = 0.4  # logit shift of the "reduced-precision" copy: P(abnormal) moves by a few hundredths


# ----------------------------------------------------------------------------------- the policy
def test_margin_is_the_largest_error_rounded_up() -> None:
    assert round_margin(0.0477) == 0.05 and round_margin(0.05) == 0.05 and round_margin(0.0501) == 0.055
    assert round_margin(0.0) == 0.0
    ref = np.array([0.10, 0.24, 0.26, 0.50, 0.90])
    cand = ref + np.array([0.021, -0.012, 0.011, 0.0, -0.003])
    pol = policy_from_comparison(ref, cand, 0.25)
    assert pol.margin == 0.025 and pol.images == 5
    # inside |p - 0.25| < 0.025: 0.228 and 0.261 (0.121, 0.50, 0.897 are not)
    assert pol.fraction == pytest.approx(0.4)
    assert "max |dp| 0.0210 on 5 validation photos" in pol.basis
    with pytest.raises(UsageError, match="should not be shipped"):
        policy_from_comparison(ref, ref + 0.3, 0.25)
    with pytest.raises(UsageError, match="same photos"):
        policy_from_comparison(ref, ref[:3], 0.25)


def test_borderline_band() -> None:
    mask = borderline(np.array([0.19, 0.2001, 0.25, 0.2999, 0.31]), 0.25, 0.05)
    assert mask.tolist() == [False, True, True, True, False]
    p, band = rechecked_probability([0.19, 0.2001, 0.31], [0.21, 0.26, 0.40], 0.25, 0.05)
    assert band.tolist() == [False, True, False] and p.tolist() == [0.19, 0.26, 0.31]
    with pytest.raises(UsageError, match="same photos"):
        rechecked_probability([0.2], [0.2, 0.3], 0.25, 0.05)


def test_policy_fields_are_validated() -> None:
    for bad in (-0.01, MAX_MARGIN + 0.01, float("nan")):
        with pytest.raises(UsageError, match="margin"):
            RecheckPolicy(bad)
    with pytest.raises(UsageError, match="fraction"):
        RecheckPolicy(0.05, 1.5)
    with pytest.raises(UsageError, match="unknown recheck field"):
        RecheckPolicy.from_dict({"margin": 0.05, "margn": 1})
    with pytest.raises(UsageError, match="not valid"):
        RecheckPolicy.from_dict({"margin": "wide"})
    p = RecheckPolicy.from_dict({"margin": 0.05, "fraction": 0.2, "images": 200, "basis": "x"})
    assert RecheckPolicy.from_dict(p.to_dict()) == p


def test_widening_to_the_error_seen_on_this_machine() -> None:
    p = RecheckPolicy(0.04, 0.10, 200, "exporter")
    assert p.widened(0.031, "golden") is p  # narrower: unchanged
    w = p.widened(0.058, "golden here")
    assert w.margin == 0.06 and w.fraction == pytest.approx(0.15) and "golden here" in w.basis
    with pytest.raises(UsageError, match="wider than"):
        p.widened(0.3, "broken")


# ------------------------------------------------------------------ a bundle with a shifted copy
def _shifted(src: Path, dst: Path, shift: float) -> Path:
    m = onnx.load(str(src))
    for t in m.graph.initializer:
        if t.name == "head_b":
            b = numpy_helper.to_array(t).copy()
            t.CopyFrom(numpy_helper.from_array((b + np.array([-shift / 2, shift / 2])).astype(np.float32), "head_b"))
    onnx.save(m, str(dst))
    return dst


def _photos() -> list[np.ndarray]:
    plain = synthetic_fundus(320, seed=0, width=400, height=320)
    spot = plain.copy()
    cv2.circle(spot, (260, 170), 30, (255, 255, 255), -1)  # the tiny model's "lesion": P(abnormal) up
    return [plain, spot]


@pytest.fixture(scope="module")
def shifted_bundle(tiny_bundle_factory, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Tiny bundle with onnxruntime/int8 = the FP32 model with its logits moved by SHIFT, a threshold
    at the copy's P(abnormal) of the plain photo and a re-check band that covers it but not the other."""
    root = tiny_bundle_factory(openvino=False)
    b = load_bundle(root)
    fp32 = b.path(b.model("onnxruntime", "fp32").files["model"])
    w = BundleWriter(root)
    w.add_model("onnxruntime", "int8", {"model": _shifted(fp32, tmp_path_factory.mktemp("v") / "shifted.onnx", SHIFT)})
    w.write()
    p32 = [r.probability for r in Screener(root, backend="onnxruntime", precision="fp32").screen_many(_photos())]
    p8 = [r.probability for r in Screener(root, backend="onnxruntime", precision="int8").screen_many(_photos())]
    assert abs(p8[0] - p32[0]) > 1e-3 and abs(p8[1] - p8[0]) > 0.04, (p32, p8)  # the set-up works
    threshold = p8[0]  # the plain photo sits on the threshold in reduced precision
    margin = round_margin(abs(p8[0] - p32[0]) + 0.005)
    assert abs(p8[1] - threshold) > margin
    w = BundleWriter(root)
    w.set_threshold(float(threshold), "fixed for tests", {})
    w.set_model_fields("onnxruntime", "int8", recheck=RecheckPolicy(margin, 0.5, 2, "test").to_dict())
    w.write()
    return root, {"p32": p32, "p8": p8, "margin": margin}


@pytest.fixture(autouse=True)
def _fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_SCREEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(selfcheck, "_MEMO", {})


def test_borderline_photo_is_decided_by_fp32(shifted_bundle: tuple[Path, dict]) -> None:
    root, ref = shifted_bundle
    s = Screener(root, backend="onnxruntime", precision="int8")
    assert s.recheck["with"] == "onnxruntime/fp32" and s.recheck["margin"] == ref["margin"]
    for results in ([s.screen(p) for p in _photos()], list(s.screen_many(_photos(), batch_size=2))):
        near, far = results
        assert (near.backend, near.precision) == ("onnxruntime", "fp32")
        assert near.probability == pytest.approx(ref["p32"][0], abs=1e-6)
        assert near.verdict == ("abnormal" if ref["p32"][0] >= near.threshold else "normal")
        assert near.recheck == {"first": "onnxruntime/int8", "first_probability": pytest.approx(ref["p8"][0], abs=1e-6),
                                "margin": ref["margin"], "why": "near the threshold"}  # fmt: skip
        assert near.image_heatmap is not None  # the FP32 model's map
        assert (far.precision, far.recheck) == ("int8", None)
        assert far.probability == pytest.approx(ref["p8"][1], abs=1e-6)
        assert json.loads(json.dumps(near.to_dict()))["recheck"]["first"] == "onnxruntime/int8"
    assert "decided by onnxruntime/fp32" in s.selection.summary()


def test_recheck_can_be_turned_off(shifted_bundle: tuple[Path, dict]) -> None:
    root, ref = shifted_bundle
    s = Screener(root, backend="onnxruntime", precision="int8", recheck=False)
    near = s.screen(_photos()[0])
    assert (near.precision, near.recheck) == ("int8", None)
    assert near.probability == pytest.approx(ref["p8"][0], abs=1e-6)
    fp32 = Screener(root, backend="onnxruntime", precision="fp32")
    assert fp32.recheck is None and fp32.screen(_photos()[0]).recheck is None


def test_a_malformed_recheck_field_is_a_bundle_error(shifted_bundle: tuple[Path, dict], tmp_path: Path) -> None:
    root = Path(shutil.copytree(shifted_bundle[0], tmp_path / "b"))
    w = BundleWriter(root)
    w.set_model_fields("onnxruntime", "int8", recheck={"margin": 0.9})
    w.write()
    b = load_bundle(root)
    with pytest.raises(BundleError, match="field 'recheck' is invalid"):
        entry_policy(b.model("onnxruntime", "int8"), b.name)
    with pytest.raises(BundleError, match="recheck"):
        Screener(root, backend="onnxruntime", precision="int8")
    with pytest.raises(BundleError, match="cannot change"):
        w.set_model_fields("onnxruntime", "int8", files={})
