"""Network structure shared by every model in the registry.

Every classifier is ``features -> global average pool -> head``. Keeping the pool explicit and the
head behind it is what makes CAM exact for linear heads and analytic Grad-CAM possible for the MLP
head of Jang et al. 2024 (see ``edge_screen.quantize.cam``).
"""

from __future__ import annotations

import torch
from torch import nn

from edge_screen.errors import UsageError
from edge_screen.quantize.model_spec import HeadType, ModelSpec


class LinearHead(nn.Module):
    """Dropout + ``Linear(C, num_classes)`` on pooled features ``[B, C]``."""

    def __init__(self, in_features: int, num_classes: int = 2, *, dropout: float = 0.2) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(pooled))


class MLPHead(nn.Module):
    """``Linear(C, hidden) - BatchNorm1d - ReLU - Linear(hidden, num_classes)`` (Jang et al. 2024)."""

    def __init__(self, in_features: int, hidden: int = 512, num_classes: int = 2) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.act = nn.ReLU(inplace=False)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.bn(self.fc1(pooled))))


HEADS: dict[HeadType, type[nn.Module]] = {HeadType.LINEAR: LinearHead, HeadType.MLP: MLPHead}


class FundusClassifier(nn.Module):
    """``features`` ([B,3,S,S] -> [B,C,h,w]), global average pool, ``head`` ([B,C] -> logits [B,K]).

    Args:
        features: backbone returning the last feature map (no pooling).
        head: a :class:`LinearHead` or :class:`MLPHead`, the one ``spec.head`` names.
        spec: the model card (:class:`~edge_screen.quantize.model_spec.ModelSpec`) of this instance:
            input size, mean/std, head type, stage layout, C.
        default_cfg: extra timm-style entries (``num_classes``, ``threshold``, ``checkpoint``,
            ``training``); the card's keys (``name``, ``input_size``, ``mean``, ``std``,
            ``color_order``, ``head``) are always written from ``spec``.

    Attributes:
        num_features: C (``spec.num_features``).
        spec: settable; setting it rewrites the card keys of ``default_cfg`` (one source of truth).
    """

    def __init__(self, features: nn.Module, head: nn.Module, spec: ModelSpec, default_cfg: dict | None = None) -> None:
        super().__init__()
        self.features = features
        self.head = head
        self.default_cfg = dict(default_cfg or {})
        self.spec = spec

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @spec.setter
    def spec(self, spec: ModelSpec) -> None:
        if not isinstance(spec, ModelSpec):
            raise UsageError(f"spec must be a ModelSpec, got {type(spec).__name__}")
        want = HEADS[spec.head]
        if not isinstance(self.head, want):
            raise UsageError(
                f"head {type(self.head).__name__} does not match the card's head type {spec.head.value!r} of "
                f"{spec.name!r}; valid heads: LinearHead ('linear', CAM) or MLPHead ('mlp', analytic Grad-CAM) "
                "from edge_screen.quantize.nets")
        object.__setattr__(self, "_spec", spec)
        self.num_features = spec.num_features
        self.default_cfg.update(spec.cfg())

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.head(fmap.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
