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
    ap.add_argument("--skip-lpft", action="store_true")
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
    for name, views, balance in (("probe, plain view", 1, "class"), ("probe, + flip (the floor)", 2, "class"),
                                 ("probe, + flip + camera view", min(3, args.views), "class"),
                                 ("probe, + flip, source x label balance", 2, "source_label")):
        cfg = dataclasses.replace(base, probe_views=views, probe_balance=balance)
        t0 = time.perf_counter()
        pr = sc.run_probe(cfg, table, bank)
        probes[name] = (cfg, pr)
        rows.append(_row(name, pr["report"], {"C": pr["C"], "seconds": round(time.perf_counter() - t0)}))
        save()
    if args.skip_lpft:
        return 0
    floor_cfg, floor_run = probes["probe, + flip (the floor)"]
    best_name = max(probes, key=lambda k: probes[k][1]["report"]["pooled"]["auc"])
    pcfg, prun = probes[best_name]
    fbank = sc.advance_bank(base, bank)
    full = {"epochs": args.ft_epochs, "lr": args.ft_lr, "steps_per_epoch": args.ft_steps, "views": args.views,
            "balance": "source_label", "head_init": "probe", "ema": args.ema}
    variants = [("LP-FT: probe head, camera views, source x label, EMA", {}),
                ("  plain FT (random head)", {"head_init": "random"}),
                ("  no camera view (plain + flip)", {"views": 2}),
                ("  class-balanced sampling", {"balance": "class"}),
                ("  no EMA", {"ema": 0.0})]
    if args.teacher_run:
        variants.append((f"  + distillation (KL weight {args.kd_weight})", {"kd_weight": args.kd_weight}))
    for name, change in variants:
        ft = {**full, **change}
        cfg = dataclasses.replace(pcfg, finetune=ft, teacher=args.teacher_run)
        t0 = time.perf_counter()
        fr = sc.run_finetune(cfg, table, fbank, prun)
        rows.append(_row(name, fr["report"], {"epochs": fr["epochs"], "per_epoch": fr["pooled_per_epoch"], "ft": ft,
                                              "probe": best_name, "seconds": round(time.perf_counter() - t0),
                                              "floor": sc.loso_mod.check_floor(fr["report"], floor_run["report"])}))
        save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
