"""Cached frozen-prefix training (--cache-features): exact composition, shared weights, cache reuse."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_screen.errors import UsageError
from edge_screen.preprocess import Preprocessing, normalize
from edge_screen.quantize.data import FundusDataset, read_samples, split_samples
from edge_screen.quantize.frozen import FeatureDataset, split_model, view_draw
from edge_screen.quantize.models import create_model

PREP = Preprocessing(input_size=64)


@pytest.mark.parametrize("name", ["effnet_lite0", "jang2024_resnet50"])
def test_prefix_then_top_equals_the_whole_model(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, pretrained=False, input_size=64).eval()
    prefix, top = split_model(model, 3)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(top(prefix(x)), model(x), rtol=1e-5, atol=1e-5)
    # the top shares the model's modules: changing it changes the model
    p_top = next(top.features.parameters())
    assert any(p_top is p for p in model.parameters())
    assert all(not p.requires_grad for p in prefix.parameters())


def test_freeze_stages_out_of_range_is_a_usage_error() -> None:
    model = create_model("effnet_lite0", pretrained=False, input_size=64)
    with pytest.raises(UsageError, match="freeze-stages 99"):
        split_model(model, 99)


def test_feature_cache_views_and_reuse(tiny_set: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    model = create_model("effnet_lite0", pretrained=False, input_size=64).eval()
    prefix, _ = split_model(model, 4)
    base = FundusDataset(read_samples(tiny_set), PREP, augment=None)
    fd = FeatureDataset(base, prefix, k=4, cache_dir=tmp_path / "cache", views=3, random_view=True, seed=1)
    assert fd.feats.shape[:2] == (len(base), 3)
    # view 1 is the horizontal flip of the crop, computed through the same prefix
    crop = base.crop(2)
    with torch.no_grad():
        plain = prefix(torch.from_numpy(normalize(crop, PREP))[None])[0]
        flipped = prefix(torch.from_numpy(normalize(np.ascontiguousarray(crop[:, ::-1]), PREP))[None])[0]
    torch.testing.assert_close(fd.feats[2, 0].float(), plain, atol=2e-2, rtol=1e-2)
    torch.testing.assert_close(fd.feats[2, 1].float(), flipped, atol=2e-2, rtol=1e-2)
    assert not torch.allclose(fd.feats[2, 0], fd.feats[2, 2])  # view 2 is a random augmentation
    # the views drawn per epoch are reproducible and vary across epochs
    fd.set_epoch(0)
    a = [int(torch.equal(fd[i]["inputs"][0].half(), fd.feats[i, 0])) for i in range(len(fd))]
    fd.set_epoch(0)
    assert a == [int(torch.equal(fd[i]["inputs"][0].half(), fd.feats[i, 0])) for i in range(len(fd))]
    # a second dataset over the same images (fewer views) reuses the file: nothing is recomputed
    caplog.set_level("INFO")
    again = FeatureDataset(base, prefix, k=4, cache_dir=tmp_path / "cache", views=1, random_view=False, seed=1)
    assert "reused" in caplog.text
    torch.testing.assert_close(again.feats[:, 0], fd.feats[:, 0])
    theta, _ = view_draw(base.samples[0].path, 1, seed=1)
    assert theta[0, 0] == -1.0
    # different frozen weights -> a different cache file
    with torch.no_grad():
        next(prefix.parameters()).add_(1.0)
    other = FeatureDataset(base, prefix, k=4, cache_dir=tmp_path / "cache", views=1, random_view=False, seed=1)
    assert other.cache_path != fd.cache_path


def test_stratify_col_balances_sources(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "source"])
        for i in range(100):
            (tmp_path / f"{i}.png").write_bytes(b"")
            src = "a" if i < 30 else "b"
            w.writerow([f"{i}.png", "abnormal" if i % 3 == 0 else "normal", src])
    samples = read_samples(path)
    for fold in range(5):
        split = split_samples(samples, folds=5, fold=fold, stratify_col="source", seed=0)
        val = [s for s, sp in zip(samples, split) if sp == "val"]
        share_a = sum(s.meta["source"] == "a" for s in val) / len(val)
        assert abs(share_a - 0.3) <= 0.06, (fold, share_a)


def test_cached_training_updates_the_full_checkpoint(tiny_set: Path, tmp_path: Path) -> None:
    from edge_screen.quantize.train import TrainConfig, train

    cfg = TrainConfig(model="effnet_lite0", data=str(tiny_set), out=str(tmp_path / "run"), img_size=64, epochs=2,
                      batch_size=4, pretrained=False, freeze_stages=4, cache_features=str(tmp_path / "feat"),
                      val_fraction=0.5, progress=False, threads=1)
    train(cfg)
    ck = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=True)
    torch.manual_seed(0)  # train() seeds like this before building the model: same initial weights
    start = create_model("effnet_lite0", head=None, pretrained=False, weights=None, input_size=64).state_dict()
    sd = create_model(None, checkpoint=tmp_path / "run" / "last.pt").state_dict()
    assert set(sd) == set(ck["state_dict"]) == set(start)  # the whole model is saved, not only the trained top
    # stem and first 3 stages are frozen; the last stage and the head were trained
    assert torch.equal(sd["features.conv_stem.weight"], start["features.conv_stem.weight"])
    assert torch.equal(sd["features.blocks.2.0.conv_pw.weight"], start["features.blocks.2.0.conv_pw.weight"])
    assert not torch.equal(sd["features.conv_head.weight"], start["features.conv_head.weight"])
    assert not torch.equal(sd["head.fc.weight"], start["head.fc.weight"])
