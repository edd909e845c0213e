"""Sequential bias correction of an INT8 Q/DQ ONNX graph (ONNX Runtime U8S8 and TensorRT S8S8).

Rounding INT8 weights shifts the mean of every convolution's output a little; through ~50 layers
these shifts add up to a systematic error in the logit and the CAM (Nagel et al. 2019, "Data-Free
Quantization Through Weight Equalization and Bias Correction", section 4.2). OpenVINO's NNCF
corrects them by itself (``fast_bias_correction``); ONNX Runtime's and ModelOpt's quantizers do
not, so we do it here, empirically and in graph order:

    for each quantized Conv k (in topological order):
        delta_k = E[y_k | float graph] - E[y_k | Q/DQ graph, with convs < k already corrected]
        bias_k += delta_k          (per output channel; E over images and positions)

``y_k`` is the tensor downstream layers see: the dequantized output when the conv's output is
quantized, else the raw conv output. The correction runs on a subset of the calibration images,
so the float graph's statistics come from the same pixels the ranges came from.

The bias is changed where it lives: a float initializer (TensorRT Q/DQ form), or the INT32
initializer behind a ``DequantizeLinear`` (ONNX Runtime QDQ form; ``delta / scale`` is rounded).
Weights and activation ranges are untouched, so the fused INT8 kernels and their speed stay the same.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_screen.errors import EdgeScreenError, UsageError
from edge_screen.quantize.onnx_export import INPUT_NAME

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BiasCorrection:
    """What :func:`correct_biases` did."""

    corrected: int  # convolutions whose bias was changed
    skipped: list[str]  # quantized convolutions left alone (no bias, or no float counterpart)
    images: int
    mean_abs_shift_before: float  # mean |E[y_float] - E[y_int8]| over corrected convs, before correction


def _producers(model) -> dict:  # noqa: ANN001
    return {out: node for node in model.graph.node for out in node.output}


def _consumers(model) -> dict:  # noqa: ANN001
    table: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            table.setdefault(name, []).append(node)
    return table


def _observed_tensor(model, conv, consumers: dict | None = None) -> str:  # noqa: ANN001
    """The tensor after ``conv`` that later layers read: DQ(Q(y)) when ``y`` is quantized, else ``y``."""
    consumers = _consumers(model) if consumers is None else consumers
    y = conv.output[0]
    for q in consumers.get(y, []):
        if q.op_type == "QuantizeLinear":
            for dq in consumers.get(q.output[0], []):
                if dq.op_type == "DequantizeLinear":
                    return dq.output[0]
    return y


def _quantized_convs(model) -> list:  # noqa: ANN001
    """Conv nodes whose weight comes through a DequantizeLinear, in graph (topological) order."""
    producer = _producers(model)
    out = []
    for node in model.graph.node:
        if node.op_type == "Conv" and len(node.input) > 1:
            src = producer.get(node.input[1])
            if src is not None and src.op_type == "DequantizeLinear":
                out.append(node)
    return out


class _BiasSlot:
    """Where one conv's bias lives and how to add a float per-channel delta to it."""

    def __init__(self, model, conv, producers: dict | None = None, inits: dict | None = None) -> None:  # noqa: ANN001
        from onnx import numpy_helper

        self._np = numpy_helper
        self.init = {t.name: t for t in model.graph.initializer} if inits is None else inits
        self.tensor = None
        self.scale: np.ndarray | None = None
        if len(conv.input) < 3 or not conv.input[2]:
            return
        name = conv.input[2]
        if name in self.init:
            self.tensor = self.init[name]
            return
        dq = (_producers(model) if producers is None else producers).get(name)
        if dq is not None and dq.op_type == "DequantizeLinear" and dq.input[0] in self.init:
            raw = self.init[dq.input[0]]
            if numpy_helper.to_array(raw).dtype == np.int32 and dq.input[1] in self.init:
                self.tensor = raw
                self.scale = numpy_helper.to_array(self.init[dq.input[1]]).astype(np.float64)

    @property
    def ok(self) -> bool:
        return self.tensor is not None

    def add(self, delta: np.ndarray) -> None:
        value = self._np.to_array(self.tensor)
        if value.shape != delta.shape:
            raise EdgeScreenError(f"bias {self.tensor.name} has shape {value.shape}, correction {delta.shape}")
        if self.scale is None:
            new = (value.astype(np.float64) + delta).astype(value.dtype)
        else:
            steps = np.rint(delta / self.scale)
            new = np.clip(value.astype(np.int64) + steps, -(2**31), 2**31 - 1).astype(np.int32)
        self.tensor.CopyFrom(self._np.from_array(new, self.tensor.name))


