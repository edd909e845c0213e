"""Contract tests over every model in the registry: the card (ModelSpec) agrees with the built net,
and resolve_preprocessing is the one place a Preprocessing is made from a model."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from edge_screen.errors import UsageError
from edge_screen.preprocess import Preprocessing
from edge_screen.quantize.cam import heatmap_kind, with_heatmap
from edge_screen.quantize.frozen import split_model, stages_of
from edge_screen.quantize.model_spec import HeadType, ModelSpec, StageLayout, resolve_preprocessing
from edge_screen.quantize.models import create_model, get_spec, list_models
from edge_screen.quantize.nets import HEADS
from edge_screen.quantize.tiny import tiny_classifier

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("edge_screen", "quantize", "benchmarks", "gui")


@pytest.mark.parametrize("name", list_models())
def test_card_agrees_with_the_built_net(name: str) -> None:
    spec = get_spec(name)
    torch.manual_seed(0)
    model = create_model(name, pretrained=False).eval()
    assert model.spec == spec
    assert model.num_features == spec.num_features
    assert isinstance(model.head, HEADS[spec.head])
    assert heatmap_kind(model) == {HeadType.LINEAR: "cam", HeadType.MLP: "gradcam"}[spec.head]
    x = torch.randn(2, 3, 64, 64)
    seen = {}
    layer = model.features.get_submodule(spec.feature_layer)
    handle = layer.register_forward_hook(lambda m, i, o: seen.setdefault("fmap", o))
    with torch.no_grad():
        fmap = model.features(x)
        # the stage layout reproduces the backbone: its stages applied in turn give the same map
        y = x
        for stage in stages_of(model):
            y = stage(y)
    handle.remove()
    assert fmap.shape[1] == spec.num_features
    torch.testing.assert_close(seen["fmap"], fmap)  # the named feature layer is the one the head pools
    torch.testing.assert_close(y, fmap)
    # the card's cfg keys are what default_cfg shows (one source of truth)
    for key, value in spec.cfg().items():
        assert model.default_cfg[key] == value


@pytest.mark.parametrize("name", [n for n in list_models() if get_spec(n).timm_name])
def test_card_agrees_with_timm_pretrained_cfg(name: str) -> None:
    import timm

    spec = get_spec(name)
    cfg = timm.get_pretrained_cfg(spec.timm_name)
    assert cfg.input_size[-1] == spec.input_size
    assert tuple(cfg.mean) == pytest.approx(spec.mean) and tuple(cfg.std) == pytest.approx(spec.std)


@pytest.mark.parametrize("name", ["effnet_lite0", "jang2024_resnet50", "mobilenetv3_large", "resnet18"])
def test_split_model_by_the_card_layout(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, pretrained=False, input_size=64).eval()
    prefix, top = split_model(model, 2)
    assert top.spec.stages is StageLayout.SEQUENTIAL and top.spec.input_size == 64
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(top(prefix(x)), model(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(with_heatmap(top)(prefix(x))[1], with_heatmap(model)(x)[1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["effnet_lite0", "resnet18"])
def test_freeze_stages_freezes_the_card_stages(name: str) -> None:
    from edge_screen.quantize.train import freeze_stages

    model = create_model(name, pretrained=False)
    stages = stages_of(model)
    frozen = freeze_stages(model, 2)
    ids = {id(p) for m in stages[:2] for p in m.parameters()}
    assert ids and all(not p.requires_grad for m in frozen for p in m.parameters())
    assert {id(p) for p in model.parameters() if not p.requires_grad} == ids  # exactly stem + first stage
    with pytest.raises(UsageError, match=f"--freeze-stages {len(stages) + 1} is not valid"):
        freeze_stages(model, len(stages) + 1)


def test_resolve_preprocessing_from_card_model_and_overrides() -> None:
    spec = get_spec("jang2024_resnet50")
    prep = resolve_preprocessing(spec)
    assert prep == Preprocessing(input_size=512, mean=spec.mean, std=spec.std, color_order="RGB", crop="fov",
                                 fov_margin=spec.fov_margin)
    model = create_model("effnet_lite0", pretrained=False, input_size=384)
    assert resolve_preprocessing(model) == resolve_preprocessing(get_spec("effnet_lite0"), {"input_size": 384})
    got = resolve_preprocessing(model, {"input_size": None, "crop": "none", "fov_margin": 0.05})
    assert (got.input_size, got.crop, got.fov_margin, got.mean) == (384, "none", 0.05, (0.5, 0.5, 0.5))
    # the FOV margin comes from the card
    card = ModelSpec("x", 96, (0.4, 0.5, 0.6), (0.2, 0.2, 0.2), num_features=8, fov_margin=0.1)
    assert resolve_preprocessing(card).fov_margin == 0.1
    with pytest.raises(UsageError, match="unknown preprocessing override"):
        resolve_preprocessing(model, {"img_size": 64})
    with pytest.raises(UsageError, match="input_size=8"):
        resolve_preprocessing(model, {"input_size": 8})
    with pytest.raises(UsageError, match="cannot tell the preprocessing"):
        resolve_preprocessing(torch.nn.Linear(2, 2))


def test_resolve_preprocessing_of_a_plain_timm_model() -> None:
    import timm

    m = timm.create_model("resnet18", pretrained=False)
    prep = resolve_preprocessing(m)
    assert (prep.input_size, prep.mean, prep.crop) == (224, (0.485, 0.456, 0.406), "fov")


def test_setting_the_spec_updates_default_cfg_and_preprocessing() -> None:
    model = tiny_classifier("mlp", input_size=64)
    assert model.spec.head is HeadType.MLP and model.default_cfg["head"] == "mlp"
    model.spec = model.spec.replace(input_size=96)
    assert model.default_cfg["input_size"] == 96 and resolve_preprocessing(model).input_size == 96
    with pytest.raises(UsageError, match="does not match the card's head type 'linear'"):
        model.spec = model.spec.replace(head="linear")


def test_head_override_is_typed_and_checked() -> None:
    m = create_model("effnet_lite0", pretrained=False, head="mlp")
    assert m.spec.head is HeadType.MLP and heatmap_kind(m) == "gradcam"
    with pytest.raises(UsageError, match="head 'conv' is not valid"):
        create_model("effnet_lite0", pretrained=False, head="conv")
    with pytest.raises(UsageError, match="stage layout 'vit'"):
        ModelSpec("x", 64, (0.5,) * 3, (0.5,) * 3, num_features=4, stages="vit")


# ------------------------------------------------------------------------------- nobody retypes preprocessing
_CARD_KEYS = {"input_size", "mean", "std", "color_order", "crop", "fov_margin", "head"}
#: (file, what) allowed: the resolver itself, and the core loading a bundle manifest.
_ALLOWED = {("quantize/model_spec.py", "Preprocessing()"), ("edge_screen/preprocess.py", "cls()"),
            ("edge_screen/bundle.py", "Preprocessing.from_dict()")}


def _constructions(source: str, rel: str) -> list[tuple[str, int]]:
    """``(what, line)`` of each forbidden construction in the Python ``source`` of file ``rel``."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id == "Preprocessing" or isinstance(f, ast.Attribute) and f.attr == "Preprocessing":
                found.append(("Preprocessing()", node.lineno))
            elif (isinstance(f, ast.Attribute) and f.attr == "from_dict" and isinstance(f.value, ast.Name)
                  and f.value.id == "Preprocessing"):
                found.append(("Preprocessing.from_dict()", node.lineno))
            elif (rel == "edge_screen/preprocess.py" and isinstance(f, ast.Name) and f.id == "cls"):
                found.append(("cls()", node.lineno))
            # default_cfg.get("mean") and friends: the card's keys are read through the spec only
            elif (isinstance(f, ast.Attribute) and f.attr == "get" and isinstance(f.value, ast.Attribute)
                  and f.value.attr == "default_cfg" and node.args and isinstance(node.args[0], ast.Constant)
                  and node.args[0].value in _CARD_KEYS):
                found.append((f"default_cfg.get({node.args[0].value!r})", node.lineno))
        elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
              and node.value.attr == "default_cfg" and isinstance(node.slice, ast.Constant)
              and node.slice.value in _CARD_KEYS):
            found.append((f"default_cfg[{node.slice.value!r}]", node.lineno))
    return [(what, line) for what, line in found if (rel, what) not in _ALLOWED]


