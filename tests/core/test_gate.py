"""The torch-free parts of the gate (issue 13): the hand-set colour and resolution checks, the
degradations and the generated test set, the learned gate's decision rules and manifest block,
and the runtime API that fetches the gate outputs."""

from __future__ import annotations

import copy
import csv

import cv2
import numpy as np
import pytest

from edge_screen.degrade import KINDS, degrade, thumbnail
from edge_screen.errors import BundleError, UsageError
from edge_screen.gate import DEFAULT_CLASSES, GATE_OUTPUTS, LearnedGate
from edge_screen.gateset import (GROUPS, greyscale, in_black_circle, non_fundus_cases, photo_cases, red_free,
                                 synthetic_face, textured_disc)
from edge_screen.imageio import load_image
from edge_screen.preprocess import detect_fov
from edge_screen.quality import assess_quality, colour_measures
from edge_screen.synthetic import synthetic_fundus


@pytest.fixture(scope="module")
def abnormal_dev_photos(fundus_dev):
    """Three abnormal dev photos (IDRiD and ODIR), decoded as the screener does."""
    with open(fundus_dev / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] == "abnormal"]
    picked = [r for r in rows if "idrid" in r["file"]][:2] + [r for r in rows if "odir" in r["file"]][:1]
    return [load_image(fundus_dev / r["file"], target_size=384) for r in picked]


# ------------------------------------------------------------------------ hand-set: colour, resolution
def test_colour_photos_measure_colour(abnormal_dev_photos, fundus_rgb):
    for rgb in [p.rgb for p in abnormal_dev_photos] + [fundus_rgb]:
        m = colour_measures(rgb, detect_fov(rgb))
        assert m["saturation"] > 0.2 and m["red_fraction"] > 0.35, m


@pytest.mark.parametrize("make", [greyscale, red_free, lambda x: red_free(x, tinted=True)],
                         ids=["greyscale", "red_free", "red_free_tinted"])
def test_colourless_copies_of_abnormal_eyes_are_no_colour(abnormal_dev_photos, make):
    """Issue 13: greyscale copies of abnormal eyes were graded "normal"; grey pixels counted as retina colour."""
    for photo in abnormal_dev_photos:
        report = assess_quality(make(photo.rgb), scale=photo.scale)
        assert not report.ok and report.reasons[0] == "no_colour", report.reasons
        assert "colour fundus photograph" in report.messages[0] and any(ch.isdigit() for ch in report.messages[0])


def test_colour_check_is_not_fooled_by_a_few_coloured_pixels(fundus_rgb):
    grey = greyscale(fundus_rgb)
    cv2.circle(grey, (256, 256), 30, (220, 80, 30), -1)  # a small coloured spot on a grey fundus
    assert assess_quality(grey).reasons[0] == "no_colour"


def test_thumbnail_is_low_resolution_but_a_reduced_decode_is_not(fundus_dev, abnormal_dev_photos):
    full = load_image(fundus_dev / "images" / "idrid_0001.jpg")
    thumb = thumbnail(full.rgb, 97, 64)
    report = assess_quality(thumb)
    assert report.reasons[0] == "low_resolution", report.reasons
    assert report.metrics["fov_diameter_px"] < 100
    reduced = load_image(fundus_dev / "images" / "idrid_0001.jpg", target_size=128)
    assert reduced.scale < 1.0
    # the reduced decode has a small disc, but the stored photo does not: scale says so
    assert assess_quality(reduced.rgb, scale=reduced.scale).ok
    # the same pixels said to be an 8x enlargement of a small stored photo: a disc ~50 px across
    assert "low_resolution" in assess_quality(reduced.rgb, scale=8.0).reasons


# ------------------------------------------------------------------------ degradations
@pytest.mark.parametrize("kind", list(KINDS))
def test_each_degradation_is_seeded_and_grows_with_strength(fundus_wide, kind):
    fundus_wide = cv2.resize(fundus_wide, (512, 340), interpolation=cv2.INTER_AREA)
    spec = KINDS[kind]
    a = degrade(fundus_wide, kind, spec.levels[-1], seed=3)
    assert a.shape == fundus_wide.shape and a.dtype == np.uint8
    assert np.array_equal(a, degrade(fundus_wide, kind, spec.levels[-1], seed=3))
    mild = np.abs(degrade(fundus_wide, kind, spec.levels[0], seed=3).astype(int) - fundus_wide).mean()
    strong = np.abs(a.astype(int) - fundus_wide).mean()
    assert strong > mild, (kind, mild, strong)
    assert spec.ungradable(spec.ungradable_from) and not spec.ungradable(spec.levels[0])


def test_degrade_rejects_bad_arguments(fundus_rgb):
    with pytest.raises(UsageError, match="unknown degradation"):
        degrade(fundus_rgb, "smudge", 0.5)
    with pytest.raises(UsageError, match="finite number"):
        degrade(fundus_rgb, "defocus", float("nan"))


