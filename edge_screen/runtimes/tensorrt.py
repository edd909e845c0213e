"""TensorRT backend (TensorRT 10 name-based tensor API), for NVIDIA GPUs and Jetson.

Loads a serialized engine (entry files ``{"engine": ...}``; build it on the target device with
``edge-screen build-engine``, engines are not portable across GPUs or TensorRT versions). Device
memory and the stream come from cuda-python (``cuda.bindings.runtime``, or the older
``cuda.cudart``). Both libraries are imported only when this backend is used.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import numpy as np

from edge_screen.backends import Backend
from edge_screen.errors import BackendUnavailable, BundleError, UsageError
from edge_screen.runtimes.base import INPUT_NAME, OPTIONAL_OUTPUTS, OUTPUT_NAMES, Runtime

log = logging.getLogger(__name__)


def _cudart() -> Any:
    for mod in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            return importlib.import_module(mod)
        except ImportError:
            continue
    raise BackendUnavailable("TensorRT needs cuda-python for device memory: pip install cuda-python")


def _check(result: Any) -> Any:
    """cuda-python calls return (err, *values); raise on an error code, return the values."""
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise RuntimeError(f"CUDA error {err}")
    if not rest:
        return None
    return rest[0] if len(rest) == 1 else tuple(rest)


_MISSING = (
    "TensorRT is not available here (needs an NVIDIA GPU, the tensorrt Python package and cuda-python). "
    "It is not on PyPI for Jetson: it comes with JetPack (see README 'Jetson / TensorRT'); "
    "pip install 'edge-screen[tensorrt]' documents the rest"
)


def _unavailable() -> str | None:
    try:
        importlib.import_module("tensorrt")
        cudart = _cudart()
        count = _check(cudart.cudaGetDeviceCount())
    except (ImportError, BackendUnavailable, RuntimeError, OSError) as exc:
        log.debug("tensorrt unavailable: %s", exc)
        return _MISSING
    return None if count else f"{_MISSING} (no CUDA device found)"


BACKEND = Backend(
    name="tensorrt",
    precisions=("fp32", "fp16", "int8"),
    file_roles=("engine",),  # built on the device from the bundle's "onnx" file: edge-screen build-engine
    extra="tensorrt",
    runtime="edge_screen.runtimes.tensorrt:TensorRtRuntime",
    check=_unavailable,
    priority=30,
    distributions=("tensorrt", "tensorrt-cu12", "tensorrt-cu13"),
    devices="cuda:N",
)


class TensorRtRuntime(Runtime):
    """TensorRT engine runner. ``device``: None or "cuda:N" (GPU index)."""

    name = BACKEND.name
    extra = BACKEND.extra
    required_files = BACKEND.file_roles

    @classmethod
    def library_version(cls) -> str | None:
        try:
            return importlib.import_module("tensorrt").__version__
        except ImportError:
            return None

    def __init__(self, bundle, entry, *, threads=None, device=None) -> None:  # noqa: ANN001
        super().__init__(bundle, entry, threads=threads, device=device)
        if not self.is_available():
            raise BackendUnavailable(self.unavailable_message())
        trt = importlib.import_module("tensorrt")
        self._cudart = cudart = _cudart()
        if device:
            if not device.startswith("cuda"):
                raise UsageError(f"tensorrt device must be 'cuda' or 'cuda:N', got {device!r}")
            index = int(device.split(":")[1]) if ":" in device else 0
            _check(cudart.cudaSetDevice(index))
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, capacity bytes)
        path = bundle.path(entry.files["engine"])
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._trt_runtime = trt.Runtime(self._logger)
        self._engine = self._trt_runtime.deserialize_cuda_engine(path.read_bytes())
        if self._engine is None:
            raise BundleError(
                f"TensorRT {trt.__version__} cannot deserialize {entry.files['engine']!r}: engines only run on the "
                "GPU model and TensorRT version they were built with; rebuild with edge-screen build-engine"
            )
        self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        if INPUT_NAME not in names or any(n not in names for n in OUTPUT_NAMES):
            raise BundleError(
                f"engine {entry.files['engine']!r} does not follow the I/O contract: tensors {names}; "
                f"expected input {INPUT_NAME!r} and outputs {list(OUTPUT_NAMES)}"
            )
        self._dtypes = {n: np.dtype(trt.nptype(self._engine.get_tensor_dtype(n))) for n in names}
        self.optional_outputs = tuple(n for n in OPTIONAL_OUTPUTS if n in names)
        # optimisation profile 0: (min, opt, max) shapes of the input; batches above max are split
        self._max_batch = int(self._engine.get_tensor_profile_shape(INPUT_NAME, 0)[2][0])
        self._stream = _check(cudart.cudaStreamCreate())
        self.device = device or "cuda:0"
        if threads is not None:
            log.debug("tensorrt ignores threads=%s (GPU backend)", threads)

    def _device_buffer(self, name: str, nbytes: int) -> int:
        ptr, cap = self._buffers.get(name, (0, 0))
        if cap < nbytes:
            if ptr:
                _check(self._cudart.cudaFree(ptr))
            ptr = int(_check(self._cudart.cudaMalloc(nbytes)))
            self._buffers[name] = (ptr, nbytes)
            self._context.set_tensor_address(name, ptr)
        return ptr

    def _run_chunk(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        cudart = self._cudart
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        x = np.ascontiguousarray(batch, dtype=self._dtypes[INPUT_NAME])
        if not self._context.set_input_shape(INPUT_NAME, tuple(x.shape)):
            raise UsageError(f"TensorRT engine refuses input shape {x.shape}; rebuild it for this input size")
        ptr = self._device_buffer(INPUT_NAME, x.nbytes)
        _check(cudart.cudaMemcpyAsync(ptr, x.ctypes.data, x.nbytes, h2d, self._stream))
        outs = {}
        wanted = (*OUTPUT_NAMES, *self.optional_outputs)
        for n in wanted:
            shape = tuple(self._context.get_tensor_shape(n))
            outs[n] = np.empty(shape, dtype=self._dtypes[n])
            self._device_buffer(n, outs[n].nbytes)
        if not self._context.execute_async_v3(int(self._stream)):
            raise RuntimeError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
        for n in wanted:
            _check(cudart.cudaMemcpyAsync(outs[n].ctypes.data, self._buffers[n][0], outs[n].nbytes, d2h, self._stream))
        _check(cudart.cudaStreamSynchronize(self._stream))
        return {n: v.astype(np.float32) for n, v in outs.items()}

    def _run_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        parts = [self._run_chunk(batch[i : i + self._max_batch]) for i in range(0, len(batch), self._max_batch)]
        return {n: np.concatenate([p[n] for p in parts]) for n in parts[0]}

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outs = self._run_outputs(batch)
        return outs["probabilities"], outs["heatmap"]

    def __del__(self) -> None:
        cudart = getattr(self, "_cudart", None)
        if cudart is None:
            return
        for ptr, _ in getattr(self, "_buffers", {}).values():
            cudart.cudaFree(ptr)
        if getattr(self, "_stream", None) is not None:
            cudart.cudaStreamDestroy(self._stream)
