"""PyTorch -> ONNX with the heatmap in the graph (ARCHITECTURE.md "Model I/O contract").

The dynamo exporter at opset 18 folds timm's ``Conv2dSame`` padding into ``Conv`` (the legacy
exporter emitted ~230 shape ops), and the example input has batch 2: with batch 1 the requested
dynamic batch was silently dropped here (FACTS.md).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_screen.errors import EdgeScreenError, UsageError
from edge_screen.gate import GATE_OUTPUTS
from edge_screen.runtimes.base import INPUT_NAME, OUTPUT_NAMES

log = logging.getLogger(__name__)

#: The model I/O contract is the runtime's (edge_screen.runtimes.base), defined once; a graph with a
#: learned gate (edge_screen.gate) adds GATE_OUTPUT_NAMES after the two outputs.
GATE_OUTPUT_NAMES = GATE_OUTPUTS
OPSET = 18


@dataclass(frozen=True)
class Parity:
    """Max absolute difference between two runs of the same graph on the same batch."""

    probabilities: float
    heatmap: float

    def to_dict(self) -> dict[str, float]:
        return {"probabilities": self.probabilities, "heatmap": self.heatmap}


def _strip_debug_metadata(path: Path) -> None:
    """Drop the per-node ``metadata_props`` the dynamo exporter writes (Python stack and FX names).

    They are debugging aids worth ~1.5% of the file (190 KB for Lite0) and would be copied into every
    quantized model derived from this one; the shipped bundle has a size budget.
    """
    import onnx

    model = onnx.load(str(path))
    graphs = [model.graph] + [f for f in model.functions]
    changed = False
    for g in graphs:
        for node in g.node:
            if len(node.metadata_props):
                del node.metadata_props[:]
                changed = True
    if changed:
        onnx.save(model, str(path))


def torch_to_onnx(
    graph: nn.Module,
    out: str | os.PathLike,
    *,
    input_size: int,
    check: bool = True,
    parity_atol: float = 1e-4,
    seed: int = 0,
) -> Path:
    """Export a heatmap graph (``edge_screen.quantize.cam.with_heatmap``) to ONNX; returns ``out``.

    Args:
        graph: module with ``forward(image [B,3,S,S] f32) -> (probabilities [B,2], heatmap [B,h,w])``.
        out: ``.onnx`` path to write (parent folders are created). Weights are stored inline.
        input_size: S.
        check: run ``onnx.checker`` and an ONNX Runtime parity check against torch on a random
            batch of 3 (a size other than the export example, so the dynamic batch is exercised).
        parity_atol: max allowed absolute difference for both outputs.

    Raises:
        EdgeScreenError: the checker fails, the batch axis is not dynamic, or parity is off.
    """
    if input_size < 32:
        raise UsageError(f"input_size {input_size} is too small; valid: >= 32 (typically 224..512)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    graph = graph.eval()
    example = torch.randn(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(seed))
    batch = torch.export.Dim("batch", min=1, max=1024)
    names = list(OUTPUT_NAMES) + (list(GATE_OUTPUT_NAMES) if getattr(graph, "gate", None) is not None else [])
    with torch.no_grad():
        program = torch.onnx.export(
            graph,
            (example,),
            dynamo=True,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=names,
            dynamic_shapes={"image": {0: batch}},
            optimize=True,
            verbose=False,
        )
    program.save(str(out), external_data=False)
    _strip_debug_metadata(out)
    log.info("exported %s (opset %d) to %s", type(graph).__name__, OPSET, out)
    if check:
        check_onnx(out)
        x = torch.randn(3, 3, input_size, input_size, generator=torch.Generator().manual_seed(seed + 1))
        with torch.no_grad():
            ref = tuple(t.numpy() for t in graph(x))
        got = run_onnx(out, x.numpy())
        parity = compare(ref[:2], got)
        gate_diff = max((float(np.abs(r - g).max() / max(1.0, float(np.abs(r).max())))
                         for r, g in zip(ref[2:], run_onnx_outputs(out, x.numpy(), names[2:]))), default=0.0)
        # the gate's distance sums ~1,000 squared float32 terms: relative, and 10x the tolerance
        if max(parity.probabilities, parity.heatmap) > parity_atol or gate_diff > 10 * parity_atol:
            raise EdgeScreenError(
                f"ONNX export of {out.name} disagrees with torch: max |diff| {parity.to_dict()} (> {parity_atol}?), "
                f"gate (relative) {gate_diff:.2e} (> {10 * parity_atol:g}?); "
                "check for ops that export differently (e.g. timm 'same' padding) or raise parity_atol"
            )
        log.info("ONNX Runtime parity vs torch: %s", parity.to_dict())
    return out


def check_onnx(path: str | os.PathLike) -> None:
    """``onnx.checker`` (full check) plus the I/O contract: names, dtypes and a dynamic batch axis."""
    import onnx

    model = onnx.load(str(path))
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise EdgeScreenError(f"{path}: onnx.checker failed: {exc}") from exc
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    if inputs != [INPUT_NAME] or outputs not in (list(OUTPUT_NAMES), list(OUTPUT_NAMES) + list(GATE_OUTPUT_NAMES)):
        raise EdgeScreenError(
            f"{path}: I/O names {inputs} -> {outputs}; the contract is [{INPUT_NAME!r}] -> {list(OUTPUT_NAMES)}"
            f" (+ {list(GATE_OUTPUT_NAMES)} with a learned gate)"
        )
    dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
    if dim0.HasField("dim_value"):
        raise EdgeScreenError(
            f"{path}: batch axis of {INPUT_NAME!r} is fixed at {dim0.dim_value}; export with a batch-2 example "
            "and dynamic_shapes so the batch stays dynamic"
        )


def run_onnx(path: str | os.PathLike, batch: np.ndarray, *, threads: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Run an exported graph in ONNX Runtime (CPU): ``[B,3,S,S] f32 -> (probs [B,2], heatmap [B,h,w])``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    probs, heat = sess.run(list(OUTPUT_NAMES), {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)})
    return probs, heat


def run_onnx_outputs(path: str | os.PathLike, batch: np.ndarray, names: list[str] | tuple[str, ...], *,
                     threads: int = 2) -> list[np.ndarray]:
    """Run an exported graph in ONNX Runtime (CPU) and return the outputs ``names`` (any of them)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(list(names), {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)})


