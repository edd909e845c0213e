"""Measurement primitives shared by every benchmark cell.

* :func:`time_calls` / :func:`summarize`: warm up, then time each call with ``time.perf_counter``
  (garbage collection paused while timing, as ``timeit`` does) and report p50/p90/p99, mean, std.
* :func:`make_camera_jpeg`: a 12 MP camera-sized JPEG (4288x2848, the IDRiD fundus camera's frame)
  made by upscaling a real dev image, so end-to-end latency includes a realistic decode.
* :func:`read_labelled_set`: the accuracy side (AUC: :func:`edge_screen.metrics.roc_auc`).
* :func:`make_camera_folder`: several such JPEGs from different photos, for folder throughput.
* :class:`CellSpec`: one measurement cell (model x backend x precision x size x threads), run by
  :mod:`edge_screen.benchmarks.cells` in a fresh subprocess.
"""

from __future__ import annotations

import csv
import gc
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from edge_screen.errors import UsageError

logger = logging.getLogger(__name__)

#: IDRiD's camera (Kowa VX-10 alpha) frame, width x height.
CAMERA_SIZE = (4288, 2848)
CAMERA_JPEG_QUALITY = 92
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


def time_calls(fn: Callable[[], Any], *, runs: int, warmup: int) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times timed.

    Returns:
        ``runs`` wall-clock durations in milliseconds (``time.perf_counter``).
    """
    if runs < 1 or warmup < 0:
        raise UsageError(f"runs must be >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()  # a collection inside one timed call would show as a fake outlier in p99
    try:
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1e3)
    finally:
        if was_enabled:
            gc.enable()
    return samples


def summarize(samples_ms: Sequence[float]) -> dict[str, float]:
    """``{n, p50, p90, p99, mean, std, min, max}`` of durations in ms (percentiles: linear interpolation)."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        raise UsageError("cannot summarise zero timing samples; use runs >= 1")
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {
        "n": int(a.size),
        "p50": round(float(p50), 4),
        "p90": round(float(p90), 4),
        "p99": round(float(p99), 4),
        "mean": round(float(a.mean()), 4),
        "std": round(float(a.std(ddof=1)) if a.size > 1 else 0.0, 4),
        "min": round(float(a.min()), 4),
        "max": round(float(a.max()), 4),
    }


def _label_to_int(value: str, labels: Sequence[str], where: str) -> int:
    v = value.strip().lower()
    if v in ("0", "1"):
        return int(v)
    names = [name.lower() for name in labels]
    if v in names:
        return names.index(v)
    raise UsageError(f"{where}: label {value!r} is neither 0/1 nor one of {list(labels)}; fix the CSV")


def read_labelled_set(source: str | Path, *, labels: Sequence[str] = ("normal", "abnormal"),
                      limit: int | None = None) -> tuple[list[Path], list[int] | None]:
    """Images (and labels when there are any) from a folder or a CSV.

    Args:
        source: a CSV with columns ``file`` (relative to the CSV's folder, or absolute) and
            ``label`` (``normal``/``abnormal`` or 0/1); or a folder: its ``labels.csv`` when present,
            else every image file in it (unlabelled).
        labels: class names, index 1 = the positive (abnormal) class.
        limit: keep the first ``limit`` rows (``None``: all). Rows keep the file's order, so a
            limited set is the same set on every machine.

    Returns:
        ``(paths, labels)``; ``labels`` is ``None`` for an unlabelled folder.
    """
    src = Path(source)
    if src.is_dir() and (src / "labels.csv").is_file():
        src = src / "labels.csv"
    if src.is_dir():
        paths = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise UsageError(f"--images {source}: no labels.csv and no images ({', '.join(IMAGE_SUFFIXES)}) in it")
        return (paths[:limit] if limit else paths), None
    if not src.is_file():
        raise UsageError(f"--images {source}: no such file or folder; give a folder of images or a CSV with file,label")
    with src.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "file" not in reader.fieldnames:
            raise UsageError(f"{src}: CSV needs a 'file' column (and 'label' for accuracy), has {reader.fieldnames}")
        rows = list(reader)
    if limit:
        rows = rows[:limit]
    paths = [(src.parent / r["file"]) if not Path(r["file"]).is_absolute() else Path(r["file"]) for r in rows]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"{src}: {len(missing)} listed image(s) do not exist, e.g. {missing[0]}")
    if "label" not in (reader.fieldnames or []):
        return paths, None
    ys = [_label_to_int(r["label"], labels, f"{src} row {i + 2}") for i, r in enumerate(rows)]
    return paths, ys


