"""Realistic photo failures with a known strength, for training and testing the gradability gate.

Each :data:`KINDS` entry is one way a fundus photograph goes wrong at the clinic, with its strength
in a physical unit that does not depend on the camera's resolution (fractions of the field-of-view
diameter ``D``, exposure stops, ...). ``ungradable_from`` is the strength from which the photo can
no longer be graded: chosen by looking at every kind at every level on real photos (the contact
sheets in ``docs/gate/``, written by ``python -m edge_screen.gateset --contact-sheet``).

Everything is numpy/OpenCV (no torch) and seeded: the same arguments give the same pixels.
Images are ``(H, W, 3) uint8 RGB``; the field of view is detected on the input unless given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge_screen.errors import UsageError
from edge_screen.preprocess import FieldOfView, detect_fov

#: Median field brightness (mean max-channel, 0..255) of the 1,309 dev photos
#: (``quality_thresholds.json``): the exposure that "stops" of under/over-exposure count from.
TYPICAL_BRIGHTNESS = 147.0


@dataclass(frozen=True)
class Kind:
    """One degradation.

    Attributes:
        name: key in :data:`KINDS`.
        reason: the gate's reason code for it (shared contract 2).
        unit: what the strength measures.
        levels: strengths of the test set, mildest first.
        ungradable_from: strength from which the photo is ungradable (by eye, see the module docs).
        train_range: (low, high) strengths drawn when training the gate.
    """

    name: str
    reason: str
    unit: str
    levels: tuple[float, ...]
    ungradable_from: float
    train_range: tuple[float, float]

    def ungradable(self, strength: float) -> bool:
        return strength >= self.ungradable_from


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("defocus", "blurred", "Gaussian sigma / disc diameter", (0.002, 0.004, 0.006, 0.01, 0.015, 0.025),
         0.006, (0.0008, 0.04)),
    Kind("motion", "blurred", "motion streak length / disc diameter", (0.01, 0.02, 0.03, 0.05, 0.08), 0.03,
         (0.004, 0.12)),
    Kind("dark", "too_dark", "stops below the typical exposure", (1.0, 1.5, 2.0, 2.5, 3.5), 2.0, (0.0, 4.5)),
    Kind("bright", "too_bright", "stops above the typical exposure", (0.25, 0.5, 0.75, 1.0, 1.5), 1.0,
         (0.0, 2.5)),
    Kind("haze", "hazy", "opacity of a cataract-like veil", (0.2, 0.4, 0.55, 0.7, 0.85), 0.55, (0.05, 0.95)),
    Kind("reflection", "ungradable", "fraction of the field under lens reflections", (0.03, 0.08, 0.15, 0.25, 0.4),
         0.15, (0.01, 0.6)),
    Kind("eyelash", "ungradable", "fraction of the field under eyelash shadows", (0.05, 0.1, 0.2, 0.3, 0.45), 0.3,
         (0.02, 0.6)),
    Kind("field", "ungradable", "fraction of the field dark (small pupil, camera off-centre)",
         (0.1, 0.2, 0.3, 0.45, 0.6), 0.3, (0.03, 0.8)),
    Kind("jpeg", "low_resolution", "JPEG compression at the model's scale: 100 - quality", (70.0, 80.0, 88.0, 92.0, 95.0),
         88.0, (40.0, 97.0)),
    Kind("lowres", "blurred", "resolution lost: 1 - effective disc diameter / 384 px",
         (0.4, 0.55, 0.65, 0.75, 0.85), 0.75, (0.1, 0.92)),
)}


def degrade(rgb: np.ndarray, kind: str, strength: float, *, seed: int = 0,
            fov: FieldOfView | None = None) -> np.ndarray:
    """Apply one degradation (see :data:`KINDS`) at ``strength``; returns a new ``(H, W, 3) uint8`` RGB.

    The surround outside the field stays as it was (black), except where the failure itself
    reaches it (over-exposure, reflections). ``lowres`` keeps the frame size (it shrinks and
    enlarges again, as a resized thumbnail looks): see :func:`thumbnail` for a truly small image.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown degradation {kind!r}; valid: {', '.join(KINDS)}")
    if not (isinstance(strength, (int, float)) and math.isfinite(strength) and strength >= 0):
        raise UsageError(f"degradation strength must be a finite number >= 0, got {strength!r}")
    if fov is None:
        fov = detect_fov(rgb)
    rng = np.random.default_rng(seed)
    return _APPLY[kind](rgb, float(strength), fov, rng)


