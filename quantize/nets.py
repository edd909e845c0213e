"""Network structure shared by every model in the registry.

Every classifier is ``features -> global average pool -> head``. Keeping the pool explicit and the
head behind it is what makes CAM exact for linear heads and analytic Grad-CAM possible for the MLP
head of Jang et al. 2024 (see ``edge_screen.quantize.cam``).
"""

from __future__ import annotations

import torch
from torch import nn


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


class FundusClassifier(nn.Module):
    """``features`` ([B,3,S,S] -> [B,C,h,w]), global average pool, ``head`` ([B,C] -> logits [B,K]).

    Attributes:
        features: backbone returning the last feature map (no pooling).
        head: :class:`LinearHead` or :class:`MLPHead`.
        num_features: C.
        default_cfg: dict with at least ``name``, ``input_size``, ``mean``, ``std``, ``color_order``.
    """

    def __init__(self, features: nn.Module, head: nn.Module, num_features: int, default_cfg: dict) -> None:
        super().__init__()
        self.features = features
        self.head = head
        self.num_features = num_features
        self.default_cfg = dict(default_cfg)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.head(fmap.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
