"""Measure one benchmark cell; meant to run in a fresh process (``python -m edge_screen.benchmarks.cells``).

A fresh process per cell makes peak RSS and load time honest: nothing is cached or already
imported from an earlier cell. The parent (:mod:`edge_screen.benchmarks.runner`) writes a
:class:`~edge_screen.benchmarks.harness.CellSpec` as JSON and reads back the result JSON.

Every cell runs through the real :class:`~edge_screen.screener.Screener`, the teacher and the
plain-PyTorch student included (``Screener(bundle, runtime=TorchRuntime(...))``), so all cells pay the
same decode, analysis copy, quality gate, crop and heatmap mapping. End-to-end latency is what the
CLI and the app do with a photo: in-memory JPEG bytes -> ``Screener.screen`` -> the heatmap mapped
onto the decoded image -> colour ``overlay``. Ratios are measured in the same process, interleaved
(these machines are shared and noisy): end-to-end vs model-only (one model-only call before every
end-to-end call), and folder throughput (``Screener.screen_many`` over a folder of 12 MP JPEGs) vs
the model's own batch throughput (alternating rounds).
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
from pathlib import Path
from typing import Any

import numpy as np

from edge_screen.benchmarks.harness import CellSpec, summarize, time_calls
from edge_screen.metrics import finite_or_none, roc_auc

logger = logging.getLogger(__name__)

#: End-to-end stages, in order: the Screener's per-image ``timings_ms``, the batch-of-one inference,
#: the heatmap mapped onto the decoded image and the colour overlay.
STAGES = ("decode", "fov", "quality", "preprocess", "inference", "heatmap", "overlay")


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


def cpu_snapshot() -> dict:
    """Machine-wide and own CPU time so far (``/proc/stat`` jiffies, ``getrusage``), for :func:`cpu_busy`."""
    snap: dict[str, float] = {"t": time.monotonic()}
    ru, rc = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    snap["own_s"] = ru.ru_utime + ru.ru_stime + rc.ru_utime + rc.ru_stime  # children: once waited for
    try:
        fields_ = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        vals = [int(v) for v in fields_]
        hz = os.sysconf("SC_CLK_TCK")
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        steal = vals[7] if len(vals) > 7 else 0
        snap["busy_s"] = (sum(vals[:8]) - idle - steal) / hz
        snap["steal_s"] = steal / hz
    except (OSError, ValueError, IndexError):
        pass
    return snap


def cpu_busy(before: dict, after: dict) -> dict:
    """How busy the machine was between two snapshots, in cores: everyone, this cell, the others."""
    wall = max(after["t"] - before["t"], 1e-9)
    own = (after["own_s"] - before["own_s"]) / wall
    out = {"wall_s": round(wall, 2), "own_cores": round(own, 2)}
    if "busy_s" in before and "busy_s" in after:
        busy = (after["busy_s"] - before["busy_s"]) / wall
        out.update(machine_busy_cores=round(busy, 2), others_cores=round(max(0.0, busy - own), 2),
                   steal_cores=round((after["steal_s"] - before["steal_s"]) / wall, 2))
    return out


def _build_screener(spec: CellSpec, result: dict) -> Any:
    """The Screener of this cell: a bundle model on its runtime, or a PyTorch model injected."""
    from edge_screen.bundle import load_bundle
    from edge_screen.screener import Screener

    if spec.bundle is None:
        raise ValueError("every cell runs through the Screener, which needs a bundle (its preprocessing, "
                         "threshold and quality settings); give --bundle")
    t0 = time.perf_counter()
    bundle = load_bundle(spec.bundle)
    if spec.kind == "bundle":
        if spec.settings != "default":
            # the self-check of this model on this machine (golden set vs FP32: verdicts, |dp|, heatmap r),
            # run (or read from the per-machine cache) before the load is timed, so load_ms stays a load time
            from edge_screen.runtime import create_runtime

            checked = create_runtime(bundle, backend=spec.backend, precision=spec.precision, threads=spec.threads,
                                     device=spec.device)  # fmt: skip
            result["self_check"] = checked.selection.checks[0].to_dict() if checked.selection else None
            del checked
            t0 = time.perf_counter()
            bundle = load_bundle(spec.bundle)
        entry = bundle.model(spec.backend, spec.precision)
        native = bundle.preprocessing.input_size
        size = spec.input_size or native
        if size != native:  # the graph must accept another S (dynamic spatial axes); the runtime checks S
            bundle = dataclasses.replace(bundle, preprocessing=dataclasses.replace(bundle.preprocessing, input_size=size))
        if spec.settings == "default":
            # what a user gets with onnxruntime.InferenceSession(path): no thread or other options set
            from edge_screen.benchmarks.alt_runtimes import PlainOrtRuntime

            runtime = PlainOrtRuntime(bundle, entry)
        else:
            from edge_screen.runtime import create_runtime

            runtime = create_runtime(bundle, backend=spec.backend, precision=spec.precision, threads=spec.threads,
                                     device=spec.device)
        screener = Screener(bundle, runtime=runtime)
        result["load_ms"] = round((time.perf_counter() - t0) * 1e3, 3)
        files = {role: bundle.path(rel) for role, rel in entry.files.items()}
        result["model_files"] = {role: {"path": str(p.relative_to(bundle.root)), "bytes": p.stat().st_size}
                                 for role, p in files.items() if p.is_file()}
        result["model_file_bytes"] = sum(v["bytes"] for v in result["model_files"].values())
        result.update(model_name=bundle.name, weights=f"bundle {bundle.id}", input_size=size,
                      native_input_size=native, threshold=bundle.threshold)
    else:  # "teacher" or "torch-student": a registry model in eager FP32 PyTorch
        import torch

        from edge_screen.benchmarks.alt_runtimes import TorchRuntime
        from edge_screen.quantize.cam import with_heatmap
        from edge_screen.quantize.model_spec import resolve_preprocessing
        from edge_screen.quantize.models import create_model

        torch.set_num_threads(spec.threads)
        result["import_torch_ms"] = round((time.perf_counter() - t0) * 1e3, 1)
        # pretrained=False: latency does not depend on the weights, and nothing may download
        model = create_model(spec.teacher, checkpoint=spec.checkpoint, pretrained=False)
        graph = with_heatmap(model).eval()
        if spec.kind == "teacher":
            prep = resolve_preprocessing(model, {"input_size": spec.input_size})
            size = prep.input_size
            bundle = dataclasses.replace(bundle, preprocessing=prep, name=spec.teacher)
        else:  # the bundle's own student, same preprocessing, in plain PyTorch
            size = bundle.preprocessing.input_size
        runtime = TorchRuntime(bundle, graph, threads=spec.threads, device=spec.device)
        # a PyTorch graph has no gate outputs: hand-set checks only, in every torch cell alike
        screener = Screener(bundle, runtime=runtime, gate=False)
        result["load_ms"] = round((time.perf_counter() - t0) * 1e3, 3)
        n_params = sum(p.numel() for p in model.parameters())
        result.update(model_name=spec.teacher, input_size=size, native_input_size=int(model.spec.input_size),
                      weights=f"checkpoint {spec.checkpoint}" if spec.checkpoint else
                      "random init (no checkpoint; latency does not depend on the weights)",
                      parameters=int(n_params), model_file_bytes=int(sum(p.numel() * p.element_size()
                                                                      for p in model.state_dict().values())),
                      model_file_note="FP32 state_dict tensor bytes (no file: model built in memory)",
                      heatmap_kind=graph.kind, threshold=bundle.threshold)
    result["rss_after_load_mib"] = current_rss_mib()
    result.update(runtime=runtime.describe(), device=runtime.device)
    return screener


def _e2e(screener: Any, data: bytes, x: np.ndarray, *, runs: int, warmup: int) -> dict:
    """JPEG bytes -> ``Screener.screen`` -> heatmap on the decoded image -> colour overlay (ms).

    Stage times: the Screener's per-image ``timings_ms`` (decode, fov, quality, preprocess), its
    batch-of-one ``inference_ms``, the heatmap mapping and the overlay; ``total`` is measured around
    everything. Before every end-to-end call one model-only call on ``x`` is timed, so
    ``model_only_interleaved`` saw the same machine load as the end-to-end samples. Raises
    ``RuntimeError`` when the quality gate rejects the image (no inference ran).
    """
    from edge_screen.heatmap import overlay

    samples: dict[str, list[float]] = {s: [] for s in (*STAGES, "total", "model_only", "cpu_total", "cpu_model")}
    for i in range(warmup + runs):
        cm, tm = time.process_time(), time.perf_counter()
        screener.runtime.run(x)
        c0, t0 = time.process_time(), time.perf_counter()
        r = screener.screen(data)
        t1 = time.perf_counter()
        if r.verdict == "ungradable":
            raise RuntimeError(f"the camera image was rejected by the quality gate ({r.quality.reasons}); "
                               "give another --camera-source")
        heat = r.image_heatmap
        t2 = time.perf_counter()
        overlay(r.image, heat)
        t3, c3 = time.perf_counter(), time.process_time()
        if i < warmup:
            continue
        samples["cpu_total"].append((c3 - c0) * 1e3)  # CPU time of the process, all threads
        samples["cpu_model"].append((c0 - cm) * 1e3)
        for name in ("decode", "fov", "quality", "preprocess"):
            samples[name].append(float(r.timings_ms[name]))
        samples["inference"].append(float(r.batch.inference_ms))
        samples["heatmap"].append((t2 - t1) * 1e3)
        samples["overlay"].append((t3 - t2) * 1e3)
        samples["total"].append((t3 - t0) * 1e3)
        samples["model_only"].append((t0 - tm) * 1e3)
    total, model = summarize(samples["total"]), summarize(samples["model_only"])
    return {
        "total": total,
        "stages": {s: summarize(samples[s]) for s in STAGES},
        "model_only_interleaved": model,
        "e2e_minus_model_p50_ms": round(total["p50"] - model["p50"], 3),
        "e2e_over_model_p50": round(total["p50"] / model["p50"], 3),
        # CPU time (all threads of this process) is much less disturbed by other processes than wall
        # time: its difference is what the pipeline costs on top of the model on this CPU
        "cpu_ms": {"e2e_p50": round(float(np.median(samples["cpu_total"])), 3),
                   "model_only_p50": round(float(np.median(samples["cpu_model"])), 3),
                   "e2e_minus_model_p50": round(float(np.median(samples["cpu_total"]) - np.median(samples["cpu_model"])), 3)},
        "decoded_size": [int(r.image.shape[1]), int(r.image.shape[0])],
        "heatmap_size": list(heat.shape[::-1]) if heat is not None else None,
    }


def _folder(screener: Any, paths: list[str], x: np.ndarray, *, batch: int, rounds: int) -> dict:
    """Folder throughput (``screen_many`` over 12 MP JPEG files) vs the model's batch throughput.

    Alternating rounds: the model on ``len(paths)`` images in batches of ``batch``, then one pass of
    ``screen_many(paths, batch_size=batch, heatmap=False)`` with the default worker threads, then one
    with ``workers=0`` (no overlap). images/s per round; the ratio of medians.
    """
    from edge_screen.screener import ScreenFailure, default_workers

    xb = np.ascontiguousarray(np.repeat(x, batch, axis=0))
    n_batches = max(1, len(paths) // batch)
    rates: dict[str, list[float]] = {"model": [], "pipelined": [], "serial": []}
    cpu: dict[str, list[float]] = {"model": [], "pipelined": [], "serial": []}  # process CPU ms per image
    for i in range(rounds + 1):  # round 0 warms up (page cache, thread pools)
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n_batches):
            screener.runtime.run(xb)
        model_rate = n_batches * batch / (time.perf_counter() - t0)
        model_cpu = (time.process_time() - c0) * 1e3 / (n_batches * batch)
        rate, rate_cpu = {}, {}
        for mode, workers in (("pipelined", None), ("serial", 0)):
            c0, t0 = time.process_time(), time.perf_counter()
            out = list(screener.screen_many(paths, batch_size=batch, heatmap=False, workers=workers))
            rate[mode] = len(out) / (time.perf_counter() - t0)
            rate_cpu[mode] = (time.process_time() - c0) * 1e3 / len(out)
            bad = [o for o in out if isinstance(o, ScreenFailure) or o.verdict == "ungradable"]
            if bad:
                raise RuntimeError(f"{len(bad)} folder images not graded, e.g. {bad[0]}")
        if i == 0:
            continue
        rates["model"].append(model_rate)
        rates["pipelined"].append(rate["pipelined"])
        rates["serial"].append(rate["serial"])
        cpu["model"].append(model_cpu)
        cpu["pipelined"].append(rate_cpu["pipelined"])
        cpu["serial"].append(rate_cpu["serial"])
    med = {k: float(np.median(v)) for k, v in rates.items()}
    cpu_med = {k: float(np.median(v)) for k, v in cpu.items()}
    return {"n_images": len(paths), "batch": batch, "rounds": rounds, "workers": default_workers(),
            "images_per_s": {k: round(v, 2) for k, v in med.items()},
            "rounds_images_per_s": {k: [round(v, 2) for v in vs] for k, vs in rates.items()},
            "pipelined_over_model": round(med["pipelined"] / med["model"], 3),
            "serial_over_model": round(med["serial"] / med["model"], 3),
            "pipelined_over_serial": round(med["pipelined"] / med["serial"], 3),
            # CPU ms per image (all threads): with every core busy, throughput is cores / CPU per image, so
            # model / pipelined CPU is the most the folder ratio can reach on a CPU-bound machine
            "cpu_ms_per_image": {k: round(v, 2) for k, v in cpu_med.items()},
            "cpu_bound_limit_of_ratio": round(cpu_med["model"] / cpu_med["pipelined"], 3)}


def _accuracy(screener: Any, spec: CellSpec) -> dict:
    """P(abnormal) for every image of the accuracy set (batched), AUC when labelled; writes probs_out.

    Quality gate NOT applied (every image gets a probability): decode reduced, FOV, crop, normalise
    as the Screener does, then the cell's runtime.
    """
    from edge_screen.imageio import load_image
    from edge_screen.preprocess import preprocess

    prep = screener.bundle.preprocessing
    data = json.loads(Path(spec.accuracy_set).read_text())
    paths, labels = data["paths"], data.get("labels")
    probs: list[float] = []
    t0 = time.perf_counter()
    for start in range(0, len(paths), spec.batch):
        chunk = paths[start:start + spec.batch]
        tensors = [preprocess(load_image(p, target_size=prep.input_size).rgb, prep).tensor for p in chunk]
        p, _ = screener.runtime.run(np.stack(tensors))
        probs.extend(float(v) for v in np.asarray(p)[:, 1])
    wall = time.perf_counter() - t0
    if spec.probs_out:
        Path(spec.probs_out).write_text(json.dumps({"paths": paths, "probs": probs}))
    out: dict[str, Any] = {"n": len(paths), "wall_s": round(wall, 2), "auc": None, "n_positive": None}
    if labels is not None:
        out["auc"] = finite_or_none(roc_auc(labels, probs))
        out["n_positive"] = int(sum(labels))
    return out


def _measure(spec: CellSpec, result: dict) -> None:
    """Load, model-only latency and throughput, end to end, folder throughput and accuracy."""
    from edge_screen.imageio import load_image
    from edge_screen.preprocess import preprocess

    screener = _build_screener(spec, result)
    prep = screener.bundle.preprocessing
    infer = screener.runtime.run
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
            e2e = _e2e(screener, data, x, runs=spec.e2e_runs, warmup=min(3, spec.warmup))
            e2e["image_bytes"] = len(data)
        except Exception as exc:
            logger.debug("e2e failed", exc_info=True)
            e2e = {"error": f"{type(exc).__name__}: {exc}"[:1000]}
        result["e2e"] = e2e
    if spec.folder and spec.folder_rounds > 0:
        try:
            paths = json.loads(Path(spec.folder).read_text())["paths"]
            result["folder"] = _folder(screener, paths, x, batch=spec.batch, rounds=spec.folder_rounds)
        except Exception as exc:
            logger.debug("folder failed", exc_info=True)
            result["folder"] = {"error": f"{type(exc).__name__}: {exc}"[:1000]}
    if spec.accuracy and spec.accuracy_set:
        if spec.kind != "bundle" and spec.checkpoint is None:
            result["accuracy_note"] = "skipped: a random-init model has no meaningful accuracy"
        else:
            try:
                result["accuracy"] = _accuracy(screener, spec)
            except Exception as exc:
                logger.debug("accuracy failed", exc_info=True)
                result["accuracy"] = {"error": f"{type(exc).__name__}: {exc}"[:1000]}


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
    before = cpu_snapshot()
    try:
        if spec.kind not in ("bundle", "teacher", "torch-student"):
            raise ValueError(f"unknown cell kind {spec.kind!r}; valid: bundle, teacher, torch-student")
        _measure(spec, result)
    except Exception as exc:  # one failed cell must not lose the others; the error is recorded
        logger.debug("cell %s failed", spec.id, exc_info=True)
        result["status"] = "error"
        result["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        result["traceback"] = traceback.format_exc()[-4000:]
    result["cpu_busy"] = cpu_busy(before, cpu_snapshot())
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
