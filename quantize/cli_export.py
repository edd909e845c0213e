"""``edge-screen export | quantize | build-engine`` (CLI plug-ins) and the bundle exporter behind them.

No torch import at module import time (ARCHITECTURE.md "Packaging"): ``edge-screen --help`` stays
fast and works where only the runtime is installed. Everything heavy is imported inside functions.

Bundle layout written here (ARCHITECTURE.md "Bundle")::

    onnx/model_fp32.onnx            onnxruntime fp32 (always written: it is the reference)
    onnx/model_int8_u8s8.onnx       onnxruntime int8 (static QDQ U8S8)
    openvino/<precision>/model.xml  openvino fp32 | fp16 | int8 (+ model.bin)
    tensorrt/model_int8_qdq.onnx    tensorrt int8 (symmetric S8S8 Q/DQ; build the engine on the device)
    tensorrt/model_fp32.onnx        tensorrt fp16 / fp32 (engine built with --precision fp16)
    <format>/...                    a plug-in export format (edge_screen.exporters), written by its own `write`
    reports/quantization.json       {"<backend>/<precision>": QuantizationReport, ...}
    reports/gate.json               with --gate: the learned gate's training report + decisions per graph
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from edge_screen.backends import precision_rank
from edge_screen.errors import UsageError
from edge_screen.exporters import ExportJob, check_target, export_precisions, exporter_names, get_exporter

log = logging.getLogger(__name__)

OPENVINO_INT8 = ("qdq", "nncf")  # OpenVINO INT8 route, see edge_screen.quantize.openvino_export
#: CPU flags with int32-accumulating INT8 dot products (8-bit weights are safe only with one of them)
INT8_DOT_PRODUCT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp")
# Format and precision names, and the backend each format writes for, come from the export-format
# registry (edge_screen.exporters: get_exporter(format).precisions / .backend), never a table here.
TRT_NOTE = "build the engine on the device: edge-screen build-engine"


def export_bundle(
    model: Any,
    out: str | os.PathLike,
    *,
    targets: list[tuple[str, str]] | tuple[tuple[str, str], ...],
    input_size: int | None = None,
    calib: Any = None,
    val: Any = None,
    max_auc_drop: float | None = None,
    name: str | None = None,
    version: str | None = None,
    crop: str = "fov",
    float_convs: int | None = None,
    bias_correction: bool = True,
    gate: str | os.PathLike | None = None,
    weight_bits: int | None = None,
    openvino_int8: str = "qdq",
    golden: Any = None,
    golden_match: str | None = None,
    golden_source: str | None = None,
) -> Path:
    """Export ``model`` (a FundusClassifier) into the bundle folder ``out`` (created or extended).

    The FP32 ONNX (the reference every other artifact is made from) is exported once per call.

    Args:
        targets: ``(format, precision)`` pairs, e.g. ``[("openvino", "int8")]``; see :func:`edge_screen.exporters.exporters`.
        input_size: S (default: ``model.default_cfg["input_size"]``).
        calib: ``edge_screen.quantize.calib.ImageSet`` (int8: calibration images).
        val: ``ImageSet`` with labels: accuracy control and the report's AUCs. Without it the
            report compares on the calibration images (no AUC).
        max_auc_drop: OpenVINO int8 only: ``nncf.quantize_with_accuracy_control`` bound.
        float_convs: int8: leading backbone convolutions kept in float, every backend (default
            :data:`~edge_screen.quantize.ort_quant.DEFAULT_FLOAT_CONVS`; 0 quantizes them all).
        bias_correction: int8 ONNX Runtime / TensorRT Q/DQ: correct conv biases for the rounding
            shift (NNCF always does this for OpenVINO).
        gate: ``gate.pt`` of ``edge-screen train-gate`` for this model: the learned gate joins every
            graph (two more outputs), the manifest gets its ``gate`` block and the bundle
            ``reports/gate.json`` (:mod:`edge_screen.quantize.gate_export`).
        weight_bits: int8 ONNX Runtime / OpenVINO: 7 (default: no int16 saturation on x86 CPUs
            without VNNI, :mod:`edge_screen.quantize.ort_quant`) or 8.
        openvino_int8: ``"qdq"`` (OpenVINO runs the ONNX Runtime Q/DQ model) or ``"nncf"`` (an NNCF IR).
        golden: photos for the bundle's golden set (a labels.csv / folder, or a list of paths);
            default: the validation (else calibration) photos. ``golden_match``: file-name glob;
            ``golden_source``: their attribution (stored in the manifest).
    Returns: the bundle root.
    """
    from edge_screen.bundle import BundleWriter
    from edge_screen.preprocess import Preprocessing
    from edge_screen.quantize.cam import with_heatmap
    from edge_screen.quantize.onnx_export import torch_to_onnx
    from edge_screen.quantize import DEFAULT_FLOAT_CONVS

    from edge_screen.quantize.ort_quant import DEFAULT_WEIGHT_BITS, WEIGHT_BITS

    int8 = {"float_convs": DEFAULT_FLOAT_CONVS if float_convs is None else int(float_convs),
            "bias_correction": bool(bias_correction),
            "weight_bits": DEFAULT_WEIGHT_BITS if weight_bits is None else int(weight_bits)}  # fmt: skip
    if int8["weight_bits"] not in WEIGHT_BITS:
        raise UsageError(f"--int8-weights must be one of {WEIGHT_BITS}, got {weight_bits}")
    if openvino_int8 not in OPENVINO_INT8:
        raise UsageError(f"--openvino-int8 must be one of {', '.join(OPENVINO_INT8)}, got {openvino_int8!r}")
    if max_auc_drop is not None:
        openvino_int8 = "nncf"  # accuracy control is NNCF's
    if int8["float_convs"] < 0:
        raise UsageError(f"--float-convs must be >= 0, got {float_convs}")
    if not targets:
        raise UsageError("nothing to export: give at least one (format, precision)")
    for format, precision in targets:
        reason = check_target(format, precision).unavailable()
        if reason is not None:
            raise UsageError(reason)
        if precision == "int8" and calib is None:
            raise UsageError(f"{format} int8 needs calibration images: pass --calib DATA (about 300 real images)")
    if max_auc_drop is not None and (("openvino", "int8") not in targets or val is None):
        raise UsageError("--max-auc-drop works with --format openvino --precision int8 and needs --val DATA")
    cfg = dict(getattr(model, "default_cfg", {}))
    size = int(input_size or cfg.get("input_size") or 0)
    if size <= 0:
        raise UsageError("input size unknown: pass --img-size N")
    prep = Preprocessing(
        input_size=size,
        mean=tuple(cfg.get("mean", (0.5, 0.5, 0.5))),
        std=tuple(cfg.get("std", (0.5, 0.5, 0.5))),
        color_order=cfg.get("color_order", "RGB"),
        crop=crop,
    )
    for what, data in (("calibration", calib), ("validation", val)):
        if data is not None and tuple(data.images.shape[1:]) != (3, size, size):
            raise UsageError(f"{what} images are {data.images.shape[1:]}, the model input is (3, {size}, {size})")
    root = Path(out).resolve()  # files are written under root and recorded relative to it
    if name is None and not (root / "manifest.json").is_file():
        name = cfg.get("name")  # a new bundle is named after the model; an extended one keeps its name
    writer = BundleWriter(root, name=name, version=version, preprocessing=prep)
    from edge_screen.quantize import gate_export

    heads, gate_file = gate_export.attach(model, gate, writer) if gate is not None else (None, None)
    if gate is None:
        gate_export.refuse_gateless_extension(writer)
    graph = with_heatmap(model, gate=heads)
    writer.manifest["heatmap"] = {"kind": graph.kind, "class_index": graph.class_index}
    thr = cfg.get("threshold")
    if thr is not None and "threshold" not in writer.manifest:
        # training checkpoints store {"value", "method", ...} (e.g. chosen on pooled leave-one-source-out scores)
        value, method = (thr.get("value"), thr.get("method")) if isinstance(thr, dict) else (thr, None)
        if value is None:
            raise UsageError(f"the checkpoint's threshold {thr!r} has no value; retrain or fix the checkpoint")
        details = {k: v for k, v in thr.items() if k not in ("value", "method")} if isinstance(thr, dict) else {}
        writer.set_threshold(float(value), f"{method or 'threshold'} (from the training checkpoint)", details)
    elif "threshold" not in writer.manifest:
        raise UsageError("the model has no operating threshold (a training checkpoint stores the one chosen on its "
                         "validation or leave-one-source-out scores) and the bundle has none; nothing is exported "
                         "with an uncalibrated default")
    training = cfg.get("training") or {}
    writer.set_provenance(student=cfg.get("name"), checkpoint=cfg.get("checkpoint"), teacher=training.get("teacher"),
                          data=training.get("data"), split=training.get("split"),
                          metrics={"val_auc": training.get("val_auc"), "best_epoch": training.get("best_epoch"),
                                   **({"out_of_source": training["loso"]} if training.get("loso") else {})})

    fp32 = torch_to_onnx(graph, root / "onnx" / "model_fp32.onnx", input_size=size)
    writer.add_model("onnxruntime", "fp32", {"model": fp32})
    gate_check = _gate_report(writer, root, fp32, "onnx", "fp32", gate_file, calib, val, prep) if heads else None

    def gate_report(artifact: Path, format: str, precision: str) -> None:
        if gate_check is not None and artifact != fp32:
            _gate_report(writer, root, artifact, format, precision, gate_file, calib, val, prep, ref=gate_check)

    write_int8_targets(writer, root, fp32, targets, graph=graph, size=size, calib=calib, val=val,
                       max_auc_drop=max_auc_drop, int8=int8, openvino_int8=openvino_int8,
                       after=gate_report)  # fmt: skip
    writer.write()
    _write_golden(root, golden if golden is not None else (val if val is not None else calib), golden_match,
                  golden_source)  # fmt: skip
    return root


def write_int8_targets(writer: Any, root: Path, fp32: Path, targets: Any, *, graph: Any, size: int, calib: Any,
                       val: Any, max_auc_drop: float | None, int8: dict[str, Any], openvino_int8: str,
                       after: Any = None) -> None:  # fmt: skip
    """Write each (format, precision) of ``targets`` from the FP32 ONNX ``fp32`` (``graph``: the torch
    heatmap graph, for plug-in formats that export from torch) and add the INT8 quantization reports;
    ``after(artifact, format, precision)`` is called for each model written (e.g. its gate report)."""
    targets = list(targets)
    if openvino_int8 == "qdq" and ("openvino", "int8") in targets:
        # OpenVINO runs the ONNX Runtime Q/DQ model: make it first, then point openvino/int8 at it
        targets = [t for t in targets if t != ("onnx", "int8")]
        targets.insert(targets.index(("openvino", "int8")), ("onnx", "int8"))
    for format, precision in targets:
        artifact = _write_format(writer, root, fp32, graph, format, precision, size, calib, val, max_auc_drop, int8,
                                 openvino_int8)  # fmt: skip
        if precision == "int8" and artifact is not None:
            _add_report(writer, root, fp32, artifact, format, calib, val)
        if after is not None and artifact is not None:
            after(artifact, format, precision)
        log.info("bundle %s: %s %s written", root, format, precision)


def _write_golden(root: Path, source: Any, match: str | None, attribution: str | None = None) -> None:
    """The bundle's golden set (edge_screen.golden) from ``source`` (ImageSet, data path or path list)."""
    if source is None:
        log.warning("bundle %s: no photos for a golden set (pass --val, --calib or --golden); its INT8/FP16 "
                    "models cannot be self-checked and will not be chosen automatically", root)  # fmt: skip
        return
    from edge_screen.quantize.golden import build_golden

    try:
        build_golden(root, source, match=match, attribution=attribution or "")
    except UsageError as exc:  # the models are written; without a golden set only FP32 is chosen automatically
        log.warning("bundle %s: no golden set written (%s); its INT8/FP16 models cannot be self-checked "
                    "on other machines: run edge-screen golden %s --images DATA", root, exc, root)  # fmt: skip


