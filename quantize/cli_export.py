"""``edge-screen export | quantize | build-engine``: CLI plug-ins that parse arguments and call the library.

The exporter itself is :func:`edge_screen.quantize.export.export_bundle`. No torch import at module
import time (ARCHITECTURE.md "Packaging"): ``edge-screen --help`` stays fast and works where only
the runtime is installed. Everything heavy is imported inside the command functions.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from edge_screen.errors import UsageError
from edge_screen.backends import precision_rank
from edge_screen.exporters import export_precisions, exporter_names
from edge_screen.quantize.export import OPENVINO_INT8

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ CLI
def _load_model(args: argparse.Namespace) -> Any:
    from edge_screen.quantize.models import create_model

    return create_model(args.arch, checkpoint=args.model, trust_checkpoint=args.trust_checkpoint,
                        input_size=args.img_size)  # fmt: skip


def _prep(args: argparse.Namespace, model: Any) -> Any:
    from edge_screen.quantize.model_spec import resolve_preprocessing

    return resolve_preprocessing(model, {"input_size": args.img_size, "crop": args.crop})


def _image_sets(args: argparse.Namespace, model: Any) -> tuple[Any, Any]:
    from edge_screen.quantize.calib import load_image_set

    prep = _prep(args, model)
    calib = load_image_set(args.calib, prep, limit=args.calib_images) if args.calib else None
    val = load_image_set(args.val, prep, limit=None) if args.val else None
    if val is not None and not val.labelled:
        raise UsageError(f"--val {args.val} needs labels of both classes (normal and abnormal) for the AUC")
    return calib, val


def finetune_set(args: argparse.Namespace, prep: Any) -> Any:
    """The ImageSet of ``--finetune-data`` (None: fine-tune on the calibration photos), checked for use."""
    if not args.finetune_data:
        return None
    if not args.finetune_epochs:
        raise UsageError("--finetune-data goes with --int8-finetune EPOCHS")
    from edge_screen.quantize.calib import load_image_set

    return load_image_set(args.finetune_data, prep, limit=args.finetune_images, seed=1)


def _add_int8_args(p: argparse.ArgumentParser) -> None:
    from edge_screen.cli import non_negative_int
    from edge_screen.quantize import DEFAULT_FLOAT_CONVS

    p.add_argument("--float-convs", type=non_negative_int, default=DEFAULT_FLOAT_CONVS, metavar="K",
                   help=f"int8: keep the first K backbone convolutions in float (default {DEFAULT_FLOAT_CONVS}; 0: all INT8)")
    p.add_argument("--no-bias-correction", dest="bias_correction", action="store_false",
                   help="int8 onnx/tensorrt: skip the bias correction (OpenVINO's NNCF always applies its own)")


def add_ptq_args(p: argparse.ArgumentParser) -> None:
    """Post-training INT8 options of ``export`` and ``requantize`` (weights, OpenVINO route, golden set)."""
    from edge_screen.quantize import DEFAULT_WEIGHT_GRID, WEIGHT_GRIDS

    p.add_argument("--int8-weights", dest="weight_bits", choices=tuple(WEIGHT_GRIDS), default=DEFAULT_WEIGHT_GRID,
                   help=f"int8 onnx/openvino weight grid (default {DEFAULT_WEIGHT_GRID}: 8-bit with per-channel scales "
                        "that keep every same-sign weight pair within the int16 sums of x86 CPUs without VNNI; "
                        "7: 7-bit, equally safe, coarser; 8: plain 8-bit, VNNI/AMX/ARM-dotprod only, recorded "
                        "as requires_isa)")
    from edge_screen.quantize import CALIBRATIONS

    p.add_argument("--int8-calibration", dest="calibration_method", choices=CALIBRATIONS, default="minmax",
                   help="int8 onnx/openvino (Q/DQ) activation ranges (default minmax; percentile clips the rare "
                        "extremes of |x|; what each gave on the default model: ort_quant.Calibration)")
    p.add_argument("--int8-percentile", dest="percentile", type=float, default=None, metavar="P",
                   help="with --int8-calibration percentile: the percentile of |x| kept (default 99.999)")
    p.add_argument("--int8-finetune", dest="finetune_epochs", type=int, default=0, metavar="EPOCHS",
                   help="int8 onnx/openvino (Q/DQ): then fine-tune the INT8 weights for EPOCHS against the FP32 "
                        "graph (distillation from FP32, same nodes and weight grid; ~1 min per epoch of 200 photos "
                        "for the default model on 2 cores; default 0: off)")
    p.add_argument("--int8-finetune-lr", dest="finetune_lr", type=float, default=None, metavar="LR",
                   help="with --int8-finetune: Adam's step in weight-grid units (default 2e-3)")
    p.add_argument("--finetune-data", metavar="DATA", default=None,
                   help="with --int8-finetune: photos to fine-tune on (unlabelled is fine; default: the calibration "
                        "photos). Not the --val photos: the report must measure other ones")
    p.add_argument("--finetune-images", type=int, default=400, metavar="N",
                   help="with --finetune-data: photos to draw (default 400)")
    p.add_argument("--openvino-int8", choices=OPENVINO_INT8, default="qdq",
                   help="openvino int8: run the ONNX Runtime Q/DQ model (qdq, default) or an NNCF IR (nncf)")
    p.add_argument("--golden", metavar="DATA", default=None,
                   help="photos for the bundle's golden set (self-check; default: --val, else --calib)")
    p.add_argument("--golden-match", metavar="GLOB", default=None,
                   help="only golden photos whose file name matches, e.g. 'idrid_*' (redistributable ones)")
    p.add_argument("--golden-source", metavar="TEXT", default=None,
                   help="attribution of the golden photos, stored in the manifest (e.g. their licence)")


def _cmd_export(args: argparse.Namespace) -> int:
    from edge_screen.quantize.export import export_bundle

    model = _load_model(args)
    calib, val = _image_sets(args, model)
    report = export_bundle(model, args.out, targets=[(args.format, args.precision)], input_size=args.img_size,
                         calib=calib, val=val, max_auc_drop=args.max_auc_drop, name=args.name,
                         version=args.version, crop=args.crop, float_convs=args.float_convs,
                         bias_correction=args.bias_correction, weight_bits=args.weight_bits,
                         openvino_int8=args.openvino_int8, golden=args.golden,
                         golden_match=args.golden_match, golden_source=args.golden_source, gate=args.gate,
                         calibration_method=args.calibration_method, percentile=args.percentile,
                         finetune_epochs=args.finetune_epochs, finetune_lr=args.finetune_lr,
                         finetune=finetune_set(args, _prep(args, model)))  # fmt: skip
    print(f"bundle written: {report.root}")
    return 0


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="CKPT", help="training checkpoint or Jang released .pth")
    p.add_argument("--arch", default=None, help="registry model name (needed unless CKPT is an edge-screen checkpoint)")
    p.add_argument("--trust-checkpoint", action="store_true", help="allow arbitrary pickles in CKPT")
    p.add_argument("--img-size", type=int, default=None, help="model input size S (default: the model's)")
    p.add_argument("--crop", choices=("fov", "none"), default=None,
                   help="preprocessing crop (default: the model card's, fov)")
    p.add_argument("--calib", default=None, metavar="DATA", help="labels.csv or folder of calibration images")
    p.add_argument("--calib-images", type=int, default=300, help="calibration images to draw (default 300)")
    p.add_argument("--val", default=None, metavar="DATA", help="labelled validation images (AUC, accuracy control)")


def register_export(sub: argparse._SubParsersAction) -> None:
    """``edge-screen export``: write or extend a model bundle."""
    p = sub.add_parser("export", help="export a checkpoint to a bundle (onnx, openvino, tensorrt; fp32/fp16/int8)")
    _add_model_args(p)
    p.add_argument("--format", choices=exporter_names(), required=True)
    p.add_argument("--precision", choices=tuple(reversed(export_precisions())), default="fp32")
    p.add_argument("--max-auc-drop", type=float, default=None, help="openvino int8: accuracy-controlled PTQ")
    p.add_argument("--gate", default=None, metavar="gate.pt",
                   help="learned quality/out-of-distribution gate from edge-screen train-gate (same checkpoint); "
                        "pass it to every export into the bundle")
    _add_int8_args(p)
    add_ptq_args(p)
    p.add_argument("--name", default=None, help="bundle name (default: the model name)")
    p.add_argument("--version", default=None, help="bundle version")
    p.add_argument("--out", required=True, metavar="BUNDLE", help="bundle folder (created or extended)")
    p.set_defaults(func=_cmd_export)


def _cmd_quantize(args: argparse.Namespace) -> int:
    if not args.qat:
        raise UsageError("edge-screen quantize currently does QAT only: pass --qat (PTQ is `export --precision int8`)")
    from edge_screen.quantize.qat import qat_finetune

    model = _load_model(args)
    calib, val = _image_sets(args, model)
    if args.train is None:
        raise UsageError("--qat needs labelled training images: pass --train DATA")
    from edge_screen.quantize.calib import load_image_set

    train = load_image_set(args.train, _prep(args, model), limit=None)
    root = qat_finetune(model, train, args.out, calibration=calib, validation=val, epochs=args.epochs, lr=args.lr,
                        float_convs=args.float_convs)  # fmt: skip
    print(f"QAT fine-tuned OpenVINO INT8 written to bundle {root}")
    return 0


def register_quantize(sub: argparse._SubParsersAction) -> None:
    """``edge-screen quantize --qat``: fine-tune with fake quantization, export OpenVINO INT8."""
    p = sub.add_parser("quantize", help="quantization-aware fine-tuning (--qat) when PTQ loses too much AUC")
    _add_model_args(p)
    p.add_argument("--qat", action="store_true", help="fine-tune with fake quantization (torch.fake_quantize_*)")
    p.add_argument("--train", default=None, metavar="DATA", help="labelled images to fine-tune on")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--out", required=True, metavar="BUNDLE", help="bundle folder (openvino/int8 is replaced)")
    _add_int8_args(p)
    p.set_defaults(func=_cmd_quantize)


def _cmd_build_engine(args: argparse.Namespace) -> int:
    from edge_screen.quantize.tensorrt_export import onnx_to_tensorrt

    out = onnx_to_tensorrt(args.onnx, args.out, precision=args.precision, workspace_mb=args.workspace,
                           timing_cache=args.timing_cache, max_batch=args.max_batch)  # fmt: skip
    print(f"engine written: {out}")
    if args.bundle:
        from edge_screen.quantize.tensorrt_export import register_engine

        manifest = register_engine(args.bundle, out, precision=args.precision, onnx=args.onnx)
        print(f"engine added to the bundle: {manifest}")
    return 0


def register_build_engine(sub: argparse._SubParsersAction) -> None:
    """``edge-screen build-engine MODEL.onnx --precision int8|fp16 --out MODEL.engine`` (on the device)."""
    p = sub.add_parser("build-engine", help="build a TensorRT engine on this device from a bundle's ONNX")
    p.add_argument("onnx", metavar="MODEL.onnx", help="Q/DQ ONNX (int8) or FP32 ONNX (fp16/fp32)")
    from edge_screen.quantize.formats import TENSORRT

    p.add_argument("--precision", choices=sorted(TENSORRT.precisions, key=precision_rank), default="int8")
    p.add_argument("--workspace", type=int, default=1024, metavar="MB", help="builder workspace (default 1024 MB)")
    p.add_argument("--timing-cache", default=None, metavar="FILE", help="read/write a timing cache (faster rebuilds)")
    p.add_argument("--max-batch", type=int, default=8, help="largest batch of the optimisation profile")
    p.add_argument("--out", required=True, metavar="MODEL.engine")
    p.add_argument("--bundle", metavar="BUNDLE", help="also add the engine to this bundle (tensorrt/<precision> entry)")
    p.set_defaults(func=_cmd_build_engine)
