"""Export a trained classifier into a model bundle: ``export_bundle(model, out, *, targets, ...)``.

The library behind ``edge-screen export`` (the CLI in :mod:`edge_screen.quantize.cli_export` only
parses arguments) and ``edge-screen quantize --qat``. No torch import at module import time.

Bundle layout written here (ARCHITECTURE.md "Bundle")::

    onnx/model_fp32.onnx            onnxruntime fp32 (always written: it is the reference)
    onnx/model_int8_u8s8.onnx       onnxruntime int8 (static QDQ U8S8)
    openvino/<precision>/model.xml  openvino fp32 | fp16 | int8 (+ model.bin)
    tensorrt/model_int8_qdq.onnx    tensorrt int8 (symmetric S8S8 Q/DQ; build the engine on the device)
    tensorrt/model_fp32.onnx        tensorrt fp16 / fp32 (engine built with --precision fp16)
    <format>/...                    a plug-in export format (edge_screen.exporters), written by its own `write`
    reports/quantization.json       {"<backend>/<precision>": QuantizationReport, ...}
    reports/gate.json               with gate=: the learned gate's training report + decisions per graph
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable

from edge_screen.errors import UsageError
from edge_screen.exporters import ExportJob, check_target, export_precisions, exporter_names, get_exporter

log = logging.getLogger(__name__)


class Format(str, Enum):
    """The built-in export formats (names of the ``edge_screen.exporters`` registry; a plug-in format
    is passed as its name). Each writes models for one backend: ``get_exporter(format).backend``."""

    ONNX = "onnx"
    OPENVINO = "openvino"
    TENSORRT = "tensorrt"


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


class OpenVinoInt8(str, Enum):
    """OpenVINO INT8 route (:mod:`edge_screen.quantize.openvino_export`)."""

    QDQ = "qdq"    # OpenVINO runs the ONNX Runtime Q/DQ model (one INT8 model for both CPU runtimes)
    NNCF = "nncf"  # an NNCF-quantized IR (needed for accuracy control, --max-auc-drop)


OPENVINO_INT8 = tuple(r.value for r in OpenVinoInt8)
#: CPU flags with int32-accumulating INT8 dot products (8-bit weights are safe only with one of them)
INT8_DOT_PRODUCT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp")
# Format and precision names, and the backend each format writes for, come from the export-format
# registry (edge_screen.exporters: exporter_names(), get_exporter(format).precisions / .backend).
TRT_NOTE = "build the engine on the device: edge-screen build-engine"


@dataclass(frozen=True)
class ExportReport:
    """What one :func:`export_bundle` call wrote.

    Attributes:
        root: the bundle folder (absolute).
        name, version: the bundle's, after this call.
        preprocessing: the bundle's preprocessing (from the model card, :func:`resolve_preprocessing`).
        heatmap_kind: ``"cam"`` (linear head) or ``"gradcam"`` (MLP head).
        targets: the ``(format, precision)`` pairs written (the FP32 ONNX reference is always written too).
        quantization: ``{"<backend>/int8": report dict}`` of the INT8 models written by this call
            (FP32 vs INT8 agreement, AUCs, heatmap fidelity, the machine it was measured on).
        golden_images: photos in the golden set written (0: none, see the log).
    """

    root: Path
    name: str
    version: str
    preprocessing: Any
    heatmap_kind: str
    targets: tuple[tuple[Format, Precision], ...]
    quantization: dict[str, dict] = field(default_factory=dict)
    golden_images: int = 0

    def to_dict(self) -> dict:
        """JSON-safe form."""
        return {"root": str(self.root), "name": self.name, "version": self.version,
                "preprocessing": self.preprocessing.to_dict(), "heatmap_kind": self.heatmap_kind,
                "targets": [[_name(f), _name(p)] for f, p in self.targets], "quantization": self.quantization,
                "golden_images": self.golden_images}


def _name(value: Any) -> str:
    """A format or precision as its registry name (enums give their value; plug-in names are strings)."""
    return str(getattr(value, "value", value))


def _backend_of(format: Any) -> str:
    """The backend a format writes models for (a built-in Format or a plug-in format's name)."""
    return get_exporter(_name(format)).backend


def _enum(kind: type[Enum], value: Any) -> Any:
    value = _name(value)
    try:
        return kind(value)
    except ValueError:  # a plug-in format (or precision) of the registry: kept as its name
        return value


def parse_targets(targets: Iterable[tuple[Any, Any]]) -> tuple[tuple[Format | str, Precision | str], ...]:
    """``[(format, precision), ...]`` (strings or enums), checked against the export-format registry;
    built-in names come back as enums, plug-in ones as strings. UsageError lists the valid values."""
    out = []
    for format, precision in targets:
        f, p = _name(format), _name(precision)
        check_target(f, p)
        out.append((_enum(Format, f), _enum(Precision, p)))
    return tuple(out)


def export_bundle(
    model: Any,
    out: str | os.PathLike,
    *,
    targets: Iterable[tuple[Format | str, Precision | str]],
    input_size: int | None = None,
    calib: Any = None,
    val: Any = None,
    max_auc_drop: float | None = None,
    name: str | None = None,
    version: str | None = None,
    crop: str | None = None,
    float_convs: int | None = None,
    bias_correction: bool = True,
    gate: str | os.PathLike | None = None,
    weight_bits: int | str | None = None,
    openvino_int8: OpenVinoInt8 | str = OpenVinoInt8.QDQ,
    golden: Any = None,
    golden_match: str | None = None,
    golden_source: str | None = None,
    calibration_method: str | None = None,
    percentile: float | None = None,
    finetune_epochs: int = 0,
    finetune_lr: float | None = None,
    finetune: Any = None,
) -> ExportReport:
    """Export ``model`` (a FundusClassifier) into the bundle folder ``out`` (created or extended).

    The FP32 ONNX (the reference every other artifact is made from) is exported once per call.

    Args:
        targets: ``(format, precision)`` pairs of :class:`Format` and :class:`Precision` (or their
            strings), e.g. ``[(Format.OPENVINO, Precision.INT8)]``; see :func:`edge_screen.exporters.exporters`.
        input_size: S (default: the model card's, ``model.spec.input_size``).
        crop: ``"fov"`` or ``"none"`` (default: the model card's).
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
        weight_bits: int8 ONNX Runtime / OpenVINO weight grid (:data:`~edge_screen.quantize.WEIGHT_GRIDS`):
            ``"8-pair"`` (default: 8-bit, no int16 saturation on x86 CPUs without VNNI,
            :mod:`edge_screen.quantize.pair_safe`), 7 (same safety, coarser) or 8 (VNNI/AMX/ARM only).
        openvino_int8: :class:`OpenVinoInt8`: ``qdq`` (OpenVINO runs the ONNX Runtime Q/DQ model) or
            ``nncf`` (an NNCF IR; forced by ``max_auc_drop``).
        calibration_method: int8 ONNX Runtime / OpenVINO Q/DQ: activation ranges, ``minmax`` (default),
            ``percentile`` (of |x|, ``percentile``, default 99.999) or ``entropy``
            (:class:`~edge_screen.quantize.ort_quant.Calibration`); recorded in the manifest.
        finetune_epochs: int8 ONNX Runtime / OpenVINO Q/DQ: > 0 fine-tunes the INT8 weights against the FP32
            graph for this many epochs (:mod:`edge_screen.quantize.qdq_finetune`) on ``finetune`` (an
            ImageSet, unlabelled is fine; default: ``calib``); ``finetune_lr`` in weight-grid steps.
        golden: photos for the bundle's golden set (a labels.csv / folder, or a list of paths);
            default: the validation (else calibration) photos. ``golden_match``: file-name glob;
            ``golden_source``: their attribution (stored in the manifest).
    Returns: an :class:`ExportReport` (``.root``: the bundle folder).
    """
    from edge_screen.bundle import BundleWriter
    from edge_screen.quantize.cam import with_heatmap
    from edge_screen.quantize.model_spec import resolve_preprocessing
    from edge_screen.quantize.onnx_export import torch_to_onnx

    int8 = int8_options(float_convs=float_convs, bias_correction=bias_correction, weight_bits=weight_bits,
                        calibration_method=calibration_method, percentile=percentile,
                        finetune_epochs=finetune_epochs, finetune_lr=finetune_lr)  # fmt: skip
    try:
        openvino_int8 = OpenVinoInt8(openvino_int8)
    except ValueError:
        raise UsageError(f"--openvino-int8 must be one of {', '.join(OPENVINO_INT8)}, got {openvino_int8!r}") from None
    if max_auc_drop is not None:
        openvino_int8 = OpenVinoInt8.NNCF  # accuracy control is NNCF's
    targets = parse_targets(targets)
    if not targets:
        raise UsageError("nothing to export: give at least one (format, precision)")
    for format, precision in targets:
        reason = get_exporter(_name(format)).unavailable()
        if reason is not None:
            raise UsageError(reason)
        if precision == Precision.INT8 and calib is None:
            raise UsageError(f"{_name(format)} int8 needs calibration images: pass --calib DATA "
                             "(about 300 real images)")
    if max_auc_drop is not None and ((Format.OPENVINO, Precision.INT8) not in targets or val is None):
        raise UsageError("--max-auc-drop works with --format openvino --precision int8 and needs --val DATA")
    cfg = dict(model.default_cfg)
    prep = resolve_preprocessing(model, {"input_size": input_size, "crop": crop})
    size = prep.input_size
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
    gate_report = gate_reporter(writer, root, fp32, gate_file["report"], calib, val, prep) if heads else None

    # plain strings below: they become paths and messages (str() of a str-Enum is its name on Python 3.11)
    reports = write_int8_targets(writer, root, fp32, [(_name(f), _name(p)) for f, p in targets], graph=graph, size=size,
                                 calib=calib, val=val, max_auc_drop=max_auc_drop, int8=int8,
                                 openvino_int8=openvino_int8.value, after=gate_report, finetune=finetune)  # fmt: skip
    writer.write()
    n_golden = add_golden_set(root, golden if golden is not None else (val if val is not None else calib), golden_match,
                            golden_source)  # fmt: skip
    return ExportReport(root=root, name=writer.manifest["name"], version=writer.manifest["version"], preprocessing=prep,
                        heatmap_kind=graph.kind, targets=targets, quantization=reports, golden_images=n_golden)


def int8_options(*, float_convs: int | None = None, bias_correction: bool = True, weight_bits: int | str | None = None,
                 calibration_method: str | None = None, percentile: float | None = None,
                 finetune_epochs: int = 0, finetune_lr: float | None = None) -> dict[str, Any]:  # fmt: skip
    """The INT8 recipe of ``export`` and ``requantize`` as the dict passed to the quantizers and recorded
    with every INT8 model in the manifest (None: the default). Raises UsageError on invalid values."""
    from edge_screen.quantize import CALIBRATIONS, DEFAULT_FLOAT_CONVS, DEFAULT_PERCENTILE
    from edge_screen.quantize import weight_grid

    bits, pair_safe = weight_grid(weight_bits)
    int8: dict[str, Any] = {"float_convs": DEFAULT_FLOAT_CONVS if float_convs is None else int(float_convs),
                            "bias_correction": bool(bias_correction), "weight_bits": bits, "pair_safe": pair_safe,
                            "calibration_method": str(getattr(calibration_method, "value", calibration_method)
                                                      or "minmax")}  # fmt: skip
    if int8["float_convs"] < 0:
        raise UsageError(f"--float-convs must be >= 0, got {float_convs}")
    if int8["calibration_method"] not in CALIBRATIONS:
        raise UsageError(f"--int8-calibration must be one of {', '.join(CALIBRATIONS)}, got {calibration_method!r}")
    if int8["calibration_method"] == "percentile":
        int8["percentile"] = DEFAULT_PERCENTILE if percentile is None else float(percentile)
        if not 50.0 < int8["percentile"] < 100.0:
            raise UsageError(f"--int8-percentile must be in (50, 100), got {percentile}")
    elif percentile is not None:
        raise UsageError("--int8-percentile goes with --int8-calibration percentile")
    if finetune_epochs:
        from edge_screen.quantize.qdq_finetune import DEFAULT_LR

        int8["finetune_epochs"] = int(finetune_epochs)
        int8["finetune_lr"] = DEFAULT_LR if finetune_lr is None else float(finetune_lr)
        if int8["finetune_epochs"] < 0 or not int8["finetune_lr"] > 0:
            raise UsageError(f"--int8-finetune must be >= 0 and --int8-finetune-lr > 0, got {finetune_epochs}, {finetune_lr}")
    elif finetune_lr is not None:
        raise UsageError("--int8-finetune-lr goes with --int8-finetune EPOCHS")
    return int8


def write_int8_targets(writer: Any, root: Path, fp32: Path, targets: Any, *, graph: Any, size: int, calib: Any,
                       val: Any, max_auc_drop: float | None, int8: dict[str, Any], openvino_int8: str,
                       after: Any = None, finetune: Any = None) -> dict[str, dict]:  # fmt: skip
    """Write each (format, precision) of ``targets`` (strings) from the FP32 ONNX ``fp32`` (``graph``: the
    torch heatmap graph, needed only for torch-tensorrt) and add the INT8 quantization reports;
    ``after(artifact, format, precision)`` is called for each model written (e.g. its gate report).
    ``finetune``: ImageSet the INT8 fine-tuning (``int8["finetune_epochs"]``) reads (default: ``calib``).

    Returns: ``{"<backend>/int8": report entry}`` of the INT8 models written.
    """
    targets, reports = list(targets), {}
    if openvino_int8 == "qdq" and ("openvino", "int8") in targets:
        # OpenVINO runs the ONNX Runtime Q/DQ model: make it first, then point openvino/int8 at it
        targets = [t for t in targets if t != ("onnx", "int8")]
        targets.insert(targets.index(("openvino", "int8")), ("onnx", "int8"))
    for format, precision in targets:
        artifact = _write_format(writer, root, fp32, graph, format, precision, size, calib, val, max_auc_drop, int8,
                                 openvino_int8, finetune)  # fmt: skip
        if precision == "int8" and artifact is not None:
            reports[f"{_backend_of(format)}/int8"] = _add_report(writer, root, fp32, artifact, format, calib, val)
        if after is not None and artifact is not None:
            after(artifact, format, precision)
        log.info("bundle %s: %s %s written", root, format, precision)
    return reports


def add_golden_set(root: Path, source: Any, match: str | None, attribution: str | None = None) -> int:
    """The bundle's golden set (edge_screen.golden) from ``source`` (ImageSet, data path or path list);
    returns the number of photos written (0: none, with a warning)."""
    if source is None:
        log.warning("bundle %s: no photos for a golden set (pass --val, --calib or --golden); its INT8/FP16 "
                    "models cannot be self-checked and will not be chosen automatically", root)  # fmt: skip
        return 0
    from edge_screen.quantize.golden import build_golden

    try:
        entry = build_golden(root, source, match=match, attribution=attribution or "")
    except UsageError as exc:  # the models are written; without a golden set only FP32 is chosen automatically
        log.warning("bundle %s: no golden set written (%s); its INT8/FP16 models cannot be self-checked "
                    "on other machines: run edge-screen golden %s --images DATA", root, exc, root)  # fmt: skip
        return 0
    return len(entry.get("images", ()))


def _write_format(writer: Any, root: Path, fp32: Path, graph: Any, format: str, precision: str, size: int,
                  calib: Any, val: Any, max_auc_drop: float | None, int8: dict[str, Any],
                  openvino_int8: str = "qdq", finetune: Any = None) -> Path | None:  # fmt: skip
    """Write one artifact into the bundle; return the path used for the INT8 report (or None).

    ``int8``: :func:`int8_options` (``float_convs``, ``bias_correction``, ``weight_bits``, ``calibration_method``
    [, ``percentile``]), recorded with
    every INT8 model (TensorRT's S8S8 Q/DQ keeps 8-bit weights: GPUs accumulate in int32).
    """
    images = None if calib is None else calib.images
    tune = None if finetune is None else finetune.images
    isa = _isa_fields(int8["weight_bits"], int8.get("pair_safe", False))
    if format == "onnx":
        if precision == "int8":
            from edge_screen.quantize.ort_quant import onnx_to_ort_int8

            path = onnx_to_ort_int8(fp32, root / "onnx" / "model_int8_u8s8.onnx", images, finetune_images=tune, **int8)
            writer.add_model("onnxruntime", "int8", {"model": path}, quantization="static QDQ U8S8 per-channel",
                             **int8, **_finetune_fields(int8, images, tune), **isa)  # fmt: skip
            return path
        return None
    if format == "openvino" and precision == "int8" and openvino_int8 == "qdq":
        path = root / "onnx" / "model_int8_u8s8.onnx"
        if not path.is_file():
            raise UsageError("openvino int8 (qdq) needs the ONNX Runtime Q/DQ model first")
        _replace_model(writer, "openvino", "int8", {"model": path}, quantization="ONNX Runtime static QDQ U8S8 "
                       "per-channel, run by OpenVINO", inference_precision="f32", **int8,
                       **_finetune_fields(int8, images, tune), **isa)  # fmt: skip
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


def gate_reporter(writer: Any, root: Path, fp32: Path, train_report: dict, calib: Any, val: Any,
                  prep: Any) -> Callable[[Path, str, str], None]:  # fmt: skip
    """Write the FP32 graph's entry of ``reports/gate.json`` now; return the ``after`` callback of
    :func:`write_int8_targets` that writes every other graph's entry against it (``export`` and
    ``requantize``: an INT8 model rewritten without its gate entry would leave a stale report).

    ``train_report``: the ``training`` part of the report (from ``gate.pt`` or the bundle's report).
    """
    gate_file = {"report": train_report}
    ref = _gate_report(writer, root, fp32, "onnx", "fp32", gate_file, calib, val, prep)

    def after(artifact: Path, format: str, precision: str) -> None:
        if artifact != fp32:
            _gate_report(writer, root, artifact, format, precision, gate_file, calib, val, prep, ref=ref)

    return after


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
    gate_export.write_report(writer, root, gate_file["report"], f"{_backend_of(format)}/{precision}", entry)
    return outs, real, tensors, infos


def _finetune_fields(int8: dict[str, Any], calib: Any, tune: Any) -> dict[str, Any]:
    """Manifest fields of an INT8 model whose weights were fine-tuned: on how many photos."""
    if not int8.get("finetune_epochs"):
        return {}
    data = calib if tune is None else tune
    return {"finetune_images": 0 if data is None else len(data)}


def _isa_fields(weight_bits: int, pair_safe: bool = False) -> dict[str, Any]:
    """Manifest fields saying which CPUs an INT8 CPU model is for (the runtime honours ``requires_isa``)."""
    if weight_bits == 7:
        return {"isa": "any CPU: 7-bit weights cannot saturate the int16 sums of x86 kernels without VNNI"}
    if pair_safe:
        return {"isa": "any CPU: 8-bit weights whose same-sign input pairs stay within 128 steps cannot saturate "
                       "the int16 sums of x86 kernels without VNNI"}  # fmt: skip
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


def _add_recheck(writer: Any, backend: str, ref: tuple, cand: tuple, threshold: float, labels: Any,
                 what: str) -> dict | None:  # fmt: skip
    """The INT8 entry's borderline re-check (edge_screen.recheck): photos within the largest |dp| seen
    here of the threshold are decided by FP32 at run time. Returns the report's ``recheck`` part: the
    policy and the comparison of what the screener then reports (FP32 inside the band) with FP32."""
    import numpy as np

    from edge_screen.quantize.quant_report import compare_outputs
    from edge_screen.recheck import KEY, policy_from_comparison, rechecked_probability

    try:
        policy = policy_from_comparison(ref[0][:, 1], cand[0][:, 1], threshold, what=what)
    except UsageError as exc:
        log.warning("%s/int8: no borderline re-check written: %s", backend, exc)
        return None
    writer.set_model_fields(backend, "int8", **{KEY: policy.to_dict()})
    _, band = rechecked_probability(cand[0][:, 1], ref[0][:, 1], threshold, policy.margin)
    screened = (np.where(band[:, None], ref[0], cand[0]), np.where(band[:, None, None], ref[1], cand[1]))
    rep = compare_outputs(ref, screened, reference_name="onnxruntime/fp32", candidate_name=f"{backend}/int8 + re-check",
                          threshold=threshold, labels=labels)  # fmt: skip
    keep = ("prob_max_abs_diff", "prob_mean_abs_diff", "verdict_agreement", "auc_reference", "auc_candidate",
            "heatmap_pearson_mean", "heatmap_pearson_min")  # fmt: skip
    out = {**policy.to_dict(), **{k: v for k, v in rep.to_dict().items() if k in keep}}
    log.info("%s/int8: photos within %.3f of the threshold will be re-checked in FP32 (%.1f%% of the %s)",
             backend, policy.margin, 100 * (policy.fraction or 0.0), what)  # fmt: skip
    return out


def _add_report(writer: Any, root: Path, fp32: Path, artifact: Path, format: str, calib: Any, val: Any) -> dict:
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
    backend = _backend_of(format)
    report = compare_outputs(ref, cand, reference_name="onnxruntime/fp32", candidate_name=f"{backend}/int8",
                             threshold=threshold, labels=labels, sizes=sizes)  # fmt: skip
    notes = [] if val is not None else ["compared on the calibration images (no --val): no AUC"]
    if format == "tensorrt":
        notes.append("Q/DQ graph run in ONNX Runtime on the CPU; the TensorRT engine fuses the same scales")
    from edge_screen.quantize.quant_report import machine_record

    entry = {**report.to_dict(), "notes": notes, "machine": machine_record()}
    screened = _add_recheck(writer, backend, ref, cand, threshold, labels,
                            "validation photos" if val is not None else "calibration photos")  # fmt: skip
    if screened is not None:
        entry["recheck"] = screened
    existing: dict = {}
    rel = writer.manifest.get("reports", {}).get("quantization")
    if rel and (root / rel).is_file():
        existing = json.loads((root / rel).read_text(encoding="utf-8"))
    existing[f"{backend}/int8"] = entry
    writer.add_report("quantization", existing)
    return entry
