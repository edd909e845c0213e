"""The fundus in a photo: ONE small analysis copy, and the field of view found on it.

Everything that looks at *what the photo shows* works on one small copy of the decoded image, an
:class:`AnalysisCopy` made once by :func:`analysis_copy` (longer side :data:`ANALYSIS_SIDE` to twice
that, by an integer INTER_AREA reduction): the field-of-view (FOV) detection here, and every measure
of the quality gate (:mod:`edge_screen.quality`). The model input is cut from the decoded image
itself, once (:func:`edge_screen.preprocess.crop_image`). So one photo is decoded once, shrunk once
for analysis and cropped once for the model, and no stage re-reads or re-scales what another made:

    loaded = load_image(path, target_size=S)      # decode, reduced by libjpeg's DCT scaling
    view = analysis_copy(loaded.rgb)              # the one small copy
    fov = detect_fov(view)                        # the disc, in loaded.rgb's coordinates
    report = assess_quality(view, fov=fov)        # edge_screen.quality
    crop, transform, _ = crop_image(loaded.rgb, prep, fov=fov)   # edge_screen.preprocess

The FOV is the bright disc on a dark surround: threshold the max channel relative to the surround,
ignore white padding touching the frame, take the convex hull of the largest region, and fit a circle
(or an axis-aligned ellipse) to its edge points that are not on the frame border.

Coordinates are OpenCV pixel-centre coordinates: pixel ``(i, j)`` has its centre at ``x=j, y=i``;
an image covers ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge_screen.errors import UsageError

logger = logging.getLogger(__name__)

#: The analysis copy's longer side is at least this many pixels (at most twice as many): FOV detection
#: works to ~1 px here, and the quality measures, which are averages over the disc or taken at a scale
#: relative to its diameter, do not need more.
ANALYSIS_SIDE = 256
#: The former name of :data:`ANALYSIS_SIDE`.
FOV_WORK_SIDE = ANALYSIS_SIDE
#: Detection acceptance: fraction of the thresholded region inside the fitted circle, ...
FOV_MIN_INSIDE = 0.90
#: ... fraction of the circle (within the frame) covered by the region, ...
FOV_MIN_FILL = 0.50
#: ... fraction of the circle's rim (in 10-degree bins) supported by edge points.
FOV_MIN_ARC = 0.30
#: ... radius relative to the shorter frame side.
FOV_RADIUS_RANGE = (0.2, 1.2)
#: ... fitting at least this fraction of the edge points (within 3 median deviations), ...
FOV_MIN_INLIERS = 0.6
#: ... reaching at most this far (fraction of the short side) beyond the frame, ...
FOV_MAX_BEYOND_FRAME = 0.3
#: ... and at most this ratio of the ellipse axes (1 = circle).
FOV_MAX_ASPECT = 1.7
#: A white-padded photo whose disc fits no curve needs a region of at least this frame fraction.
FOV_MIN_PADDED_AREA = 0.3


@dataclass(frozen=True)
class FieldOfView:
    """The fundus disc, in the coordinates of the image it was detected on.

    ``coverage`` is the fraction of the frame inside the disc (0..1); ``mask_threshold`` the
    max-channel intensity (0..255) that separated disc from surround. When ``found`` is False,
    the circle is the letterbox circle of the whole frame.
    """

    found: bool
    cx: float
    cy: float
    radius: float
    coverage: float
    mask_threshold: float

    def scaled(self, sx: float, sy: float | None = None) -> FieldOfView:
        """The same disc in a copy of the image resized by ``sx`` (width) and ``sy`` (height, default
        ``sx``), pixel-area convention ``x' + 0.5 = s (x + 0.5)``; the radius scales by ``sqrt(sx sy)``."""
        sy = sx if sy is None else sy
        return FieldOfView(self.found, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
                           self.radius * math.sqrt(sx * sy), self.coverage, self.mask_threshold)


