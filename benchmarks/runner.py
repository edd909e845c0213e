"""Plan the benchmark cells, run each in a fresh subprocess, and assemble ``results.json``.

Cells: every model of the bundle (filtered by backends / precisions) x input size x thread count,
plus the teacher in FP32 PyTorch at each thread count, plus (``app=True``) the desktop app's
start-up-to-ready time. Backends that are not installed here (TensorRT on a CPU box) are recorded
as ``skipped`` with the reason, so the same command runs unchanged on a Jetson or a CUDA machine.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge_screen.benchmarks.harness import (
    CAMERA_JPEG_QUALITY,
    CAMERA_SIZE,
    CellSpec,
    make_camera_folder,
    make_camera_jpeg,
    pick_camera_source,
    read_labelled_set,
    rechecked_agreement,
    summarize,
    verdict_agreement,
)
from edge_screen.benchmarks.report import SCHEMA
from edge_screen.benchmarks.startup import measure_app, measure_cli
from edge_screen.errors import EdgeScreenError, UsageError

logger = logging.getLogger(__name__)

DEFAULT_TEACHER = "jang2024_resnet50"


@dataclass(frozen=True)
class BenchmarkConfig:
    """Everything ``edge-screen benchmark`` was asked for (recorded in results.json)."""

    out: Path
    bundle: Path | None = None
    teacher: str | None = None              # registry name or checkpoint path
    teacher_model: str = DEFAULT_TEACHER
    teacher_size: int | None = None
    backends: tuple[str, ...] | None = None
    precisions: tuple[str, ...] | None = None
    threads: tuple[int, ...] = (1, 2)
    sizes: tuple[int, ...] | None = None
    images: Path | None = None
    limit_images: int | None = None
    runs: int = 100
    warmup: int = 10
    e2e_runs: int = 50
    batch: int = 8
    device: str | None = None
    camera_source: Path | None = None
    camera_size: tuple[int, int] = CAMERA_SIZE
    app: bool = False
    app_runs: int = 3
    cell_timeout_s: float = 1800.0
    smoke: bool = False
    folder_images: int = 16                 # 12 MP JPEGs in the folder-throughput folder
    folder_rounds: int = 3                  # alternating model / folder rounds per bundle cell (0 = skip)
    alternatives: bool = True               # also the student in eager PyTorch and ONNX Runtime with default settings
    student_model: str = "effnet_lite0"     # registry name of the bundle's student (for the PyTorch cell)
    cli_runs: int = 5                       # `edge-screen screen IMG` wall time per backend (0 = skip)

    @classmethod
    def smoke_defaults(cls, **kw: object) -> BenchmarkConfig:
        """Few runs: proves the pipeline, numbers are not meant to be read."""
        base = dict(runs=5, warmup=1, e2e_runs=2, batch=2, limit_images=8, app_runs=1, smoke=True,
                    folder_images=4, folder_rounds=1, cli_runs=1)
        base.update({k: v for k, v in kw.items() if v is not None})
        return cls(**base)  # type: ignore[arg-type]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def _teacher_weights(cfg: BenchmarkConfig) -> tuple[str | None, str, str | None]:
    """(label, registry name, checkpoint path or None) for ``--teacher``."""
    if cfg.teacher is None:
        return None, cfg.teacher_model, None
    p = Path(cfg.teacher)
    if p.is_file():
        return cfg.teacher, cfg.teacher_model, str(p.resolve())
    if p.suffix in (".pt", ".pth", ".ckpt", ".pth.tar") or os.sep in cfg.teacher:
        raise UsageError(f"--teacher {cfg.teacher}: no such checkpoint file; give a path or a model name "
                         f"such as {DEFAULT_TEACHER} (random init)")
    return cfg.teacher, cfg.teacher, None


def plan_cells(cfg: BenchmarkConfig, *, cache: Path, accuracy_set: Path | None,
               camera_jpeg: Path, folder: Path | None = None) -> tuple[list[CellSpec], list[dict]]:
    """The cells to run and the ones skipped up front (``{"id", "status": "skipped", "reason"}``).

    Bundle cells also measure folder throughput (when ``folder`` lists the 12 MP JPEGs). With
    ``cfg.alternatives``: the same student in eager FP32 PyTorch at each thread count, and ONNX
    Runtime FP32 with library-default settings (what a user would otherwise pick).
    """
    cells: list[CellSpec] = []
    skipped: list[dict] = []
    common = dict(runs=cfg.runs, warmup=cfg.warmup, batch=cfg.batch, e2e_runs=cfg.e2e_runs,
                  throughput_runs=max(2, cfg.runs // max(cfg.batch, 1)), camera_jpeg=str(camera_jpeg),
                  device=cfg.device, accuracy_set=str(accuracy_set) if accuracy_set else None)
    acc_threads = max(cfg.threads)  # accuracy does not depend on threads: measure it once per group
    # eager PyTorch models are 20-100x slower: a fifth of the runs still gives stable medians
    slow = dict(common, runs=min(cfg.runs, max(10, cfg.runs // 5)), e2e_runs=min(cfg.e2e_runs, max(5, cfg.e2e_runs // 5)),
                throughput_runs=2, warmup=min(cfg.warmup, 3))
    if cfg.bundle is not None:
        from edge_screen.bundle import load_bundle
        from edge_screen.runtime import get_runtime_class

        bundle = load_bundle(cfg.bundle)
        entries = [e for e in bundle.models if (not cfg.backends or e.backend in cfg.backends)
                   and (not cfg.precisions or e.precision in cfg.precisions)]
        if not entries:
            have = ", ".join(f"{e.backend}/{e.precision}" for e in bundle.models)
            raise UsageError(f"bundle {bundle.name!r} has no model matching --backends {list(cfg.backends or ['any'])} "
                             f"--precisions {list(cfg.precisions or ['any'])}; it has: {have}")
        for entry in entries:
            reason = None
            try:
                cls = get_runtime_class(entry.backend)
                if not cls.is_available():
                    reason = cls.unavailable_message()
                elif not cls.accepts(entry):
                    reason = (f"entry has files {sorted(entry.files)}, the {entry.backend} runtime needs "
                              f"{list(cls.required_files)}" + (f"; {entry.extra['note']}" if "note" in entry.extra else ""))
            except EdgeScreenError as exc:  # unknown or broken backend
                reason = str(exc)
            for size in cfg.sizes or (None,):
                for t in cfg.threads:
                    spec = CellSpec(kind="bundle", backend=entry.backend, precision=entry.precision, threads=t,
                                    input_size=size, bundle=str(Path(cfg.bundle).resolve()),
                                    accuracy=t == acc_threads, folder=str(folder) if folder else None,
                                    folder_rounds=cfg.folder_rounds if folder else 0, **common)
                    if reason:
                        skipped.append({"id": spec.id, "spec": spec.to_dict(), "status": "skipped", "reason": reason})
                        continue
                    cells.append(dataclasses.replace(
                        spec, probs_out=str(cache / f"probs_{spec.id.replace('/', '_')}.json")))
        if cfg.alternatives:
            import importlib.util

            fp32 = [e for e in bundle.models if e.backend == "onnxruntime" and e.precision == "fp32"]
            if fp32:  # ORT as `InferenceSession(path)` gives it: default threads (physical cores), spinning on
                cells.append(CellSpec(kind="bundle", backend="onnxruntime", precision="fp32", threads=acc_threads,
                                      settings="default", bundle=str(Path(cfg.bundle).resolve()),
                                      **{**common, "accuracy_set": None}))
            for t in cfg.threads:
                spec = CellSpec(kind="torch-student", backend="torch", precision="fp32", threads=t,
                                teacher=cfg.student_model, bundle=str(Path(cfg.bundle).resolve()),
                                **{**slow, "accuracy_set": None})
                if importlib.util.find_spec("torch") is None:
                    skipped.append({"id": spec.id, "spec": spec.to_dict(), "status": "skipped",
                                    "reason": "PyTorch is not installed here: pip install 'edge-screen[train]'"})
                else:
                    cells.append(spec)
    label, name, ckpt = _teacher_weights(cfg)
    if label is not None:
        if cfg.bundle is None:
            raise UsageError("the teacher cell runs through the Screener and takes the bundle's quality settings: "
                             "give --bundle too")
        for t in cfg.threads:
            spec = CellSpec(kind="teacher", backend="torch", precision="fp32", threads=t, input_size=cfg.teacher_size,
                            teacher=name, checkpoint=ckpt, accuracy=t == acc_threads,
                            bundle=str(Path(cfg.bundle).resolve()), **slow)
            cells.append(dataclasses.replace(spec, probs_out=str(cache / f"probs_{spec.id.replace('/', '_')}.json")))
    if not cells and not cfg.app:
        raise UsageError("nothing to benchmark: give --bundle and/or --teacher (or --app); "
                         f"skipped: {[s['id'] + ': ' + s['reason'] for s in skipped]}")
    return cells, skipped


def run_cell_subprocess(spec: CellSpec, *, work: Path, timeout_s: float) -> dict:
    """Run :func:`edge_screen.benchmarks.cells.measure_cell` in a fresh Python; return its result."""
    stem = spec.id.replace("/", "_")
    spec_path = work / f"spec_{stem}.json"
    out_path = work / f"result_{stem}.json"
    spec_path.write_text(json.dumps(spec.to_dict(), indent=1))
    out_path.unlink(missing_ok=True)
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(spec.threads)  # numpy/torch/OpenCV pools get the same budget as the model
    cmd = [sys.executable, "-m", "edge_screen.benchmarks.cells", "--spec", str(spec_path), "--out", str(out_path)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"id": spec.id, "spec": spec.to_dict(), "status": "error",
                "error": f"cell ran past --cell-timeout {timeout_s:.0f} s and was stopped"}
    wall = time.perf_counter() - t0
    if not out_path.is_file():
        return {"id": spec.id, "spec": spec.to_dict(), "status": "error",
                "error": f"child exited {proc.returncode} without a result: {proc.stderr[-1500:]}"}
    result = json.loads(out_path.read_text())
    result["process_wall_s"] = round(wall, 2)  # includes interpreter start and imports
    return result


#: The targets of issue 16 (same run, 2 threads): name -> (comparison, limit).
TARGETS = {
    "e2e_minus_model_p50_ms": ("<=", 8.0),
    "folder_over_model_batch": (">=", 0.8),
    "teacher_over_student_e2e": (">=", 50.0),
    "cli_single_image_ms": ("<=", 500.0),
    "app_to_screened_ms": ("<=", 1200.0),
}


def _target(name: str, value: float | None) -> dict:
    op, limit = TARGETS[name]
    met = None if value is None else (value <= limit if op == "<=" else value >= limit)
    return {"value": value, "target": f"{op} {limit:g}", "met": met}


def ratio_table(cells: list[dict]) -> list[dict]:
    """One row per tuned student cell: the ratios of issue 16, each measured within one run.

    ``e2e_minus_model_p50_ms`` / ``e2e_over_model_p50``: end to end vs the model-only calls
    interleaved with it (same cell). ``folder_over_model_batch``: ``screen_many`` over the 12 MP
    folder vs the model's batch throughput, alternating rounds (same cell). ``teacher_over_student_e2e``:
    the FP32 PyTorch teacher's end-to-end p50 over this cell's (same thread count). Alternatives: the same
    student in eager PyTorch, ONNX Runtime FP32 with default settings. CLI: ``edge-screen screen IMG``
    wall time for this backend/precision.
    """
    ok = [c for c in cells if c.get("status") == "ok"]
    by_kind = lambda kind: [c for c in ok if (c.get("spec") or {}).get("kind") == kind]  # noqa: E731
    apps = [c for c in ok if c.get("kind") == "app"]
    rows = []
    for s in by_kind("bundle"):
        spec = s["spec"]
        if spec.get("settings", "tuned") != "tuned":
            continue
        t = spec["threads"]
        e2e = s.get("e2e") or {}
        folder = s.get("folder") or {}
        row: dict = {"cell": s["id"], "threads": t}
        row["model_p50_ms"] = s["latency_ms"]["p50"]
        row["e2e_p50_ms"] = (e2e.get("total") or {}).get("p50")
        row["e2e_over_model_p50"] = e2e.get("e2e_over_model_p50")
        row["e2e_minus_model_p50_ms"] = _target("e2e_minus_model_p50_ms", e2e.get("e2e_minus_model_p50_ms"))
        row["folder_images_per_s"] = (folder.get("images_per_s") or {}).get("pipelined")
        row["model_batch_images_per_s"] = (folder.get("images_per_s") or {}).get("model")
        row["folder_over_model_batch"] = _target("folder_over_model_batch", folder.get("pipelined_over_model"))
        row["folder_serial_over_model_batch"] = folder.get("serial_over_model")
        teacher = next((c for c in by_kind("teacher") if c["spec"]["threads"] == t), None)
        if teacher and "total" in (teacher.get("e2e") or {}) and row["e2e_p50_ms"]:
            row["teacher_over_student_e2e"] = _target("teacher_over_student_e2e",
                                                      round(teacher["e2e"]["total"]["p50"] / row["e2e_p50_ms"], 2))
            row["teacher_over_student_model"] = round(teacher["latency_ms"]["p50"] / row["model_p50_ms"], 2)
        eager = next((c for c in by_kind("torch-student") if c["spec"]["threads"] == t), None)
        if eager:
            row["torch_eager_student_over_this_model"] = round(eager["latency_ms"]["p50"] / row["model_p50_ms"], 2)
            if "total" in (eager.get("e2e") or {}) and row["e2e_p50_ms"]:
                row["torch_eager_student_over_this_e2e"] = round(eager["e2e"]["total"]["p50"] / row["e2e_p50_ms"], 2)
        default = next((c for c in by_kind("bundle") if c["spec"].get("settings") == "default"), None)
        if default:
            row["ort_default_fp32_over_this_model"] = round(default["latency_ms"]["p50"] / row["model_p50_ms"], 2)
        cli = next((c for c in ok if c.get("kind") == "cli" and c["id"] == f"cli/{spec['backend']}/{spec['precision']}/t{t}"), None)
        if cli:
            row["cli_single_image_ms"] = _target("cli_single_image_ms", cli["wall_ms"]["p50"])
        # the app with this row's backend when measured, else the app's own choice
        app = next((c for c in apps if c.get("backend") == spec["backend"]), None) or next(
            (c for c in apps if c.get("backend") == "app"), None)
        if app:
            to = app.get("to_screened_ms") or app["startup_to_exit_ms"]  # older apps print no marks
            row["app_to_screened_ms"] = _target("app_to_screened_ms", to["p50"])
            row["app_cell"] = app["id"]
        rows.append(row)
    return rows


def _recheck_policy(spec: dict) -> Any:
    """The borderline re-check the cell's bundle entry declares (edge_screen.recheck), or None."""
    from edge_screen.bundle import load_bundle
    from edge_screen.errors import EdgeScreenError
    from edge_screen.recheck import entry_policy

    if not spec.get("bundle"):
        return None
    try:
        b = load_bundle(spec["bundle"], verify=False)
        return entry_policy(b.model(spec["backend"], spec["precision"]), b.name)
    except (EdgeScreenError, KeyError, OSError):
        return None