def thumbnail(rgb: np.ndarray, width: int, height: int | None = None) -> np.ndarray:
    """The whole frame shrunk to ``width`` (x ``height``, default keeping the aspect) with INTER_AREA."""
    h, w = rgb.shape[:2]
    height = height or max(1, round(h * width / w))
    return cv2.resize(rgb, (int(width), int(height)), interpolation=cv2.INTER_AREA)


# ------------------------------------------------------------------------------------ helpers
def _disc_mask(shape: tuple[int, ...], fov: FieldOfView, shrink: float = 1.0) -> np.ndarray:
    """``(H, W) float32`` 1 inside the field of view (0.5 px anti-aliased edge), 0 outside."""
    h, w = shape[:2]
    yy, xx = np.ogrid[0:h, 0:w]
    d = np.sqrt((xx - fov.cx) ** 2 + (yy - fov.cy) ** 2, dtype=np.float32)
    return np.clip(fov.radius * shrink - d + 0.5, 0.0, 1.0).astype(np.float32)


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def _filter_inside(rgb: np.ndarray, fov: FieldOfView, kernel: np.ndarray | None = None,
                   sigma: float | None = None) -> np.ndarray:
    """Blur inside the field only (normalised convolution), so black surround does not bleed in and
    the field's rim stays where it was (defocus and eye movement blur the retina, not the field stop)."""
    m = _disc_mask(rgb.shape, fov)
    x = rgb.astype(np.float32) * m[..., None]
    if sigma is not None:
        num, den = cv2.GaussianBlur(x, (0, 0), sigma), cv2.GaussianBlur(m, (0, 0), sigma)
    else:
        num, den = cv2.filter2D(x, -1, kernel), cv2.filter2D(m, -1, kernel)
    out = num / np.maximum(den, 1e-3)[..., None]
    return _u8(out * m[..., None] + rgb.astype(np.float32) * (1 - m[..., None]))


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """``(h, w) float32`` smooth noise in 0..1 (bicubic upsampling of a coarse random grid)."""
    g = rng.random((cells, cells)).astype(np.float32)
    f = cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
    f -= f.min()
    return f / max(float(f.max()), 1e-6)


def _sensor_noise(x: np.ndarray, rng: np.random.Generator, sd: float) -> np.ndarray:
    return x + rng.normal(0.0, sd, x.shape).astype(np.float32)


# ------------------------------------------------------------------------------------ kinds
def _defocus(rgb, s, fov, rng):  # noqa: ANN001, ANN202
    sigma = s * 2 * fov.radius
    return rgb.copy() if sigma < 0.3 else _filter_inside(rgb, fov, sigma=sigma)


def _motion(rgb, s, fov, rng):  # noqa: ANN001, ANN202
    length = max(1.0, s * 2 * fov.radius)
    k = int(math.ceil(length)) | 1
    kernel = np.zeros((k, k), np.float32)
    c = k // 2
    angle = rng.uniform(0, math.pi)
    dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    kernel /= kernel.sum()
    return _filter_inside(rgb, fov, kernel=kernel)


def _field_brightness(rgb: np.ndarray, fov: FieldOfView) -> float:
    """Mean max-channel level (0..255) inside the field, as the quality gate measures brightness."""
    m = _disc_mask(rgb.shape, fov, 0.95) > 0.5
    return float(rgb.max(axis=2)[m].mean()) if m.any() else float(rgb.max(axis=2).mean())


def _dark(rgb, s, fov, rng):  # noqa: ANN001, ANN202
    # Too little light: the field is brought to TYPICAL_BRIGHTNESS x 2^-s (an outcome, not a gain,
    # so that a photo that was dim already is not counted as darker than it ends up), while the
    # sensor's noise floor stays.
    gain = TYPICAL_BRIGHTNESS * 2.0 ** -s / max(_field_brightness(rgb, fov), 1.0)
    x = rgb.astype(np.float32) * gain
    return _u8(_sensor_noise(x, rng, 1.2) * _disc_mask(rgb.shape, fov, 1.02)[..., None])


def _bright(rgb, s, fov, rng):  # noqa: ANN001, ANN202
    # Too much light: exposure TYPICAL_BRIGHTNESS x 2^s before clipping (per channel: red first),
    # plus stray light lifting the blacks.
    gain = TYPICAL_BRIGHTNESS * 2.0 ** s / max(_field_brightness(rgb, fov), 1.0)
    m = _disc_mask(rgb.shape, fov, 1.01)[..., None]
    x = rgb.astype(np.float32) * gain + 25.0 * max(0.0, 2.0 ** s - 1.0) * m
    return _u8(x * m + rgb.astype(np.float32) * (1 - m))


