"""Fundus preprocessing: THE one implementation, used by training and by every runtime.

Steps: detect the field of view (FOV: the bright disc on a dark surround), crop a square around
it (plus a margin, black padding where the square leaves the frame), resize to the model input
(INTER_AREA when shrinking) and normalise. The returned :class:`Transform` maps pixels both ways,
and maps a low-resolution heatmap back onto the image.

Coordinates are OpenCV pixel-centre coordinates: pixel ``(i, j)`` has its centre at ``x=j, y=i``;
the image covers ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import cv2
import numpy as np

from edge_screen.errors import UsageError


def check_known_fields(cls: type, d: dict, what: str) -> None:
    """UsageError naming the keys of ``d`` that are not fields of the dataclass ``cls`` (manifest/JSON input)."""
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - valid)
    if unknown:
        raise UsageError(f"unknown {what}(s) {unknown}; valid: {sorted(valid)}")


logger = logging.getLogger(__name__)

#: FOV detection runs on a copy whose longer side is this many pixels (speed; ~1 px precision).
FOV_WORK_SIDE = 256
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

_CROPS = ("fov", "none")
_ORDERS = ("RGB", "BGR")


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes a model input; stored in every bundle manifest.

    Attributes:
        input_size: side of the square model input, pixels.
        mean, std: per channel, applied to RGB/255 (in the order of ``color_order``).
        color_order: channel order of the tensor, ``"RGB"`` or ``"BGR"``.
        crop: ``"fov"`` (square around the detected disc) or ``"none"`` (whole image, letterboxed).
        fov_margin: extra border on each side of the disc, fraction of its diameter.
    """

    input_size: int = 384
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    color_order: str = "RGB"
    crop: str = "fov"
    fov_margin: float = 0.02

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        problems = []
        if not isinstance(self.input_size, (int, np.integer)) or not 16 <= self.input_size <= 4096:
            problems.append(f"input_size={self.input_size!r} (valid: an int in 16..4096)")
        if len(self.mean) != 3 or len(self.std) != 3:
            problems.append(f"mean={self.mean}, std={self.std} (valid: 3 values each)")
        elif not all(np.isfinite(self.mean)) or not all(np.isfinite(self.std)):
            # inf or NaN would give every image the same tensor, hence the same verdict
            problems.append(f"mean={self.mean}, std={self.std} (valid: finite numbers)")
        elif min(self.std) <= 0:
            problems.append(f"std={self.std} (valid: all > 0)")
        if self.color_order not in _ORDERS:
            problems.append(f"color_order={self.color_order!r} (valid: {', '.join(_ORDERS)})")
        if self.crop not in _CROPS:
            problems.append(f"crop={self.crop!r} (valid: {', '.join(_CROPS)})")
        if not 0.0 <= float(self.fov_margin) < 0.5:
            problems.append(f"fov_margin={self.fov_margin!r} (valid: 0 <= margin < 0.5)")
        if problems:
            raise UsageError("invalid preprocessing: " + "; ".join(problems))

    def to_dict(self) -> dict:
        """Manifest form (JSON-safe)."""
        return {"input_size": int(self.input_size), "mean": list(self.mean), "std": list(self.std),
                "color_order": self.color_order, "crop": self.crop,
                "fov_margin": float(self.fov_margin)}

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        """Inverse of :meth:`to_dict`; missing keys take the defaults, unknown keys are an error."""
        check_known_fields(cls, d, "preprocessing field")
        return cls(**d)


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