def _post_process(cells: list[dict]) -> list[dict]:
    """Verdict agreement with FP32 of the same model; teacher-vs-student speedups. Mutates ``cells``."""
    ok = [c for c in cells if c.get("status") == "ok" and "spec" in c]  # the app cell has no spec
    probs: dict[str, list[float]] = {}
    for c in ok:
        path = c.get("spec", {}).get("probs_out")
        if c.get("accuracy") and path and Path(path).is_file():
            probs[c["id"]] = json.loads(Path(path).read_text())["probs"]
    for c in ok:
        if c["id"] not in probs or c["spec"]["kind"] != "bundle":
            continue
        # the reference: FP32 of the same model and size, ONNX Runtime first (the exported graph as is)
        refs = [r for r in ok if r["id"] in probs and r["spec"]["kind"] == "bundle" and r["spec"]["precision"] == "fp32"
                and r.get("input_size") == c.get("input_size")]
        refs.sort(key=lambda r: (r["spec"]["backend"] != "onnxruntime", r["spec"]["backend"]))
        if refs and refs[0]["id"] != c["id"]:
            c["accuracy"]["fp32_reference"] = refs[0]["id"]
            c["accuracy"]["verdict_vs_fp32"] = verdict_agreement(probs[c["id"]], probs[refs[0]["id"]], c["threshold"])
            policy = _recheck_policy(c["spec"])
            if policy is not None:  # what the screener reports: FP32 decides the photos near the threshold
                c["accuracy"]["verdict_vs_fp32_rechecked"] = rechecked_agreement(
                    probs[c["id"]], probs[refs[0]["id"]], c["threshold"], policy.margin)  # fmt: skip
    comparisons = []
    for t in [c for c in ok if c["spec"]["kind"] == "teacher"]:
        for s in [c for c in ok if c["spec"]["kind"] == "bundle" and c["spec"]["precision"] == "int8"
                  and c["spec"]["threads"] == t["spec"]["threads"]]:
            comp = {"teacher": t["id"], "student": s["id"], "threads": t["spec"]["threads"],
                    "teacher_p50_ms": t["latency_ms"]["p50"], "student_p50_ms": s["latency_ms"]["p50"],
                    "speedup_p50": round(t["latency_ms"]["p50"] / s["latency_ms"]["p50"], 2),
                    "teacher_weights": t.get("weights")}
            if "total" in (t.get("e2e") or {}) and "total" in (s.get("e2e") or {}):
                comp["e2e_speedup_p50"] = round(t["e2e"]["total"]["p50"] / s["e2e"]["total"]["p50"], 2)
            comparisons.append(comp)
    return comparisons


