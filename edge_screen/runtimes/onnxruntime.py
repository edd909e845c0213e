"""ONNX Runtime backend: CPU execution provider, CUDA when the installed build has it."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edge_screen.backends import Backend
from edge_screen.errors import BackendUnavailable, BundleError, UsageError
from edge_screen.runtimes.base import INPUT_NAME, OPTIONAL_OUTPUTS, OUTPUT_NAMES, Runtime

log = logging.getLogger(__name__)


# onnxruntime is a core dependency; a missing one means a broken install.
_MISSING = "ONNX Runtime is not installed: pip install onnxruntime (or onnxruntime-gpu)"


def _unavailable() -> str | None:
    try:
        importlib.import_module("onnxruntime")
    except ImportError:
        return _MISSING
    return None


def optimized_cache_dir() -> Path:
    """Where ONNX Runtime's optimised graphs are cached (``<edge-screen cache>/onnxruntime``)."""
    from edge_screen.bundle_archive import cache_root

    return cache_root() / "onnxruntime"


def _optimized_key(ort: Any, bundle: Any, entry: Any) -> str | None:
    """Cache key of the optimised graph, or None when the manifest has no hash for the model file."""
    from edge_screen.cpuinfo import cpu_flags

    info = bundle.manifest.get("files", {}).get(entry.files["model"])
    if not isinstance(info, dict) or not info.get("sha256"):
        return None
    canon = "|".join((info["sha256"], ort.__version__, " ".join(sorted(cpu_flags()))))
    return hashlib.sha256(canon.encode()).hexdigest()[:32]


def _session_options(ort: Any, threads: int | None) -> Any:
    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    # ORT's pool threads spin between operators by default. When other threads want the CPU (the
    # Screener's decode workers, other processes) the spinning waiter holds a core the worker it waits
    # for needs: measured on a shared 2-vCPU EPYC, INT8 @384 with 2 threads took 68.6 ms spinning and
    # 12.3 ms without (interleaved rounds, benchmarks/results/cpu-epyc-zen5-2c/NOTES.md).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return opts


