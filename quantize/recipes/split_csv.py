"""Write the ``train`` and ``val`` rows of a run's ``split.csv`` to ``OUT/train.csv`` and ``OUT/val.csv``.

Used by the recipes: calibration images come from the training split, the quantization report and
evaluation from the held-out split. Usage: ``python3 split_csv.py SPLIT_CSV OUT_DIR``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path


def main(split_csv: str, out_dir: str) -> None:
    with open(split_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or "split" not in rows[0]:
        raise SystemExit(f"{split_csv}: no 'split' column (expected a split.csv written by edge-screen train/distill)")
    for name in ("train", "val"):
        with open(Path(out_dir) / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(r for r in rows if r["split"] == name)


if __name__ == "__main__":
    main(*sys.argv[1:3])
