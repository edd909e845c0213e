"""``edge-screen benchmark``: the plug-in sub-command (entry point ``edge_screen.commands``).

Importing this module imports neither torch nor PySide6 (ARCHITECTURE.md "Packaging"); the
teacher cell imports torch inside its own subprocess.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edge_screen.backends import precision_names
from edge_screen.cli import positive_int
from edge_screen.errors import UsageError

logger = logging.getLogger(__name__)

EPILOG = """\
Each cell (model x backend x precision x size x threads) runs in a fresh Python process so that
peak RSS and load time are honest. Outputs in --out: results.json (schema edge-screen-benchmark/1),
results.md, latency.png, latency_vs_auc.png, machine.json; cells/ and cache/ hold per-cell files
and the 12 MP camera JPEG. Backends that are not installed (TensorRT off a Jetson) are recorded as
skipped, so the same command runs on a CPU box, a CUDA GPU (--device cuda) or a Jetson.

example (the real run):
  edge-screen benchmark --bundle edge_screen/models/default --teacher jang2024_resnet50 \\
      --images ../shared/data/fundus-dev --threads 1 2 --out benchmarks/results/cpu
"""




def _size_wh(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 4288x2848, got {text!r}") from None
    if w < 64 or h < 64:
        raise argparse.ArgumentTypeError(f"camera size must be at least 64x64, got {text!r}")
    return w, h


def register_benchmark(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``benchmark`` sub-parser; ``func`` is :func:`run_command`."""
    p = subparsers.add_parser(
        "benchmark", help="latency / size / accuracy per backend and precision, teacher vs student",
        description="Benchmark an edge-screen bundle (and the FP32 PyTorch teacher) on this machine.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run_command)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark options (shared by the plug-in and ``python -m edge_screen.benchmarks.cli``)."""
    p.add_argument("--bundle", type=Path, help="bundle folder or .zip (default: the bundle shipped in the package)")
    p.add_argument("--no-bundle", action="store_true", help="benchmark only the teacher / app")
    p.add_argument("--teacher", help="teacher checkpoint file, or a registry name such as jang2024_resnet50 "
                   "(random init: latency does not depend on weights)")
    p.add_argument("--teacher-model", default="jang2024_resnet50", help="registry name the checkpoint belongs to")
    p.add_argument("--teacher-size", type=positive_int, help="teacher input size (default: the model's own, 512)")
    p.add_argument("--backends", nargs="+", help="only these backends of the bundle (default: all it has)")
    p.add_argument("--precisions", nargs="+", choices=precision_names(), help="only these precisions")
    p.add_argument("--threads", nargs="+", type=positive_int, default=None,
                   help="thread counts to measure (default: 1 and the usable cores)")
    p.add_argument("--sizes", nargs="+", type=positive_int,
                   help="student input sizes (default: the bundle's; others need a graph with dynamic H, W)")
    p.add_argument("--images", type=Path, help="folder (with labels.csv) or CSV file,label for AUC and verdict agreement")
    p.add_argument("--limit-images", type=positive_int, help="use only the first N images of --images")
    p.add_argument("--runs", type=positive_int, help="timed model-only runs per cell (default 100; smoke 5)")
    p.add_argument("--warmup", type=int, help="untimed warm-up runs (default 10; smoke 1)")
    p.add_argument("--e2e-runs", type=int, help="timed end-to-end runs (default 50; smoke 2; 0 = skip)")
    p.add_argument("--batch", type=positive_int, help="batch size for the throughput measurement (default 8)")
    p.add_argument("--device", help="runtime device: cpu, cuda (ORT CUDA EP / torch), GPU (OpenVINO); default auto")
    p.add_argument("--camera-source", type=Path, help="image upscaled to the camera JPEG (default: first idrid_* of --images)")
    p.add_argument("--camera-size", type=_size_wh, help="camera JPEG size WIDTHxHEIGHT (default 4288x2848)")
    p.add_argument("--app", action="store_true", help="also time `edge-screen-app --open IMG --screenshot` start-up")
    p.add_argument("--folder-images", type=positive_int, help="12 MP JPEGs in the folder-throughput folder (default 16; smoke 4)")
    p.add_argument("--folder-rounds", type=int, help="alternating model / folder rounds per bundle cell (default 3; 0 = skip)")
    p.add_argument("--no-alternatives", action="store_true",
                   help="skip the student in eager PyTorch and ONNX Runtime FP32 with default settings")
    p.add_argument("--student-model", default="effnet_lite0", help="registry name of the bundle's student (PyTorch cell)")
    p.add_argument("--cli-runs", type=int, help="`edge-screen screen IMG` runs per backend (default 5; smoke 1; 0 = skip)")
    p.add_argument("--cell-timeout", type=float, default=1800.0, help="seconds before a cell is stopped")
    p.add_argument("--smoke", action="store_true", help="a few runs per cell: proves the pipeline in seconds")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots (no matplotlib needed)")
    p.add_argument("--out", type=Path, required=True, help="output folder")


def config_from_args(args: argparse.Namespace):  # noqa: ANN201 (BenchmarkConfig)
    """Build a :class:`~edge_screen.benchmarks.runner.BenchmarkConfig` from parsed arguments."""
    import os

    from edge_screen.benchmarks.runner import BenchmarkConfig

    bundle = args.bundle
    if bundle is None and not args.no_bundle:
        from edge_screen.bundle import default_bundle_path

        bundle = default_bundle_path()
        if bundle is None and not args.teacher and not args.app:
            raise UsageError("no --bundle given and no default bundle is installed: pass --bundle PATH "
                             "(or --teacher/--app with --no-bundle)")
    if args.no_bundle:
        bundle = None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    threads = tuple(args.threads) if args.threads else tuple(sorted({1, cores}))
    if args.warmup is not None and args.warmup < 0:
        raise UsageError(f"--warmup must be >= 0, got {args.warmup}")
    if args.e2e_runs is not None and args.e2e_runs < 0:
        raise UsageError(f"--e2e-runs must be >= 0, got {args.e2e_runs}")
    kw = dict(out=args.out, bundle=bundle, teacher=args.teacher, teacher_model=args.teacher_model,
              teacher_size=args.teacher_size, backends=tuple(args.backends) if args.backends else None,
              precisions=tuple(args.precisions) if args.precisions else None, threads=threads,
              sizes=tuple(args.sizes) if args.sizes else None, images=args.images, limit_images=args.limit_images,
              runs=args.runs, warmup=args.warmup, e2e_runs=args.e2e_runs, batch=args.batch, device=args.device,
              camera_source=args.camera_source, camera_size=args.camera_size, app=args.app,
              cell_timeout_s=args.cell_timeout, folder_images=args.folder_images, folder_rounds=args.folder_rounds,
              alternatives=False if args.no_alternatives else None, student_model=args.student_model,
              cli_runs=args.cli_runs)
    for name in ("folder_rounds", "cli_runs"):
        if kw[name] is not None and kw[name] < 0:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 0, got {kw[name]}")
    if args.smoke:
        return BenchmarkConfig.smoke_defaults(**kw)
    return BenchmarkConfig(**{k: v for k, v in kw.items() if v is not None})


def run_command(args: argparse.Namespace) -> int:
    """Run the benchmark and write the report. Exit 0 when every cell ran, 3 when some failed."""
    from edge_screen.benchmarks.report import write_report
    from edge_screen.benchmarks.runner import run_benchmark

    cfg = config_from_args(args)
    doc = run_benchmark(cfg)
    paths = write_report(doc, Path(cfg.out), plots=not args.no_plots)
    failed = [c for c in doc["cells"] if c["status"] == "error"]
    failed += [{"id": f"{c['id']} ({block})", "error": c[block]["error"]} for c in doc["cells"] if c["status"] == "ok"
               for block in ("e2e", "accuracy") if "error" in (c.get(block) or {})]
    print(paths["markdown"].read_text())
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    for c in failed:
        print(f"edge-screen benchmark: cell {c['id']} failed: {' '.join(str(c['error']).split())[:300]}", file=sys.stderr)
    return 3 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m edge_screen.benchmarks.cli ...`` (same options as ``edge-screen benchmark``)."""
    from edge_screen.errors import EdgeScreenError

    parser = argparse.ArgumentParser(prog="edge-screen benchmark", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return run_command(args)
    except EdgeScreenError as exc:
        print(f"edge-screen benchmark: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
