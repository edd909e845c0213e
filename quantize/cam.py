"""In-graph heatmaps: exact CAM for linear heads, analytic Grad-CAM for the MLP head.

Every exported graph follows the model I/O contract (ARCHITECTURE.md "Model I/O contract")::

    image [B,3,S,S] float32  ->  probabilities [B,2] float32 softmax (0 = normal, 1 = abnormal),
                                 heatmap       [B,h,w] float32 in 0..1 at feature-map resolution

Because the classifier is ``features -> global average pool -> head``, the gradient of a class
logit with respect to the feature map ``A`` [B,C,h,w] is the same at every spatial position, so
Grad-CAM (Selvaraju et al. 2017) needs no backward pass:

* **Linear head** ``z = W g + b`` with ``g = mean_hw(A)``: ``dz_k/dA_c = W[k,c] / (h*w)``.
  Grad-CAM for class k is then ``relu(sum_c W[k,c] A_c) / (h*w)``, which is CAM (Zhou et al. 2016)
  up to a positive factor. We use the **abnormal logit** ``k = 1`` (not ``W[1] - W[0]``) so the map
  is exactly what pytorch-grad-cam's ``GradCAM`` with ``ClassifierOutputTarget(1)`` gives; the
  per-image normalisation removes the ``1/(h*w)`` factor anyway.
* **MLP head** (Jang et al. 2024: ``fc1 -> BatchNorm1d -> ReLU -> fc2``), BN in eval mode::

      u     = bn(fc1(g))                      # [B,H] pre-activation of the ReLU
      alpha = (W2[k] * 1[u > 0] * s) @ W1 / (h*w)      s = gamma / sqrt(running_var + eps)

  ``alpha`` [B,C] depends on the image through the ReLU mask, so it is computed per sample in the
  forward pass. Note the ReLU derivative is taken at ``u`` (after BN), where the ReLU sits.

The map is ``relu(sum_c alpha_c A_c)``, divided per image by ``max(map_max, eps)`` so an all-zero
map stays zero (never 0/0). The template method :class:`HeatmapGraph` fixes the shared steps; each
head type only overrides :meth:`HeatmapGraph.channel_weights`.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from edge_screen.errors import UsageError

log = logging.getLogger(__name__)

ABNORMAL = 1
# Smallest map maximum we divide by. 1e-6 is still representable (subnormal) in FP16, so a
# TensorRT / OpenVINO FP16 graph does not turn the clamp into 0 and an all-zero map into NaN.
NORM_EPS = 1e-6


class HeatmapGraph(nn.Module):
    """Base wrapper: ``forward(image) -> (probabilities [B,2], heatmap [B,h,w])``.

    Args:
        model: a ``FundusClassifier``-like module with ``features`` ([B,3,S,S] -> [B,C,h,w]) and
            ``head`` ([B,C] -> logits [B,2]); switched to eval mode (BN statistics frozen).
        class_index: logit the heatmap explains (1 = abnormal, the contract).
    """

    kind: str = "base"

    def __init__(self, model: nn.Module, *, class_index: int = ABNORMAL) -> None:
        super().__init__()
        if not hasattr(model, "features") or not hasattr(model, "head"):
            raise UsageError(
                f"heatmap graph needs a model with .features and .head, got {type(model).__name__}; "
                "wrap the backbone in edge_screen.quantize.nets.FundusClassifier"
            )
        self.features = model.features
        self.head = model.head
        self.class_index = int(class_index)
        self.gate: nn.Module | None = None  # optional learned gate on the pooled features (attach_gate)
        self.eval()

    def channel_weights(self, pooled: torch.Tensor) -> torch.Tensor:
        """``d logit / d pooled`` [B,C] float32 for ``self.class_index`` (``alpha`` times ``h*w``)."""
        raise NotImplementedError

    def raw_cam(self, fmap: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """Un-normalised map ``relu(sum_c alpha_c A_c)`` [B,h,w], ``fmap`` [B,C,h,w]."""
        alpha = self.channel_weights(pooled) / (fmap.shape[2] * fmap.shape[3])
        cam = (fmap * alpha[:, :, None, None]).sum(dim=1)
        return torch.relu(cam)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        fmap = self.features(image)
        pooled = fmap.mean(dim=(2, 3))
        probabilities = torch.softmax(self.head(pooled), dim=1)
        cam = self.raw_cam(fmap, pooled)
        peak = cam.amax(dim=(1, 2), keepdim=True).clamp_min(NORM_EPS)
        if self.gate is None:
            return probabilities, cam / peak
        # + (gate_probabilities [B,K], ood_distance [B]) from the same pooled features (edge_screen.gate)
        return (probabilities, cam / peak, *self.gate(pooled))


class CamGraph(HeatmapGraph):
    """Exact CAM for a linear head (``head.fc`` or the head itself being ``nn.Linear``)."""

    kind = "cam"

    def channel_weights(self, pooled: torch.Tensor) -> torch.Tensor:
        fc = self.head.fc if hasattr(self.head, "fc") else self.head
        w = fc.weight[self.class_index]  # [C]
        return w.unsqueeze(0).expand(pooled.shape[0], -1)


class GradCamGraph(HeatmapGraph):
    """Analytic Grad-CAM for the MLP head ``fc1 -> bn -> act(ReLU) -> fc2`` (BN in eval mode)."""

    kind = "gradcam"

    def __init__(self, model: nn.Module, *, class_index: int = ABNORMAL) -> None:
        super().__init__(model, class_index=class_index)
        head = self.head
        if not isinstance(getattr(head, "act", None), nn.ReLU):
            raise UsageError(
                f"analytic Grad-CAM needs a ReLU between bn and fc2, got {type(getattr(head, 'act', None)).__name__}; "
                "use MLPHead from edge_screen.quantize.nets"
            )

    def channel_weights(self, pooled: torch.Tensor) -> torch.Tensor:
        head = self.head
        bn: nn.BatchNorm1d = head.bn
        u = bn(head.fc1(pooled))  # [B,H]; eval mode: (x - mean) * s + beta
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # [H]
        gate = (u > 0).to(pooled.dtype)  # relu'(u), 0 at u == 0 like autograd
        w2 = head.fc2.weight[self.class_index]  # [H]
        return (gate * (w2 * scale)) @ head.fc1.weight  # [B,H] @ [H,C] -> [B,C]


def heatmap_kind(model: nn.Module) -> str:
    """``"cam"`` for a linear head, ``"gradcam"`` for the MLP head; UsageError otherwise."""
    head = getattr(model, "head", None)
    if head is None:
        raise UsageError(f"model {type(model).__name__} has no .head; expected a FundusClassifier")
    if all(hasattr(head, a) for a in ("fc1", "bn", "act", "fc2")):
        return "gradcam"
    if isinstance(getattr(head, "fc", None), nn.Linear) or isinstance(head, nn.Linear):
        return "cam"
    raise UsageError(
        f"no in-graph heatmap for head {type(head).__name__}; valid heads: LinearHead (head.fc) "
        "or MLPHead (fc1, bn, act, fc2) from edge_screen.quantize.nets"
    )


def with_heatmap(model: nn.Module, *, class_index: int = ABNORMAL, gate: nn.Module | None = None) -> HeatmapGraph:
    """Wrap a classifier so it returns ``(probabilities [B,2], heatmap [B,h,w])``; eval mode.

    Picks :class:`CamGraph` for linear heads and :class:`GradCamGraph` for the MLP head. With
    ``gate`` (``edge_screen.quantize.gate_model.GateHeads``) it also returns the learned gate's
    ``(gate_probabilities [B,K], ood_distance [B])`` from the same pooled features.
    """
    kind = heatmap_kind(model)
    graph: HeatmapGraph = CamGraph(model, class_index=class_index) if kind == "cam" else GradCamGraph(
        model, class_index=class_index
    )
    graph.gate = None if gate is None else gate.eval()
    log.debug("heatmap graph %s for %s", graph.kind, type(model).__name__)
    return graph.eval()
