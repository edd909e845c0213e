"""The alternatives a user would otherwise pick, behind the core :class:`~edge_screen.runtime.Runtime`
interface, for benchmarks.

The benchmark runs every cell through the real :class:`~edge_screen.screener.Screener`; these runtimes
are injected as ``Screener(bundle, runtime=...)`` so their end-to-end numbers include exactly the same
decode, analysis copy, quality gate, crop and heatmap mapping as the project's own runtimes:

* :class:`TorchRuntime`: a model in eager FP32 PyTorch (the teacher; the student as trained);
* :class:`PlainOrtRuntime`: ``onnxruntime.InferenceSession(path)`` with no options at all.

Not registered in the core's runtime registry (the core never imports torch).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from edge_screen.bundle import Bundle, ModelEntry
from edge_screen.runtime import OPTIONAL_OUTPUTS, Runtime
from edge_screen.runtimes.onnxruntime import OnnxRuntime


class TorchRuntime(Runtime):
    """``graph(image) -> (probabilities [B,2], heatmap [B,h,w])`` in eager FP32 PyTorch.

    ``graph``: e.g. :func:`edge_screen.quantize.cam.with_heatmap` of a registry model. ``bundle``:
    gives the preprocessing (input size) the Screener uses for this model.
    """

    name: ClassVar[str] = "torch"
    extra: ClassVar[str] = "train"
    required_files: ClassVar[tuple[str, ...]] = ()

    def __init__(self, bundle: Bundle, graph: Any, *, threads: int | None = None, device: str | None = None) -> None:
        import torch

        super().__init__(bundle, ModelEntry(backend="torch", precision="fp32", files={}), threads=threads,
                         device=device)
        self._torch = torch
        self._device = torch.device("cuda" if (device or "").lower() in ("cuda", "gpu") else "cpu")
        self.graph = graph.eval().to(self._device)
        self.device = str(self._device)

    @classmethod
    def is_available(cls) -> bool:
        import importlib.util

        return importlib.util.find_spec("torch") is not None

    @classmethod
    def library_version(cls) -> str | None:
        import importlib.metadata

        try:
            return importlib.metadata.version("torch")
        except importlib.metadata.PackageNotFoundError:
            return None

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            probs, heat = self.graph(torch.from_numpy(batch).to(self._device))
            if self._device.type == "cuda":
                torch.cuda.synchronize()
            return probs.cpu().numpy(), heat.cpu().numpy()

    def describe(self) -> dict:
        return {**super().describe(), "threads": self._torch.get_num_threads()}


class PlainOrtRuntime(OnnxRuntime):
    """An entry's ONNX file in ``onnxruntime.InferenceSession(path)`` with ONNX Runtime's defaults
    (threads, spinning, graph optimisations): what a user who loads the file directly gets. Only the
    session differs from :class:`~edge_screen.runtimes.onnxruntime.OnnxRuntime`; running it is the same."""

    def __init__(self, bundle: Bundle, entry: ModelEntry) -> None:  # noqa: D107 - no SessionOptions on purpose
        import onnxruntime as ort

        Runtime.__init__(self, bundle, entry)
        self._session = ort.InferenceSession(str(bundle.path(entry.files["model"])), providers=["CPUExecutionProvider"])
        self.providers = self._session.get_providers()
        self.device = "cpu"
        outputs = {o.name for o in self._session.get_outputs()}
        self.optional_outputs = tuple(n for n in OPTIONAL_OUTPUTS if n in outputs)  # the learned gate, when exported

    def describe(self) -> dict:
        return {**super().describe(), "settings": "onnxruntime defaults (InferenceSession(path), no SessionOptions)"}
