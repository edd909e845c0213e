"""Measure one benchmark cell; meant to run in a fresh process (``python -m edge_screen.benchmarks.cells``).

A fresh process per cell makes peak RSS and load time honest: nothing is cached or already
imported from an earlier cell. The parent (:mod:`edge_screen.benchmarks.runner`) writes a
:class:`~edge_screen.benchmarks.harness.CellSpec` as JSON and reads back the result JSON.

End-to-end latency is what the CLI and the app do with a photo: in-memory JPEG bytes ->
``Screener.screen`` (decode with reduced DCT where allowed, field of view + crop + normalise,
quality gate, inference, heatmap mapped onto the original image) -> colour ``overlay`` on the
decoded image. Stage times come from ``ScreenResult.timings_ms`` plus the overlay. The teacher
has no bundle, so the same stages are run from the same core functions around PyTorch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge_screen.benchmarks.harness import CellSpec, finite_or_none, roc_auc, summarize, time_calls

logger = logging.getLogger(__name__)

Infer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
#: screen(jpeg bytes) -> (decoded RGB, heatmap over the original image or None, stage ms, verdict)
Screen = Callable[[bytes], tuple[np.ndarray, "np.ndarray | None", dict, str]]
#: End-to-end stages, in order; the first five are the Screener's ``timings_ms``.
STAGES = ("decode", "preprocess", "quality", "inference", "heatmap", "overlay")


def _proc_status_mib(key: str) -> float | None:
    """A ``/proc/self/status`` memory line (kB) in MiB; ``None`` where unreadable (not Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_mib() -> float:
    """Peak resident set size of this process image so far, MiB.

    Linux: ``VmHWM``, which starts afresh at ``exec``. ``ru_maxrss`` does not: a child spawned
    by a big parent (pytest with torch loaded) inherits the parent's peak from before ``exec``.
    Elsewhere ``ru_maxrss`` (KiB on Linux, bytes on macOS).
    """
    hwm = _proc_status_mib("VmHWM")
    if hwm is not None:
        return hwm
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024, 1)


def current_rss_mib() -> float | None:
    """Current RSS in MiB (``VmRSS``; ``None`` where unreadable)."""
    return _proc_status_mib("VmRSS")


def _set_threads(threads: int) -> None:
    """Give OpenCV the same thread budget as the model (decode/resize count against it too)."""
    import cv2

    cv2.setNumThreads(threads)


def _teacher_screen(infer: Infer, prep: Any) -> Screen:
    """The Screener's stages with a PyTorch model in place of the runtime (same order, same maps)."""
    from edge_screen.imageio import load_image
    from edge_screen.preprocess import detect_fov, preprocess
    from edge_screen.quality import assess_quality

    def screen(data: bytes) -> tuple[np.ndarray, np.ndarray | None, dict[str, float], str]:
        t = {}
        t0 = time.perf_counter()
        img = load_image(data, target_size=prep.input_size)
        t1 = time.perf_counter()
        fov = detect_fov(img.rgb)
        t2 = time.perf_counter()
        report = assess_quality(img.rgb, fov=fov)
        t3 = time.perf_counter()
        pp = preprocess(img.rgb, prep, fov=fov)
        t4 = time.perf_counter()
        _, heat = infer(pp.tensor[None])
        t5 = time.perf_counter()
        mapped = pp.transform.map_to_image(heat[0], size=img.original_size) if heat is not None else None
        t6 = time.perf_counter()
        t.update(decode=(t1 - t0) * 1e3, preprocess=(t2 - t1 + t4 - t3) * 1e3, quality=(t3 - t2) * 1e3,
                 inference=(t5 - t4) * 1e3, heatmap=(t6 - t5) * 1e3)
        return img.rgb, mapped, t, "graded" if report.ok else "ungradable"

    return screen


def _screener_screen(screener: Any) -> Screen:
    """``Screener.screen`` on bytes, as the CLI and the app call it; stages from its ``timings_ms``."""

    def screen(data: bytes) -> tuple[np.ndarray, np.ndarray | None, dict[str, float], str]:
        r = screener.screen(data)
        return r.image, r.image_heatmap, dict(r.timings_ms), r.verdict

    return screen


