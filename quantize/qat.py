"""Quantization-aware fine-tuning (``edge-screen quantize --qat``) for when PTQ loses too much AUC.

Every convolution of the backbone trains with fake quantization in the forward pass (straight-
through gradients): weights symmetric INT8 per output channel, inputs INT8 per tensor with
running ranges, i.e. the scheme NNCF's PTQ then applies for OpenVINO. After fine-tuning the fake
quantizers are removed and the quantization-robust float weights go through the normal export
(NNCF PTQ, heatmap tail in float), so the bundle, manifest and report are the same as for PTQ.

Why not NNCF's own torch QAT: it JIT-compiles a C++ extension on first use, which timed out
(60 s) on these 2-core machines; ``torch.fake_quantize_*`` needs no compiler. The head and the
heatmap tail are never fake-quantized (they stay float in every exported graph).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from edge_screen.errors import UsageError

log = logging.getLogger(__name__)


class _FakeQuantWeight(nn.Module):
    """Parametrization: symmetric INT8 per-output-channel fake quantization of a conv weight."""

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        scale = (w.detach().abs().amax(dim=tuple(range(1, w.dim()))) / 127.0).clamp_min(1e-8)
        zero = torch.zeros(w.shape[0], dtype=torch.int32, device=w.device)
        return torch.fake_quantize_per_channel_affine(w, scale.float(), zero, 0, -128, 127)


class _FakeQuantInput:
    """Forward pre-hook: per-tensor INT8 fake quantization of a conv input with an EMA range."""

    def __init__(self, momentum: float = 0.1) -> None:
        self.momentum = momentum
        self.lo: float | None = None
        self.hi: float | None = None

    def __call__(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        x = args[0]
        lo, hi = float(x.detach().min()), float(x.detach().max())
        if self.lo is None or self.hi is None:
            self.lo, self.hi = lo, hi
        elif module.training:
            self.lo += self.momentum * (lo - self.lo)
            self.hi += self.momentum * (hi - self.hi)
        lo, hi = min(self.lo, 0.0), max(self.hi, 0.0)
        if lo >= 0.0:  # unsigned range (after ReLU / ReLU6)
            scale, zero, qmin, qmax = max(hi / 255.0, 1e-8), 0, 0, 255
        else:  # symmetric signed
            scale, zero, qmin, qmax = max(max(-lo, hi) / 127.0, 1e-8), 0, -128, 127
        return (torch.fake_quantize_per_tensor_affine(x, scale, zero, qmin, qmax), *args[1:])


def prepare_qat(model: nn.Module, *, skip_first: int = 0) -> list[Any]:
    """Insert fake quantizers into every ``nn.Conv2d`` of ``model.features`` except the first
    ``skip_first`` (they stay float in the export, ``--float-convs``); returns the hook handles."""
    handles = []
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs[skip_first:]:
        if not parametrize.is_parametrized(conv, "weight"):
            parametrize.register_parametrization(conv, "weight", _FakeQuantWeight())
            handles.append(conv.register_forward_pre_hook(_FakeQuantInput()))
    if not handles:
        raise UsageError(f"no Conv2d found in {type(model).__name__}.features; nothing to fake-quantize")
    return handles


def strip_qat(model: nn.Module, handles: list[Any]) -> nn.Module:
    """Remove the fake quantizers, keeping the fine-tuned float weights (state_dict keys as before)."""
    for h in handles:
        h.remove()
    for conv in model.features.modules():
        if isinstance(conv, nn.Conv2d) and parametrize.is_parametrized(conv, "weight"):
            parametrize.remove_parametrizations(conv, "weight", leave_parametrized=False)
    return model


def _freeze_bn(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def qat_finetune(
    model: nn.Module,
    train: Any,
    out: str | os.PathLike,
    *,
    calibration: Any = None,
    validation: Any = None,
    epochs: int = 2,
    lr: float = 1e-5,
    batch_size: int = 16,
    seed: int = 0,
    float_convs: int | None = None,
) -> Path:
    """Fine-tune ``model`` with fake quantization, then export OpenVINO INT8 into the bundle ``out``.

    Args:
        model: FundusClassifier (modified in place: its weights are fine-tuned).
        train: ``edge_screen.quantize.calib.ImageSet`` with 0/1 labels.
        calibration: ImageSet for the final PTQ ranges (default: ``train``).
        validation: labelled ImageSet for the report's AUCs.
        float_convs: leading convolutions left float in both the fine-tuning and the export
            (default: the exporter's default).
    Returns: the bundle root.
    """
    from edge_screen.quantize.export import Format, OpenVinoInt8, Precision, export_bundle
    from edge_screen.quantize import DEFAULT_FLOAT_CONVS

    float_convs = DEFAULT_FLOAT_CONVS if float_convs is None else int(float_convs)
    labels = np.asarray(train.labels)
    if not train.labelled:
        raise UsageError("QAT needs labelled training images of both classes (normal and abnormal)")
    if epochs < 1 or lr <= 0:
        raise UsageError(f"epochs must be >= 1 and lr > 0, got epochs={epochs}, lr={lr}")
    x_all = torch.from_numpy(train.images)
    y_all = torch.from_numpy(labels.astype(np.int64))
    handles = prepare_qat(model, skip_first=float_convs)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    try:
        for epoch in range(epochs):
            model.train()
            _freeze_bn(model)  # BN statistics fixed: QAT fine-tunes weights, not the data statistics
            total = 0.0
            for idx in torch.randperm(len(x_all), generator=gen).split(batch_size):
                loss = nn.functional.cross_entropy(model(x_all[idx]), y_all[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            log.info("QAT epoch %d/%d: loss %.4f", epoch + 1, epochs, total / len(x_all))
    finally:
        strip_qat(model, handles)
        model.eval()
    report = export_bundle(model, out, targets=[(Format.OPENVINO, Precision.INT8)], calib=calibration or train,
                           val=validation, float_convs=float_convs, openvino_int8=OpenVinoInt8.NNCF)  # fmt: skip
    return report.root