def _haze(rgb, s, fov, rng):  # noqa: ANN001, ANN202
    # A fogged or smeared lens (or a veil of scattered light): an uneven, whitish-grey veil over a
    # softened retina. Deliberately not the yellow-brown of a dense cataract: cataract photos are
    # labelled abnormal (refer), and a veil the colour of a cataract must not teach the gate to
    # send real cataracts to "retake" (the real cataract photos are gradable in the training set).
    h, w = rgb.shape[:2]
    soft = _filter_inside(rgb, fov, sigma=max(0.3, 0.006 * s * 2 * fov.radius)).astype(np.float32)
    m = _disc_mask(rgb.shape, fov)
    inside = m > 0.5
    base = soft[inside].mean(axis=0) if inside.any() else np.array([128, 80, 40], np.float32)
    veil_colour = 0.3 * base + 0.7 * np.array([215.0, 215.0, 220.0], np.float32)
    uneven = 0.75 + 0.5 * _smooth_field(rng, h, w, 4)
    a = np.clip(s * uneven, 0, 1)[..., None]
    x = soft * (1 - a) + veil_colour * a
    return _u8(x * m[..., None] + rgb.astype(np.float32) * (1 - m[..., None]))


def _small_canvas(shape: tuple[int, ...], fov: FieldOfView, side: int = 256
                  ) -> tuple[tuple[int, int], FieldOfView, float]:
    """A working canvas about ``side`` px across the field: soft layers are drawn there (fast),
    then enlarged. Returns ``((h, w), fov on the canvas, scale)``."""
    f = min(1.0, side / max(2 * fov.radius, 1.0))
    h, w = max(8, round(shape[0] * f)), max(8, round(shape[1] * f))
    small = FieldOfView(fov.found, (fov.cx + 0.5) * f - 0.5, (fov.cy + 0.5) * f - 0.5, fov.radius * f,
                        fov.coverage, fov.mask_threshold)
    return (h, w), small, f


