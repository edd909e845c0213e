"""Source-held-out recipes: ``evaluate --cv source``, ``train --linear-probe``, ``train --lpft`` and ``distill --lpft``.

Every recipe here is measured the same way: for each source, train on the others and score on it
(:func:`edge_screen.quantize.sources.loso_folds`). Model selection (the probe's ``C``, the number of
fine-tuning epochs) uses the same out-of-source folds, never a random split of the training sources.
The final model then trains on every source with the selected settings, and its checkpoint carries:

* ``threshold``: chosen on the pooled leave-one-source-out scores for the target sensitivity, with
  the number of images it was chosen on;
* ``loso``: the out-of-source report (:func:`edge_screen.quantize.loso.source_report`), and the
  probe's report beside it (``probe_loso``) so the floor can be checked at any later step.

Run outputs (``out/``): ``best.pt`` (the final checkpoint), ``loso.json`` (reports, selection),
``loso_scores.csv`` (file, label, source, out-of-source score) and, for a teacher,
``fold_logits.npz`` (each fold model's logits on every image, used to distil students out of source).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_screen.errors import UsageError
from edge_screen.quantize import loso as loso_mod
from edge_screen import metrics
from edge_screen.quantize.probe import C_GRID, fit_probe, nested_loso, sample_weights, select_c
from edge_screen.quantize.sources import DEFAULT_SOURCE_COL, loso_folds, parse_source_map, read_datasets, sources_of
from edge_screen.quantize.transfer import FinetuneConfig

log = logging.getLogger(__name__)

DEFAULT_C_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


@dataclass
class SourceCVConfig:
    """What a source-held-out run needs (JSON-safe; stored in checkpoints)."""

    model: str
    data: list
    out: str
    img_size: int | None = None
    source_col: str = DEFAULT_SOURCE_COL
    source_map: str | None = None  # None: the default mapping (ODIR merged)
    cache_features: str = "/work/cache"
    k: int = 7  # prefix stages cached for LP-FT
    ft_stage: int | None = None  # LP-FT trains stages[ft_stage:] (default k); > k runs the frozen stages k..ft_stage once
    probe_views: int = 1  # views of each training image the probe trains on (1: plain; the flip did not help)
    c_grid: tuple = DEFAULT_C_GRID
    probe_balance: str = "class"
    target_sensitivity: float = 0.95
    n_boot: int = 1000
    threads: int = 2
    finetune: dict | None = None  # FinetuneConfig fields; None: probe only
    teacher: str | None = None  # teacher run folder (its fold_logits.npz and best.pt) for distillation
    progress: bool = True
    teacher_outputs: bool = False  # LP-FT: save every fold model's logits on every image (fold_logits.npz)
    extra: dict = field(default_factory=dict)


@dataclass
class Table:
    """The labelled (and unlabelled) images of a run, in one order."""

    samples: list
    paths: list
    y: np.ndarray  # (N,) 0/1, -1 unlabelled
    sources: np.ndarray  # (N,) source names


def load_table(cfg: SourceCVConfig) -> Table:
    samples = read_datasets(cfg.data)
    src = sources_of(samples, column=cfg.source_col, mapping=parse_source_map(cfg.source_map))
    y = np.array([s.label for s in samples], dtype=np.int64)
    log.info("%d images from %d sources: %s", len(samples), len(set(src.tolist())),
             {n: f"{int(((src == n) & (y == 1)).sum())}/{int((src == n).sum())} abnormal" for n in sorted(set(src.tolist()))})
    return Table(samples, [s.path for s in samples], y, src)


def _pooled_bank(cfg: SourceCVConfig, table: Table, size: int, views: int):  # noqa: ANN202
    """Pooled features for the probe: read from the LP-FT cache (k) when it exists, else a k=0 cache."""
    from edge_screen.quantize.features import extract_features

    return extract_features(table.paths, model_name=cfg.model, input_size=size, k=cfg.k, views=views,
                            cache_dir=cfg.cache_features, threads=cfg.threads, progress=cfg.progress)


def _labelled(table: Table) -> np.ndarray:
    return np.flatnonzero(table.y >= 0)


# ------------------------------------------------------------------------------------------ probe
def run_probe(cfg: SourceCVConfig, table: Table, bank) -> dict:  # noqa: ANN001
    """Nested leave-one-source-out probe scores + the final probe on every source."""
    lab = _labelled(table)
    feats, y, src = bank.pooled[lab], table.y[lab], table.sources[lab]
    t0 = time.perf_counter()
    scores, per_fold = nested_loso(feats, y, src, grid=cfg.c_grid, views=cfg.probe_views, balance=cfg.probe_balance)
    c, grid_auc = select_c(feats, y, src, grid=cfg.c_grid, views=cfg.probe_views, balance=cfg.probe_balance)
    rows_y = np.repeat(y, cfg.probe_views)
    final = fit_probe(feats[:, :cfg.probe_views].reshape(-1, feats.shape[-1]), rows_y, C=c,
                      weights=sample_weights(rows_y, np.repeat(src, cfg.probe_views), cfg.probe_balance))
    rep = loso_mod.source_report(y, scores, src, target_sensitivity=cfg.target_sensitivity, n_boot=cfg.n_boot)
    log.info("probe done in %.0f s: C=%g (LOSO AUC per C %s)", time.perf_counter() - t0, c, grid_auc)
    plain = bank.pooled[:, 0]
    fold_logits = {f"fold_{name}": _two_class(info.pop("probe").logit(plain)) for name, info in per_fold.items()}
    fold_logits["final"] = _two_class(final.logit(plain))
    return {"report": rep, "scores": scores, "labelled": lab, "C": c, "grid_auc": grid_auc, "per_fold": per_fold,
            "probe": final, "fold_logits": fold_logits, "bank": bank}


def in_distribution_probe(cfg: SourceCVConfig, table: Table, bank, C: float, *, folds: int = 5) -> dict:  # noqa: ANN001
    """Secondary numbers: 5-fold cross-validation *within* the training sources (patient-grouped,
    stratified by source x label), the kind of validation that said 0.94 for bundle 1.1.0."""
    from edge_screen.quantize.data import stratified_group_folds
    from edge_screen.quantize.sources import patient_of

    lab = _labelled(table)
    y, src = table.y[lab], table.sources[lab]
    groups = [patient_of(table.samples[i], table.sources[i]) for i in lab]
    code = {s: i for i, s in enumerate(sorted(set(src.tolist())))}
    fold = stratified_group_folds(y + 2 * np.array([code[s] for s in src]), groups, folds, seed=0)
    feats = bank.pooled[lab]
    scores = np.full(lab.size, np.nan)
    for k in range(folds):
        tr, te = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        scores[te] = _fold_probe(cfg, feats, y, src, tr, C).predict(feats[te, 0])
    rep = loso_mod.source_report(y, scores, src, target_sensitivity=cfg.target_sensitivity, n_boot=cfg.n_boot)
    rep["design"] = f"{folds}-fold within the training sources, patient-grouped, stratified by source x label (secondary)"
    return rep


def _two_class(z: np.ndarray) -> np.ndarray:
    """Probe logit ``z`` -> the 2-class logits ``[0, z]`` of its folded Linear head."""
    return np.stack([np.zeros_like(z), z], axis=1).astype(np.float32)


def _fold_probe(cfg: SourceCVConfig, feats: np.ndarray, y: np.ndarray, src: np.ndarray, train: np.ndarray, c: float):  # noqa: ANN202
    rows_y = np.repeat(y[train], cfg.probe_views)
    return fit_probe(feats[train, :cfg.probe_views].reshape(-1, feats.shape[-1]), rows_y, C=c,
                     weights=sample_weights(rows_y, np.repeat(src[train], cfg.probe_views), cfg.probe_balance))


# ------------------------------------------------------------------------------------------ LP-FT
def _model_and_top(cfg: SourceCVConfig, probe, ft: FinetuneConfig):  # noqa: ANN001, ANN202
    import torch

    from edge_screen.quantize.frozen import split_model
    from edge_screen.quantize.models import create_model
    from edge_screen.quantize.probe import probe_state_dict

    torch.manual_seed(ft.seed)
    model = create_model(cfg.model, pretrained=True, input_size=cfg.img_size)
    if ft.head_init == "probe":
        probe_state_dict(model, probe)
    elif ft.head_init != "random":
        raise UsageError(f"head_init {ft.head_init!r} is not valid; use probe or random")
    _, top = split_model(model, cfg.ft_stage or cfg.k)
    return model, top


def advance_bank(cfg: SourceCVConfig, bank):  # noqa: ANN001, ANN201
    """Push the cached prefix through the frozen stages ``k .. ft_stage`` once (FP32, float16 out)."""
    import dataclasses

    import torch

    from edge_screen.quantize.frozen import stages_of
    from edge_screen.quantize.models import create_model

    k, to = cfg.k, cfg.ft_stage or cfg.k
    if to == k:
        return bank
    if to < k:
        raise UsageError(f"--ft-stage {to} is below the cached prefix ({k} stages)")
    import hashlib

    n, v = bank.prefix.shape[:2]
    tag = hashlib.sha1("|".join(bank.paths).encode()).hexdigest()[:16]
    store = Path(cfg.cache_features) / f"feat-{cfg.model}-{cfg.img_size}-k{k}-{bank.key}" / f"stage{to}-v{v}-{tag}.npy"
    if store.is_file():
        log.info("frozen stages %d..%d reused from %s", k, to, store)
        return dataclasses.replace(bank, prefix=np.load(store, mmap_mode="r"), k=to)
    model = create_model(cfg.model, pretrained=True, input_size=cfg.img_size).eval()
    mid = torch.nn.Sequential(*stages_of(model)[k:to]).eval()
    flat = bank.prefix.reshape(n * v, *bank.prefix.shape[2:])
    out = []
    t0 = time.perf_counter()
    with torch.no_grad():
        for s in range(0, flat.shape[0], 128):
            out.append(mid(torch.from_numpy(flat[s:s + 128].astype(np.float32))).float().numpy().astype(np.float16))
    log.info("frozen stages %d..%d run on %d cached views in %.0f s", k, to, n * v, time.perf_counter() - t0)
    new = np.concatenate(out)
    new = new.reshape(n, v, *new.shape[1:])
    tmp = store.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, new)
    os.replace(tmp, store)
    return dataclasses.replace(bank, prefix=new, k=to)


def _logits(top, prefix: np.ndarray, idx: np.ndarray, batch_size: int = 64) -> np.ndarray:  # noqa: ANN001
    import torch

    top.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(idx), batch_size):
            out.append(top(torch.from_numpy(prefix[idx[s:s + batch_size], 0].astype(np.float32))).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)


def _teacher_logits(cfg: SourceCVConfig, table: Table, fold: str | None) -> np.ndarray:
    """Teacher logits ``(N, 2)`` on the plain view: its LOSO fold model's (``fold``) or the final model's (None)."""
    if not cfg.teacher:
        raise UsageError("distillation needs a teacher run (--teacher DIR of an LP-FT train run)")
    z = np.load(Path(cfg.teacher) / "fold_logits.npz", allow_pickle=False)
    paths = [str(p) for p in z["paths"]]
    where = {p: i for i, p in enumerate(paths)}
    missing = [p for p in table.paths if p not in where]
    if missing:
        raise UsageError(f"the teacher run {cfg.teacher} has no logits for {len(missing)} images (e.g. {missing[0]}); "
                         "train the teacher on the same --data")
    key = "final" if fold is None else f"fold_{fold}"
    if key not in z:
        raise UsageError(f"the teacher run {cfg.teacher} has no {key} logits; its folds: {[k for k in z if k.startswith('fold_')]}")
    return z[key][[where[p] for p in table.paths]].astype(np.float32)


def run_finetune(cfg: SourceCVConfig, table: Table, bank, probe_run: dict) -> dict:  # noqa: ANN001
    """Leave-one-source-out LP-FT: per-epoch out-of-source scores, the epoch count that maximises the pooled
    AUC, then the final model on every source for that many epochs."""
    from edge_screen.quantize.transfer import finetune_top

    ft = FinetuneConfig(**(cfg.finetune or {}))
    lab = _labelled(table)
    y, src = table.y, table.sources
    feats = bank.pooled
    per_epoch = np.full((ft.epochs, len(table.paths)), np.nan)
    fold_logits: dict[str, np.ndarray] = {}
    t0 = time.perf_counter()
    for fold in loso_folds(src[lab], y[lab]):
        name = fold["source"]
        train = np.flatnonzero(src != name)  # unlabelled images of the training sources included
        test = np.flatnonzero((src == name) & (y >= 0))
        c = probe_run["per_fold"][name]["C"]
        lab_train = train[y[train] >= 0]
        probe = _fold_probe(cfg, feats, y, src, lab_train, c)
        model, top = _model_and_top(cfg, probe, ft)
        teacher = _teacher_logits(cfg, table, name) if ft.kd_weight > 0 else None
        log.info("LP-FT: held out %s (%d images), training on %d", name, test.size, train.size)

        def on_epoch(e: int, module, test=test) -> None:  # noqa: ANN001
            from edge_screen.quantize.transfer import predict_top

            per_epoch[e, test] = predict_top(module, bank.prefix, test)
            log.info("    held-out %s AUC %.4f", name, metrics.roc_auc(y[test], per_epoch[e, test]))

        used = finetune_top(top, bank.prefix, train, y, src, cfg=ft, teacher_logits=teacher, on_epoch=on_epoch)
        if cfg.teacher_outputs:
            fold_logits[f"fold_{name}"] = _logits(used, bank.prefix, np.arange(len(table.paths)))
    pooled = [metrics.roc_auc(y[lab], per_epoch[e, lab]) for e in range(ft.epochs)]
    best = int(np.nanargmax(pooled))
    log.info("LP-FT LOSO done in %.0f s; pooled out-of-source AUC per epoch %s -> %d epochs",
             time.perf_counter() - t0, [round(a, 4) for a in pooled], best + 1)
    scores = per_epoch[best, lab]
    rep = loso_mod.source_report(y[lab], scores, src[lab], target_sensitivity=cfg.target_sensitivity, n_boot=cfg.n_boot)
    return {"report": rep, "scores": scores, "labelled": lab, "epochs": best + 1, "pooled_per_epoch": pooled,
            "fold_logits": fold_logits, "per_epoch": per_epoch}


def train_final_finetune(cfg: SourceCVConfig, table: Table, bank, probe_run: dict, epochs: int):  # noqa: ANN001, ANN201
    """The shipped model: probe on every source, then LP-FT for the selected number of epochs."""
    from edge_screen.quantize.transfer import finetune_top

    ft = FinetuneConfig(**{**(cfg.finetune or {}), "epochs": epochs})
    model, top = _model_and_top(cfg, probe_run["probe"], ft)
    teacher = _teacher_logits(cfg, table, None) if ft.kd_weight > 0 else None
    used = finetune_top(top, bank.prefix, np.arange(len(table.paths)), table.y, table.sources, cfg=ft, teacher_logits=teacher)
    if used is not top:
        top.load_state_dict(used.state_dict())  # EMA weights into the shared modules of ``model``
    return model.eval(), _logits(top, bank.prefix, np.arange(len(table.paths)))


# ------------------------------------------------------------------------------------------ outputs
def save_run(cfg: SourceCVConfig, table: Table, model, kind: str, result: dict, probe_run: dict,  # noqa: ANN001
             extra_logits: dict | None = None) -> Path:
    """Write ``best.pt`` (a normal training checkpoint), ``loso.json``, ``loso_scores.csv`` (and ``fold_logits.npz``)."""
    import torch

    from edge_screen.quantize.models import TRAIN_FORMAT, model_kwargs
    from edge_screen.quantize.model_spec import resolve_preprocessing

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    rep = result["report"]
    thr = dict(rep["threshold"])
    summary = {"kind": kind, "loso": rep, "probe_loso": probe_run["report"], "probe_C": probe_run["C"],
               "probe_in_distribution": in_distribution_probe(cfg, table, probe_run["bank"], probe_run["C"]),
               "probe_grid_auc": probe_run["grid_auc"], "probe_per_fold": probe_run["per_fold"],
               "epochs": result.get("epochs"), "pooled_per_epoch": result.get("pooled_per_epoch"),
               "config": asdict(cfg), "floor": loso_mod.check_floor(rep, probe_run["report"], name=kind)}
    ckpt = {"format": TRAIN_FORMAT, "kind": kind, "model": cfg.model, "model_kwargs": model_kwargs(model),
            "config": {**asdict(cfg), "data": ",".join(map(str, cfg.data))}, "preprocessing": resolve_preprocessing(model).to_dict(),
            "state_dict": model.state_dict(), "epoch": (result.get("epochs") or 0) - 1, "best_epoch": (result.get("epochs") or 0) - 1,
            "best_metric": rep["pooled"]["auc"], "threshold": thr, "loso": rep, "probe_loso": probe_run["report"],
            "teacher": {"run": cfg.teacher} if cfg.teacher else None}
    tmp = out / "best.pt.tmp"
    torch.save(ckpt, tmp)
    os.replace(tmp, out / "best.pt")
    (out / "loso.json").write_text(json.dumps(summary, indent=1, default=float))
    lab = result["labelled"]
    with open(out / "loso_scores.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "source", "p_abnormal_out_of_source"])
        for i, p in zip(lab, result["scores"]):
            w.writerow([table.paths[i], int(table.y[i]), table.sources[i], f"{p:.6f}"])
    if extra_logits:
        np.savez(out / "fold_logits.npz", paths=np.array(table.paths), **extra_logits)
    return out / "best.pt"


def probe_model(cfg: SourceCVConfig, probe):  # noqa: ANN001, ANN201
    from edge_screen.quantize.models import create_model
    from edge_screen.quantize.probe import probe_state_dict

    model = create_model(cfg.model, pretrained=True, input_size=cfg.img_size)
    probe_state_dict(model, probe)
    return model.eval()


def run(cfg: SourceCVConfig, *, final: bool = True) -> dict:
    """The whole recipe: probe (always: it is the floor), LP-FT when ``cfg.finetune``, then the final model.

    Returns ``{"probe": probe report, "model": the recipe's report, "checkpoint": path or None, "floor": [...]}``.
    """
    from edge_screen.quantize.models import get_spec

    cfg.img_size = cfg.img_size or get_spec(cfg.model).input_size
    table = load_table(cfg)
    views = max(cfg.probe_views, FinetuneConfig(**cfg.finetune).views if cfg.finetune else 1)
    bank = _pooled_bank(cfg, table, cfg.img_size, views)
    probe_run = run_probe(cfg, table, bank)
    if not cfg.finetune:
        ck = save_run(cfg, table, probe_model(cfg, probe_run["probe"]), "linear_probe", probe_run, probe_run,
                      extra_logits=probe_run["fold_logits"]) if final else None
        return {"probe": probe_run["report"], "model": probe_run["report"], "checkpoint": ck, "floor": []}
    bank = advance_bank(cfg, bank)
    ft_run = run_finetune(cfg, table, bank, probe_run)
    floor = loso_mod.check_floor(ft_run["report"], probe_run["report"], name="lpft")
    ck = None
    if final:
        model, logits = train_final_finetune(cfg, table, bank, probe_run, ft_run["epochs"])
        kind = "lpft_distill" if FinetuneConfig(**cfg.finetune).kd_weight > 0 else "lpft"
        ck = save_run(cfg, table, model, kind, ft_run, probe_run,
                      extra_logits={**ft_run["fold_logits"], "final": logits} if cfg.teacher_outputs else None)
    return {"probe": probe_run["report"], "model": ft_run["report"], "checkpoint": ck, "floor": floor,
            "epochs": ft_run["epochs"], "pooled_per_epoch": ft_run["pooled_per_epoch"]}
