"""FP32-vs-INT8 quantization report: sizes, probability / verdict agreement, AUC, heatmap fidelity.

Written into the bundle as ``reports/quantization.json`` (``BundleWriter.add_report``). Every entry
records the machine it was measured on (:func:`machine_record`: CPU model, ISA flags, library
versions): an INT8 model's agreement with FP32 depends on the CPU's INT8 kernels (issue 12).
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_screen.errors import UsageError
from edge_screen.fidelity import heatmap_pearson  # noqa: F401 - one implementation, re-exported here
from edge_screen.metrics import finite_or_none, roc_auc

log = logging.getLogger(__name__)

HOT_FRACTION = 0.10  # "hottest 10% of pixels" for the heatmap IoU


def hot_iou(a: np.ndarray, b: np.ndarray, *, fraction: float = HOT_FRACTION) -> np.ndarray:
    """Per-image IoU of the hottest ``fraction`` of pixels of two heatmap batches [B,h,w]."""
    n = a[0].size
    k = max(1, int(round(fraction * n)))
    out = np.empty(len(a))
    for i, (x, y) in enumerate(zip(a.reshape(len(a), -1), b.reshape(len(b), -1))):
        hx = set(np.argsort(-x, kind="stable")[:k].tolist())
        hy = set(np.argsort(-y, kind="stable")[:k].tolist())
        out[i] = len(hx & hy) / len(hx | hy)
    return out


@dataclass(frozen=True)
class QuantizationReport:
    """One FP32-vs-quantized comparison (all numbers on the same preprocessed images)."""

    reference: str  # e.g. "onnxruntime/fp32"
    candidate: str  # e.g. "openvino/int8"
    images: int
    size_bytes: dict[str, int]
    prob_max_abs_diff: float
    prob_mean_abs_diff: float
    threshold: float
    verdict_agreement: float  # fraction of images with the same verdict at `threshold`
    auc_reference: float | None
    auc_candidate: float | None
    heatmap_pearson_mean: float
    heatmap_pearson_min: float
    heatmap_iou_top10_mean: float
    heatmap_iou_top10_min: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def compare_outputs(
    reference: tuple[np.ndarray, np.ndarray],
    candidate: tuple[np.ndarray, np.ndarray],
    *,
    reference_name: str,
    candidate_name: str,
    threshold: float,
    labels: np.ndarray | None = None,
    sizes: dict[str, str | os.PathLike] | None = None,
) -> QuantizationReport:
    """Build the report from (probabilities [N,2], heatmap [N,h,w]) of both models on the same images.

    Args:
        threshold: the bundle's operating threshold on P(abnormal) (verdict = p >= threshold).
        labels: [N] 0/1 ground truth; AUCs are reported when given and both classes are present (None otherwise).
        sizes: ``{name: file}``; the byte size of each file is recorded.
    """
    (p_ref, h_ref), (p_can, h_can) = reference, candidate
    if p_ref.shape != p_can.shape or h_ref.shape != h_can.shape:
        raise UsageError(f"output shapes differ: {p_ref.shape}/{h_ref.shape} vs {p_can.shape}/{h_can.shape}")
    diff = np.abs(p_ref[:, 1] - p_can[:, 1])
    verdict = np.mean((p_ref[:, 1] >= threshold) == (p_can[:, 1] >= threshold))
    r = heatmap_pearson(h_ref, h_can)
    iou = hot_iou(h_ref, h_can)
    auc_ref = auc_can = None
    if labels is not None:
        auc_ref = finite_or_none(roc_auc(labels, p_ref[:, 1]))  # None: one class only (AUC undefined)
        auc_can = finite_or_none(roc_auc(labels, p_can[:, 1]))
    report = QuantizationReport(
        reference=reference_name,
        candidate=candidate_name,
        images=int(len(p_ref)),
        size_bytes={k: Path(v).stat().st_size for k, v in (sizes or {}).items()},
        prob_max_abs_diff=float(diff.max()),
        prob_mean_abs_diff=float(diff.mean()),
        threshold=float(threshold),
        verdict_agreement=float(verdict),
        auc_reference=auc_ref,
        auc_candidate=auc_can,
        heatmap_pearson_mean=float(r.mean()),
        heatmap_pearson_min=float(r.min()),
        heatmap_iou_top10_mean=float(iou.mean()),
        heatmap_iou_top10_min=float(iou.min()),
    )
    log.info(
        "%s vs %s: |dp| max %.4f mean %.4f, verdicts %.3f, heatmap r %.3f, IoU10 %.3f",
        candidate_name, reference_name, report.prob_max_abs_diff, report.prob_mean_abs_diff,
        report.verdict_agreement, report.heatmap_pearson_mean, report.heatmap_iou_top10_mean,
    )  # fmt: skip
    return report


def machine_record() -> dict:
    """Where a report was measured: CPU model, ISA flags (avx2, avx512_vnni, avx_vnni, amx...), INT8
    dot-product kind and the runtime library versions."""
    import platform
    from importlib import metadata

    from edge_screen.cpuinfo import isa_record

    libs = {}
    for dist in ("onnxruntime", "openvino", "nncf", "nvidia-modelopt", "numpy"):
        try:
            libs[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            libs[dist] = None
    return {**isa_record(), "system": platform.platform(), "libraries": libs}