def compare(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> Parity:
    """Max absolute difference of (probabilities, heatmap) pairs of the same shapes."""
    for x, y, name in zip(a, b, OUTPUT_NAMES):
        if x.shape != y.shape:
            raise EdgeScreenError(f"{name} shapes differ: {x.shape} vs {y.shape}")
    return Parity(float(np.abs(a[0] - b[0]).max()), float(np.abs(a[1] - b[1]).max()))


def feature_map_name(model: "onnx.ModelProto") -> str:  # noqa: F821 - onnx imported lazily
    """Name of the backbone's last feature map ``A`` [B,C,h,w]: the input of the global-pool ReduceMean.

    The heatmap graphs pool with ``fmap.mean(dim=(2, 3))`` and the backbones contain no other
    ReduceMean, so the first one in (topological) node order is the global pool.
    """
    for node in model.graph.node:
        if node.op_type in ("ReduceMean", "GlobalAveragePool"):
            return node.input[0]
    raise EdgeScreenError(
        "no global-pool ReduceMean found in the ONNX graph; export it with edge_screen.quantize.onnx_export.torch_to_onnx"
    )


def tail_nodes(model: "onnx.ModelProto") -> list[str]:  # noqa: F821
    """Names of every node that does not feed the feature map: the global pool, head and heatmap tail.

    These stay in float when quantizing: INT8 there broke the heatmap (NaN maps) or the head.
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    fmap = feature_map_name(model)
    backbone: set[str] = set()
    stack = [fmap]
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in backbone:
            continue
        backbone.add(node.name)
        stack.extend(node.input)
    nameless = [n.op_type for n in model.graph.node if not n.name]
    if nameless:
        raise EdgeScreenError(f"{len(nameless)} ONNX nodes have no name ({nameless[:5]}); run onnx name fixing first")
    return [n.name for n in model.graph.node if n.name not in backbone]


def float_nodes(model: "onnx.ModelProto", *, float_convs: int, tail: bool = True) -> list[str]:  # noqa: F821
    """Every node an INT8 export keeps in float: the tail (:func:`tail_nodes`) and the first
    ``float_convs`` backbone convolutions (:func:`leading_convs`). The one list all Q/DQ exporters use.

    The tail is *everything that does not feed the backbone's feature map*, so a new output head
    (e.g. a learned quality gate on the pooled features) stays float without being listed here.
    """
    keep = tail_nodes(model) if tail else []
    return keep + [n for n in leading_convs(model, float_convs) if n not in set(keep)]


def leading_convs(model: "onnx.ModelProto", count: int) -> list[str]:  # noqa: F821
    """Names of the first ``count`` backbone Conv nodes in (topological) graph order.

    Mixed precision for INT8: the stem convolution and the first depthwise convolution of
    MobileNet-style backbones carry most of the quantization error (one per-tensor range for 32
    channels of very different spread). Measured on the default EfficientNet-Lite0 student,
    keeping the first 2 in float (with bias correction) lifted the heatmap r from 0.88 to
    0.96-0.98 (MODEL_CARD.md); they are 3.8% of the MACs and cost 0.3-1.8 ms p50 on 2 cores.
    """
    if count < 0:
        raise UsageError(f"the number of float convolutions must be >= 0, got {count}")
    tail = set(tail_nodes(model))
    convs = [n.name for n in model.graph.node if n.op_type == "Conv" and n.name not in tail]
    return convs[:count]