def _write_format(writer: Any, root: Path, fp32: Path, graph: Any, format: str, precision: str, size: int,
                  calib: Any, val: Any, max_auc_drop: float | None, int8: dict[str, Any],
                  openvino_int8: str = "qdq") -> Path | None:  # fmt: skip
    """Write one artifact into the bundle; return the path used for the INT8 report (or None).

    ``int8``: ``{"float_convs": K, "bias_correction": bool, "weight_bits": 7|8}``, recorded with
    every INT8 model (TensorRT's S8S8 Q/DQ keeps 8-bit weights: GPUs accumulate in int32).
    """
    images = None if calib is None else calib.images
    isa = _isa_fields(int8["weight_bits"])
    if format == "onnx":
        if precision == "int8":
            from edge_screen.quantize.ort_quant import onnx_to_ort_int8

            path = onnx_to_ort_int8(fp32, root / "onnx" / "model_int8_u8s8.onnx", images, **int8)
            writer.add_model("onnxruntime", "int8", {"model": path}, quantization="static QDQ U8S8 per-channel",
                             **int8, **isa)  # fmt: skip
            return path
        return None
    if format == "openvino" and precision == "int8" and openvino_int8 == "qdq":
        path = root / "onnx" / "model_int8_u8s8.onnx"
        if not path.is_file():
            raise UsageError("openvino int8 (qdq) needs the ONNX Runtime Q/DQ model first")
        _replace_model(writer, "openvino", "int8", {"model": path}, quantization="ONNX Runtime static QDQ U8S8 "
                       "per-channel, run by OpenVINO", inference_precision="f32", **int8, **isa)  # fmt: skip
        return path
    if format == "openvino":
        from edge_screen.quantize.openvino_export import onnx_to_openvino

        validation = (val.images, val.labels) if val is not None and max_auc_drop is not None else None
        xml = onnx_to_openvino(fp32, root / "openvino" / precision / "model.xml", precision=precision,
                               calibration=images, validation=validation, max_auc_drop=max_auc_drop,
                               float_convs=int8["float_convs"])  # fmt: skip
        extra: dict[str, Any] = {}
        if precision == "int8":
            # NNCF's fast bias correction is always on. The float parts (stem, head, heatmap tail)
            # run in FP32, as the report measured them: this CPU's plugin default, BF16, turned
            # 99.6% verdict agreement into 98.5% at no measurable speed gain (MODEL_CARD.md).
            extra = {"float_convs": int8["float_convs"], "bias_correction": True, "inference_precision": "f32",
                     "quantization": "NNCF PTQ, overflow fix in every layer (7-bit weights)", "weight_bits": 7,
                     **_isa_fields(7)}  # fmt: skip
            if max_auc_drop is not None:
                extra["max_auc_drop"] = max_auc_drop
        _replace_model(writer, "openvino", precision, {"model": xml, "weights": xml.with_suffix(".bin")}, **extra)
        return xml
    if format == "tensorrt":
        from edge_screen.quantize.tensorrt_export import onnx_to_qdq_s8s8, trtexec_command

        trt8 = {k: int8[k] for k in ("float_convs", "bias_correction")}  # S8S8, 8-bit: GPUs accumulate in int32
        if precision == "int8":
            path = onnx_to_qdq_s8s8(fp32, root / "tensorrt" / "model_int8_qdq.onnx", images, **trt8)
        else:
            path = fp32
        rel = path.relative_to(root).as_posix()
        writer.add_model("tensorrt", precision, {"onnx": path}, note=TRT_NOTE, **(trt8 if precision == "int8" else {}),
                         trtexec=trtexec_command(rel, "model.engine", precision=precision, input_size=size))  # fmt: skip
        return path if precision == "int8" else None
    # a plug-in format (edge_screen.exporters): its own write() adds its entry to the bundle
    return get_exporter(format).run(ExportJob(writer=writer, root=root, fp32=fp32, graph=graph, precision=precision,
                                              input_size=size, calib=calib, val=val, options=dict(int8)))  # fmt: skip