def make_camera_jpeg(source: Path | None, out_dir: Path, *, size: tuple[int, int] = CAMERA_SIZE,
                     quality: int = CAMERA_JPEG_QUALITY) -> tuple[Path, dict]:
    """Write (or reuse) a camera-sized JPEG for end-to-end timing.

    Args:
        source: a real fundus image to upscale (cubic) to ``size``; ``None``: a synthetic fundus
            of that size (:func:`edge_screen.synthetic.synthetic_fundus`).
        out_dir: cache folder; the file name encodes source, size and quality, so it is reused.
        size: ``(width, height)`` in pixels.
        quality: JPEG quality 1..100.

    Returns:
        ``(path, info)``; ``info`` records source, size, quality and file bytes.
    """
    import cv2

    w, h = size
    stem = source.stem if source is not None else "synthetic"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"camera_{stem}_{w}x{h}_q{quality}.jpg"
    info = {"source": str(source) if source is not None else "edge_screen.synthetic.synthetic_fundus(seed=0)",
            "width": w, "height": h, "jpeg_quality": quality,
            "method": "cv2.resize INTER_CUBIC + cv2.imencode" if source is not None else "synthetic + cv2.imencode"}
    if not path.is_file():
        if source is not None:
            bgr = cv2.imread(str(source), cv2.IMREAD_COLOR)
            if bgr is None:
                raise UsageError(f"cannot read camera source image {source}; give a JPEG/PNG with --camera-source")
            info["source_size"] = [int(bgr.shape[1]), int(bgr.shape[0])]
            bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_CUBIC)
        else:
            from edge_screen.synthetic import synthetic_fundus

            bgr = cv2.cvtColor(synthetic_fundus(seed=0, width=w, height=h), cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise UsageError(f"OpenCV could not JPEG-encode the {w}x{h} camera image")
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(buf.tobytes())
        tmp.replace(path)
    info["bytes"] = path.stat().st_size
    return path, info


def make_camera_folder(sources: Sequence[Path], out_dir: Path, *, n: int, size: tuple[int, int] = CAMERA_SIZE,
                       quality: int = CAMERA_JPEG_QUALITY) -> list[Path]:
    """``n`` camera-sized JPEGs (:func:`make_camera_jpeg`) from the first ``n`` of ``sources`` (cycled
    when there are fewer), in ``out_dir``: a folder as a clinic PC would screen it."""
    if not sources:
        raise UsageError("folder throughput needs source photos: give --images with IDRiD-like photos")
    paths = []
    for i in range(n):
        src = sources[i % len(sources)]
        p, _ = make_camera_jpeg(src, out_dir / f"{i // len(sources)}", size=size, quality=quality)
        paths.append(p)
    return paths


def pick_camera_source(paths: Sequence[Path]) -> Path | None:
    """The first IDRiD image (``idrid_*``: same 3:2 aspect as the camera) of a set, else the first image."""
    for p in paths:
        if p.name.lower().startswith("idrid_"):
            return p
    return paths[0] if paths else None


@dataclass(frozen=True)
class CellSpec:
    """One benchmark cell, serialisable to JSON for the child process.

    ``kind``: ``"bundle"`` (a model of an edge-screen bundle on a runtime) or ``"teacher"``
    (a registry model in FP32 PyTorch). ``input_size`` ``None`` = the model's own size.
    """

    kind: str
    backend: str
    precision: str
    threads: int
    input_size: int | None = None
    bundle: str | None = None
    teacher: str | None = None          # registry name
    checkpoint: str | None = None       # teacher weights (None: random init)
    device: str | None = None
    runs: int = 100
    warmup: int = 10
    batch: int = 8
    throughput_runs: int = 12
    e2e_runs: int = 50
    camera_jpeg: str | None = None
    accuracy_set: str | None = None     # JSON file {"paths": [...], "labels": [...]} written by the runner
    accuracy: bool = False              # measure accuracy in this cell (one thread count per group)
    probs_out: str | None = None        # where to write per-image P(abnormal)
    settings: str = "tuned"             # "tuned" (the project's runtime) | "default" (library defaults, ORT)
    folder: str | None = None           # JSON {"paths": [...]} of 12 MP JPEG files for folder throughput
    folder_rounds: int = 0              # alternating model / folder rounds (0 = not measured)
    extra: dict = field(default_factory=dict)

    @property
    def model_label(self) -> str:
        return "teacher" if self.kind == "teacher" else "student"

    @property
    def backend_label(self) -> str:
        """``backend`` plus ``-default`` for library-default settings, ``torch`` for eager PyTorch."""
        return f"{self.backend}-default" if self.settings == "default" else self.backend

    @property
    def id(self) -> str:
        size = self.input_size if self.input_size else "native"
        return f"{self.model_label}/{self.backend_label}/{self.precision}/{size}/t{self.threads}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CellSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise UsageError(f"unknown cell spec keys {sorted(unknown)}; valid: {sorted(known)}")
        return cls(**d)


def rechecked_agreement(probs: Sequence[float], reference: Sequence[float], threshold: float, margin: float) -> dict:
    """:func:`verdict_agreement` of what the screener reports with the borderline re-check
    (:mod:`edge_screen.recheck`): photos within ``margin`` of the threshold take the reference (FP32)
    probability. Adds ``margin`` and ``rechecked`` (the share of photos inside the band)."""
    from edge_screen.recheck import rechecked_probability

    p = np.asarray(probs, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if p.shape != r.shape or p.size == 0:
        raise UsageError(f"cannot compare verdicts of {p.size} and {r.size} images; both runs need the same set")
    screened, band = rechecked_probability(p, r, threshold, margin)
    return {**verdict_agreement(screened, r, threshold), "margin": float(margin), "rechecked": float(band.mean())}


def verdict_agreement(probs: Sequence[float], reference: Sequence[float], threshold: float) -> dict:
    """Share of images whose verdict (P(abnormal) >= threshold) equals the reference's.

    Returns:
        ``{agreement (0..1), n, max_abs_prob_diff, mean_abs_prob_diff}``.
    """
    p = np.asarray(probs, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if p.shape != r.shape or p.size == 0:
        raise UsageError(f"cannot compare verdicts of {p.size} and {r.size} images; both runs need the same set")
    diff = np.abs(p - r)
    return {
        "agreement": float(np.mean((p >= threshold) == (r >= threshold))),
        "n": int(p.size),
        "max_abs_prob_diff": float(diff.max()),
        "mean_abs_prob_diff": float(diff.mean()),
    }


