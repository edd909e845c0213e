"""``train_gate``: fit, calibrate and measure the learned gate on one checkpoint (``edge-screen train-gate``).

1. Features: every real photo as it is plus ``variants`` degradations each (:mod:`edge_screen.degrade`,
   half past the ungradable strength), the degraded test set of ``test_photos`` photos and the
   generated non-fundus cases (:mod:`edge_screen.gateset`), pooled by the checkpoint's own backbone.
2. Gradability: multinomial logistic regression on standardised features (classes of
   :data:`edge_screen.gate.DEFAULT_CLASSES`), fitted ``folds`` times (photos split into folds, all
   samples of a photo in one fold) for out-of-fold scores, then once on everything.
   ``max_ungradable`` is the out-of-fold ``1 - p(gradable)`` quantile that rejects
   ``max_real_reject`` of the real photos.
3. Out of distribution: shrinkage Mahalanobis distance on the real photos (:class:`GateHeads`).
   Leave one source out (shared contract 4's four sources): fit on three, measure the fourth, as a
   multiple of the fit's own median distance. ``max_ood`` = the largest per-source
   ``1 - max_heldout_ood`` quantile of that multiple, times the median under the full fit: at most
   2 % of the photos of any held-out source are rejected.
4. The report (stored in ``gate.pt``, copied into the bundle's ``reports/gate.json`` by the exporter):
   rejection per source and label (out of fold, hand-set + learned), per degradation and strength,
   per non-fundus kind, with the held-out-source rates.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edge_screen.degrade import KINDS
from edge_screen.errors import UsageError
from edge_screen.gate import DEFAULT_CLASSES, LearnedGate
from edge_screen.quantize.model_spec import resolve_preprocessing
from edge_screen.quantize.gate_data import (BLUR_PX, KIND_CLASS, NEGATIVE_CLASS, NEGATIVES, Photo, PooledFeatures,
                                            Sample, extract, negative_samples, read_photos, test_samples,
                                            training_samples)

log = logging.getLogger(__name__)

CLASS_NAMES = tuple(c.name for c in DEFAULT_CLASSES)


@dataclass(frozen=True)
class GateTrainConfig:
    """Options of :func:`train_gate` (CLI: ``edge-screen train-gate``)."""

    model: str
    data: tuple[str, ...]
    out: str
    arch: str | None = None
    variants: int = 3
    test_photos: int = 120
    folds: int = 5
    ood_dim: int = 64
    c: float = 0.05
    max_real_reject: float = 0.015
    max_heldout_ood: float = 0.02
    n_synthetic: int = 12
    negatives: float = 0.25  # training negatives (not_fundus) per photo
    seed: int = 0
    cache_dir: str = field(default_factory=lambda: os.environ.get("EDGE_SCREEN_GATE_CACHE", "runs/gate-cache"))
    threads: int | None = None
    progress: bool = True
    feature_engine: str = "auto"  # onnxruntime | torch | auto (torch below 3,000 samples)


# ---------------------------------------------------------------------------------- fitting
def fit_ood(x_real: np.ndarray, dim: int) -> dict[str, np.ndarray | float]:
    """Standardisation + Ledoit-Wolf shrinkage covariance of the real photos' features, kept as its
    top ``dim`` eigenpairs plus the mean of the other eigenvalues (see GateHeads).

    The shrinkage (Ledoit & Wolf 2004) pulls the eigenvalues towards their mean: with fewer photos
    than features, most sample eigenvalues are 0 and an unshrunk inverse would make every new
    photo infinitely far away."""
    from sklearn.covariance import ledoit_wolf_shrinkage

    mean = x_real.mean(axis=0)
    std = x_real.std(axis=0) + 1e-4
    z = (x_real - mean) / std
    alpha = float(ledoit_wolf_shrinkage(z))
    eig, vec = np.linalg.eigh(np.cov(z, rowvar=False))
    order = np.argsort(eig)[::-1]
    eig, vec = np.clip(eig[order], 0, None), vec[:, order]
    eig = (1 - alpha) * eig + alpha * eig.mean()
    dim = min(dim, len(eig) - 1)
    delta = float(eig[dim:].mean())
    return {"mean": mean, "std": std, "axes": vec[:, :dim], "eigvals": eig[:dim], "delta": delta, "shrinkage": alpha}


def ood_distance(x: np.ndarray, ood: dict) -> np.ndarray:
    """The distance :class:`GateHeads` computes in the graph, in numpy (float64)."""
    z = (x - ood["mean"]) / ood["std"]
    u = z @ ood["axes"]
    d = (u * u * (1.0 / (ood["eigvals"] + ood["delta"]) - 1.0 / ood["delta"])).sum(1) + (z * z).sum(1) / ood["delta"]
    return d / x.shape[1]


def fit_head(x: np.ndarray, y: np.ndarray, ood: dict, *, c: float, seed: int = 0, dim: int = 256,
             max_iter: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression on ``(x - mean) / std`` (L-BFGS in torch), gradable vs the
    rest weighted 50/50, L2 ``1 / (2 c)`` per unit of sample weight (scikit-learn's ``C``).

    Fitted on the top ``dim`` principal components of the samples (5x cheaper on a 2-core CPU;
    the components hold >95 % of the variance) and folded back into a ``(K, C)`` weight.
    Returns ``(weight (K, C), bias (K,))`` over :data:`CLASS_NAMES`; absent classes get a bias of -30."""
    import torch

    torch.manual_seed(seed)
    k = len(CLASS_NAMES)
    z_full = (x - ood["mean"]) / ood["std"]
    centre = z_full.mean(axis=0)
    _, _, vt = np.linalg.svd(z_full[:: max(1, len(z_full) // 4000)] - centre, full_matrices=False)
    proj = vt[:dim].T  # (C, dim)
    z = torch.as_tensor((z_full - centre) @ proj, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.int64)
    n0, n_bad = int((y == 0).sum()), int((y > 0).sum())
    w = torch.as_tensor(np.where(y == 0, 1.0, n0 / max(n_bad, 1)), dtype=torch.float64)
    present = torch.zeros(k, dtype=torch.bool)
    present[torch.unique(yt)] = True
    weight = torch.zeros(k, z.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-6, tolerance_change=1e-10)
    total = float(w.sum())

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = (z @ weight.T + bias).masked_fill(~present, -30.0)
        loss = (torch.nn.functional.cross_entropy(logits, yt, reduction="none") * w).sum() / total
        loss = loss + (weight * weight).sum() / (2.0 * c * total)
        loss.backward()
        return loss

    opt.step(closure)
    w_full = weight.detach().numpy() @ proj.T  # logits = (z - centre) proj W^T + b
    b = bias.detach().numpy() - w_full @ centre
    b[~present.numpy()] = -30.0
    return w_full, b


def softmax(a: np.ndarray) -> np.ndarray:
    a = a - a.max(axis=1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=1, keepdims=True)


def sample_class(s: Sample) -> int:
    """Training label: 0 gradable, else the index of the degradation's class (or not_fundus)."""
    if s.kind in NEGATIVES:
        return CLASS_NAMES.index(NEGATIVE_CLASS)
    if s.kind in KINDS and KINDS[s.kind].ungradable(float(s.strength)):
        return CLASS_NAMES.index(KIND_CLASS[s.kind])
    return 0


# ---------------------------------------------------------------------------------- the run
def train_gate(cfg: GateTrainConfig) -> Path:
    """Fit and calibrate the gate for ``cfg.model``; write ``cfg.out`` (gate.pt); return its path."""
    import torch

    from edge_screen.gateset import non_fundus_cases
    from edge_screen.quantize.gate_model import GateHeads, backbone_sha256, save_gate
    from edge_screen.quantize.models import create_model

    if not 0 < cfg.max_real_reject < 0.2 or not 0 < cfg.max_heldout_ood < 0.2:
        raise UsageError("--max-real-reject and --max-heldout-ood must be fractions in (0, 0.2)")
    model = create_model(cfg.arch, checkpoint=cfg.model).eval()
    prep = resolve_preprocessing(model)
    photos = read_photos(cfg.data)
    sha = backbone_sha256(model)
    rng = np.random.default_rng(cfg.seed)
    fold = rng.permutation(len(photos)) % cfg.folds  # fold of each photo
    test_idx = _pick_test_photos(photos, cfg.test_photos, rng)
    generated = {c.name: c.rgb for c in non_fundus_cases(n_synthetic=cfg.n_synthetic, seed=cfg.seed)}
    groups = {
        "train": training_samples(photos, variants=cfg.variants, seed=cfg.seed),
        "negatives": negative_samples(photos, share=cfg.negatives, seed=cfg.seed),
        "test": test_samples(photos, test_idx, seed=cfg.seed + 1),
        "non_fundus": [Sample(-1, name.split("/")[0], case=name) for name in generated],
    }
    engine = cfg.feature_engine
    if engine == "auto":
        engine = "torch" if sum(len(v) for v in groups.values()) < 3000 else "onnxruntime"
    if engine == "torch" and cfg.threads:
        torch.set_num_threads(cfg.threads)
    pooled = PooledFeatures(model, prep.input_size, threads=cfg.threads, engine=engine)
    feats, infos = {}, {}
    for name, samples in groups.items():
        log.info("gate: %s features of %d samples", name, len(samples))
        feats[name], infos[name] = extract(samples, photos, prep, pooled, cache_dir=cfg.cache_dir, backbone=sha,
                                           generated=generated, progress=cfg.progress)
    torch.set_num_threads(1)  # the head fits are small matrix products: one thread is faster on a busy CPU
    train = groups["train"] + groups["negatives"]  # what the heads are fitted on
    x = np.concatenate([feats["train"], feats["negatives"]]) if groups["negatives"] else feats["train"]
    y = np.array([sample_class(s) for s in train])
    photo_of = np.array([s.photo for s in train])
    real = np.array([s.kind == "real" for s in train])

    # out-of-fold scores (gradability and distance) for every training and test sample of a photo
    oof = {k: (np.zeros((len(v), len(CLASS_NAMES))), np.zeros(len(v))) for k, v in groups.items() if k != "non_fundus"}
    for k in range(cfg.folds):
        fit = fold[photo_of] != k
        ood = fit_ood(x[fit & real], cfg.ood_dim)
        w, b = fit_head(x[fit], y[fit], ood, c=cfg.c, seed=cfg.seed)
        for name in oof:
            sel = np.array([fold[s.photo] == k for s in groups[name]], dtype=bool)
            if not sel.any():
                continue
            z = (feats[name][sel] - ood["mean"]) / ood["std"]
            oof[name][0][sel] = softmax(z @ w.T + b)
            oof[name][1][sel] = ood_distance(feats[name][sel], ood)
        log.info("gate: fold %d of %d fitted", k + 1, cfg.folds)
    ood_all = fit_ood(x[real], cfg.ood_dim)
    w_all, b_all = fit_head(x, y, ood_all, c=cfg.c, seed=cfg.seed)

    # limits
    p_bad_real = 1.0 - oof["train"][0][real[:len(groups["train"])], 0]
    max_ungradable = min(0.999, float(np.quantile(p_bad_real, 1.0 - cfg.max_real_reject)))
    loso = _leave_one_source_out(x, y, np.array([photos[i].source for i in photo_of]), real, cfg)
    # the scale: median distance of photos the fit has not seen, from the sources it has (out of fold);
    # a fit's own photos look closer than new ones, the more so the fewer photos there are
    median_all = float(np.median(oof["train"][1][real[:len(groups["train"])]]))
    ratio = max(v["quantile_ratio"] for v in loso.values())
    max_ood = ratio * median_all
    far_ood = max(v["max_ratio"] for v in loso.values()) * median_all
    gate = LearnedGate(DEFAULT_CLASSES, max_ungradable=max_ungradable, max_ood=max_ood, far_ood=max(far_ood, max_ood),
                       report="reports/gate.json")
    heads = GateHeads.from_arrays(mean=ood_all["mean"], std=ood_all["std"], weight=w_all, bias=b_all,
                                  axes=ood_all["axes"], eigvals=ood_all["eigvals"], delta=ood_all["delta"])
    final_nf = (softmax(((feats["non_fundus"] - ood_all["mean"]) / ood_all["std"]) @ w_all.T + b_all),
                ood_distance(feats["non_fundus"], ood_all))
    report = build_report(cfg, gate, photos, groups, infos, oof, final_nf, loso, sha, median_all)
    out = save_gate(cfg.out, heads, gate, backbone_sha256=sha, report=report)
    log.info("gate written to %s: max_ungradable %.3f, max_ood %.3f (x%.2f of the median)", out, max_ungradable,
             max_ood, ratio)
    return out


def _pick_test_photos(photos: Sequence[Photo], n: int, rng: np.random.Generator) -> list[int]:
    """``n`` photos, as evenly as possible per source (seeded); none for ``n <= 0``."""
    if n <= 0:
        return []
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(photos):
        by_source[p.source].append(i)
    per = max(1, n // max(1, len(by_source)))
    picked = []
    for src in sorted(by_source):
        idx = by_source[src]
        picked += sorted(rng.choice(idx, size=min(per, len(idx)), replace=False).tolist())
    return picked


def _leave_one_source_out(x: np.ndarray, y: np.ndarray, sources: np.ndarray, real: np.ndarray,
                          cfg: GateTrainConfig) -> dict[str, dict]:
    """Per source (shared contract 4): fit the distance and the gradability head on the other
    sources, then measure this source's real photos: their distances as multiples of the median
    distance of unseen photos *from the fitted sources* (the distance is fitted on a random half of
    the other sources' photos and its scale read on the other half), and their ``1 - p(gradable)``
    (``p_bad``, head fitted on all the other sources' samples)."""
    out = {}
    rng = np.random.default_rng([cfg.seed, 59])
    for s in sorted(set(sources[real].tolist())):
        held = sources == s
        if held.all() or (held & real).sum() < 10:
            log.warning("gate: source %s has %d photo(s); too few to hold out", s, int((held & real).sum()))
            continue
        others = np.flatnonzero(~held & real)
        half = rng.random(len(others)) < 0.5
        ood = fit_ood(x[others[half]], cfg.ood_dim)
        med = float(np.median(ood_distance(x[others[~half]], ood)))
        r = ood_distance(x[held & real], ood) / med
        w, b = fit_head(x[~held], y[~held], ood, c=cfg.c, seed=cfg.seed)
        p_bad = 1.0 - softmax(((x[held & real] - ood["mean"]) / ood["std"]) @ w.T + b)[:, 0]
        out[s] = {"n": int((held & real).sum()), "median_ratio": float(np.median(r)),
                  "quantile_ratio": float(np.quantile(r, 1.0 - cfg.max_heldout_ood)), "max_ratio": float(r.max()),
                  "ratios": r, "p_bad": p_bad}
        log.info("gate: held out %s", s)
    if len(out) < 2:
        raise UsageError("leave-one-source-out needs at least 2 sources (column source_repo) with >= 10 photos each, "
                         f"got {dict(zip(*np.unique(sources[real], return_counts=True)))}")
    return out


def build_report(cfg: GateTrainConfig, gate: LearnedGate, photos: Sequence[Photo], groups: dict, infos: dict,
                 oof: dict, final_nf: tuple, loso: dict, sha: str, median_all: float) -> dict[str, Any]:
    """Rejection rates (hand-set + learned, out of fold) per source/label, per degradation and
    strength, per non-fundus kind; held-out-source distance results."""
    from edge_screen.quantize.gate_report import summarise

    ratio = gate.max_ood / median_all
    heldout = {s: {"n": v["n"], "rejected_by_distance": round(float((v["ratios"] >= ratio).mean()), 4),
                   "rejected_by_gradability_head": round(float((v["p_bad"] >= gate.max_ungradable).mean()), 4),
                   "rejected_by_either": round(float(((v["ratios"] >= ratio) | (v["p_bad"] >= gate.max_ungradable)).mean()), 4),
                   "median_ratio": round(v["median_ratio"], 3), "quantile_ratio": round(v["quantile_ratio"], 3)}
               for s, v in loso.items()}
    return {
        "schema": "edge-screen-gate-report/1",
        "backbone_sha256": sha,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()},
        "limits": {"max_ungradable": gate.max_ungradable, "max_ood": gate.max_ood, "far_ood": gate.far_ood,
                   "ood_median_unseen_real": median_all, "ood_limit_ratio": ratio},
        "heldout_sources": heldout,
        "blur_px": list(BLUR_PX),
        **summarise(gate, photos, groups, infos, oof, final_nf),
    }
