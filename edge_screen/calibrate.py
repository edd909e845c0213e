"""Per-clinic calibration: choose the operating threshold on a clinic's own labelled photos.

A screener's scores shift from camera to camera (issue 11: the same model found 71% of the abnormal
eyes on three unseen cameras at its shipped threshold), and published local recalibration raised
one commercial screener's sensitivity from 70% to 94%. ``edge-screen calibrate --bundle B --data
site.csv --out B-site``:

1. reads ``site.csv`` (``file,label``; ``file`` relative to the CSV's folder; labels ``normal`` /
   ``abnormal``) and refuses fewer than :data:`MIN_PER_CLASS` photos of either class;
2. screens every photo with the real :class:`~edge_screen.screener.Screener` (decode, quality gate,
   field-of-view crop, the bundle's model): photos the gate calls ungradable are left out and
   counted, and the class minimum is checked again on what remains;
3. chooses the highest threshold whose sensitivity on these photos is >= the target (default 0.95),
   and reports sensitivity and specificity there with 95% Wilson intervals;
4. copies the bundle to ``--out`` and rewrites only its ``manifest.json``: the new ``threshold``
   (with ``history``: the previous threshold objects, each stamped ``replaced``) and the
   ``calibration`` block of shared contract 3. Every model file and its SHA-256 stay as they were.

The sensitivity and specificity are measured on the photos the threshold was chosen on, so they are
a little optimistic; the intervals say how much the clinic's sample can be trusted.

Torch-free: this runs where the screener runs.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import logging
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edge_screen.bundle import MANIFEST, SIGNATURE, load_bundle
from edge_screen.errors import UsageError
from edge_screen.metrics import threshold_for_sensitivity

log = logging.getLogger(__name__)

MIN_PER_CLASS = 30
_LABELS = {"normal": 0, "0": 0, "abnormal": 1, "1": 1}


@dataclass(frozen=True)
class CalibrationResult:
    """What ``calibrate_bundle`` chose and measured (``*_ci95`` are Wilson 95% intervals)."""

    site: str
    bundle: str
    n_images: int
    n_normal: int
    n_abnormal: int
    n_ungradable: int
    n_failed: int
    threshold: float
    previous_threshold: float
    target_sensitivity: float
    sensitivity: float
    sensitivity_ci95: tuple[float, float]
    specificity: float
    specificity_ci95: tuple[float, float]
    previous_sensitivity: float
    previous_specificity: float
    signature_removed: bool = False  # the source bundle was signed: the changed manifest needs a new signature

    def to_dict(self) -> dict:
        return asdict(self)


def wilson_ci(k: int, n: int, *, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``k / n`` (``(nan, nan)`` when ``n`` is 0)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def read_site_csv(path: str | os.PathLike) -> list[tuple[str, int]]:
    """``[(absolute image path, 0 normal | 1 abnormal)]`` from a ``file,label`` CSV.

    Raises:
        UsageError: missing file or columns, an empty ``file``, a label other than normal/abnormal.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--data {path}: no such file; give a CSV with columns file,label")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        cols = {c.strip() for c in (reader.fieldnames or []) if c}
        if not {"file", "label"} <= cols:
            raise UsageError(f"--data {path}: needs the columns 'file' and 'label' (normal/abnormal); found {sorted(cols)}")
        rows = []
        for n, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            if not row.get("file"):
                raise UsageError(f"{path}:{n}: empty 'file'")
            label = _LABELS.get(row.get("label", "").lower())
            if label is None:
                raise UsageError(f"{path}:{n}: label {row.get('label')!r} is not valid; use normal or abnormal")
            rows.append((str((path.parent / row["file"]).resolve()), label))
    return rows


