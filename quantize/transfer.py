"""LP-FT on cached frozen features: fine-tune the top of a backbone from the probe, out of source.

Kumar et al. 2022 (LP-FT): fine-tuning a pretrained network with a randomly initialised head distorts
the features and loses out-of-distribution accuracy; training the linear probe first and then
fine-tuning from it at a low learning rate keeps them (+10% OOD reported). Here the head starts as
the folded probe (:mod:`edge_screen.quantize.probe`), so at step 0 the model *is* the probe; then
the unfrozen top (the last backbone stage and the 1x1 head convolution, ``k`` = 7 of EfficientNet-
Lite) trains on cached prefix features (:mod:`edge_screen.quantize.features`), one random view per
image per step (plain, flip, camera augmentations).

Options measured in the ablation (MODEL_CARD.md): the head start (probe or random), sampling
balanced by class or by source x label, an exponential moving average of the weights (EMA), and
distillation (``kd_weight`` > 0): KL to a teacher's softened logits on every training image,
labelled or not; unlabelled images (label -1) get only that term.

On this CPU (AVX-512 BF16) bfloat16 autocast ran the Lite0 top 2.3x faster than FP32 (22 vs 9.6
images/s, batch 32, 2 busy cores); weights, optimiser state and evaluation stay FP32.

BatchNorm layers of the top stay in eval mode (their ImageNet statistics): batch statistics of
small CPU batches from a few sources are exactly the source-specific signal not to learn.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edge_screen.errors import UsageError

log = logging.getLogger(__name__)


@dataclass
class FinetuneConfig:
    """Settings of one LP-FT run (JSON-safe; stored in the checkpoint)."""

    epochs: int = 6
    lr: float = 2e-4
    weight_decay: float = 1e-4
    batch_size: int = 32
    steps_per_epoch: int | None = None  # default: training images / batch size
    views: int = 4  # cached views drawn from (0 plain, 1 flip, 2.. camera augmentation)
    balance: str = "source_label"  # class | source_label
    head_init: str = "probe"  # probe | random
    ema: float = 0.0  # EMA decay per step (0: off)
    kd_weight: float = 0.0  # weight of the distillation term (CE weight is 1 - kd_weight)
    temperature: float = 2.0
    seed: int = 0
    bf16: bool = True  # autocast the top's forward/backward to bfloat16 (FP32 master weights)

    def to_dict(self) -> dict:
        return asdict(self)


def _bn_eval(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def draw_weights(y: np.ndarray, sources: np.ndarray, balance: str) -> np.ndarray:
    """Sampling probabilities ``(N,)``: equal mass per class, or per (source, label) cell."""
    if balance == "class":
        keys = y.astype(str)
    elif balance == "source_label":
        keys = np.array([f"{s}|{c}" for s, c in zip(sources, y)])
    else:
        raise UsageError(f"balance {balance!r} is not valid; use class or source_label")
    _, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inv]
    return w / w.sum()


class _Ema:
    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = copy.deepcopy(module).eval()
        self.shadow.requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for s, p in zip(self.shadow.state_dict().values(), module.state_dict().values()):
            if s.dtype.is_floating_point:
                s.mul_(self.decay).add_(p.detach(), alpha=1 - self.decay)
            else:
                s.copy_(p)


@torch.no_grad()
def predict_top(top: nn.Module, prefix: np.ndarray, idx: np.ndarray, *, view: int = 0, batch_size: int = 64) -> np.ndarray:
    """P(abnormal) ``(len(idx),) float64`` of the top on cached prefix features (plain view by default)."""
    top.eval()
    out = []
    for s in range(0, len(idx), batch_size):
        x = torch.from_numpy(prefix[idx[s:s + batch_size], view].astype(np.float32))
        out.append(torch.softmax(top(x).float(), dim=1)[:, 1].numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def finetune_top(top: nn.Module, prefix: np.ndarray, train_idx: np.ndarray, y: np.ndarray, sources: np.ndarray, *,
                 cfg: FinetuneConfig, teacher_logits: np.ndarray | None = None,
                 on_epoch: Callable[[int, nn.Module], None] | None = None) -> nn.Module:
    """Fine-tune ``top`` (a FundusClassifier over the unfrozen stages, head already initialised).

    Args:
        prefix: ``(N, V, C_k, h, w) float16`` cached prefix features of every image.
        train_idx: rows of ``prefix`` to train on.
        y: ``(N,)`` labels (0, 1, or -1 unlabelled: distillation term only).
        sources: ``(N,)`` source names (for source x label sampling).
        teacher_logits: ``(N, 2)`` teacher logits on the plain view (needed when ``kd_weight`` > 0).
        on_epoch: called after every epoch with ``(epoch, module to evaluate)`` (the EMA copy with EMA).

    Returns: the module to use (the EMA copy when ``cfg.ema`` > 0, else ``top``), in eval mode.
    """
    if cfg.kd_weight > 0 and teacher_logits is None:
        raise UsageError("kd_weight > 0 needs teacher logits")
    if cfg.views > prefix.shape[1]:
        raise UsageError(f"{cfg.views} views asked, the feature cache holds {prefix.shape[1]}")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    labelled = train_idx[y[train_idx] >= 0]
    if len(set(y[labelled].tolist())) < 2:
        raise UsageError("fine-tuning needs both classes among the labelled training images")
    pool = train_idx if cfg.kd_weight > 0 else labelled
    strata_y = np.where(y[pool] >= 0, y[pool], 2)
    p = draw_weights(strata_y, sources[pool], cfg.balance)
    steps = cfg.steps_per_epoch or max(1, len(labelled) // cfg.batch_size)
    params = [q for q in top.parameters() if q.requires_grad]
    decay = [q for q in params if q.ndim > 1]
    no_decay = [q for q in params if q.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.lr)
    total = steps * cfg.epochs
    warm = max(1, steps // 2)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm) / max(1, total - warm)))))
    ema = _Ema(top, cfg.ema) if cfg.ema > 0 else None
    t_logits = torch.from_numpy(teacher_logits).float() if teacher_logits is not None else None
    for epoch in range(cfg.epochs):
        top.train()
        _bn_eval(top)
        t0, run = time.perf_counter(), 0.0
        for _ in range(steps):
            idx = pool[rng.choice(len(pool), size=cfg.batch_size, p=p)]
            v = rng.integers(0, cfg.views, size=idx.size)
            x = torch.from_numpy(prefix[idx, v].astype(np.float32))
            yy = torch.from_numpy(y[idx].astype(np.int64))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                logits = top(x).float()
            m = yy >= 0
            ce = F.cross_entropy(logits[m], yy[m]) if m.any() else logits.sum() * 0
            loss = ce
            if cfg.kd_weight > 0:
                t = cfg.temperature
                lt = F.log_softmax(t_logits[idx] / t, dim=1)
                ls = F.log_softmax(logits / t, dim=1)
                kd = (t * t) * (lt.exp() * (lt - ls)).sum(dim=1).mean()
                loss = (1 - cfg.kd_weight) * ce + cfg.kd_weight * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update(top)
            run += float(loss.detach())
        log.info("  epoch %d/%d loss %.4f (%.0f img/s)", epoch + 1, cfg.epochs, run / steps,
                 steps * cfg.batch_size / (time.perf_counter() - t0))
        if on_epoch is not None:
            on_epoch(epoch, ema.shadow if ema is not None else top)
    out = ema.shadow if ema is not None else top
    return out.eval()