@dataclass(frozen=True, eq=False)
class AnalysisCopy:
    """The small copy of a photo that FOV detection and the quality measures work on.

    Build it with :func:`analysis_copy`. Large images shrink by an integer factor ``k`` (OpenCV's
    exact INTER_AREA path: pixel ``j`` covers source pixels ``[j k, (j + 1) k)``); images under
    ``2 side`` are resized to ``side``; images of at most ``side`` pixels are used as they are.

    Attributes:
        rgb: ``(h, w, 3) uint8`` RGB.
        sx, sy: ``rgb`` width / source width and height / source height.
        source_size: ``(width, height)`` of the image it was made from.
    """

    rgb: np.ndarray
    sx: float
    sy: float
    source_size: tuple[int, int]

    @functools.cached_property
    def max_channel(self) -> np.ndarray:
        """``(h, w) uint8``: the brightest channel per pixel (disc vs surround, lit pixels)."""
        c0, c1, c2 = cv2.split(self.rgb)
        return cv2.max(cv2.max(c0, c1), c2)

    @functools.cached_property
    def padding(self) -> np.ndarray:
        """``(h, w) uint8`` 0/1: white letterbox padding (see :func:`white_padding`)."""
        return white_padding(self.rgb)

    def to_analysis(self, fov: FieldOfView) -> FieldOfView:
        """A field of view in source-image coordinates -> the same disc in this copy."""
        return fov.scaled(self.sx, self.sy)

    def to_source(self, fov: FieldOfView) -> FieldOfView:
        """A field of view in this copy -> the same disc in source-image coordinates."""
        return fov.scaled(1.0 / self.sx, 1.0 / self.sy)


def analysis_copy(rgb: np.ndarray, *, side: int = ANALYSIS_SIDE) -> AnalysisCopy:
    """The one small copy of ``rgb`` (``(H, W, 3) uint8`` RGB) for FOV detection and quality.

    The longer side ends up in ``side .. 2 side - 1`` pixels (``side`` exactly for images between
    ``side`` and ``2 side``; unchanged when already smaller).
    """
    check_rgb(rgb)
    height, width = rgb.shape[:2]
    k = max(width, height) // side
    if k >= 2:
        ws, hs = width // k, height // k
        small = cv2.resize(rgb[:hs * k, :ws * k], (ws, hs), interpolation=cv2.INTER_AREA)
        return AnalysisCopy(small, 1.0 / k, 1.0 / k, (width, height))
    if max(width, height) <= side:
        return AnalysisCopy(rgb, 1.0, 1.0, (width, height))
    f = side / max(width, height)
    ws, hs = max(1, round(width * f)), max(1, round(height * f))
    small = cv2.resize(rgb, (ws, hs), interpolation=cv2.INTER_AREA)
    return AnalysisCopy(small, ws / width, hs / height, (width, height))


def detect_fov(image: np.ndarray | AnalysisCopy) -> FieldOfView:
    """Find the fundus disc (bright, roughly circular) on its dark surround.

    Clipped discs (IDRiD: cut at the top and bottom) still give their side arcs. When no circle
    fits, an axis-aligned ellipse is tried (photos resized to a square without keeping the aspect
    ratio); its larger semi-axis is reported as the radius, so a square crop still holds it.

    Args:
        image: the :class:`AnalysisCopy` of a photo, or the photo itself as ``(H, W, 3) uint8``
            RGB (BGR works the same: only the channel maximum is used); its analysis copy is
            made here.

    Returns:
        The disc in the *source* image's pixel-centre coordinates (the photo, not the copy).
        ``found=False`` (with the frame's letterbox circle) when no disc-like region exists.
    """
    view = image if isinstance(image, AnalysisCopy) else analysis_copy(image)
    width, height = view.source_size
    threshold, region = _fov_region(view)
    not_found = FieldOfView(False, (width - 1) / 2, (height - 1) / 2, max(width, height) / 2,
                            0.0, threshold)
    if region is None:
        return not_found
    fit = _fit_disc(region, padded=bool(np.any(region & 4)))
    if fit is None:
        return not_found
    cx, cy, r, coverage = fit
    return view.to_source(FieldOfView(True, cx, cy, r, coverage, threshold))



def white_padding(small: np.ndarray) -> np.ndarray:
    """White letterbox padding (ODIR pads some photos with white up to a square).

    Padding is grey-white pixels that either lie in rows/columns >= 99 % white end to end, or
    are connected to a corner of the frame. An overexposed disc is white too, but it never
    reaches a frame corner (the corners of a fundus photo are dark surround) nor fills a row.

    Returns ``(h, w) uint8`` 0/1.
    """
    c0, c1, c2 = cv2.split(small)
    mn = cv2.min(cv2.min(c0, c1), c2)
    mx = cv2.max(cv2.max(c0, c1), c2)
    white = ((mn > 200) & (cv2.subtract(mx, mn) < 30)).astype(np.uint8)
    if not white.any():
        return white
    rows = white.mean(axis=1) >= 0.99
    cols = white.mean(axis=0) >= 0.99
    pad = white & (rows[:, None] | cols[None, :])
    _, labels = cv2.connectedComponents(white, connectivity=4)
    corners = np.unique(labels[[0, 0, -1, -1], [0, -1, 0, -1]])
    corners = corners[corners > 0]
    if corners.size:
        pad |= np.isin(labels, corners)
    return pad.astype(np.uint8)


