"""A/B of two checkouts of the project: what ``Screener.screen`` costs on top of the model.

``python -m edge_screen.benchmarks.ab_screen --checkout A=/path/to/old --checkout B=. --jpeg CAM.jpg``
runs, alternately, a fresh process per checkout and round (``PYTHONPATH`` puts that checkout first),
each timing ``Screener.screen(jpeg bytes)`` plus its ``image_heatmap`` and the model alone (``runtime.run`` on the same tensor)
interleaved, in wall time and in process CPU time. CPU time is what the pipeline costs on this CPU
whatever else runs on the machine; alternating the checkouts spreads the machine's load over both.
Only the public API that both versions have is used (``Screener``, ``screen``, ``runtime.run``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

_CHILD = r"""
import json, sys, time
import numpy as np
from edge_screen.screener import Screener
bundle, backend, precision, threads, jpeg, runs = sys.argv[1:7]
s = Screener(bundle, backend=backend, precision=precision, threads=int(threads))
data = open(jpeg, "rb").read()
r = s.screen(data)
assert r.probability is not None, r.quality.reasons
from edge_screen.imageio import load_image
from edge_screen.preprocess import preprocess
prep = s.bundle.preprocessing
x = preprocess(load_image(data, target_size=prep.input_size).rgb, prep).tensor[None]
out = {"wall_screen": [], "cpu_screen": [], "wall_model": [], "cpu_model": [], "p": float(r.probability)}
for i in range(int(runs) + 3):
    c0, t0 = time.process_time(), time.perf_counter()
    s.runtime.run(x)
    c1, t1 = time.process_time(), time.perf_counter()
    s.screen(data).image_heatmap  # the map over the decoded image too (computed lazily in newer versions)
    c2, t2 = time.process_time(), time.perf_counter()
    if i >= 3:
        out["wall_model"].append((t1 - t0) * 1e3); out["cpu_model"].append((c1 - c0) * 1e3)
        out["wall_screen"].append((t2 - t1) * 1e3); out["cpu_screen"].append((c2 - c1) * 1e3)
print(json.dumps(out))
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkout", action="append", required=True, help="LABEL=PATH of a checkout (repeat)")
    p.add_argument("--jpeg", type=Path, required=True)
    p.add_argument("--bundle", default="edge_screen/models/default")
    p.add_argument("--backend", default="onnxruntime")
    p.add_argument("--precision", default="int8")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    checkouts = dict(c.split("=", 1) for c in args.checkout)
    samples: dict[str, dict[str, list[float]]] = {k: {} for k in checkouts}
    probs: dict[str, float] = {}
    for _ in range(args.rounds):
        for label, path in checkouts.items():
            root = Path(path).resolve()
            env = dict(os.environ, PYTHONPATH=str(_namespace(root, label)))
            bundle = str((root / args.bundle) if not Path(args.bundle).is_absolute() else args.bundle)
            res = subprocess.run([sys.executable, "-c", _CHILD, bundle, args.backend, args.precision,
                                  str(args.threads), str(args.jpeg), str(args.runs)],
                                 capture_output=True, text=True, env=env, check=True, cwd=str(root))
            d = json.loads(res.stdout.strip().splitlines()[-1])
            probs[label] = d.pop("p")
            for k, v in d.items():
                samples[label].setdefault(k, []).extend(v)
    doc = {"config": {k: str(v) for k, v in vars(args).items()}, "probability": probs, "results": {}}
    for label, d in samples.items():
        med = {k: round(float(np.median(v)), 3) for k, v in d.items()}
        med["cpu_screen_minus_model"] = round(med["cpu_screen"] - med["cpu_model"], 3)
        med["wall_screen_minus_model"] = round(med["wall_screen"] - med["wall_model"], 3)
        med["n"] = len(d["cpu_screen"])
        doc["results"][label] = med
    print(json.dumps(doc["results"], indent=1), json.dumps(probs))
    if args.out:
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


def _namespace(root: Path, label: str) -> Path:
    """A folder whose ``edge_screen`` is the checkout's, with ``benchmarks``/``quantize``/``gui`` mapped in
    (as the installed package maps them), so ``PYTHONPATH`` selects this checkout. Returns the folder."""
    import tempfile

    base = Path(tempfile.gettempdir()) / "edge-screen-ab" / label
    ns = base / "edge_screen"
    ns.mkdir(parents=True, exist_ok=True)
    for item in (root / "edge_screen").iterdir():
        target = ns / item.name
        if not target.exists():
            target.symlink_to(item)
    for sub, name in (("benchmarks", "benchmarks"), ("quantize", "quantize"), ("gui", "gui")):
        if (root / sub).is_dir() and not (ns / name).exists():
            (ns / name).symlink_to(root / sub)
    return base


if __name__ == "__main__":
    sys.exit(main())
