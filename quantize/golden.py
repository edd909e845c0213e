"""Build a bundle's golden set (:mod:`edge_screen.golden`) from real photos and its FP32 ONNX.

Which photos: ``count - hard`` spread evenly over the FP32 probability range (so both verdicts and
confident and unsure cases are present) and ``hard`` near the operating threshold. "Near" has a
floor: a faithful INT8 model still moves single probabilities by up to ~0.1 (measured on the default
model, max |dp| over 300 photos), so a hard case closer than ``MIN_LOGIT_MARGIN`` in logit would
flag faithful models as broken. Photos whose FP32 heatmap is (almost) empty are not used: their
correlation is noise.

``edge-screen golden BUNDLE --images DATA`` runs :func:`build_golden` on an existing bundle;
``edge-screen export`` and ``edge-screen requantize`` call it for every bundle they write.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from edge_screen.errors import EdgeScreenError, UsageError
from edge_screen.fidelity import FidelityLimits
from edge_screen.golden import DEFAULT_JPEG_QUALITY, encode_crops, write_golden

log = logging.getLogger(__name__)

DEFAULT_COUNT = 16
DEFAULT_HARD = 4
DEFAULT_POOL = 160
#: hard cases lie this far from the threshold in logit (|logit p - logit t|), at least ...
MIN_LOGIT_MARGIN = 0.3
#: ... and at most (widened when the pool has too few).
MAX_LOGIT_MARGIN = 0.8
MIN_HEAT_COVERAGE = 0.05  # fraction of heatmap cells > 0.1 for a map to count as informative


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def pick_golden(probs: np.ndarray, heatmaps: np.ndarray, threshold: float, *, count: int = DEFAULT_COUNT,
                hard: int = DEFAULT_HARD) -> tuple[list[int], list[str]]:  # fmt: skip
    """Indices and kinds ("sample" / "hard") of the golden images among candidates with these FP32 outputs.

    ``probs`` ``[N]`` P(abnormal); ``heatmaps`` ``[N,h,w]``. Deterministic for the same inputs.
    """
    if not 1 <= hard < count:
        raise UsageError(f"golden set: need 1 <= hard ({hard}) < count ({count})")
    probs = np.asarray(probs, np.float64)
    informative = (np.asarray(heatmaps).reshape(len(probs), -1) > 0.1).mean(1) >= MIN_HEAT_COVERAGE
    pool = np.flatnonzero(informative)
    if len(pool) < count:
        raise UsageError(f"golden set: only {len(pool)} of {len(probs)} photos have an informative FP32 heatmap; "
                         f"{count} are needed: pass more photos (--images)")  # fmt: skip
    dist = np.abs(_logit(probs) - _logit(np.array([threshold]))[0])
    chosen: list[int] = []
    hi = MAX_LOGIT_MARGIN
    while True:
        band = [i for i in pool if MIN_LOGIT_MARGIN <= dist[i] <= hi]
        # alternate below / above the threshold so both verdicts have a hard case
        below = sorted((i for i in band if probs[i] < threshold), key=lambda i: dist[i])
        above = sorted((i for i in band if probs[i] >= threshold), key=lambda i: dist[i])
        order = [x for pair in zip(below, above) for x in pair] + below[len(above):] + above[len(below):]
        if len(order) >= hard or hi > 4.0:
            chosen = [int(i) for i in order[:hard]]
            break
        hi *= 1.5
    if len(chosen) < hard:
        log.warning("golden set: only %d photos lie near the threshold; using them as hard cases", len(chosen))
    rest = np.array([i for i in pool if i not in chosen])
    rest = rest[np.argsort(probs[rest], kind="stable")]
    want = count - len(chosen)
    picks = rest[np.unique(np.linspace(0, len(rest) - 1, want).round().astype(int))]
    indices = chosen + [int(i) for i in picks]
    return indices, ["hard"] * len(chosen) + ["sample"] * len(picks)


def _denormalize(images: np.ndarray, prep) -> np.ndarray:  # noqa: ANN001 - Preprocessing
    """Model inputs ``(N,3,S,S)`` float32 back to the ``(N,S,S,3)`` uint8 RGB crops they were made from
    (exact: :func:`edge_screen.preprocess.normalize` is affine per channel)."""
    mean, std = np.array(prep.mean, np.float64), np.array(prep.std, np.float64)
    x = (np.asarray(images, np.float64) * std[None, :, None, None] + mean[None, :, None, None]) * 255.0
    if prep.color_order == "BGR":
        x = x[:, ::-1]
    return np.clip(np.rint(x), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1).copy()


def load_crops(source: str | os.PathLike | list[str], prep, *, match: str | None = None, pool: int = DEFAULT_POOL,
               seed: int = 0) -> tuple[np.ndarray, list[str]]:  # noqa: ANN001 - Preprocessing  # fmt: skip
    """Up to ``pool`` photos of ``source`` (labels.csv, folder or list of paths), names matching the glob ``match``,
    as ``(N, S, S, 3)`` uint8 RGB crops (the bundle's preprocessing) and their names (file stems)."""
    from edge_screen.imageio import load_image
    from edge_screen.preprocess import preprocess
    from edge_screen.quantize.data import read_samples

    if isinstance(source, (list, tuple)):
        from edge_screen.quantize.data import Sample

        samples = [Sample(str(p), -1) for p in source]
    else:
        samples = read_samples(source)
    if match:
        samples = [s for s in samples if fnmatch.fnmatch(Path(s.path).name, match)]
    if not samples:
        raise UsageError(f"no photos in {source}" + (f" match {match!r}" if match else ""))
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(samples), size=min(pool, len(samples)), replace=False))
    crops, names = [], []
    for i in idx:
        try:
            img = load_image(samples[int(i)].path, target_size=prep.input_size)
        except EdgeScreenError as exc:
            log.warning("golden set: skipping %s (%s)", samples[int(i)].path, exc)
            continue
        crops.append(preprocess(img.rgb, prep).crop)
        names.append(Path(samples[int(i)].path).stem)
    if not crops:
        raise UsageError(f"no readable photos in {source}")
    return np.stack(crops), names


