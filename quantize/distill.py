"""Knowledge distillation of a fundus teacher into a small student (``edge-screen distill``).

Loss per batch (Hinton et al. 2015 for the KD term; CAM transfer as in attention transfer,
Zagoruyko & Komodakis 2017, on the abnormal-class map the technician sees)::

    L = alpha * CE(student, y)                      # labelled images only (y = -1 is skipped)
      + (1 - alpha) * T^2 * KL(p_teacher^T || p_student^T)      # every image
      + beta * mean((cam_s - resize(cam_t))^2)       # every image, maps ReLU'd and max-normalised

Teacher and student see the same fundus crop, each at its own input size (e.g. 512 and 384).
The teacher's maps come from :mod:`edge_screen.quantize.cam` (CAM for a linear head, analytic
Grad-CAM for the Jang MLP head), i.e. exactly the heatmap an exported teacher would show.

Teacher cache (``--cache-teacher FILE``, what you want on a 2-core CPU): the teacher runs once over
the **un-augmented** images; its logits and maps are stored and reused every epoch. With augmentation
on, the student then sees an augmented view while the cached targets describe the plain view. The
geometric part is compensated exactly for the maps (the cached teacher map is warped with the same
flip/rotation/zoom, :func:`edge_screen.quantize.data.warp_map`); the logits are taken as invariant
to these label-preserving transforms and to the mild photometric jitter, which is an approximation
(soft targets are a little over-confident for strongly rotated or re-toned views). Without a cache
the teacher runs on every augmented teacher-resolution view (exact, about teacher-forward slower).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from edge_screen.errors import UsageError
from edge_screen.quantize.cam import normalise_map, training_map, with_heatmap
from edge_screen.quantize.data import FundusDataset, Augment, read_samples, warp_map
from edge_screen.quantize.models import TRAIN_FORMAT, create_model, read_checkpoint, _from_training_checkpoint
from edge_screen.quantize.nets import FundusClassifier
from edge_screen.quantize.model_spec import resolve_preprocessing
from edge_screen.quantize.train import TrainConfig, fit, prepare_splits, setup_dist

log = logging.getLogger(__name__)


@dataclass
class DistillConfig(TrainConfig):
    """:class:`TrainConfig` plus the distillation settings (``model`` is the student name)."""

    teacher: str = ""
    teacher_model: str = "jang2024_resnet50"  # architecture when the teacher file is not a training checkpoint
    teacher_img_size: int | None = None
    alpha: float = 0.5
    temperature: float = 4.0
    beta: float = 0.0
    cache_teacher: str | None = None
    unlabelled: str | None = None
    trust_checkpoint: bool = False


# ----------------------------------------------------------------------------------------- loss maths
def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(softmax(t/T) || softmax(s/T))`` averaged over the batch (logits ``[B,K]``)."""
    t = temperature
    log_ps = F.log_softmax(student_logits.float() / t, dim=1)
    log_pt = F.log_softmax(teacher_logits.float() / t, dim=1)
    return (t * t) * (log_pt.exp() * (log_pt - log_ps)).sum(dim=1).mean()


def cam_transfer_loss(student_cam: torch.Tensor, teacher_cam: torch.Tensor) -> torch.Tensor:
    """MSE between normalised maps; the teacher map ``[B,H,W]`` is resized (bilinear) to the student's ``[B,h,w]``."""
    if teacher_cam.shape[-2:] != student_cam.shape[-2:]:
        teacher_cam = F.interpolate(teacher_cam[:, None].float(), size=student_cam.shape[-2:], mode="bilinear",
                                    align_corners=False)[:, 0]
    return F.mse_loss(normalise_map(student_cam.float()), normalise_map(teacher_cam.float()))


