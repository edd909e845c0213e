"""ONNX Runtime static INT8 (QDQ) quantization of an exported heatmap graph.

x86 CPUs: activations QUInt8, weights QInt8 per channel (U8S8). S8S8 measured 1.4-4.6x slower
than U8S8 here, slower than FP32 for MobileNetV3 (FACTS.md). Every node from the global pool on
(head + heatmap tail) stays FP32: quantizing it broke the heatmap.

Two fidelity measures, both on by default (numbers in MODEL_CARD.md):

* the first ``float_convs`` backbone convolutions stay FP32 (:func:`~edge_screen.quantize.onnx_export.leading_convs`);
* sequential bias correction (:mod:`edge_screen.quantize.bias_correction`), which ONNX Runtime's
  quantizer does not do (NNCF does it for OpenVINO).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edge_screen.errors import EdgeScreenError, UsageError
from edge_screen.quantize import DEFAULT_FLOAT_CONVS
from edge_screen.quantize.onnx_export import INPUT_NAME, leading_convs, tail_nodes

log = logging.getLogger(__name__)


class ArrayReader:
    """``onnxruntime.quantization.CalibrationDataReader`` over a ``[N,3,S,S]`` float32 array.

    Feeds ``batch_size`` images per step. Subclasses the ORT base class lazily (see :func:`_reader`).
    """

    def __init__(self, data: np.ndarray, *, batch_size: int = 8) -> None:
        self.data = _check_calibration(data)
        self.batch_size = batch_size
        self._it: Iterator[dict[str, np.ndarray]] | None = None

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        for i in range(0, len(self.data), self.batch_size):
            yield {INPUT_NAME: self.data[i : i + self.batch_size]}

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._it is None:
            self._it = self._batches()
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = None


def _reader(data: np.ndarray, batch_size: int) -> ArrayReader:
    from onnxruntime.quantization import CalibrationDataReader

    cls = type("OrtArrayReader", (ArrayReader, CalibrationDataReader), {})
    return cls(data, batch_size=batch_size)


def _check_calibration(data: np.ndarray) -> np.ndarray:
    if not isinstance(data, np.ndarray) or data.ndim != 4 or data.shape[1] != 3 or len(data) == 0:
        shape = getattr(data, "shape", type(data).__name__)
        raise UsageError(
            f"calibration data must be a non-empty float32 array [N,3,S,S], got {shape}; "
            "build it with edge_screen.quantize.calib.load_calibration"
        )
    if not np.isfinite(data).all():
        raise UsageError("calibration data contains NaN/inf; check the preprocessing of the calibration images")
    return np.ascontiguousarray(data, dtype=np.float32)


def onnx_to_ort_int8(
    onnx_path: str | os.PathLike,
    out: str | os.PathLike,
    calibration: np.ndarray,
    *,
    per_channel: bool = True,
    keep_tail_float: bool = True,
    float_convs: int = DEFAULT_FLOAT_CONVS,
    bias_correction: bool = True,
    batch_size: int = 8,
) -> Path:
    """Static QDQ U8S8 quantization for ONNX Runtime on x86; returns ``out``.

    Args:
        onnx_path: FP32 graph from :func:`edge_screen.quantize.onnx_export.torch_to_onnx`.
        out: path of the INT8 QDQ model.
        calibration: ``[N,3,S,S]`` float32 preprocessed images (~300 real ones; MinMax calibration).
        per_channel: per-output-channel weight scales (recommended; per-tensor loses accuracy on
            depthwise convolutions).
        keep_tail_float: exclude every node from the global pool on (head + heatmap).
        float_convs: keep this many leading backbone convolutions in FP32 (0: quantize all).
        bias_correction: correct the conv biases for the INT8 rounding shift (on up to 64 of the
            calibration images, ~40 s for the default model on 2 cores).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calibration = _check_calibration(calibration)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edge-screen-ortq-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        # Symbolic shape inference fails on the dynamo graphs' dynamic batch; ONNX shape
        # inference + ORT graph optimisation (BN folding etc.) is what we need.
        quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)
        model = onnx.load(str(pre))
        exclude = tail_nodes(model) if keep_tail_float else []
        stem = leading_convs(model, float_convs)
        log.info("ORT INT8: %d calibration images, %d tail nodes and %d leading convs kept FP32",
                 len(calibration), len(exclude), len(stem))  # fmt: skip
        quantize_static(
            str(pre),
            str(out),
            _reader(calibration, batch_size),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=exclude + stem,
        )
        if not out.is_file():
            raise EdgeScreenError(f"ONNX Runtime quantization wrote no model at {out}")
        if bias_correction:
            from edge_screen.quantize.bias_correction import correct_biases

            correct_biases(out, pre, calibration)
    return out
