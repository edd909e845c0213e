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
from edge_screen.quantize.model_spec import HeadType
from edge_screen.quantize.nets import FundusClassifier

log = logging.getLogger(__name__)

ABNORMAL = 1
# Smallest map maximum we divide by. 1e-6 is still representable (subnormal) in FP16, so a
# TensorRT / OpenVINO FP16 graph does not turn the clamp into 0 and an all-zero map into NaN.
NORM_EPS = 1e-6


class HeatmapGraph(nn.Module):
    """Base wrapper: ``forward(image) -> (probabilities [B,2], heatmap [B,h,w])``.

    Args:
        model: a :class:`~edge_screen.quantize.nets.FundusClassifier` (``features`` [B,3,S,S] ->
            [B,C,h,w], ``head`` [B,C] -> logits [B,2]); switched to eval mode (BN statistics frozen).
        class_index: logit the heatmap explains (1 = abnormal, the contract).
    """

    kind: str = "base"

    def __init__(self, model: nn.Module, *, class_index: int = ABNORMAL) -> None:
        super().__init__()
        if not isinstance(model, FundusClassifier):
            raise UsageError(
                f"heatmap graph needs a FundusClassifier (features, pool, head and a model card), got "
                f"{type(model).__name__}; wrap the backbone in edge_screen.quantize.nets.FundusClassifier"
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
        return torch.relu(class_map(fmap, alpha))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        fmap = self.features(image)
        pooled = fmap.mean(dim=(2, 3))
        probabilities = torch.softmax(self.head(pooled), dim=1)
        heatmap = _peak_normalise(self.raw_cam(fmap, pooled))
        if self.gate is None:
            return probabilities, heatmap
        # + (gate_probabilities [B,K], ood_distance [B]) from the same pooled features (edge_screen.gate)
        return (probabilities, heatmap, *self.gate(pooled))


class CamGraph(HeatmapGraph):
    """Exact CAM for a linear head (:class:`~edge_screen.quantize.nets.LinearHead`)."""

    kind = "cam"

    def channel_weights(self, pooled: torch.Tensor) -> torch.Tensor:
        w = self.head.fc.weight[self.class_index]  # [C]
        return w.unsqueeze(0).expand(pooled.shape[0], -1)


class GradCamGraph(HeatmapGraph):
    """Analytic Grad-CAM for the MLP head ``fc1 -> bn -> ReLU -> fc2`` (:class:`~edge_screen.quantize.nets.MLPHead`,
    BN in eval mode)."""

    kind = "gradcam"

    def channel_weights(self, pooled: torch.Tensor) -> torch.Tensor:
        head = self.head
        bn: nn.BatchNorm1d = head.bn
        u = bn(head.fc1(pooled))  # [B,H]; eval mode: (x - mean) * s + beta
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # [H]
        gate = (u > 0).to(pooled.dtype)  # relu'(u), 0 at u == 0 like autograd
        w2 = head.fc2.weight[self.class_index]  # [H]
        return (gate * (w2 * scale)) @ head.fc1.weight  # [B,H] @ [H,C] -> [B,C]


_KINDS = {HeadType.LINEAR: "cam", HeadType.MLP: "gradcam"}


def heatmap_kind(model: nn.Module) -> str:
    """``"cam"`` for a linear head, ``"gradcam"`` for the MLP head, from the model card's head type."""
    if not isinstance(model, FundusClassifier):
        raise UsageError(f"model {type(model).__name__} is not a FundusClassifier; no in-graph heatmap "
                         "(build it with edge_screen.quantize.models.create_model)")
    return _KINDS[model.spec.head]


def with_heatmap(model: nn.Module, *, class_index: int = ABNORMAL, gate: nn.Module | None = None) -> HeatmapGraph:
    """Wrap a classifier so it returns ``(probabilities [B,2], heatmap [B,h,w])``; eval mode.

    Picks :class:`CamGraph` for linear heads and :class:`GradCamGraph` for the MLP head. With
    ``gate`` (``edge_screen.quantize.gate_model.GateHeads``) it also returns the learned gate's
    ``(gate_probabilities [B,K], ood_distance [B])`` from the same pooled features.
    """
    graph: HeatmapGraph = _GRAPHS[heatmap_kind(model)](model, class_index=class_index)
    graph.gate = None if gate is None else gate.eval()
    log.debug("heatmap graph %s for %s", graph.kind, type(model).__name__)
    return graph.eval()


_GRAPHS: dict[str, type[HeatmapGraph]] = {"cam": CamGraph, "gradcam": GradCamGraph}


# ------------------------------------------------------------------------- shared map maths (training too)
def class_map(fmap: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum_c w_c A_c``: fmap ``[B,C,h,w]``, weights ``[B,C]`` (per image) or ``[C]`` -> ``[B,h,w]``, no ReLU."""
    if weights.ndim == 1:
        return torch.einsum("bchw,c->bhw", fmap, weights)
    return (fmap * weights[:, :, None, None]).sum(dim=1)


def _peak_normalise(cam: torch.Tensor) -> torch.Tensor:
    # Divide each [h,w] map of [B,h,w] by its max, clamped at NORM_EPS, so an all-zero map stays zero (no 0/0).
    return cam / cam.amax(dim=(1, 2), keepdim=True).clamp_min(NORM_EPS)


def normalise_map(maps: torch.Tensor) -> torch.Tensor:
    """ReLU, then divide each ``[h,w]`` map of ``[B,h,w]`` by its max clamped at :data:`NORM_EPS` (all-zero stays zero).

    The exported heatmap is ``normalise_map`` of :meth:`HeatmapGraph.raw_cam`; distillation compares
    maps in this form.
    """
    return _peak_normalise(torch.relu(maps))


def training_map(model: FundusClassifier, x: torch.Tensor, *, class_index: int = ABNORMAL
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits [B,K], map [B,h,w])`` for a model in training, differentiable, before ReLU/normalisation.

    The map is ``sum_c (d logit_k / d pooled_c) A_c``: the heatmap's maths up to the positive factor
    ``h*w`` (which :func:`normalise_map` removes). Linear head: the CAM weights ``W[k]``. MLP head:
    the weights by autograd on the pooled features (``create_graph=True``), so they are right in
    train mode too, where BatchNorm uses batch statistics and the analytic eval-mode formula of
    :class:`GradCamGraph` does not hold.
    """
    fmap = model.features(x)
    pooled = fmap.mean(dim=(2, 3))
    logits = model.head(pooled)
    if model.spec.head is HeadType.LINEAR:
        return logits, class_map(fmap, model.head.fc.weight[class_index].to(fmap.dtype))
    (w,) = torch.autograd.grad(logits[:, class_index].sum(), pooled, create_graph=True)
    return logits, class_map(fmap, w)