def distill_loss(student_logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor, *,
                 alpha: float, temperature: float, beta: float = 0.0, student_cam: torch.Tensor | None = None,
                 teacher_cam: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """The total loss and its parts. ``labels`` int64 ``[B]`` with -1 for unlabelled images."""
    labelled = labels >= 0
    ce = F.cross_entropy(student_logits[labelled].float(), labels[labelled]) if labelled.any() else student_logits.sum() * 0
    kd = kd_loss(student_logits, teacher_logits, temperature)
    total = alpha * ce + (1 - alpha) * kd
    parts = {"ce": float(ce.detach()), "kd": float(kd.detach())}
    if beta > 0:
        if student_cam is None or teacher_cam is None:
            raise UsageError("beta > 0 needs both student and teacher CAM maps")
        ct = cam_transfer_loss(student_cam, teacher_cam)
        total = total + beta * ct
        parts["cam"] = float(ct.detach())
    return total, parts


class StudentWithCam(nn.Module):
    """``forward(x) -> (logits [B,K], raw abnormal-class map [B,h,w])`` for a FundusClassifier in training.

    The map is :func:`edge_screen.quantize.cam.training_map` (CAM weights for a linear head,
    autograd Grad-CAM weights otherwise), the same maths as the exported heatmap.
    """

    def __init__(self, student: FundusClassifier, class_index: int = 1) -> None:
        super().__init__()
        self.student = student
        self.class_index = class_index

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return training_map(self.student, x, class_index=self.class_index)


# ----------------------------------------------------------------------------------------- teacher
def load_teacher(path: str | os.PathLike, *, model_name: str = "jang2024_resnet50", trust_checkpoint: bool = False,
                 input_size: int | None = None) -> FundusClassifier:
    """A teacher from an edge-screen training checkpoint or a released Jang file (eval mode, no grads)."""
    obj = read_checkpoint(path, trust_checkpoint=trust_checkpoint)
    if isinstance(obj, dict) and obj.get("format") == TRAIN_FORMAT:
        teacher = _from_training_checkpoint(obj, Path(path), None)
    else:
        teacher = create_model(model_name, checkpoint=path, trust_checkpoint=trust_checkpoint)
    if input_size:
        teacher.spec = teacher.spec.replace(input_size=int(input_size))
    teacher.requires_grad_(False)
    return teacher.eval()


@torch.no_grad()
def teacher_outputs(teacher: FundusClassifier, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits [B,2] float32, normalised map [B,h,w] float32)`` from the deployment heatmap maths."""
    graph = with_heatmap(teacher)
    fmap = graph.features(x)
    pooled = fmap.mean(dim=(2, 3))
    logits = graph.head(pooled)
    return logits.float(), normalise_map(graph.raw_cam(fmap, pooled).float())


def _cache_key(teacher_path: str, dataset: FundusDataset) -> str:
    st = os.stat(teacher_path)
    h = hashlib.sha256(f"{os.path.abspath(teacher_path)}|{st.st_size}|{st.st_mtime_ns}|{dataset.preps[0].to_dict()}".encode())
    for s in dataset.samples:
        h.update(s.path.encode())
    return h.hexdigest()


def cache_teacher_outputs(teacher: FundusClassifier, dataset: FundusDataset, path: str | os.PathLike, *,
                          teacher_path: str, batch_size: int = 8, device: torch.device | str = "cpu",
                          progress: bool = False) -> dict:
    """Run the teacher once over ``dataset`` (un-augmented, inputs[0] at the teacher size) and save.

    The file (``torch.save``) holds ``key, logits [N,2] float32, cams [N,h,w] float16``; an existing file
    with the same key (teacher file, preprocessing and image list) is reused.
    """
    path = Path(path)
    key = _cache_key(teacher_path, dataset)
    if path.is_file():
        cached = torch.load(path, map_location="cpu", weights_only=True)
        if cached.get("key") == key:
            log.info("teacher outputs reused from %s", path)
            return cached
        log.info("teacher cache %s is stale (different teacher, images or preprocessing): recomputing", path)
    if dataset.augment is not None:
        raise UsageError("teacher outputs are cached from un-augmented images; pass a dataset without augment")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    teacher.to(device)
    logits, cams = [], []
    it = loader
    if progress:
        from tqdm import tqdm

        it = tqdm(loader, desc="teacher", unit="batch", mininterval=2.0)
    for batch in it:
        lg, cm = teacher_outputs(teacher, batch["inputs"][0].to(device))
        logits.append(lg.cpu())
        cams.append(cm.cpu().half())
    out = {"key": key, "logits": torch.cat(logits), "cams": torch.cat(cams)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(out, tmp)
    os.replace(tmp, path)
    return out


def _teacher_freeze(path: str, trust: bool) -> int:
    """``freeze_stages`` of an edge-screen training checkpoint (0 for other files)."""
    obj = read_checkpoint(path, trust_checkpoint=trust)
    if isinstance(obj, dict) and obj.get("format") == TRAIN_FORMAT:
        return int((obj.get("config") or {}).get("freeze_stages") or 0)
    return 0


def _distill_cached(cfg: DistillConfig, rt, teacher: FundusClassifier, student: FundusClassifier, s_prep, t_prep,
                    train_s, val_s) -> dict:  # noqa: ANN001
    """``--cache-features``: the student's frozen prefix is cached (see :mod:`edge_screen.quantize.frozen`).

    The teacher's targets are computed once per image on the plain view: through the teacher's own
    cached prefix when it was trained with ``--freeze-stages`` (same frozen weights, same cache
    file), else with the whole teacher. Maps are warped to each cached student view's geometry.
    """
    from edge_screen.quantize.frozen import FeatureDataset, split_model
    from edge_screen.quantize.train import cached_feature_datasets

    t_ds = FundusDataset(train_s, t_prep, augment=None, cache_dir=cfg.cache_dir)
    t_ds.precache(threads=max(1, torch.get_num_threads()), progress=rt.main and cfg.progress)
    t_k = _teacher_freeze(cfg.teacher, cfg.trust_checkpoint)
    if t_k > 0:
        t_prefix, t_top = split_model(teacher, t_k)
        t_feats = FeatureDataset(t_ds, t_prefix, k=t_k, cache_dir=cfg.cache_features, views=1, random_view=False,
                                 seed=cfg.seed, batch_size=cfg.batch_size, device=rt.device, progress=rt.main and cfg.progress)
        source, net = t_feats, t_top
    else:
        source, net = t_ds, teacher
    logits, cams = [], []
    net.to(rt.device)
    for batch in DataLoader(source, batch_size=cfg.batch_size, shuffle=False):
        lg, cm = teacher_outputs(net, batch["inputs"][0].to(rt.device))
        logits.append(lg)
        cams.append(cm)
    t_logits, t_cams = torch.cat(logits), torch.cat(cams)
    train_ds = FundusDataset(train_s, s_prep, augment=None, cache_dir=cfg.cache_dir)
    val_ds = FundusDataset(val_s, s_prep, augment=None, cache_dir=cfg.cache_dir)
    for ds in (train_ds, val_ds):
        ds.precache(threads=max(1, torch.get_num_threads()), progress=rt.main and cfg.progress)
    train_fd, val_fd, top = cached_feature_datasets(student, cfg, train_ds, val_ds, rt)
    wrapper = StudentWithCam(top)

    def loss_fn(m: nn.Module, batch: dict) -> torch.Tensor:
        logits_s, s_cam = m(batch["inputs"][0])
        idx = batch["index"]
        tc = warp_map(t_cams[idx].float(), batch["theta"]) if cfg.beta > 0 else None
        loss, _ = distill_loss(logits_s, batch["label"], t_logits[idx], alpha=cfg.alpha, temperature=cfg.temperature,
                               beta=cfg.beta, student_cam=s_cam, teacher_cam=tc)
        return loss

    extra_ckpt = {"teacher": {"path": str(cfg.teacher), "model": teacher.default_cfg["name"],
                              "preprocessing": t_prep.to_dict(), "freeze_stages": t_k}}
    return fit(student, cfg, train_fd, val_fd, loss_fn=loss_fn, rt=rt, kind="distill", extra_ckpt=extra_ckpt,
               train_module=wrapper, eval_module=top)


def distill(cfg: DistillConfig) -> dict:
    """Run ``edge-screen distill``; writes the student's checkpoints like ``train`` (kind ``distill``)."""
    if not cfg.teacher:
        raise UsageError("distill needs --teacher CKPT (a training checkpoint or the released Jang file)")
    if not 0.0 <= cfg.alpha <= 1.0 or cfg.temperature <= 0 or cfg.beta < 0:
        raise UsageError(f"need 0 <= alpha <= 1, temperature > 0, beta >= 0; got {cfg.alpha}, {cfg.temperature}, {cfg.beta}")
    rt = setup_dist(cfg.threads)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    teacher = load_teacher(cfg.teacher, model_name=cfg.teacher_model, trust_checkpoint=cfg.trust_checkpoint,
                           input_size=cfg.teacher_img_size)
    student = create_model(cfg.model, head=cfg.head, pretrained=cfg.pretrained, weights=cfg.weights, input_size=cfg.img_size)
    cfg.img_size = student.spec.input_size
    s_prep, t_prep = resolve_preprocessing(student), resolve_preprocessing(teacher)
    train_s, val_s = prepare_splits(cfg, rt)
    if cfg.unlabelled:
        extra = read_samples(cfg.unlabelled)
        train_s = train_s + [type(s)(s.path, -1, s.meta) for s in extra]
    aug = Augment() if cfg.augment else None
    cached = None
    if cfg.cache_features:
        return _distill_cached(cfg, rt, teacher, student, s_prep, t_prep, train_s, val_s)
    if cfg.cache_teacher:
        t_ds = FundusDataset(train_s, t_prep, augment=None, cache=False, cache_dir=cfg.cache_dir)
        cached = cache_teacher_outputs(teacher, t_ds, cfg.cache_teacher, teacher_path=cfg.teacher,
                                       batch_size=cfg.batch_size, device=rt.device, progress=rt.main and cfg.progress)
        train_ds = FundusDataset(train_s, s_prep, augment=aug, cache_dir=cfg.cache_dir, seed=cfg.seed)
        t_logits, t_cams = cached["logits"].to(rt.device), cached["cams"].to(rt.device)
    else:
        train_ds = FundusDataset(train_s, [s_prep, t_prep], augment=aug, cache_dir=cfg.cache_dir, seed=cfg.seed)
        teacher.to(rt.device)
    val_ds = FundusDataset(val_s, s_prep, augment=None, cache_dir=cfg.cache_dir)
    for ds in (train_ds, val_ds):
        ds.precache(threads=max(1, torch.get_num_threads()), progress=rt.main and cfg.progress)
    wrapper = StudentWithCam(student)

    def loss_fn(m: nn.Module, batch: dict) -> torch.Tensor:
        logits, s_cam = m(batch["inputs"][0])
        if cached is not None:
            idx = batch["index"]
            tl = t_logits[idx]
            tc = warp_map(t_cams[idx].float(), batch["theta"]) if cfg.beta > 0 else None
        else:
            tl, tc = teacher_outputs(teacher, batch["inputs"][1])
        loss, _ = distill_loss(logits, batch["label"], tl, alpha=cfg.alpha, temperature=cfg.temperature, beta=cfg.beta,
                               student_cam=s_cam, teacher_cam=tc)
        return loss

    extra_ckpt = {"teacher": {"path": str(cfg.teacher), "model": teacher.default_cfg["name"],
                              "preprocessing": t_prep.to_dict()}}
    try:
        return fit(student, cfg, train_ds, val_ds, loss_fn=loss_fn, rt=rt, kind="distill", extra_ckpt=extra_ckpt,
                   train_module=wrapper)
    finally:
        if rt.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
