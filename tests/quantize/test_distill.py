"""Distillation loss maths (hand-computed), student CAM vs the exporter's maps, teacher cache, a tiny run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from edge_screen.quantize.cam import normalise_map, with_heatmap
from edge_screen.quantize.distill import (DistillConfig, StudentWithCam, cam_transfer_loss, distill, distill_loss,
                                          kd_loss)
from edge_screen.quantize.models import create_model


def test_kd_loss_hand_computed() -> None:
    t = torch.tensor([[0.0, math.log(3.0)]])  # softmax -> [0.25, 0.75]
    s = torch.zeros(1, 2)  # [0.5, 0.5]
    kl = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert kd_loss(s, t, 1.0).item() == pytest.approx(kl, rel=1e-6)
    # T = 2: softmax(t/2) = [1, sqrt 3]/(1 + sqrt 3); loss scaled by T^2 = 4
    a = 1 / (1 + math.sqrt(3))
    kl2 = a * math.log(a / 0.5) + (1 - a) * math.log((1 - a) / 0.5)
    assert kd_loss(s, t, 2.0).item() == pytest.approx(4 * kl2, rel=1e-6)
    assert kd_loss(t, t, 3.0).item() == pytest.approx(0.0, abs=1e-7)


def test_cam_transfer_hand_computed() -> None:
    teacher = torch.zeros(1, 4, 4)
    teacher[0, :2, :2] = 2.0  # top-left quadrant hot
    student = torch.zeros(1, 2, 2)
    student[0, 0, 0] = 5.0
    # teacher resized 4x4 -> 2x2 (bilinear, half-pixel centres) gives [[2, 0], [0, 0]] -> normalised [[1,0],[0,0]]
    assert cam_transfer_loss(student, teacher).item() == pytest.approx(0.0, abs=1e-6)
    assert cam_transfer_loss(torch.zeros(1, 2, 2), teacher).item() == pytest.approx(0.25)  # (1^2)/4
    neg = -torch.ones(1, 2, 2)  # ReLU'd to zero, no NaN
    assert cam_transfer_loss(neg, neg).item() == 0.0
    assert torch.equal(normalise_map(torch.tensor([[[0.0, 2.0], [1.0, -1.0]]])), torch.tensor([[[0.0, 1.0], [0.5, 0.0]]]))


def test_distill_loss_skips_unlabelled_in_ce() -> None:
    s = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    t = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    labels = torch.tensor([0, -1])
    total, parts = distill_loss(s, labels, t, alpha=0.3, temperature=2.0)
    ce = -torch.log_softmax(s[:1], 1)[0, 0]
    assert parts["ce"] == pytest.approx(ce.item(), rel=1e-6)
    assert total.item() == pytest.approx(0.3 * parts["ce"] + 0.7 * kd_loss(s, t, 2.0).item(), rel=1e-6)
    total_u, parts_u = distill_loss(s, torch.tensor([-1, -1]), t, alpha=0.3, temperature=2.0)
    assert parts_u["ce"] == 0.0 and total_u.item() == pytest.approx(0.7 * parts_u["kd"], rel=1e-6)


@pytest.mark.parametrize("name", ["effnet_lite0", "jang2024_resnet50"])
def test_student_cam_equals_exported_heatmap(name: str) -> None:
    model = create_model(name, pretrained=False).eval()
    if name == "jang2024_resnet50":
        with torch.no_grad():
            model.head.bn.running_mean.normal_()
            model.head.bn.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 64, 64)
    _, ref = with_heatmap(model)(x)
    logits, raw = StudentWithCam(model)(x)
    torch.testing.assert_close(normalise_map(raw).detach(), ref, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(logits.detach(), model(x))


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_distill_maps_are_cam_py_maps(head: str) -> None:
    """The CAM-transfer loss sees exactly cam.py's maps: the teacher's equals the exported heatmap bit
    for bit; the student's (train mode, BN on batch statistics) equals Grad-CAM by its definition."""
    from edge_screen.quantize.distill import teacher_outputs
    from edge_screen.quantize.tiny import tiny_classifier

    model = tiny_classifier(head, seed=3, input_size=32)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        probs, heat = with_heatmap(model)(x)
    t_logits, t_map = teacher_outputs(model, x)
    assert torch.equal(t_map, heat)
    torch.testing.assert_close(torch.softmax(t_logits, 1), probs)

    model.train()
    logits, raw = StudentWithCam(model)(x)
    fmap = model.features(x)
    if head == "linear":  # CAM: the abnormal row of the linear layer, no 1/(h*w) factor
        assert torch.equal(raw, torch.einsum("bchw,c->bhw", fmap, model.head.fc.weight[1]))
    else:  # Grad-CAM by definition: relu(sum_c mean_hw(d logit_1 / d A_c) A_c), up to the factor h*w
        fm = fmap.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(model.forward_head(fm)[:, 1].sum(), fm)
        ref = (g.mean(dim=(2, 3))[:, :, None, None] * fm).sum(1)
        torch.testing.assert_close(normalise_map(raw).detach(), normalise_map(ref.detach()), atol=1e-5, rtol=1e-4)
    cam_transfer_loss(raw, t_map).backward()  # differentiable through the map
    assert model.features[0][0].weight.grad is not None and model.features[0][0].weight.grad.abs().sum() > 0


@pytest.mark.slow
def test_tiny_distill_run_with_cache(tiny_checkpoint: Path, tmp_path: Path) -> None:
    split = tiny_checkpoint.parent / "split.csv"
    cache = tmp_path / "teacher.pt"
    cfg = DistillConfig(model="effnet_lite0", data=str(split), out=str(tmp_path / "s"), img_size=48, epochs=1, batch_size=4,
                        pretrained=False, teacher=str(tiny_checkpoint), beta=1.0, cache_teacher=str(cache), progress=False,
                        threads=2)
    summary = distill(cfg)
    assert summary["epoch"] == 1 and math.isfinite(summary["train_loss"])
    cached = torch.load(cache, weights_only=True)
    n_train = sum(1 for line in split.read_text().splitlines()[1:] if ",train," in line)
    assert cached["logits"].shape == (n_train, 2) and cached["cams"].shape[0] == n_train
    student = create_model(None, checkpoint=tmp_path / "s" / "last.pt")
    assert student.default_cfg["input_size"] == 48
    mtime = cache.stat().st_mtime_ns
    distill(DistillConfig(**{**cfg.__dict__, "out": str(tmp_path / "s2"), "epochs": 1}))
    assert cache.stat().st_mtime_ns == mtime  # reused, not recomputed