def build_golden(
    bundle_root: str | os.PathLike,
    source: Any,
    *,
    match: str | None = None,
    count: int = DEFAULT_COUNT,
    hard: int = DEFAULT_HARD,
    pool: int = DEFAULT_POOL,
    quality: int = DEFAULT_JPEG_QUALITY,
    limits: FidelityLimits = FidelityLimits(),
    attribution: str = "",
) -> dict:
    """(Re)write the golden set of the bundle folder ``bundle_root`` from photos in ``source``:
    a labels.csv / folder, a list of paths, or an :class:`~edge_screen.quantize.calib.ImageSet`.

    The reference outputs come from the bundle's ``onnxruntime/fp32`` model on the JPEG-decoded
    crops. Returns the manifest's ``golden`` entry.
    """
    from edge_screen.bundle import BundleWriter, load_bundle
    from edge_screen.preprocess import normalize
    from edge_screen.quantize.onnx_export import run_onnx

    bundle = load_bundle(bundle_root)
    fp32 = bundle.path(bundle.model("onnxruntime", "fp32").files["model"])
    if hasattr(source, "images"):  # an ImageSet (export): its preprocessed photos, no second decode
        keep = [i for i, p in enumerate(source.paths) if not match or fnmatch.fnmatch(Path(p).name, match)]
        keep = keep if len(keep) <= pool else list(np.sort(np.random.default_rng(0).choice(keep, pool, replace=False)))
        if not keep:
            raise UsageError(f"no photos of the image set match {match!r}")
        crops = _denormalize(source.images[keep], bundle.preprocessing)
        names = [Path(source.paths[i]).stem for i in keep]
    else:
        crops, names = load_crops(source, bundle.preprocessing, match=match, pool=pool)
    jpegs, decoded = encode_crops(crops, quality=quality)
    x = np.stack([normalize(c, bundle.preprocessing) for c in decoded])
    outs = [run_onnx(fp32, x[i : i + 8]) for i in range(0, len(x), 8)]
    probs = np.concatenate([o[0] for o in outs])
    heats = np.concatenate([o[1] for o in outs])
    idx, kinds = pick_golden(probs[:, 1], heats, bundle.threshold, count=count, hard=hard)
    writer = BundleWriter(bundle.root)
    entry = write_golden(writer, [jpegs[i] for i in idx], decoded[idx], names=[names[i] for i in idx], kinds=kinds,
                         probabilities=probs[idx], heatmaps=heats[idx], reference="onnxruntime/fp32",
                         limits=limits, source=attribution or _describe(source))  # fmt: skip
    writer.write()
    size = sum((bundle.root / i["file"]).stat().st_size for i in entry["images"])
    log.info("golden set of %s: %d photos (%d hard), %.0f KB", bundle.root, len(idx), kinds.count("hard"), size / 1e3)
    return entry


def _describe(source: Any) -> str:
    if hasattr(source, "paths"):
        return f"{len(source.paths)} photos given to the exporter"
    if isinstance(source, (list, tuple)):
        return f"{len(source)} photos given to the exporter"
    return f"photos from {Path(source).name}"
