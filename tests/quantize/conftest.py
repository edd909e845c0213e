"""Fixtures of the trainer tests: tiny drawn fundus-like images, label CSVs, a tiny trained checkpoint."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest


def draw_fundus(seed: int, abnormal: bool, size: int = 96) -> np.ndarray:
    """``(size, size, 3) uint8`` RGB: dark surround, orange disc, a few vessels; abnormal adds bright yellow spots."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3), np.uint8)
    c = size // 2
    cv2.circle(img, (c, c), int(size * 0.45), (170, 70, 30), -1)
    cv2.circle(img, (c + size // 5, c), size // 12, (240, 200, 140), -1)  # optic disc
    for _ in range(4):
        a = rng.uniform(0, 2 * np.pi)
        cv2.line(img, (c + size // 5, c), (int(c + np.cos(a) * size * 0.4), int(c + np.sin(a) * size * 0.4)), (110, 25, 15), 1)
    if abnormal:
        for _ in range(6):
            x, y = rng.integers(c - size // 4, c + size // 4, 2)
            cv2.circle(img, (int(x), int(y)), max(2, size // 30), (255, 240, 90), -1)
    noise = rng.normal(0, 4, img.shape)
    return np.clip(img + noise * (img > 0), 0, 255).astype(np.uint8)


def fundus_batch(seeds: range, size: int) -> np.ndarray:
    """``[N,3,size,size]`` float32 of :func:`draw_fundus` photos (odd seeds abnormal), normalised with
    mean = std = 0.5 as the tiny models' preprocessing does."""
    rgb = np.stack([draw_fundus(s, abnormal=s % 2 == 1, size=size) for s in seeds]).astype(np.float32) / 255.0
    return np.ascontiguousarray(((rgb - 0.5) / 0.5).transpose(0, 3, 1, 2))

def tiny_fp32_onnx(path: Path, *, seed: int, size: int = 64) -> Path:
    """The tiny CNN (3x3, depthwise and 1x1 convs, linear head) with its heatmap, exported to FP32 ONNX at ``path``."""
    from edge_screen.quantize.cam import with_heatmap
    from edge_screen.quantize.onnx_export import torch_to_onnx
    from edge_screen.quantize.tiny import tiny_classifier

    return torch_to_onnx(with_heatmap(tiny_classifier("linear", input_size=size, seed=seed)), path, input_size=size)


def write_set(root: Path, n_per_class: int = 4, *, size: int = 96, group_every: int | None = None) -> Path:
    """Write PNGs + ``labels.csv`` (file,label,patient) under ``root``; returns the CSV path."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for label in (0, 1):
        for i in range(n_per_class):
            name = f"images/{'ab' if label else 'no'}_{i}.png"
            cv2.imwrite(str(root / name), cv2.cvtColor(draw_fundus(100 * label + i, bool(label), size), cv2.COLOR_RGB2BGR))
            rows.append([name, "abnormal" if label else "normal", f"p{i // (group_every or 1)}_{label}"])
    path = root / "labels.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "patient"])
        w.writerows(rows)
    return path


@pytest.fixture()
def tiny_set(tmp_path: Path) -> Path:
    """8 images (4 normal, 4 abnormal), 96 px PNG; returns labels.csv."""
    return write_set(tmp_path / "data", 4)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-epoch effnet_lite0 @64 px training checkpoint (random init) with its split.csv beside it."""
    from edge_screen.quantize.train import TrainConfig, train

    root = tmp_path_factory.mktemp("tinyrun")
    csv_path = write_set(root / "data", 6)
    out = root / "run"
    train(TrainConfig(model="effnet_lite0", data=str(csv_path), out=str(out), img_size=64, epochs=2, batch_size=4,
                      pretrained=False, val_fraction=0.34, progress=False, threads=2))
    return out / "best.pt"
