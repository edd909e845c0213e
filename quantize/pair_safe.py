"""8-bit INT8 weights that cannot saturate the int16 pair sums of x86 CPUs without VNNI (issue 12).

Without VNNI, x86 INT8 kernels (ONNX Runtime's MLAS, OpenVINO's oneDNN) multiply u8 activations by
s8 weights with ``vpmaddubsw``: each *pair* of products along the input channels, ``a0*w0 + a1*w1``,
goes into a saturating int16. Activations reach 255, so a pair saturates only when its two weights
have the same sign and ``|w0| + |w1| > 32767 / 255 = 128.5``. 7-bit weights (``|w| <= 64``) rule that
out everywhere, at the price of a weight step twice that of 8-bit.

Most pairs are far from that limit: the largest weight of a channel rarely sits next to another large
one of the same sign. So each output channel of a 1x1 convolution gets its own scale,

    s = max( max|w| / 127,  max over pairs (2i, 2i+1) of same sign of (|w_2i| + |w_2i+1|) / 128 ),

which keeps every same-sign pair sum at most 128 (255 x 128 = 32,640 <= 32,767) and every weight
within 8 bits. Nothing is clipped: the grid is only as coarse as the channel's worst pair needs.
On the default model the median step is 0.58 of the 7-bit step (8-bit: 0.50); the per-channel scales
are what every runtime already reads, so the graph, its kernels and its speed are unchanged.

The pairs are consecutive input channels starting at an even index: both libraries pack the K
dimension of a 1x1 convolution (its input channels) in groups of 4 and ``vpmaddubsw`` adds (k0, k1)
and (k2, k3). Checked, not assumed: ``tests/quantize/test_int8_saturation.py`` runs ONNX Runtime on
an emulated AVX2 CPU (``qemu-x86_64 -cpu Haswell``), and MODEL_CARD.md has the default model under
the same emulation for both runtimes. Convolutions whose K order is less obvious keep safe scales:

* depthwise convolutions keep 8-bit per-channel scales (the emulated AVX2 check gives bit-identical
  outputs with them, for both runtimes);
* other k x k convolutions get 7-bit scales (``max|w| / 64``), safe in any packing order.

The conv's INT32 bias is re-expressed in the new bias scale ``s_in * s``; run bias correction after.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_screen.errors import EdgeScreenError

log = logging.getLogger(__name__)

#: the largest |w0| + |w1| of a same-sign weight pair: 255 x 128 = 32,640 fits an int16
PAIR_LIMIT = 128
QMAX = 127


@dataclass(frozen=True)
class PairSafeResult:
    """What :func:`make_pair_safe` did."""

    convs: int  # 1x1 convolutions given pair-safe scales
    depthwise: int  # depthwise convolutions given 8-bit scales
    other: int  # other convolutions given 7-bit scales
    median_step_vs_7bit: float  # median over 1x1 output channels of the new step / the 7-bit step

    def to_dict(self) -> dict:
        return {"convs": self.convs, "depthwise": self.depthwise, "other": self.other,
                "median_step_vs_7bit": round(self.median_step_vs_7bit, 3)}  # fmt: skip


def pair_sums(q: np.ndarray) -> np.ndarray:
    """Per output channel, the largest |w0| + |w1| over same-sign input-channel pairs (2i, 2i+1) of
    a ``[O, I]`` weight matrix (an opposite-sign pair counts as its larger magnitude)."""
    w = np.asarray(q, dtype=np.float64).reshape(q.shape[0], -1)
    if w.shape[1] % 2:
        w = np.pad(w, ((0, 0), (0, 1)))
    a, b = w[:, 0::2], w[:, 1::2]
    both = np.where(a * b > 0, np.abs(a) + np.abs(b), np.maximum(np.abs(a), np.abs(b)))
    return both.max(axis=1)


def pair_safe_scale(w: np.ndarray) -> np.ndarray:
    """Per-output-channel scales of a 1x1 convolution's ``[O, I, 1, 1]`` (or ``[O, I]``) FP32 weight:
    8-bit, and every same-sign pair at most :data:`PAIR_LIMIT` steps."""
    m = w.reshape(w.shape[0], -1)
    return np.maximum(np.abs(m).max(axis=1) / QMAX, pair_sums(m) / PAIR_LIMIT)


def saturating_pairs(q: np.ndarray) -> int:
    """How many (output channel, input pair) of an integer ``[O, I, ...]`` weight exceed the limit."""
    w = np.asarray(q, dtype=np.int64).reshape(q.shape[0], -1)
    if w.shape[1] % 2:
        w = np.pad(w, ((0, 0), (0, 1)))
    a, b = w[:, 0::2], w[:, 1::2]
    return int(((a * b > 0) & (np.abs(a) + np.abs(b) > PAIR_LIMIT)).sum())


def _group(node: Any) -> int:
    return next((a.i for a in node.attribute if a.name == "group"), 1)


def make_pair_safe(qdq_path: str | Path, fp32_path: str | Path) -> PairSafeResult:
    """Re-quantize the conv weights of the Q/DQ file ``qdq_path`` (ONNX Runtime U8S8, per channel) from
    the FP32 graph it was quantized from (``fp32_path``: same initializer names), in place."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(qdq_path))
    fp32 = {t.name: t for t in onnx.load(str(fp32_path)).graph.initializer}
    inits = {t.name: t for t in model.graph.initializer}
    producers = {o: n for n in model.graph.node for o in n.output}
    counts = {"convs": 0, "depthwise": 0, "other": 0}
    ratios: list[np.ndarray] = []
    for node in model.graph.node:
        if node.op_type != "Conv" or len(node.input) < 2:
            continue
        dq = producers.get(node.input[1])
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in inits:
            continue
        qname, sname = dq.input[0], dq.input[1]
        base = qname[: -len("_quantized")] if qname.endswith("_quantized") else qname
        if base not in fp32:
            raise EdgeScreenError(f"pair-safe weights: {qname} of {node.name} has no FP32 weight {base!r} in {fp32_path}")
        w = numpy_helper.to_array(fp32[base]).astype(np.float64)
        old = numpy_helper.to_array(inits[sname]).astype(np.float64).reshape(-1)
        m = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
        if old.shape != m.shape:
            raise EdgeScreenError(f"pair-safe weights: {node.name} is not quantized per output channel")
        if _group(node) > 1:
            scale, kind = m / QMAX, "depthwise"
        elif w.shape[2:] == (1, 1):
            scale, kind = pair_safe_scale(w), "convs"
            ratios.append(scale[m > 0] / (m[m > 0] / 64))
        else:
            scale, kind = m / 64, "other"
        scale = np.where(scale > 0, scale, old).astype(np.float32)
        shape = (-1,) + (1,) * (w.ndim - 1)
        real = w / scale.astype(np.float64).reshape(shape)
        q = np.clip(np.rint(real), -QMAX, QMAX).astype(np.int8)
        if kind == "convs":
            q = clip_pairs(q)
        inits[qname].CopyFrom(numpy_helper.from_array(q, qname))
        inits[sname].CopyFrom(numpy_helper.from_array(scale, sname))
        if len(node.input) > 2 and node.input[2]:
            _rescale_bias(producers.get(node.input[2]), inits, old, scale)
        counts[kind] += 1
    onnx.save(model, str(qdq_path))
    median = float(np.median(np.concatenate(ratios))) if ratios else float("nan")
    result = PairSafeResult(counts["convs"], counts["depthwise"], counts["other"], median)
    log.info("pair-safe 8-bit weights: %s", result.to_dict())
    return result