BACKEND = Backend(
    name="onnxruntime",
    precisions=("fp32", "int8"),  # FP16 has no CPU path in ONNX Runtime
    file_roles=("model",),
    extra="",
    runtime="edge_screen.runtimes.onnxruntime:OnnxRuntime",
    check=_unavailable,
    priority=10,
    distributions=("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
    devices="cpu|cuda",
)


def _ort() -> Any:
    try:
        return importlib.import_module("onnxruntime")
    except ImportError as exc:
        raise BackendUnavailable(_MISSING) from exc


class OnnxRuntime(Runtime):
    """ONNX Runtime. ``device``: None (CUDA if available, else CPU), "cpu" or "cuda"."""

    name = BACKEND.name
    extra = BACKEND.extra
    required_files = BACKEND.file_roles

    @classmethod
    def library_version(cls) -> str | None:
        return importlib.import_module("onnxruntime").__version__ if cls.is_available() else None

    def __init__(self, bundle, entry, *, threads=None, device=None) -> None:  # noqa: ANN001
        super().__init__(bundle, entry, threads=threads, device=device)
        ort = _ort()
        have = ort.get_available_providers()
        dev = (device or "auto").lower()
        if dev in ("auto",):
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if "CUDAExecutionProvider" in have else ["CPUExecutionProvider"]
        elif dev == "cpu":
            providers = ["CPUExecutionProvider"]
        elif dev in ("cuda", "gpu"):
            if "CUDAExecutionProvider" not in have:
                raise BackendUnavailable(
                    f"ONNX Runtime here has no CUDA execution provider (providers: {have}); "
                    "install onnxruntime-gpu, or use device 'cpu'"
                )
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            raise UsageError(f"onnxruntime device must be 'auto', 'cpu' or 'cuda', got {device!r}")
        path = bundle.path(entry.files["model"])
        self.optimized_cache: str | None = None  # "hit", "written" or None (not cached)
        try:
            self._session = self._open(ort, bundle, entry, path, threads, providers)
        except Exception as exc:  # ORT raises its own exception types (Fail, InvalidGraph, ...)
            raise BundleError(f"ONNX Runtime cannot load {entry.files['model']!r} of bundle {bundle.name!r}: {exc}") from exc
        self.providers = self._session.get_providers()
        self.device = "cuda" if self.providers[0] == "CUDAExecutionProvider" else "cpu"
        inputs = {i.name: i for i in self._session.get_inputs()}
        outputs = [o.name for o in self._session.get_outputs()]
        if INPUT_NAME not in inputs or any(n not in outputs for n in OUTPUT_NAMES):
            raise BundleError(
                f"model {entry.files['model']!r} does not follow the I/O contract: inputs {sorted(inputs)}, "
                f"outputs {outputs}; expected input {INPUT_NAME!r} and outputs {list(OUTPUT_NAMES)}"
            )
        shape = list(inputs[INPUT_NAME].shape)
        size = bundle.preprocessing.input_size
        if len(shape) == 4 and any(isinstance(d, int) and d != size for d in shape[2:]):
            raise BundleError(
                f"bundle {bundle.name!r} says input size {size}, but its model {entry.files['model']!r} takes "
                f"{shape[2]}x{shape[3]}: fix preprocessing.input_size in manifest.json, or re-export the bundle")
        self.optional_outputs = tuple(n for n in OPTIONAL_OUTPUTS if n in outputs)
        log.debug("onnxruntime session on %s (threads=%s)", self.providers, threads)

    def _open(self, ort: Any, bundle: Any, entry: Any, path: Path, threads: int | None, providers: list[str]) -> Any:
        """The session; on the CPU provider through the per-machine cache of the optimised graph.

        ORT optimises the graph at every session start (constant folding, QDQ fusion, NCHWc
        layouts): ~20-60 ms of a CLI run on 2 cores for the INT8 model. The optimised graph is
        saved once, keyed by the model's SHA-256 (from the verified manifest), the ORT version and
        the CPU flags (ORT's docs: an optimised graph with layout transforms is valid only on the
        machine that made it), and later sessions load it with optimisation off. Same outputs
        (tests/core/test_runtime.py compares them).
        """
        opts = _session_options(ort, threads)
        key = _optimized_key(ort, bundle, entry) if providers == ["CPUExecutionProvider"] else None
        if key is None:
            return ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        cached = optimized_cache_dir() / f"{key}.onnx"
        if cached.is_file():
            fast = _session_options(ort, threads)
            fast.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            try:
                session = ort.InferenceSession(str(cached), sess_options=fast, providers=providers)
                self.optimized_cache = "hit"
                return session
            except Exception as exc:  # a truncated or foreign file: rebuild it  # noqa: BLE001
                log.warning("ignoring the cached optimised graph %s (%s); rebuilding it", cached, exc)
        tmp = None
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".ort-", suffix=".onnx", dir=cached.parent)
            os.close(fd)
            save = _session_options(ort, threads)
            save.optimized_model_filepath = tmp
            save.log_severity_level = 3  # its "valid only on this machine" warning is why the key has the CPU flags
            session = ort.InferenceSession(str(path), sess_options=save, providers=providers)
            os.replace(tmp, cached)
            tmp = None
            self.optimized_cache = "written"
            return session
        except OSError as exc:  # read-only cache: optimise at every start, as without it
            log.debug("cannot write the ORT graph cache %s (%s)", cached, exc)
            return ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs, heat = self._session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
        return probs, heat

    def _run_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        names = [*OUTPUT_NAMES, *self.optional_outputs]
        return dict(zip(names, self._session.run(names, {INPUT_NAME: batch})))

    def describe(self) -> dict:
        return {**super().describe(), "providers": list(self.providers)}