def _gate_report(writer: Any, root: Path, artifact: Path, format: str, precision: str, gate_file: dict, calib: Any,
                 val: Any, prep: Any, ref: tuple | None = None) -> tuple:  # fmt: skip
    """The gate's decisions of one graph into ``reports/gate.json``; returns ``(check outputs, real
    outputs, check infos, check tensors)`` of the FP32 reference for the later INT8 comparisons."""
    from edge_screen.gate import LearnedGate
    from edge_screen.quantize import gate_export

    gate = LearnedGate.from_manifest(writer.manifest["gate"])
    data = val if val is not None else calib
    if ref is None:
        tensors, infos = gate_export.check_set(data.paths if data is not None else (), prep)
    else:
        tensors, infos = ref[2], ref[3]
    outs = gate_export.run_all(artifact, format, tensors)
    real = gate_export.run_all(artifact, format, data.images) if data is not None else None
    entry = gate_export.precision_entry(gate, outs, infos, real, None if ref is None else (ref[0], ref[1]))
    gate_export.write_report(writer, root, gate_file["report"], f"{get_exporter(format).backend}/{precision}", entry)
    return outs, real, tensors, infos


def _isa_fields(weight_bits: int) -> dict[str, Any]:
    """Manifest fields saying which CPUs an INT8 CPU model is for (the runtime honours ``requires_isa``)."""
    if weight_bits == 7:
        return {"isa": "any CPU: 7-bit weights cannot saturate the int16 sums of x86 kernels without VNNI"}
    return {"isa": "CPUs with int32 INT8 dot products only (8-bit weights saturate without VNNI)",
            "requires_isa": list(INT8_DOT_PRODUCT_FLAGS)}  # fmt: skip