@dataclass(frozen=True)
class Transform:
    """Original image pixel -> model input pixel: ``x_in = matrix @ [x, y, 1]``.

    Attributes:
        matrix: ``(2, 3) float64`` affine (scale + translation for crops made here).
        input_size: side of the square model input.
        image_size: ``(width, height)`` of the image it was made from.
    """

    matrix: np.ndarray
    input_size: int
    image_size: tuple[int, int]

    def to_input(self, xy: np.ndarray) -> np.ndarray:
        """``(N, 2)`` image points -> ``(N, 2)`` model-input points (float64)."""
        p = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return p @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """``(N, 2)`` model-input points -> ``(N, 2)`` image points (float64)."""
        inv = cv2.invertAffineTransform(self.matrix)
        p = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return p @ inv[:, :2].T + inv[:, 2]

    def scaled(self, s: float) -> Transform:
        """The same crop for this image resized by ``s`` (e.g. 4.0 to go from a 1/4 decode to the
        original). Uses the pixel-area convention ``x' + 0.5 = s (x + 0.5)``."""
        return self._scaled_xy(float(s), float(s),
                               (round(self.image_size[0] * s), round(self.image_size[1] * s)))

    def _scaled_xy(self, sx: float, sy: float, size: tuple[int, int]) -> Transform:
        if sx <= 0 or sy <= 0:
            raise UsageError(f"scale must be > 0, got ({sx}, {sy})")
        a = self.matrix[:, :2] / np.array([sx, sy])
        t = self.matrix[:, 2] + self.matrix[:, :2] @ np.array([0.5 / sx - 0.5, 0.5 / sy - 0.5])
        return Transform(matrix=np.column_stack([a, t]), input_size=self.input_size,
                         image_size=(int(size[0]), int(size[1])))

    def map_to_image(self, m: np.ndarray, *, size: tuple[int, int] | None = None) -> np.ndarray:
        """Warp a map over the model input back onto the image.

        Args:
            m: ``(h, w)`` float map covering the whole model input (any resolution, e.g. a 12x12
                CAM); it is stretched to ``input_size`` (bilinear, pixel-area aligned).
            size: ``(width, height)`` of the output when it differs from ``image_size`` but shows
                the same picture (e.g. the original of a reduced decode).

        Returns:
            ``(H, W) float32``; 0 outside the crop.
        """
        m = np.asarray(m, dtype=np.float32)
        if m.ndim != 2 or min(m.shape) < 1:
            raise UsageError(f"map_to_image needs a (h, w) map, got shape {m.shape}")
        t = self
        if size is not None and tuple(size) != tuple(self.image_size):
            t = self._scaled_xy(size[0] / self.image_size[0], size[1] / self.image_size[1], size)
        width, height = t.image_size
        s = float(t.input_size)
        h, w = m.shape
        # model-input pixel -> map pixel (pixel-area aligned), composed with image -> input.
        k = np.array([[w / s, 0.0, 0.5 * w / s - 0.5], [0.0, h / s, 0.5 * h / s - 0.5]])
        a = k[:, :2] @ t.matrix
        a[:, 2] += k[:, 2]
        out = cv2.warpAffine(m, a, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REPLICATE)
        _zero_outside_crop(out, t)
        return out


@dataclass(frozen=True)
class Preprocessed:
    """Result of :func:`preprocess`.

    Attributes:
        tensor: ``(3, S, S) float32`` normalised, channel order as ``Preprocessing.color_order``.
        crop: ``(S, S, 3) uint8`` RGB, the cropped and resized image before normalisation.
        transform: image -> model input.
        fov: the field of view used (detected, or given).
    """

    tensor: np.ndarray
    crop: np.ndarray
    transform: Transform
    fov: FieldOfView


# --------------------------------------------------------------------------------------------
def detect_fov(rgb: np.ndarray) -> FieldOfView:
    """Find the fundus disc (bright, roughly circular) on its dark surround.

    Works on a copy downscaled to :data:`FOV_WORK_SIDE`: threshold the max channel relative to
    the surround, ignore white padding touching the frame, take the convex hull of the largest
    region, and fit a circle to the hull's edge points that are not on the frame border (discs
    clipped at the top and bottom, as in IDRiD, still give their side arcs). When no circle fits,
    an axis-aligned ellipse is tried (photos resized to a square without keeping the aspect
    ratio); its larger semi-axis is reported as the radius, so a square crop still holds it.

    Args:
        rgb: ``(H, W, 3) uint8`` RGB (BGR works the same: only the channel maximum is used).

    Returns:
        The circle in ``rgb``'s pixel-centre coordinates. ``found=False`` (with the frame's
        letterbox circle) when no disc-like region exists.
    """
    _check_rgb(rgb)
    height, width = rgb.shape[:2]
    small, sx, sy = _downscale(rgb, FOV_WORK_SIDE)
    v, threshold, region = _fov_region(small)
    not_found = FieldOfView(False, (width - 1) / 2, (height - 1) / 2, max(width, height) / 2,
                            0.0, threshold)
    if region is None:
        return not_found
    fit = _fit_disc(region, padded=bool(np.any(region & 4)))
    if fit is None:
        return not_found
    cx, cy, r, coverage = fit
    return FieldOfView(True, (cx + 0.5) / sx - 0.5, (cy + 0.5) / sy - 0.5,
                       r / float(np.sqrt(sx * sy)), coverage, threshold)