def _fov_region(view: AnalysisCopy) -> tuple[float, np.ndarray | None]:
    """Threshold the analysis copy into the candidate disc region.

    Returns:
        ``(threshold, region)``: the threshold used on the blurred max channel; ``region`` a
        ``(h, w) uint8`` 0/1 mask of the convex hull of the largest bright component (``None`` if
        nothing bright), plus the border mask packed in bit 1 (value 2) marking frame border /
        white padding pixels, and the padding alone in bit 2 (value 4).
    """
    v = cv2.GaussianBlur(view.max_channel, (3, 3), 0)
    cdf = np.cumsum(np.bincount(v.ravel(), minlength=256)) / v.size
    lo, hi = float(np.searchsorted(cdf, 0.01)), float(np.searchsorted(cdf, 0.90))
    threshold = float(lo + max(3.0, 0.06 * (hi - lo)))
    fg = (v > threshold).astype(np.uint8)
    border = np.zeros_like(fg)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = 1
    pad = view.padding
    if pad.any():
        pad = cv2.dilate(pad, np.ones((5, 5), np.uint8))  # and its JPEG-blurred edge
        fg[pad > 0] = 0
        border |= pad
    # Opening drops thin bright lines (text, frame edges) that would bridge into the hull.
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n < 2:
        return threshold, None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[best, cv2.CC_STAT_AREA] < 0.02 * fg.size:
        return threshold, None
    comp = (labels == best).astype(np.uint8)
    contours, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    region = np.zeros_like(fg)
    cv2.fillConvexPoly(region, hull, 1)
    return threshold, region | (border << 1) | (pad << 2)


def _fit_disc(packed: np.ndarray, *, padded: bool = False
              ) -> tuple[float, float, float, float] | None:
    """Robust circle fit to the region's non-border edge; an axis-aligned ellipse when the
    circle does not fit (ODIR photos were resized to a square, squashing the disc).

    Returns ``(cx, cy, radius, coverage)`` in small-image pixels, radius = the larger semi-axis;
    None if the region is not disc-like.
    """
    region = packed & 1
    border = (packed >> 1) & 1
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    pts = max(contours, key=len).reshape(-1, 2)
    near_border = cv2.dilate(border, np.ones((3, 3), np.uint8))
    pts = pts[near_border[pts[:, 1], pts[:, 0]] == 0].astype(np.float64)
    if len(pts) < 12:
        return None
    for model in ("circle", "ellipse"):
        fit = _robust_fit(pts, model)
        if fit is not None:
            accepted = _accept(fit, region, border)
            if accepted is not None:
                return accepted
    if padded and cv2.countNonZero(region) >= FOV_MIN_PADDED_AREA * region.size \
            and _curved(pts):
        # The photo was cut and letterboxed on white: one side of the disc is missing, so no
        # curve fits; the region's bounding box is the best estimate of the field.
        x, y, bw, bh = cv2.boundingRect(region)
        logger.debug("FOV from the bounding box of a white-padded region")
        return (x + (bw - 1) / 2, y + (bh - 1) / 2, max(bw, bh) / 2,
                cv2.countNonZero(region) / region.size)
    return None


def _curved(pts: np.ndarray) -> bool:
    """True when the points bow away from their best straight line (an arc, not an edge)."""
    centred = pts - pts.mean(axis=0)
    _, sv, _ = np.linalg.svd(centred, full_matrices=False)
    return bool(sv[1] / max(sv[0], 1e-9) > 0.15)


def _robust_fit(pts: np.ndarray, model: str) -> tuple[float, float, float, float, np.ndarray] | None:
    """Iteratively trimmed algebraic fit; ``(cx, cy, a, b, inlier_points)``."""
    keep = np.ones(len(pts), bool)
    fit = None
    for _ in range(5):
        fit = _kasa(pts[keep]) if model == "circle" else _axis_ellipse(pts[keep])
        if fit is None:
            return None
        cx, cy, a, b = fit
        rho = np.hypot((pts[:, 0] - cx) / a, (pts[:, 1] - cy) / b)
        d = np.abs(rho - 1.0) * (0.5 * (a + b))
        tol = max(1.5, 3.0 * float(np.median(d[keep])))
        new = d < tol
        if new.sum() < 12 or np.array_equal(new, keep):
            break
        keep = new
    logger.debug("%s fit (%.1f, %.1f) axes %.1f/%.1f from %d/%d points", model, *fit,
                 keep.sum(), len(keep))
    if keep.mean() < FOV_MIN_INLIERS:
        return None
    return (*fit, pts[keep])


