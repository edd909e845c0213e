"""How faithful a model's outputs are to a reference's on the same inputs (pure numpy, no runtime).

One implementation for the exporter's quantization report (``edge_screen.quantize.quant_report``)
and the on-device self-check (:mod:`edge_screen.selfcheck`), so both judge by the same numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edge_screen.errors import UsageError


def heatmap_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image Pearson r of two heatmap batches ``[B,h,w]``; 1.0 where both maps are constant and equal."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    num = (a * b).sum(1)
    flat = den == 0
    r = np.where(flat, 0.0, num / np.where(flat, 1.0, den))
    same = flat & (np.abs(a - b).max(1) == 0)
    return np.where(same, 1.0, r)


@dataclass(frozen=True)
class FidelityLimits:
    """When a model counts as unfaithful to its FP32 reference (issue 12's self-check rule).

    ``max_verdict_flips``: verdicts (P(abnormal) >= threshold) allowed to differ; ``max_mean_abs_dp``:
    bound on the mean |P_model - P_reference| of the abnormal class; ``min_heatmap_r``: bound on
    the mean per-image Pearson r of the heatmaps.
    """

    max_verdict_flips: int = 0
    max_mean_abs_dp: float = 0.02
    min_heatmap_r: float = 0.9

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> FidelityLimits:
        d = dict(d or {})
        unknown = sorted(set(d) - {"max_verdict_flips", "max_mean_abs_dp", "min_heatmap_r"})
        if unknown:
            raise UsageError(f"unknown fidelity limit(s) {unknown}; valid: max_verdict_flips, max_mean_abs_dp, min_heatmap_r")
        return cls(int(d.get("max_verdict_flips", cls.max_verdict_flips)),
                   float(d.get("max_mean_abs_dp", cls.max_mean_abs_dp)),
                   float(d.get("min_heatmap_r", cls.min_heatmap_r)))  # fmt: skip


@dataclass(frozen=True)
class Fidelity:
    """A model's outputs compared with the reference's on the same images."""

    images: int
    verdict_flips: int
    flipped: tuple[str, ...]  # names of the images whose verdict differs
    mean_abs_dp: float
    max_abs_dp: float
    heatmap_r_mean: float
    heatmap_r_min: float
    faithful: bool
    reasons: tuple[str, ...]  # one sentence per broken limit (empty when faithful)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["flipped"] = list(self.flipped)
        d["reasons"] = list(self.reasons)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Fidelity:
        return cls(int(d["images"]), int(d["verdict_flips"]), tuple(d["flipped"]), float(d["mean_abs_dp"]),
                   float(d["max_abs_dp"]), float(d["heatmap_r_mean"]), float(d["heatmap_r_min"]),
                   bool(d["faithful"]), tuple(d["reasons"]))  # fmt: skip


def judge(
    reference: tuple[np.ndarray, np.ndarray],
    candidate: tuple[np.ndarray, np.ndarray],
    *,
    threshold: float,
    limits: FidelityLimits = FidelityLimits(),
    names: tuple[str, ...] | list[str] | None = None,
) -> Fidelity:
    """Compare ``(probabilities [N,2], heatmap [N,h,w])`` of a candidate with the reference's.

    Non-finite candidate outputs are unfaithful whatever the numbers say.
    """
    (p_ref, h_ref), (p_can, h_can) = reference, candidate
    p_ref, p_can = np.asarray(p_ref, np.float64), np.asarray(p_can, np.float64)
    h_ref, h_can = np.asarray(h_ref, np.float64), np.asarray(h_can, np.float64)
    if p_ref.shape != p_can.shape or h_ref.shape != h_can.shape or p_ref.ndim != 2 or len(p_ref) == 0:
        raise UsageError(f"output shapes differ or are empty: {p_ref.shape}/{h_ref.shape} vs {p_can.shape}/{h_can.shape}")
    n = len(p_ref)
    names = tuple(names) if names is not None else tuple(str(i) for i in range(n))
    reasons: list[str] = []
    if not (np.isfinite(p_can).all() and np.isfinite(h_can).all()):
        bad = int((~np.isfinite(p_can).all(1) | ~np.isfinite(h_can.reshape(n, -1)).all(1)).sum())
        reasons.append(f"non-finite outputs on {bad} of {n} golden images")
        p_can, h_can = np.nan_to_num(p_can, nan=-1.0), np.nan_to_num(h_can, nan=0.0)
    dp = np.abs(p_can[:, 1] - p_ref[:, 1])
    flips = (p_ref[:, 1] >= threshold) != (p_can[:, 1] >= threshold)
    r = heatmap_pearson(h_ref, h_can)
    fid_flips = int(flips.sum())
    if fid_flips > limits.max_verdict_flips:
        which = ", ".join(n_ for n_, f in zip(names, flips) if f)
        reasons.append(f"verdict differs from FP32 on {fid_flips} of {n} golden images ({which})")
    if dp.mean() > limits.max_mean_abs_dp:
        reasons.append(f"mean |P(abnormal) - FP32| is {dp.mean():.3f} > {limits.max_mean_abs_dp:.3f} (max {dp.max():.3f})")
    if r.mean() < limits.min_heatmap_r:
        reasons.append(f"heatmap correlation with FP32 is {r.mean():.2f} < {limits.min_heatmap_r:.2f}")
    return Fidelity(
        images=n,
        verdict_flips=fid_flips,
        flipped=tuple(n_ for n_, f in zip(names, flips) if f),
        mean_abs_dp=float(dp.mean()),
        max_abs_dp=float(dp.max()),
        heatmap_r_mean=float(r.mean()),
        heatmap_r_min=float(r.min()),
        faithful=not reasons,
        reasons=tuple(reasons),
    )
