"""Synthetic fundus photographs for tests and demos (no patient data needed).

The picture has what the preprocessing and the quality gate look for: a bright, red-orange disc
on a black surround, vignetting towards the rim, an optic disc with a pale cup, a vessel tree
leaving the optic disc in upper and lower arcades, and a darker macula. Optional lesions:
haemorrhages (dark red blots), exudates (bright yellow flecks) and drusen (pale round dots near
the macula). Everything is drawn from one seed, so a seed gives the same image every time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import cv2
import numpy as np

from edge_screen.errors import UsageError

LESIONS = ("haemorrhages", "exudates", "drusen")


def synthetic_fundus(size: int = 512, *, seed: int = 0, lesions: Iterable[str] = (),
                     width: int | None = None, height: int | None = None) -> np.ndarray:
    """Draw a synthetic colour fundus photograph.

    Args:
        size: side of a square frame, pixels (used where ``width``/``height`` are not given).
        seed: random seed; the same arguments give the same image.
        lesions: any of :data:`LESIONS`.
        width, height: a non-square frame. A landscape frame gets a disc clipped at the top and
            bottom, like IDRiD's 4288x2848 photos (radius 0.405 x width).

    Returns:
        ``(H, W, 3) uint8`` RGB.
    """
    w, h = int(width or size), int(height or size)
    if min(w, h) < 64 or max(w, h) > 8192:
        raise UsageError(f"synthetic_fundus frame {w}x{h} out of range; valid sides 64..8192")
    lesions = tuple(lesions)
    unknown = sorted(set(lesions) - set(LESIONS))
    if unknown:
        raise UsageError(f"unknown lesion type(s) {unknown}; valid: {list(LESIONS)}")
    rng = np.random.default_rng(seed)
    cx, cy = (w - 1) / 2 + rng.uniform(-0.01, 0.01) * w, (h - 1) / 2 + rng.uniform(-0.01, 0.01) * h
    radius = 0.47 * min(w, h) if w == h else 0.405 * max(w, h)

    yy, xx = (a.astype(np.float32) for a in np.ogrid[0:h, 0:w])
    rho = np.hypot(xx - cx, yy - cy) / radius
    # Retina: warm base colour, low-frequency mottling, vignetting to the rim.
    base = (np.array([205.0, 92.0, 38.0]) * rng.uniform(0.85, 1.1, 3)).astype(np.float32)
    mottle = _smooth_noise(rng, h, w, cells=6) * 0.12 + 1.0
    shade = (1.0 - 0.45 * np.clip(rho, 0, 1) ** 2.2) * mottle
    img = base[None, None, :] * shade[..., None]

    side = 1 if rng.random() < 0.5 else -1  # right or left eye: optic disc nasal
    od = (cx + side * 0.42 * radius, cy + rng.uniform(-0.05, 0.05) * radius)
    od_r = 0.085 * radius
    mac = (cx - side * 0.12 * radius, cy + rng.uniform(-0.03, 0.03) * radius)

    # Macula: a darker, browner spot with a small bright foveal reflex.
    dm = np.hypot(xx - mac[0], yy - mac[1]) / (0.16 * radius)
    img *= (1.0 - 0.35 * np.exp(-dm ** 2))[..., None]

    vessels = _vessel_map(rng, h, w, od, od_r, radius, side)
    img[..., 0] *= 1.0 - 0.28 * vessels
    img[..., 1] *= 1.0 - 0.55 * vessels
    img[..., 2] *= 1.0 - 0.45 * vessels

    # Optic disc: pale yellow-orange rim, paler cup.
    dd = np.hypot(xx - od[0], yy - od[1]) / od_r
    disc = np.clip(1.2 - dd, 0, 1) ** 0.7
    cup = np.exp(-(dd / 0.45) ** 2)
    img = img * (1 - disc[..., None]) + (np.array([250.0, 190.0, 120.0]) * disc[..., None])
    img += cup[..., None] * np.array([5.0, 40.0, 40.0])

    if "haemorrhages" in lesions:
        _blots(rng, img, cx, cy, radius, n=rng.integers(6, 12), size=(0.015, 0.04),
               colour=(120.0, 20.0, 12.0), alpha=0.85)
    if "exudates" in lesions:
        _blots(rng, img, mac[0], mac[1], 0.45 * radius, n=rng.integers(15, 30),
               size=(0.004, 0.012), colour=(250.0, 225.0, 120.0), alpha=0.9, scale=radius)
    if "drusen" in lesions:
        _blots(rng, img, mac[0], mac[1], 0.3 * radius, n=rng.integers(15, 30),
               size=(0.012, 0.022), colour=(240.0, 205.0, 125.0), alpha=0.65, scale=radius,
               soft=True)

    # Sensor noise, then the field stop: a soft-edged disc on black.
    img += rng.standard_normal(img.shape, dtype=np.float32) * 2.0
    edge = np.clip((1.0 - rho) * radius / 2.0 + 0.5, 0.0, 1.0)
    img *= edge[..., None]
    img += rng.random(img.shape, dtype=np.float32) * 3.0 * (1.0 - edge[..., None])
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, *, cells: int) -> np.ndarray:
    """Zero-mean smooth noise in about -1..1, ``(h, w) float32``."""
    coarse = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _vessel_map(rng: np.random.Generator, h: int, w: int, od: tuple[float, float], od_r: float,
                radius: float, side: int) -> np.ndarray:
    """Vessel opacity ``(h, w) float32`` in 0..1: four arcades from the optic disc that branch."""
    canvas = np.zeros((h, w), np.float32)
    scale = 16  # cv2 shift bits 4: sub-pixel polylines
    temporal = math.pi if side == 1 else 0.0  # direction from the optic disc to the macula
    stack = []
    for up in (-1, 1):  # superior / inferior
        for toward, thick in ((temporal, 0.017), (math.pi - temporal, 0.011)):
            # Leave the disc vertically, leaning a little towards where the branch will go.
            lean = 0.35 if toward == temporal else 0.5
            start = up * math.pi / 2 + (-up * lean if toward == 0.0 else up * lean)
            stack.append((od[0], od[1], start + rng.uniform(-0.1, 0.1), thick * radius,
                          toward, 0))
    while stack:
        x, y, angle, thick, toward, depth = stack.pop()
        pts = [(x, y)]
        step = 0.02 * radius
        length = int(rng.integers(20, 45) / (1 + 0.6 * depth))
        for _ in range(length):
            # Arcades bend slowly towards their goal, sweeping around the macula.
            turn = math.atan2(math.sin(toward - angle), math.cos(toward - angle))
            angle += 0.045 * turn + rng.normal(0, 0.06)
            x, y = x + step * math.cos(angle), y + step * math.sin(angle)
            pts.append((x, y))
            if thick > 0.004 * radius and depth < 4 and rng.random() < 0.12:
                stack.append((x, y, angle + rng.choice((-1, 1)) * rng.uniform(0.4, 0.9),
                              thick * 0.65, toward, depth + 1))
            if math.hypot(x - od[0], y - od[1]) > 2.2 * radius:
                break
        poly = (np.array(pts) * scale).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [poly], False, 1.0, max(1, round(thick)), cv2.LINE_AA, 4)
        thick *= 0.8
    return cv2.GaussianBlur(canvas, (0, 0), max(0.6, 0.002 * radius))


def _blots(rng: np.random.Generator, img: np.ndarray, cx: float, cy: float, spread: float, *,
           n: int, size: tuple[float, float], colour: tuple[float, float, float], alpha: float,
           scale: float | None = None, soft: bool = False) -> None:
    """Blend ``n`` elliptical spots of ``colour`` into ``img`` (in place) around (cx, cy)."""
    h, w = img.shape[:2]
    scale = spread if scale is None else scale
    mask = np.zeros((h, w), np.float32)
    for _ in range(int(n)):
        r = spread * math.sqrt(rng.uniform(0, 1))
        t = rng.uniform(0, 2 * math.pi)
        x, y = cx + r * math.cos(t), cy + r * math.sin(t)
        a = max(1.0, rng.uniform(*size) * scale)
        b = a * rng.uniform(0.6, 1.0)
        cv2.ellipse(mask, (round(x * 16), round(y * 16)), (round(a * 16), round(b * 16)),
                    float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA, 4)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.8 + (0.8 if soft else 0.0)) * alpha
    img *= 1.0 - mask[..., None]
    img += mask[..., None] * np.array(colour)
