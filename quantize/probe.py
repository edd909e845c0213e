"""The linear probe: logistic regression on frozen ImageNet features, as a model and as the floor.

On the project's external photos a probe on frozen EfficientNet-Lite0 @384 features transferred to
unseen cameras far better than fine-tuning (issue 11: pooled AUC 0.93 vs 0.86). So it is both a
shippable model and the floor every trained recipe must clear out of source.

Fit: standardise the pooled features (mean/std of the training rows), class-balanced (or source x
label balanced) L2 logistic regression, ``C`` chosen by leave-one-source-out among :data:`C_GRID`
(pooled out-of-source AUC). The scaler is folded into the weights, ``w' = w / sigma``,
``b' = b - sum(w * mu / sigma)``, and stored as the single ``Linear(C, 2)`` of a
:class:`~edge_screen.quantize.nets.LinearHead` with row 0 = 0 and row 1 = ``w'`` (so the softmax
gives ``sigmoid(w'.x + b')`` and the CAM of class 1 is exactly the probe's evidence map). The
checkpoint is a normal training checkpoint: ``evaluate``, ``export`` and every exporter read it.

Views of training images (flip, camera augmentations) are extra rows; scores use the plain view.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edge_screen.errors import UsageError
from edge_screen import metrics

log = logging.getLogger(__name__)

C_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


@dataclass(frozen=True)
class LinearProbe:
    """Folded logistic regression: ``logit = features @ coef + intercept`` (features un-standardised)."""

    coef: np.ndarray  # (C,) float64
    intercept: float
    C: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float64) @ self.coef + self.intercept

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(abnormal) ``(N,) float64``."""
        return 0.5 * (1.0 + np.tanh(0.5 * self.logit(x)))  # the logistic function, without exp overflow


def sample_weights(y: np.ndarray, sources: np.ndarray | None, balance: str) -> np.ndarray:
    """Per-row weights summing to N: ``class`` balances labels, ``source_label`` each (source, label) cell."""
    y = np.asarray(y)
    if balance == "class" or sources is None:
        keys = y.astype(str)
    elif balance == "source_label":
        keys = np.array([f"{s}|{c}" for s, c in zip(sources, y)])
    elif balance == "none":
        return np.ones(y.size)
    else:
        raise UsageError(f"balance {balance!r} is not valid; use class, source_label or none")
    uniq, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inv]
    return w * (y.size / w.sum())


