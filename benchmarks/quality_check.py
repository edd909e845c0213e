"""Re-validate the quality gate on real photos: every measure and verdict per image, and the
distribution the thresholds were chosen from.

``python -m edge_screen.benchmarks.quality_check --images DEV EXTRA --out quality.json`` decodes each
image of the labelled folders as the Screener does (``load_image(..., target_size=384)``), detects the
field of view and runs :func:`edge_screen.quality.assess_quality`, using only the public API, so the same
command runs on an older checkout of the project. ``--compare OLD.json`` then reports, per source and
per reason, how many photos each version rejected, which photos changed verdict, and how every
measure moved (median and extreme relative change), so a change of the pipeline that touches a
measure is shown to keep the gate's decisions (``edge_screen/data/quality_thresholds.json`` was
chosen on the dev set's distribution).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

#: Percentiles written for every measure (the same as quality_thresholds.json).
PERCENTILES = (0.5, 5, 50, 95, 99.5)


def _rows(folder: Path) -> list[dict]:
    with open(folder / "labels.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def source_of(row: dict, path: Path) -> str:
    """The source of shared contract 4 (IDRiD, ODIR, AIROGS, SRahim) from ``source_repo`` or the file name."""
    repo = (row.get("source_repo") or "").lower()
    name = path.name.lower()
    for key, label in (("idrid", "IDRiD"), ("odir", "ODIR"), ("ocular-disease", "ODIR"),
                       ("eye-disease-detection", "ODIR"), ("airogs", "AIROGS"), ("srahim", "SRahim")):
        if key in repo or name.startswith(key):
            return label
    return repo.split("@")[0] or "unknown"


def measure_folder(folder: Path, *, target_size: int, limit: int | None = None) -> list[dict]:
    """One record per image: file, source, ok, reasons, metrics, ms."""
    from edge_screen.errors import EdgeScreenError
    from edge_screen.imageio import load_image
    from edge_screen.preprocess import detect_fov
    from edge_screen.quality import assess_quality

    out = []
    for row in _rows(folder)[:limit]:
        path = folder / row["file"]
        rec: dict = {"file": str(path.relative_to(folder.parent)), "source": source_of(row, path),
                     "label": row.get("label")}
        t0 = time.perf_counter()
        try:
            rgb = load_image(path, target_size=target_size).rgb
            fov = detect_fov(rgb)
            report = assess_quality(rgb, fov=fov)
        except EdgeScreenError as exc:
            rec.update(ok=False, reasons=["error"], error=str(exc))
            out.append(rec)
            continue
        rec.update(ok=report.ok, reasons=list(report.reasons),
                   metrics={k: (None if isinstance(v, float) and math.isnan(v) else float(v))
                            for k, v in report.metrics.items()},
                   ms=round((time.perf_counter() - t0) * 1e3, 2))
        out.append(rec)
    return out


def summarize(records: list[dict]) -> dict:
    """Rejections per source and reason, and the distribution of every measure."""
    by_source: dict[str, dict] = {}
    for r in records:
        s = by_source.setdefault(r["source"], {"n": 0, "rejected": 0, "reasons": Counter()})
        s["n"] += 1
        if not r["ok"]:
            s["rejected"] += 1
            s["reasons"].update(r["reasons"][:1])  # the main reason
    dist: dict[str, dict] = {}
    keys = sorted({k for r in records for k in (r.get("metrics") or {})})
    for k in keys:
        v = np.array([r["metrics"][k] for r in records if r.get("metrics") and r["metrics"].get(k) is not None])
        if v.size:
            dist[k] = {"n": int(v.size), "min": float(v.min()),
                       **{f"p{p:g}": float(np.percentile(v, p)) for p in PERCENTILES}, "max": float(v.max())}
    return {"n": len(records), "rejected": sum(not r["ok"] for r in records),
            "by_source": {k: {**v, "reasons": dict(v["reasons"])} for k, v in sorted(by_source.items())},
            "distributions": dist}


def compare(old: dict, new: dict) -> dict:
    """What changed between two runs over the same files."""
    a = {r["file"]: r for r in old["records"]}
    b = {r["file"]: r for r in new["records"]}
    common = sorted(set(a) & set(b))
    flipped = [{"file": f, "old": a[f]["reasons"], "new": b[f]["reasons"]} for f in common
               if a[f]["ok"] != b[f]["ok"] or a[f]["reasons"][:1] != b[f]["reasons"][:1]]
    moved: dict[str, dict] = {}
    for k in sorted({k for f in common for k in (a[f].get("metrics") or {})}):
        pairs = [(a[f]["metrics"].get(k), b[f]["metrics"].get(k)) for f in common
                 if a[f].get("metrics") and b[f].get("metrics")]
        pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
        if not pairs:
            continue
        x, y = np.array(pairs).T
        rel = (y - x) / np.maximum(np.abs(x), 1e-6)
        moved[k] = {"n": int(x.size), "median_rel_change": float(np.median(rel)),
                    "p5_rel_change": float(np.percentile(rel, 5)), "p95_rel_change": float(np.percentile(rel, 95)),
                    "max_abs_change": float(np.max(np.abs(y - x))),
                    "pearson_r": float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else None}
    return {"n_common": len(common), "rejected_old": sum(not a[f]["ok"] for f in common),
            "rejected_new": sum(not b[f]["ok"] for f in common), "changed_verdict_or_main_reason": flipped,
            "metrics": moved}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", nargs="+", type=Path, required=True, help="folders with labels.csv")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--target-size", type=int, default=384, help="the bundle's input size (reduced decode)")
    p.add_argument("--limit", type=int, help="first N rows of each folder")
    p.add_argument("--label", default="", help="free text stored with the run (e.g. the git commit)")
    p.add_argument("--compare", type=Path, help="an earlier --out file over the same images")
    args = p.parse_args(argv)
    records: list[dict] = []
    t0 = time.perf_counter()
    for folder in args.images:
        records += measure_folder(folder, target_size=args.target_size, limit=args.limit)
    doc = {"label": args.label, "target_size": args.target_size, "folders": [str(f) for f in args.images],
           "wall_s": round(time.perf_counter() - t0, 1), "summary": summarize(records), "records": records}
    if args.compare:
        doc["compare"] = compare(json.loads(args.compare.read_text()), doc)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    s = doc["summary"]
    print(f"{s['n']} images, {s['rejected']} rejected, {doc['wall_s']} s")
    for src, v in s["by_source"].items():
        print(f"  {src}: {v['rejected']}/{v['n']} rejected {v['reasons']}")
    if "compare" in doc:
        c = doc["compare"]
        print(f"compare: rejected {c['rejected_old']} -> {c['rejected_new']} of {c['n_common']}; "
              f"{len(c['changed_verdict_or_main_reason'])} changed verdict or main reason")
        for k, m in c["metrics"].items():
            print(f"  {k}: median rel change {m['median_rel_change']:+.3f} "
                  f"(p5 {m['p5_rel_change']:+.3f}, p95 {m['p95_rel_change']:+.3f}), r {m['pearson_r']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
