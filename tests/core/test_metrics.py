"""edge_screen.metrics (the one AUC, operating points, ECE) against brute force, scikit-learn and hand-computed cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edge_screen import metrics as m
from edge_screen.errors import UsageError

skm = pytest.importorskip("sklearn.metrics")


@pytest.fixture()
def scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.35 * y + rng.normal(0.4, 0.2, 300), 0, 1).round(2)  # rounding makes ties
    return y, p


def _pairwise_auc(y: np.ndarray, p: np.ndarray) -> float:
    """The AUC by its definition: P(score of an abnormal > score of a normal), ties counted 1/2."""
    pos, neg = p[y == 1], p[y == 0]
    wins = sum(float(a > b) + 0.5 * float(a == b) for a in pos for b in neg)
    return wins / (pos.size * neg.size)


@pytest.mark.parametrize("seed", range(5))
def test_auc_equals_brute_force_pairwise_count_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 120))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]  # both classes
    p = rng.integers(0, 6, n) / 5.0 + 0.1 * y * rng.random(n).round(1)  # few distinct values: many ties
    assert m.roc_auc(y, p) == pytest.approx(_pairwise_auc(y, p), abs=1e-12)
    assert m.roc_auc(y, -p) == pytest.approx(1.0 - _pairwise_auc(y, p), abs=1e-12)


def test_auc_single_class_is_nan_and_json_gets_null() -> None:
    for y in ([1, 1, 1], [0, 0], []):
        auc = m.roc_auc(y, np.linspace(0, 1, len(y)))
        assert isinstance(auc, float) and math.isnan(auc)
    assert m.finite_or_none(float("nan")) is None and m.finite_or_none(math.inf) is None
    assert m.finite_or_none(None) is None and m.finite_or_none(np.float32(0.5)) == 0.5
    safe = m.json_safe({"auc": float("nan"), "ci": (0.1, np.float64("inf")), "n": 3, "groups": [{"auc": 0.7}]})
    assert json.loads(json.dumps(safe, allow_nan=False)) == {"auc": None, "ci": [0.1, None], "n": 3, "groups": [{"auc": 0.7}]}


def test_auc_bad_input_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="labels must be 0/1"):
        m.roc_auc([0, 0.5, 1], [0.1, 0.2, 0.3])  # 0.5 is not silently read as 0
    with pytest.raises(UsageError, match="labels must be 0/1"):
        m.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(UsageError, match="differ in length"):
        m.roc_auc([0, 1], [0.1, 0.2, 0.3])


def test_auc_and_roc_match_sklearn(scores) -> None:
    y, p = scores
    assert m.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    fpr, tpr, thr = m.roc_curve(y, p)
    sfpr, stpr, sthr = skm.roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sfpr)
    np.testing.assert_allclose(tpr, stpr)
    np.testing.assert_allclose(thr[1:], sthr[1:])


def test_operating_point_matches_sklearn(scores) -> None:
    y, p = scores
    op = m.operating_point(y, p, 0.5)
    tn, fp, fn, tp = skm.confusion_matrix(y, p >= 0.5).ravel()
    assert (op.tn, op.fp, op.fn, op.tp) == (tn, fp, fn, tp)
    assert op.sensitivity == pytest.approx(skm.recall_score(y, p >= 0.5))
    assert op.ppv == pytest.approx(skm.precision_score(y, p >= 0.5))
    assert op.accuracy == pytest.approx(skm.accuracy_score(y, p >= 0.5))


@pytest.mark.parametrize("target", [0.9, 0.95, 1.0])
def test_threshold_for_sensitivity_is_the_highest_reaching_target(scores, target: float) -> None:
    y, p = scores
    t = m.threshold_for_sensitivity(y, p, target)
    assert m.operating_point(y, p, t).sensitivity >= target
    higher = p[p > t]
    if higher.size:
        assert m.operating_point(y, p, higher.min()).sensitivity < target


def test_ece_hand_computed() -> None:
    y = np.array([0, 1, 1, 1])
    p = np.array([0.05, 0.05, 0.95, 0.95])
    # bin 0: mean y 0.5 vs p 0.05 (2 cases); bin 9: 1.0 vs 0.95 (2 cases)
    assert m.expected_calibration_error(y, p) == pytest.approx(0.5 * 0.45 + 0.5 * 0.05)


def test_bootstrap_ci_brackets_auc_and_report(scores) -> None:
    y, p = scores
    lo, hi = m.bootstrap_auc_ci(y, p, n_boot=300)
    auc = m.roc_auc(y, p)
    assert lo < auc < hi and hi - lo < 0.2
    r = m.evaluate_scores(y, p, threshold=0.5, n_boot=100)
    assert r["confusion_matrix"] == skm.confusion_matrix(y, p >= 0.5).tolist()
    assert set(r["at_sensitivity"]) == {"0.90", "0.95"}
    assert np.isnan(m.roc_auc([1, 1], [0.2, 0.3]))


def test_metrics_module_is_torch_free() -> None:
    import subprocess
    import sys

    code = "import sys, edge_screen.metrics; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
