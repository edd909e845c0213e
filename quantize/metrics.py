"""Screening metrics in plain numpy (no torch): AUC with bootstrap CI, operating points, ECE.

Inputs everywhere: ``y`` ``(N,)`` int in {0, 1} (1 = abnormal) and ``p`` ``(N,)`` float P(abnormal)
in 0..1. A case is called abnormal when ``p >= threshold``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from edge_screen.errors import UsageError


def _check(y: Sequence[int], p: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(np.int64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise UsageError(f"labels {y.shape} and scores {p.shape} differ in length")
    if y.size and not np.isin(y, (0, 1)).all():
        raise UsageError(f"labels must be 0/1, got values {sorted(set(y.tolist()))[:5]}")
    return y, p


def roc_auc(y: Sequence[int], p: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied scores counted 1/2); NaN if one class is absent."""
    y, p = _check(y, p)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n0 == 0 or n1 == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    ranks = np.empty(y.size)
    # average ranks over ties
    _, first, counts = np.unique(ps, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def roc_curve(y: Sequence[int], p: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)``, thresholds decreasing, first threshold ``inf`` (nothing called abnormal)."""
    y, p = _check(y, p)
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), ys.size - 1]  # last index of each distinct score
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    tpr = np.r_[0.0, tp / max(int(y.sum()), 1)]
    fpr = np.r_[0.0, fp / max(int(y.size - y.sum()), 1)]
    return fpr, tpr, np.r_[np.inf, ps[last]]


def bootstrap_auc_ci(y: Sequence[int], p: Sequence[float], *, n_boot: int = 2000, level: float = 0.95,
                     seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the AUC (resamples lacking a class are redrawn-skipped)."""
    y, p = _check(y, p)
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        idx = rng.integers(0, y.size, y.size)
        yb = y[idx]
        if 0 < yb.sum() < yb.size:
            aucs.append(roc_auc(yb, p[idx]))
    if not aucs:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    lo, hi = np.quantile(aucs, [a, 1 - a])
    return float(lo), float(hi)


@dataclass(frozen=True)
class OperatingPoint:
    """Confusion counts and rates at one threshold (NaN where a denominator is zero)."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: float
    specificity: float
    ppv: float
    npv: float
    accuracy: float

    def to_dict(self) -> dict:
        return asdict(self)


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def operating_point(y: Sequence[int], p: Sequence[float], threshold: float) -> OperatingPoint:
    """Metrics when ``p >= threshold`` is called abnormal."""
    y, p = _check(y, p)
    pred = p >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    tn = int(np.sum(~pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    return OperatingPoint(float(threshold), tp, fp, tn, fn, _ratio(tp, tp + fn), _ratio(tn, tn + fp),
                          _ratio(tp, tp + fp), _ratio(tn, tn + fn), _ratio(tp + tn, y.size))


def threshold_for_sensitivity(y: Sequence[int], p: Sequence[float], target: float) -> float:
    """Highest threshold whose sensitivity is >= ``target`` (so specificity is as high as allowed)."""
    y, p = _check(y, p)
    pos = np.sort(p[y == 1])[::-1]
    if pos.size == 0:
        raise UsageError("no abnormal cases: a threshold for a target sensitivity is undefined")
    need = int(np.ceil(target * pos.size - 1e-9))
    return float(pos[max(need, 1) - 1])


def expected_calibration_error(y: Sequence[int], p: Sequence[float], *, bins: int = 10) -> float:
    """ECE of P(abnormal): sum over equal-width bins of ``|mean(y) - mean(p)| * n_bin / N``."""
    y, p = _check(y, p)
    if y.size == 0:
        return float("nan")
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += abs(y[m].mean() - p[m].mean()) * m.sum() / y.size
    return float(ece)


def evaluate_scores(y: Sequence[int], p: Sequence[float], *, threshold: float,
                    targets: Sequence[float] = (0.90, 0.95), n_boot: int = 2000, seed: int = 0) -> dict:
    """Everything the evaluate command reports, JSON-safe.

    Returns:
        ``{"n", "n_abnormal", "auc", "auc_ci95", "ece", "at_threshold": OperatingPoint dict,
        "at_sensitivity": {"0.90": OperatingPoint dict, ...}, "confusion_matrix": [[tn, fp], [fn, tp]]}``.
    """
    y, p = _check(y, p)
    at = operating_point(y, p, threshold)
    out = {"n": int(y.size), "n_abnormal": int(y.sum()), "auc": roc_auc(y, p),
           "auc_ci95": list(bootstrap_auc_ci(y, p, n_boot=n_boot, seed=seed)),
           "ece": expected_calibration_error(y, p), "accuracy": at.accuracy,
           "at_threshold": at.to_dict(), "at_sensitivity": {},
           "confusion_matrix": [[at.tn, at.fp], [at.fn, at.tp]]}
    if y.sum() > 0:
        for t in targets:
            out["at_sensitivity"][f"{t:.2f}"] = operating_point(y, p, threshold_for_sensitivity(y, p, t)).to_dict()
    return out


def plot_roc(y: Sequence[int], p: Sequence[float], path: str, *, title: str = "ROC",
             groups: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> str:
    """Save an ROC curve PNG (matplotlib, Agg) with the AUC in the legend; per-group curves optional."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    curves = {"all": (np.asarray(y), np.asarray(p))} | (groups or {})
    for name, (yy, pp) in curves.items():
        if 0 < np.sum(yy) < len(yy):
            fpr, tpr, _ = roc_curve(yy, pp)
            ax.plot(fpr, tpr, lw=2 if name == "all" else 1, label=f"{name} (AUC {roc_auc(yy, pp):.3f}, n={len(yy)})")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ================================================================================ evaluation of a model
def _scores_checkpoint(path: str, samples: list, *, batch_size: int, trust_checkpoint: bool,
                       model_name: str | None) -> tuple[np.ndarray, float | None, str]:
    # torch only here: a bundle is evaluated without it.
    from edge_screen.quantize.data import FundusDataset
    from edge_screen.quantize.models import TRAIN_FORMAT, create_model, read_checkpoint
    from edge_screen.quantize.model_spec import resolve_preprocessing
    from edge_screen.quantize.train import predict

    obj = read_checkpoint(path, trust_checkpoint=trust_checkpoint)
    is_train = isinstance(obj, dict) and obj.get("format") == TRAIN_FORMAT
    model = create_model(None if is_train else (model_name or "jang2024_resnet50"), checkpoint=path,
                         trust_checkpoint=trust_checkpoint)
    thr = model.default_cfg.get("threshold", {}).get("value") if is_train else None
    ds = FundusDataset(samples, resolve_preprocessing(model), augment=None, cache=False)
    return predict(model, ds, batch_size=batch_size), thr, f"checkpoint {path} ({model.default_cfg['name']})"


def _scores_bundle(path: str, samples: list, *, batch_size: int, backend: str | None = None,
                   precision: str | None = None) -> tuple[np.ndarray, float | None, str, list]:
    from edge_screen.screener import Screener

    screener = Screener(path, backend=backend, precision=precision)
    probs = np.full(len(samples), np.nan)
    failures = []
    for i, res in enumerate(screener.screen_many([s.path for s in samples], batch_size=batch_size, heatmap=False)):
        p = getattr(res, "probability", None)
        if p is None:
            failures.append({"file": samples[i].path, "reason": getattr(res, "verdict", None) or str(getattr(res, "error", res))})
        else:
            probs[i] = float(p)
    return probs, float(screener.threshold), f"bundle {path} ({screener.backend} {screener.precision})", failures


def evaluate(model: str, data: str, *, split: str | None = None, group_by: str | None = None, out: str | None = None,
             threshold: float | None = None, batch_size: int = 16, trust_checkpoint: bool = False,
             model_name: str | None = None, data_format: str = "auto", images: str | None = None,
             referable: bool = False, n_boot: int = 2000, backend: str | None = None,
             precision: str | None = None) -> dict:
    """Score a checkpoint or bundle on labelled images and compute :func:`evaluate_scores` (+ per group).

    Bundles run through :class:`edge_screen.screener.Screener` (the deployed pipeline, quality gate
    included): images it marks ungradable get no probability and are reported in ``excluded``.
    With ``out``: writes ``report.json``, ``predictions.csv`` and ``roc.png`` there.
    """
    import json
    from pathlib import Path

    from edge_screen.quantize.data import select_split
    from edge_screen.quantize.sources import read_datasets

    samples = [s for s in select_split(read_datasets(data, format=data_format, images=images, referable=referable), split)
               if s.label >= 0]
    if not samples:
        raise UsageError(f"no labelled images in {data}")
    mp = Path(model)
    excluded: list = []
    if mp.is_dir() or mp.suffix.lower() == ".zip":
        probs, thr, what, excluded = _scores_bundle(model, samples, batch_size=batch_size, backend=backend,
                                                    precision=precision)
    else:
        probs, thr, what = _scores_checkpoint(model, samples, batch_size=batch_size, trust_checkpoint=trust_checkpoint,
                                              model_name=model_name)
    if threshold is None and thr is None:
        raise UsageError(f"{what} has no operating threshold (it was not trained with a validation set that has both "
                         f"classes); pass --threshold VALUE")
    thr = float(threshold if threshold is not None else thr)
    ok = ~np.isnan(probs)
    y = np.array([s.label for s in samples])[ok]
    p = probs[ok]
    report = {"model": what, "data": str(data), "split": split, **evaluate_scores(y, p, threshold=thr, n_boot=n_boot),
              "excluded": excluded}
    groups: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if group_by:
        kept = [s for s, k in zip(samples, ok) if k]
        if group_by not in kept[0].meta:
            raise UsageError(f"--group-by {group_by!r} is not a column of {data}; columns: {sorted(kept[0].meta)}")
        keys = np.array([str(s.meta.get(group_by, "")) for s in kept])
        report["groups"] = {}
        for g in sorted(set(keys)):
            m = keys == g
            groups[g] = (y[m], p[m])
            report["groups"][g] = evaluate_scores(y[m], p[m], threshold=thr, n_boot=min(n_boot, 500))
    if out:
        o = Path(out)
        o.mkdir(parents=True, exist_ok=True)
        (o / "report.json").write_text(json.dumps(report, indent=2))
        with open(o / "predictions.csv", "w", encoding="utf-8") as f:
            f.write("file,label,p_abnormal\n")
            for s, pr in zip(samples, probs):
                f.write(f"{s.path},{s.label},{'' if np.isnan(pr) else f'{pr:.6f}'}\n")
        report["roc_png"] = plot_roc(y, p, str(o / "roc.png"), title=Path(model).name, groups=groups or None)
    return report


def format_report(r: dict) -> str:
    """Human-readable summary of an :func:`evaluate` report."""
    lo, hi = r["auc_ci95"]
    lines = [f"{r['model']} on {r['data']}{' [' + r['split'] + ']' if r.get('split') else ''}: n={r['n']} "
             f"({r['n_abnormal']} abnormal), excluded {len(r.get('excluded', []))}",
             f"AUC {r['auc']:.4f} (95% CI {lo:.4f}-{hi:.4f}), accuracy {r['accuracy']:.4f}, ECE {r['ece']:.4f}"]

    def row(name: str, o: dict) -> str:
        return (f"  {name:<16} thr {o['threshold']:.4f}  sens {o['sensitivity']:.3f}  spec {o['specificity']:.3f}  "
                f"PPV {o['ppv']:.3f}  NPV {o['npv']:.3f}  (TP {o['tp']} FP {o['fp']} TN {o['tn']} FN {o['fn']})")

    lines.append(row("model threshold", r["at_threshold"]))
    for t, o in r["at_sensitivity"].items():
        lines.append(row(f"sensitivity>={t}", o))
    for g, gr in r.get("groups", {}).items():
        lines.append(f"  group {g}: n={gr['n']} AUC {gr['auc']:.4f} sens {gr['at_threshold']['sensitivity']:.3f} "
                     f"spec {gr['at_threshold']['specificity']:.3f}")
    if r.get("roc_png"):
        lines.append(f"ROC curve: {r['roc_png']}")
    return "\n".join(lines)
