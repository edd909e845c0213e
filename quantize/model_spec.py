"""The typed model card: what a network needs from its input, and how it is put together.

A :class:`ModelSpec` is the one record of a model's input contract (size, mean/std, colour order,
crop, field-of-view margin) and of its structure (head type, stage layout, feature layer, pooled
feature dimension). The registry (:mod:`edge_screen.quantize.models`) holds one per architecture;
every built :class:`~edge_screen.quantize.nets.FundusClassifier` carries its own (``model.spec``,
with the instance's input size and head).

:func:`resolve_preprocessing` is THE place a :class:`~edge_screen.preprocess.Preprocessing` is made
from a model (timm's ``resolve_model_data_config(model, args)``): the trainer, the exporters and the
benchmarks call it, nobody retypes mean/std from a dict. A test greps the source tree for other
constructions.

This module is torch-free (the CLI and the benchmarks read cards without importing torch), and
imports OpenCV only when a Preprocessing is built.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Mapping

from edge_screen.errors import UsageError

if TYPE_CHECKING:  # imported where used: argparse choices read HeadType without loading OpenCV
    from edge_screen.preprocess import Preprocessing

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


class HeadType(str, Enum):
    """The classifier head on the pooled features, which decides the in-graph heatmap.

    ``LINEAR``: dropout + ``Linear(C, K)``; its heatmap is exact CAM (Zhou et al. 2016).
    ``MLP``: ``Linear(C, H) - BatchNorm1d - ReLU - Linear(H, K)`` (Jang et al. 2024); analytic Grad-CAM.
    """

    LINEAR = "linear"
    MLP = "mlp"


class StageLayout(str, Enum):
    """How a backbone splits into ``[stem, stage1, ..., stageN, (tail)]`` (freezing, feature caches).

    ``EFFICIENTNET``: timm EfficientNet(-Lite): ``conv_stem+bn1``, ``blocks[i]``, tail ``conv_head+bn2``.
    ``MOBILENETV3``: timm MobileNetV3: ``conv_stem+bn1``, ``blocks[i]``, tail ``conv_head+norm_head+act2``.
    ``RESNET``: timm ResNet: ``conv1+bn1+act1+maxpool``, ``layer1..4``.
    ``TORCHVISION_RESNET``: torchvision ResNet trunk: ``conv1+bn1+relu+maxpool``, ``layer1..4``.
    ``SEQUENTIAL``: an ``nn.Sequential`` backbone; each child is one stage (tiny test nets, split tops).
    """

    EFFICIENTNET = "efficientnet"
    MOBILENETV3 = "mobilenetv3"
    RESNET = "resnet"
    TORCHVISION_RESNET = "torchvision_resnet"
    SEQUENTIAL = "sequential"


@dataclass(frozen=True)
class ModelSpec:
    """A model card: the input contract and the structure of one network.

    Attributes:
        name: registry name (``effnet_lite0``, ``jang2024_resnet50``, ...).
        input_size: side of the square input the model is meant for, pixels.
        mean, std: per channel, applied to RGB/255 (ImageNet statistics of the backbone's weights).
        num_features: C, the pooled feature dimension (channels of the last feature map).
        head: :class:`HeadType` of the classifier on the pooled features.
        stages: :class:`StageLayout` of the backbone.
        feature_layer: dotted name, inside ``model.features``, of the module whose output is the
            feature map the head pools and the heatmap explains (``""``: ``features`` itself);
            e.g. pytorch-grad-cam's ``target_layers``.
        color_order: channel order of the input tensor, ``"RGB"`` or ``"BGR"``.
        crop: ``"fov"`` (square around the detected fundus disc) or ``"none"`` (letterboxed frame).
        fov_margin: border around the disc, fraction of its diameter (see ``edge_screen.preprocess``).
        timm_name: the timm architecture behind the backbone, if any (its ``pretrained_cfg`` must
            agree with this card; a contract test checks it).
        description: one line for ``--help`` and the docs.
    """

    name: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    num_features: int
    head: HeadType = HeadType.LINEAR
    stages: StageLayout = StageLayout.SEQUENTIAL
    feature_layer: str = ""
    color_order: str = "RGB"
    crop: str = "fov"
    fov_margin: float = 0.02
    timm_name: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        try:
            object.__setattr__(self, "head", HeadType(self.head))
        except ValueError:
            raise UsageError(f"head {self.head!r} is not valid; use one of "
                             f"{', '.join(repr(h.value) for h in HeadType)}") from None
        try:
            object.__setattr__(self, "stages", StageLayout(self.stages))
        except ValueError:
            raise UsageError(f"stage layout {self.stages!r} is not valid; use one of "
                             f"{', '.join(repr(s.value) for s in StageLayout)}") from None
        if not isinstance(self.num_features, int) or self.num_features < 1:
            raise UsageError(f"num_features must be a positive int, got {self.num_features!r}")
        self.preprocessing()  # the card's input contract must be a valid Preprocessing

    def preprocessing(self) -> Preprocessing:
        """The card's own preprocessing (no overrides); same as ``resolve_preprocessing(self)``."""
        return resolve_preprocessing(self)

    def cfg(self) -> dict:
        """The card's keys of a model's ``default_cfg`` (timm-style, JSON-safe)."""
        return {"name": self.name, "input_size": int(self.input_size), "mean": list(self.mean),
                "std": list(self.std), "color_order": self.color_order, "head": self.head.value}

    def replace(self, **changes: Any) -> ModelSpec:
        """A copy with ``changes`` (``dataclasses.replace``); ``None`` values are ignored."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_PREP_FIELDS = ("input_size", "mean", "std", "color_order", "crop", "fov_margin")


def _card_of(model_or_spec: Any) -> dict:
    if isinstance(model_or_spec, ModelSpec):
        spec = model_or_spec
    elif isinstance(getattr(model_or_spec, "spec", None), ModelSpec):
        spec = model_or_spec.spec
    else:
        # A plain timm model (not wrapped in a FundusClassifier): its pretrained_cfg, read here once.
        cfg = getattr(model_or_spec, "pretrained_cfg", None)
        if not isinstance(cfg, Mapping) or "input_size" not in cfg:
            raise UsageError(
                f"cannot tell the preprocessing of a {type(model_or_spec).__name__}: pass a ModelSpec, a model "
                "from edge_screen.quantize.models.create_model (it carries .spec), or a timm model")
        size = cfg["input_size"]
        return {"input_size": int(size[-1] if isinstance(size, (tuple, list)) else size),
                "mean": tuple(cfg.get("mean", IMAGENET_MEAN)), "std": tuple(cfg.get("std", IMAGENET_STD))}
    return {f: getattr(spec, f) for f in _PREP_FIELDS}


def resolve_preprocessing(model_or_spec: Any, overrides: Mapping[str, Any] | None = None) -> Preprocessing:
    """The :class:`Preprocessing` of a model: its card plus explicit overrides.

    Args:
        model_or_spec: a :class:`ModelSpec`, a model with a ``.spec`` (every ``FundusClassifier``),
            or a plain timm model (its ``pretrained_cfg``; crop ``fov``, default margin).
        overrides: fields of :class:`Preprocessing` to change, e.g. ``{"input_size": 384, "crop":
            "none"}`` from the command line; keys whose value is ``None`` are ignored (an option not
            given). Unknown keys are a :class:`UsageError`.

    Returns:
        the validated :class:`Preprocessing` (``UsageError`` on invalid values).
    """
    from edge_screen.preprocess import Preprocessing, check_known_fields

    base = _card_of(model_or_spec)
    given = {k: v for k, v in dict(overrides or {}).items() if v is not None}
    check_known_fields(Preprocessing, given, "preprocessing override")
    return Preprocessing(**{**base, **given})
