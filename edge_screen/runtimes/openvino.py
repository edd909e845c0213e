"""OpenVINO backend: CPU / GPU / NPU devices.

On CPUs with BF16 support OpenVINO silently runs FP32 models in BF16 (its default
``INFERENCE_PRECISION_HINT``); measured here, that moved a heatmap by up to 0.26. When the entry's
precision is fp32 we therefore set the hint to f32 (OpenVINO docs, "Precision Control").

**No network.** ``import openvino`` (2024.1 and later, measured with 2026.4) sends a usage event to
Google Analytics and writes ``~/intel/openvino_ga_cid``: ``openvino/tools/ovc/__init__.py`` starts
``openvino_telemetry`` (openvinotoolkit/openvino PR 23832), which is opt-out. The documented
opt-out is the per-user consent file that ``opt_in_out --opt_out`` writes; edge-screen does not
change a user's global settings, so :func:`import_openvino` turns telemetry off for this process
only, through the path OpenVINO and NNCF both support when the telemetry package is absent
(``openvino.tools.ovc.telemetry_stub``; NNCF: "openvino_telemetry package not found. No telemetry
will be sent."). Every OpenVINO import in edge-screen goes through it.

**Start-up.** Compiling the IR costs ~1 s per start on 2 cores; the compiled blob is cached in
``<cache>/openvino`` (OpenVINO ``CACHE_DIR``; the cache root honours ``EDGE_SCREEN_CACHE``) so
later starts load it instead.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge_screen.backends import Backend
from edge_screen.errors import BackendUnavailable, BundleError, UsageError
from edge_screen.runtimes.base import INPUT_NAME, OPTIONAL_OUTPUTS, OUTPUT_NAMES, Runtime

log = logging.getLogger(__name__)

_DEVICES = ("CPU", "GPU", "NPU", "AUTO")
# precision of the entry -> inference precision hint; int8 keeps the plugin's default for the
# non-quantized ops unless the manifest entry says otherwise ("inference_precision": "f32").
_PRECISION_HINT = {"fp32": "f32", "fp16": "f16"}


_TELEMETRY_MODULE = "openvino_telemetry"


def disable_openvino_telemetry() -> bool:
    """Make OpenVINO's and NNCF's telemetry inert in this process; call before importing them.

    Returns False (and logs a warning) when OpenVINO was already imported with its telemetry
    package, i.e. too late to stop the import-time event.
    """
    mod = sys.modules.get(_TELEMETRY_MODULE)
    if mod is not None and "openvino" in sys.modules:
        log.warning("OpenVINO was imported before edge-screen could turn its telemetry off; "
                    "run 'opt_in_out --opt_out' once to opt out for every program on this machine")  # fmt: skip
        return False
    if mod is None:
        # A None entry makes `import openvino_telemetry` raise ImportError (the stub path).
        sys.modules[_TELEMETRY_MODULE] = None  # type: ignore[assignment]
    return True


_CONVERTER = "openvino.tools.ovc"


def import_openvino(*, converter: bool = True) -> Any:
    """``import openvino`` with telemetry off (:func:`disable_openvino_telemetry`); ImportError if absent.

    ``converter=False`` (the runtime) skips OpenVINO's model converter, which ``import openvino``
    otherwise imports for ``openvino.convert_model``: ~0.1-0.15 s of a 2-core machine's start-up,
    and inference reads ONNX/IR without it. A later ``import_openvino()`` adds it back.
    """
    disable_openvino_telemetry()
    if converter or "openvino" in sys.modules:
        ov = importlib.import_module("openvino")
        if converter and "convert_model" not in vars(ov):  # imported by the runtime, without it
            from openvino.tools.ovc import convert_model  # noqa: PLC0415

            ov.convert_model = convert_model
        return ov
    # openvino/__init__.py does `try: from openvino.tools.ovc import convert_model except ImportError`;
    # a None entry in sys.modules makes exactly that import fail, and is removed right after.
    sys.modules[_CONVERTER] = None  # type: ignore[assignment]
    try:
        ov = importlib.import_module("openvino")
    finally:
        if sys.modules.get(_CONVERTER, 0) is None:
            del sys.modules[_CONVERTER]
    if "convert_model" not in vars(ov) and "__getattr__" not in vars(ov):
        # code that later uses `openvino.convert_model` (NNCF, a user's script) still finds it:
        # a module __getattr__ (PEP 562) imports the converter on first use
        def __getattr__(name: str) -> Any:  # noqa: N807
            if name == "convert_model":
                return import_openvino().convert_model
            raise AttributeError(f"module 'openvino' has no attribute {name!r}")

        ov.__getattr__ = __getattr__
    return ov


_MISSING = "OpenVINO is not installed: pip install 'edge-screen[openvino]'"


def _unavailable() -> str | None:
    try:
        import_openvino(converter=False)
    except ImportError:
        return _MISSING
    return None


BACKEND = Backend(
    name="openvino",
    precisions=("fp32", "fp16", "int8"),
    file_roles=("model",),  # "weights" (.bin) next to an IR .xml; an .onnx model needs none
    extra="openvino",
    runtime="edge_screen.runtimes.openvino:OpenVinoRuntime",
    check=_unavailable,
    priority=20,
    distributions=("openvino",),
    devices="|".join(_DEVICES),
)


def _ov() -> Any:
    try:
        return import_openvino(converter=False)
    except ImportError as exc:
        raise BackendUnavailable(_MISSING) from exc


def model_cache_dir() -> Path:
    """Where compiled OpenVINO models are cached (``<edge-screen cache>/openvino``)."""
    from edge_screen.bundle_archive import cache_root

    return cache_root() / "openvino"


class OpenVinoRuntime(Runtime):
    """OpenVINO. ``device``: "CPU" (default), "GPU", "NPU" or "AUTO"; a GPU index like "GPU.1" also works."""

    name = BACKEND.name
    extra = BACKEND.extra
    required_files = BACKEND.file_roles

    @classmethod
    def library_version(cls) -> str | None:
        if not cls.is_available():
            return None
        return str(import_openvino(converter=False).get_version())

    def __init__(self, bundle, entry, *, threads=None, device=None) -> None:  # noqa: ANN001
        super().__init__(bundle, entry, threads=threads, device=device)
        ov = _ov()
        import openvino.properties as props
        import openvino.properties.hint as hints

        dev = (device or "CPU").upper()
        if dev.split(".")[0] not in _DEVICES:
            raise UsageError(f"OpenVINO device must be one of {list(_DEVICES)}, got {device!r}")
        core = ov.Core()
        if dev != "AUTO" and dev not in core.available_devices and dev.split(".")[0] not in {
            d.split(".")[0] for d in core.available_devices
        }:
            raise BackendUnavailable(
                f"OpenVINO device {dev!r} is not present here; available: {core.available_devices}. "
                "Use --device CPU, or install the device's driver"
            )
        config: dict[Any, Any] = {}
        hint = entry.extra.get("inference_precision") or _PRECISION_HINT.get(entry.precision)
        if hint is not None:
            types = {"f32": ov.Type.f32, "f16": ov.Type.f16, "bf16": ov.Type.bf16}
            if hint not in types:
                raise BundleError(f"entry {entry.backend}/{entry.precision}: inference_precision must be one of {list(types)}, got {hint!r}")
            config[hints.inference_precision] = types[hint]
        if threads is not None and dev.startswith("CPU"):
            config[props.inference_num_threads] = threads
        cache = _usable_cache_dir()
        if cache is not None:
            config[props.cache_dir] = str(cache)
        xml = bundle.path(entry.files["model"])
        weights = bundle.path(entry.files["weights"]) if "weights" in entry.files else None
        try:
            if weights is None or weights == xml.with_suffix(".bin"):
                # compile from the path: with a cache hit OpenVINO then skips reading the IR too
                self._compiled = core.compile_model(str(xml), dev, config)
            else:
                self._compiled = core.compile_model(core.read_model(str(xml), str(weights)), dev, config)
        except RuntimeError as exc:
            raise BundleError(f"OpenVINO cannot load {entry.files['model']!r} of bundle {bundle.name!r} on {dev}: {exc}") from exc
        names = {n for o in self._compiled.outputs for n in o.get_names()}
        in_names = {n for i in self._compiled.inputs for n in i.get_names()}
        if INPUT_NAME not in in_names or any(n not in names for n in OUTPUT_NAMES):
            raise BundleError(
                f"model {entry.files['model']!r} does not follow the I/O contract: inputs {sorted(in_names)}, "
                f"outputs {sorted(names)}; expected input {INPUT_NAME!r} and outputs {list(OUTPUT_NAMES)}"
            )
        shape = self._compiled.input(INPUT_NAME).get_partial_shape()
        size = bundle.preprocessing.input_size
        dims = [d.get_length() if d.is_static else None for d in shape] if shape.rank.is_static else []
        if len(dims) == 4 and any(d is not None and d != size for d in dims[2:]):
            raise BundleError(
                f"bundle {bundle.name!r} says input size {size}, but its model {entry.files['model']!r} takes "
                f"{dims[2]}x{dims[3]}: fix preprocessing.input_size in manifest.json, or re-export the bundle")
        self._outputs = [self._compiled.output(n) for n in OUTPUT_NAMES]
        self.optional_outputs = tuple(n for n in OPTIONAL_OUTPUTS if n in names)
        self._optional = [self._compiled.output(n) for n in self.optional_outputs]
        self._request = self._compiled.create_infer_request()
        self.device = dev
        log.debug("openvino on %s, config %s", dev, {str(k): str(v) for k, v in config.items()})

    @property
    def inference_precision(self) -> str:
        """The precision the compiled model actually runs at (e.g. "f32", "bf16")."""
        import openvino.properties.hint as hints

        value = self._compiled.get_property(hints.inference_precision)
        return value.get_type_name() if hasattr(value, "get_type_name") else str(value)

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        res = self._request.infer({INPUT_NAME: batch})
        # results reference the request's buffers: copy before the next call overwrites them
        return np.array(res[self._outputs[0]]), np.array(res[self._outputs[1]])

    def _run_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        res = self._request.infer({INPUT_NAME: batch})
        ports = [*self._outputs, *self._optional]
        return {n: np.array(res[o]) for n, o in zip([*OUTPUT_NAMES, *self.optional_outputs], ports)}

    def describe(self) -> dict:
        return {**super().describe(), "inference_precision": self.inference_precision}


def _usable_cache_dir() -> Path | None:
    """The model cache folder, created; None (no caching, logged) when it cannot be written."""
    path = model_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.info("OpenVINO model cache disabled: cannot create %s (%s)", path, exc)
        return None
    return path
