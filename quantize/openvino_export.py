"""ONNX -> OpenVINO IR (FP32 / FP16 weights) and NNCF post-training INT8, optionally accuracy-controlled.

The heatmap tail stays in float. With NNCF's defaults the in-graph CAM came out NaN, or OpenVINO
refused to compile the linear-head graph (FACTS.md), so every op type that only the head / heatmap
tail uses is in the ignored scope (:data:`TAIL_OP_TYPES`). None of them occur in the supported
backbones (EfficientNet-Lite: Conv + Clamp + Add; ResNet-50: Conv + ReLU + Add + MaxPool).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from edge_screen.errors import BackendUnavailable, EdgeScreenError, UsageError
from edge_screen.quantize.onnx_export import INPUT_NAME, OUTPUT_NAMES
from edge_screen.quantize import DEFAULT_FLOAT_CONVS
from edge_screen.quantize.formats import OPENVINO

log = logging.getLogger(__name__)

# Op types (OpenVINO opset names) used only by the global pool, the head and the heatmap tail.
# FACTS.md's list plus ReduceSum, which our CAM (mul + sum over channels) lowers to.
TAIL_OP_TYPES = (
    "MatMul", "Multiply", "Divide", "Subtract", "ReduceMax", "ReduceMin", "ReduceMean", "ReduceSum",
    "Interpolate", "SoftMax",
)  # fmt: skip

PRECISIONS = OPENVINO.precisions  # the export-format registry entry (edge_screen.quantize.formats)


def _ov() -> Any:
    from edge_screen.runtimes.openvino import import_openvino  # telemetry off before the import

    try:
        return import_openvino()
    except ImportError as exc:  # pragma: no cover - openvino is in the train extra
        raise BackendUnavailable("OpenVINO is not installed: pip install 'edge-screen[openvino]'") from exc


def onnx_to_openvino(
    onnx_path: str | os.PathLike,
    out_xml: str | os.PathLike,
    *,
    precision: str = "fp32",
    calibration: np.ndarray | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    max_auc_drop: float | None = None,
    float_convs: int = DEFAULT_FLOAT_CONVS,
) -> Path:
    """Convert an exported heatmap graph to OpenVINO IR; returns the ``.xml`` path (``.bin`` beside it).

    Args:
        onnx_path: FP32 ONNX from :func:`edge_screen.quantize.onnx_export.torch_to_onnx`.
        out_xml: IR path to write.
        precision: ``"fp32"``; ``"fp16"`` (weights stored FP16; the runtime still computes as its
            hint says); ``"int8"`` (NNCF PTQ, needs ``calibration``).
        calibration: ``[N,3,S,S]`` float32 preprocessed images (about 300 real ones).
        validation: ``(images [M,3,S,S] float32, labels [M] int 0/1)`` for accuracy control.
        max_auc_drop: with ``validation``: ``nncf.quantize_with_accuracy_control`` keeps layers in
            float until the ROC AUC drops by at most this much (absolute).
        float_convs: int8: keep this many leading backbone convolutions in float (ignored scope).
    """
    ov = _ov()
    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r} is not valid for OpenVINO; valid: {', '.join(PRECISIONS)}")
    out_xml = Path(out_xml)
    if out_xml.suffix != ".xml":
        raise UsageError(f"OpenVINO output must end in .xml, got {out_xml.name}")
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    model = ov.convert_model(str(onnx_path))
    if precision == "int8":
        if calibration is None:
            raise UsageError("OpenVINO INT8 needs calibration images: pass --calib DATA (about 300 images)")
        model = quantize_openvino(model, calibration, validation=validation, max_auc_drop=max_auc_drop,
                                  float_convs=float_convs)  # fmt: skip
    ov.save_model(model, str(out_xml), compress_to_fp16=(precision == "fp16"))
    log.info("OpenVINO %s IR written to %s", precision, out_xml)
    return out_xml


def quantize_openvino(
    model: Any,
    calibration: np.ndarray,
    *,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    max_auc_drop: float | None = None,
    float_convs: int = DEFAULT_FLOAT_CONVS,
) -> Any:
    """NNCF PTQ of an ``ov.Model`` with the heatmap tail (and the first ``float_convs``
    convolutions) ignored; accuracy-controlled when asked. NNCF's fast bias correction is on, and
    its overflow fix for every layer (7-bit weights: no int16 saturation on CPUs without VNNI)."""
    _ov()  # telemetry off before NNCF imports openvino
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    from edge_screen.quantize.ort_quant import _check_calibration

    calibration = _check_calibration(calibration)
    calib = nncf.Dataset([calibration[i : i + 1] for i in range(len(calibration))])
    ignored = nncf.IgnoredScope(types=list(TAIL_OP_TYPES), names=leading_ov_convs(model, float_convs), validate=False)
    common: dict[str, Any] = {
        "subset_size": len(calibration),
        "preset": nncf.QuantizationPreset.PERFORMANCE,
        "ignored_scope": ignored,
    }
    advanced = AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE)
    if max_auc_drop is None:
        log.info("NNCF PTQ on %d calibration images", len(calibration))
        return nncf.quantize(model, calib, **common, advanced_parameters=advanced)
    if validation is None:
        raise UsageError("--max-auc-drop needs labelled validation images: pass --val DATA")
    images, labels = validation
    labels = np.asarray(labels).astype(int)
    if set(np.unique(labels)) != {0, 1}:
        raise UsageError(f"AUC needs both classes in the validation labels, got {sorted(set(labels.tolist()))}")
    val = nncf.Dataset([(images[i : i + 1], int(labels[i])) for i in range(len(labels))], _image_of)
    log.info("NNCF PTQ with accuracy control: max AUC drop %.4f on %d validation images", max_auc_drop, len(labels))
    return nncf.quantize_with_accuracy_control(
        model,
        calib,
        val,
        validation_fn=_auc_validation_fn,
        max_drop=float(max_auc_drop),
        drop_type=nncf.DropType.ABSOLUTE,
        subset_size=common["subset_size"],
        preset=common["preset"],
        ignored_scope=ignored,
        advanced_quantization_parameters=advanced,
    )


def leading_ov_convs(model: Any, count: int) -> list[str]:
    """Friendly names of the first ``count`` (Group)Convolution ops of an ``ov.Model``, in graph order."""
    if count < 0:
        raise UsageError(f"the number of float convolutions must be >= 0, got {count}")
    convs = [op.get_friendly_name() for op in model.get_ordered_ops()
             if op.get_type_name() in ("Convolution", "GroupConvolution")]  # fmt: skip
    return convs[:count]


def _image_of(item: tuple[np.ndarray, int]) -> np.ndarray:
    """NNCF transform_fn: the model input of a ``(image [1,3,S,S], label)`` validation item."""
    return item[0]


def _auc_validation_fn(model: Any, items: Iterable[tuple[np.ndarray, int]]) -> tuple[float, None]:
    """NNCF validation_fn: ROC AUC of P(abnormal) (higher is better); no per-sample values."""
    from edge_screen.metrics import roc_auc

    compiled = model if hasattr(model, "create_infer_request") else _compile(model)
    probs, labels = [], []
    for image, label in items:
        out = compiled(image)
        probs.append(float(out[compiled.output(0)][0, 1]))
        labels.append(int(label))
    auc = roc_auc(np.asarray(labels), np.asarray(probs))
    if math.isnan(auc):  # NNCF would compare NaNs: every candidate would look equally (un)acceptable
        raise UsageError(f"accuracy control needs validation images of both classes; got {len(labels)} images "
                         f"with labels {sorted(set(labels))}")
    return auc, None


def _compile(model: Any, *, threads: int | None = None) -> Any:
    ov = _ov()
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}  # this CPU defaults to BF16 (FACTS.md)
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    return ov.Core().compile_model(model, "CPU", config)


def run_openvino(
    xml: str | os.PathLike, batch: np.ndarray, *, threads: int | None = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Run an IR on the CPU with FP32 inference precision: ``[B,3,S,S] -> (probs [B,2], heatmap [B,h,w])``."""
    ov = _ov()
    compiled = _compile(ov.Core().read_model(str(xml)), threads=threads)
    out = compiled({INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)})
    by_name = {o.get_any_name(): out[o] for o in compiled.outputs}
    missing = [n for n in OUTPUT_NAMES if n not in by_name]
    if missing:
        raise EdgeScreenError(f"{xml}: outputs {missing} missing; found {sorted(by_name)}")
    return by_name[OUTPUT_NAMES[0]], by_name[OUTPUT_NAMES[1]]
