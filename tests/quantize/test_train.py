"""Training: overfit a tiny set, exact resume, the CLI, evaluation of the checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_screen.cli import main as cli_main
from edge_screen.preprocess import Preprocessing
from edge_screen import metrics
from edge_screen.quantize.data import FundusDataset, read_samples
from edge_screen.quantize.models import load_training_checkpoint
from edge_screen.quantize.evaluate import predict
from edge_screen.quantize.train import EpochSampler, TrainConfig, train, warmup_cosine


def _cfg(data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(model="effnet_lite0", data=str(data), out=str(out), img_size=64, batch_size=4, pretrained=False,
                progress=False, threads=2, val_fraction=0.25, lr=2e-3, warmup_epochs=0.0, patience=100)
    return TrainConfig(**{**base, **kw})


@pytest.mark.slow
def test_overfits_a_tiny_set(tiny_set: Path, tmp_path: Path) -> None:
    train(_cfg(tiny_set, tmp_path / "run", epochs=4, batch_size=6, pretrained=True, lr=3e-3, sampling="none",
               augment=False))
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["train_loss"] < 0.3 * log[0]["train_loss"]
    model, _ = load_training_checkpoint(tmp_path / "run" / "last.pt")
    samples = read_samples(tmp_path / "run" / "split.csv")
    train_s = [s for s in samples if s.meta["split"] == "train"]
    p = predict(model, FundusDataset(train_s, Preprocessing(input_size=64)))
    assert metrics.roc_auc([s.label for s in train_s], p) == 1.0


@pytest.mark.slow
def test_resume_is_exact(tiny_set: Path, tmp_path: Path) -> None:
    small = dict(img_size=48, batch_size=6)
    train(_cfg(tiny_set, tmp_path / "a", epochs=2, **small))
    train(_cfg(tiny_set, tmp_path / "b", epochs=2, stop_after=1, **small))
    train(_cfg(tiny_set, tmp_path / "b", epochs=2, resume=True, **small))
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 1
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], msg=k)
    epochs = [json.loads(x)["epoch"] for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]


def test_sampler_shards_and_balances() -> None:
    labels = np.array([0] * 18 + [1] * 2)
    shards = [list(EpochSampler(labels, balanced=False, seed=1, rank=r, world=2)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 10 and sorted(shards[0] + shards[1]) == list(range(20))
    s = EpochSampler(labels, balanced=True, seed=1)
    drawn = np.concatenate([labels[list(s)] for s.epoch in range(20)])
    assert 0.4 < drawn.mean() < 0.6


def test_warmup_cosine_schedule() -> None:
    f = warmup_cosine(100, 10)
    assert f(0) == 0.1 and f(9) == 1.0 and f(10) == 1.0 and abs(f(55) - 0.5) < 1e-9 and f(100) == 0.0


def test_cli_train_then_evaluate(tiny_set: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    rc = cli_main(["train", "--model", "effnet_lite0", "--no-pretrained", "--data", str(tiny_set), "--img-size", "64",
                   "--epochs", "1", "--batch-size", "4", "--out", str(out), "--balanced", "--threads", "2", "--no-progress",
                   "--group-col", "patient", "--val-fraction", "0.25"])
    assert rc == 0 and (out / "best.pt").is_file() and (out / "split.csv").is_file()
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["config"]["sampling"] == "balanced" and ck["preprocessing"]["input_size"] == 64
    capsys.readouterr()
    rc = cli_main(["evaluate", "--model", str(out / "best.pt"), "--data", str(out / "split.csv"), "--group-by", "split",
                   "--json", "--out", str(out / "eval")])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["n"] == 8 and set(report["groups"]) == {"train", "val"}
    assert report["at_threshold"]["threshold"] == ck["threshold"]["value"]
    assert (out / "eval" / "roc.png").stat().st_size > 1000
    rc = cli_main(["train", "--model", "effnet_lte0", "--data", str(tiny_set), "--out", str(out)])
    assert rc == 2
