"""Train only the top of a network on cached features of its frozen bottom (``--cache-features``).

On a 2-core CPU a full training step of EfficientNet-Lite2 at 512 px runs at well under 1 image/s,
so fine-tuning every layer for several epochs is out of reach. With ``--freeze-stages K`` the stem and
the first ``K - 1`` stages keep their ImageNet weights; their output does not change during training,
so it is computed once per image (and per cached *view*) and stored. Each epoch then runs only the
trainable top: for Lite2@512 with ``K=6`` that measured ~15 images/s instead of <1.

Views: view 0 is the plain crop, view 1 its horizontal flip (left eye <-> right eye), views 2.. are
fixed draws of :class:`~edge_screen.quantize.data.Augment`. Each epoch picks one view per image at
random, which gives a small, fixed amount of augmentation; the geometry of each view is returned as
``theta`` so that teacher heatmaps can be warped to match (distillation).

The cache is keyed by the SHA-256 of the frozen weights, the preprocessing, ``K`` and the view
settings, and holds features per image path, so folds, the teacher run and the distillation run that
share a frozen prefix share one cache file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from edge_screen.errors import UsageError
from edge_screen.preprocess import normalize
from edge_screen.quantize.data import IDENTITY_THETA, Augment, FundusDataset, apply_augment
from edge_screen.quantize.model_spec import StageLayout
from edge_screen.quantize.nets import FundusClassifier

log = logging.getLogger(__name__)

HFLIP_THETA = np.array([[-1, 0, 0], [0, 1, 0]], dtype=np.float32)


def stages_of(model: FundusClassifier) -> list[nn.Module]:
    """The backbone as an ordered list: ``[stem, stage1, ..., stageN, (tail)]``, by the card's
    :class:`~edge_screen.quantize.model_spec.StageLayout` (``model.spec.stages``).

    The stem is entry 0, so ``stages[:K]`` is what ``--freeze-stages K`` freezes.
    """
    f, layout = model.features, model.spec.stages
    if layout is StageLayout.RESNET:
        return [nn.Sequential(f.conv1, f.bn1, f.act1, f.maxpool)] + [getattr(f, f"layer{i}") for i in range(1, 5)]
    if layout is StageLayout.TORCHVISION_RESNET:
        return [nn.Sequential(f.conv1, f.bn1, f.relu, f.maxpool)] + [getattr(f, f"layer{i}") for i in range(1, 5)]
    if layout is StageLayout.EFFICIENTNET:
        return [nn.Sequential(f.conv_stem, f.bn1), *list(f.blocks), nn.Sequential(f.conv_head, f.bn2)]
    if layout is StageLayout.MOBILENETV3:
        return [nn.Sequential(f.conv_stem, f.bn1), *list(f.blocks), nn.Sequential(f.conv_head, f.norm_head, f.act2)]
    if layout is StageLayout.SEQUENTIAL:
        return list(f.children())
    raise UsageError(f"no stage split for layout {layout!r} of {model.spec.name!r}")  # a new StageLayout member


def split_model(model: FundusClassifier, k: int) -> tuple[nn.Module, FundusClassifier]:
    """``(prefix, top)``: ``prefix`` = the first ``k`` stages (frozen, eval mode); ``top`` = a
    :class:`FundusClassifier` over the rest that **shares** the modules and head of ``model``, so
    training ``top`` trains ``model``.
    """
    stages = stages_of(model)
    if not 1 <= k < len(stages):
        raise UsageError(f"--freeze-stages {k} is not valid for {model.spec.name}: use 1..{len(stages) - 1}")
    prefix = nn.Sequential(*stages[:k]).eval()
    prefix.requires_grad_(False)
    # the top's backbone is a plain Sequential of the remaining stages, its output the same feature map
    top_spec = model.spec.replace(stages=StageLayout.SEQUENTIAL, feature_layer=str(len(stages) - k - 1))
    top = FundusClassifier(nn.Sequential(*stages[k:]), model.head, top_spec, model.default_cfg)
    return prefix, top


def view_draw(path: str, v: int, seed: int) -> tuple[np.ndarray, tuple[float, float, float]]:
    """``(theta (2,3) float32, photo)`` of view ``v`` of the image at ``path`` (see the module docstring).

    Depends only on ``(seed, v, path)``, so every dataset that holds the image shares its views.
    """
    if v == 0:
        return IDENTITY_THETA, (1.0, 1.0, 1.0)
    if v == 1:
        return HFLIP_THETA, (1.0, 1.0, 1.0)
    return Augment().sample(np.random.default_rng([seed, 7919, v, zlib.crc32(path.encode())]))


def _prefix_key(prefix: nn.Module, ds: FundusDataset, k: int, seed: int) -> str:
    h = hashlib.sha256()
    for name, t in prefix.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps({"prep": ds.preps[0].to_dict(), "k": k, "seed": seed}, sort_keys=True).encode())
    return h.hexdigest()[:24]


class FeatureDataset(Dataset):
    """Cached frozen-prefix features of a :class:`FundusDataset` (un-augmented crops at its first prep).

    ``dataset[i]`` -> ``{"inputs": [float32 (C,h,w)], "label", "index", "theta" (2,3)}`` like
    :class:`FundusDataset`; with ``random_view`` the view is drawn per ``(seed, epoch, i)``, else view 0.
    """

    def __init__(self, base: FundusDataset, prefix: nn.Module, *, k: int, cache_dir: str | os.PathLike,
                 views: int = 2, random_view: bool = True, seed: int = 0, batch_size: int = 16,
                 device: torch.device | str = "cpu", progress: bool = False) -> None:
        if base.augment is not None:
            raise UsageError("FeatureDataset needs an un-augmented FundusDataset (views provide the augmentation)")
        if views < 1:
            raise UsageError(f"--feature-views must be >= 1, got {views}")
        self.base = base
        self.samples = base.samples
        self.preps = base.preps
        self.views = views if random_view else 1
        self.random_view = random_view
        self.seed = seed
        self.epoch = 0
        n = len(base)
        self.thetas = np.stack([np.stack([view_draw(s.path, v, seed)[0] for v in range(self.views)])
                                for s in self.samples]) if n else np.zeros((0, self.views, 2, 3), np.float32)
        key = _prefix_key(prefix, base, k, seed)
        path = Path(cache_dir) / f"features-{key}.pt"
        store: dict[str, torch.Tensor] = {}
        if path.is_file():
            store = torch.load(path, map_location="cpu", weights_only=True)
        missing = [i for i, s in enumerate(self.samples) if s.path not in store or store[s.path].shape[0] < self.views]
        if missing:
            log.info("computing frozen features for %d of %d images (%d view(s)) -> %s", len(missing), n, self.views, path)
            self._compute(prefix, missing, store, batch_size=batch_size, device=device, progress=progress)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            torch.save(store, tmp)
            os.replace(tmp, path)
        else:
            log.info("frozen features reused from %s", path)
        self.feats = torch.stack([store[s.path][: self.views] for s in self.samples])  # (N, V, C, h, w) float16
        self.cache_path = path

    @torch.no_grad()
    def _compute(self, prefix: nn.Module, indices: Sequence[int], store: dict, *, batch_size: int,
                 device: torch.device | str, progress: bool) -> None:
        prefix = prefix.to(device).eval()
        prep = self.preps[0]
        jobs = [(i, v) for i in indices for v in range(self.views)]
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), desc="frozen features", unit="view", mininterval=2.0)
        per_image: dict[int, list[torch.Tensor | None]] = {i: [None] * self.views for i in indices}
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start:start + batch_size]
            x = []
            for i, v in chunk:
                crop = self.base.crop(i)
                if v > 0:
                    crop = apply_augment(crop, *view_draw(self.samples[i].path, v, self.seed))
                x.append(torch.from_numpy(np.ascontiguousarray(normalize(crop, prep), dtype=np.float32)))
            out = prefix(torch.stack(x).to(device)).to("cpu", torch.float16)
            for (i, v), f in zip(chunk, out):
                per_image[i][v] = f.clone()
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        for i in indices:
            store[self.samples[i].path] = torch.stack(per_image[i])  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> np.ndarray:
        return self.base.labels

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict:
        v = 0
        if self.random_view and self.views > 1:
            v = int(np.random.default_rng([self.seed, self.epoch, index, 31]).integers(self.views))
        return {"inputs": [self.feats[index, v].float()], "label": torch.tensor(self.samples[index].label, dtype=torch.int64),
                "index": torch.tensor(index, dtype=torch.int64), "theta": torch.from_numpy(self.thetas[index, v].copy())}
