"""Evaluate a checkpoint or a bundle on labelled images (``edge-screen evaluate``).

The numbers come from :mod:`edge_screen.metrics` (numpy only, the one AUC); this module scores the
images: a checkpoint in PyTorch (:func:`predict`, torch imported only there), a bundle through the
deployed :class:`~edge_screen.screener.Screener`, quality gate included.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from edge_screen.errors import UsageError
from edge_screen.metrics import evaluate_scores, json_safe, roc_auc, roc_curve


def predict(model: Any, dataset: Any, *, batch_size: int = 16, device: Any = "cpu", input_index: int = 0,
            workers: int = 0) -> np.ndarray:
    """P(abnormal) ``(N,) float64`` for every item of ``dataset`` (a ``FundusDataset``; eval mode, ``inputs[input_index]``)."""
    import torch
    from torch.utils.data import DataLoader

    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    out = []
    with torch.no_grad():
        for batch in loader:
            logits = model(batch["inputs"][input_index].to(device))
            out.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


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
        (o / "report.json").write_text(json.dumps(json_safe(report), indent=2))  # NaN (undefined AUC) -> null
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
