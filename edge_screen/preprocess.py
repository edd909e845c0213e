"""Fundus preprocessing: THE one implementation, used by training and by every runtime.

A photo becomes a model input in one crop: a square around the field of view (FOV, found on the
photo's analysis copy by :func:`edge_screen.fundus.detect_fov`), plus a margin, black padding where
the square leaves the frame, resized to the model input (INTER_AREA when shrinking) and normalised.
The returned :class:`Transform` maps pixels both ways, and maps a low-resolution heatmap back onto
the image.

Coordinates are OpenCV pixel-centre coordinates: pixel ``(i, j)`` has its centre at ``x=j, y=i``;
the image covers ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import cv2
import numpy as np

from edge_screen.errors import UsageError
# The field of view lives in edge_screen.fundus; these names stay importable from here.
from edge_screen.fundus import (ANALYSIS_SIDE, FOV_WORK_SIDE, AnalysisCopy, FieldOfView,  # noqa: F401
                                analysis_copy, check_rgb, detect_fov, white_padding)


def check_known_fields(cls: type, d: dict, what: str) -> None:
    """UsageError naming the keys of ``d`` that are not fields of the dataclass ``cls`` (manifest/JSON input)."""
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - valid)
    if unknown:
        raise UsageError(f"unknown {what}(s) {unknown}; valid: {sorted(valid)}")


logger = logging.getLogger(__name__)


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
        fast = _square_of(t)
        if fast is not None:
            return _paste_square(m, *fast, width, height)
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
    check_rgb(rgb)
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
    planes = cv2.split(crop_uint8_rgb)  # contiguous channel planes (a strided CHW view is ~10x slower)
    if prep.color_order == "BGR":
        planes = planes[::-1]  # mean/std are given in the tensor's channel order
    mean, std = np.array(prep.mean, np.float32), np.array(prep.std, np.float32)
    scale, shift = (1.0 / (255.0 * std)).astype(np.float32), (mean / std).astype(np.float32)
    out = np.empty((3, *crop_uint8_rgb.shape[:2]), np.float32)
    for c, plane in enumerate(planes):
        np.multiply(plane, scale[c], out=out[c], dtype=np.float32)
        out[c] -= shift[c]
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
def _square_of(t: Transform) -> tuple[int, int, int] | None:
    """``(x0, y0, n)`` when ``t`` is an integer square crop ``[x0, x0 + n)^2`` of the image (every
    transform :func:`crop_image` makes, at the image's own size); None otherwise."""
    m = t.matrix
    if m[0, 1] != 0 or m[1, 0] != 0 or m[0, 0] != m[1, 1] or m[0, 0] <= 0:
        return None
    s = float(m[0, 0])
    n, x0, y0 = t.input_size / s, 0.5 - (m[0, 2] + 0.5) / s, 0.5 - (m[1, 2] + 0.5) / s
    r = [round(v) for v in (x0, y0, n)]
    if any(abs(v - q) > 1e-6 for v, q in zip((x0, y0, n), r)) or r[2] < 1:
        return None
    return r[0], r[1], r[2]


def _paste_square(m: np.ndarray, x0: int, y0: int, n: int, width: int, height: int) -> np.ndarray:
    """The map stretched over the square ``[x0, x0 + n)^2`` (bilinear, pixel-area aligned: what
    the general warp computes for such a crop, by a separable resize of the part inside the frame), 0 elsewhere."""
    out = np.zeros((height, width), np.float32)
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + n, width), min(y0 + n, height)
    if xb <= xa or yb <= ya:
        return out
    h, w = m.shape
    # resize maps destination pixel d to source (d + 0.5) * w / n - 0.5; the square starts at x0
    if (xa, ya, xb, yb) == (x0, y0, x0 + n, y0 + n):
        out[ya:yb, xa:xb] = cv2.resize(m, (n, n), interpolation=cv2.INTER_LINEAR)
        return out
    big = cv2.resize(m, (n, n), interpolation=cv2.INTER_LINEAR)
    out[ya:yb, xa:xb] = big[ya - y0:yb - y0, xa - x0:xb - x0]
    return out


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
