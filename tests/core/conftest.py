"""Fixtures for the core image pipeline tests (image I/O, preprocessing, quality, synthetic)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_screen.synthetic import synthetic_fundus


@pytest.fixture(scope="session")
def fundus_rgb() -> np.ndarray:
    """A 512x512 synthetic fundus, ``(512, 512, 3) uint8 RGB``."""
    return synthetic_fundus(512, seed=0)


@pytest.fixture(scope="session")
def fundus_wide() -> np.ndarray:
    """An IDRiD-like 1024x680 synthetic fundus with the disc clipped at the top and bottom."""
    return synthetic_fundus(width=1024, height=680, seed=1)


@pytest.fixture(scope="session")
def dev_images(fundus_dev: Path) -> list[Path]:
    """All image paths listed in the dev set's labels.csv."""
    with open(fundus_dev / "labels.csv", newline="", encoding="utf-8") as fh:
        paths = [fundus_dev / row["file"] for row in csv.DictReader(fh)]
    assert len(paths) >= 1000, f"dev set looks incomplete: {len(paths)} images"
    return paths


@pytest.fixture(scope="session")
def encode():
    """``encode(array, ".png", params=None) -> bytes`` (RGB/RGBA/gray, 8- or 16-bit)."""
    return _encode


def _encode(rgb: np.ndarray, ext: str, params: list[int] | None = None) -> bytes:
    """Encode an RGB (or gray / RGBA / 16-bit) array with OpenCV, returning the file bytes."""
    arr = rgb
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(ext, arr, params or [])
    assert ok, f"OpenCV could not encode {ext}"
    return buf.tobytes()
