"""Label files, public-dataset adapters, splits, augmentation geometry, and the cached dataset."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from edge_screen.errors import UsageError
from edge_screen.imageio import load_image
from edge_screen.preprocess import Preprocessing, crop_image, normalize
from edge_screen.quantize.data import (IDENTITY_THETA, Augment, FundusDataset, Sample, apply_augment, read_samples,
                                       save_split_csv, select_split, split_samples, stratified_group_folds, warp_map)


def _touch_images(d: Path, names: list[str]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for n in names:
        (d / n).write_bytes(b"x")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("referable,expected", [(False, [0, 1, 1, 1, 1]), (True, [0, 0, 1, 1, 1])])
def test_aptos_grades(tmp_path: Path, referable: bool, expected: list[int]) -> None:
    _touch_images(tmp_path / "train_images", [f"a{g}.png" for g in range(5)])
    csv = _write(tmp_path / "train.csv", "id_code,diagnosis\n" + "".join(f"a{g},{g}\n" for g in range(5)))
    s = read_samples(csv, referable=referable)
    assert [x.label for x in s] == expected
    assert s[2].path.endswith("a2.png")


def test_eyepacs_grades_and_patient(tmp_path: Path) -> None:
    _touch_images(tmp_path, ["10_left.jpeg", "10_right.jpeg", "13_left.jpeg"])
    csv = _write(tmp_path / "trainLabels.csv", "image,level\n10_left,0\n10_right,2\n13_left,1\n")
    s = read_samples(csv)
    assert [x.label for x in s] == [0, 1, 1]
    assert [x.meta["patient"] for x in s] == ["10", "10", "13"]


def test_rfmid_disease_risk(tmp_path: Path) -> None:
    _touch_images(tmp_path / "images", ["1.png", "2.png"])
    csv = _write(tmp_path / "RFMiD_Training_Labels.csv", "ID,Disease_Risk,DR,ARMD\n1,1,1,0\n2,0,0,0\n")
    assert [x.label for x in read_samples(csv)] == [1, 0]


def test_idrid_grading_with_stray_columns(tmp_path: Path) -> None:
    _touch_images(tmp_path / "images", ["IDRiD_001.jpg", "IDRiD_002.jpg"])
    csv = _write(tmp_path / "a.csv", "Image name,Retinopathy grade,Risk of macular edema ,,\nIDRiD_001,3,2,,\nIDRiD_002,0,0,,\n")
    assert [x.label for x in read_samples(csv)] == [1, 0]


def test_odir_full_df_labels_each_eye(tmp_path: Path) -> None:
    _touch_images(tmp_path / "images", ["0_left.jpg", "0_right.jpg", "1_left.jpg", "1_right.jpg"])
    head = "ID,Left-Fundus,Right-Fundus,Left-Diagnostic Keywords,Right-Diagnostic Keywords,N,D,filename\n"
    rows = ("0,0_left.jpg,0_right.jpg,normal fundus,moderate non proliferative retinopathy,0,1,0_left.jpg\n"
            "0,0_left.jpg,0_right.jpg,normal fundus,moderate non proliferative retinopathy,0,1,0_right.jpg\n"
            "1,1_left.jpg,1_right.jpg,normal fundus\uff0clens dust,anterior segment image,1,0,1_left.jpg\n"
            "1,1_left.jpg,1_right.jpg,normal fundus\uff0clens dust,anterior segment image,1,0,1_right.jpg\n")
    s = read_samples(_write(tmp_path / "full_df.csv", head + rows))
    # per-eye keywords win over the per-patient N/D columns; the anterior-segment photo is skipped
    assert [(Path(x.path).name, x.label, x.meta["patient"]) for x in s] == [
        ("0_left.jpg", 0, "0"), ("0_right.jpg", 1, "0"), ("1_left.jpg", 0, "1")]


def test_odir_per_patient_sheet_gives_two_eyes(tmp_path: Path) -> None:
    _touch_images(tmp_path / "images", ["5_left.jpg", "5_right.jpg"])
    csv = _write(tmp_path / "data.csv", "ID,Left-Fundus,Right-Fundus,Left-Diagnostic Keywords,Right-Diagnostic Keywords\n"
                 "5,5_left.jpg,5_right.jpg,cataract,normal fundus\n")
    assert [x.label for x in read_samples(csv, format="odir")] == [1, 0]


def test_labels_csv_and_folder_tree(tmp_path: Path, tiny_set: Path) -> None:
    s = read_samples(tiny_set)
    assert len(s) == 8 and sum(x.label for x in s) == 4 and s[0].meta["patient"]
    tree = tmp_path / "tree"
    for sub in ("normal", "abnormal"):
        _touch_images(tree / sub, ["x.png"])
    assert sorted(x.label for x in read_samples(tree)) == [0, 1]
    with pytest.raises(UsageError, match="not valid"):
        _write(tmp_path / "bad.csv", "file,label\na.png,maybe\n")
        read_samples(tmp_path / "bad.csv")
    with pytest.raises(UsageError, match="cannot tell"):
        read_samples(_write(tmp_path / "odd.csv", "foo,bar\n1,2\n"))


def test_group_folds_keep_groups_and_balance() -> None:
    rng = np.random.default_rng(0)
    groups = [f"g{i}" for i in rng.integers(0, 40, 200)]
    glabel = {g: int(rng.random() < 0.3) for g in set(groups)}
    labels = [glabel[g] for g in groups]
    folds = stratified_group_folds(labels, groups, 5, seed=3)
    for g in set(groups):
        assert len(set(folds[[i for i, x in enumerate(groups) if x == g]])) == 1
    sizes = np.bincount(folds, minlength=5)
    pos = np.bincount(folds, weights=labels, minlength=5)
    assert sizes.min() > 0.6 * sizes.mean() and pos.min() > 0.5 * pos.mean()
    assert np.array_equal(folds, stratified_group_folds(labels, groups, 5, seed=3))
    assert not np.array_equal(folds, stratified_group_folds(labels, groups, 5, seed=4))


def test_split_test_set_is_fixed_across_folds(tmp_path: Path) -> None:
    samples = [Sample(f"/x/{i}.png", i % 3 == 0, {"patient": str(i // 2)}) for i in range(60)]
    samples = [Sample(s.path, int(s.label), s.meta) for s in samples]
    runs = [split_samples(samples, test_fraction=0.2, folds=5, fold=k, group_col="patient", seed=1) for k in range(5)]
    tests = {tuple(i for i, x in enumerate(r) if x == "test") for r in runs}
    assert len(tests) == 1  # same held-out set whatever the fold
    vals = [set(i for i, x in enumerate(r) if x == "val") for r in runs]
    assert set().union(*vals) == set(range(60)) - set(next(iter(tests)))  # folds partition the rest
    assert all(not (a & b) for i, a in enumerate(vals) for b in vals[i + 1:])
    path = save_split_csv(samples, runs[0], tmp_path / "split.csv")
    back = read_samples(path)
    assert [s.meta["split"] for s in back] == runs[0] and [s.label for s in back] == [s.label for s in samples]
    assert len(select_split(back, "test")) == runs[0].count("test")


def test_augment_geometry_matches_map_warp() -> None:
    """The uint8 warp (cv2) and the CAM warp (grid_sample) apply the same transform."""
    size = 32
    img = np.zeros((size, size, 3), np.uint8)
    cv2.circle(img, (22, 9), 3, (255, 255, 255), -1)
    theta, _ = Augment(hflip=1.0, rotate_deg=40, translate=0.05).sample(np.random.default_rng(5))
    warped = apply_augment(img, theta, (1.0, 1.0, 1.0))[..., 0].astype(np.float32) / 255
    via_map = warp_map(torch.from_numpy(img[..., 0].astype(np.float32) / 255)[None], torch.from_numpy(theta)[None])[0]
    assert np.abs(warped - via_map.numpy()).max() < 0.05
    assert np.array_equal(apply_augment(img, IDENTITY_THETA, (1.0, 1.0, 1.0)), img)


def test_photometric_augment_keeps_hue(tiny_set: Path) -> None:
    img = cv2.cvtColor(cv2.imread(str(tiny_set.parent / "images" / "no_0.png")), cv2.COLOR_BGR2RGB)
    out = apply_augment(img, IDENTITY_THETA, (1.1, 0.9, 1.1))
    hsv_a, hsv_b = (cv2.cvtColor(x, cv2.COLOR_RGB2HSV).astype(int) for x in (img, out))
    lit = img.max(axis=2) > 60
    assert np.median(np.abs(hsv_a[..., 0] - hsv_b[..., 0])[lit]) <= 2 and not np.array_equal(img, out)


def test_dataset_uses_deployment_preprocessing(tiny_set: Path, tmp_path: Path) -> None:
    samples = read_samples(tiny_set)
    preps = [Preprocessing(input_size=64), Preprocessing(input_size=80, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))]
    ds = FundusDataset(samples, preps, cache_dir=tmp_path / "cache")
    item = ds[3]
    for k, prep in enumerate(preps):
        crop, _, _ = crop_image(load_image(samples[3].path, target_size=prep.input_size).rgb, prep)
        np.testing.assert_array_equal(item["inputs"][k].numpy(), normalize(crop, prep))
    assert item["label"].item() == samples[3].label and item["theta"].shape == (2, 3)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2
    fresh = FundusDataset(samples, preps, cache_dir=tmp_path / "cache")  # served from disk
    np.testing.assert_array_equal(fresh.crop(3, 1), ds.crop(3, 1))


def test_augmented_items_are_reproducible(tiny_set: Path) -> None:
    ds = FundusDataset(read_samples(tiny_set), Preprocessing(input_size=64), augment=Augment(), seed=7)
    ds.precache(threads=2)
    a = ds[2]["inputs"][0]
    assert torch.equal(a, ds[2]["inputs"][0])
    ds.set_epoch(1)
    assert not torch.equal(a, ds[2]["inputs"][0])
