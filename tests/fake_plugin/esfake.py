"""A plug-in as a third party would write it: the backend ``npfake`` and its export format.

Installed at test time only (``tests/conftest.py`` ``plugin_site``): a ``*.dist-info`` whose
``entry_points.txt`` names :data:`BACKEND` (group ``edge_screen.backends``) and :data:`EXPORTER`
(group ``edge_screen.exporters``); nothing in edge-screen names it.

The model is a linear class-activation map in numpy: per cell of ``stride`` x ``stride`` input
pixels, score = w . mean colour + b; P(abnormal) = sigmoid(mean score), heatmap = the ReLU'd
scores over their per-image max (the same map-then-pool structure as the real CAM heads). The
exporter fits w, b by least squares to the logits of the bundle's FP32 ONNX on the export's
calibration images (or seeded smooth images), so what it writes depends on the model exported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_screen.backends import Backend
from edge_screen.errors import BundleError
from edge_screen.exporters import Exporter, ExportJob
from edge_screen.runtimes.base import Runtime

BACKEND = Backend(
    name="npfake",
    precisions=("fp32",),
    file_roles=("weights",),
    extra="",
    runtime="esfake:NumpyCamRuntime",
    check=lambda: None,  # numpy is always there
    priority=5,  # after every built-in backend in the static order
    distributions=("numpy",),
    devices="cpu",
)

EXPORTER = Exporter(
    name="npfake",
    backend="npfake",
    precisions=("fp32",),
    file_roles=("weights",),
    write="esfake:write",
)


def _cells(batch: np.ndarray, stride: int) -> np.ndarray:
    """(B, 3, S, S) -> (B, 3, S/stride, S/stride) mean over each cell."""
    b, c, s, _ = batch.shape
    n = s // stride
    return batch[:, :, : n * stride, : n * stride].reshape(b, c, n, stride, n, stride).mean(axis=(3, 5))


class NumpyCamRuntime(Runtime):
    """The ``npfake`` runtime: entry files ``{"weights": model.npz}`` with ``w`` (3,), ``b`` (), ``stride`` ()."""

    name = BACKEND.name
    extra = BACKEND.extra
    required_files = BACKEND.file_roles

    def __init__(self, bundle, entry, *, threads=None, device=None) -> None:  # noqa: ANN001
        super().__init__(bundle, entry, threads=threads, device=device)
        if device not in (None, "cpu"):
            raise BundleError(f"npfake runs on the CPU only, got device {device!r}")
        path = bundle.path(entry.files["weights"])
        try:
            with np.load(path) as z:
                self.w = np.asarray(z["w"], np.float32).reshape(3)
                self.b = float(z["b"])
                self.stride = int(z["stride"])
        except (OSError, ValueError, KeyError) as exc:
            raise BundleError(f"npfake cannot read {entry.files['weights']!r} of bundle {bundle.name!r}: {exc}") from exc
        self.device = "cpu"

    @classmethod
    def library_version(cls) -> str | None:
        return np.__version__

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        score = np.einsum("c,bchw->bhw", self.w, _cells(batch, self.stride)) + self.b
        p1 = 1.0 / (1.0 + np.exp(-score.mean(axis=(1, 2))))
        probs = np.stack([1.0 - p1, p1], axis=1).astype(np.float32)
        pos = np.maximum(score, 0.0)
        heat = pos / np.maximum(pos.max(axis=(1, 2), keepdims=True), 1e-6)
        return probs, heat.astype(np.float32)


def write(job: ExportJob) -> Path | None:
    """Fit the linear map to the FP32 ONNX's logits and add the ``npfake`` entry to the bundle."""
    import onnxruntime as ort

    if job.calib is not None:
        x = np.asarray(job.calib.images, np.float32)
    else:
        rng = np.random.default_rng(0)
        coarse = rng.uniform(-1, 1, (32, 3, 4, 4)).astype(np.float32)
        x = np.repeat(np.repeat(coarse, job.input_size // 4, axis=2), job.input_size // 4, axis=3)
    session = ort.InferenceSession(str(job.fp32), providers=["CPUExecutionProvider"])
    probs = session.run(["probabilities"], {"image": x})[0].astype(np.float64)
    logit = np.log(np.clip(probs[:, 1], 1e-6, 1)) - np.log(np.clip(probs[:, 0], 1e-6, 1))
    features = np.concatenate([x.mean(axis=(2, 3)), np.ones((len(x), 1))], axis=1)
    coef = np.linalg.lstsq(features, logit, rcond=None)[0]
    out = job.root / "npfake" / "model.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, w=coef[:3].astype(np.float32), b=np.float32(coef[3]), stride=np.int64(8))
    job.writer.add_model(EXPORTER.backend, job.precision, {"weights": out}, fitted_on=len(x))
    return None
