"""Leave-one-source-out reports, the operating threshold chosen on them, and the probe floor.

Plain numpy (no torch). Input: out-of-source scores (each image scored by the model of the fold that
held its source out), labels and source names. Output: a JSON-safe report::

    {"n", "n_abnormal", "pooled": {"auc", "auc_ci95"}, "mean_source_auc", "worst": {"source", "auc"},
     "threshold": {"value", "method", "n_images", "target_sensitivity", "sensitivity", "specificity"},
     "sources": {name: {"n", "n_abnormal", "auc", "auc_ci95", "sensitivity", "specificity", "one_class"}}}

A source with one class has no AUC: it reports only the sensitivity (all abnormal) or the
specificity (all normal) at the threshold.

The operating threshold is the highest with pooled out-of-source sensitivity >= the target. Chosen
on images none of the fold models trained on, it is what a new camera would see, within the spread of
the four sources; its sensitivity and specificity are still those of the images it was fitted on.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from edge_screen.errors import UsageError
from edge_screen import metrics


class BelowFloor(UsageError):
    """A model is below the linear-probe floor (pooled or per-source out-of-source AUC)."""


def choose_threshold(y: np.ndarray, p: np.ndarray, target: float, *, what: str) -> dict:
    """``{"value", "method", "n_images", "n_normal", "n_abnormal", "target_sensitivity", "sensitivity", "specificity"}``.

    Raises:
        UsageError: no abnormal (or no normal) image among the scores: no threshold can be chosen.
    """
    y = np.asarray(y).astype(np.int64)
    p = np.asarray(p, dtype=np.float64)
    ok = np.isfinite(p)
    y, p = y[ok], p[ok]
    n1 = int(y.sum())
    if n1 == 0 or n1 == y.size:
        raise UsageError(f"no threshold can be chosen on {what}: it has {n1} abnormal and {y.size - n1} normal "
                         f"scored images; both classes are needed")
    thr = metrics.threshold_for_sensitivity(y, p, target)
    op = metrics.operating_point(y, p, thr)
    return {"value": float(thr), "method": f"sensitivity>={target:g} on {what}", "n_images": int(y.size),
            "n_normal": int(y.size - n1), "n_abnormal": n1, "target_sensitivity": float(target),
            "sensitivity": op.sensitivity, "specificity": op.specificity}


def source_report(y: Sequence[int], p: Sequence[float], sources: Sequence[str], *, threshold: float | None = None,
                  target_sensitivity: float = 0.95, n_boot: int = 1000, seed: int = 0) -> dict:
    """The report described in the module docstring.

    Args:
        threshold: operating threshold; ``None`` chooses it on the pooled scores (``target_sensitivity``).
    """
    y = np.asarray(y).astype(np.int64)
    p = np.asarray(p, dtype=np.float64)
    src = np.asarray(sources, dtype=object)
    if not (y.size == p.size == src.size):
        raise UsageError(f"labels ({y.size}), scores ({p.size}) and sources ({src.size}) differ in length")
    if not np.isfinite(p).all():
        raise UsageError(f"{int((~np.isfinite(p)).sum())} images have no out-of-source score")
    if threshold is None:
        thr = choose_threshold(y, p, target_sensitivity, what=f"pooled leave-one-source-out scores ({y.size} images)")
    else:
        op = metrics.operating_point(y, p, threshold)
        thr = {"value": float(threshold), "method": "given", "n_images": int(y.size), "sensitivity": op.sensitivity,
               "specificity": op.specificity}
    t = thr["value"]
    rep: dict = {"n": int(y.size), "n_abnormal": int(y.sum()),
                 "pooled": {"auc": metrics.roc_auc(y, p), "auc_ci95": list(metrics.bootstrap_auc_ci(y, p, n_boot=n_boot, seed=seed))},
                 "threshold": thr, "sources": {}}
    for name in sorted(set(src.tolist())):
        m = src == name
        yy, pp = y[m], p[m]
        op = metrics.operating_point(yy, pp, t)
        one = len(set(yy.tolist())) < 2
        r = {"n": int(m.sum()), "n_abnormal": int(yy.sum()), "one_class": one,
             "sensitivity": op.sensitivity if yy.sum() else None,
             "specificity": op.specificity if yy.sum() < yy.size else None}
        if not one:
            r["auc"] = metrics.roc_auc(yy, pp)
            r["auc_ci95"] = list(metrics.bootstrap_auc_ci(yy, pp, n_boot=n_boot, seed=seed))
        rep["sources"][name] = r
    aucs = {k: v["auc"] for k, v in rep["sources"].items() if "auc" in v}
    worst = min(aucs, key=aucs.get)
    rep["mean_source_auc"] = float(np.mean(list(aucs.values())))
    rep["worst"] = {"source": worst, "auc": aucs[worst]}
    return rep


def format_source_report(rep: Mapping, *, title: str = "leave-one-source-out") -> str:
    """A table a person reads: one row per held-out source, then pooled, worst and the threshold."""
    def ci(r: Mapping) -> str:
        lo, hi = r.get("auc_ci95", [math.nan, math.nan])
        return f"{r['auc']:.3f} ({lo:.3f}-{hi:.3f})"

    def f(x: float | None) -> str:
        return "   -  " if x is None else f"{x:6.3f}"

    t = rep["threshold"]
    lines = [f"{title}: {rep['n']} images ({rep['n_abnormal']} abnormal), each scored by the model that did not train on its source",
             f"  {'held-out source':<16} {'n':>5} {'abn':>5}  {'AUC (95% CI)':<22} {'sens':>6} {'spec':>6}   at threshold {t['value']:.4f}"]
    for name, r in rep["sources"].items():
        auc = ci(r) if "auc" in r else "one class: no AUC"
        lines.append(f"  {name:<16} {r['n']:>5} {r['n_abnormal']:>5}  {auc:<22} {f(r['sensitivity'])} {f(r['specificity'])}")
    lines.append(f"  {'pooled':<16} {rep['n']:>5} {rep['n_abnormal']:>5}  {ci(rep['pooled']):<22} "
                 f"{f(t.get('sensitivity'))} {f(t.get('specificity'))}")
    lines.append(f"  mean per-source AUC {rep['mean_source_auc']:.3f}; worst source {rep['worst']['source']} "
                 f"(AUC {rep['worst']['auc']:.3f})")
    lines.append(f"  threshold {t['value']:.4f}: {t['method']}")
    return "\n".join(lines)


def check_floor(candidate: Mapping, probe: Mapping, *, name: str = "model") -> list[str]:
    """Where ``candidate`` is below the probe beyond the probe's 95% CI (an empty list: it passes).

    Compared: the pooled out-of-source AUC, and each held-out source's AUC, against the lower bound
    of the probe's bootstrap CI for the same quantity.
    """
    bad = []
    lo = probe["pooled"]["auc_ci95"][0]
    if candidate["pooled"]["auc"] < lo:
        bad.append(f"pooled out-of-source AUC {candidate['pooled']['auc']:.3f} < probe {probe['pooled']['auc']:.3f} "
                   f"(95% CI lower bound {lo:.3f})")
    for src, pr in probe["sources"].items():
        cr = candidate["sources"].get(src)
        if "auc" not in pr or cr is None or "auc" not in cr:
            continue
        if cr["auc"] < pr["auc_ci95"][0]:
            bad.append(f"{src} AUC {cr['auc']:.3f} < probe {pr['auc']:.3f} (95% CI lower bound {pr['auc_ci95'][0]:.3f})")
    return [f"{name}: {b}" for b in bad]


def enforce_floor(candidate: Mapping, probe: Mapping, *, name: str = "model") -> None:
    """Raise :class:`BelowFloor` naming the numbers when :func:`check_floor` finds anything."""
    bad = check_floor(candidate, probe, name=name)
    if bad:
        raise BelowFloor("refusing to ship a model below the linear-probe floor out of source: " + "; ".join(bad))
