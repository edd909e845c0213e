"""``edge-screen requantize`` and ``edge-screen golden``: rework an existing bundle from its own FP32 ONNX.

No checkpoint needed: everything is made from the bundle's ``onnx/model_fp32.onnx`` (the reference
every INT8 artifact is quantized from), with the bundle's own preprocessing.

* ``requantize BUNDLE --calib DATA [--val DATA]`` re-quantizes the bundle's INT8 models (or those
  named with ``--formats``) with the current INT8 recipe, rewrites ``reports/quantization.json`` and
  the golden set. ``--int8-finetune EPOCHS [--finetune-data DATA]`` then fine-tunes the INT8 weights
  against the FP32 graph (photos the report does not use; unlabelled is fine).
* ``golden BUNDLE --images DATA [--match GLOB]`` only (re)writes the golden set (the self-check data).

No torch import at module import time (the CLI registers these from entry points).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from edge_screen.errors import UsageError

log = logging.getLogger(__name__)

# bundle backend -> export format
_FORMAT_OF = {"onnxruntime": "onnx", "openvino": "openvino", "tensorrt": "tensorrt"}


def requantize_bundle(
    bundle_path: str | os.PathLike,
    calib: Any,
    *,
    val: Any = None,
    formats: list[str] | None = None,
    float_convs: int | None = None,
    bias_correction: bool = True,
    weight_bits: int | str | None = None,
    openvino_int8: str = "qdq",
    golden: Any = None,
    golden_match: str | None = None,
    golden_source: str | None = None,
    version: str | None = None,
    calibration_method: str | None = None,
    percentile: float | None = None,
    finetune_epochs: int = 0,
    finetune_lr: float | None = None,
    finetune: Any = None,
) -> Path:
    """Re-quantize the INT8 models of a bundle folder from its FP32 ONNX; returns the bundle root.

    ``calib``/``val``: :class:`edge_screen.quantize.calib.ImageSet` preprocessed with the bundle's
    preprocessing. ``formats``: ``onnx``, ``openvino``, ``tensorrt`` (default: those the bundle has
    INT8 models for). ``version``: new bundle version (its artifacts change). The other options are
    those of :func:`~edge_screen.quantize.export.export_bundle`.
    """
    from edge_screen.bundle import BundleWriter, load_bundle
    from edge_screen.quantize.export import OPENVINO_INT8, add_golden_set, gate_reporter, int8_options, write_int8_targets

    bundle = load_bundle(bundle_path)
    if bundle.source is not None:
        raise UsageError(f"{bundle_path} is a zip bundle; unzip it and requantize the folder")
    fp32 = bundle.path(bundle.model("onnxruntime", "fp32").files["model"])
    if formats is None:
        formats = sorted({_FORMAT_OF[m.backend] for m in bundle.models if m.precision == "int8" and m.backend in _FORMAT_OF})
    bad = sorted(set(formats) - set(_FORMAT_OF.values()))
    if bad or not formats:
        raise UsageError(f"formats {bad or formats} are not valid; valid: {', '.join(sorted(set(_FORMAT_OF.values())))}")
    int8 = int8_options(float_convs=float_convs, bias_correction=bias_correction, weight_bits=weight_bits,
                        calibration_method=calibration_method, percentile=percentile,
                        finetune_epochs=finetune_epochs, finetune_lr=finetune_lr)  # fmt: skip
    if openvino_int8 not in OPENVINO_INT8:
        raise UsageError(f"--openvino-int8 must be one of {', '.join(OPENVINO_INT8)}, got {openvino_int8!r}")
    size = bundle.preprocessing.input_size
    for what, data in (("calibration", calib), ("validation", val), ("fine-tuning", finetune)):
        if data is not None and tuple(data.images.shape[1:]) != (3, size, size):
            raise UsageError(f"{what} images are {data.images.shape[1:]}, the model input is (3, {size}, {size})")
    order = [f for f in ("onnx", "openvino", "tensorrt") if f in formats]
    writer = BundleWriter(bundle.root, version=version)
    after = None
    if writer.manifest.get("gate") is not None:
        # the rewritten INT8 graphs get new entries in reports/gate.json, measured as export measures them
        after = gate_reporter(writer, bundle.root, fp32, _gate_training_report(bundle), calib, val, bundle.preprocessing)
    write_int8_targets(writer, bundle.root, fp32, [(f, "int8") for f in order], graph=None, size=size, calib=calib,
                       val=val, max_auc_drop=None, int8=int8, openvino_int8=openvino_int8, after=after,
                       finetune=finetune)  # fmt: skip
    writer.write()
    add_golden_set(bundle.root, golden if golden is not None else (val if val is not None else calib), golden_match,
                  golden_source)  # fmt: skip
    return bundle.root


def _gate_training_report(bundle: Any) -> dict:
    """The ``training`` part of the bundle's ``reports/gate.json`` (kept as it is when the INT8 entries change)."""
    import json

    from edge_screen.errors import BundleError
    from edge_screen.quantize.gate_export import REPORT

    rel = bundle.manifest.get("reports", {}).get(REPORT)
    path = bundle.path(rel) if rel else None
    if path is None or not path.is_file():
        raise BundleError(f"{bundle.root} declares a learned gate but has no reports/{REPORT}.json; re-export it with --gate")
    return json.loads(path.read_text(encoding="utf-8")).get("training", {})