def _channel_means(model, outputs: list[str], images: np.ndarray, batch_size: int,
                   threads: int) -> dict[str, np.ndarray]:  # noqa: ANN001  # fmt: skip
    """Per-channel mean (over images and positions) of the tensors ``outputs`` [B,C,...] of ``model``.

    The tensors are added as graph outputs only for the serialized copy the session runs; ``model``
    is left as it was.
    """
    import onnx
    import onnxruntime as ort

    known = {o.name for o in model.graph.output}
    added = [onnx.helper.make_empty_tensor_value_info(n) for n in dict.fromkeys(outputs) if n not in known]
    model.graph.output.extend(added)
    try:
        serialized = model.SerializeToString()
    finally:
        for _ in added:
            model.graph.output.pop()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    sess = ort.InferenceSession(serialized, opts, providers=["CPUExecutionProvider"])
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for i in range(0, len(images), batch_size):
        batch = images[i : i + batch_size]
        for name, value in zip(outputs, sess.run(outputs, {INPUT_NAME: batch})):
            sums[name] = sums.get(name, 0.0) + value.astype(np.float64).sum(axis=(0, *range(2, value.ndim)))
            counts[name] = counts.get(name, 0) + value.size // value.shape[1]
    return {k: v / counts[k] for k, v in sums.items()}


def correct_biases(
    qdq_path: str | os.PathLike,
    float_path: str | os.PathLike,
    images: np.ndarray,
    *,
    out: str | os.PathLike | None = None,
    max_images: int = 64,
    batch_size: int = 8,
    threads: int = 2,
) -> BiasCorrection:
    """Correct the biases of every quantized Conv of ``qdq_path`` against ``float_path``; in place unless ``out``.

    Args:
        qdq_path: Q/DQ ONNX (ORT U8S8 or TensorRT S8S8) made from ``float_path``.
        float_path: the float graph the quantizer read (same Conv output tensor names).
        images: ``[N,3,S,S]`` float32 preprocessed calibration images; the first ``max_images`` are used
            (evenly spaced when there are more).
    """
    import onnx

    qdq_path = Path(qdq_path)
    if images.ndim != 4 or len(images) == 0:
        raise UsageError(f"bias correction needs images [N,3,S,S], got shape {images.shape}")
    if len(images) > max_images:
        images = images[np.linspace(0, len(images) - 1, max_images).round().astype(int)]
    images = np.ascontiguousarray(images, dtype=np.float32)
    model = onnx.load(str(qdq_path))
    ref_model = onnx.load(str(float_path))
    ref_tensors = {o for n in ref_model.graph.node for o in n.output}

    plan: list[tuple[str, str, str, _BiasSlot]] = []  # (conv name, observed q tensor, float tensor, slot)
    skipped: list[str] = []
    producers, consumers = _producers(model), _consumers(model)
    inits = {t.name: t for t in model.graph.initializer}
    for conv in _quantized_convs(model):
        slot = _BiasSlot(model, conv, producers, inits)
        if not slot.ok or conv.output[0] not in ref_tensors:
            skipped.append(conv.name)
            continue
        plan.append((conv.name, _observed_tensor(model, conv, consumers), conv.output[0], slot))
    if not plan:
        raise EdgeScreenError(f"{qdq_path.name}: no quantized Conv with a bias matches {Path(float_path).name}")

    ref = _channel_means(ref_model, [p[2] for p in plan], images, batch_size, threads)
    before: list[float] = []
    for name, observed, ref_name, slot in plan:
        got = _channel_means(model, [observed], images, batch_size, threads)[observed]
        delta = ref[ref_name] - got
        before.append(float(np.abs(delta).mean()))
        slot.add(delta)
        log.debug("bias correction %s: mean |shift| %.5f", name, before[-1])
    onnx.save(model, str(out or qdq_path))
    result = BiasCorrection(
        corrected=len(plan),
        skipped=skipped,
        images=len(images),
        mean_abs_shift_before=float(np.mean(before)),
    )
    log.info("bias correction: %d convs on %d images (mean |shift| %.4f), %d skipped",
             result.corrected, result.images, result.mean_abs_shift_before, len(skipped))  # fmt: skip
    return result
