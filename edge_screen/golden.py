"""The golden set a bundle carries for its on-device self-check (:mod:`edge_screen.selfcheck`).

About 16 real fundus crops (model input size, RGB), picked by the exporter: photos spread over the
FP32 probability range plus a few hard cases near the operating threshold, with the FP32 reference
outputs (probabilities and heatmaps) computed on exactly these pixels. Layout in the bundle::

    golden/<nn>_<name>.jpg     the crops (JPEG 4:4:4, a person can look at them)
    golden/reference.npz       probabilities [N,2] float32, heatmaps [N,h,w] float32 (FP32 reference)

and in ``manifest.json``::

    "golden": {"images": [{"file", "name", "kind": "sample"|"hard", "pixels_sha256"}, ...],
               "reference": {"model": "onnxruntime/fp32", "file": "golden/reference.npz"},
               "limits": {"max_verdict_flips": 0, "max_mean_abs_dp": 0.02, "min_heatmap_r": 0.9},
               "source": "..."}

JPEG keeps 16 crops at ~0.4 MB (PNG: 2 MB) inside the shipped bundle's 25 MB. The SHA-256 of the
decoded pixels is recorded: when this machine's decoder gives other pixels (a different libjpeg),
the stored reference does not apply and the self-check recomputes it with ONNX Runtime FP32 here
(``GoldenSet.exact`` is False).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from edge_screen.errors import BundleError, UsageError
from edge_screen.fidelity import FidelityLimits
from edge_screen.preprocess import normalize

if TYPE_CHECKING:
    from edge_screen.bundle import Bundle, BundleWriter

log = logging.getLogger(__name__)

GOLDEN_DIR = "golden"
REFERENCE_FILE = f"{GOLDEN_DIR}/reference.npz"
KINDS = ("sample", "hard")
DEFAULT_JPEG_QUALITY = 90


@dataclass(frozen=True)
class GoldenSet:
    """A bundle's golden set, decoded and normalised.

    ``inputs``: ``(N, 3, S, S)`` float32 model inputs (normalised and ordered as the bundle's
    preprocessing says). ``probabilities`` ``(N, 2)`` / ``heatmaps`` ``(N, h, w)`` float32: the
    reference model's outputs on the exporter's pixels. ``exact``: this machine decoded the same
    pixels (otherwise the reference must be recomputed here).
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    inputs: np.ndarray
    probabilities: np.ndarray
    heatmaps: np.ndarray
    reference: str
    limits: FidelityLimits
    exact: bool

    def __len__(self) -> int:
        return len(self.names)


def _pixels_sha256(rgb: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()).hexdigest()


def encode_crops(crops: np.ndarray, *, quality: int = DEFAULT_JPEG_QUALITY) -> tuple[list[bytes], np.ndarray]:
    """JPEG-encode ``(N, S, S, 3)`` uint8 RGB crops (4:4:4) and return ``(jpeg bytes, decoded crops)``.

    The golden inputs are the *decoded* pixels: compute the reference outputs on those.
    """
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8 or len(crops) == 0:
        raise UsageError(f"golden crops must be (N, S, S, 3) uint8 RGB, got {crops.shape} {crops.dtype}")
    if not 50 <= int(quality) <= 100:
        raise UsageError(f"golden JPEG quality must be in 50..100, got {quality}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    blobs, decoded = [], []
    for rgb in crops:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), params)
        if not ok:
            raise UsageError("OpenCV could not JPEG-encode a golden crop")
        blobs.append(buf.tobytes())
        decoded.append(_decode(blobs[-1], "new golden crop"))
    return blobs, np.stack(decoded)


def _decode(data: bytes, what: str) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise BundleError(f"golden image {what} is not a readable JPEG")
    return np.ascontiguousarray(bgr[..., ::-1])