def _replace_model(writer: Any, backend: str, precision: str, files: dict[str, Any], **extra: Any) -> None:
    """``add_model``, then drop the files of the replaced entry that no model uses any more."""
    old = next((e for e in writer.manifest["models"] if (e.get("backend"), e.get("precision")) == (backend, precision)),
               None)  # fmt: skip
    writer.add_model(backend, precision, files, **extra)
    used = {f for e in writer.manifest["models"] for f in e["files"].values()}
    for rel in (old or {}).get("files", {}).values():
        if rel not in used:
            writer.remove_file(rel)


def _add_report(writer: Any, root: Path, fp32: Path, artifact: Path, format: str, calib: Any, val: Any) -> None:
    """FP32 ONNX (reference) vs the INT8 artifact on the validation (else calibration) images."""
    from edge_screen.quantize.onnx_export import run_onnx
    from edge_screen.quantize.quant_report import compare_outputs

    data = val if val is not None else calib
    labels = data.labels if data.labelled else None
    ref = run_onnx(fp32, data.images)
    if format == "openvino":
        from edge_screen.quantize.openvino_export import run_openvino

        cand = run_openvino(artifact, data.images)
        sizes = {"fp32": fp32, "int8": artifact}
        if artifact.suffix == ".xml":
            sizes["int8_weights"] = artifact.with_suffix(".bin")
    else:  # ORT U8S8, or the TensorRT Q/DQ graph run in ONNX Runtime (same scales as the engine)
        cand = run_onnx(artifact, data.images)
        sizes = {"fp32": fp32, "int8": artifact}
    threshold = float(writer.manifest["threshold"]["value"])  # export_bundle set it before any artifact
    backend = get_exporter(format).backend
    report = compare_outputs(ref, cand, reference_name="onnxruntime/fp32", candidate_name=f"{backend}/int8",
                             threshold=threshold, labels=labels, sizes=sizes)  # fmt: skip
    notes = [] if val is not None else ["compared on the calibration images (no --val): no AUC"]
    if format == "tensorrt":
        notes.append("Q/DQ graph run in ONNX Runtime on the CPU; the TensorRT engine fuses the same scales")
    from edge_screen.quantize.quant_report import machine_record

    entry = {**report.to_dict(), "notes": notes, "machine": machine_record()}
    existing: dict = {}
    rel = writer.manifest.get("reports", {}).get("quantization")
    if rel and (root / rel).is_file():
        existing = json.loads((root / rel).read_text(encoding="utf-8"))
    existing[f"{backend}/int8"] = entry
    writer.add_report("quantization", existing)