def clip_pairs(q: np.ndarray) -> np.ndarray:
    """``q`` (integer ``[O, I, ...]``) with every same-sign input pair over :data:`PAIR_LIMIT` brought back
    to it: the excess comes off both weights, the larger one taking the larger half. Float32 scales can
    leave a worst pair at 128 + a hair, which rounds to 129; fine-tuned weights can drift a step past."""
    out = np.asarray(q, dtype=np.int64).reshape(q.shape[0], -1).copy()
    n = out.shape[1] - out.shape[1] % 2
    a, b = out[:, 0:n:2], out[:, 1:n:2]
    excess = np.where(a * b > 0, np.abs(a) + np.abs(b) - PAIR_LIMIT, 0).clip(min=0)
    big = np.abs(a) >= np.abs(b)
    cut_big, cut_small = (excess + 1) // 2, excess // 2
    a -= np.sign(a) * np.where(big, cut_big, cut_small)
    b -= np.sign(b) * np.where(big, cut_small, cut_big)
    out[:, 0:n:2], out[:, 1:n:2] = a, b
    return out.reshape(q.shape).astype(np.int8)


def _rescale_bias(dq: Any, inits: dict, old_w_scale: np.ndarray, new_w_scale: np.ndarray) -> None:
    """An INT32 bias stored as ``q * (s_in * s_w)``: the same float bias in the new scale ``s_in * s_w'``."""
    from onnx import numpy_helper

    if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in inits or dq.input[1] not in inits:
        return  # a float bias needs nothing
    bq = numpy_helper.to_array(inits[dq.input[0]]).astype(np.float64)
    bs = numpy_helper.to_array(inits[dq.input[1]]).astype(np.float64)
    s_in = bs / old_w_scale
    new_bs = (s_in * new_w_scale.astype(np.float64)).astype(np.float32)
    new_q = np.clip(np.rint(bq * bs / new_bs.astype(np.float64)), -(2**31), 2**31 - 1).astype(np.int32)
    inits[dq.input[0]].CopyFrom(numpy_helper.from_array(new_q, dq.input[0]))
    inits[dq.input[1]].CopyFrom(numpy_helper.from_array(new_bs, dq.input[1]))