def _e2e(screen: Screen, data: bytes, *, runs: int, warmup: int) -> dict:
    """Time JPEG bytes -> screen -> colour overlay of the heatmap on the decoded image (ms).

    Stage times come from the screening pipeline (``decode``, ``preprocess``, ``quality``,
    ``inference``, ``heatmap``) plus ``overlay`` (what the app shows); ``total`` is measured around
    everything. Raises ``RuntimeError`` when the quality gate rejects the image (no inference ran,
    so the number would not be an end-to-end latency).
    """
    from edge_screen.heatmap import overlay

    samples: dict[str, list[float]] = {s: [] for s in (*STAGES, "total")}
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        rgb, heat, stages, verdict = screen(data)
        t1 = time.perf_counter()
        if verdict == "ungradable":
            raise RuntimeError("the camera image was rejected by the quality gate; give another --camera-source")
        if heat is not None:
            overlay(rgb, heat)
        t2 = time.perf_counter()
        if i < warmup:
            continue
        for name in STAGES[:-1]:
            samples[name].append(float(stages[name]))
        samples["overlay"].append((t2 - t1) * 1e3)
        samples["total"].append((t2 - t0) * 1e3)
    return {
        "total": summarize(samples["total"]),
        "stages": {s: summarize(samples[s]) for s in STAGES},
        "decoded_size": [int(rgb.shape[1]), int(rgb.shape[0])],
        "heatmap_size": list(heat.shape[::-1]) if heat is not None else None,
    }


def _accuracy(infer: Infer, prep: Any, spec: CellSpec) -> dict:
    """P(abnormal) for every image of the accuracy set (batched), AUC when labelled; writes probs_out."""
    from edge_screen.imageio import load_image
    from edge_screen.preprocess import preprocess

    data = json.loads(Path(spec.accuracy_set).read_text())
    paths, labels = data["paths"], data.get("labels")
    probs: list[float] = []
    t0 = time.perf_counter()
    for start in range(0, len(paths), spec.batch):
        chunk = paths[start:start + spec.batch]
        tensors = [preprocess(load_image(p, target_size=prep.input_size).rgb, prep).tensor for p in chunk]
        p, _ = infer(np.stack(tensors))
        probs.extend(float(v) for v in np.asarray(p)[:, 1])
    wall = time.perf_counter() - t0
    if spec.probs_out:
        Path(spec.probs_out).write_text(json.dumps({"paths": paths, "probs": probs}))
    out: dict[str, Any] = {"n": len(paths), "wall_s": round(wall, 2), "auc": None, "n_positive": None}
    if labels is not None:
        out["auc"] = finite_or_none(roc_auc(labels, probs))
        out["n_positive"] = int(sum(labels))
    return out


