"""Borderline re-check: a reduced-precision result close to the threshold is decided by FP32.

Why (issue 12): an INT8 model differs from its FP32 reference by a small, fixed amount per photo
(mean |dp| 0.009, max 0.048 on the shipped bundle's 200 report photos), and the strongly regularised
head puts many photos within a few hundredths of the 0.248 threshold, so 1-1.5% of INT8 verdicts
still differed from FP32. A verdict can only differ when the photo's INT8 probability lies within
|dp| of the threshold. So every photo whose reduced-precision P(abnormal) falls inside a band of
``margin`` around the threshold is run again through an FP32 model, and the FP32 outputs (verdict,
probability, heatmap, learned-gate outputs) are what the screener reports for it. Outside the band
the reduced-precision verdict is the FP32 one unless the model's error on that photo exceeds the
margin, which is at least the largest error measured on the exporter's validation photos (and on
this machine's golden set, :mod:`edge_screen.selfcheck`).

The policy is part of the model entry in the manifest (written by the exporter from its FP32 vs
INT8 comparison, :func:`policy_from_comparison`)::

    "recheck": {"margin": 0.05, "fraction": 0.155, "images": 200,
                "basis": "max |dp| 0.0477 on 200 validation photos, rounded up to 0.005"}

``fraction`` is the share of those photos that fell inside the band: what the measured backend
choice adds as FP32 work per photo. An entry without ``recheck`` is used as it is (older bundles).

The learned quality gate (:mod:`edge_screen.gate`) reads the same model's extra outputs, and INT8 moves
them too: on 423 photos (report + held-out sets) |dP(ungradable)| was 0.0026 on average but up to
0.34, and two photos FP32 graded were rejected by the INT8 gate. So a photo is also re-checked when
the reduced-precision gate rejects it, or comes within ``margin`` of its P(ungradable) limit or within
:data:`GATE_OOD_BAND` of its distance limit (:func:`gate_borderline`): a retake is asked for only when
FP32 agrees. Rejections are rare (2-3% of photos), so this costs little.

Public API: :class:`RecheckPolicy`, :func:`entry_policy`, :func:`policy_from_comparison`,
:func:`borderline`, :func:`rechecked_probability`, :func:`gate_borderline`, :data:`MARGIN_STEP`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_screen.errors import BundleError, UsageError

if TYPE_CHECKING:
    from edge_screen.bundle import ModelEntry

KEY = "recheck"
#: margins are rounded up to a multiple of this (a margin reads as "0.05", not "0.0477")
MARGIN_STEP = 0.005
#: a band wider than this re-checks most photos: the reduced-precision model is not worth using
MAX_MARGIN = 0.25
#: photos whose out-of-distribution distance is at least (1 - this) x the gate's limit are re-checked:
#: INT8 moved the distance by up to 43% (99th percentile) and 89% (max) of its FP32 value on 423 photos
GATE_OOD_BAND = 0.5


@dataclass(frozen=True)
class RecheckPolicy:
    """Photos whose P(abnormal) lies within ``margin`` of the threshold are decided by FP32.

    ``fraction``: share of the ``images`` validation photos that fell inside the band (0..1), or
    None when unknown; ``basis``: how the margin was set, for people.
    """

    margin: float
    fraction: float | None = None
    images: int | None = None
    basis: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.margin, (int, float)) and math.isfinite(self.margin) and 0.0 <= self.margin <= MAX_MARGIN):
            raise UsageError(f"recheck margin must be a number in 0..{MAX_MARGIN}, got {self.margin!r}")
        if self.fraction is not None and not (math.isfinite(self.fraction) and 0.0 <= self.fraction <= 1.0):
            raise UsageError(f"recheck fraction must be in 0..1, got {self.fraction!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"margin": self.margin, "fraction": self.fraction, "images": self.images, "basis": self.basis}

    @classmethod
    def from_dict(cls, d: Any) -> RecheckPolicy:
        if not isinstance(d, dict) or "margin" not in d:
            raise UsageError(f"a recheck policy is a mapping with at least 'margin', got {d!r}")
        unknown = sorted(set(d) - {"margin", "fraction", "images", "basis"})
        if unknown:
            raise UsageError(f"unknown recheck field(s) {unknown}; valid: margin, fraction, images, basis")
        try:
            fraction = None if d.get("fraction") is None else float(d["fraction"])
            images = None if d.get("images") is None else int(d["images"])
            return cls(float(d["margin"]), fraction, images, str(d.get("basis", "")))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"recheck policy {d!r} is not valid: {exc}") from exc

    def widened(self, max_abs_dp: float, why: str) -> RecheckPolicy:
        """This policy, with the margin raised to ``max_abs_dp`` (rounded up) when that is larger."""
        need = round_margin(max_abs_dp)
        if need <= self.margin:
            return self
        if need > MAX_MARGIN:
            raise UsageError(f"a recheck margin of {need:.3f} ({why}) is wider than {MAX_MARGIN}")
        # the fraction was measured for the narrower band: scaled with the band's width (an estimate)
        fraction = None if self.fraction is None or self.margin == 0 else min(1.0, round(self.fraction * need / self.margin, 4))
        return RecheckPolicy(need, fraction, self.images, f"{self.basis}; widened to {need:.3f} ({why}), "
                                                           "fraction scaled with the width")  # fmt: skip


def round_margin(max_abs_dp: float) -> float:
    """``max_abs_dp`` rounded up to a multiple of :data:`MARGIN_STEP` (a tiny float excess is ignored)."""
    steps = math.ceil(float(max_abs_dp) / MARGIN_STEP - 1e-9)
    return round(max(steps, 0) * MARGIN_STEP, 6)


def entry_policy(entry: ModelEntry, bundle_name: str = "") -> RecheckPolicy | None:
    """The manifest's recheck policy of one model entry; None when it has none (or is FP32).

    Raises :class:`BundleError` for a malformed one: a bundle that promises re-checks but cannot
    say how wide must not be used as if it had none.
    """
    raw = entry.extra.get(KEY)
    if raw is None:
        return None
    try:
        return RecheckPolicy.from_dict(raw)
    except UsageError as exc:
        raise BundleError(f"bundle {bundle_name!r}: {entry.backend}/{entry.precision} entry: field 'recheck' is "
                          f"invalid: {exc}; re-export the bundle") from exc  # fmt: skip


def borderline(p_abnormal: np.ndarray, threshold: float, margin: float) -> np.ndarray:
    """Boolean mask of the photos whose P(abnormal) lies strictly within ``margin`` of ``threshold``."""
    p = np.asarray(p_abnormal, dtype=np.float64)
    return np.abs(p - float(threshold)) < float(margin)


def rechecked_probability(p_abnormal: np.ndarray, p_reference: np.ndarray, threshold: float, margin: float
                          ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """What the screener reports for P(abnormal) with the re-check (the threshold band only, not the
    gate): the reference (FP32) value inside the band, the reduced-precision one outside. Returns
    ``(p, band)`` (float64, bool), for reports and benchmarks that compare whole photo sets."""
    p = np.asarray(p_abnormal, dtype=np.float64)
    ref = np.asarray(p_reference, dtype=np.float64)
    if p.shape != ref.shape:
        raise UsageError(f"need the same photos in both, got {p.shape} and {ref.shape}")
    band = borderline(p, threshold, margin)
    return np.where(band, ref, p), band


def gate_borderline(gate_probabilities: np.ndarray, ood_distance: np.ndarray, gate: Any, margin: float) -> np.ndarray:
    """Boolean mask of the photos whose learned-gate decision FP32 must confirm: rejected by ``gate``
    (a :class:`~edge_screen.gate.LearnedGate`), or within ``margin`` below its P(ungradable) limit, or
    within :data:`GATE_OOD_BAND` of its distance limit. ``gate_probabilities`` ``(B, K)``, class 0 = gradable."""
    p_bad = 1.0 - np.asarray(gate_probabilities, dtype=np.float64).reshape(len(gate_probabilities), -1)[:, 0]
    ood = np.asarray(ood_distance, dtype=np.float64).reshape(-1)
    return (p_bad >= gate.max_ungradable - float(margin)) | (ood >= gate.max_ood * (1.0 - GATE_OOD_BAND))


def policy_from_comparison(p_reference: np.ndarray, p_candidate: np.ndarray, threshold: float, *,
                           what: str = "validation photos") -> RecheckPolicy:  # fmt: skip
    """The policy an exporter writes for a reduced-precision model, from its outputs and the FP32
    reference's on the same photos: margin = the largest |dp| seen, rounded up to :data:`MARGIN_STEP`;
    fraction = share of those photos the band would re-check."""
    ref = np.asarray(p_reference, dtype=np.float64).reshape(-1)
    cand = np.asarray(p_candidate, dtype=np.float64).reshape(-1)
    if ref.shape != cand.shape or ref.size == 0:
        raise UsageError(f"need the same photos in both, got {ref.shape} and {cand.shape}")
    worst = float(np.abs(ref - cand).max())
    margin = round_margin(worst)
    if margin > MAX_MARGIN:
        raise UsageError(f"the largest |dp| on the {what} is {worst:.3f}: no re-check band below {MAX_MARGIN} "
                         "covers it; this reduced-precision model should not be shipped")  # fmt: skip
    fraction = float(borderline(cand, threshold, margin).mean())
    return RecheckPolicy(margin, round(fraction, 4), int(ref.size),
                         f"max |dp| {worst:.4f} on {ref.size} {what}, rounded up to {MARGIN_STEP}")  # fmt: skip
