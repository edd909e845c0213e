"""Draw the export's calibration and quantization-report images from several label files.

``python3 sample_csv.py --data A.csv B.csv --out DIR --calib 300 --report 400 [--seed 0]`` writes
``DIR/calib.csv`` and ``DIR/report.csv`` (``file`` absolute, the other columns kept), disjoint, each
drawn in proportion to every (``source_repo``, label) cell so all cameras shape the INT8 ranges.
``--gate N`` also writes ``DIR/gate.csv``: up to N photos of every (source, label) cell for
``edge-screen train-gate``, the source being the file-name prefix (``idrid_``, ``odir_``, ``airogs_``,
``srahim_``: the four sources, both ODIR-derived sets in one), drawn with its own seed (13).
``--tune N`` also writes ``DIR/tune.csv``: N photos for the INT8 fine-tuning (``--int8-finetune``), drawn
in the same proportions from the photos in neither calib.csv nor report.csv (the report must measure
photos the fine-tuning did not see).
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--calib", type=int, default=300)
    ap.add_argument("--report", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gate", type=int, default=0, metavar="N", help="also write gate.csv: N photos per source x label")
    ap.add_argument("--tune", type=int, default=0, metavar="N", help="also write tune.csv: N photos in neither set")
    a = ap.parse_args(argv)
    rows = []
    for path in map(Path, a.data):
        with open(path, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                rows.append({**r, "file": str((path.parent / r["file"]).resolve())})
    cells: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        cells.setdefault((r.get("source_repo", ""), r.get("label", "")), []).append(r)
    rng = random.Random(a.seed)
    calib, report, tune = [], [], []
    for key in sorted(cells):
        group = cells[key][:]
        rng.shuffle(group)
        n_c = round(a.calib * len(group) / len(rows))
        n_r = round(a.report * len(group) / len(rows))
        n_t = round(a.tune * len(group) / len(rows))
        calib += group[:n_c]
        report += group[n_c:n_c + n_r]
        tune += group[n_c + n_r:n_c + n_r + n_t]
    fields = list(rows[0])
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("calib", calib), ("report", report)) + ((("tune", tune),) if a.tune > 0 else ()):
        with open(out / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(part)
    if a.gate > 0:
        by_source: dict[tuple[str, str], list[dict]] = {}
        for r in rows:
            by_source.setdefault((Path(r["file"]).name.split("_")[0], r.get("label", "")), []).append(r)
        grng, gate = random.Random(13), []
        for key in sorted(by_source):
            group = by_source[key][:]
            grng.shuffle(group)
            gate += group[:a.gate]
        with open(out / "gate.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(gate)


if __name__ == "__main__":
    main()
