"""A tiny FundusClassifier for tests and demos: seconds to export and quantize, no weights needed.

Same building blocks as EfficientNet-Lite (conv + BN + ReLU6, depthwise-separable blocks with a
residual) so the exporters and quantizers see the op patterns of the real students.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_screen.quantize.model_spec import HALF, HeadType, ModelSpec, StageLayout
from edge_screen.quantize.nets import FundusClassifier, LinearHead, MLPHead


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(),
    )


class _DSBlock(nn.Module):
    """Depthwise 3x3 + pointwise 1x1 with a residual (MobileNet/EfficientNet-Lite pattern)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.dw = _conv_bn(c, c, 3, groups=c)
        self.pw = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pw(self.dw(x))


def tiny_classifier(head: str = "linear", *, seed: int = 0, input_size: int = 64, width: int = 32) -> FundusClassifier:
    """Random-init classifier (feature stride 8) with BN statistics set from random inputs; eval mode.

    Args:
        head: ``"linear"`` (CAM) or ``"mlp"`` (analytic Grad-CAM).
        input_size: recorded in the card, ``model.spec`` (the net is size-agnostic; stride 8).
    """
    torch.manual_seed(seed)
    features = nn.Sequential(
        _conv_bn(3, 16, stride=2), _conv_bn(16, width, stride=2), _DSBlock(width),
        _conv_bn(width, width * 2, stride=2), _DSBlock(width * 2), _conv_bn(width * 2, width * 4, 1),
    )
    c = width * 4
    spec = ModelSpec(f"tiny-{head}", input_size, HALF, HALF, num_features=c, head=head,
                     stages=StageLayout.SEQUENTIAL, description="random-init test net, feature stride 8")
    h = LinearHead(c) if spec.head is HeadType.LINEAR else MLPHead(c, hidden=64)
    cfg = {"num_classes": 2, "threshold": {"value": 0.5, "method": "fixed for tests (untrained tiny net)"}}
    model = FundusClassifier(features, h, spec, cfg)
    # Realistic BN statistics (not mean 0 / var 1 of a fresh net), so INT8 ranges look like a trained net's.
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(16, 3, input_size, input_size))
    return model.eval()
