"""ONNX Runtime static INT8 (QDQ) quantization of an exported heatmap graph.

x86 CPUs: activations QUInt8, weights QInt8 per channel (U8S8). S8S8 measured 1.4-4.6x slower
than U8S8 here, slower than FP32 for MobileNetV3 (FACTS.md). Every node from the global pool on
(head + heatmap tail) stays FP32: quantizing it broke the heatmap.

**Weights cannot saturate on CPUs without VNNI.** Measured on the default model (issue 12): without
VNNI, x86 kernels (ONNX Runtime's MLAS and OpenVINO's oneDNN alike) multiply u8 activations by s8
weights with ``vpmaddubsw``, which sums each *pair* of products into a saturating int16. With 8-bit
weights a pair reaches 2 x 255 x 127 = 64,770 > 32,767: the first INT8 convolution of the 1.1.0 bundle
saturated 0.4% of its pair sums on an emulated AVX2 CPU (its output equals a numpy model of the
saturation to +-1), and verdict agreement with FP32 fell from 99-100% to 91-97%. Two safe grids:

* ``weight_bits=7`` (ONNX Runtime's ``reduce_range``, weights in [-64, 64]): a pair is at most
  2 x 255 x 64 = 32,640; the function's default;
* ``weight_bits=8, pair_safe=True`` (:mod:`edge_screen.quantize.pair_safe`; ``--int8-weights 8-pair``,
  the export recipe's default since bundle 2.2.0): 8-bit, with per-channel scales that keep every
  same-sign input pair within 128 steps; step 0.58x the 7-bit one, mean |dp| 0.012 -> 0.009 on the
  default model.

Both give bit-identical outputs on an emulated AVX2 CPU and on AVX-512 VNNI (measured, both runtimes).
Plain ``weight_bits=8`` is for deployments known to have VNNI/AMX (or an ARM dot-product CPU).

The result is also what OpenVINO runs for ``openvino/int8`` by default (it reads Q/DQ ONNX), so one
artifact serves both runtimes (:mod:`edge_screen.quantize.openvino_export`).

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
from enum import Enum
from pathlib import Path

import numpy as np

from edge_screen.errors import EdgeScreenError, UsageError
from edge_screen.quantize import CALIBRATIONS, DEFAULT_FLOAT_CONVS, DEFAULT_PERCENTILE
from edge_screen.quantize.onnx_export import INPUT_NAME, float_nodes

log = logging.getLogger(__name__)

#: Weight bits of the INT8 models: 7 is safe from int16 saturation on CPUs without VNNI (see above).
DEFAULT_WEIGHT_BITS = 7
WEIGHT_BITS = (7, 8)


class Calibration(str, Enum):
    """How the activation ranges are set from the calibration images (ONNX Runtime's calibrators).

    ``minmax``: the observed range. ``percentile``: the ``percentile``-th percentile of |x| (clips the
    rare extremes, so the common values get finer steps). ``entropy``: KL-divergence threshold.
    Measured on the default model 2.1.0 (issue 12; 200 report photos, VNNI CPU; mean |dp| vs FP32,
    ONNX Runtime / OpenVINO): with 2 float leading convolutions, minmax 0.0120/0.0121, percentile
    99.999 0.0119/0.0116, 99.99 0.0139/0.0138, entropy 0.0125/0.0116; with 4, minmax 0.0107/0.0106,
    percentile 99.999 0.0100/0.0100, but on 241 other photos 0.0100/0.0098 vs minmax's 0.0095/0.0095.
    No method is a robust gain there: minmax stays the default.
    """

    MINMAX = "minmax"
    PERCENTILE = "percentile"
    ENTROPY = "entropy"


if tuple(c.value for c in Calibration) != CALIBRATIONS:  # the torch-free list the CLI offers
    raise ImportError(f"edge_screen.quantize.CALIBRATIONS {CALIBRATIONS} differs from ort_quant.Calibration")


class ArrayReader:
    """``onnxruntime.quantization.CalibrationDataReader`` over a ``[N,3,S,S]`` float32 array.

    Feeds ``batch_size`` images per step. Subclasses the ORT base class lazily (see :func:`_reader`).
    """

    def __init__(self, data: np.ndarray, *, batch_size: int = 8) -> None:
        self.data = _check_calibration(data)
        self.batch_size = batch_size
        self._it: Iterator[dict[str, np.ndarray]] | None = None
        self._range = (0, len(self))

    def __len__(self) -> int:
        """Number of batches (ONNX Runtime's strided calibration counts in these)."""
        return -(-len(self.data) // self.batch_size)

    def set_range(self, start_index: int, end_index: int) -> None:
        """Feed only batches ``start_index:end_index`` (``CalibStridedMinMax``)."""
        self._range = (start_index, end_index)
        self._it = None

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        start, end = self._range
        for i in range(start * self.batch_size, min(end * self.batch_size, len(self.data)), self.batch_size):
            yield {INPUT_NAME: self.data[i : i + self.batch_size]}

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._it is None:
            self._it = self._batches()
        return next(self._it, None)

    def rewind(self) -> None:
        self._range = (0, len(self))
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
    weight_bits: int = DEFAULT_WEIGHT_BITS,
    pair_safe: bool = False,
    calibration_method: Calibration | str = Calibration.MINMAX,
    percentile: float = DEFAULT_PERCENTILE,
    batch_size: int = 8,
    finetune_epochs: int = 0,
    finetune_lr: float | None = None,
    finetune_images: np.ndarray | None = None,
) -> Path:
    """Static QDQ U8S8 quantization for ONNX Runtime on x86; returns ``out``.

    Args:
        onnx_path: FP32 graph from :func:`edge_screen.quantize.onnx_export.torch_to_onnx`.
        out: path of the INT8 QDQ model.
        calibration: ``[N,3,S,S]`` float32 preprocessed images (~300 real ones).
        per_channel: per-output-channel weight scales (recommended; per-tensor loses accuracy on
            depthwise convolutions).
        keep_tail_float: exclude every node from the global pool on (head + heatmap).
        float_convs: keep this many leading backbone convolutions in FP32 (0: quantize all).
        bias_correction: correct the conv biases for the INT8 rounding shift (on up to 64 of the
            calibration images, ~40 s for the default model on 2 cores).
        weight_bits: 7 (default; no int16 saturation on x86 CPUs without VNNI) or 8.
        pair_safe: with 8-bit weights: per-channel scales that keep every same-sign input-channel pair of
            a 1x1 conv within 128 steps (:func:`~edge_screen.quantize.pair_safe.make_pair_safe`): as safe as
            7-bit on CPUs without VNNI, step 0.58x the 7-bit one on the default model.
        calibration_method: :class:`Calibration` of the activation ranges (default minmax).
        percentile: with ``calibration_method="percentile"``: the percentile of |x| kept (e.g. 99.999).
        finetune_epochs: > 0: then fine-tune the INT8 weights against the FP32 graph for this many epochs
            (:mod:`edge_screen.quantize.qdq_finetune`; ~1 min per epoch of 200 photos for the default model
            on 2 cores), on ``finetune_images`` (default: the calibration images). ``finetune_lr``: its step
            in weight-grid units (default :data:`~edge_screen.quantize.qdq_finetune.DEFAULT_LR`).
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    images = _check_calibration(calibration)
    if weight_bits not in WEIGHT_BITS:
        raise UsageError(f"INT8 weight bits must be one of {WEIGHT_BITS}, got {weight_bits!r}")
    if pair_safe and weight_bits != 8:
        raise UsageError("pair-safe weight scales go with 8-bit weights")
    method, extra = _calibration_options(calibration_method, percentile)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edge-screen-ortq-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        # Symbolic shape inference fails on the dynamo graphs' dynamic batch; ONNX shape
        # inference + ORT graph optimisation (BN folding etc.) is what we need.
        quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)
        model = onnx.load(str(pre))
        exclude = float_nodes(model, float_convs=float_convs, tail=keep_tail_float)
        log.info("ORT INT8: %d calibration images (%s), %d nodes kept FP32, %d-bit weights",
                 len(images), method.name, len(exclude), weight_bits)  # fmt: skip
        quantize_static(
            str(pre),
            str(out),
            _reader(images, batch_size),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            reduce_range=weight_bits == 7,
            calibrate_method=method,
            nodes_to_exclude=exclude,
            extra_options=extra,
        )
        if not out.is_file():
            raise EdgeScreenError(f"ONNX Runtime quantization wrote no model at {out}")
        if pair_safe:  # before the bias correction, which then corrects the new grid
            from edge_screen.quantize.pair_safe import make_pair_safe

            make_pair_safe(out, pre)
        if bias_correction:
            from edge_screen.quantize.bias_correction import correct_biases

            correct_biases(out, pre, images)
        if finetune_epochs:
            from edge_screen.quantize.qdq_finetune import DEFAULT_LR, finetune_qdq

            tune = images if finetune_images is None else _check_calibration(finetune_images)
            finetune_qdq(out, pre, tune, epochs=int(finetune_epochs), lr=DEFAULT_LR if finetune_lr is None else finetune_lr)
    return out


def _calibration_options(calibration: Calibration | str, percentile: float) -> tuple[object, dict]:
    """ONNX Runtime's ``calibrate_method`` and ``extra_options`` for a :class:`Calibration`."""
    from onnxruntime.quantization import CalibrationMethod

    try:
        calibration = Calibration(calibration)
    except ValueError:
        raise UsageError(f"INT8 calibration must be one of {', '.join(CALIBRATIONS)}, got {calibration!r}") from None
    if calibration == Calibration.MINMAX:
        return CalibrationMethod.MinMax, {}
    # Histogram calibrators keep every activation of every image they are fed (200 images at 384 px:
    # > 24 GB, killed): feed them one batch at a time, the histograms are merged.
    extra: dict = {"CalibStridedMinMax": 1}
    if calibration == Calibration.ENTROPY:
        return CalibrationMethod.Entropy, extra
    if not 50.0 < float(percentile) < 100.0:
        raise UsageError(f"the calibration percentile must be in (50, 100), got {percentile!r}")
    return CalibrationMethod.Percentile, {**extra, "CalibPercentile": float(percentile)}