def _common(spec: CellSpec, infer: Infer, prep: Any, screen: Screen, result: dict) -> None:
    """Model-only latency, throughput, end-to-end and accuracy, filled into ``result``."""
    from edge_screen.imageio import load_image
    from edge_screen.preprocess import preprocess

    data = Path(spec.camera_jpeg).read_bytes() if spec.camera_jpeg else None
    if data is not None:  # a real preprocessed frame as the model-only input
        x = preprocess(load_image(data, target_size=prep.input_size).rgb, prep).tensor[None]
    else:
        x = np.random.default_rng(0).standard_normal((1, 3, prep.input_size, prep.input_size), dtype=np.float32)
    x = np.ascontiguousarray(x, dtype=np.float32)
    t0 = time.perf_counter()
    probs, heat = infer(x)
    result["first_run_ms"] = round((time.perf_counter() - t0) * 1e3, 3)
    result["output"] = {"probs_shape": list(np.shape(probs)),
                        "heatmap_shape": list(np.shape(heat)) if heat is not None else None}
    result["latency_ms"] = summarize(time_calls(lambda: infer(x), runs=spec.runs, warmup=spec.warmup))
    result["rss_after_latency_mib"] = current_rss_mib()
    if spec.batch > 1:
        xb = np.ascontiguousarray(np.repeat(x, spec.batch, axis=0))
        try:
            st = summarize(time_calls(lambda: infer(xb), runs=spec.throughput_runs, warmup=1))
            result["throughput"] = {"batch": spec.batch, "batch_latency_ms": st,
                                    "images_per_s": round(spec.batch * 1e3 / st["p50"], 2)}
        except Exception as exc:  # a static-batch graph refuses B>1: record it, keep the other numbers
            result["throughput"] = {"batch": spec.batch, "error": f"{type(exc).__name__}: {exc}"[:500]}
    # one image per batch, as the app screens one photo at a time
    result["throughput_batch1_images_per_s"] = round(1e3 / result["latency_ms"]["p50"], 2)
    # each block may fail on its own (e.g. a corrupt image in the set): record it, keep the rest
    if data is not None and spec.e2e_runs > 0:
        try:
            e2e = _e2e(screen, data, runs=spec.e2e_runs, warmup=min(3, spec.warmup))
            e2e["image_bytes"] = len(data)
        except Exception as exc:
            logger.debug("e2e failed", exc_info=True)
            e2e = {"error": f"{type(exc).__name__}: {exc}"[:1000]}
        result["e2e"] = e2e
    if spec.accuracy and spec.accuracy_set:
        try:
            result["accuracy"] = _accuracy(infer, prep, spec)
        except Exception as exc:
            logger.debug("accuracy failed", exc_info=True)
            result["accuracy"] = {"error": f"{type(exc).__name__}: {exc}"[:1000]}


def _measure_bundle(spec: CellSpec, result: dict) -> None:
    from edge_screen.bundle import load_bundle
    from edge_screen.screener import Screener

    # The self-check of this model on this machine (golden set vs FP32: verdicts, |dp|, heatmap r),
    # run (or read from the per-machine cache) before the load is timed, so load_ms stays a load time.
    from edge_screen.runtime import create_runtime

    checked = create_runtime(load_bundle(spec.bundle), backend=spec.backend, precision=spec.precision,
                             threads=spec.threads, device=spec.device)  # fmt: skip
    result["self_check"] = checked.selection.checks[0].to_dict() if checked.selection else None
    del checked
    t0 = time.perf_counter()
    bundle = load_bundle(spec.bundle)
    entry = bundle.model(spec.backend, spec.precision)
    native = bundle.preprocessing.input_size
    size = spec.input_size or native
    if size != native:  # the graph must accept another S (dynamic spatial axes); the runtime checks S
        prep = dataclasses.replace(bundle.preprocessing, input_size=size)
        bundle = dataclasses.replace(bundle, preprocessing=prep)
    # the Screener is what the CLI and the app load: bundle + runtime + quality thresholds
    screener = Screener(bundle, backend=spec.backend, precision=spec.precision, threads=spec.threads,
                        device=spec.device)
    runtime = screener.runtime
    result["load_ms"] = round((time.perf_counter() - t0) * 1e3, 3)
    result["rss_after_load_mib"] = current_rss_mib()
    files = {role: bundle.path(rel) for role, rel in entry.files.items()}
    result["model_files"] = {role: {"path": str(p.relative_to(bundle.root)), "bytes": p.stat().st_size}
                             for role, p in files.items() if p.is_file()}
    result["model_file_bytes"] = sum(v["bytes"] for v in result["model_files"].values())
    result.update(model_name=bundle.name, weights=f"bundle {bundle.id}", input_size=size,
                  native_input_size=native, threshold=bundle.threshold, runtime=runtime.describe(),
                  device=runtime.device)
    _common(spec, runtime.run, bundle.preprocessing, _screener_screen(screener), result)


