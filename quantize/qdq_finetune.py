"""Fine-tune the weights of a Q/DQ INT8 ONNX graph against its own FP32 graph (no checkpoint needed).

Post-training quantization rounds every weight to the nearest INT8 step and leaves it there; the
rounding errors of ~47 convolutions add up to a mean |p(INT8) - p(FP32)| of ~0.012 on the default
model. This module closes most of that gap from the bundle alone:

1. The Q/DQ graph (ORT U8S8 or TensorRT S8S8, as written by :mod:`edge_screen.quantize.ort_quant`)
   is run in torch by a small interpreter: every ``QuantizeLinear``/``DequantizeLinear`` pair on an
   activation becomes a fake quantizer with the graph's own scale and zero point (straight-through
   gradient), every quantized weight becomes a float parameter, fake-quantized per output channel
   to the graph's weight grid (7-bit weights stay 7-bit) with the scale ORT would compute from it.
2. Those weights and biases are fine-tuned so that the fake-quantized graph reproduces the FP32
   graph's outputs and pooled features on unlabelled photos (distillation from the FP32 graph itself:
   the reference every INT8 report compares with; the FP32 model is not changed).
3. The tuned weights are quantized again and written into the same Q/DQ graph: same nodes, same
   activation scales, new INT8 weights, per-channel scales and INT32 biases. Every runtime that ran
   the old file runs the new one (ONNX Runtime and OpenVINO read the same file).

The interpreter covers the operators of edge-screen's exported graphs; an unknown one is a one-line
:class:`~edge_screen.errors.UsageError` naming it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edge_screen.errors import EdgeScreenError, UsageError
from edge_screen.quantize.pair_safe import clip_pairs, saturating_pairs

log = logging.getLogger(__name__)

def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _q_range(dtype: np.dtype) -> tuple[int, int]:
    if dtype == np.uint8:
        return 0, 255
    if dtype == np.int8:
        return -128, 127
    raise UsageError(f"only 8-bit activation Q/DQ is supported, got {dtype}")


@dataclass
class _Weight:
    """A quantized weight (``DequantizeLinear`` of an int8 initializer) made a float parameter."""

    param: str  # parameter name in the module
    node_output: str  # the DQ output tensor the graph reads
    q_name: str
    scale_name: str
    axis: int
    qmax: int  # symmetric grid [-qmax, qmax]
    pairs: bool = False  # pair-safe 8-bit 1x1 conv: write-back keeps every same-sign input pair <= 128


@dataclass
class _Bias:
    """A quantized conv bias (``DequantizeLinear`` of an int32 initializer; its scale s_in * s_w stays)."""

    param: str
    node_output: str
    q_name: str
    scale_name: str
    weight: str  # param name of the conv's weight (same Adam group)


@dataclass(frozen=True)
class FinetuneResult:
    """What :func:`finetune_qdq` did, for the manifest and the log."""

    images: int  # fitted on (the held-out ones judge the result)
    epochs: int
    steps: int
    loss_before: float
    loss_after: float
    weights: int
    seconds: float
    kept: bool  # the loss went down, so the fine-tuned weights were written
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "images": self.images,
            "epochs": self.epochs,
            "steps": self.steps,
            "loss_before": round(self.loss_before, 6),
            "loss_after": round(self.loss_after, 6),
            "weights": self.weights,
            "seconds": round(self.seconds, 1),
            "kept": self.kept,
            **self.extra,
        }


class OnnxTorch(nn.Module):
    """Run an ONNX graph (FP32, or Q/DQ with fake quantization) in torch.

    Args:
        model: an ``onnx.ModelProto``.
        trainable: make the quantized weights and biases float parameters (Q/DQ graphs).
    """

    def __init__(self, model: Any, *, trainable: bool = True) -> None:
        super().__init__()
        #: False: activation quantizers only clip to their range (a folded ReLU6 stays), no rounding
        self.round_activations = True
        from onnx import numpy_helper

        self.graph = model.graph
        self.nodes = list(model.graph.node)
        self.inputs = [i.name for i in model.graph.input]
        self.outputs = [o.name for o in model.graph.output]
        self.np_inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.weights: dict[str, _Weight] = {}
        self.biases: dict[str, _Bias] = {}
        self._consts: dict[str, torch.Tensor] = {}
        producers = {o: n for n in self.nodes for o in n.output}
        # quantized weights: DQ(int8 initializer) feeding input 1 of a Conv/Gemm/MatMul
        for node in self.nodes:
            if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2:
                continue
            dq = producers.get(node.input[1])
            if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in self.np_inits:
                continue
            q = self.np_inits[dq.input[0]]
            if q.dtype != np.int8:
                continue
            zp = self.np_inits.get(dq.input[2]) if len(dq.input) > 2 else None
            if zp is not None and np.any(zp != 0):
                raise UsageError(f"{dq.input[0]}: asymmetric weight quantization is not supported")
            scale = self.np_inits[dq.input[1]].astype(np.float32)
            axis = int(_attrs(dq).get("axis", 1))
            qmax = int(np.abs(q).max())
            qmax = 64 if qmax <= 64 else 127  # 7-bit (ORT reduce_range) or 8-bit grid
            pname = f"w{len(self.weights)}"
            group = int(_attrs(node).get("group", 1))
            pairs = node.op_type == "Conv" and qmax == 127 and group == 1 and q.shape[2:] == (1, 1) \
                and saturating_pairs(q) == 0  # fmt: skip
            self.weights[dq.output[0]] = _Weight(pname, dq.output[0], dq.input[0], dq.input[1], axis, qmax, pairs)
            w = (q.astype(np.float32) * _expand(scale, axis, q.ndim)).astype(np.float32)
            self.register_parameter(pname, nn.Parameter(torch.from_numpy(w), requires_grad=trainable))
            if node.op_type == "Conv" and len(node.input) > 2:
                bdq = producers.get(node.input[2])
                if bdq is not None and bdq.op_type == "DequantizeLinear" and bdq.input[0] in self.np_inits:
                    bq = self.np_inits[bdq.input[0]]
                    if bq.dtype == np.int32:
                        bscale = self.np_inits[bdq.input[1]].astype(np.float64)
                        bname = f"b{len(self.biases)}"
                        self.biases[bdq.output[0]] = _Bias(bname, bdq.output[0], bdq.input[0], bdq.input[1], pname)
                        b = (bq.astype(np.float64) * bscale).astype(np.float32)
                        self.register_parameter(bname, nn.Parameter(torch.from_numpy(b), requires_grad=trainable))
        self._skip = {n.output[0] for n in self.nodes if n.output[0] in self.weights or n.output[0] in self.biases}
        for name, arr in self.np_inits.items():
            self._consts[name] = torch.from_numpy(np.array(arr))

    # --- fake quantization ------------------------------------------------------------------------------
    def weight_scale(self, w: _Weight) -> torch.Tensor:
        """The graph's own per-channel scale: the grid stays fixed, the weights move on it (a weight
        pushed past the channel's range is clipped to +-qmax, as the file stores it)."""
        return self._consts[w.scale_name].float()

    def _fq_weight(self, w: _Weight) -> torch.Tensor:
        p = getattr(self, w.param)
        scale = self.weight_scale(w)
        zero = torch.zeros(scale.shape, dtype=torch.int32)
        return torch.fake_quantize_per_channel_affine(p, scale, zero, w.axis, -w.qmax, w.qmax)

    # --- execution --------------------------------------------------------------------------------------
    def forward(self, image: torch.Tensor, extra: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
        env: dict[str, Any] = dict(self._consts)
        env[self.inputs[0]] = image
        for w in self.weights.values():
            env[w.node_output] = self._fq_weight(w)
        for b in self.biases.values():
            env[b.node_output] = getattr(self, b.param)
        for node in self.nodes:
            if node.output[0] in self._skip:
                continue
            fn = _clamp_only if node.op_type == "QuantizeLinear" and not self.round_activations else _OPS.get(node.op_type)
            if fn is None:
                raise UsageError(f"fine-tuning cannot run ONNX operator {node.op_type} (node {node.name})")
            args = [env[i] if i else None for i in node.input]
            out = fn(node, args, _attrs(node))
            if isinstance(out, tuple):
                for name, value in zip(node.output, out):
                    env[name] = value
            else:
                env[node.output[0]] = out
        return {n: env[n] for n in (*self.outputs, *extra)}

    def param_groups(self, lr: float) -> list[dict]:
        """Adam groups, one per quantized conv (weight + bias): ``lr`` is in steps of that conv's weight grid
        (its median per-channel scale), so a layer with a fine grid moves as many steps as a coarse one."""
        bias_of = {b.weight: b.param for b in self.biases.values()}
        groups = []
        for w in self.weights.values():
            step = float(np.median(self.np_inits[w.scale_name]))
            params = [getattr(self, w.param)] + ([getattr(self, bias_of[w.param])] if w.param in bias_of else [])
            groups.append({"params": params, "lr": lr * step})
        return groups

    # --- writing back -----------------------------------------------------------------------------------
    def write_into(self, model: Any) -> None:
        """Quantize the current weights and biases into ``model``'s initializers (same graph)."""
        from onnx import numpy_helper

        inits = {t.name: t for t in model.graph.initializer}
        with torch.no_grad():
            for w in self.weights.values():
                p = getattr(self, w.param).detach().numpy().astype(np.float32)
                scale = self.weight_scale(w).numpy().astype(np.float32)
                q = np.clip(np.rint(p / _expand(scale, w.axis, p.ndim)), -w.qmax, w.qmax).astype(np.int8)
                if w.pairs:  # a pair-safe file stays safe on CPUs without VNNI
                    q = clip_pairs(q)
                inits[w.q_name].CopyFrom(numpy_helper.from_array(q, w.q_name))
            for b in self.biases.values():
                bias = getattr(self, b.param).detach().numpy().astype(np.float64)
                bscale = self.np_inits[b.scale_name].astype(np.float64)
                bq = np.clip(np.rint(bias / bscale), -(2**31), 2**31 - 1).astype(np.int32)
                inits[b.q_name].CopyFrom(numpy_helper.from_array(bq, b.q_name))


def _expand(scale: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = -1
    return np.asarray(scale).reshape(shape) if np.ndim(scale) else np.asarray(scale)


# --- operators ----------------------------------------------------------------------------------------
def _conv(node: Any, a: list, at: dict) -> torch.Tensor:
    x, w = a[0], a[1]
    b = a[2] if len(a) > 2 else None
    if at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise UsageError(f"Conv {node.name}: auto_pad is not supported")
    pads = list(at.get("pads", [0] * (2 * (x.dim() - 2))))
    k = len(pads) // 2
    begin, end = pads[:k], pads[k:]
    if begin != end:
        spec: list[int] = []
        for i in reversed(range(k)):
            spec += [begin[i], end[i]]
        x, padding = F.pad(x, spec), 0
    else:
        padding = begin
    return F.conv2d(x, w, b, stride=at.get("strides", 1), padding=padding, dilation=at.get("dilations", 1),
                    groups=at.get("group", 1))  # fmt: skip


def _quantize(node: Any, a: list, at: dict) -> torch.Tensor:
    x, scale = a[0], a[1]
    zp = a[2] if len(a) > 2 and a[2] is not None else torch.tensor(0, dtype=torch.uint8)
    qmin, qmax = _q_range(zp.numpy().dtype)
    if scale.numel() != 1:
        raise UsageError(f"QuantizeLinear {node.name}: only per-tensor activation quantization is supported")
    return torch.fake_quantize_per_tensor_affine(x, float(scale), int(zp), qmin, qmax)


def _clamp_only(node: Any, a: list, at: dict) -> torch.Tensor:
    """A QuantizeLinear/DequantizeLinear pair without its rounding: only the range it clips to."""
    scale = float(a[1])
    zp = a[2] if len(a) > 2 and a[2] is not None else torch.tensor(0, dtype=torch.uint8)
    qmin, qmax = _q_range(zp.numpy().dtype)
    return torch.clamp(a[0], (qmin - int(zp)) * scale, (qmax - int(zp)) * scale)


def _dequantize(node: Any, a: list, at: dict) -> torch.Tensor:
    x = a[0]
    if x.dtype.is_floating_point:  # output of a fake QuantizeLinear: already on the grid
        return x
    scale, zp = a[1].double(), (a[2] if len(a) > 2 and a[2] is not None else torch.tensor(0)).double()
    axis = int(at.get("axis", 1))
    if scale.dim() == 1 and x.dim() > 1:
        shape = [1] * x.dim()
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return ((x.double() - zp) * scale).float()


def _clip(node: Any, a: list, at: dict) -> torch.Tensor:
    lo = a[1] if len(a) > 1 and a[1] is not None else None
    hi = a[2] if len(a) > 2 and a[2] is not None else None
    return torch.clamp(a[0], min=None if lo is None else float(lo), max=None if hi is None else float(hi))


def _gemm(node: Any, a: list, at: dict) -> torch.Tensor:
    x, w = a[0], a[1]
    if at.get("transA", 0):
        x = x.t()
    if at.get("transB", 0):
        w = w.t()
    y = at.get("alpha", 1.0) * (x @ w)
    if len(a) > 2 and a[2] is not None:
        y = y + at.get("beta", 1.0) * a[2]
    return y


def _axes(a: list, at: dict, x: torch.Tensor) -> tuple[int, ...] | None:
    axes = at.get("axes")
    if axes is None and len(a) > 1 and a[1] is not None:
        axes = [int(v) for v in a[1].reshape(-1).tolist()]
    if not axes:
        return None if not at.get("noop_with_empty_axes", 0) else ()
    return tuple(int(v) % x.dim() for v in axes)


def _reduce(fn: Callable) -> Callable:
    def op(node: Any, a: list, at: dict) -> torch.Tensor:
        x = a[0]
        axes = _axes(a, at, x)
        if axes == ():
            return x
        keep = bool(at.get("keepdims", 1))
        axes = tuple(range(x.dim())) if axes is None else axes
        return fn(x, axes, keep)

    return op


def _reduce_max(x: torch.Tensor, axes: tuple[int, ...], keep: bool) -> torch.Tensor:
    return torch.amax(x, dim=axes, keepdim=keep)


def _shape(node: Any, a: list, at: dict) -> torch.Tensor:
    shape = list(a[0].shape)
    start, end = at.get("start", 0), at.get("end", len(shape))
    return torch.tensor(shape[start:end], dtype=torch.int64)


def _expand_op(node: Any, a: list, at: dict) -> torch.Tensor:
    shape = [int(v) for v in a[1].tolist()]
    return a[0] * torch.ones(shape, dtype=a[0].dtype) if a[0].dtype.is_floating_point else a[0].expand(*shape)


def _unsqueeze(node: Any, a: list, at: dict) -> torch.Tensor:
    axes = at.get("axes") or [int(v) for v in a[1].reshape(-1).tolist()]
    x = a[0]
    for ax in sorted(int(v) % (x.dim() + len(axes)) for v in axes):
        x = x.unsqueeze(ax)
    return x


def _squeeze(node: Any, a: list, at: dict) -> torch.Tensor:
    axes = at.get("axes") or ([int(v) for v in a[1].reshape(-1).tolist()] if len(a) > 1 and a[1] is not None else None)
    if axes is None:
        return a[0].squeeze()
    x = a[0]
    for ax in sorted((int(v) % x.dim() for v in axes), reverse=True):
        x = x.squeeze(ax)
    return x


def _reshape(node: Any, a: list, at: dict) -> torch.Tensor:
    shape = [int(v) for v in a[1].tolist()]
    shape = [a[0].shape[i] if s == 0 and not at.get("allowzero", 0) else s for i, s in enumerate(shape)]
    return a[0].reshape(shape)


def _flatten(node: Any, a: list, at: dict) -> torch.Tensor:
    axis = int(at.get("axis", 1)) % max(a[0].dim(), 1)
    return a[0].reshape(int(np.prod(a[0].shape[:axis])) if axis else 1, -1)


def _pool(kind: str) -> Callable:
    def op(node: Any, a: list, at: dict) -> torch.Tensor:
        pads = list(at.get("pads", [0, 0, 0, 0]))
        x = a[0]
        if pads[:2] != pads[2:]:
            x = F.pad(x, [pads[1], pads[3], pads[0], pads[2]], value=-float("inf") if kind == "max" else 0.0)
            pads = [0, 0, 0, 0]
        k, s = at["kernel_shape"], at.get("strides", 1)
        if kind == "max":
            return F.max_pool2d(x, k, s, padding=pads[:2], ceil_mode=bool(at.get("ceil_mode", 0)))
        return F.avg_pool2d(x, k, s, padding=pads[:2], ceil_mode=bool(at.get("ceil_mode", 0)),
                            count_include_pad=bool(at.get("count_include_pad", 0)))  # fmt: skip

    return op


_OPS: dict[str, Callable[[Any, list, dict], Any]] = {
    "Conv": _conv,
    "QuantizeLinear": _quantize,
    "DequantizeLinear": _dequantize,
    "Clip": _clip,
    "Relu": lambda n, a, at: F.relu(a[0]),
    "Sigmoid": lambda n, a, at: torch.sigmoid(a[0]),
    "HardSigmoid": lambda n, a, at: torch.clamp(at.get("alpha", 0.2) * a[0] + at.get("beta", 0.5), 0, 1),
    "Add": lambda n, a, at: a[0] + a[1],
    "Sub": lambda n, a, at: a[0] - a[1],
    "Mul": lambda n, a, at: a[0] * a[1],
    "Div": lambda n, a, at: a[0] / a[1],
    "Pow": lambda n, a, at: a[0] ** a[1],
    "Sqrt": lambda n, a, at: torch.sqrt(a[0]),
    "Identity": lambda n, a, at: a[0],
    "MatMul": lambda n, a, at: a[0] @ a[1],
    "Gemm": _gemm,
    "Softmax": lambda n, a, at: torch.softmax(a[0], dim=int(at.get("axis", -1))),
    "Concat": lambda n, a, at: torch.cat(a, dim=int(at["axis"])),
    "ReduceMean": _reduce(lambda x, ax, k: x.mean(dim=ax, keepdim=k)),
    "ReduceSum": _reduce(lambda x, ax, k: x.sum(dim=ax, keepdim=k)),
    "ReduceMax": _reduce(_reduce_max),
    "GlobalAveragePool": lambda n, a, at: a[0].mean(dim=tuple(range(2, a[0].dim())), keepdim=True),
    "MaxPool": _pool("max"),
    "AveragePool": _pool("avg"),
    "Shape": _shape,
    "Expand": _expand_op,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Transpose": lambda n, a, at: a[0].permute(*at["perm"]) if "perm" in at else a[0].permute(*reversed(range(a[0].dim()))),
}


# --- fine-tuning ------------------------------------------------------------------------------------------
def pooled_feature_tensor(model: Any) -> str | None:
    """The tensor the graph pools into its features (input of the global pool), if there is one."""
    for node in model.graph.node:
        if node.op_type in ("GlobalAveragePool", "ReduceMean") and node.input:
            return node.input[0]
    return None


def quantized_view(model: Any, name: str) -> str | None:
    """The tensor of a Q/DQ graph that holds what its consumers see of the FP32 tensor ``name``.

    ORT's quantizer folds a ReLU/Clip after a Conv into the following ``QuantizeLinear`` and gives the
    Conv output the activation's name, so ``name`` there is the *unclipped* value; the consumers read
    ``DequantizeLinear(QuantizeLinear(name))``. Returns that DQ output, ``name`` when it is not
    quantized, or None when the graph has no such tensor.
    """
    outputs = {o for n in model.graph.node for o in n.output}
    if name not in outputs:
        return None
    consumers: dict[str, list] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    for q in consumers.get(name, []):
        if q.op_type == "QuantizeLinear":
            for dq in consumers.get(q.output[0], []):
                if dq.op_type == "DequantizeLinear":
                    return dq.output[0]
    return name


#: Adam's step in units of each layer's weight grid (2e-3: ~1e-5 for the default model's layers).
DEFAULT_LR = 2e-3

#: Weight of each term of the loss (each a mean squared error relative to the target's variance):
#: the verdict's probabilities count most, every other output and the pooled features once.
VERDICT_WEIGHT = 20.0


def _loss_terms(out: dict[str, torch.Tensor], ref: dict[str, torch.Tensor], norms: dict[str, float]) -> torch.Tensor:
    total = torch.zeros(())
    for name, r in ref.items():
        o = out[name]
        if "probabilities" in name:  # compare log-probabilities: a 0.01 shift near 0.5 matters, near 0 it does not
            o, r = torch.log(o.clamp_min(1e-6)), torch.log(r.clamp_min(1e-6))
        weight = VERDICT_WEIGHT if name == "probabilities" else 1.0
        total = total + weight * ((o - r) ** 2).mean() / norms[name]
    return total


def finetune_qdq(
    qdq_path: str | os.PathLike,
    float_path: str | os.PathLike,
    images: np.ndarray,
    *,
    out: str | os.PathLike | None = None,
    epochs: int = 3,
    lr: float = DEFAULT_LR,
    batch_size: int = 8,
    seed: int = 0,
    threads: int | None = None,
    round_activations: bool = False,
) -> FinetuneResult:
    """Fine-tune the INT8 weights of ``qdq_path`` to reproduce ``float_path`` on ``images``; in place unless ``out``.

    Args:
        qdq_path: Q/DQ ONNX quantized from ``float_path`` (same input and output names).
        float_path: the FP32 graph (the reference; it is not changed).
        images: ``[N,3,S,S]`` float32 preprocessed photos (unlabelled is fine): distillation targets
            are the FP32 graph's own outputs. Use photos the INT8 report does not use.
        round_activations: also round the activations in the forward pass (full QAT). Off by default: on
            the default model it fitted the rounding noise of the training photos (ORT mean |dp| 0.0126
            on the report photos, vs 0.0111 with clipping only, 0.0120 untuned; 200 photos, 4 epochs).
        epochs, batch_size: Adam on every quantized weight and bias, ``lr`` in steps of each layer's
            weight grid (:meth:`OnnxTorch.param_groups`).
    """
    import onnx

    if images.ndim != 4 or len(images) < batch_size:
        raise UsageError(f"fine-tuning needs at least {batch_size} images [N,3,S,S], got shape {images.shape}")
    if epochs < 1 or lr <= 0:
        raise UsageError(f"epochs must be >= 1 and lr > 0, got epochs={epochs}, lr={lr}")
    if threads:
        torch.set_num_threads(int(threads))
    t0 = time.perf_counter()
    qdq = onnx.load(str(qdq_path))
    ref_model = onnx.load(str(float_path))
    feature = pooled_feature_tensor(ref_model)
    seen = quantized_view(qdq, feature) if feature is not None else None
    extra, ref_extra = ((seen,), (feature,)) if seen is not None else ((), ())
    student = OnnxTorch(qdq, trainable=True)
    student.round_activations = round_activations
    if not student.weights:
        raise EdgeScreenError(f"{Path(qdq_path).name} has no quantized weights to fine-tune")
    reference = OnnxTorch(ref_model, trainable=False).eval()
    float_outputs = [o for o in student.outputs if o in reference.outputs]
    arr = np.ascontiguousarray(images, dtype=np.float32)
    x_all = torch.from_numpy(arr if arr.flags.writeable else arr.copy())  # read-only (memory-mapped) input is fine

    # FP32 targets, once
    refs: dict[str, list[torch.Tensor]] = {n: [] for n in (*float_outputs, *extra)}
    with torch.no_grad():
        for i in range(0, len(x_all), batch_size):
            r = reference(x_all[i : i + batch_size], ref_extra)
            for n in float_outputs:
                refs[n].append(r[n].float())
            for n, m in zip(extra, ref_extra):
                refs[n].append(r[m].float())
    targets = {n: torch.cat(v) for n, v in refs.items() if v[0].dtype.is_floating_point}
    norms = {}
    for n, t in targets.items():
        v = torch.log(t.clamp_min(1e-6)) if "probabilities" in n else t
        norms[n] = max(float(v.var()), 1e-8)

    # the loss before and after is measured on photos held out of the fine-tuning (every 8th, at most 64):
    # the tuned weights are written only if they do better on photos they were not fitted to
    held = torch.arange(0, len(x_all), 8)[:64] if len(x_all) >= 4 * batch_size else torch.arange(len(x_all))
    fit = torch.tensor(sorted(set(range(len(x_all))) - set(held.tolist()))) if len(held) < len(x_all) else held

    def evaluate() -> float:
        total = 0.0
        with torch.no_grad():
            for idx in held.split(batch_size):
                o = student(x_all[idx], extra)
                total += float(_loss_terms(o, {n: t[idx] for n, t in targets.items()}, norms)) * len(idx)
        return total / len(held)

    before = evaluate()
    opt = torch.optim.Adam(student.param_groups(lr))
    gen = torch.Generator().manual_seed(seed)
    steps = 0
    for epoch in range(epochs):
        running = 0.0
        for idx in fit[torch.randperm(len(fit), generator=gen)].split(batch_size):
            if len(idx) < 2:
                continue
            o = student(x_all[idx], extra)
            loss = _loss_terms(o, {n: t[idx] for n, t in targets.items()}, norms)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            running += float(loss.detach()) * len(idx)
        log.info("INT8 fine-tuning epoch %d/%d: loss %.5f", epoch + 1, epochs, running / len(fit))
    after = evaluate()
    if not np.isfinite(after):
        raise EdgeScreenError("INT8 fine-tuning diverged (loss is not finite); try a smaller --finetune-lr")
    if after < before:
        student.write_into(qdq)
        onnx.save(qdq, str(out or qdq_path))
    else:
        log.warning("INT8 fine-tuning did not lower the loss (%.5f -> %.5f); the quantized weights are kept", before, after)
        if out is not None:
            onnx.save(onnx.load(str(qdq_path)), str(out))
    result = FinetuneResult(images=len(fit), epochs=epochs, steps=steps, loss_before=before, loss_after=after,
                            weights=len(student.weights), seconds=time.perf_counter() - t0,
                            kept=after < before, extra={"lr": lr})  # fmt: skip
    log.info("INT8 fine-tuning: %d weights on %d images, loss %.5f -> %.5f (%.0f s)", result.weights, result.images,
             before, after, result.seconds)  # fmt: skip
    return result