# ------------------------------------------------------------------------------------------ CLI
def _load_model(args: argparse.Namespace) -> Any:
    from edge_screen.quantize.models import create_model

    return create_model(args.arch, checkpoint=args.model, trust_checkpoint=args.trust_checkpoint,
                        input_size=args.img_size)  # fmt: skip


def _image_sets(args: argparse.Namespace, model: Any) -> tuple[Any, Any]:
    from edge_screen.preprocess import Preprocessing
    from edge_screen.quantize.calib import load_image_set

    cfg = model.default_cfg
    prep = Preprocessing(input_size=int(args.img_size or cfg["input_size"]), mean=tuple(cfg["mean"]),
                         std=tuple(cfg["std"]), color_order=cfg.get("color_order", "RGB"), crop=args.crop)  # fmt: skip
    calib = load_image_set(args.calib, prep, limit=args.calib_images) if args.calib else None
    val = load_image_set(args.val, prep, limit=None) if args.val else None
    if val is not None and not val.labelled:
        raise UsageError(f"--val {args.val} needs labels of both classes (normal and abnormal) for the AUC")
    return calib, val


def _add_int8_args(p: argparse.ArgumentParser) -> None:
    from edge_screen.cli import non_negative_int
    from edge_screen.quantize import DEFAULT_FLOAT_CONVS

    p.add_argument("--float-convs", type=non_negative_int, default=DEFAULT_FLOAT_CONVS, metavar="K",
                   help=f"int8: keep the first K backbone convolutions in float (default {DEFAULT_FLOAT_CONVS}; 0: all INT8)")
    p.add_argument("--no-bias-correction", dest="bias_correction", action="store_false",
                   help="int8 onnx/tensorrt: skip the bias correction (OpenVINO's NNCF always applies its own)")