def fit_probe(x: np.ndarray, y: np.ndarray, *, C: float, weights: np.ndarray | None = None,
              max_iter: int = 2000) -> LinearProbe:
    """Standardise ``x (N, C) float``, fit L2 logistic regression, fold the scaler into the weights."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    x = np.asarray(x, np.float64)
    y = np.asarray(y).astype(np.int64)
    if len(set(y.tolist())) < 2:
        raise UsageError(f"the probe needs both classes to train on; got {int(y.sum())} abnormal of {y.size}")
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd = np.where(sd < 1e-6, 1.0, sd)
    clf = LogisticRegression(C=C, max_iter=max_iter, tol=1e-5)
    # One BLAS thread: these are thin mat-vecs, and on a busy 2-core machine multi-threaded BLAS ran
    # them 10x slower (27 ms vs 2.7 ms for a 2,618 x 1,280 product).
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")  # ConvergenceWarning at the weakest C: the AUC decides, not the optimiser
        clf.fit((x - mu) / sd, y, sample_weight=weights)
    w = clf.coef_[0] / sd
    b = float(clf.intercept_[0] - np.sum(clf.coef_[0] * mu / sd))
    return LinearProbe(w, b, float(C))


def _rows(feats: np.ndarray, idx: np.ndarray, views: int) -> np.ndarray:
    """``feats (N, V, C)`` -> the rows of images ``idx`` over their first ``views`` views ``(len(idx)*views, C)``."""
    return feats[idx, :views].reshape(-1, feats.shape[-1])


def loso_scores(feats: np.ndarray, y: np.ndarray, sources: np.ndarray, *, C: float, views: int = 1,
                balance: str = "class", train_mask: np.ndarray | None = None) -> np.ndarray:
    """Out-of-source P(abnormal) ``(N,)`` with a fixed ``C`` (NaN outside ``train_mask``'s sources)."""
    from edge_screen.quantize.sources import loso_folds

    mask = np.ones(y.size, bool) if train_mask is None else train_mask
    out = np.full(y.size, np.nan)
    idx_all = np.flatnonzero(mask)
    for fold in loso_folds(sources[mask], y[mask]):
        tr, te = idx_all[fold["train"]], idx_all[fold["test"]]
        rows_y = np.repeat(y[tr], views)
        rows_s = np.repeat(sources[tr], views)
        probe = fit_probe(_rows(feats, tr, views), rows_y, C=C, weights=sample_weights(rows_y, rows_s, balance))
        out[te] = probe.predict(feats[te, 0])
    return out


def select_c(feats: np.ndarray, y: np.ndarray, sources: np.ndarray, *, grid: Sequence[float] = C_GRID, views: int = 1,
             balance: str = "class", train_mask: np.ndarray | None = None) -> tuple[float, dict[str, float]]:
    """``(best C, {C: pooled out-of-source AUC})`` by leave-one-source-out over the sources in ``train_mask``."""
    mask = np.ones(y.size, bool) if train_mask is None else train_mask
    scores = {}
    for c in grid:
        p = loso_scores(feats, y, sources, C=c, views=views, balance=balance, train_mask=mask)
        scores[f"{c:g}"] = metrics.roc_auc(y[mask], p[mask])
    best = max(scores, key=lambda k: (scores[k], -float(k)))  # ties: the stronger regularisation
    return float(best), scores


def nested_loso(feats: np.ndarray, y: np.ndarray, sources: np.ndarray, *, grid: Sequence[float] = C_GRID,
                views: int = 1, balance: str = "class") -> tuple[np.ndarray, dict]:
    """Honest out-of-source scores of the whole probe recipe: for each held-out source, ``C`` is chosen
    by leave-one-source-out among the *other* sources, then the probe trains on all of them.

    Returns ``(scores (N,), {held-out source: {"C", "inner": {C: AUC}}})``.
    """
    from edge_screen.quantize.sources import loso_folds

    out = np.full(y.size, np.nan)
    info = {}
    for fold in loso_folds(sources, y):
        tr, te = np.flatnonzero(fold["train"]), np.flatnonzero(fold["test"])
        if len(set(sources[tr].tolist())) >= 2:
            c, inner = select_c(feats, y, sources, grid=grid, views=views, balance=balance, train_mask=fold["train"])
        else:
            c, inner = float(grid[0]), {}
        rows_y = np.repeat(y[tr], views)
        probe = fit_probe(_rows(feats, tr, views), rows_y, C=c,
                          weights=sample_weights(rows_y, np.repeat(sources[tr], views), balance))
        out[te] = probe.predict(feats[te, 0])
        info[fold["source"]] = {"C": c, "inner": inner, "probe": probe}
        log.info("probe: held out %s, C=%g (inner LOSO %s), AUC %.4f", fold["source"], c,
                 {k: round(v, 4) for k, v in inner.items()}, metrics.roc_auc(y[te], out[te]) if not fold["one_class"] else float("nan"))
    return out, info


def probe_state_dict(model, probe: LinearProbe):  # noqa: ANN001, ANN201 - FundusClassifier -> state_dict
    """``model``'s state_dict with its LinearHead replaced by the folded probe (row 0 = 0, row 1 = w')."""
    import torch

    from edge_screen.quantize.model_spec import HeadType

    if model.spec.head is not HeadType.LINEAR or model.head.fc.out_features != 2:
        raise UsageError(f"a linear probe needs a model with a 2-class linear head; {model.spec.name} has a "
                         f"{model.spec.head.value} head")
    w = torch.zeros_like(model.head.fc.weight)
    w[1] = torch.as_tensor(probe.coef, dtype=w.dtype)
    b = torch.zeros_like(model.head.fc.bias)
    b[1] = float(probe.intercept)
    with torch.no_grad():
        model.head.fc.weight.copy_(w)
        model.head.fc.bias.copy_(b)
    return model.state_dict()
