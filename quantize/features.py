"""Frozen ImageNet features of every image and view, computed once with ONNX Runtime and cached on disk.

What the linear probe, LP-FT and distillation on a CPU are built on (issue 11). For one backbone at
one input size, each image's *view* gives two arrays:

* ``pooled`` ``(C,) float32``: the global-average-pooled output of the whole frozen ImageNet
  backbone (what the linear probe reads);
* ``prefix`` ``(C_k, h, w) float16``: the output of the stem plus the first ``k - 1`` stages (what the
  trainable top reads in LP-FT, :mod:`edge_screen.quantize.transfer`), when ``k`` > 0.

Views: 0 = the plain crop, 1 = its left/right flip, 2.. = fixed draws of
:class:`~edge_screen.quantize.camera_aug.CameraAugment` (each depends only on ``(seed, view, path)``).

Why ONNX Runtime: on this 2-core CPU the torch forward of EfficientNet-Lite0 @384 ran at 70-600 ms
per image (busy machine, batch 1-16) while ONNX Runtime FP32 runs the same graph in ~8 ms
(FACTS.md); the frozen graph is exported once and checked against torch (max |diff| <= 1e-3).

Cache: ``<cache_dir>/feat-<key>/<image key>_v<view>.npz``. ``key`` hashes the frozen weights, the
preprocessing, ``k``, the seed and the augmentation ranges; ``image key`` hashes the absolute path,
size and mtime. Extraction resumes where it stopped, and any run sharing these settings shares the
files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edge_screen.errors import EdgeScreenError, UsageError
from edge_screen.imageio import load_image
from edge_screen.preprocess import Preprocessing, crop_image, normalize
from edge_screen.quantize.camera_aug import CameraAugment, apply_camera

log = logging.getLogger(__name__)

FORMAT_VERSION = "features/1"


@dataclass(frozen=True)
class FeatureBank:
    """Cached features of ``paths`` (in order): ``pooled (N, V, C) float32``, ``prefix (N, V, C_k, h, w) float16 | None``."""

    paths: tuple[str, ...]
    pooled: np.ndarray
    prefix: np.ndarray | None
    model: str
    input_size: int
    k: int
    views: int
    key: str

    def rows(self, paths: Sequence[str]) -> np.ndarray:
        """Indices of ``paths`` in this bank (UsageError for a path it does not hold)."""
        where = {p: i for i, p in enumerate(self.paths)}
        missing = [p for p in paths if p not in where]
        if missing:
            raise UsageError(f"{len(missing)} images have no cached features (e.g. {missing[0]})")
        return np.array([where[p] for p in paths], dtype=np.int64)


def view_draw(path: str, view: int, seed: int, aug: CameraAugment) -> dict | None:
    """The augmentation of ``view`` for the image at ``path``: ``None`` (plain), ``{"flip"}`` or a camera draw."""
    if view == 0:
        return None
    if view == 1:
        return {"flip_only": True}
    return aug.sample(np.random.default_rng([seed, 104729, view, zlib.crc32(path.encode())]))


def apply_view(crop: np.ndarray, draw: dict | None) -> np.ndarray:
    if draw is None:
        return crop
    if draw.get("flip_only"):
        return np.ascontiguousarray(crop[:, ::-1])
    return apply_camera(crop, draw)


# ------------------------------------------------------------------------------------ frozen graph
def frozen_parts(model, k: int):  # noqa: ANN001, ANN201 - (prefix nn.Module, rest nn.Module)
    """Split a FundusClassifier's backbone into ``(prefix = stages[:k], rest = stages[k:])`` (eval mode)."""
    from torch import nn

    from edge_screen.quantize.frozen import stages_of

    stages = stages_of(model)
    if not 0 <= k < len(stages):
        raise UsageError(f"k={k} is not valid for {model.spec.name}: use 0..{len(stages) - 1}")
    return nn.Sequential(*stages[:k]).eval(), nn.Sequential(*stages[k:]).eval()


def _frozen_module(model, k: int):  # noqa: ANN001, ANN202
    import torch
    from torch import nn

    prefix, rest = frozen_parts(model, k)

    class Frozen(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.prefix, self.rest = prefix, rest

        def forward(self, x: torch.Tensor):  # noqa: ANN202
            p = self.prefix(x)
            pooled = self.rest(p).mean(dim=(2, 3))
            return (p, pooled) if k > 0 else (pooled,)

    return Frozen().eval()


def weights_key(model, k: int, prep: Preprocessing, seed: int, aug: CameraAugment) -> str:  # noqa: ANN001
    """Cache key: SHA-256 of the backbone weights and every setting that changes the features."""
    h = hashlib.sha256(FORMAT_VERSION.encode())
    for name, t in model.features.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps({"prep": prep.to_dict(), "k": k, "seed": seed, "aug": aug.to_dict(),
                         "model": model.default_cfg.get("name")}, sort_keys=True).encode())
    return h.hexdigest()[:20]