def _downscale(rgb: np.ndarray, side: int) -> tuple[np.ndarray, float, float]:
    """Shrink so that the longer side is at least ``side`` (about ``side`` to ``2 side``).

    Large images shrink by an integer factor (OpenCV's fast INTER_AREA path: small pixel ``j``
    covers original pixels ``[j k, (j + 1) k)``); images under ``2 side`` are resized to ``side``.
    Returns ``(small, sx, sy)`` with ``small`` width / ``rgb`` width (and height).
    """
    height, width = rgb.shape[:2]
    k = max(width, height) // side
    if k >= 2:
        ws, hs = width // k, height // k
        small = cv2.resize(rgb[:hs * k, :ws * k], (ws, hs), interpolation=cv2.INTER_AREA)
        return small, 1.0 / k, 1.0 / k
    if max(width, height) <= side:
        return rgb, 1.0, 1.0
    f = side / max(width, height)
    ws, hs = max(1, round(width * f)), max(1, round(height * f))
    return cv2.resize(rgb, (ws, hs), interpolation=cv2.INTER_AREA), ws / width, hs / height


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


def _fov_region(small: np.ndarray) -> tuple[np.ndarray, float, np.ndarray | None]:
    """Threshold a (small) image into the candidate disc region.

    Returns:
        ``(v, threshold, region)``: ``v`` the blurred max channel ``(h, w) uint8``; the threshold
        used; ``region`` a ``(h, w) uint8`` 0/1 mask of the convex hull of the largest bright
        component (``None`` if nothing bright), plus the border mask packed in bit 1 (value 2)
        marking frame border / white padding pixels, and the padding alone in bit 2 (value 4).
    """
    c0, c1, c2 = cv2.split(small)
    v = cv2.GaussianBlur(cv2.max(cv2.max(c0, c1), c2), (3, 3), 0)
    cdf = np.cumsum(np.bincount(v.ravel(), minlength=256)) / v.size
    lo, hi = float(np.searchsorted(cdf, 0.01)), float(np.searchsorted(cdf, 0.90))
    threshold = float(lo + max(3.0, 0.06 * (hi - lo)))
    fg = (v > threshold).astype(np.uint8)
    border = np.zeros_like(fg)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = 1
    pad = white_padding(small)
    if pad.any():
        pad = cv2.dilate(pad, np.ones((5, 5), np.uint8))  # and its JPEG-blurred edge
        fg[pad > 0] = 0
        border |= pad
    # Opening drops thin bright lines (text, frame edges) that would bridge into the hull.
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n < 2:
        return v, threshold, None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[best, cv2.CC_STAT_AREA] < 0.02 * fg.size:
        return v, threshold, None
    comp = (labels == best).astype(np.uint8)
    contours, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    region = np.zeros_like(fg)
    cv2.fillConvexPoly(region, hull, 1)
    return v, threshold, region | (border << 1) | (pad << 2)


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