def test_exposure_degradations_set_the_outcome_not_a_gain(abnormal_dev_photos):
    """'dark 2' means the same darkness on a bright and on a dim photo (the label is the outcome)."""
    levels = []
    for photo in abnormal_dev_photos:
        out = degrade(photo.rgb, "dark", 2.0)
        levels.append(assess_quality(out).metrics["brightness"])
    assert max(levels) - min(levels) < 8, levels


# ------------------------------------------------------------------------ generated test set
def test_generated_non_fundus_set(natural_photos):
    cases = non_fundus_cases(n_synthetic=2)
    kinds = {c.kind for c in cases}
    assert {"natural", "natural_circle", "face", "face_circle", "document", "document_circle", "orange_disc"} <= kinds
    assert all(c.ungradable and c.group == "non_fundus" and c.rgb.dtype == np.uint8 for c in cases)
    assert len({c.name for c in cases}) == len(cases)
    assert not any("retina" in c.name or "microaneurysms" in c.name for c in cases)  # skimage's fundus images
    again = non_fundus_cases(n_synthetic=2)
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(cases, again))


def test_photo_cases_cover_every_kind_and_level():
    cases = list(photo_cases([("syn", synthetic_fundus(width=384, height=256, seed=4), "normal")]))
    assert {c.group for c in cases} <= set(GROUPS)
    per_kind = {k: [c for c in cases if c.kind == k] for k in KINDS}
    for k, spec in KINDS.items():
        assert [c.strength for c in per_kind[k]] == list(spec.levels)
        assert [c.ungradable for c in per_kind[k]] == [spec.ungradable(s) for s in spec.levels]
    assert [c.kind for c in cases if c.group == "no_colour"] == ["greyscale", "red_free", "red_free_tinted"]
    (thumb,) = [c for c in cases if c.group == "thumbnail"]
    assert thumb.rgb.shape == (64, 97, 3) and thumb.reasons == ("low_resolution",)


def test_black_circle_and_textured_disc_look_like_a_fundus_to_the_handset_gate():
    """Why a learned gate is needed: the hand-set checks accept a textured orange disc on black."""
    disc = textured_disc(0)
    assert detect_fov(disc).found
    assert assess_quality(disc).ok
    face = in_black_circle(synthetic_face(1))
    assert face.shape[0] == face.shape[1] and (face[0, 0] == 0).all()


# ------------------------------------------------------------------------ the learned gate's rules
def _gate(**kw) -> LearnedGate:
    return LearnedGate(DEFAULT_CLASSES, **{"max_ungradable": 0.5, "max_ood": 2.0, "far_ood": 6.0, **kw})


def test_gate_decisions_and_their_order():
    g = _gate()
    k = len(DEFAULT_CLASSES)
    ok = np.eye(k)[0] * 0.9 + 0.1 / k
    blurred = np.eye(k)[1] * 0.9 + 0.1 / k
    d = g.assess(ok, 1.0)
    assert d.ok and d.reasons == () and d.metrics["ood_distance"] == 1.0
    d = g.assess(blurred, 1.0)
    assert d.reasons == ("blurred",) and d.messages[0].startswith("blurred: refocus and retake")
    assert "limit 50%" in d.messages[0]
    d = g.assess(ok, 3.0)
    assert d.reasons == ("out_of_distribution",) and "3.00" in d.messages[0] and "2.00" in d.messages[0]
    assert g.assess(blurred, 3.0).reasons == ("blurred", "out_of_distribution")  # near: the cause first
    assert g.assess(blurred, 7.0).reasons == ("out_of_distribution", "blurred")  # far: not a fundus first


def test_gate_manifest_block_round_trips_and_is_validated():
    g = _gate(report="reports/gate.json")
    block = g.to_manifest()
    assert block["outputs"] == list(GATE_OUTPUTS)
    assert LearnedGate.from_manifest(block) == g
    for key, value in (("max_ood", float("inf")), ("max_ungradable", 1.5), ("far_ood", 1.0), ("schema", "x")):
        bad = dict(copy.deepcopy(block), **{key: value})
        with pytest.raises(BundleError, match="gate"):
            LearnedGate.from_manifest(bad)
    bad = copy.deepcopy(block)
    bad["classes"][1]["reason"] = "smudged"
    with pytest.raises(BundleError, match="smudged"):
        LearnedGate.from_manifest(bad)
    with pytest.raises(BundleError, match="classes"):
        g.assess(np.ones(3) / 3, 1.0)


# ------------------------------------------------------------------------ runtimes
def test_run_outputs_without_a_gate_is_the_two_contract_outputs(tiny_bundle):
    from edge_screen.bundle import load_bundle
    from edge_screen.runtime import create_runtime

    rt = create_runtime(load_bundle(tiny_bundle), backend="onnxruntime")
    assert rt.optional_outputs == ()
    x = np.zeros((2, 3, 64, 64), np.float32)
    outs = rt.run_outputs(x)
    assert sorted(outs) == ["heatmap", "probabilities"]
    probs, heat = rt.run(x)
    assert np.array_equal(outs["probabilities"], probs) and np.array_equal(outs["heatmap"], heat)


def test_a_synthetic_fundus_passes_the_handset_gate_with_colour_checks():
    for seed in range(3):
        assert assess_quality(synthetic_fundus(384, seed=seed)).ok