def add_ptq_args(p: argparse.ArgumentParser) -> None:
    """Post-training INT8 options of ``export`` and ``requantize`` (weights, OpenVINO route, golden set)."""
    p.add_argument("--int8-weights", dest="weight_bits", type=int, choices=(7, 8), default=7,
                   help="int8 onnx/openvino weight bits (default 7: no int16 saturation on x86 CPUs without "
                        "VNNI; 8 only for VNNI/AMX/ARM-dotprod deployments, recorded as requires_isa)")
    p.add_argument("--openvino-int8", choices=OPENVINO_INT8, default="qdq",
                   help="openvino int8: run the ONNX Runtime Q/DQ model (qdq, default) or an NNCF IR (nncf)")
    p.add_argument("--golden", metavar="DATA", default=None,
                   help="photos for the bundle's golden set (self-check; default: --val, else --calib)")
    p.add_argument("--golden-match", metavar="GLOB", default=None,
                   help="only golden photos whose file name matches, e.g. 'idrid_*' (redistributable ones)")
    p.add_argument("--golden-source", metavar="TEXT", default=None,
                   help="attribution of the golden photos, stored in the manifest (e.g. their licence)")


def _cmd_export(args: argparse.Namespace) -> int:
    model = _load_model(args)
    calib, val = _image_sets(args, model)
    root = export_bundle(model, args.out, targets=[(args.format, args.precision)], input_size=args.img_size,
                         calib=calib, val=val, max_auc_drop=args.max_auc_drop, name=args.name,
                         version=args.version, crop=args.crop, float_convs=args.float_convs,
                         bias_correction=args.bias_correction, weight_bits=args.weight_bits,
                         openvino_int8=args.openvino_int8, golden=args.golden, golden_match=args.golden_match,
                         golden_source=args.golden_source, gate=args.gate)  # fmt: skip
    print(f"bundle written: {root}")
    return 0


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="CKPT", help="training checkpoint or Jang released .pth")
    p.add_argument("--arch", default=None, help="registry model name (needed unless CKPT is an edge-screen checkpoint)")
    p.add_argument("--trust-checkpoint", action="store_true", help="allow arbitrary pickles in CKPT")
    p.add_argument("--img-size", type=int, default=None, help="model input size S (default: the model's)")
    p.add_argument("--crop", choices=("fov", "none"), default="fov", help="preprocessing crop (default fov)")
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
    from edge_screen.preprocess import Preprocessing

    cfg = model.default_cfg
    prep = Preprocessing(input_size=int(args.img_size or cfg["input_size"]), mean=tuple(cfg["mean"]),
                         std=tuple(cfg["std"]), color_order=cfg.get("color_order", "RGB"), crop=args.crop)  # fmt: skip
    train = load_image_set(args.train, prep, limit=None)
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