def crop_image(rgb: np.ndarray, prep: Preprocessing, *,
               fov: FieldOfView | None = None) -> tuple[np.ndarray, Transform, FieldOfView]:
    """Square crop around the disc (or the letterboxed frame), resized to ``prep.input_size``.

    Args:
        rgb: ``(H, W, 3) uint8`` RGB.
        prep: the preprocessing (``crop``, ``fov_margin``, ``input_size`` are used).
        fov: a field of view already detected on ``rgb`` (skips detection).

    Returns:
        ``(crop (S, S, 3) uint8 RGB, transform, fov)``. With ``crop="fov"`` and no disc found, the
        whole image is letterboxed (black bars).
    """
    _check_rgb(rgb)
    height, width = rgb.shape[:2]
    if fov is None:
        fov = detect_fov(rgb) if prep.crop == "fov" else FieldOfView(
            False, (width - 1) / 2, (height - 1) / 2, max(width, height) / 2, 0.0, 0.0)
    if prep.crop == "fov" and fov.found:
        n = max(2, round(2 * fov.radius * (1 + 2 * prep.fov_margin)))
        cx, cy = fov.cx, fov.cy
    else:
        n, cx, cy = max(width, height), (width - 1) / 2, (height - 1) / 2
    size = prep.input_size
    # Shrinking by more than 2x first takes OpenCV's fast integer INTER_AREA path (k x k means),
    # then INTER_AREA for the rest: ~3x faster than one fractional INTER_AREA, and still an
    # exact area mapping, so the transform below holds.
    k = n // size if n >= 2 * size else 1
    n = k * -(-n // k)
    # An integer square keeps the transform exact: x_in + 0.5 = s (x + 0.5 - x0).
    x0, y0 = round(cx + 0.5 - n / 2), round(cy + 0.5 - n / 2)
    s = size / n
    matrix = np.array([[s, 0.0, s * (0.5 - x0) - 0.5], [0.0, s, s * (0.5 - y0) - 0.5]])
    square = _padded_square(rgb, x0, y0, n)
    if k > 1:
        square = cv2.resize(square, (n // k, n // k), interpolation=cv2.INTER_AREA)
    m = square.shape[0]
    interp = cv2.INTER_AREA if m > size else cv2.INTER_LINEAR
    crop = square if m == size else cv2.resize(square, (size, size), interpolation=interp)
    return crop, Transform(matrix=matrix, input_size=size, image_size=(width, height)), fov


def normalize(crop_uint8_rgb: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """``(S, S, 3) uint8 RGB`` -> ``(3, S, S) float32``: ``(x/255 - mean) / std`` in
    ``prep.color_order``."""
    if crop_uint8_rgb.ndim != 3 or crop_uint8_rgb.shape[2] != 3 or crop_uint8_rgb.dtype != np.uint8:
        raise UsageError(f"normalize needs (S, S, 3) uint8 RGB, got {crop_uint8_rgb.shape} "
                         f"{crop_uint8_rgb.dtype}")
    chw = np.transpose(crop_uint8_rgb, (2, 0, 1))
    mean, std = np.array(prep.mean, np.float32), np.array(prep.std, np.float32)
    if prep.color_order == "BGR":
        chw = chw[::-1]  # mean/std are given in the tensor's channel order
    out = chw.astype(np.float32)
    out *= (1.0 / (255.0 * std))[:, None, None]
    out -= (mean / std)[:, None, None]
    return out


def preprocess(rgb: np.ndarray, prep: Preprocessing, *,
               fov: FieldOfView | None = None) -> Preprocessed:
    """Detect (unless ``fov`` is given), crop, resize and normalise one image.

    Args:
        rgb: ``(H, W, 3) uint8`` RGB.
        prep: the bundle's preprocessing.
        fov: optional field of view already detected on ``rgb``.
    """
    crop, transform, fov = crop_image(rgb, prep, fov=fov)
    return Preprocessed(tensor=normalize(crop, prep), crop=crop, transform=transform, fov=fov)


# --------------------------------------------------------------------------------------------
def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 \
            or rgb.dtype != np.uint8:
        shape = getattr(rgb, "shape", None)
        dtype = getattr(rgb, "dtype", type(rgb).__name__)
        raise UsageError(f"expected an (H, W, 3) uint8 RGB array, got shape {shape} {dtype}; "
                         "load images with edge_screen.imageio.load_image")


def _padded_square(rgb: np.ndarray, x0: int, y0: int, n: int) -> np.ndarray:
    """``rgb[y0:y0+n, x0:x0+n]`` with black where the square leaves the frame (a view if inside)."""
    height, width = rgb.shape[:2]
    if x0 >= 0 and y0 >= 0 and x0 + n <= width and y0 + n <= height:
        return rgb[y0:y0 + n, x0:x0 + n]
    out = np.zeros((n, n, 3), np.uint8)
    xa, ya = max(x0, 0), max(y0, 0)
    xb, yb = min(x0 + n, width), min(y0 + n, height)
    if xb > xa and yb > ya:
        out[ya - y0:yb - y0, xa - x0:xb - x0] = rgb[ya:yb, xa:xb]
    return out


def _zero_outside_crop(out: np.ndarray, t: Transform) -> None:
    """Set pixels whose model-input position lies outside ``[-0.5, S - 0.5]^2`` to 0."""
    m = t.matrix
    height, width = out.shape
    lim = (-0.5, t.input_size - 0.5)
    if m[0, 1] == 0 and m[1, 0] == 0:
        for axis, (a, b, extent) in enumerate(((m[0, 0], m[0, 2], width),
                                               (m[1, 1], m[1, 2], height))):
            u = a * np.arange(extent) + b
            bad = (u < lim[0]) | (u >= lim[1])
            if axis == 0:
                out[:, bad] = 0
            else:
                out[bad, :] = 0
        return
    ones = np.ones((t.input_size, t.input_size), np.uint8)
    inside = cv2.warpAffine(ones, m, (width, height), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out[inside == 0] = 0
