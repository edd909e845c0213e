"""INT8 vs FP32 of a bundle on labelled photos, through the runtime classes the app uses (issue 12).

    python quantize/recipes/int8_agreement.py BUNDLE report.csv holdout.csv [--json OUT]

For every CPU INT8 model of the bundle (ONNX Runtime, OpenVINO), on each CSV (``file,label,...``):
verdict agreement with ONNX Runtime FP32 at the bundle's threshold, mean and max |p(INT8) - p(FP32)|,
and AUC(INT8) - AUC(FP32). Photos are read and preprocessed once, as the bundle says; unreadable ones
are counted and skipped. Prints one line per (model, CSV) and the CPU's INT8 kind.

When the model's entry declares a borderline re-check (``edge_screen.recheck``), the same numbers
are also given for what the screener reports: photos whose INT8 P(abnormal) lies within the margin
of the threshold take the FP32 result (``rechecked``: their share).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _photos(csv_path: Path, prep) -> tuple[np.ndarray, np.ndarray, int]:  # noqa: ANN001
    from edge_screen.errors import EdgeScreenError
    from edge_screen.imageio import load_image
    from edge_screen.preprocess import preprocess
    from edge_screen.quantize.data import read_samples

    xs, ys, bad = [], [], 0
    for s in read_samples(csv_path):
        try:
            xs.append(preprocess(load_image(s.path, target_size=prep.input_size).rgb, prep).tensor)
            ys.append(s.label)
        except EdgeScreenError:
            bad += 1
    return np.stack(xs).astype(np.float32), np.asarray(ys), bad


def _probs(rt, x: np.ndarray) -> np.ndarray:  # noqa: ANN001
    return np.concatenate([rt.run(x[i : i + 16])[0][:, 1] for i in range(0, len(x), 16)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("data", type=Path, nargs="+", help="labelled CSV(s)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    from sklearn.metrics import roc_auc_score

    from edge_screen.bundle import load_bundle
    from edge_screen.cpuinfo import int8_dot_product
    from edge_screen.recheck import entry_policy, rechecked_probability
    from edge_screen.runtimes.selection import get_runtime_class

    b = load_bundle(args.bundle)
    thr = b.threshold
    ref = get_runtime_class("onnxruntime")(b, b.model("onnxruntime", "fp32"), threads=args.threads)
    int8 = [e for e in b.models if e.precision == "int8" and e.backend in ("onnxruntime", "openvino")]
    out: dict = {"bundle": f"{b.name} {b.version}", "int8_kind": int8_dot_product(), "threshold": thr, "results": {}}
    print(f"{b.name} {b.version}; CPU INT8 kind {out['int8_kind']}; threshold {thr:.4f}")
    for csv_path in args.data:
        x, y, bad = _photos(csv_path, b.preprocessing)
        p32 = _probs(ref, x)
        auc32 = roc_auc_score(y, p32) if len(set(y.tolist())) == 2 else None
        for e in int8:
            p = _probs(get_runtime_class(e.backend)(b, e, threads=args.threads), x)
            dp = np.abs(p - p32)
            r = {"photos": len(x), "unreadable": bad, "agreement": float(np.mean((p >= thr) == (p32 >= thr))),
                 "mean_abs_dp": float(dp.mean()), "max_abs_dp": float(dp.max()),
                 "delta_auc": None if auc32 is None else float(roc_auc_score(y, p) - auc32)}  # fmt: skip
            d = "n/a" if r["delta_auc"] is None else f"{r['delta_auc']:+.4f}"
            print(f"{e.backend}/int8 {csv_path.name}: {len(x)} photos, agreement {100 * r['agreement']:.1f}%, "
                  f"mean |dp| {r['mean_abs_dp']:.4f}, max {r['max_abs_dp']:.3f}, dAUC {d}")  # fmt: skip
            policy = entry_policy(e, b.name)
            if policy is not None:
                ps, band = rechecked_probability(p, p32, thr, policy.margin)
                dps = np.abs(ps - p32)
                r["recheck"] = {"margin": policy.margin, "rechecked": float(band.mean()),
                                "agreement": float(np.mean((ps >= thr) == (p32 >= thr))),
                                "mean_abs_dp": float(dps.mean()), "max_abs_dp": float(dps.max()),
                                "delta_auc": None if auc32 is None else float(roc_auc_score(y, ps) - auc32)}  # fmt: skip
                q = r["recheck"]
                d = "n/a" if q["delta_auc"] is None else f"{q['delta_auc']:+.4f}"
                print(f"  with the re-check (margin {policy.margin:.3f}, {100 * q['rechecked']:.1f}% re-checked): "
                      f"agreement {100 * q['agreement']:.1f}%, mean |dp| {q['mean_abs_dp']:.4f}, "
                      f"max {q['max_abs_dp']:.3f}, dAUC {d}")  # fmt: skip
            out["results"][f"{e.backend}/int8 {csv_path.name}"] = r
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