def write_golden(
    writer: BundleWriter,
    jpegs: list[bytes],
    decoded: np.ndarray,
    *,
    names: list[str],
    kinds: list[str],
    probabilities: np.ndarray,
    heatmaps: np.ndarray,
    reference: str = "onnxruntime/fp32",
    limits: FidelityLimits = FidelityLimits(),
    source: str = "",
) -> dict[str, Any]:
    """Write the golden set into the bundle being built (replacing any old one); returns the manifest entry.

    ``decoded``/``probabilities``/``heatmaps``: from :func:`encode_crops` and the reference model
    run on ``normalize(decoded)``.
    """
    n = len(jpegs)
    if not (len(decoded) == len(names) == len(kinds) == len(probabilities) == len(heatmaps) == n) or n == 0:
        raise UsageError("golden set: jpegs, decoded, names, kinds, probabilities and heatmaps must have the same non-zero length")
    bad = sorted(set(kinds) - set(KINDS))
    if bad:
        raise UsageError(f"golden kinds {bad} are not valid; valid: {', '.join(KINDS)}")
    root = writer.root
    old = writer.manifest.get("golden") or {}
    for item in old.get("images", []):  # drop the previous set's files
        writer.remove_file(item["file"])
    (root / GOLDEN_DIR).mkdir(parents=True, exist_ok=True)
    images = []
    for i, (blob, rgb, name, kind) in enumerate(zip(jpegs, decoded, names, kinds)):
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))[:60] or "image"
        rel = f"{GOLDEN_DIR}/{i:02d}_{safe}.jpg"
        (root / rel).write_bytes(blob)
        writer.add_file(root / rel, rel)
        images.append({"file": rel, "name": str(name), "kind": kind, "pixels_sha256": _pixels_sha256(rgb)})
    buf = io.BytesIO()
    np.savez_compressed(buf, probabilities=np.asarray(probabilities, np.float32), heatmaps=np.asarray(heatmaps, np.float32))
    (root / REFERENCE_FILE).write_bytes(buf.getvalue())
    writer.add_file(root / REFERENCE_FILE, REFERENCE_FILE)
    entry = {"images": images, "reference": {"model": reference, "file": REFERENCE_FILE},
             "limits": limits.to_dict(), "source": source}  # fmt: skip
    writer.manifest["golden"] = entry
    return entry


def load_golden(bundle: Bundle) -> GoldenSet | None:
    """The bundle's golden set, or None when it has none. BundleError when it is malformed."""
    entry = bundle.manifest.get("golden")
    if not entry:
        return None
    try:
        images = list(entry["images"])
        ref = dict(entry["reference"])
        limits = FidelityLimits.from_dict(entry.get("limits"))
        with np.load(bundle.path(ref["file"]), allow_pickle=False) as z:
            probs = np.asarray(z["probabilities"], np.float32)
            heats = np.asarray(z["heatmaps"], np.float32)
    except (KeyError, TypeError, ValueError, OSError, UsageError) as exc:
        raise BundleError(f"bundle {bundle.name!r}: manifest 'golden' is malformed ({exc}); re-run edge-screen golden") from exc
    if not images or len(images) != len(probs) or len(probs) != len(heats) or probs.ndim != 2:
        raise BundleError(f"bundle {bundle.name!r}: golden set has {len(images)} images but reference shapes "
                          f"{probs.shape}/{heats.shape}; re-run edge-screen golden")  # fmt: skip
    prep = bundle.preprocessing
    size = prep.input_size
    inputs, exact = [], True
    for item in images:
        rgb = _decode(Path(bundle.path(item["file"])).read_bytes(), repr(item["file"]))
        if rgb.shape != (size, size, 3):
            raise BundleError(f"golden image {item['file']!r} is {rgb.shape[1]}x{rgb.shape[0]}, the model input is {size}x{size}")
        exact = exact and _pixels_sha256(rgb) == item.get("pixels_sha256")
        inputs.append(normalize(rgb, prep))
    if not exact:
        log.info("bundle %s: this machine's JPEG decoder gives other golden pixels; the FP32 reference is recomputed here",
                 bundle.name)  # fmt: skip
    return GoldenSet(
        names=tuple(str(i["name"]) for i in images),
        kinds=tuple(str(i.get("kind", "sample")) for i in images),
        inputs=np.stack(inputs).astype(np.float32),
        probabilities=probs,
        heatmaps=heats,
        reference=str(ref.get("model", "onnxruntime/fp32")),
        limits=limits,
        exact=exact,
    )
