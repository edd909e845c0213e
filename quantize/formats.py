"""The built-in export formats (entry-point group ``edge_screen.exporters``, :mod:`edge_screen.exporters`).

Torch-free on import: ``edge-screen export --help`` reads these entries. The work is done by
:func:`edge_screen.quantize.onnx_export.torch_to_onnx`, :mod:`~edge_screen.quantize.ort_quant`,
:mod:`~edge_screen.quantize.openvino_export` and :mod:`~edge_screen.quantize.tensorrt_export`,
called from the bundle exporter. ``torch_to_torch_tensorrt`` is not a format: no registered backend
runs a Torch-TensorRT ExportedProgram, so a bundle must not carry one.
"""

from __future__ import annotations

import importlib.util

from edge_screen.exporters import Exporter


def _needs(*modules: str, extra: str) -> str | None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        return f"exporting needs {', '.join(missing)}: pip install 'edge-screen[{extra}]'"
    return None


ONNX = Exporter(
    name="onnx",
    backend="onnxruntime",
    precisions=("fp32", "int8"),  # static QDQ U8S8 INT8; ONNX Runtime has no FP16 CPU path
    file_roles=("model",),
    check=lambda: _needs("torch", "onnx", extra="train"),
    hint="ONNX Runtime on CPU has no FP16 path: use openvino fp16 or tensorrt fp16",
)

OPENVINO = Exporter(
    name="openvino",
    backend="openvino",
    precisions=("fp32", "fp16", "int8"),  # an IR (model.xml + weights .bin), or the Q/DQ ONNX for int8
    file_roles=("model",),
    check=lambda: _needs("torch", "onnx", "openvino", extra="train,openvino"),
)

TENSORRT = Exporter(
    name="tensorrt",
    backend="tensorrt",
    # the ONNX (S8S8 Q/DQ for int8) the engine is built from on the device: edge-screen build-engine
    precisions=("fp32", "fp16", "int8"),
    file_roles=("onnx",),
    check=lambda: _needs("torch", "onnx", extra="train"),
)