def export_frozen_onnx(model, k: int, input_size: int, path: Path) -> Path:  # noqa: ANN001
    """Export ``image [B,3,S,S] -> (prefix [B,C_k,h,w] if k, pooled [B,C])`` and check it against torch."""
    import onnxruntime as ort
    import torch

    module = _frozen_module(model, k)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.onnx")
    example = torch.randn(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    names = ["prefix", "pooled"] if k > 0 else ["pooled"]
    with torch.no_grad():
        program = torch.onnx.export(module, (example,), dynamo=True, opset_version=18, input_names=["image"],
                                    output_names=names, dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=256)}},
                                    optimize=True, verbose=False)
    program.save(str(tmp), external_data=False)
    x = torch.randn(3, 3, input_size, input_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = [t.numpy() for t in module(x)]
    sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x.numpy()})
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ref, got))
    if diff > 1e-3:
        raise EdgeScreenError(f"frozen-feature ONNX of {model.default_cfg.get('name')} disagrees with torch (max |diff| {diff:.2e})")
    os.replace(tmp, path)
    log.info("frozen graph %s exported (k=%d, torch vs ONNX Runtime max |diff| %.1e)", path, k, diff)
    return path


# ------------------------------------------------------------------------------------ extraction
def _image_key(path: str) -> str:
    st = os.stat(path)
    return hashlib.sha1(f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:24]


def extract_features(paths: Sequence[str], *, model_name: str, input_size: int, k: int = 0, views: int = 1,
                     seed: int = 0, aug: CameraAugment | None = None, cache_dir: str | os.PathLike,
                     threads: int = 2, batch_size: int = 8, load: bool = True, progress: bool = False) -> FeatureBank | None:
    """Features of every ``(image, view)``, computing only what the cache lacks.

    Args:
        paths: image files (decoded with :func:`edge_screen.imageio.load_image` at ``input_size``
            and cropped with the deployed field-of-view preprocessing).
        model_name: registry name with packaged ImageNet weights (e.g. ``effnet_lite0``).
        k: prefix stages to keep (0: pooled features only).
        views: views per image (see the module docstring).
        load: return the bank (``False``: only fill the cache, e.g. in a background job).
    """
    import onnxruntime as ort

    from edge_screen.quantize.models import create_model
    from edge_screen.quantize.model_spec import resolve_preprocessing

    if views < 1:
        raise UsageError(f"views must be >= 1, got {views}")
    aug = aug or CameraAugment()
    model = create_model(model_name, pretrained=True, input_size=input_size).eval()
    prep = resolve_preprocessing(model)
    key = weights_key(model, k, prep, seed, aug)
    root = Path(cache_dir) / f"feat-{model_name}-{input_size}-k{k}-{key}"
    root.mkdir(parents=True, exist_ok=True)
    onnx_path = root / "frozen.onnx"
    if not onnx_path.is_file():
        export_frozen_onnx(model, k, input_size, onnx_path)
    (root / "spec.json").write_text(json.dumps({"model": model_name, "input_size": input_size, "k": k, "seed": seed,
                                                "aug": aug.to_dict(), "prep": prep.to_dict()}, indent=1))
    keys = [_image_key(p) for p in paths]
    todo = [(i, v) for i in range(len(paths)) for v in range(views) if not (root / f"{keys[i]}_v{v}.npz").is_file()]
    if todo:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        log.info("frozen features %s@%d k=%d: %d of %d (image, view) pairs to compute -> %s", model_name, input_size, k,
                 len(todo), len(paths) * views, root)
        by_image: dict[int, list[int]] = {}
        for i, v in todo:
            by_image.setdefault(i, []).append(v)
        images = sorted(by_image)
        crops: dict[int, np.ndarray] = {}

        def decode(i: int) -> tuple[int, np.ndarray]:
            loaded = load_image(paths[i], target_size=input_size)
            return i, crop_image(loaded.rgb, prep)[0]

        t0, done = time.perf_counter(), 0
        pending: list[tuple[int, int, np.ndarray]] = []
        with ThreadPoolExecutor(max_workers=1) as pool:
            for i, crop in pool.map(decode, images):
                for v in by_image[i]:
                    x = normalize(apply_view(crop, view_draw(paths[i], v, seed, aug)), prep)
                    pending.append((i, v, x))
                while len(pending) >= batch_size or (pending and i == images[-1]):
                    chunk, pending = pending[:batch_size], pending[batch_size:]
                    outs = sess.run(None, {"image": np.stack([c[2] for c in chunk]).astype(np.float32)})
                    for j, (ii, vv, _) in enumerate(chunk):
                        arrays = {"pooled": outs[-1][j].astype(np.float32)}
                        if k > 0:
                            arrays["prefix"] = outs[0][j].astype(np.float16)
                        dst = root / f"{keys[ii]}_v{vv}.npz"
                        tmp = dst.with_suffix(f".{os.getpid()}.tmp.npz")
                        np.savez(tmp, **arrays)
                        os.replace(tmp, dst)
                    done += len(chunk)
                    if progress and done % (batch_size * 50) < batch_size:
                        rate = done / (time.perf_counter() - t0)
                        log.info("  %d/%d views, %.1f views/s, ETA %.0f s", done, len(todo), rate, (len(todo) - done) / rate)
        crops.clear()
    if not load:
        return None
    pooled, prefix = [], []
    for i in range(len(paths)):
        pv, fv = [], []
        for v in range(views):
            with np.load(root / f"{keys[i]}_v{v}.npz") as z:
                pv.append(z["pooled"])
                if k > 0:
                    fv.append(z["prefix"])
        pooled.append(np.stack(pv))
        if k > 0:
            prefix.append(np.stack(fv))
    return FeatureBank(tuple(paths), np.stack(pooled).astype(np.float32), np.stack(prefix) if k > 0 else None,
                       model_name, input_size, k, views, key)