def _check_counts(n_normal: int, n_abnormal: int, minimum: int, what: str) -> None:
    if n_normal < minimum or n_abnormal < minimum:
        raise UsageError(f"{what} has {n_normal} normal and {n_abnormal} abnormal photos; calibration needs at least "
                         f"{minimum} of each (fewer give a threshold and a sensitivity that cannot be trusted)")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _copy_bundle(src_root: Path, out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"--out {out} exists and is not empty; choose a new folder (the original bundle is kept as it is)")
    if out.resolve() == src_root.resolve():
        raise UsageError("--out must differ from --bundle: calibration writes a copy")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src_root, out, dirs_exist_ok=True)


def _write_manifest(root: Path, manifest: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".json", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        os.replace(tmp, root / MANIFEST)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def calibrate_bundle(bundle: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike, *,
                     site: str | None = None, target_sensitivity: float = 0.95, min_per_class: int = MIN_PER_CLASS,
                     backend: str | None = None, precision: str | None = None, threads: int | None = None,
                     batch_size: int = 8) -> CalibrationResult:
    """Calibrate a copy of ``bundle`` on the labelled photos of ``data``; see the module docstring.

    Args:
        site: the clinic's name recorded in the manifest (default: the CSV's folder name).
        target_sensitivity: the sensitivity the threshold must reach on these photos (0 < t <= 1).
        min_per_class: refuse fewer graded photos of either class than this (default 30).
    """
    from edge_screen.screener import ScreenFailure, Screener

    if not 0.0 < target_sensitivity <= 1.0:
        raise UsageError(f"--target-sensitivity must be in (0, 1], got {target_sensitivity}")
    rows = read_site_csv(data)
    labels = np.array([r[1] for r in rows])
    _check_counts(int((labels == 0).sum()), int((labels == 1).sum()), min_per_class, f"--data {data}")
    src = load_bundle(bundle)
    out = Path(out)
    _copy_bundle(src.root, out)
    try:
        screener = Screener(out, backend=backend, precision=precision, threads=threads)
        probs = np.full(len(rows), np.nan)
        ungradable = failed = 0
        for i, res in enumerate(screener.screen_many([r[0] for r in rows], batch_size=batch_size, heatmap=False)):
            if isinstance(res, ScreenFailure):
                failed += 1
                log.warning("calibration photo %s could not be read: %s", res.source, res.error)
            elif res.probability is None or res.verdict == "ungradable":
                ungradable += 1
            else:
                probs[i] = res.probability
        ok = np.isfinite(probs)
        y, p = labels[ok], probs[ok]
        _check_counts(int((y == 0).sum()), int((y == 1).sum()), min_per_class,
                      f"after leaving out {ungradable} ungradable and {failed} unreadable photos, --data {data}")
        thr = threshold_for_sensitivity(y, p, target_sensitivity)
        old = float(screener.threshold)

        def rates(t: float) -> tuple[int, int, int, int]:
            called = p >= t
            return int((called & (y == 1)).sum()), int((y == 1).sum()), int((~called & (y == 0)).sum()), int((y == 0).sum())

        tp, n1, tn, n0 = rates(thr)
        otp, _, otn, _ = rates(old)
        site = site or Path(data).resolve().parent.name
        now = _now()
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        previous = dict(manifest["threshold"])
        history = list(previous.pop("history", []) or [])
        history.append({**previous, "replaced": now})
        manifest["threshold"] = {
            "value": thr,
            "method": f"sensitivity>={target_sensitivity:g} on {int(y.size)} photos from {site} (edge-screen calibrate)",
            "details": {"n_images": int(y.size), "n_normal": n0, "n_abnormal": n1, "n_ungradable": ungradable,
                        "n_failed": failed, "backend": screener.backend, "precision": screener.precision},
            "history": history,
        }
        manifest["calibration"] = {"site": site, "n_images": int(y.size), "n_normal": n0, "n_abnormal": n1, "created": now,
                                   "sensitivity": tp / n1, "specificity": tn / n0,
                                   "target_sensitivity": float(target_sensitivity)}
        _write_manifest(out, manifest)
        stale = out / SIGNATURE
        signed = stale.is_file()
        if signed:  # it signed the manifest that was just replaced
            stale.unlink()
            log.warning("calibrated bundle %s: the source's signature no longer applies and was removed; "
                        "sign it again (edge-screen bundle sign)", out)
        load_bundle(out, verify=True, trusted_keys=[])  # every model file still matches its recorded SHA-256
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # never leave a half-calibrated bundle behind
        raise
    return CalibrationResult(site=site, bundle=str(out), n_images=int(y.size), n_normal=n0, n_abnormal=n1,
                             n_ungradable=ungradable, n_failed=failed, threshold=thr, previous_threshold=old,
                             target_sensitivity=float(target_sensitivity), sensitivity=tp / n1,
                             sensitivity_ci95=wilson_ci(tp, n1), specificity=tn / n0, specificity_ci95=wilson_ci(tn, n0),
                             previous_sensitivity=otp / n1, previous_specificity=otn / n0, signature_removed=signed)


def format_result(r: CalibrationResult) -> str:
    """What the CLI prints: the new operating point with its intervals beside the old one."""
    s_lo, s_hi = r.sensitivity_ci95
    c_lo, c_hi = r.specificity_ci95
    lines = [f"calibrated on {r.n_images} photos from {r.site} ({r.n_normal} normal, {r.n_abnormal} abnormal; "
             f"{r.n_ungradable} ungradable and {r.n_failed} unreadable left out)",
             f"  threshold {r.threshold:.4f} (was {r.previous_threshold:.4f}), target sensitivity {r.target_sensitivity:g}",
             f"  sensitivity {r.sensitivity:.3f} (95% CI {s_lo:.3f}-{s_hi:.3f})   [old threshold: {r.previous_sensitivity:.3f}]",
             f"  specificity {r.specificity:.3f} (95% CI {c_lo:.3f}-{c_hi:.3f})   [old threshold: {r.previous_specificity:.3f}]",
             "  (measured on the photos the threshold was chosen on: expect a little less on new patients)",
             f"calibrated bundle: {r.bundle}"]
    if r.signature_removed:
        lines.append("  the original bundle was signed; this copy is not: sign it (edge-screen bundle sign) where "
                     "only signed bundles are loaded")
    return "\n".join(lines)


def add_calibrate_command(sub) -> None:  # noqa: ANN001 - argparse sub-parsers
    """Register ``edge-screen calibrate`` (a built-in command of the core CLI)."""
    p = sub.add_parser("calibrate", help="choose the threshold on this clinic's own labelled photos",
                       description="Screen a clinic's labelled photos and write a copy of the bundle whose threshold "
                                   "reaches the target sensitivity on them (the model files are unchanged).")
    p.add_argument("--bundle", help="bundle folder or .zip (default: the model shipped with edge-screen)")
    p.add_argument("--data", required=True, metavar="SITE.csv", help="CSV with columns file,label (normal/abnormal); "
                                                                       f"at least {MIN_PER_CLASS} of each")
    p.add_argument("--out", required=True, metavar="BUNDLE", help="new folder for the calibrated bundle")
    p.add_argument("--site", help="clinic name recorded in the bundle (default: the CSV's folder name)")
    p.add_argument("--target-sensitivity", type=float, default=0.95)
    from edge_screen.backends import backend_names, precision_names

    p.add_argument("--backend", choices=backend_names(), help="runtime (default: automatic)")
    p.add_argument("--precision", choices=precision_names(), help="model precision (default: automatic)")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_calibrate)


def _cmd_calibrate(args) -> int:  # noqa: ANN001
    from edge_screen.bundle import default_bundle_path

    bundle = args.bundle or default_bundle_path()
    if bundle is None:
        raise UsageError("no --bundle given and no default model is installed")
    r = calibrate_bundle(bundle, args.data, args.out, site=args.site, target_sensitivity=args.target_sensitivity,
                         backend=args.backend, precision=args.precision, threads=args.threads)
    print(json.dumps(r.to_dict(), indent=2) if args.json else format_result(r))
    return 0


__all__: Sequence[str] = ("CalibrationResult", "calibrate_bundle", "read_site_csv", "wilson_ci", "MIN_PER_CLASS")
