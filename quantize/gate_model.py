"""The learned gate as a torch module on the pooled features, and its file (``gate.pt``).

:class:`GateHeads` maps the classifier's pooled features ``[B, C]`` to

* ``gate_probabilities`` ``[B, K]``: softmax of a linear head on standardised features;
* ``ood_distance`` ``[B]``: the Mahalanobis distance to the training photos under a shrinkage
  covariance, divided by C. With standardised features ``z``, the top-``D`` principal axes ``V``
  (eigenvalues ``lambda``) and ``delta`` the mean of the other eigenvalues (plus a small ridge),
  ``d = sum_k u_k^2 (1 / (lambda_k + delta) - 1 / delta) + |z|^2 / delta`` with ``u = z V``: the
  exact Mahalanobis distance under ``V diag(lambda) V^T + delta I``, with one ``[C, D]`` matrix
  product. Directions the fundus photos never vary in (where unlike inputs put their energy) keep
  the weight ``1 / delta``; a pure top-D PCA distance would ignore them.

Everything is Sub / Mul / MatMul / ReduceSum / Softmax: ops that the INT8 exporters keep in float
(they lie after the global pool; see ``onnx_export.tail_nodes``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edge_screen.errors import UsageError
from edge_screen.gate import GATE_SCHEMA, LearnedGate

GATE_FILE_FORMAT = "edge-screen-gate-heads/1"


class GateHeads(nn.Module):
    """``pooled [B, C] -> (gate_probabilities [B, K], ood_distance [B])``; buffers hold every weight."""

    def __init__(self, num_features: int, num_classes: int, ood_dim: int) -> None:
        super().__init__()
        c, k, d = int(num_features), int(num_classes), int(ood_dim)
        self.register_buffer("mean", torch.zeros(c))
        self.register_buffer("inv_std", torch.ones(c))
        self.fc = nn.Linear(c, k)
        self.register_buffer("ood_axes", torch.zeros(c, d))
        self.register_buffer("ood_coef", torch.zeros(d))
        self.register_buffer("ood_inv_delta", torch.ones(()))
        self.num_features = c

    def forward(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = (pooled - self.mean) * self.inv_std
        probs = torch.softmax(self.fc(z), dim=1)
        u = z @ self.ood_axes
        # One ReduceSum over both terms (no Add of two activations, which NNCF would quantize).
        terms = torch.cat([u * u * self.ood_coef, z * z * (self.ood_inv_delta / self.num_features)], dim=1)
        return probs, terms.sum(dim=1)

    @classmethod
    def from_arrays(cls, *, mean: np.ndarray, std: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                    axes: np.ndarray, eigvals: np.ndarray, delta: float) -> GateHeads:
        """Build from fitted numpy arrays: standardisation ``(C,)``, head ``(K, C)`` / ``(K,)``,
        principal axes ``(C, D)`` with eigenvalues ``(D,)`` and the residual variance ``delta``."""
        c, d = axes.shape
        heads = cls(c, weight.shape[0], d)
        with torch.no_grad():
            heads.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
            heads.inv_std.copy_(torch.as_tensor(1.0 / np.maximum(std, 1e-6), dtype=torch.float32))
            heads.fc.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
            heads.fc.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
            heads.ood_axes.copy_(torch.as_tensor(axes, dtype=torch.float32))
            heads.ood_coef.copy_(torch.as_tensor((1.0 / (eigvals + delta) - 1.0 / delta) / c, dtype=torch.float32))
            heads.ood_inv_delta.fill_(1.0 / float(delta))
        return heads.eval()


def save_gate(path: str | os.PathLike, heads: GateHeads, gate: LearnedGate, *, backbone_sha256: str,
              report: dict[str, Any]) -> Path:
    """Write ``gate.pt``: the heads' state, the decision block and the report (plain types only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {"format": GATE_FILE_FORMAT, "num_features": heads.num_features, "num_classes": heads.fc.out_features,
           "ood_dim": heads.ood_axes.shape[1], "state_dict": heads.state_dict(), "gate": gate.to_manifest(),
           "backbone_sha256": backbone_sha256, "report": report}
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def load_gate(path: str | os.PathLike, *, model: nn.Module | None = None) -> tuple[GateHeads, dict]:
    """Read ``gate.pt``: ``(heads in eval mode, the whole file as a dict)``.

    With ``model``, the gate must have been trained on this model's backbone (same SHA-256 of the
    feature weights): a gate fitted to other features would judge every photo wrongly.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"gate file {str(path)!r} does not exist; make it with edge-screen train-gate")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, dict) or obj.get("format") != GATE_FILE_FORMAT:
        raise UsageError(f"{path} is not an edge-screen gate file (format {GATE_FILE_FORMAT!r})")
    if obj["gate"].get("schema") != GATE_SCHEMA:
        raise UsageError(f"{path}: gate block schema {obj['gate'].get('schema')!r}, expected {GATE_SCHEMA!r}")
    heads = GateHeads(obj["num_features"], obj["num_classes"], obj["ood_dim"])
    heads.load_state_dict(obj["state_dict"], strict=True)
    if model is not None:
        got = backbone_sha256(model)
        if got != obj["backbone_sha256"]:
            raise UsageError(
                f"gate {path} was trained on another backbone (features sha256 {obj['backbone_sha256'][:12]}, "
                f"this model {got[:12]}): retrain it on this checkpoint with edge-screen train-gate --model CKPT")
        if heads.num_features != getattr(model, "num_features", heads.num_features):
            raise UsageError(f"gate {path} expects {heads.num_features} features, the model has {model.num_features}")
    return heads.eval(), obj


def backbone_sha256(model: nn.Module) -> str:
    """SHA-256 over the names and bytes of ``model.features``' state (weights and BN statistics)."""
    import hashlib

    h = hashlib.sha256()
    for name, t in model.features.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
