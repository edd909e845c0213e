"""Training negatives of the gate's ``not_fundus`` class, deliberately unlike the test set's generators.

The test set (:mod:`edge_screen.gateset`) holds natural photos from installed packages, drawn faces,
printed documents and textured orange discs. None of those is used here. Instead, a colour
fundus photograph is made "not a fundus" in ways that keep its low-level statistics, so that the
head learns what makes a fundus (a vessel tree leaving an optic disc, a macula, on a red-orange
ground) rather than colour or framing:

* ``neg_quilt``: the field re-assembled from randomly placed, rotated patches of the photo itself,
  blended without seams (same texture and colour, no global structure);
* ``neg_hue``: the photo with its hue turned by 90-270 degrees (same structure, impossible colour);
* ``neg_shapes``: random smooth colour fields with geometric shapes, plain or inside a black
  circle (camera-like framing of something else).

Each is a function ``(rgb (H, W, 3) uint8 RGB of a real photo, seed) -> rgb``.
"""

from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np

from edge_screen.preprocess import detect_fov


def _disc(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.ogrid[0:h, 0:w]
    return (((xx - cx) ** 2 + (yy - cy) ** 2) <= r * r).astype(np.float32)


def quilt(rgb: np.ndarray, seed: int) -> np.ndarray:
    """The field re-assembled from 80-160 feathered patches of itself, each rotated at random."""
    rng = np.random.default_rng([seed, 41])
    fov = detect_fov(rgb)
    h, w = rgb.shape[:2]
    r = fov.radius if fov.found else 0.45 * min(h, w)
    cx, cy = (fov.cx, fov.cy) if fov.found else ((w - 1) / 2, (h - 1) / 2)
    src = rgb.astype(np.float32)
    acc = np.zeros_like(src)
    wsum = np.zeros((h, w), np.float32)
    p = int(max(16, r * rng.uniform(0.25, 0.5)))  # patch side
    for _ in range(int(rng.integers(80, 160))):
        # a patch from inside the field ...
        a, rho = rng.uniform(0, 2 * math.pi), (r - p * 0.75) * math.sqrt(rng.random())
        sx, sy = int(cx + rho * math.cos(a) - p / 2), int(cy + rho * math.sin(a) - p / 2)
        sx, sy = min(max(sx, 0), w - p), min(max(sy, 0), h - p)
        patch = src[sy:sy + p, sx:sx + p]
        m = cv2.getRotationMatrix2D((p / 2, p / 2), rng.uniform(0, 360), 1.0)
        patch = cv2.warpAffine(patch, m, (p, p), borderMode=cv2.BORDER_REFLECT)
        # ... pasted anywhere in it, with a soft round weight (no seams)
        a, rho = rng.uniform(0, 2 * math.pi), r * math.sqrt(rng.random())
        dx, dy = int(cx + rho * math.cos(a) - p / 2), int(cy + rho * math.sin(a) - p / 2)
        x0, y0, x1, y1 = max(dx, 0), max(dy, 0), min(dx + p, w), min(dy + p, h)
        if x1 <= x0 or y1 <= y0:
            continue
        g = cv2.getGaussianKernel(p, p / 6)  # ~0 at the patch's edge: no seams
        wgt = (g @ g.T).astype(np.float32)
        wgt /= wgt.max()
        sub_w = wgt[y0 - dy:y1 - dy, x0 - dx:x1 - dx]
        acc[y0:y1, x0:x1] += patch[y0 - dy:y1 - dy, x0 - dx:x1 - dx] * sub_w[..., None]
        wsum[y0:y1, x0:x1] += sub_w
    mean = src[_disc(h, w, cx, cy, r) > 0].mean(axis=0) if fov.found else src.mean(axis=(0, 1))
    out = (acc + mean * 0.01) / (wsum[..., None] + 0.01)
    return np.clip(out * _disc(h, w, cx, cy, r)[..., None], 0, 255).astype(np.uint8)


def hue_turned(rgb: np.ndarray, seed: int) -> np.ndarray:
    """The photo with its hue turned by 90-270 degrees (OpenCV hue units are 2 degrees)."""
    rng = np.random.default_rng([seed, 43])
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(int) + int(rng.integers(45, 135))) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def shapes(rgb: np.ndarray, seed: int) -> np.ndarray:
    """A smooth random colour field with 3-12 filled shapes, plain (half) or inside a black circle."""
    rng = np.random.default_rng([seed, 47])
    h, w = rgb.shape[:2]
    coarse = rng.uniform(0, 255, (int(rng.integers(2, 6)), int(rng.integers(2, 6)), 3)).astype(np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(3, 12))):
        colour = tuple(float(v) for v in rng.uniform(0, 255, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        s = int(rng.uniform(0.05, 0.3) * min(h, w))
        if rng.random() < 0.5:
            cv2.circle(img, (x, y), s, colour, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(img, (x - s, y - s // 2), (x + s, y + s // 2), colour, -1, cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 3.0)) + rng.normal(0, 3, img.shape).astype(np.float32)
    if rng.random() < 0.5:
        img *= _disc(h, w, (w - 1) / 2, (h - 1) / 2, 0.46 * min(h, w))[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


NEGATIVES: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "neg_quilt": quilt, "neg_hue": hue_turned, "neg_shapes": shapes}
#: Share of each negative kind among the negatives drawn.
NEGATIVE_SHARES = {"neg_quilt": 0.5, "neg_hue": 0.2, "neg_shapes": 0.3}
