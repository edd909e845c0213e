"""Fine-tune a classifier on fundus images (``edge-screen train``), on one process or under ``torchrun``.

Recipe (Jang et al. 2024 "ImageNet+Fundus": start from ImageNet weights, train abnormal vs normal):
AdamW (no weight decay on biases/norms), linear warm-up then cosine decay per step, mixed precision
on GPU (bf16 where supported, else fp16 + GradScaler), class-weighted cross-entropy or class-balanced
sampling, early stopping on validation AUC, ``last.pt`` + ``best.pt`` written atomically every epoch
with the config inside, exact resume (per-epoch seeds: sampler, augmentation and dropout depend only
on ``(seed, epoch, rank)``), a tqdm bar with ETA and a JSON-lines log (``log.jsonl``).

DDP: when ``WORLD_SIZE`` > 1 (torchrun) the process group uses NCCL on GPUs and gloo on CPU; each
rank draws its shard of the same epoch permutation; rank 0 validates, saves, and broadcasts the
early-stopping decision.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Sampler

from edge_screen.errors import UsageError
from edge_screen import metrics
from edge_screen.quantize.data import (Augment, FundusDataset, Sample, read_samples, save_split_csv,
                                       select_split, split_samples)
from edge_screen.quantize.evaluate import predict
from edge_screen.quantize.frozen import stages_of
from edge_screen.quantize.model_spec import resolve_preprocessing
from edge_screen.quantize.models import TRAIN_FORMAT, create_model, get_spec, model_kwargs
from edge_screen.quantize.nets import FundusClassifier

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything a run needs; saved inside every checkpoint (JSON-safe values only)."""

    model: str
    data: str
    out: str
    img_size: int | None = None
    epochs: int = 20
    batch_size: int = 16
    lr: float = 5e-4
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    head: str | None = None
    weights: str | None = None
    pretrained: bool = True
    data_format: str = "auto"
    images: str | None = None
    referable: bool = False
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    folds: int | None = None
    fold: int = 0
    group_col: str | None = None
    sampling: str = "weighted"  # weighted (class-weighted CE) | balanced (sampler) | none
    label_smoothing: float = 0.0
    patience: int = 5
    resume: bool = False
    seed: int = 0
    workers: int = 0
    threads: int | None = None
    freeze_stages: int = 0
    amp: str = "auto"  # auto (GPU only) | off | bf16 | fp16
    cache_dir: str | None = None
    cache_features: str | None = None  # train only the unfrozen top on cached frozen-prefix features
    feature_views: int = 2  # cached views per image with cache_features: plain, h-flip, then Augment draws
    stratify_col: str | None = None  # stratify splits by label AND this column (e.g. source_repo)
    val_source: str | None = None  # validate (early stopping, threshold) on this source only: an out-of-source split
    source_col: str = "source_repo"
    source_map: str | None = None
    augment: bool = True
    target_sensitivity: float = 0.95
    max_steps_per_epoch: int | None = None
    stop_after: int | None = None  # end this invocation after N epochs (continue later with resume)
    progress: bool = True
    extra: dict = field(default_factory=dict)


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_dist(threads: int | None) -> Dist:
    """Join the torchrun process group if there is one; pick the device; set torch threads."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // local_world))
    return Dist(dist.get_rank() if world > 1 else 0, world, local, device)


class EpochSampler(Sampler[int]):
    """Per-epoch permutation (or class-balanced draw with replacement), sharded over DDP ranks.

    Every rank gets ``ceil(N / world)`` indices (wrapping around) so all ranks run the same number of
    steps. The order depends only on ``(seed, epoch)``.
    """

    def __init__(self, labels: np.ndarray, *, balanced: bool, seed: int, rank: int = 0, world: int = 1) -> None:
        self.labels = np.asarray(labels)
        self.balanced, self.seed, self.rank, self.world = balanced, seed, rank, world
        self.epoch = 0
        self.per_rank = math.ceil(len(self.labels) / world)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_rank

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch, 7])
        n = len(self.labels)
        if self.balanced:
            w = np.ones(n)
            for c in np.unique(self.labels):
                w[self.labels == c] = 1.0 / np.sum(self.labels == c)
            order = rng.choice(n, size=n, replace=True, p=w / w.sum())
        else:
            order = rng.permutation(n)
        order = np.resize(order, self.per_rank * self.world)
        return iter(order[self.rank::self.world].tolist())


def freeze_stages(model: FundusClassifier, k: int) -> list[nn.Module]:
    """Freeze the stem plus the first ``k - 1`` stages of the backbone; returns the frozen modules."""
    if k <= 0:
        return []
    stages = stages_of(model)  # [stem, stage1, ..., (tail)] by the card's stage layout
    if k > len(stages):
        raise UsageError(f"--freeze-stages {k} is not valid for {model.spec.name}: use 0..{len(stages)}")
    frozen = stages[:k]
    for m in frozen:
        m.requires_grad_(False)
    return frozen


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: no decay on biases and normalisation weights (1-D tensors)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """LR multiplier: linear warm-up to 1 over ``warmup_steps``, cosine to 0 at ``total_steps``."""
    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))

    return f


def autocast_for(device: torch.device, amp: str) -> tuple[torch.dtype | None, bool]:
    """``(autocast dtype or None, use GradScaler)`` for ``--amp``."""
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None, False
    if amp == "fp16":
        return torch.float16, device.type == "cuda"
    if amp in ("bf16", "auto"):
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16, True
        return torch.bfloat16, False
    raise UsageError(f"--amp {amp!r} is not valid; use auto, off, bf16 or fp16")


@torch.no_grad()
def _atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _unwrap(model: nn.Module) -> FundusClassifier:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model  # type: ignore[return-value]


LossFn = Callable[[nn.Module, dict], torch.Tensor]


def fit(model: FundusClassifier, cfg: TrainConfig, train_ds: FundusDataset, val_ds: FundusDataset, *,
        loss_fn: LossFn, rt: Dist, kind: str = "train", extra_ckpt: dict | None = None,
        train_module: nn.Module | None = None, eval_module: nn.Module | None = None) -> dict:
    """The shared loop of train and distill. ``loss_fn(module, batch) -> scalar loss``.

    ``train_module`` (default ``model``) is what is DDP-wrapped and handed to ``loss_fn`` (distill
    passes a wrapper that also returns the CAM); it must own ``model``'s parameters.

    ``eval_module`` (default ``model``) maps ``val_ds`` inputs[0] to logits; with cached features it
    is the trainable top (:mod:`edge_screen.quantize.frozen`). Checkpoints always hold all of ``model``.

    Validation uses ``val_ds`` inputs[0] (the trained model's size). Returns the final summary dict
    (also the last line of ``log.jsonl``).
    """
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    model.to(rt.device)
    frozen = freeze_stages(model, cfg.freeze_stages)
    ddp_model: nn.Module = (train_module or model).to(rt.device)
    if rt.world > 1:
        ddp_model = nn.parallel.DistributedDataParallel(
            ddp_model, device_ids=[rt.local_rank] if rt.device.type == "cuda" else None,
            find_unused_parameters=bool(frozen))
    labels = np.maximum(train_ds.labels, 0)
    sampler = EpochSampler(labels, balanced=cfg.sampling == "balanced", seed=cfg.seed, rank=rt.rank, world=rt.world)
    loader = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                        drop_last=len(sampler) > cfg.batch_size, persistent_workers=cfg.workers > 0,
                        pin_memory=rt.device.type == "cuda")
    steps = len(loader) if cfg.max_steps_per_epoch is None else min(len(loader), cfg.max_steps_per_epoch)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(steps * cfg.epochs, int(steps * cfg.warmup_epochs)))
    amp_dtype, use_scaler = autocast_for(rt.device, cfg.amp)
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    state = {"epoch": -1, "best_metric": -1.0, "best_epoch": -1, "bad_epochs": 0}
    last = out / "last.pt"
    if cfg.resume and last.is_file():
        ck = torch.load(last, map_location=rt.device, weights_only=True)
        model.load_state_dict(ck["state_dict"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        if ck.get("scaler"):
            scaler.load_state_dict(ck["scaler"])
        state = {k: ck[k] for k in state}
        if rt.main:
            log.info("resumed from %s at epoch %d (best AUC %.4f)", last, state["epoch"], state["best_metric"])
    elif cfg.resume and rt.main:
        log.warning("--resume: %s not found, starting fresh", last)
    summary: dict = {}
    base = {"format": TRAIN_FORMAT, "kind": kind, "model": model.default_cfg["name"], "model_kwargs": model_kwargs(model),
            "config": asdict(cfg), "preprocessing": train_ds.preps[0].to_dict(), **(extra_ckpt or {})}
    y_val = np.maximum(val_ds.labels, 0)
    if rt.main and (y_val.sum() == 0 or y_val.sum() == y_val.size):
        raise UsageError(f"the validation split has {int(y_val.sum())} abnormal and {int(y_val.size - y_val.sum())} normal "
                         f"images: no operating threshold (sensitivity>={cfg.target_sensitivity}) and no AUC can be "
                         f"chosen on it; use a split with both classes (e.g. --stratify-col, more --val-fraction)")
    t_run = time.perf_counter()
    first_epoch = state["epoch"] + 1
    for epoch in range(state["epoch"] + 1, cfg.epochs):
        torch.manual_seed(cfg.seed * 1000003 + epoch * 101 + rt.rank)  # dropout etc.: resumable
        sampler.set_epoch(epoch)
        train_ds.set_epoch(epoch)
        ddp_model.train()
        for m in frozen:
            m.eval()
        t0 = time.perf_counter()
        total, seen = 0.0, 0
        bar = None
        if rt.main and cfg.progress:
            from tqdm import tqdm

            bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", mininterval=2.0, leave=False)
        for step, batch in enumerate(loader):
            if step >= steps:
                break
            batch = {k: ([t.to(rt.device, non_blocking=True) for t in v] if isinstance(v, list) else v.to(rt.device))
                     for k, v in batch.items()}
            with torch.autocast(rt.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                loss = loss_fn(ddp_model, batch)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            n = batch["label"].shape[0]
            total += float(loss.detach()) * n
            seen += n
            if bar is not None:
                bar.set_postfix(loss=f"{total / seen:.4f}", lr=f"{sched.get_last_lr()[0]:.2e}")
                bar.update(1)
        if bar is not None:
            bar.close()
        dt = time.perf_counter() - t0
        stop = torch.zeros(1)
        if rt.main:
            probs = predict(eval_module or model, val_ds, batch_size=cfg.batch_size, device=rt.device)
            y = np.maximum(val_ds.labels, 0)
            auc = metrics.roc_auc(y, probs)
            thr = metrics.threshold_for_sensitivity(y, probs, cfg.target_sensitivity)
            improved = not math.isnan(auc) and auc > state["best_metric"]
            if improved:
                state.update(best_metric=auc, best_epoch=epoch, bad_epochs=0)
            else:
                state["bad_epochs"] += 1
            ck = {**base, **state, "epoch": epoch, "state_dict": model.state_dict(), "optimizer": opt.state_dict(),
                  "scheduler": sched.state_dict(), "scaler": scaler.state_dict() if use_scaler else None,
                  "val_auc": auc, "threshold": {"value": thr, "method": f"sensitivity>={cfg.target_sensitivity} on validation"}}
            _atomic_save(ck, last)
            if improved:
                _atomic_save(ck, out / "best.pt")
            eta = (time.perf_counter() - t_run) / (epoch - first_epoch + 1) * (cfg.epochs - epoch - 1)
            summary = {"epoch": epoch + 1, "train_loss": total / max(seen, 1), "val_auc": auc, "val_threshold": thr,
                       "best_auc": state["best_metric"], "best_epoch": state["best_epoch"] + 1,
                       "lr": sched.get_last_lr()[0], "epoch_s": round(dt, 2), "train_images_per_s": round(seen * rt.world / dt, 3),
                       "eta_s": round(eta, 1), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
            with open(out / "log.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(summary) + "\n")
            log.info("epoch %d/%d loss %.4f val AUC %.4f (best %.4f @%d) %.1f img/s", epoch + 1, cfg.epochs,
                     summary["train_loss"], auc, state["best_metric"], state["best_epoch"] + 1, summary["train_images_per_s"])
            if state["bad_epochs"] >= cfg.patience:
                log.info("early stop: val AUC did not improve for %d epochs", cfg.patience)
                stop[0] = 1
        if rt.world > 1:
            dist.broadcast(stop, src=0)
        if stop.item():
            break
        if cfg.stop_after is not None and epoch - first_epoch + 1 >= cfg.stop_after:
            if rt.main:
                log.info("stopping after %d epoch(s) as asked; continue with --resume", cfg.stop_after)
            break
    return summary


def _class_weights(labels: np.ndarray) -> torch.Tensor:
    counts = np.bincount(labels[labels >= 0], minlength=2).astype(np.float64)
    if (counts == 0).any():
        raise UsageError(f"training split has class counts {counts.tolist()} (normal, abnormal); both classes are needed")
    return torch.tensor(counts.sum() / (2 * counts), dtype=torch.float32)


def prepare_splits(cfg: TrainConfig, rt: Dist) -> tuple[list[Sample], list[Sample]]:
    """Read ``cfg.data``; reuse its ``split`` column if present, else split and save ``out/split.csv``."""
    from edge_screen.quantize.sources import read_datasets

    samples = read_datasets(cfg.data, format=cfg.data_format, images=cfg.images, referable=cfg.referable)
    if samples and "split" in samples[0].meta:
        log.info("using the split column of %s", cfg.data)
        return select_split(samples, "train"), select_split(samples, "val")
    if cfg.val_source:
        from edge_screen.quantize.sources import parse_source_map, sources_of

        src = sources_of(samples, column=cfg.source_col, mapping=parse_source_map(cfg.source_map))
        if cfg.val_source not in set(src.tolist()):
            raise UsageError(f"--val-source {cfg.val_source!r} is not a source of the data; sources: {sorted(set(src.tolist()))}")
        splits = ["val" if s == cfg.val_source else "train" for s in src]
        if rt.main:
            save_split_csv(samples, splits, Path(cfg.out) / "split.csv")
        return ([s for s, sp in zip(samples, splits) if sp == "train"], [s for s, sp in zip(samples, splits) if sp == "val"])
    splits = split_samples(samples, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction, folds=cfg.folds,
                           fold=cfg.fold, group_col=cfg.group_col, stratify_col=cfg.stratify_col, seed=cfg.seed)
    if rt.main:
        save_split_csv(samples, splits, Path(cfg.out) / "split.csv")
    train = [s for s, sp in zip(samples, splits) if sp == "train"]
    val = [s for s, sp in zip(samples, splits) if sp == "val"]
    if not train or not val:
        n_groups = len({s.meta.get(cfg.group_col) for s in samples}) if cfg.group_col else len(samples)
        raise UsageError(f"the split left {len(train)} training and {len(val)} validation images ({len(samples)} images, "
                         f"{n_groups} groups{' by ' + cfg.group_col if cfg.group_col else ''}); use more groups, "
                         f"another --group-col, or another --val-fraction/--folds")
    return train, val


def train(cfg: TrainConfig) -> dict:
    """Run ``edge-screen train``; returns the last epoch's summary. Writes ``cfg.out``/{last,best}.pt, log.jsonl, split.csv."""
    rt = setup_dist(cfg.threads)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    spec = get_spec(cfg.model)
    cfg.img_size = cfg.img_size or spec.input_size
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, head=cfg.head, pretrained=cfg.pretrained, weights=cfg.weights, input_size=cfg.img_size)
    prep = resolve_preprocessing(model)
    train_s, val_s = prepare_splits(cfg, rt)
    if rt.main:
        log.info("train %d images (%d abnormal), val %d (%d abnormal), %s @%d px, world %d, %d threads",
                 len(train_s), sum(s.label == 1 for s in train_s), len(val_s), sum(s.label == 1 for s in val_s),
                 cfg.model, cfg.img_size, rt.world, torch.get_num_threads())
    cached = bool(cfg.cache_features)
    train_ds = FundusDataset(train_s, prep, augment=Augment() if cfg.augment and not cached else None,
                             cache_dir=cfg.cache_dir, seed=cfg.seed)
    val_ds = FundusDataset(val_s, prep, augment=None, cache_dir=cfg.cache_dir)
    for ds in (train_ds, val_ds):
        ds.precache(threads=max(1, torch.get_num_threads()), progress=rt.main and cfg.progress)
    top = None
    if cached:
        train_ds, val_ds, top = cached_feature_datasets(model, cfg, train_ds, val_ds, rt)
    weight = _class_weights(train_ds.labels).to(rt.device) if cfg.sampling == "weighted" else None
    ce = nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing)

    def loss_fn(m: nn.Module, batch: dict) -> torch.Tensor:
        return ce(m(batch["inputs"][0]).float(), batch["label"])

    try:
        return fit(model, cfg, train_ds, val_ds, loss_fn=loss_fn, rt=rt, kind="train", train_module=top, eval_module=top)
    finally:
        if rt.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def cached_feature_datasets(model: FundusClassifier, cfg: TrainConfig, train_ds: FundusDataset, val_ds: FundusDataset,
                            rt: Dist):  # noqa: ANN201 - (FeatureDataset, FeatureDataset, FundusClassifier)
    """``--cache-features``: swap the image datasets for cached frozen-prefix features and return the top."""
    from edge_screen.quantize.frozen import FeatureDataset, split_model

    if cfg.freeze_stages < 1:
        raise UsageError("--cache-features needs --freeze-stages K (K >= 1): only a frozen prefix can be cached")
    if rt.world > 1:
        raise UsageError("--cache-features runs on one process; drop torchrun or the feature cache")
    prefix, top = split_model(model, cfg.freeze_stages)
    kw = dict(k=cfg.freeze_stages, cache_dir=cfg.cache_features, seed=cfg.seed, batch_size=cfg.batch_size,
              device=rt.device, progress=rt.main and cfg.progress)
    tr = FeatureDataset(train_ds, prefix, views=cfg.feature_views if cfg.augment else 1, random_view=cfg.augment, **kw)
    va = FeatureDataset(val_ds, prefix, views=cfg.feature_views if cfg.augment else 1, random_view=False, **kw)
    return tr, va, top


def measure_train_throughput(model_name: str, img_size: int, *, batch_size: int = 8, steps: int = 5, warmup: int = 2,
                             threads: int | None = None, amp: str = "off") -> dict:
    """Images/s of full training steps (forward, backward, AdamW) on random inputs; no data loading."""
    rt = Dist()
    torch.set_num_threads(threads or os.cpu_count() or 1)
    model = create_model(model_name, pretrained=False, input_size=img_size).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    amp_dtype, _ = autocast_for(rt.device, amp)
    x = torch.randn(batch_size, 3, img_size, img_size)
    y = torch.randint(0, 2, (batch_size,))
    times = []
    for i in range(warmup + steps):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    med = float(np.median(times))
    return {"model": model_name, "img_size": img_size, "batch_size": batch_size, "threads": torch.get_num_threads(),
            "amp": amp, "step_s_median": round(med, 3), "images_per_s": round(batch_size / med, 3), "steps": steps}
