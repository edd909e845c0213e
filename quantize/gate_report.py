"""Rejection rates of the two-stage gate (hand-set, then learned) for the gate report.

Every sample is decided exactly as the screener decides: rejected by the hand-set checks
(``edge_screen.quality``, measured when its features were computed), else by
:meth:`edge_screen.gate.LearnedGate.assess` on its (out-of-fold) gate outputs. A rejection has the
*right reason* when its main reason is one the case expects (``edge_screen.gateset``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Sequence

import numpy as np

from edge_screen.degrade import KINDS
from edge_screen.gate import LearnedGate
from edge_screen.gateset import NOT_FUNDUS_REASONS

#: Reason codes that count as right per degradation (the hand-set gate words some differently).
_RIGHT = {"defocus": {"blurred"}, "motion": {"blurred"}, "dark": {"too_dark", "fov_not_found"},
          "bright": {"too_bright"}, "haze": {"hazy", "low_contrast"}, "reflection": {"ungradable"},
          "eyelash": {"ungradable"}, "field": {"ungradable", "too_dark"}, "jpeg": {"low_resolution"},
          "lowres": {"low_resolution", "blurred"}, "blur_px": {"blurred"}, "greyscale": {"no_colour"},
          "red_free": {"no_colour"}, "red_free_tinted": {"no_colour"}, "thumbnail": {"low_resolution"}}


def decide(gate: LearnedGate, info: dict, probs: np.ndarray, distance: float) -> tuple[bool, list[str]]:
    """``(rejected, reasons)`` of one sample (hand-set first, as in the screener)."""
    if not info["handset_ok"]:
        return True, list(info["handset_reasons"])
    d = gate.assess(probs, distance)
    return (not d.ok), list(d.reasons)


def _rate(rows: list[tuple[bool, list[str]]], right: set[str] | None = None) -> dict[str, Any]:
    n = len(rows)
    rej = [r for r in rows if r[0]]
    out: dict[str, Any] = {"n": n, "rejected": round(len(rej) / n, 4) if n else None}
    if right is not None and rej:
        out["right_reason"] = round(sum(1 for r in rej if r[1] and r[1][0] in right) / len(rej), 4)
    main = Counter(r[1][0] for r in rej if r[1])
    if main:
        out["reasons"] = dict(main.most_common())
    return out


def summarise(gate: LearnedGate, photos: Sequence[Any], groups: dict, infos: dict, oof: dict,
              final_nf: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """The report's rate tables (see the module docs)."""
    # real photos (the plain view of every photo, out of fold)
    real: dict[str, list] = defaultdict(list)
    stages = {"handset": [], "learned": [], "ood": []}
    for s, info, p, r in zip(groups["train"], infos["train"], *oof["train"]):
        if s.kind != "real":
            continue
        ph = photos[s.photo]
        row = decide(gate, info, p, r)
        keys = ["all", f"source:{ph.source}", f"label:{ph.label}", f"source_label:{ph.source}/{ph.label}"]
        if "cataract" in ph.detail.lower():
            keys.append(f"cataract:{ph.source}")
        for k in keys:
            real[k].append(row)
        stages["handset"].append(not info["handset_ok"])
        stages["learned"].append(info["handset_ok"] and float(1 - p[0]) >= gate.max_ungradable)
        stages["ood"].append(info["handset_ok"] and r >= gate.max_ood)
    real_table = {k: _rate(v) for k, v in sorted(real.items())}
    real_table["by_stage"] = {k: round(float(np.mean(v)), 4) for k, v in stages.items()}

    # degraded test set (out of fold)
    per_level: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    copies: dict[str, list] = defaultdict(list)
    for s, info, p, r in zip(groups["test"], infos["test"], *oof["test"]):
        row = decide(gate, info, p, r)
        if s.kind in KINDS or s.kind == "blur_px":
            per_level[s.kind][f"{s.strength:g}"].append(row)
        else:
            copies[s.kind].append(row)
    degraded = {}
    for kind, levels in per_level.items():
        spec = KINDS.get(kind)
        degraded[kind] = {
            "unit": spec.unit if spec else "Gaussian sigma, pixels of the stored photo (whole frame)",
            "ungradable_from": spec.ungradable_from if spec else 6.0,
            "levels": {lv: _rate(rows, _RIGHT[kind]) for lv, rows in sorted(levels.items(), key=lambda kv: float(kv[0]))},
        }
    copies_table = {k: _rate(v, _RIGHT.get(k)) for k, v in sorted(copies.items())}

    # generated non-fundus inputs (final gate: it never saw them)
    nf: dict[str, list] = defaultdict(list)
    for s, info, p, r in zip(groups["non_fundus"], infos["non_fundus"], *final_nf):
        nf[s.kind].append(decide(gate, info, p, r))
    nf_table = {k: _rate(v, set(NOT_FUNDUS_REASONS)) for k, v in sorted(nf.items())}
    all_nf = [row for v in nf.values() for row in v]

    bad_levels = [row for kind, levels in per_level.items() if kind in KINDS
                  for lv, rows in levels.items() if KINDS[kind].ungradable(float(lv)) for row in rows]
    ok_levels = [row for kind, levels in per_level.items() if kind in KINDS
                 for lv, rows in levels.items() if not KINDS[kind].ungradable(float(lv)) for row in rows]
    blur6 = [row for lv, rows in per_level.get("blur_px", {}).items() if float(lv) >= 6 for row in rows]
    return {
        "real_photos_out_of_fold": real_table,
        "degraded": degraded,
        "colourless_and_thumbnails": copies_table,
        "non_fundus": nf_table,
        "targets": {
            "non_fundus_ungradable": _rate(all_nf, set(NOT_FUNDUS_REASONS)),
            "blur_sigma_ge_6px_ungradable": _rate(blur6, {"blurred"}),
            "real_photos_ungradable": real_table["all"],
            "degraded_past_limit_ungradable": _rate(bad_levels),
            "degraded_below_limit_ungradable": _rate(ok_levels),
        },
    }
