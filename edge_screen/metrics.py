"""Screening metrics in plain numpy (no torch): ROC AUC with bootstrap CI, operating points, ECE.

THE one implementation: the trainer, the exporters' quantization reports, the benchmarks and
``edge-screen calibrate`` all use these functions.

Inputs everywhere: ``y`` ``(N,)`` int in {0, 1} (1 = abnormal) and ``p`` ``(N,)`` float P(abnormal)
in 0..1. A case is called abnormal when ``p >= threshold``.

Failure convention: a metric that is undefined for the data (an AUC with one class present, a rate
with a zero denominator) is ``NaN``, never an exception and never ``None``; invalid input (labels
other than 0/1, lengths that differ) is a :class:`~edge_screen.errors.UsageError`. At a JSON
boundary, :func:`finite_or_none` turns NaN/inf into ``None``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from edge_screen.errors import UsageError


def finite_or_none(x: float | None) -> float | None:
    """``None`` for ``None``/NaN/inf (JSON has no NaN), else the value as a float."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def json_safe(obj: object) -> object:
    """A copy of nested dicts/lists/tuples with every non-finite float replaced by ``None``."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return finite_or_none(float(obj))
    return obj


def _check(y: Sequence[int], p: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y0 = np.asarray(y).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y0.shape != p.shape:
        raise UsageError(f"labels {y0.shape} and scores {p.shape} differ in length")
    if y0.size and not np.isin(y0, (0, 1)).all():  # checked before the cast, so 0.5 is not read as 0
        raise UsageError(f"labels must be 0/1, got values {sorted(set(y0.tolist()))[:5]}")
    return y0.astype(np.int64), p


def roc_auc(y: Sequence[int], p: Sequence[float]) -> float:
    """Area under the ROC curve: the Mann-Whitney U statistic, a tied (abnormal, normal) pair counting 1/2.

    Returns:
        AUC in 0..1; **NaN when a class is absent** (AUC undefined), the one convention of this
        project. Callers that need a number test ``math.isnan``; JSON writers pass the value
        through :func:`finite_or_none` (JSON has no NaN).

    Raises:
        UsageError: labels other than 0/1, or labels and scores of different lengths.
    """
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
