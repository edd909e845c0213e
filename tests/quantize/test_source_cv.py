"""Sources, leave-one-source-out reports, the linear probe floor, LP-FT and camera augmentation.

The end-to-end cases run on 40 real photos (5 per source and class from fundus-dev and
fundus-extra) at 128 px, so the frozen-feature export, the probe, the checkpoint and its bundle are
the real code paths, in about a minute.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from edge_screen.errors import UsageError
from edge_screen.quantize import loso
from edge_screen.quantize.camera_aug import CameraAugment, apply_camera
from edge_screen.quantize.data import Sample
from edge_screen.quantize.probe import fit_probe, sample_weights
from edge_screen.quantize.sources import (DEFAULT_SOURCE_MAP, loso_folds, parse_source_map, patient_of, source_of,
                                          sources_of)

EXTRA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fundus-extra"


# ------------------------------------------------------------------------------------------ sources
def test_default_mapping_merges_the_two_odir_sets() -> None:
    m = DEFAULT_SOURCE_MAP
    assert source_of("aliiakbarkhan/eye-disease-detection-DL@370818d", m) == "ODIR"
    assert source_of("MinsuChae/Ocular-Disease-Recognition@28a3619", m) == "ODIR"
    assert source_of("chrisvoncsefalvay/codras@4019600 + labels erfanvaredi/diabetic-retinal-classification@1627cfb", m) == "IDRiD"
    assert source_of("SRahimDR/DR-image-dataset@53a2a3a", m) == "SRahim"
    assert source_of("vexeeldev/Glaucoma-Detection@e525037", m) == "AIROGS"
    assert source_of("clinic-7", m) == "clinic-7"  # unknown values are their own source


def test_source_map_forms(tmp_path: Path) -> None:
    assert parse_source_map("a/x=ONE,b/y=ONE") == {"a/x": "ONE", "b/y": "ONE"}
    p = tmp_path / "map.json"
    p.write_text(json.dumps({"a/x": "A"}))
    assert parse_source_map(str(p)) == {"a/x": "A"}
    with pytest.raises(UsageError, match="VALUE=NAME"):
        parse_source_map("a/x")
    with pytest.raises(UsageError, match="source column 'site' missing.*--source-col"):
        sources_of([Sample("/x.jpg", 0, {"source_repo": "a"})], column="site")


def test_patients_follow_sources_md() -> None:
    odir = Sample("/a.jpg", 0, {"source_path": "preprocessed_images/4309_right.jpg"})
    assert patient_of(odir, "ODIR") == patient_of(Sample("/b.jpg", 1, {"source_path": "x/4309_left.jpg"}), "ODIR")
    same = [Sample(f"/{i}.jpg", 0, {"source_path": f"DR/1 - No DR/Patient{i}_R.jpg"}) for i in ("067", "237")]
    assert patient_of(same[0], "SRahim") == patient_of(same[1], "SRahim")  # the same eyes under two ids
    assert patient_of(Sample("/c.jpg", 0, {"source_path": "glaucoma/EyePACS-TRAIN-RG-1.jpg"}), "AIROGS") == "/c.jpg"


def test_loso_folds_hold_out_every_source() -> None:
    src = np.array(["A"] * 4 + ["B"] * 4 + ["C"] * 3, dtype=object)
    y = np.array([0, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1])
    folds = loso_folds(src, y)
    assert [f["source"] for f in folds] == ["A", "B", "C"]
    assert [f["one_class"] for f in folds] == [False, False, True]
    assert all(not (f["train"] & f["test"]).any() and (f["train"] | f["test"]).all() for f in folds)
    with pytest.raises(UsageError, match="at least 2 sources"):
        loso_folds(np.array(["A"] * 4, dtype=object), y[:4])


# ------------------------------------------------------------------------------------------ reports, floor
def _scores(seed: int, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    src = np.array(["A"] * 200 + ["B"] * 200 + ["C"] * 50, dtype=object)
    y = np.r_[rng.integers(0, 2, 400), np.ones(50, int)]
    p = 1 / (1 + np.exp(-(shift * (2 * y - 1) + rng.normal(0, 1, y.size))))
    return y, p, src


def test_source_report_per_source_pooled_worst_and_one_class() -> None:
    y, p, src = _scores(0, 1.5)
    r = loso.source_report(y, p, src, n_boot=200)
    assert set(r["sources"]) == {"A", "B", "C"}
    assert "auc" not in r["sources"]["C"] and r["sources"]["C"]["specificity"] is None  # all abnormal: sensitivity only
    assert r["sources"]["C"]["sensitivity"] is not None
    a = r["sources"]["A"]
    assert a["auc_ci95"][0] < a["auc"] < a["auc_ci95"][1]
    assert r["worst"]["auc"] == min(r["sources"][s]["auc"] for s in "AB")
    t = r["threshold"]
    assert t["sensitivity"] >= 0.95 and t["n_images"] == 450 and "pooled leave-one-source-out" in t["method"]
    text = loso.format_source_report(r)
    assert "one class: no AUC" in text and "worst source" in text


def test_floor_names_the_numbers() -> None:
    probe = loso.source_report(*_scores(0, 1.5), n_boot=200)
    assert loso.check_floor(probe, probe) == []
    weak = loso.source_report(*_scores(1, 0.3), n_boot=200)
    bad = loso.check_floor(weak, probe, name="lpft")
    assert bad and any("pooled out-of-source AUC" in b for b in bad)
    with pytest.raises(loso.BelowFloor, match=r"lpft: pooled out-of-source AUC 0\.\d{3} < probe 0\.\d{3} \(95% CI lower bound"):
        loso.enforce_floor(weak, probe, name="lpft")


def test_no_threshold_without_both_classes() -> None:
    with pytest.raises(UsageError, match="no threshold can be chosen"):
        loso.choose_threshold(np.zeros(10, int), np.linspace(0, 1, 10), 0.95, what="x")


# ------------------------------------------------------------------------------------------ probe maths
def test_probe_folds_the_scaler_into_one_linear_layer() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(3, [0.5, 2, 5, 1, 0.1], (300, 5))
    y = (x[:, 0] - 0.2 * x[:, 2] + rng.normal(0, 0.5, 300) > 2.5).astype(int)
    w = sample_weights(y, None, "class")
    probe = fit_probe(x, y, C=0.05, weights=w)
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, tol=1e-8, max_iter=5000))
    ref.fit(x, y, logisticregression__sample_weight=w)
    np.testing.assert_allclose(probe.predict(x), ref.predict_proba(x)[:, 1], atol=1e-4)
    assert np.isclose(w[y == 1].sum(), w[y == 0].sum())  # class-balanced


def test_source_label_weights_balance_every_cell() -> None:
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    s = np.array(["A", "A", "A", "A", "B", "B", "B", "B"])
    w = sample_weights(y, s, "source_label")
    cells = {(a, b): w[(s == a) & (y == b)].sum() for a in "AB" for b in (0, 1)}
    assert np.allclose(list(cells.values()), 2.0)


# ------------------------------------------------------------------------------------------ camera augmentation
def test_camera_views_are_reproducible_and_keep_the_surround_dark(fundus_dev: Path) -> None:
    import cv2

    img = cv2.cvtColor(cv2.imread(str(fundus_dev / "images" / "idrid_0001.jpg")), cv2.COLOR_BGR2RGB)
    from edge_screen.preprocess import Preprocessing, crop_image

    crop = crop_image(img, Preprocessing(input_size=192))[0]
    aug = CameraAugment()
    d1 = aug.sample(np.random.default_rng(5))
    assert d1 == aug.sample(np.random.default_rng(5))
    a, b = apply_camera(crop, d1), apply_camera(crop, d1)
    assert a.shape == crop.shape and a.dtype == np.uint8 and np.array_equal(a, b)
    changed = [np.abs(apply_camera(crop, aug.sample(np.random.default_rng(s))).astype(int) - crop).mean() for s in range(6)]
    assert min(changed) > 1.0  # every draw changes the photo
    corner = (slice(0, 12), slice(0, 12))
    assert crop[corner].max() < 20 and apply_camera(crop, {**d1, "jpeg": 0})[corner].max() < 20


# ------------------------------------------------------------------------------------------ end to end (real photos)
def _small_real_set(root: Path, per_cell: int = 5) -> list[Path]:
    """Two CSVs (dev part, extra part) with ``per_cell`` photos per source and class, absolute paths."""
    from edge_screen.quantize.sources import DEFAULT_SOURCE_MAP

    out = []
    for folder in (EXTRA.parent / "fundus-dev", EXTRA):
        with open(folder / "labels.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        keep, count = [], {}
        for r in rows:
            key = (source_of(r["source_repo"], DEFAULT_SOURCE_MAP), r["label"])
            if count.get(key, 0) < (per_cell if key[0] != "ODIR" or folder == EXTRA else 0):
                count[key] = count.get(key, 0) + 1
                keep.append({**r, "file": str(folder / r["file"])})
        path = root / f"{folder.name}.csv"
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(keep[0]))
            w.writeheader()
            w.writerows(keep)
        out.append(path)
    return out


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory: pytest.TempPathFactory, fundus_dev: Path) -> dict:
    if not (EXTRA / "labels.csv").is_file():
        pytest.skip(f"fundus-extra not found at {EXTRA}")
    from edge_screen.cli import main

    root = tmp_path_factory.mktemp("loso")
    data = _small_real_set(root)
    out, cache = root / "probe", root / "cache"
    rc = main(["train", "--linear-probe", "--model", "effnet_lite0", "--img-size", "128", "--data", *map(str, data),
               "--out", str(out), "--cache-features", str(cache), "--c-grid", "1e-3,1e-1", "--n-boot", "100", "--probe-views", "2",
               "--no-progress"])
    assert rc == 0
    return {"root": root, "data": data, "out": out, "cache": cache}


def test_linear_probe_checkpoint_exports_to_a_working_bundle(probe_run: dict, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from edge_screen.bundle import load_bundle
    from edge_screen.cli import main
    from edge_screen.quantize.models import load_training_checkpoint
    from edge_screen.screener import Screener

    out = probe_run["out"]
    summary = json.loads((out / "loso.json").read_text())
    assert set(summary["loso"]["sources"]) == {"AIROGS", "IDRiD", "ODIR", "SRahim"}
    assert summary["probe_C"] in (1e-3, 1e-1) and summary["kind"] == "linear_probe"
    model, ck = load_training_checkpoint(out / "best.pt")
    assert ck["kind"] == "linear_probe" and "pooled leave-one-source-out" in ck["threshold"]["method"]
    assert ck["threshold"]["n_images"] == 40
    w = model.head.fc.weight.detach()
    assert torch.all(w[0] == 0) and w[1].abs().sum() > 0  # one Linear layer: row 1 carries the probe

    bundle = out / "bundle"
    assert main(["export", "--model", str(out / "best.pt"), "--format", "onnx", "--precision", "fp32",
                 "--out", str(bundle)]) == 0
    b = load_bundle(bundle)
    assert b.threshold == pytest.approx(ck["threshold"]["value"]) and "leave-one-source-out" in b.threshold_method
    assert b.manifest["threshold"]["details"]["n_images"] == 40
    rows = list(csv.DictReader(open(probe_run["data"][0])))
    res = Screener(bundle, backend="onnxruntime").screen(rows[0]["file"])
    assert res.heatmap is not None and 0.0 <= res.probability <= 1.0
    # the bundle's probability is the probe's: torch model on the same preprocessed crop
    from edge_screen.imageio import load_image
    from edge_screen.preprocess import preprocess

    x = preprocess(load_image(rows[0]["file"], target_size=128).rgb, b.preprocessing).tensor[None]
    with torch.no_grad():
        p_torch = torch.softmax(model(torch.from_numpy(x)), 1)[0, 1].item()
    assert res.probability == pytest.approx(p_torch, abs=1e-4)


def test_feature_cache_is_reused(probe_run: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    from edge_screen.quantize.features import extract_features
    from edge_screen.quantize.sources import read_datasets

    paths = [s.path for s in read_datasets(probe_run["data"])]

    def refuse(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("features were recomputed")

    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)
    bank = extract_features(paths, model_name="effnet_lite0", input_size=128, k=7, views=2, cache_dir=probe_run["cache"])
    assert bank.pooled.shape == (40, 2, 1280) and bank.prefix.shape[:2] == (40, 2)
    assert not np.allclose(bank.pooled[:, 0], bank.pooled[:, 1])  # view 1 is the flip


def test_lpft_starts_as_the_probe_and_runs_out_of_source(probe_run: dict, capsys: pytest.CaptureFixture[str]) -> None:
    from edge_screen.cli import main
    from edge_screen.quantize.features import extract_features
    from edge_screen.quantize.probe import fit_probe
    from edge_screen.quantize.source_cv import SourceCVConfig, _model_and_top
    from edge_screen.quantize.sources import read_datasets
    from edge_screen.quantize.transfer import FinetuneConfig, predict_top

    samples = read_datasets(probe_run["data"])
    bank = extract_features([s.path for s in samples], model_name="effnet_lite0", input_size=128, k=7, views=2,
                            cache_dir=probe_run["cache"])
    y = np.array([s.label for s in samples])
    probe = fit_probe(bank.pooled[:, 0], y, C=0.01)
    cfg = SourceCVConfig(model="effnet_lite0", data=[], out="", img_size=128)
    _, top = _model_and_top(cfg, probe, FinetuneConfig())
    np.testing.assert_allclose(predict_top(top, bank.prefix, np.arange(40)), probe.predict(bank.pooled[:, 0]), atol=2e-3)

    rc = main(["evaluate", "--cv", "source", "--recipe", "lpft", "--model", "effnet_lite0", "--img-size", "128",
               "--data", *map(str, probe_run["data"]), "--cache-features", str(probe_run["cache"]), "--c-grid", "1e-2",
               "--ft-epochs", "2", "--ft-steps", "2", "--ft-batch-size", "4", "--ft-views", "2", "--ema", "0.9", "--ft-stage", "8",
               "--n-boot", "50"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "linear probe (the floor), leave-one-source-out" in text and "LP-FT, leave-one-source-out" in text
    assert text.count("SRahim") >= 2


def test_recipe_refuses_a_model_below_the_floor(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from edge_screen.cli import main
    from edge_screen.quantize import source_cv

    probe = loso.source_report(*_scores(0, 1.5), n_boot=100)
    weak = loso.source_report(*_scores(1, 0.3), n_boot=100)
    floor = loso.check_floor(weak, probe, name="lpft")
    monkeypatch.setattr(source_cv, "run", lambda cfg, final=True: {"probe": probe, "model": weak, "checkpoint": None,
                                                                   "floor": floor, "epochs": 1})
    rc = main(["train", "--lpft", "--model", "effnet_lite0", "--data", "x.csv", "--out", "o", "--cache-features", "c"])
    err = capsys.readouterr().err
    assert rc == 2 and "below the linear-probe floor" in err and f"{weak['pooled']['auc']:.3f}" in err
