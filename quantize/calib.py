"""Calibration / validation arrays from real images, preprocessed exactly as deployment does.

``edge_screen.preprocess`` is THE preprocessing (ARCHITECTURE.md); calibrating on anything else
(e.g. a plain resize) gives INT8 scales for pixels the deployed model never sees.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from edge_screen.errors import EdgeScreenError, UsageError
from edge_screen.imageio import load_image
from edge_screen.preprocess import Preprocessing, preprocess

log = logging.getLogger(__name__)

DEFAULT_CALIBRATION_IMAGES = 300


@dataclass(frozen=True)
class ImageSet:
    """Preprocessed images and their labels.

    Attributes:
        images: ``[N,3,S,S]`` float32, normalised and ordered as the Preprocessing says.
        labels: ``[N]`` int64: 0 normal, 1 abnormal, -1 unlabelled.
        paths: source file of each image.
    """

    images: np.ndarray
    labels: np.ndarray
    paths: tuple[str, ...]

    @property
    def labelled(self) -> bool:
        """True when every image has a 0/1 label and both classes occur (AUC is defined)."""
        return bool(len(self.labels)) and set(np.unique(self.labels).tolist()) == {0, 1}


def preprocess_arrays(rgbs: list[np.ndarray], prep: Preprocessing) -> np.ndarray:
    """``(H,W,3) uint8 RGB`` images -> ``[N,3,S,S]`` float32 model inputs."""
    if not rgbs:
        raise UsageError("no images to preprocess")
    return np.stack([preprocess(rgb, prep).tensor for rgb in rgbs]).astype(np.float32)


def load_image_set(
    source: str | os.PathLike,
    prep: Preprocessing,
    *,
    limit: int | None = DEFAULT_CALIBRATION_IMAGES,
    seed: int = 0,
    stratify: bool = True,
) -> ImageSet:
    """Read ``labels.csv`` / a folder (``edge_screen.quantize.data.read_samples``) and preprocess it.

    Args:
        source: label CSV (``file,label``), ``normal/`` + ``abnormal/`` folder, or a folder of images.
        prep: the model's preprocessing (the bundle's).
        limit: at most this many images, drawn at random with ``seed`` (None: all). With labels
            and ``stratify``, the class ratio is kept.
    """
    from edge_screen.quantize.data import read_samples

    samples = read_samples(source)
    rng = np.random.default_rng(seed)
    idx = np.arange(len(samples))
    if limit is not None and limit < len(samples):
        labels = np.array([s.label for s in samples])
        if stratify and len(np.unique(labels)) > 1:
            picked = []
            for lab in np.unique(labels):
                members = idx[labels == lab]
                k = max(1, int(round(limit * len(members) / len(samples))))
                picked.extend(rng.choice(members, size=min(k, len(members)), replace=False).tolist())
            idx = np.array(sorted(picked[: max(limit, 2)]))
        else:
            idx = np.sort(rng.choice(idx, size=limit, replace=False))
    tensors, labels_out, paths = [], [], []
    for i in idx:
        s = samples[int(i)]
        img = load_image(s.path, target_size=prep.input_size)
        tensors.append(preprocess(img.rgb, prep).tensor)
        labels_out.append(s.label)
        paths.append(s.path)
    if not tensors:
        raise EdgeScreenError(f"no images could be read from {source}")
    log.info("loaded %d images from %s at %d px", len(tensors), source, prep.input_size)
    return ImageSet(np.stack(tensors).astype(np.float32), np.asarray(labels_out, dtype=np.int64), tuple(paths))