def _packaged_sample() -> Path | None:
    """A real IDRiD photo shipped in ``edge_screen/samples`` (None when the package has none)."""
    import edge_screen

    samples = sorted((Path(edge_screen.__file__).parent / "samples").glob("idrid_*.jpg"))
    return samples[0] if samples else None


def run_benchmark(cfg: BenchmarkConfig) -> dict:
    """Run every cell and return the results document (not yet written; see :mod:`report`)."""
    from edge_screen import __version__
    from edge_screen.benchmarks.machine import machine_record

    out = Path(cfg.out)
    cache = out / "cache"
    work = out / "cells"
    cache.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    if cfg.smoke:
        notes.append("SMOKE RUN: a handful of runs per cell; the numbers prove the pipeline, do not quote them.")
    paths: list[Path] = []
    labels = None
    accuracy_set = None
    if cfg.images is not None:
        paths, labels = read_labelled_set(cfg.images, limit=cfg.limit_images)
        accuracy_set = cache / "accuracy_set.json"
        accuracy_set.write_text(json.dumps({"paths": [str(p.resolve()) for p in paths], "labels": labels}))
        if labels is None:
            notes.append(f"--images {cfg.images} has no labels: AUC not measured (probabilities only).")
    source = cfg.camera_source or pick_camera_source(paths) or _packaged_sample()
    camera_jpeg, camera_info = make_camera_jpeg(source, cache, size=cfg.camera_size, quality=CAMERA_JPEG_QUALITY)
    folder = None
    if cfg.folder_rounds > 0 and cfg.folder_images > 0:
        # photos from the camera the JPEG size belongs to: IDRiD in --images, else next to --camera-source
        near = sorted(Path(source).parent.glob("idrid_*.jpg")) if source is not None else []
        pool = ([p for p in paths if p.name.lower().startswith("idrid_")] or near or list(paths) or [source])
        files = make_camera_folder([p for p in pool if p is not None], cache / "folder", n=cfg.folder_images,
                                   size=cfg.camera_size, quality=CAMERA_JPEG_QUALITY)
        folder = cache / "folder.json"
        folder.write_text(json.dumps({"paths": [str(f) for f in files]}))
        camera_info["folder"] = {"n": len(files), "bytes_mean": round(sum(f.stat().st_size for f in files) / len(files))}
    cells, skipped = plan_cells(cfg, cache=cache, accuracy_set=accuracy_set, camera_jpeg=camera_jpeg, folder=folder)
    label, _, ckpt = _teacher_weights(cfg)
    if label is not None and ckpt is None:
        notes.append(f"Teacher {label} has random-init weights (no checkpoint): its latency is real (latency does "
                     "not depend on the weights), its accuracy is not measured.")
    started = datetime.now(timezone.utc)
    results: list[dict] = []
    for i, spec in enumerate(cells, 1):
        logger.info("[%d/%d] %s", i, len(cells), spec.id)
        r = run_cell_subprocess(spec, work=work, timeout_s=cfg.cell_timeout_s)
        if r["status"] != "ok":
            logger.warning("%s failed: %s", spec.id, r.get("error"))
        else:
            logger.info("%s: p50 %.2f ms, peak RSS %.0f MiB", spec.id, r["latency_ms"]["p50"], r["peak_rss_mib"])
        results.append(r)
    if cfg.cli_runs > 0:
        results.extend(measure_cli(cfg, image=camera_jpeg, work=work))
    if cfg.app:
        results.append(measure_app(cfg, image=camera_jpeg, work=work))
        results.append(measure_app(cfg, image=camera_jpeg, work=work, backend="onnxruntime"))
    comparisons = _post_process(results)
    ratios = ratio_table(results)
    machine = machine_record()
    cores = machine["cpu"]["usable_cores"] or 1
    busy = [c["id"] for c in results if max((c.get("loadavg_start") or [0])[0], (c.get("loadavg_end") or [0])[0]) > cores]
    if busy:
        notes.append(f"The machine was busy: the 1-minute load average exceeded the {cores} usable cores during "
                     f"{len(busy)} of {len(results)} cells ({', '.join(busy[:4])}{' ...' if len(busy) > 4 else ''}); "
                     "other processes competed for the CPU, so latencies are inflated. Re-run on an idle machine.")
    return {
        "schema": SCHEMA,
        "created": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "tool": f"edge-screen {__version__}",
        "smoke": cfg.smoke,
        "config": cfg.to_dict(),
        "machine": machine,
        "camera_image": camera_info,
        "accuracy_set": ({"source": str(cfg.images), "n": len(paths), "labelled": labels is not None,
                          "n_positive": int(sum(labels)) if labels else None} if cfg.images else None),
        "notes": notes,
        "cells": results + skipped,
        "comparisons": comparisons,
        "ratios": ratios,
    }