def _enlarge(layer: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return layer if layer.shape == shape[:2] else cv2.resize(layer, (shape[1], shape[0]),
                                                               interpolation=cv2.INTER_LINEAR)


def _reflection(rgb, s, fov, rng):  # noqa: ANN001, ANN202
    # Lens / cornea reflections: soft bright white-bluish blobs and arcs inside the field.
    (h, w), sf, _ = _small_canvas(rgb.shape, fov)
    m = _disc_mask((h, w), sf)
    area = math.pi * sf.radius ** 2
    layer = np.zeros((h, w), np.float32)
    covered = 0.0
    for _ in range(40):
        if covered >= s:
            break
        ang, rho = rng.uniform(0, 2 * math.pi), sf.radius * math.sqrt(rng.uniform(0, 0.8))
        cx, cy = sf.cx + rho * math.cos(ang), sf.cy + rho * math.sin(ang)
        a = sf.radius * rng.uniform(0.06, 0.25) * math.sqrt(max(s, 0.02) / 0.15)
        b = a * rng.uniform(0.3, 1.0)
        if rng.random() < 0.4:  # an arc (ring reflection)
            cv2.ellipse(layer, (round(cx), round(cy)), (round(a * 1.6), round(a * 1.6)), 0,
                        rng.uniform(0, 360), rng.uniform(60, 200), 1.0, max(2, round(b * 0.4)), cv2.LINE_AA)
        else:
            cv2.ellipse(layer, (round(cx), round(cy)), (max(1, round(a)), max(1, round(b))),
                        rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA)
        covered = float((cv2.GaussianBlur(layer, (0, 0), 0.04 * sf.radius) * m > 0.3).sum()) / area
    layer = cv2.GaussianBlur(layer, (0, 0), max(1.0, 0.04 * sf.radius)) * m
    layer = _enlarge(layer, rgb.shape) * _disc_mask(rgb.shape, fov)
    colour = np.array([225.0, 235.0, 255.0], np.float32)
    x = rgb.astype(np.float32)
    a = np.clip(layer * rng.uniform(0.7, 1.0), 0, 0.9)[..., None]
    return _u8(x * (1 - a) + colour * a)


def _eyelash(rgb, s, fov, rng):  # noqa: ANN001, ANN202
    # Eyelashes close to the lens: dark, out-of-focus curved bands entering from the top or bottom.
    (h, w), sf, _ = _small_canvas(rgb.shape, fov)
    m = _disc_mask((h, w), sf)
    area = math.pi * sf.radius ** 2
    layer = np.zeros((h, w), np.float32)
    edge = 1 if rng.random() < 0.6 else -1  # upper lid more often
    covered = 0.0
    for _ in range(60):
        if covered >= s:
            break
        x0 = sf.cx + rng.uniform(-0.8, 0.8) * sf.radius
        y0 = sf.cy - edge * sf.radius * 1.05
        reach = sf.radius * rng.uniform(0.3, 0.9) * (0.6 + s)
        bend = rng.uniform(-0.5, 0.5) * reach
        pts = np.array([[x0 + bend * t * t, y0 + edge * reach * t] for t in np.linspace(0, 1, 24)], np.int32)
        cv2.polylines(layer, [pts], False, 1.0, max(2, round(sf.radius * rng.uniform(0.02, 0.06))), cv2.LINE_AA)
        covered = float((cv2.GaussianBlur(layer, (0, 0), 0.02 * sf.radius) * m > 0.3).sum()) / area
    layer = np.clip(cv2.GaussianBlur(layer, (0, 0), max(1.0, 0.025 * sf.radius)) * 1.6, 0, 1) * m
    layer = _enlarge(layer, rgb.shape) * _disc_mask(rgb.shape, fov)
    return _u8(rgb.astype(np.float32) * (1 - 0.85 * layer[..., None]))


def _field(rgb, s, fov, rng):  # noqa: ANN001, ANN202
    # Small pupil or a camera off-centre: the light reaches only part of the field; the rest falls
    # into a soft-edged dark crescent. The lit circle is moved off-centre until a fraction s is dark.
    (h, w), sf, _ = _small_canvas(rgb.shape, fov)
    ang = rng.uniform(0, 2 * math.pi)
    m = _disc_mask((h, w), sf)
    area = float(m.sum())
    yy, xx = np.ogrid[0:h, 0:w]
    soft = 0.06 * sf.radius
    lo, hi = 0.0, 2.0 * sf.radius
    lit = np.ones((h, w), np.float32)
    for _ in range(16):  # bisection on the offset of the lit circle
        off = 0.5 * (lo + hi)
        cx, cy = sf.cx + off * math.cos(ang), sf.cy + off * math.sin(ang)
        lit = 1 / (1 + np.exp(-((sf.radius - np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)) / soft)))
        dark = float(((1 - lit) * m).sum()) / max(area, 1.0)
        lo, hi = (off, hi) if dark < s else (lo, off)
    gain = (0.07 + 0.93 * _enlarge(lit.astype(np.float32), rgb.shape)).astype(np.float32)
    m_full = _disc_mask(rgb.shape, fov)
    return _u8(_sensor_noise(rgb.astype(np.float32) * gain[..., None], rng, 0.8) * m_full[..., None])


def _jpeg(rgb, s, fov, rng):  # noqa: ANN001, ANN202
    # A small, heavily compressed copy (a messaging app, a web export): JPEG at quality 100 - s on
    # the photo scaled so that the disc is 384 px across (the model's scale; 8x8 blocks are then
    # the same fraction of the field whatever the camera), then scaled back.
    h, w = rgb.shape[:2]
    f = 384.0 / max(2 * fov.radius, 1.0)
    small = cv2.resize(rgb, (max(8, round(w * f)), max(8, round(h * f))),
                       interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    quality = int(round(min(100.0, max(1.0, 100.0 - s))))
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise UsageError("OpenCV could not encode a JPEG")
    out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out if out.shape[:2] == (h, w) else cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)


def _lowres(rgb, s, fov, rng):  # noqa: ANN001, ANN202
    # The disc ends up (1 - s) x 384 px across (the model input), then is enlarged back.
    h, w = rgb.shape[:2]
    target = max(8.0, (1.0 - min(s, 0.98)) * 384.0)
    f = min(1.0, target / (2 * fov.radius))
    if f >= 1.0:
        return rgb.copy()
    small = cv2.resize(rgb, (max(4, round(w * f)), max(4, round(h * f))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


_APPLY = {"defocus": _defocus, "motion": _motion, "dark": _dark, "bright": _bright, "haze": _haze,
          "reflection": _reflection, "eyelash": _eyelash, "field": _field, "jpeg": _jpeg, "lowres": _lowres}