def _accept(fit: tuple, region: np.ndarray, border: np.ndarray
            ) -> tuple[float, float, float, float] | None:
    cx, cy, a, b, inliers = fit
    h, w = region.shape
    short = min(h, w)
    r = max(a, b)
    if not (FOV_RADIUS_RANGE[0] * short <= min(a, b) and r <= FOV_RADIUS_RANGE[1] * short
            and max(a, b) / min(a, b) <= FOV_MAX_ASPECT):
        return None
    # The disc may be clipped by the frame (IDRiD: ~12 % of the short side at top and bottom),
    # but a fit reaching far beyond it comes from a one-sided arc.
    reach = FOV_MAX_BEYOND_FRAME * short
    if min(cx - a, cy - b) < -reach or cx + a > w - 1 + reach or cy + b > h - 1 + reach:
        logger.debug("FOV rejected: disc reaches beyond the frame by more than %.0f px", reach)
        return None
    ang = np.arctan2((inliers[:, 1] - cy) / b, (inliers[:, 0] - cx) / a)
    arc = len(np.unique(((ang + np.pi) * (36 / (2 * np.pi))).astype(int))) / 36
    disc = np.zeros_like(region)
    cv2.ellipse(disc, (round(cx * 16), round(cy * 16)), (round(a * 16), round(b * 16)), 0, 0, 360,
                1, -1, cv2.LINE_8, 4)
    inter = cv2.countNonZero(disc & region)
    # A dark side of the disc may fall below the threshold (region = part of the disc), so ask
    # that the region lie inside the disc and fill a good part of it, not that they match.
    inside = inter / max(1, cv2.countNonZero(region))
    fill = inter / max(1, cv2.countNonZero(disc & (1 - border)))
    ok = arc >= FOV_MIN_ARC and inside >= FOV_MIN_INSIDE and fill >= FOV_MIN_FILL
    logger.debug("FOV %s: arc %.2f, inside %.2f, fill %.2f", "accepted" if ok else "rejected",
                 arc, inside, fill)
    if not ok:
        return None
    return cx, cy, r, cv2.countNonZero(disc) / disc.size


def _kasa(p: np.ndarray) -> tuple[float, float, float, float] | None:
    """Algebraic least-squares circle (Kasa) through points ``(N, 2)``: ``(cx, cy, r, r)``."""
    x, y = p[:, 0], p[:, 1]
    sol, *_ = np.linalg.lstsq(np.column_stack([x, y, np.ones_like(x)]), x * x + y * y, rcond=None)
    cx, cy = sol[0] / 2, sol[1] / 2
    r2 = sol[2] + cx * cx + cy * cy
    if r2 <= 1.0:
        return None
    r = float(np.sqrt(r2))
    return float(cx), float(cy), r, r


def _axis_ellipse(p: np.ndarray) -> tuple[float, float, float, float] | None:
    """Least-squares axis-aligned ellipse ``x^2 + beta y^2 + D x + E y + F = 0``:
    ``(cx, cy, a, b)``."""
    x, y = p[:, 0], p[:, 1]
    sol, *_ = np.linalg.lstsq(np.column_stack([y * y, x, y, np.ones_like(x)]), -x * x, rcond=None)
    beta, d, e, f = sol
    if beta <= 0:
        return None
    cx, cy = -d / 2, -e / (2 * beta)
    a2 = cx * cx + beta * cy * cy - f
    if a2 <= 1.0:
        return None
    return float(cx), float(cy), float(np.sqrt(a2)), float(np.sqrt(a2 / beta))


def check_rgb(rgb: np.ndarray) -> None:
    """UsageError unless ``rgb`` is an ``(H, W, 3) uint8`` array."""
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 \
            or rgb.dtype != np.uint8:
        shape = getattr(rgb, "shape", None)
        dtype = getattr(rgb, "dtype", type(rgb).__name__)
        raise UsageError(f"expected an (H, W, 3) uint8 RGB array, got shape {shape} {dtype}; "
                         "load images with edge_screen.imageio.load_image")