def _cmd_requantize(args: argparse.Namespace) -> int:
    from edge_screen.bundle import load_bundle
    from edge_screen.quantize.calib import load_image_set
    from edge_screen.quantize.cli_export import finetune_set

    prep = load_bundle(args.bundle).preprocessing
    calib = load_image_set(args.calib, prep, limit=args.calib_images)
    val = load_image_set(args.val, prep, limit=None) if args.val else None
    if val is not None and not val.labelled:
        raise UsageError(f"--val {args.val} needs labels of both classes (normal and abnormal) for the AUC")
    tune = finetune_set(args, prep)
    root = requantize_bundle(args.bundle, calib, val=val, formats=args.formats, float_convs=args.float_convs,
                             bias_correction=args.bias_correction, weight_bits=args.weight_bits,
                             openvino_int8=args.openvino_int8, golden=args.golden,
                             golden_match=args.golden_match, golden_source=args.golden_source,
                             version=args.version, calibration_method=args.calibration_method,
                             percentile=args.percentile, finetune_epochs=args.finetune_epochs,
                             finetune_lr=args.finetune_lr, finetune=tune)  # fmt: skip
    print(f"bundle re-quantized: {root}")
    return 0


def register_requantize(sub: argparse._SubParsersAction) -> None:
    """``edge-screen requantize BUNDLE --calib DATA``: redo a bundle's INT8 models from its FP32 ONNX."""
    from edge_screen.quantize.cli_export import _add_int8_args, add_ptq_args

    p = sub.add_parser("requantize", help="re-quantize a bundle's INT8 models from its FP32 ONNX (+ golden set)",
                       description=__doc__.split("\n\n")[1])  # fmt: skip
    p.add_argument("bundle", metavar="BUNDLE", help="bundle folder (changed in place)")
    p.add_argument("--calib", required=True, metavar="DATA", help="labels.csv or folder of calibration photos")
    p.add_argument("--calib-images", type=int, default=300, help="calibration photos to draw (default 300)")
    p.add_argument("--val", default=None, metavar="DATA", help="labelled validation photos (report AUCs)")
    p.add_argument("--formats", nargs="+", choices=sorted(set(_FORMAT_OF.values())),
                   help="INT8 artifacts to redo (default: the bundle's)")  # fmt: skip
    p.add_argument("--version", help="new bundle version (default: keep it)")
    _add_int8_args(p)
    add_ptq_args(p)
    p.set_defaults(func=_cmd_requantize)


def _cmd_golden(args: argparse.Namespace) -> int:
    from edge_screen.quantize.golden import build_golden

    entry = build_golden(args.bundle, args.images, match=args.match, count=args.count, hard=args.hard,
                         attribution=args.source or "")  # fmt: skip
    kinds = [i["kind"] for i in entry["images"]]
    print(f"golden set written to {args.bundle}: {len(kinds)} photos ({kinds.count('hard')} near the threshold)")
    return 0


def register_golden(sub: argparse._SubParsersAction) -> None:
    """``edge-screen golden BUNDLE --images DATA``: (re)write a bundle's golden set."""
    from edge_screen.cli import positive_int
    from edge_screen.quantize.golden import DEFAULT_COUNT, DEFAULT_HARD

    p = sub.add_parser("golden", help="(re)write a bundle's golden set for the on-device self-check",
                       description="Pick real photos (spread over the FP32 probability range, plus hard cases "
                                   "near the threshold), store their crops and FP32 outputs in the bundle.")  # fmt: skip
    p.add_argument("bundle", metavar="BUNDLE", help="bundle folder (changed in place)")
    p.add_argument("--images", required=True, metavar="DATA", help="labels.csv or folder of photos to pick from")
    p.add_argument("--match", metavar="GLOB", help="only photos whose file name matches, e.g. 'idrid_*'")
    p.add_argument("--count", type=positive_int, default=DEFAULT_COUNT, help=f"photos (default {DEFAULT_COUNT})")
    p.add_argument("--hard", type=positive_int, default=DEFAULT_HARD, help=f"of them near the threshold (default {DEFAULT_HARD})")
    p.add_argument("--source", help="attribution of the photos, stored in the manifest")
    p.set_defaults(func=_cmd_golden)
