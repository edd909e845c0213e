"""Image quality gate: is this a gradable fundus photograph?

Every measure is taken on the photo's one small analysis copy (:func:`edge_screen.fundus.analysis_copy`,
the copy the field of view was found on), inside the disc, and at scales relative to the disc's
diameter (the focus measure's Gaussian, the rim that is left out), which makes the measures
independent of the camera's resolution. Nothing here resizes or crops the photo again. Thresholds
are data (``edge_screen/data/quality_thresholds.json``, chosen from the measured distribution on the
1,309 dev photos with a margin; a bundle may override them).

Reasons (codes), in the order they are checked:

* ``fov_not_found`` -- no bright disc on a dark surround;
* ``fov_too_small`` -- the disc covers too little of the frame;
* ``low_resolution`` -- the disc is too few pixels across in the stored image (a thumbnail);
* ``no_colour`` -- greyscale or red-free (a different modality): the field has almost no colour
  saturation, or almost no red (:func:`colour_measures`);
* ``not_fundus`` -- the surround is not dark, or the colour is not that of a retina (a fundus is
  red-to-yellow, with little blue);
* ``too_dark`` / ``too_bright`` -- exposure inside the FOV (mean max-channel brightness, and its
  99th percentile: even the optic disc is dim in an under-exposed photo; mean luminance and the
  fraction clipped white);
* ``low_contrast`` -- spread of the green channel (vessels, disc, macula) relative to its mean;
* ``blurred`` -- variance of the scale-normalised Laplacian of Gaussian of the green channel in the
  central 75 % of the disc, in grey levels^2, at sigma = :data:`FOCUS_SIGMA` / :data:`VIEW_DIAMETER`
  of the disc's diameter (1.5 px when the disc is 256 px across; resolution-free).

The dev set holds hazy (cataract) and washed-out photos that must still be graded, so the
contrast, focus and overexposure limits sit below the haziest of them: the gate rejects grossly
defective images, not merely soft ones.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import cv2
import numpy as np

from edge_screen.errors import UsageError
from edge_screen.fundus import AnalysisCopy, FieldOfView, analysis_copy, detect_fov
from edge_screen.preprocess import check_known_fields

logger = logging.getLogger(__name__)

#: Reference disc diameter, pixels: scales below are given for a disc this many pixels across and
#: scaled to the disc's diameter in the analysis copy (the thresholds were chosen at this scale).
VIEW_DIAMETER = 256
#: Scale of the focus measure, pixels at :data:`VIEW_DIAMETER`.
FOCUS_SIGMA = 1.5
#: Contrast and focus leave out this wide a band inside the disc's rim (vignetting, the disc
#: edge), pixels at :data:`VIEW_DIAMETER`.
RIM_BAND = 7
#: Focus is measured within this fraction of the disc radius (a blurred rim and field stop
#: would otherwise still show strong edges).
CORE_RADIUS = 0.75
#: The surround is measured beyond this multiple of the disc radius.
SURROUND_RADIUS = 1.08
DEFAULT_THRESHOLDS_PATH = Path(__file__).with_name("data") / "quality_thresholds.json"

REASONS = ("fov_not_found", "fov_too_small", "low_resolution", "no_colour", "not_fundus", "too_dark",
           "too_bright", "low_contrast", "blurred")


@dataclass(frozen=True)
class QualityThresholds:
    """Limits of the quality gate (see the module docs for each measure). The defaults equal
    the packaged JSON, which also records the dev-set distributions they were chosen from.

    Attributes:
        min_fov_coverage: fraction of the frame inside the disc.
        max_surround_brightness: mean max-channel (0..255) outside the disc.
        max_surround_ratio: surround brightness / FOV brightness.
        max_blue_fraction: mean B / mean (R + G + B) inside the FOV.
        min_warm_fraction: fraction of lit FOV pixels whose blue is the weakest channel
            (within 8 levels); a retina is red/orange/yellow (some cameras green), not blue.
        min_brightness: mean max-channel inside the FOV (0..255).
        min_highlight: 99th percentile of the max-channel inside the FOV (0..255): the optic disc
            and the brightest retina; below it the whole photo is under-exposed (a photo darkened
            to 25 % is at most 64).
        max_luminance: mean luminance (0.299 R + 0.587 G + 0.114 B) inside the FOV.
        max_white_fraction: fraction of FOV pixels clipped white (all channels >= 245). Red and
            green clip on many hazy (cataract) photos that must still be graded; blue only
            clips when the exposure is grossly too high.
        min_contrast: std / mean of the green channel inside the FOV.
        min_focus: variance of the sigma^2-scaled Laplacian of Gaussian of green (grey levels^2)
            in the normalised view.
        min_fov_diameter: disc diameter in pixels of the stored image (before any reduced decode);
            below it the photo is a thumbnail (the model input would be enlarged > 3.8x).
        min_saturation: median colour saturation in the field (:func:`colour_measures`); grey is 0.
        min_red_fraction: R / (R + G + B) in the field; grey is 1/3, red-free photographs ~0.
    """

    min_fov_coverage: float = 0.35
    max_surround_brightness: float = 30.0
    max_surround_ratio: float = 0.30
    max_blue_fraction: float = 0.42
    min_warm_fraction: float = 0.40
    min_brightness: float = 22.0
    min_highlight: float = 64.0
    max_luminance: float = 245.0
    max_white_fraction: float = 0.45
    min_contrast: float = 0.02
    min_focus: float = 0.5
    min_fov_diameter: float = 100.0
    min_saturation: float = 0.05
    min_red_fraction: float = 0.2

    def __post_init__(self) -> None:
        problems = []
        for f in fields(self):
            value = getattr(self, f.name)
            lo, hi = _THRESHOLD_RANGES.get(f.name, (0.0, math.inf))
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                problems.append(f"{f.name}={value!r} (valid: a number in {lo:g}..{hi:g})")
            elif not (math.isfinite(float(value)) and lo <= float(value) <= hi):
                problems.append(f"{f.name}={value!r} (valid: {lo:g}..{hi:g})")
            else:
                object.__setattr__(self, f.name, float(value))
        if problems:
            raise UsageError("invalid quality threshold(s): " + "; ".join(problems))

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> QualityThresholds:
        """Read thresholds from JSON (default: the packaged ``quality_thresholds.json``).

        The file holds ``{"thresholds": {...}}`` (other keys, e.g. the measured distributions,
        are documentation). Missing keys keep the defaults; unknown keys are an error.
        """
        p = Path(path) if path is not None else DEFAULT_THRESHOLDS_PATH
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read quality thresholds {str(p)!r}: {exc}") from exc
        return cls.from_dict(doc.get("thresholds", doc))

    @classmethod
    def from_dict(cls, d: dict) -> QualityThresholds:
        """From JSON: unknown keys, non-numbers and values out of range are a UsageError."""
        if not isinstance(d, dict):
            raise UsageError(f"quality thresholds must be an object {{name: number}}, got {d!r}")
        check_known_fields(cls, d, "quality threshold")
        return cls(**d)

    def with_overrides(self, overrides: dict) -> QualityThresholds:
        """These thresholds with some replaced (a bundle's ``quality`` block); validated like :meth:`from_dict`."""
        if not isinstance(overrides, dict):
            raise UsageError(f"quality overrides must be an object {{name: number}}, got {overrides!r}")
        check_known_fields(type(self), overrides, "quality threshold")
        return type(self)(**{**asdict(self), **overrides})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class QualityReport:
    """Outcome of :func:`assess_quality`.

    Attributes:
        ok: True when no reason was found.
        reasons: codes from :data:`REASONS`.
        messages: one sentence per reason with the measured value and the threshold.
        metrics: the measured values (NaN where not measurable).
    """

    ok: bool
    reasons: tuple[str, ...]
    messages: tuple[str, ...]
    metrics: dict[str, float]

    def to_dict(self) -> dict:
        """JSON-safe form (NaN becomes None)."""
        return {"ok": self.ok, "reasons": list(self.reasons), "messages": list(self.messages),
                "metrics": {k: (None if isinstance(v, float) and math.isnan(v) else float(v))
                            for k, v in self.metrics.items()}}


#: Valid range of each threshold (fractions 0..1, 8-bit levels 0..255; the rest non-negative).
_THRESHOLD_RANGES: dict[str, tuple[float, float]] = {
    "min_fov_coverage": (0.0, 1.0),
    "max_surround_brightness": (0.0, 255.0),
    "max_surround_ratio": (0.0, 10.0),
    "max_blue_fraction": (0.0, 1.0),
    "min_warm_fraction": (0.0, 1.0),
    "min_brightness": (0.0, 255.0),
    "min_highlight": (0.0, 255.0),
    "max_luminance": (0.0, 255.0),
    "max_white_fraction": (0.0, 1.0),
    "min_contrast": (0.0, 10.0),
    "min_focus": (0.0, 1e6),
    "min_fov_diameter": (0.0, 1e5),
    "min_saturation": (0.0, 1.0),
    "min_red_fraction": (0.0, 1.0),
}

_DEFAULT: QualityThresholds | None = None


def default_thresholds() -> QualityThresholds:
    """The packaged thresholds (read once)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = QualityThresholds.load()
    return _DEFAULT


def assess_quality(image: np.ndarray | AnalysisCopy, *, fov: FieldOfView | None = None,
                   thresholds: QualityThresholds | None = None, scale: float = 1.0) -> QualityReport:
    """Check that a photo is gradable.

    Args:
        image: the photo's :class:`~edge_screen.fundus.AnalysisCopy` (the Screener passes the one it
            found the field of view on), or the photo itself as ``(H, W, 3) uint8`` RGB (any
            resolution; its analysis copy is made here).
        fov: the field of view in the photo's coordinates (else it is detected here).
        thresholds: limits; default :func:`default_thresholds`.
        scale: the photo's width / the stored image's width (``LoadedImage.scale``), for the
            resolution check.
    """
    th = thresholds if thresholds is not None else default_thresholds()
    view = image if isinstance(image, AnalysisCopy) else analysis_copy(image)
    if fov is None:
        fov = detect_fov(view)
    if not fov.found:
        return QualityReport(False, ("fov_not_found",), (
            "no fundus field of view found (no bright round disc on a dark surround); is this a "
            "fundus photograph?",), {"fov_found": 0.0})
    m = {**measure(view, fov), **colour_measures(view, fov),
         "fov_diameter_px": 2.0 * fov.radius / (scale if scale > 0 else 1.0)}
    checks = [
        ("fov_too_small", m["fov_coverage"] < th.min_fov_coverage,
         f"the fundus disc covers {m['fov_coverage']:.0%} of the frame, below the minimum "
         f"{th.min_fov_coverage:.0%}"),
        ("low_resolution", m["fov_diameter_px"] < th.min_fov_diameter,
         f"low resolution: the fundus disc is {m['fov_diameter_px']:.0f} pixels across (minimum "
         f"{th.min_fov_diameter:.0f}); use the camera's original photo, not a thumbnail"),
        ("no_colour", m["saturation"] < th.min_saturation,
         f"no colour: the photo is greyscale (colour saturation {m['saturation']:.3f}, minimum "
         f"{th.min_saturation:.2f}); a colour fundus photograph is needed"),
        ("no_colour", m["red_fraction"] < th.min_red_fraction,
         f"no colour: almost no red in the field (red {m['red_fraction']:.0%} of the colour, minimum "
         f"{th.min_red_fraction:.0%}), as in a red-free photograph; a colour fundus photograph is needed"),
        ("not_fundus", m["surround_brightness"] > th.max_surround_brightness,
         f"the area around the disc is not dark (mean {m['surround_brightness']:.0f}/255, "
         f"maximum {th.max_surround_brightness:.0f}): not a fundus photograph"),
        ("not_fundus", m["surround_ratio"] > th.max_surround_ratio,
         f"the area around the disc is {m['surround_ratio']:.2f} as bright as the disc "
         f"(maximum {th.max_surround_ratio:.2f}): not a fundus photograph"),
        ("not_fundus", m["blue_fraction"] > th.max_blue_fraction,
         f"blue is {m['blue_fraction']:.0%} of the colour inside the disc (a retina has at most "
         f"{th.max_blue_fraction:.0%}): not a fundus photograph"),
        ("not_fundus", m["warm_fraction"] < th.min_warm_fraction,
         f"only {m['warm_fraction']:.0%} of the disc has retinal (red/orange/yellow/green) hue, "
         f"minimum {th.min_warm_fraction:.0%}: not a fundus photograph"),
        ("too_dark", m["brightness"] < th.min_brightness,
         f"too dark: mean brightness in the field {m['brightness']:.0f}/255, minimum "
         f"{th.min_brightness:.0f}"),
        ("too_dark", m["highlight"] < th.min_highlight,
         f"too dark: even the brightest part of the field (the optic disc) reaches only "
         f"{m['highlight']:.0f}/255, minimum {th.min_highlight:.0f}; use more flash and retake"),
        ("too_bright", m["luminance"] > th.max_luminance,
         f"overexposed: mean luminance in the field {m['luminance']:.0f}/255, maximum "
         f"{th.max_luminance:.0f}"),
        ("too_bright", m["white_fraction"] > th.max_white_fraction,
         f"overexposed: {m['white_fraction']:.0%} of the field is clipped white, maximum "
         f"{th.max_white_fraction:.0%}"),
        ("low_contrast", m["contrast"] < th.min_contrast,
         f"low contrast: {m['contrast']:.3f} (std/mean of green in the field), minimum "
         f"{th.min_contrast:.3f}"),
        ("blurred", m["focus"] < th.min_focus,
         f"out of focus: sharpness {m['focus']:.2f} (variance of the Laplacian in the field), "
         f"minimum {th.min_focus:.2f}"),
    ]
    reasons: list[str] = []
    messages: list[str] = []
    for code, failed, message in checks:
        # NaN compares False: a measure that cannot be taken (no surround visible) does not fail.
        if failed and code not in reasons:
            reasons.append(code)
            messages.append(message)
    return QualityReport(not reasons, tuple(reasons), tuple(messages), m)


def measure(image: np.ndarray | AnalysisCopy, fov: FieldOfView) -> dict[str, float]:
    """All quality measures for a photo whose disc was found (see module docs).

    Args:
        image: the photo's analysis copy, or the photo (``(H, W, 3) uint8`` RGB).
        fov: the disc, in the photo's coordinates.

    Returns:
        dict of floats: ``fov_found``, ``fov_coverage``, ``fov_radius_px`` (in the photo),
        ``surround_brightness``, ``surround_ratio`` (NaN when no surround is visible),
        ``blue_fraction``, ``warm_fraction``, ``brightness``, ``highlight``, ``luminance``, ``white_fraction``,
        ``contrast``,
        ``focus``.
    """
    view = image if isinstance(image, AnalysisCopy) else analysis_copy(image)
    disc = view.to_analysis(fov)
    v = view.max_channel
    h, w = v.shape
    scale = 2.0 * disc.radius / VIEW_DIAMETER  # analysis pixels per pixel of the reference disc
    yy, xx = np.ogrid[0:h, 0:w]
    d2 = ((xx - disc.cx) ** 2).astype(np.float32) + ((yy - disc.cy) ** 2).astype(np.float32)
    # Ellipse-shaped discs (squashed photos) leave dark crescents inside the circle: skip them.
    mask = ((d2 <= (disc.radius * (1.0 - 1.0 / 128)) ** 2) & (v > fov.mask_threshold)).astype(np.uint8)
    inside = mask > 0
    if not inside.any():
        inside = d2 <= disc.radius ** 2
    n_in = max(1, int(np.count_nonzero(inside)))
    r, g, b = (c[inside].astype(np.float32) for c in cv2.split(view.rgb))
    vi = v[inside].astype(np.float32)
    brightness = float(vi.mean())
    rgb_sum = float(r.sum() + g.sum() + b.sum())
    # "Warm" hue: blue is the weakest channel (retina: red/orange/yellow; some cameras green).
    lit = vi > 16
    warm = float(np.count_nonzero(lit & (b <= np.minimum(r, g) + 8)) / max(1, np.count_nonzero(lit)))
    # The rim (vignetting, the disc edge) would dominate both contrast and focus: stay inside. The
    # frame edge counts as rim too (BORDER_CONSTANT 0), as for a disc clipped by the frame.
    k = 2 * max(1, round(RIM_BAND * scale)) + 1
    inner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)),
                      borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    core = inner & (d2 < (CORE_RADIUS * disc.radius) ** 2)
    if not core.any():
        inner = core = inside
    green = view.rgb[..., 1].astype(np.float32)
    gn = green[inner]
    # Laplacian of Gaussian at sigma = FOCUS_SIGMA px of the reference disc, scale-normalised
    # (sigma^2 LoG: the same value for the same photo at any resolution), variance in grey
    # levels^2. Not divided by the mean^2: that turned the 8-bit quantisation noise of dark,
    # defocused photos into apparent detail.
    sigma = FOCUS_SIGMA * scale
    lap = cv2.Laplacian(cv2.GaussianBlur(green, (0, 0), sigma), cv2.CV_32F, ksize=3)
    focus = float(lap[core].var() * sigma ** 4)
    surround, ratio = _surround(view, disc, d2, brightness)
    return {
        "fov_found": 1.0,
        "fov_coverage": float(fov.coverage),
        "fov_radius_px": float(fov.radius),
        "surround_brightness": surround,
        "surround_ratio": ratio,
        "blue_fraction": float(b.sum() / max(rgb_sum, 1.0)),
        "warm_fraction": warm,
        "brightness": brightness,
        "highlight": float(np.percentile(vi, 99)),
        "luminance": float((0.299 * r + 0.587 * g + 0.114 * b).mean()),
        "white_fraction": float(np.count_nonzero(np.minimum(np.minimum(r, g), b) >= 245) / n_in),
        "contrast": float(gn.std() / max(float(gn.mean()), 1.0)),
        "focus": focus,
    }


def _surround(view: AnalysisCopy, disc: FieldOfView, d2: np.ndarray, inside: float) -> tuple[float, float]:
    """Mean max-channel outside the disc (beyond :data:`SURROUND_RADIUS` r, excluding white padding)
    and its ratio to ``inside``; NaN when less than 2 % of the frame is there."""
    out = d2 > (SURROUND_RADIUS * disc.radius) ** 2
    pad = view.padding  # white letterbox bands are not surround ...
    if pad.any():  # ... nor their JPEG-blurred edge
        k = 2 * max(1, round(max(pad.shape) / 64)) + 1
        out &= cv2.dilate(pad, np.ones((k, k), np.uint8)) == 0
    if np.count_nonzero(out) < 0.02 * out.size:
        return float("nan"), float("nan")
    level = float(view.max_channel[out].mean())
    # The floor keeps a dark photo's faint surround noise from looking like a lit surround.
    return level, level / max(inside, 64.0)


def colour_measures(image: np.ndarray | AnalysisCopy, fov: FieldOfView) -> dict[str, float]:
    """Colour of the field: is this a *colour* fundus photograph (not greyscale, not red-free)?

    Taken on the analysis copy, over the lit pixels (max channel > 16) inside the disc (0.95 of
    its radius, so the rim's JPEG colour bleeding does not count).

    Args:
        image: the photo's analysis copy, or the photo (``(H, W, 3) uint8`` RGB).
        fov: the disc, in the photo's coordinates.

    Returns:
        ``saturation``: median of ``(max - min) / max`` over the channels (0 for grey, whatever
        the brightness; a retina is strongly saturated red/orange); ``red_fraction``: mean R /
        mean (R + G + B) (1/3 for grey; a red-free photograph has almost no red). NaN when fewer
        than 50 lit pixels are inside.
    """
    view = image if isinstance(image, AnalysisCopy) else analysis_copy(image)
    disc = view.to_analysis(fov)
    h, w = view.rgb.shape[:2]
    r = 0.95 * disc.radius
    yy, xx = np.ogrid[0:h, 0:w]
    red, green, blue = cv2.split(view.rgb)
    top = view.max_channel
    # per-pixel max/min as whole-image uint8 operations: a reduction over the 3-wide axis of an
    # (N, 3) array cost 2.4 of this function's 3.3 ms on a 2-core EPYC
    sel = (((xx - disc.cx) ** 2 + (yy - disc.cy) ** 2) <= r * r) & (top > 16)
    if np.count_nonzero(sel) < 50:
        return {"saturation": float("nan"), "red_fraction": float("nan")}
    mx = top[sel].astype(np.float32)
    mn = cv2.min(cv2.min(red, green), blue)[sel].astype(np.float32)
    sums = [int(c[sel].sum(dtype=np.int64)) for c in (red, green, blue)]
    return {"saturation": float(np.median((mx - mn) / mx)),
            "red_fraction": float(sums[0] / max(sum(sums), 1))}
