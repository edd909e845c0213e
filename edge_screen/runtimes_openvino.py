"""OpenVINO backend: CPU / GPU / NPU devices.

On CPUs with BF16 support OpenVINO silently runs FP32 models in BF16 (its default
``INFERENCE_PRECISION_HINT``); measured here, that moved a heatmap by up to 0.26. When the entry's
precision is fp32 we therefore set the hint to f32 (OpenVINO docs, "Precision Control").
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import numpy as np

from edge_screen.errors import BackendUnavailable, BundleError, UsageError
from edge_screen.runtime import INPUT_NAME, OPTIONAL_OUTPUTS, OUTPUT_NAMES, Runtime, register_runtime

log = logging.getLogger(__name__)

_DEVICES = ("CPU", "GPU", "NPU", "AUTO")
# precision of the entry -> inference precision hint; int8 keeps the plugin's default for the
# non-quantized ops unless the manifest entry says otherwise ("inference_precision": "f32").
_PRECISION_HINT = {"fp32": "f32", "fp16": "f16"}


def _ov() -> Any:
    try:
        return importlib.import_module("openvino")
    except ImportError as exc:
        raise BackendUnavailable(OpenVinoRuntime.unavailable_message()) from exc


@register_runtime
class OpenVinoRuntime(Runtime):
    """OpenVINO. ``device``: "CPU" (default), "GPU", "NPU" or "AUTO"; a GPU index like "GPU.1" also works."""

    name = "openvino"
    extra = "openvino"
    required_files = ("model",)  # "weights" (.bin) next to an IR .xml; an .onnx model needs none

    @classmethod
    def is_available(cls) -> bool:
        try:
            importlib.import_module("openvino")
        except ImportError:
            return False
        return True

    @classmethod
    def unavailable_message(cls) -> str:
        return "OpenVINO is not installed: pip install 'edge-screen[openvino]'"

    @classmethod
    def library_version(cls) -> str | None:
        if not cls.is_available():
            return None
        return str(importlib.import_module("openvino").get_version())

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
        xml = bundle.path(entry.files["model"])
        weights = bundle.path(entry.files["weights"]) if "weights" in entry.files else None
        try:
            model = core.read_model(str(xml), str(weights) if weights else None)
            self._compiled = core.compile_model(model, dev, config)
        except RuntimeError as exc:
            raise BundleError(f"OpenVINO cannot load {entry.files['model']!r} of bundle {bundle.name!r} on {dev}: {exc}") from exc
        names = {n for o in self._compiled.outputs for n in o.get_names()}
        in_names = {n for i in self._compiled.inputs for n in i.get_names()}
        if INPUT_NAME not in in_names or any(n not in names for n in OUTPUT_NAMES):
            raise BundleError(
                f"model {entry.files['model']!r} does not follow the I/O contract: inputs {sorted(in_names)}, "
                f"outputs {sorted(names)}; expected input {INPUT_NAME!r} and outputs {list(OUTPUT_NAMES)}"
            )
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
