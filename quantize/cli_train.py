"""``edge-screen train | distill | evaluate`` (entry points of the ``edge_screen.commands`` group).

Importing this module must stay cheap and torch-free (``edge-screen --help``): torch and the training
modules are imported inside the command functions.

Under torchrun: ``torchrun --nproc-per-node 2 -m edge_screen train ...`` (DDP, gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from edge_screen.errors import UsageError
from edge_screen.quantize.model_spec import HeadType

log = logging.getLogger(__name__)


def _verbose_logs() -> None:
    # Training is long: show our INFO lines even without -v (the core CLI sets WARNING by default).
    logging.getLogger("edge_screen.quantize").setLevel(logging.INFO)


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data and split")
    g.add_argument("--data", required=True, action="extend", nargs="+",
                   help="labels.csv (file,label[,...]), a public-dataset CSV, a split.csv, or a folder with normal/ abnormal/; "
                        "several files are concatenated (e.g. --data fundus-dev/labels.csv fundus-extra/labels.csv)")
    g.add_argument("--format", dest="data_format", default="auto", help="auto|labels|aptos|eyepacs|rfmid|odir|idrid")
    g.add_argument("--images", help="image folder for public-dataset CSVs")
    g.add_argument("--referable", action="store_true", help="grade CSVs: abnormal = grade >= 2 (default >= 1)")
    g.add_argument("--val-fraction", type=float, default=0.2)
    g.add_argument("--test-fraction", type=float, default=0.0, help="hold out this fraction as a fixed test split (saved in out/split.csv)")
    g.add_argument("--folds", type=int, help="k-fold cross-validation (the paper uses 5)")
    g.add_argument("--fold", type=int, default=0, help="validation fold index with --folds")
    g.add_argument("--group-col", help="CSV column whose groups never straddle splits (patient, source_repo ...)")
    g.add_argument("--stratify-col", help="CSV column to balance splits by, together with the label (e.g. source_repo)")
    g.add_argument("--val-source", help="validate (early stopping, threshold) on this whole source, trained on the others: "
                                        "an out-of-source split instead of a random one (sources: --source-col/--source-map)")
    g = p.add_argument_group("model and optimisation")
    g.add_argument("--img-size", type=int, help="input size in pixels (default: the model's)")
    g.add_argument("--head", choices=[h.value for h in HeadType])
    g.add_argument("--weights", help="backbone ImageNet weights file for models without packaged weights")
    g.add_argument("--no-pretrained", dest="pretrained", action="store_false", help="start from random weights")
    g.add_argument("--epochs", type=int, default=20)
    g.add_argument("--batch-size", type=int, default=16)
    g.add_argument("--lr", type=float, default=5e-4)
    g.add_argument("--weight-decay", type=float, default=1e-4)
    g.add_argument("--warmup-epochs", type=float, default=1.0)
    s = g.add_mutually_exclusive_group()
    s.add_argument("--weighted", dest="sampling", action="store_const", const="weighted", help="class-weighted loss (default)")
    s.add_argument("--balanced", dest="sampling", action="store_const", const="balanced", help="class-balanced sampling")
    s.add_argument("--unweighted", dest="sampling", action="store_const", const="none")
    g.add_argument("--label-smoothing", type=float, default=0.0)
    g.add_argument("--patience", type=int, default=5, help="early stopping: epochs without a better val AUC")
    g.add_argument("--freeze-stages", type=int, default=0, help="freeze the stem and the first N-1 backbone stages")
    g.add_argument("--no-augment", dest="augment", action="store_false", help="train without augmentation")
    g.add_argument("--amp", default="auto", choices=("auto", "off", "bf16", "fp16"), help="autocast (auto = GPU only)")
    g.add_argument("--target-sensitivity", type=float, default=0.95, help="threshold stored in the checkpoint")
    g = p.add_argument_group("run")
    g.add_argument("--out", required=True, help="output folder (last.pt, best.pt, log.jsonl, split.csv)")
    g.add_argument("--resume", action="store_true", help="continue from out/last.pt (keep the other options the same)")
    g.add_argument("--stop-after", type=int, metavar="N", help="end this run after N epochs (time-boxing; continue with --resume)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--workers", type=int, default=0, help="DataLoader workers (0 is best on 2 cores: crops are cached)")
    g.add_argument("--threads", type=int, help="torch threads per process (default: cores / local processes)")
    g.add_argument("--cache-dir", help="also cache decoded crops as .npy here")
    g.add_argument("--cache-features", metavar="DIR",
                   help="with --freeze-stages K: compute the frozen prefix once per image and train only the top "
                        "(fast on CPUs; augmentation = --feature-views cached views)")
    g.add_argument("--feature-views", type=int, default=2,
                   help="views cached per image with --cache-features: plain, h-flip, then random augmentations")
    g.add_argument("--max-steps-per-epoch", type=int, help=argparse.SUPPRESS)
    g.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(sampling="weighted")


_RUN_KEYS = ("data", "data_format", "images", "referable", "val_fraction", "test_fraction", "folds", "fold", "group_col",
             "img_size", "head", "weights", "pretrained", "epochs", "batch_size", "lr", "weight_decay", "warmup_epochs",
             "sampling", "label_smoothing", "patience", "freeze_stages", "amp", "target_sensitivity", "out", "resume",
             "seed", "workers", "threads", "cache_dir", "augment", "stop_after", "max_steps_per_epoch", "progress",
             "cache_features", "feature_views", "stratify_col", "val_source", "source_col", "source_map")


def _add_source_args(p: argparse.ArgumentParser, *, evaluate: bool = False) -> None:
    """Options of the source-held-out recipes (train --linear-probe/--lpft, distill --lpft, evaluate --cv source)."""
    from edge_screen.cli import positive_int

    g = p.add_argument_group("sources and leave-one-source-out (issue 11)")
    g.add_argument("--source-col", default="source_repo", help="CSV column naming each image's source (default source_repo)")
    g.add_argument("--source-map", help="merge column values into sources: VALUE=NAME,VALUE=NAME or a JSON file; "
                                        "default merges the two ODIR-derived sets into ODIR and names IDRiD, AIROGS, SRahim")
    g.add_argument("--stages", type=positive_int, default=7,
                   help="LP-FT: backbone stages kept frozen and cached (default 7 of EfficientNet-Lite: the last stage, "
                        "the 1x1 head conv and the classifier train)")
    g.add_argument("--ft-stage", type=positive_int, help="LP-FT: train from this stage on (default --stages; 8 = only the "
                                                         "1x1 head conv and the classifier, ~4x faster on a CPU)")
    g.add_argument("--probe-views", type=positive_int, default=1, help="probe: views per training image (1 plain, 2 +flip, more: camera augmentation)")
    g.add_argument("--c-grid", default="1e-5,1e-4,1e-3,1e-2,1e-1", help="probe: L2 strengths C chosen among by leave-one-source-out")
    g.add_argument("--probe-balance", choices=("class", "source_label"), default="class")
    g.add_argument("--ft-views", type=positive_int, default=4, help="LP-FT: cached views drawn from (2.. are camera augmentations)")
    g.add_argument("--ft-epochs", type=positive_int, default=6, help="LP-FT: at most this many epochs (the count is chosen out of source)")
    g.add_argument("--ft-lr", type=float, default=2e-4)
    g.add_argument("--ft-batch-size", type=positive_int, default=32)
    g.add_argument("--ft-steps", type=positive_int, help="LP-FT: steps per epoch (default: labelled images / batch)")
    g.add_argument("--balance", choices=("class", "source_label"), default="source_label", help="LP-FT sampling")
    g.add_argument("--head-init", choices=("probe", "random"), default="probe", help="LP-FT: start the head from the probe (LP-FT) or at random (plain FT)")
    g.add_argument("--ema", type=float, default=0.0, metavar="DECAY", help="LP-FT: evaluate and ship an EMA of the weights (e.g. 0.998)")
    g.add_argument("--kd-weight", type=float, default=0.0, help="distill --lpft: weight of the KL term (CE gets 1 - this)")
    g.add_argument("--kd-temperature", type=float, default=2.0)
    g.add_argument("--n-boot", type=positive_int, default=1000, help="bootstrap resamples of each AUC CI")
    g.add_argument("--teacher-outputs", action="store_true",
                   help="LP-FT: also save each fold model's logits on every image (fold_logits.npz) so the run can teach "
                        "a student out of source (probe runs always save them)")
    if evaluate:
        g.add_argument("--recipe", choices=("probe", "lpft"), default="probe", help="--cv source: the recipe to cross-validate")
        g.add_argument("--img-size", type=int)
        g.add_argument("--target-sensitivity", type=float, default=0.95)
        g.add_argument("--cache-features", metavar="DIR")
        g.add_argument("--seed", type=int, default=0)
        g.add_argument("--threads", type=int)


def _source_cfg(args: argparse.Namespace, model: str, *, finetune: bool, teacher: str | None = None):  # noqa: ANN202
    import os

    from edge_screen.quantize.source_cv import SourceCVConfig

    try:
        grid = tuple(float(c) for c in args.c_grid.split(","))
    except ValueError:
        raise UsageError(f"--c-grid {args.c_grid!r}: expected numbers separated by commas, e.g. 1e-4,1e-3,1e-2") from None
    cache = args.cache_features or os.environ.get("EDGE_SCREEN_FEATURE_CACHE") or str(Path.home() / ".cache" / "edge-screen" / "features")
    ft = None
    if finetune:
        ft = {"epochs": args.ft_epochs, "lr": args.ft_lr, "batch_size": args.ft_batch_size, "steps_per_epoch": args.ft_steps,
              "views": args.ft_views, "balance": args.balance, "head_init": args.head_init, "ema": args.ema,
              "kd_weight": args.kd_weight, "temperature": args.kd_temperature, "seed": args.seed}
    return SourceCVConfig(model=model, data=list(args.data), out=getattr(args, "out", None) or "", img_size=args.img_size,
                          source_col=args.source_col, source_map=args.source_map, cache_features=cache, k=args.stages,
                          ft_stage=args.ft_stage,
                          probe_views=args.probe_views, c_grid=grid, probe_balance=args.probe_balance,
                          target_sensitivity=args.target_sensitivity, n_boot=args.n_boot, threads=args.threads or 2,
                          finetune=ft, teacher=teacher, teacher_outputs=getattr(args, "teacher_outputs", False))


def _run_source_recipe(cfg, *, final: bool, name: str) -> int:  # noqa: ANN001
    from edge_screen.quantize.loso import BelowFloor, format_source_report
    from edge_screen.quantize.source_cv import run

    res = run(cfg, final=final)
    print(format_source_report(res["probe"], title="linear probe (the floor), leave-one-source-out"))
    if cfg.finetune:
        print(format_source_report(res["model"], title=f"{name}, leave-one-source-out ({res['epochs']} epochs chosen out of source)"))
    if res.get("checkpoint"):
        print(f"checkpoint: {res['checkpoint']} (threshold {res['model']['threshold']['value']:.4f}: "
              f"{res['model']['threshold']['method']})")
    if res["floor"]:
        raise BelowFloor("refusing to ship a model below the linear-probe floor out of source: " + "; ".join(res["floor"]))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    _verbose_logs()
    if args.linear_probe or args.lpft:
        if args.linear_probe and args.lpft:
            raise UsageError("--linear-probe and --lpft are two recipes: pick one (--lpft always fits the probe first)")
        return _run_source_recipe(_source_cfg(args, args.model, finetune=args.lpft), final=True,
                                  name="LP-FT" if args.lpft else "linear probe")
    from edge_screen.quantize.train import TrainConfig, measure_train_throughput, train

    if args.throughput:
        res = measure_train_throughput(args.model, args.img_size or 384, batch_size=args.batch_size, steps=args.throughput,
                                       threads=args.threads, amp="off" if args.amp == "auto" else args.amp)
        print(json.dumps(res))
        return 0
    cfg = TrainConfig(model=args.model, **{k: getattr(args, k) for k in _RUN_KEYS})
    cfg.data = ",".join(args.data)
    summary = train(cfg)
    if summary:
        print(json.dumps(summary))
    return 0


def register_train(subparsers: argparse._SubParsersAction) -> None:
    """``edge-screen train --model NAME --data CSV --out DIR ...``"""
    p = subparsers.add_parser("train", help="fine-tune a classifier (teacher) on fundus images",
                              description="Fine-tune a registered model (ImageNet start) on abnormal vs normal fundus photos.")
    p.add_argument("--model", required=True, help="registry name, e.g. effnet_lite2, jang2024_resnet50")
    p.add_argument("--throughput", type=int, metavar="STEPS",
                   help="only measure training images/s on random inputs for STEPS steps and exit (--data/--out ignored)")
    p.add_argument("--linear-probe", action="store_true",
                   help="frozen ImageNet backbone + logistic regression on cached pooled features, C chosen by "
                        "leave-one-source-out, stored as one Linear layer (exports like any checkpoint)")
    p.add_argument("--lpft", action="store_true",
                   help="LP-FT on cached features: the probe, then the top stages fine-tuned at a low LR; epochs "
                        "chosen out of source; refuses (exit 2) a model below the probe floor")
    _common(p)
    _add_source_args(p)
    p.set_defaults(func=_cmd_train)


def _cmd_distill(args: argparse.Namespace) -> int:
    _verbose_logs()
    if args.lpft:
        if args.kd_weight <= 0:
            raise UsageError("distill --lpft needs --kd-weight > 0 (e.g. 0.5)")
        return _run_source_recipe(_source_cfg(args, args.student, finetune=True, teacher=args.teacher), final=True,
                                  name="distilled LP-FT student")
    from edge_screen.quantize.distill import DistillConfig, distill

    cfg = DistillConfig(model=args.student, teacher=args.teacher, teacher_model=args.teacher_model,
                        teacher_img_size=args.teacher_img_size, alpha=args.alpha, temperature=args.temperature,
                        beta=args.beta, cache_teacher=args.cache_teacher, unlabelled=args.unlabelled,
                        trust_checkpoint=args.trust_checkpoint, **{k: getattr(args, k) for k in _RUN_KEYS})
    cfg.data = ",".join(args.data)
    summary = distill(cfg)
    if summary:
        print(json.dumps(summary))
    return 0


def register_distill(subparsers: argparse._SubParsersAction) -> None:
    """``edge-screen distill --teacher CKPT --student NAME --img-size N --data CSV --out DIR ...``"""
    p = subparsers.add_parser("distill", help="distil a teacher into a small student",
                              description="alpha*CE + (1-alpha)*T^2*KL(teacher||student) + beta*CAM transfer.")
    p.add_argument("--teacher", required=True, help="teacher checkpoint (edge-screen training checkpoint or the released Jang .pth); "
                                                     "with --lpft: the teacher's train --lpft run folder")
    p.add_argument("--lpft", action="store_true", help="distil on cached features out of source: each fold's student learns "
                                                       "from the teacher fold model that did not see the held-out source")
    p.add_argument("--teacher-model", default="jang2024_resnet50", help="teacher architecture when the file is not a training checkpoint")
    p.add_argument("--teacher-img-size", type=int, help="teacher input size (default: the teacher's)")
    p.add_argument("--student", required=True, help="student registry name, e.g. effnet_lite0")
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--beta", type=float, default=0.0, help="weight of the CAM-transfer term")
    p.add_argument("--cache-teacher", help="file for the teacher's outputs on un-augmented images (computed once)")
    p.add_argument("--unlabelled", help="folder of extra unlabelled images (KD terms only)")
    p.add_argument("--trust-checkpoint", action="store_true", help="allow arbitrary pickles (weights_only=False): trusted files only")
    _common(p)
    _add_source_args(p)
    p.set_defaults(func=_cmd_distill)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    _verbose_logs()
    if args.cv == "source":
        if not args.model:
            raise UsageError("evaluate --cv source needs --model NAME (the backbone of the recipe, e.g. effnet_lite0)")
        cfg = _source_cfg(args, args.model, finetune=args.recipe == "lpft")
        if args.out:
            cfg.out = args.out
        from edge_screen.quantize.loso import format_source_report
        from edge_screen.quantize.source_cv import run

        res = run(cfg, final=False)
        print(format_source_report(res["probe"], title="linear probe (the floor), leave-one-source-out"))
        if cfg.finetune:
            print(format_source_report(res["model"], title=f"LP-FT, leave-one-source-out ({res['epochs']} epochs chosen out of source)"))
            for line in res["floor"]:
                print(f"below the probe floor: {line}")
        if args.json:
            print(json.dumps({k: res[k] for k in ("probe", "model", "floor")}, indent=1, default=float))
        return 0
    if not args.model:
        raise UsageError("evaluate needs --model CKPT_OR_BUNDLE (or --cv source with a backbone name)")
    args.data = args.data[0] if len(args.data) == 1 else ",".join(args.data)
    from edge_screen.quantize.evaluate import evaluate

    report = evaluate(args.model, args.data, split=args.split, group_by=args.group_by, out=args.out,
                      threshold=args.threshold, batch_size=args.batch_size, trust_checkpoint=args.trust_checkpoint,
                      model_name=args.model_name, data_format=args.data_format, images=args.images, referable=args.referable,
                      backend=args.backend, precision=args.precision)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from edge_screen.quantize.evaluate import format_report

        print(format_report(report))
    return 0


def register_evaluate(subparsers: argparse._SubParsersAction) -> None:
    """``edge-screen evaluate --model CKPT_OR_BUNDLE --data CSV [--group-by COL] [--json] [--out DIR]``"""
    p = subparsers.add_parser("evaluate", help="AUC with CI, operating points, ECE, per-group metrics, ROC plot")
    p.add_argument("--model", help="training checkpoint (.pt/.pth) or model bundle (folder or .zip); with --cv source: a backbone name")
    p.add_argument("--cv", choices=("source",), help="source: leave-one-source-out cross-validation of a recipe "
                                                      "(for each source, train on the others and score on it)")
    p.add_argument("--model-name", help="architecture for a plain state_dict / Jang checkpoint (default jang2024_resnet50)")
    p.add_argument("--data", required=True, action="extend", nargs="+", help="labels CSV(s) (e.g. a run's split.csv) or folder")
    p.add_argument("--backend", help="bundles: runtime to use (default: automatic)")
    p.add_argument("--precision", choices=("fp32", "fp16", "int8"), help="bundles: model precision (default: automatic)")
    p.add_argument("--format", dest="data_format", default="auto")
    p.add_argument("--images")
    p.add_argument("--referable", action="store_true")
    p.add_argument("--split", help="only rows whose 'split' column equals this (train/val/test)")
    p.add_argument("--group-by", help="also report metrics per value of this CSV column")
    p.add_argument("--threshold", type=float, help="operating threshold (default: the checkpoint's / bundle's; an error when neither has one)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--trust-checkpoint", action="store_true")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--out", help="folder for report.json, predictions.csv and roc.png")
    _add_source_args(p, evaluate=True)
    p.set_defaults(func=_cmd_evaluate)


def main(argv: list[str] | None = None) -> int:
    """``python -m edge_screen.quantize.cli_train {train,distill,evaluate} ...`` (same as ``edge-screen``)."""
    from edge_screen.cli import main as core_main

    return core_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
