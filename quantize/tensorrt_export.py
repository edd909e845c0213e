"""TensorRT (Jetson) artifacts: symmetric S8S8 Q/DQ ONNX, engine build, torch-tensorrt.

TensorRT uses *explicit* quantization: the INT8 scales live in the ONNX as symmetric
QuantizeLinear/DequantizeLinear pairs (int8 zero points = 0, per-channel weights). The implicit
calibrators are deprecated since TensorRT 10.1 and removed in 11, so none is used here. The Q/DQ
ONNX is made on any CPU with TensorRT Model Optimizer (``modelopt.onnx.quantization``); the
engine is built on the device itself (engines do not carry across GPUs or TensorRT versions)::

    edge-screen build-engine tensorrt/model_int8_qdq.onnx --precision int8 --out model.engine
    # same as (JetPack 6.2, TensorRT 10.3):
    # trtexec --onnx=tensorrt/model_int8_qdq.onnx --int8 --fp16 --minShapes=image:1x3xSxS \
    #   --optShapes=image:1x3xSxS --maxShapes=image:8x3xSxS --memPoolSize=workspace:1024M \
    #   --timingCacheFile=timing.cache --saveEngine=model.engine
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_screen.errors import BackendUnavailable, EdgeScreenError, UsageError
from edge_screen.quantize.onnx_export import INPUT_NAME, float_nodes, tail_nodes
from edge_screen.backends import precision_rank
from edge_screen.quantize import DEFAULT_FLOAT_CONVS
from edge_screen.quantize.formats import TENSORRT

log = logging.getLogger(__name__)

ENGINE_PRECISIONS = tuple(sorted(TENSORRT.precisions, key=precision_rank))  # registry entry, int8 first
TRT_HINT = (
    "TensorRT is not importable here: it ships with JetPack on a Jetson (JetPack 6.2 = TensorRT 10.3) "
    "or NVIDIA's own index on a desktop GPU; it is not on PyPI"
)


def onnx_to_qdq_s8s8(
    onnx_path: str | os.PathLike,
    out: str | os.PathLike,
    calibration: np.ndarray,
    *,
    method: str = "max",
    keep_tail_float: bool = True,
    float_convs: int = DEFAULT_FLOAT_CONVS,
    bias_correction: bool = True,
) -> Path:
    """Symmetric INT8 Q/DQ ONNX for TensorRT with ModelOpt (runs on the CPU); returns ``out``.

    Args:
        onnx_path: FP32 heatmap graph from ``torch_to_onnx``.
        out: Q/DQ ONNX to write.
        calibration: ``[N,3,S,S]`` float32 preprocessed images.
        method: ModelOpt calibration, ``"max"`` or ``"entropy"``.
        keep_tail_float: leave every node from the global pool on in float (head + heatmap).
        float_convs: leave this many leading backbone convolutions in float (TensorRT runs them
            in FP32/FP16; 0: quantize all).
        bias_correction: correct the conv biases (float initializers in this form) for the INT8
            rounding shift, as for ONNX Runtime (:mod:`edge_screen.quantize.bias_correction`).
    """
    import onnx

    try:
        from modelopt.onnx.quantization import quantize as mo_quantize
    except ImportError as exc:
        raise BackendUnavailable(
            f"TensorRT Model Optimizer's ONNX quantizer does not import ({exc}); "
            "pip install nvidia-modelopt onnx-graphsurgeon onnxslim lief requests"
        ) from exc
    from edge_screen.quantize.ort_quant import _check_calibration

    if method not in ("max", "entropy"):
        raise UsageError(f"calibration method {method!r} is not valid; valid: max, entropy")
    calibration = _check_calibration(calibration)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    graph = onnx.load(str(onnx_path))
    keep = float_nodes(graph, float_convs=float_convs, tail=keep_tail_float)
    exclude = [f"^{re.escape(n)}$" for n in keep]
    # ModelOpt logs "Failed to get GPU count: NVML ..." as an ERROR on every CPU-only machine,
    # although calibration on the CPU is what we ask for; drop just that record.
    mo_log = logging.getLogger("modelopt.onnx")
    quiet = _DropNvmlNoise()
    mo_log.addFilter(quiet)
    for h in (*mo_log.handlers, *logging.getLogger().handlers):
        h.addFilter(quiet)
    try:
        with _restore_ort_quantization():
            _run_modelopt(mo_quantize, onnx_path, out, calibration, method, exclude)
    finally:
        mo_log.removeFilter(quiet)
        for h in (*mo_log.handlers, *logging.getLogger().handlers):
            h.removeFilter(quiet)
    if not out.is_file():
        raise EdgeScreenError(f"ModelOpt wrote no model at {out}")
    if bias_correction:
        from edge_screen.quantize.bias_correction import correct_biases

        correct_biases(out, onnx_path, calibration)
    summary = check_qdq_s8s8(out)
    log.info("TensorRT Q/DQ ONNX %s: %s", out, summary)
    return out


@contextlib.contextmanager
def _restore_ort_quantization() -> Iterator[None]:
    """Undo ModelOpt's monkey-patching of ONNX Runtime's quantization classes after the call.

    ``modelopt.onnx.quantization`` replaces methods of ORT's calibrators and quantizers process-
    wide (``ort_patching.patch_ort_modules``); left in place, a later plain ``quantize_static``
    (our U8S8 export) calibrated nothing ("Quantization parameters are not specified for param
    image").
    """
    from onnxruntime.quantization import base_quantizer, calibrate, qdq_quantizer

    owners: list[Any] = [calibrate, calibrate.CalibraterBase, calibrate.MinMaxCalibrater,
                         calibrate.HistogramCalibrater, calibrate.HistogramCollector,
                         qdq_quantizer.QDQQuantizer, base_quantizer.BaseQuantizer]  # fmt: skip
    saved = [(o, dict(vars(o))) for o in owners]
    try:
        yield
    finally:
        for owner, before in saved:
            for name, value in list(vars(owner).items()):
                if name not in before:
                    delattr(owner, name)
                elif value is not before[name]:
                    setattr(owner, name, before[name])


class _DropNvmlNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "NVML" not in record.getMessage()


def _run_modelopt(mo_quantize: Any, onnx_path: Any, out: Path, calibration: np.ndarray, method: str,
                  exclude: list[str]) -> None:  # fmt: skip
    mo_quantize(
        str(onnx_path),
        quantize_mode="int8",
        calibration_data={INPUT_NAME: calibration},
        calibration_method=method,
        calibration_eps=["cpu"],
        nodes_to_exclude=exclude or None,
        output_path=str(out),
        high_precision_dtype="fp32",
        # weights stored as INT8 behind a DequantizeLinear (activations keep Q/DQ): the TensorRT
        # file shrinks ~4x, which keeps the whole shipped bundle inside its size budget.
        dq_only=True,
        log_level="WARNING",
    )


@dataclass(frozen=True)
class QdqSummary:
    """What the Q/DQ form of a model looks like (see :func:`check_qdq_s8s8`)."""

    quantize_nodes: int
    dequantize_nodes: int
    quantized_weights: int  # Conv/Gemm/MatMul weights with a DequantizeLinear in front
    per_channel_weights: int  # ... of which with one scale per output channel


def _initializers(model: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def check_qdq_s8s8(path: str | os.PathLike) -> QdqSummary:
    """Check the TensorRT Q/DQ form; raise EdgeScreenError naming the first offending node.

    Requires: every Q/DQ zero point is int8 and 0 (symmetric); every Conv weight is dequantized
    per output channel (axis 0, one scale per channel).
    """
    import onnx

    model = onnx.load(str(path))
    inits = _initializers(model)
    consts = {n.output[0]: n for n in model.graph.node if n.op_type == "Constant"}
    producer = {o: n for n in model.graph.node for o in n.output}
    n_q = n_dq = 0
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        n_q += node.op_type == "QuantizeLinear"
        n_dq += node.op_type == "DequantizeLinear"
        if len(node.input) < 3 or not node.input[2]:
            raise EdgeScreenError(f"{path}: {node.op_type} {node.name} has no zero point (defaults to uint8)")
        zp = inits.get(node.input[2])
        if zp is None and node.input[2] in consts:
            zp = onnx.numpy_helper.to_array(consts[node.input[2]].attribute[0].t)
        if zp is None:
            raise EdgeScreenError(f"{path}: zero point of {node.name} is not a constant")
        if zp.dtype != np.int8 or np.any(zp != 0):
            raise EdgeScreenError(
                f"{path}: {node.name} zero point {zp.dtype} {zp.ravel()[:4]}; TensorRT needs symmetric int8 (all 0)"
            )
    weights = per_channel = 0
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        dq = producer.get(node.input[1])
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        weights += 1
        scale = inits.get(dq.input[1])
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
        src = dq.input[0] if dq.input[0] in inits else producer[dq.input[0]].input[0]
        channels = inits[src].shape[0] if src in inits else None
        if scale is not None and scale.size > 1 and axis == 0 and scale.size == channels:
            per_channel += 1
        else:
            raise EdgeScreenError(
                f"{path}: weight of {node.name} is not per-channel (scale size "
                f"{None if scale is None else scale.size}, axis {axis}, channels {channels})"
            )
    if weights == 0:
        raise EdgeScreenError(f"{path}: no quantized Conv weights found; is this a Q/DQ model?")
    return QdqSummary(n_q, n_dq, weights, per_channel)


def _trt() -> Any:
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise BackendUnavailable(TRT_HINT) from exc
    return trt


def register_engine(bundle: str | os.PathLike, engine: str | os.PathLike, *, precision: str,
                    onnx: str | os.PathLike | None = None) -> Path:
    """Add an engine built on this device to a bundle's ``tensorrt/<precision>`` entry; returns the manifest path.

    The engine is copied into the bundle (when outside it) and hashed like every other file, so the
    TensorRT runtime picks it up (``files["engine"]``) and a corrupted engine is refused on load. The
    entry keeps the ONNX it was built from. Engines are specific to one GPU and TensorRT version:
    the entry records this machine's TensorRT version when it can be read.
    """
    from edge_screen.bundle import BundleWriter

    engine = Path(engine)
    if not engine.is_file():
        raise UsageError(f"engine {engine} not found; build it first (edge-screen build-engine ... --out {engine})")
    writer = BundleWriter(bundle)
    old = next((e for e in writer.manifest["models"]
                if e.get("backend") == "tensorrt" and e.get("precision") == precision), None)
    files: dict[str, str | os.PathLike] = dict(old["files"]) if old else {}
    if onnx is not None and "onnx" not in files:
        files["onnx"] = onnx
    files["engine"] = engine.resolve()
    extra = {k: v for k, v in (old or {}).items() if k not in ("backend", "precision", "files")}
    try:
        import tensorrt as trt

        extra["tensorrt_version"] = trt.__version__
    except ImportError:
        pass
    writer.add_model("tensorrt", precision, files, **extra)
    return writer.write()


def onnx_to_tensorrt(
    onnx_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    precision: str = "int8",
    workspace_mb: int = 1024,
    timing_cache: str | os.PathLike | None = None,
    max_batch: int = 8,
    opt_batch: int = 1,
) -> Path:
    """Build a TensorRT 10 engine on THIS device from an ONNX graph; returns the engine path.

    ``int8`` expects a Q/DQ ONNX (:func:`onnx_to_qdq_s8s8`; explicit quantization, no
    calibrator) and also enables FP16 for the layers left unquantized; ``fp16`` / ``fp32`` take
    the FP32 ONNX. The head and heatmap tail are asked to stay FP32 (precision constraints
    "prefer"). A timing cache file is read when present and written back after the build.
    """
    trt = _trt()
    import onnx

    if precision not in ENGINE_PRECISIONS:
        raise UsageError(f"precision {precision!r} is not valid; valid: {', '.join(ENGINE_PRECISIONS)}")
    if workspace_mb < 64:
        raise UsageError(f"workspace {workspace_mb} MB is too small; valid: >= 64 (1024 is a good start)")
    onnx_model = onnx.load(str(onnx_path))
    input_size = onnx_model.graph.input[0].type.tensor_type.shape.dim[3].dim_value
    tail = set(tail_nodes(onnx_model))
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EdgeScreenError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    if precision in ("int8", "fp16"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
    if precision != "fp32":
        config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            if any(layer.name == t or layer.name.startswith(t + "_") for t in tail):
                layer.precision = trt.float32
    profile = builder.create_optimization_profile()
    shape = (3, input_size, input_size)
    profile.set_shape(INPUT_NAME, (1, *shape), (opt_batch, *shape), (max_batch, *shape))
    config.add_optimization_profile(profile)
    cache_path = Path(timing_cache) if timing_cache else None
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path and cache_path.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EdgeScreenError(f"TensorRT engine build failed for {onnx_path} ({precision}); see the log above")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bytes(serialized))
    if cache_path:
        cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    log.info("TensorRT %s engine written to %s (%d bytes)", precision, out, out.stat().st_size)
    return out


def trtexec_command(onnx_path: str, engine: str, *, precision: str, input_size: int, max_batch: int = 8,
                    workspace_mb: int = 1024, timing_cache: str | None = None) -> str:  # fmt: skip
    """The ``trtexec`` line equivalent to :func:`onnx_to_tensorrt` (for the README and logs)."""
    flags = {"int8": "--int8 --fp16", "fp16": "--fp16", "fp32": ""}[precision]
    s = f"3x{input_size}x{input_size}"
    cmd = (
        f"trtexec --onnx={onnx_path} {flags} --minShapes={INPUT_NAME}:1x{s} --optShapes={INPUT_NAME}:1x{s} "
        f"--maxShapes={INPUT_NAME}:{max_batch}x{s} --memPoolSize=workspace:{workspace_mb}M --saveEngine={engine}"
    )
    return " ".join((cmd + (f" --timingCacheFile={timing_cache}" if timing_cache else "")).split())


def torch_to_torch_tensorrt(
    graph: Any,
    out: str | os.PathLike,
    *,
    input_size: int,
    precision: str = "fp16",
    calibration: np.ndarray | None = None,
    max_batch: int = 8,
) -> Path:
    """Compile the heatmap graph with torch-tensorrt (needs CUDA + torch_tensorrt); returns ``out``.

    For users with torch on the device. ``int8`` fake-quantizes with ModelOpt's torch API
    (``modelopt.torch.quantization``, INT8 default config, calibrated on ``calibration``) and
    lets torch-tensorrt lower the Q/DQ to INT8 kernels. The file is a torch ExportedProgram
    (``torch_tensorrt.save``), loaded with ``torch.export.load``.
    """
    import torch

    try:
        import torch_tensorrt
    except ImportError as exc:
        raise BackendUnavailable(f"torch-tensorrt is not importable ({exc}); {TRT_HINT}") from exc
    if not torch.cuda.is_available():
        raise BackendUnavailable("torch-tensorrt needs a CUDA GPU; none is visible (torch.cuda.is_available() is False)")
    if precision not in ENGINE_PRECISIONS:
        raise UsageError(f"precision {precision!r} is not valid; valid: {', '.join(ENGINE_PRECISIONS)}")
    graph = graph.eval().cuda()
    example = torch.randn(1, 3, input_size, input_size, device="cuda")
    enabled = {torch.float32}
    if precision == "fp16":
        enabled.add(torch.float16)
    if precision == "int8":
        if calibration is None:
            raise UsageError("torch-tensorrt INT8 needs calibration images: pass --calib DATA")
        import modelopt.torch.quantization as mtq

        data = torch.from_numpy(calibration)

        def forward_loop(model: Any) -> None:
            for i in range(0, len(data), 8):
                model(data[i : i + 8].cuda())

        graph = mtq.quantize(graph, mtq.INT8_DEFAULT_CFG, forward_loop)
        enabled |= {torch.float16, torch.int8}
    inputs = [
        torch_tensorrt.Input(
            min_shape=(1, 3, input_size, input_size),
            opt_shape=(1, 3, input_size, input_size),
            max_shape=(max_batch, 3, input_size, input_size),
            dtype=torch.float32,
            name=INPUT_NAME,
        )
    ]
    compiled = torch_tensorrt.compile(graph, ir="dynamo", inputs=inputs, enabled_precisions=enabled)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch_tensorrt.save(compiled, str(out), output_format="exported_program", inputs=[example])
    return out
