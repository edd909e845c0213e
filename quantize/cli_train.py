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

log = logging.getLogger(__name__)


def _verbose_logs() -> None:
    # Training is long: show our INFO lines even without -v (the core CLI sets WARNING by default).
    logging.getLogger("edge_screen.quantize").setLevel(logging.INFO)


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data and split")
    g.add_argument("--data", required=True, help="labels.csv (file,label[,...]), a public-dataset CSV, a split.csv, or a folder with normal/ abnormal/")
    g.add_argument("--format", dest="data_format", default="auto", help="auto|labels|aptos|eyepacs|rfmid|odir|idrid")
    g.add_argument("--images", help="image folder for public-dataset CSVs")
    g.add_argument("--referable", action="store_true", help="grade CSVs: abnormal = grade >= 2 (default >= 1)")
    g.add_argument("--val-fraction", type=float, default=0.2)
    g.add_argument("--test-fraction", type=float, default=0.0, help="hold out this fraction as a fixed test split (saved in out/split.csv)")
    g.add_argument("--folds", type=int, help="k-fold cross-validation (the paper uses 5)")
    g.add_argument("--fold", type=int, default=0, help="validation fold index with --folds")
    g.add_argument("--group-col", help="CSV column whose groups never straddle splits (patient, source_repo ...)")
    g.add_argument("--stratify-col", help="CSV column to balance splits by, together with the label (e.g. source_repo)")
    g = p.add_argument_group("model and optimisation")
    g.add_argument("--img-size", type=int, help="input size in pixels (default: the model's)")
    g.add_argument("--head", choices=("linear", "mlp"))
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
             "cache_features", "feature_views", "stratify_col")


def _cmd_train(args: argparse.Namespace) -> int:
    _verbose_logs()
    from edge_screen.quantize.train import TrainConfig, measure_train_throughput, train

    if args.throughput:
        res = measure_train_throughput(args.model, args.img_size or 384, batch_size=args.batch_size, steps=args.throughput,
                                       threads=args.threads, amp="off" if args.amp == "auto" else args.amp)
        print(json.dumps(res))
        return 0
    cfg = TrainConfig(model=args.model, **{k: getattr(args, k) for k in _RUN_KEYS})
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
    _common(p)
    p.set_defaults(func=_cmd_train)


def _cmd_distill(args: argparse.Namespace) -> int:
    _verbose_logs()
    from edge_screen.quantize.distill import DistillConfig, distill

    cfg = DistillConfig(model=args.student, teacher=args.teacher, teacher_model=args.teacher_model,
                        teacher_img_size=args.teacher_img_size, alpha=args.alpha, temperature=args.temperature,
                        beta=args.beta, cache_teacher=args.cache_teacher, unlabelled=args.unlabelled,
                        trust_checkpoint=args.trust_checkpoint, **{k: getattr(args, k) for k in _RUN_KEYS})
    summary = distill(cfg)
    if summary:
        print(json.dumps(summary))
    return 0


def register_distill(subparsers: argparse._SubParsersAction) -> None:
    """``edge-screen distill --teacher CKPT --student NAME --img-size N --data CSV --out DIR ...``"""
    p = subparsers.add_parser("distill", help="distil a teacher into a small student",
                              description="alpha*CE + (1-alpha)*T^2*KL(teacher||student) + beta*CAM transfer.")
    p.add_argument("--teacher", required=True, help="teacher checkpoint (edge-screen training checkpoint or the released Jang .pth)")
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
    p.set_defaults(func=_cmd_distill)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    _verbose_logs()
    from edge_screen.quantize.metrics import evaluate

    report = evaluate(args.model, args.data, split=args.split, group_by=args.group_by, out=args.out,
                      threshold=args.threshold, batch_size=args.batch_size, trust_checkpoint=args.trust_checkpoint,
                      model_name=args.model_name, data_format=args.data_format, images=args.images, referable=args.referable,
                      backend=args.backend, precision=args.precision)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from edge_screen.quantize.metrics import format_report

        print(format_report(report))
    return 0


def register_evaluate(subparsers: argparse._SubParsersAction) -> None:
    """``edge-screen evaluate --model CKPT_OR_BUNDLE --data CSV [--group-by COL] [--json] [--out DIR]``"""
    p = subparsers.add_parser("evaluate", help="AUC with CI, operating points, ECE, per-group metrics, ROC plot")
    p.add_argument("--model", required=True, help="training checkpoint (.pt/.pth) or model bundle (folder or .zip)")
    p.add_argument("--model-name", help="architecture for a plain state_dict / Jang checkpoint (default jang2024_resnet50)")
    p.add_argument("--data", required=True, help="labels CSV (e.g. a run's split.csv) or folder")
    p.add_argument("--backend", help="bundles: runtime to use (default: automatic)")
    p.add_argument("--precision", choices=("fp32", "fp16", "int8"), help="bundles: model precision (default: automatic)")
    p.add_argument("--format", dest="data_format", default="auto")
    p.add_argument("--images")
    p.add_argument("--referable", action="store_true")
    p.add_argument("--split", help="only rows whose 'split' column equals this (train/val/test)")
    p.add_argument("--group-by", help="also report metrics per value of this CSV column")
    p.add_argument("--threshold", type=float, help="operating threshold (default: the checkpoint's / bundle's, else 0.5)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--trust-checkpoint", action="store_true")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--out", help="folder for report.json, predictions.csv and roc.png")
    p.set_defaults(func=_cmd_evaluate)


def main(argv: list[str] | None = None) -> int:
    """``python -m edge_screen.quantize.cli_train {train,distill,evaluate} ...`` (same as ``edge-screen``)."""
    from edge_screen.cli import main as core_main

    return core_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