def test_no_preprocessing_is_built_outside_the_resolver() -> None:
    files = [p for d in SOURCE_DIRS for p in sorted((REPO / d).rglob("*.py"))]
    assert len(files) > 50  # the walk really sees the source tree
    bad = {}
    for p in files:
        rel = p.relative_to(REPO).as_posix()
        if hits := _constructions(p.read_text(encoding="utf-8"), rel):
            bad[rel] = hits
    assert not bad, f"build Preprocessing with edge_screen.quantize.model_spec.resolve_preprocessing: {bad}"


def test_the_check_sees_a_retyped_preprocessing() -> None:
    # the checker finds the patterns it forbids (else the test above could never fail)
    src = ("import edge_screen.preprocess as pp\nfrom edge_screen.preprocess import Preprocessing\n"
           "def f(model, d):\n    a = Preprocessing(input_size=model.default_cfg['input_size'])\n"
           "    b = pp.Preprocessing(mean=model.default_cfg.get('mean'))\n"
           "    # Preprocessing(input_size=1) in a comment is no call\n    return Preprocessing.from_dict(d), a, b\n")
    assert sorted(w for w, _ in _constructions(src, "benchmarks/x.py")) == sorted(
        ["Preprocessing()", "default_cfg['input_size']", "Preprocessing()", "default_cfg.get('mean')",
         "Preprocessing.from_dict()"])
    assert _constructions("p = Preprocessing(input_size=64)\n", "quantize/model_spec.py") == []


def test_model_card_module_is_torch_free() -> None:
    import subprocess
    import sys

    code = ("import sys, edge_screen.quantize.model_spec as s; s.resolve_preprocessing(s.ModelSpec('x', 64, s.HALF, "
            "s.HALF, num_features=4)); print(sorted(m for m in ('torch', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
