"""Heatmap overlays with OpenCV colour maps (numpy in, numpy out; no GUI toolkit)."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import cv2
import numpy as np

from edge_screen.errors import ImageError, UsageError

COLORMAPS: dict[str, int] = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "hot": cv2.COLORMAP_HOT,
    "bone": cv2.COLORMAP_BONE,
}


def _colormap_id(name: str) -> int:
    try:
        return COLORMAPS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(COLORMAPS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown colormap {name!r}; valid: {', '.join(COLORMAPS)}.{hint}") from None


def _check_map(heatmap: np.ndarray) -> np.ndarray:
    h = np.asarray(heatmap)
    if h.ndim != 2 or h.size == 0:
        raise UsageError(f"heatmap must be a non-empty (H, W) array, got shape {h.shape}")
    h = h.astype(np.float32, copy=False)
    if not np.isfinite(h).all():
        raise UsageError("heatmap contains NaN or infinite values; the model's heatmap output is broken")
    return np.clip(h, 0.0, 1.0)


def colorize(heatmap: np.ndarray, *, colormap: str = "jet") -> np.ndarray:
    """(H, W) float 0..1 -> (H, W, 3) uint8 RGB via an OpenCV colour map."""
    h = _check_map(heatmap)
    bgr = cv2.applyColorMap(np.round(h * 255.0).astype(np.uint8), _colormap_id(colormap))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def evidence_weight(probability: float | None, threshold: float) -> float:
    """How strongly to draw a heatmap: ``min(1, probability / threshold)``, 1.0 when unknown.

    The in-graph map is normalised per image, so even a clearly normal photo has a "hottest" spot.
    Scaling the map by this weight draws it at full strength for a referral and faintly when the
    model saw little evidence of abnormality, so a technician is not shown alarming colours on a
    normal result.
    """
    if probability is None or not threshold or threshold <= 0:
        return 1.0
    return float(min(1.0, max(0.0, probability / threshold)))


def overlay(rgb: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.45, colormap: str = "jet") -> np.ndarray:
    """Blend a heatmap over an image.

    ``rgb``: (H, W, 3) uint8 RGB. ``heatmap``: (h, w) float 0..1 (resized to H, W when it differs,
    e.g. a map in original coordinates over a reduced decode). The blend weight per pixel is
    ``alpha * heatmap``, so regions the model ignores stay unchanged. Returns (H, W, 3) uint8 RGB.
    """
    img = np.asarray(rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise UsageError(f"overlay needs an (H, W, 3) uint8 RGB image, got shape {img.shape} dtype {img.dtype}")
    if not 0.0 <= alpha <= 1.0:
        raise UsageError(f"alpha must be in 0..1, got {alpha!r}")
    h = _check_map(heatmap)
    if h.shape != img.shape[:2]:
        h = cv2.resize(h, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    color = colorize(h, colormap=colormap)
    w = (alpha * h).astype(np.float32, copy=False)
    # per-pixel blend in OpenCV's vectorised C++ (numpy float maths took ~20 ms on a 1072x712 image);
    # weights sum to 1, so out = img * (1 - w) + color * w
    return cv2.blendLinear(np.ascontiguousarray(img), color, 1.0 - w, w)


def save_overlay(
    path: str | os.PathLike,
    rgb: np.ndarray,
    heatmap: np.ndarray,
    *,
    alpha: float = 0.45,
    colormap: str = "jet",
) -> Path:
    """Write :func:`overlay` to ``path`` (PNG or JPEG by suffix) and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    img = overlay(rgb, heatmap, alpha=alpha, colormap=colormap)
    if not cv2.imwrite(str(out), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
        raise ImageError(f"could not write heatmap overlay to {out} (unsupported suffix or unwritable folder)")
    return out
