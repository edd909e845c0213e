"""``edge-screen train-gate`` (CLI plug-in): fit the learned gradability / out-of-distribution gate.

No torch import at module import time (ARCHITECTURE.md "Packaging").
"""

from __future__ import annotations

import argparse
import json
import logging

log = logging.getLogger(__name__)


def _cmd_train_gate(args: argparse.Namespace) -> int:
    from edge_screen.quantize.gate_train import GateTrainConfig, train_gate

    cfg = GateTrainConfig(model=args.model, arch=args.arch, data=tuple(args.data), out=args.out, variants=args.variants,
                          test_photos=args.test_photos, folds=args.folds, ood_dim=args.ood_dim, c=args.c,
                          max_real_reject=args.max_real_reject, max_heldout_ood=args.max_heldout_ood,
                          negatives=args.negatives, seed=args.seed, threads=args.threads, progress=not args.no_progress,
                          **({"cache_dir": args.cache_dir} if args.cache_dir else {}))  # fmt: skip
    out = train_gate(cfg)
    from edge_screen.quantize.gate_model import load_gate

    _, obj = load_gate(out)
    t = obj["report"]["targets"]
    print(f"gate written: {out}")
    print(json.dumps({k: {"n": v["n"], "rejected": v["rejected"]} for k, v in t.items()}, indent=1))
    print(f"add it to a bundle: edge-screen export --model {args.model} --gate {out} --format ... --out BUNDLE")
    return 0


def register_train_gate(sub: argparse._SubParsersAction) -> None:
    """``edge-screen train-gate --model CKPT --data CSV [--data CSV ...] --out gate.pt``."""
    p = sub.add_parser("train-gate", help="fit the learned quality / out-of-distribution gate on a checkpoint",
                       description="Fit the learned gradability and out-of-distribution gate on the pooled features "
                                   "of a trained checkpoint (real photos + generated degradations), calibrate its "
                                   "limits (out-of-fold, leave one source out) and write gate.pt with its report. "
                                   "Add it to a bundle with edge-screen export --gate gate.pt.")
    p.add_argument("--model", required=True, metavar="CKPT", help="training checkpoint (the bundle's student)")
    p.add_argument("--arch", default=None, help="registry model name (needed unless CKPT is an edge-screen checkpoint)")
    p.add_argument("--data", action="append", required=True, metavar="CSV",
                   help="labels.csv of real photos (file,label,source_repo); repeat for several sets")
    p.add_argument("--out", required=True, metavar="gate.pt")
    p.add_argument("--variants", type=int, default=3, help="degraded copies per photo (default 3)")
    p.add_argument("--test-photos", type=int, default=120, help="photos of the degraded test set (default 120)")
    p.add_argument("--folds", type=int, default=5, help="folds of the out-of-fold calibration (default 5)")
    p.add_argument("--ood-dim", type=int, default=64, help="principal axes of the distance (default 64)")
    p.add_argument("--c", type=float, default=0.05, help="inverse L2 strength of the logistic head (default 0.05)")
    p.add_argument("--max-real-reject", type=float, default=0.015,
                   help="fraction of real photos the gradability head may reject, out of fold (default 0.015)")
    p.add_argument("--max-heldout-ood", type=float, default=0.02,
                   help="fraction of a held-out source's photos the distance may reject (default 0.02)")
    p.add_argument("--negatives", type=float, default=0.25,
                   help="training negatives (not a fundus photo) per real photo (default 0.25)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--cache-dir", default=None, help="feature cache (default $EDGE_SCREEN_GATE_CACHE or runs/gate-cache)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_train_gate)
