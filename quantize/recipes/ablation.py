"""Leave-one-source-out ablation of the transfer recipe (MODEL_CARD.md "Ablation").

One process, so the cached features are read once (``edge-screen evaluate --cv source`` runs one row
per call and reads the cache each time)::

    python quantize/recipes/ablation.py --data DEV.csv EXTRA.csv --cache /work/cache --out runs/ablation

Rows (each: pooled out-of-source AUC with CI, per-source AUC, worst source, sens/spec at the pooled
leave-one-source-out threshold), written to ``OUT/results.json`` and ``OUT/ablation.md`` after each:

* probe: views 1 / 2 (+flip) / 3 (+one camera-augmented view); class vs source x label balance;
* LP-FT on the best probe: the full recipe, then one change at a time (random head = plain
  fine-tuning, no camera views, class-balanced sampling, no EMA);
* distillation (with ``--teacher-run``): the LP-FT student with a KL term to the teacher's fold logits.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path


def _row(name: str, rep: dict, extra: dict | None = None) -> dict:
    t = rep["threshold"]
    return {"name": name, "pooled": rep["pooled"]["auc"], "pooled_ci": rep["pooled"]["auc_ci95"],
            "sources": {k: v.get("auc") for k, v in rep["sources"].items()}, "mean": rep["mean_source_auc"],
            "worst": rep["worst"], "sens": t["sensitivity"], "spec": t["specificity"], "threshold": t["value"],
            **(extra or {})}


def _markdown(rows: list[dict]) -> str:
    srcs = sorted({s for r in rows for s in r["sources"]})
    head = "| recipe | pooled AUC (95% CI) | " + " | ".join(srcs) + " | mean | sens / spec at pooled threshold |"
    lines = [head, "|" + "---|" * (len(srcs) + 4)]
    for r in rows:
        lo, hi = r["pooled_ci"]
        cells = " | ".join(f"{r['sources'][s]:.3f}" if r["sources"].get(s) is not None else "–" for s in srcs)
        lines.append(f"| {r['name']} | {r['pooled']:.3f} ({lo:.3f}–{hi:.3f}) | {cells} | {r['mean']:.3f} | "
                     f"{r['sens']:.3f} / {r['spec']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="effnet_lite0")
    ap.add_argument("--img-size", type=int, default=384)
    ap.add_argument("--views", type=int, default=3, help="cached views per image (3: plain, flip, one camera view)")
    ap.add_argument("--ft-stage", type=int, default=8)
    ap.add_argument("--ft-epochs", type=int, default=3)
    ap.add_argument("--ft-steps", type=int, default=25)
    ap.add_argument("--ft-lr", type=float, default=3e-4)
    ap.add_argument("--ema", type=float, default=0.98)
    ap.add_argument("--teacher-run", help="a probe or LP-FT run folder with fold_logits.npz (distillation rows)")
    ap.add_argument("--kd-weight", type=float, default=0.5)
    ap.add_argument("--rows", default="p1,p2,p3,p4,full,ft,nocam,classbal,noema,kd",
                    help="rows to run (p1 plain, p2 +flip, p3 +camera, p4 source x label; full, ft, nocam, classbal, noema, kd)")
    ap.add_argument("--probe", default="p1", help="the probe row LP-FT starts from and is compared with (run it too)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for n in ("onnx_ir", "onnxscript"):
        logging.getLogger(n).setLevel(logging.WARNING)

    from edge_screen.quantize import source_cv as sc

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = sc.SourceCVConfig(model=args.model, data=args.data, out=str(out), img_size=args.img_size,
                             cache_features=args.cache, ft_stage=args.ft_stage)
    table = sc.load_table(base)
    bank = sc._pooled_bank(base, table, args.img_size, args.views)
    rows: list[dict] = []
    results = out / "results.json"

    def save() -> None:
        results.write_text(json.dumps(rows, indent=1, default=float))
        (out / "ablation.md").write_text(_markdown(rows))

    probes = {}
    want = set(args.rows.split(",")) | {args.probe}
    for key, name, views, balance in (("p1", "probe, plain view (the floor)", 1, "class"),
                                      ("p2", "probe, + flip", 2, "class"),
                                      ("p3", "probe, + flip + camera view", 3, "class"),
                                      ("p4", "probe, plain view, source x label balance", 1, "source_label")):
        if key not in want or views > args.views:
            continue
        cfg = dataclasses.replace(base, probe_views=views, probe_balance=balance)
        t0 = time.perf_counter()
        pr = sc.run_probe(cfg, table, bank)
        probes[key] = (cfg, pr)
        if key in args.rows.split(","):
            rows.append(_row(name, pr["report"], {"C": pr["C"], "seconds": round(time.perf_counter() - t0)}))
            save()
    lp_rows = [r for r in args.rows.split(",") if not r.startswith("p")]
    if not lp_rows:
        return 0
    pcfg, prun = probes[args.probe]
    floor_run = prun
    best_name = args.probe
    fbank = sc.advance_bank(base, bank)
    full = {"epochs": args.ft_epochs, "lr": args.ft_lr, "steps_per_epoch": args.ft_steps, "views": args.views,
            "balance": "source_label", "head_init": "probe", "ema": args.ema}
    cam = "camera view" if args.views >= 3 else "no camera view"
    variants = [("full", f"LP-FT: probe head, flip + {cam}, source x label, EMA", {}),
                ("ft", "  plain FT (random head)", {"head_init": "random"}),
                ("nocam", "  no camera view (plain + flip)", {"views": 2}),
                ("classbal", "  class-balanced sampling", {"balance": "class"}),
                ("noema", "  no EMA", {"ema": 0.0})]
    # Distillation: from --teacher-run, else from the full recipe's own fold models (self-distillation:
    # each fold's teacher never saw the held-out source; its plain-view logits supervise every view).
    variants.append(("kd", f"  + distillation on every image (KL weight {args.kd_weight})", {"kd_weight": args.kd_weight}))
    teacher = args.teacher_run
    for key, name, change in variants:
        if key not in lp_rows and not (key == "full" and "kd" in lp_rows and teacher is None):
            continue
        ft = {**full, **change}
        cfg = dataclasses.replace(pcfg, finetune=ft, teacher=teacher, teacher_outputs=teacher is None and not change)
        t0 = time.perf_counter()
        fr = sc.run_finetune(cfg, table, fbank, prun)
        if cfg.teacher_outputs:
            import numpy as np

            teacher = str(out / "self_teacher")
            Path(teacher).mkdir(exist_ok=True)
            np.savez(Path(teacher) / "fold_logits.npz", paths=np.array(table.paths), **fr["fold_logits"])
        rows.append(_row(name, fr["report"], {"epochs": fr["epochs"], "per_epoch": fr["pooled_per_epoch"], "ft": ft,
                                              "probe": best_name, "seconds": round(time.perf_counter() - t0),
                                              "floor": sc.loso_mod.check_floor(fr["report"], floor_run["report"])}))
        save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
