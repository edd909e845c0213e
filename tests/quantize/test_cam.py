"""In-graph CAM / analytic Grad-CAM equals pytorch-grad-cam's GradCAM (FP32, <= 1e-4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edge_screen.errors import UsageError
from edge_screen.quantize.cam import CamGraph, GradCamGraph, with_heatmap
from edge_screen.quantize.model_spec import HALF, ModelSpec
from edge_screen.quantize.nets import FundusClassifier, LinearHead, MLPHead


def _features(channels: int = 16) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.Conv2d(8, channels, 3, stride=2, padding=1), nn.BatchNorm2d(channels), nn.ReLU6(),
    )


def _card(head: str, c: int = 16) -> ModelSpec:
    return ModelSpec(f"tiny-{head}", 32, HALF, HALF, num_features=c, head=head)


def _model(head: str, seed: int = 0) -> FundusClassifier:
    torch.manual_seed(seed)
    c = 16
    h = LinearHead(c) if head == "linear" else MLPHead(c, hidden=32)
    model = FundusClassifier(_features(c), h, _card(head, c))
    if head == "mlp":  # non-trivial BN statistics, so bn_scale matters
        with torch.no_grad():
            h.bn.running_mean.uniform_(-0.2, 0.2)
            h.bn.running_var.uniform_(0.5, 2.0)
            h.bn.weight.uniform_(0.5, 1.5)
            h.bn.bias.uniform_(-0.1, 0.1)
    return model.eval()


def _autograd_gradcam(model: FundusClassifier, x: torch.Tensor, cls: int = 1) -> torch.Tensor:
    """Grad-CAM by its definition: relu(sum_c mean_hw(dy_cls/dA_c) * A_c), per image, un-normalised."""
    fmap = model.features(x).detach().requires_grad_(True)
    logits = model.forward_head(fmap)
    (grad,) = torch.autograd.grad(logits[:, cls].sum(), fmap)
    weights = grad.mean(dim=(2, 3))
    return torch.relu((weights[:, :, None, None] * fmap).sum(1)).detach()


@pytest.mark.parametrize("head,cls", [("linear", CamGraph), ("mlp", GradCamGraph)])
def test_graph_kind_and_outputs(head: str, cls: type) -> None:
    model = _model(head)
    graph = with_heatmap(model)
    assert isinstance(graph, cls)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        probs, heat = graph(x)
        logits = model(x)
    assert probs.shape == (3, 2) and heat.shape == (3, 8, 8)
    torch.testing.assert_close(probs, torch.softmax(logits, 1))
    assert float(heat.min()) >= 0.0 and float(heat.max()) <= 1.0 + 1e-6
    assert torch.allclose(heat.amax(dim=(1, 2)), torch.ones(3), atol=1e-6)


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_raw_map_equals_autograd_gradcam(head: str) -> None:
    model = _model(head, seed=1)
    graph = with_heatmap(model)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        fmap = model.features(x)
        raw = graph.raw_cam(fmap, fmap.mean(dim=(2, 3)))
    ref = _autograd_gradcam(model, x)
    scale = ref.amax().clamp_min(1e-12)
    assert float((raw - ref).abs().max() / scale) <= 1e-5
    if head == "mlp":  # the ReLU gate really varies per sample (else a constant weight would pass)
        u = model.head.bn(model.head.fc1(fmap.mean(dim=(2, 3))))
        assert bool(((u > 0).float().std(0) > 0).any())


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_heatmap_equals_pytorch_grad_cam(head: str) -> None:
    gradcam = pytest.importorskip("pytorch_grad_cam", reason="pip install grad-cam (dev dependency)")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = _model(head, seed=2)
    graph = with_heatmap(model)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        _, heat = graph(x)
        fmap = model.features(x)
        raw = graph.raw_cam(fmap, fmap.mean(dim=(2, 3))).numpy()
    cam = gradcam.GradCAM(model=model, target_layers=[model.features])
    # Keep the library's map at feature resolution (its resize would otherwise interpolate to S).
    cam.get_target_width_height = lambda t: (fmap.shape[3], fmap.shape[2])
    ref = cam(input_tensor=x, targets=[ClassifierOutputTarget(1)] * 4)  # (4, h, w), min-max scaled
    ours = raw - raw.min(axis=(1, 2), keepdims=True)
    ours = ours / ours.max(axis=(1, 2), keepdims=True)
    assert np.abs(ours - ref).max() <= 1e-4
    # Where the map touches zero, our max-normalised heatmap is the same picture.
    touches_zero = raw.min(axis=(1, 2)) == 0
    assert touches_zero.any()
    np.testing.assert_allclose(heat.numpy()[touches_zero], ref[touches_zero], atol=1e-4)


def test_all_zero_map_is_zero_not_nan() -> None:
    model = _model("linear")
    with torch.no_grad():
        model.head.fc.weight[1].fill_(-1.0)  # features are ReLU6 >= 0, so the map is relu(<=0) = 0
    _, heat = with_heatmap(model)(torch.randn(2, 3, 32, 32))
    assert torch.isfinite(heat).all() and float(heat.abs().max()) == 0.0


def test_unsupported_head_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="LinearHead"):
        FundusClassifier(_features(), nn.Sequential(nn.Linear(16, 2)), _card("linear"))
    with pytest.raises(UsageError, match="does not match the card's head type 'mlp'"):
        FundusClassifier(_features(), LinearHead(16), _card("mlp"))
    with pytest.raises(UsageError, match="not a FundusClassifier"):
        with_heatmap(nn.Sequential(_features(), nn.Flatten()))