def _measure_teacher(spec: CellSpec, result: dict) -> None:
    t0 = time.perf_counter()
    import torch

    from edge_screen.preprocess import Preprocessing
    from edge_screen.quantize.cam import with_heatmap
    from edge_screen.quantize.models import create_model

    torch.set_num_threads(spec.threads)
    result["import_torch_ms"] = round((time.perf_counter() - t0) * 1e3, 1)
    t0 = time.perf_counter()
    # pretrained=False: latency does not depend on the weights, and nothing may download
    model = create_model(spec.teacher, checkpoint=spec.checkpoint, pretrained=False)
    graph = with_heatmap(model).eval()
    device = torch.device("cuda" if (spec.device or "").lower() in ("cuda", "gpu") else "cpu")
    graph.to(device)
    result["load_ms"] = round((time.perf_counter() - t0) * 1e3, 3)
    result["rss_after_load_mib"] = current_rss_mib()
    cfg = model.default_cfg
    size = spec.input_size or int(cfg["input_size"])
    prep = Preprocessing(input_size=size, mean=tuple(cfg["mean"]), std=tuple(cfg["std"]),
                         color_order=cfg.get("color_order", "RGB"))
    n_params = sum(p.numel() for p in model.parameters())
    result.update(model_name=spec.teacher, input_size=size, native_input_size=int(cfg["input_size"]),
                  weights=f"checkpoint {spec.checkpoint}" if spec.checkpoint else
                  "random init (no checkpoint; latency does not depend on the weights)",
                  parameters=int(n_params), model_file_bytes=int(sum(p.numel() * p.element_size()
                                                                  for p in model.state_dict().values())),
                  model_file_note="FP32 state_dict tensor bytes (no file: model built in memory)",
                  heatmap_kind=graph.kind, device=str(device),
                  runtime={"backend": "torch", "precision": "fp32", "threads": torch.get_num_threads(),
                           "library_version": torch.__version__, "device": str(device)})
    if spec.checkpoint is None and spec.accuracy:
        result["accuracy_note"] = "skipped: random-init teacher has no meaningful accuracy"
        spec = dataclasses.replace(spec, accuracy=False)

    def infer(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            probs, heat = graph(torch.from_numpy(batch).to(device))
            if device.type == "cuda":
                torch.cuda.synchronize()
            return probs.cpu().numpy(), heat.cpu().numpy()

    _common(spec, infer, prep, _teacher_screen(infer, prep), result)


def measure_cell(spec: CellSpec) -> dict:
    """Run every measurement of one cell in this process.

    Returns:
        JSON-safe dict: the spec fields plus ``status`` ("ok" | "error"), ``load_ms``,
        ``latency_ms`` (:func:`~edge_screen.benchmarks.harness.summarize`), ``throughput``,
        ``e2e`` (``total`` + ``stages``), ``accuracy``, ``peak_rss_mib`` and ``wall_s``.
    """
    t_start = time.perf_counter()
    result: dict[str, Any] = {"id": spec.id, "spec": spec.to_dict(), "status": "ok", "error": None,
                              "pid": os.getpid(), "rss_start_mib": current_rss_mib(),
                              "loadavg_start": [round(v, 2) for v in os.getloadavg()]}
    _set_threads(spec.threads)
    try:
        if spec.kind == "bundle":
            _measure_bundle(spec, result)
        elif spec.kind == "teacher":
            _measure_teacher(spec, result)
        else:
            raise ValueError(f"unknown cell kind {spec.kind!r}; valid: bundle, teacher")
    except Exception as exc:  # one failed cell must not lose the others; the error is recorded
        logger.debug("cell %s failed", spec.id, exc_info=True)
        result["status"] = "error"
        result["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        result["traceback"] = traceback.format_exc()[-4000:]
    result["peak_rss_mib"] = peak_rss_mib()
    # 1-minute load average: above the core count, other processes competed for the CPU
    result["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    result["wall_s"] = round(time.perf_counter() - t_start, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m edge_screen.benchmarks.cells --spec SPEC.json --out RESULT.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    spec = CellSpec.from_dict(json.loads(args.spec.read_text()))
    result = measure_cell(spec)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(args.out)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
