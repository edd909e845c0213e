"""The learned gate in a bundle: attach its heads to the exported graph, write ``reports/gate.json``.

``export_bundle(..., gate=PATH)`` puts :class:`~edge_screen.quantize.gate_model.GateHeads` behind the
pooled features of the heatmap graph (two more outputs, ``gate_probabilities`` and ``ood_distance``),
writes the manifest's ``gate`` block and the report:

* ``training``: the report of ``edge-screen train-gate`` (out-of-fold rates, held-out sources);
* ``precisions``: for every exported graph, the gate's decisions on a generated check set (the
  non-fundus cases of :mod:`edge_screen.gateset` and every degradation level of a few real photos,
  each preprocessed as deployment does) plus real photos, with the hand-set gate in front; INT8
  graphs also report their agreement with the FP32 ONNX on the same inputs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edge_screen.errors import UsageError
from edge_screen.gate import GATE_OUTPUTS, LearnedGate

log = logging.getLogger(__name__)

REPORT = "gate"
#: Real photos (from --val, else --calib) whose degradations form the check set.
CHECK_PHOTOS = 6


def attach(model: Any, path: str | Path, writer: Any) -> tuple[Any, dict]:
    """Load ``gate.pt`` for ``model`` (same backbone), record it in the manifest; ``(heads, file dict)``.

    A bundle already exported with another gate is refused: its other graphs would disagree.
    """
    from edge_screen.bundle import sha256_file
    from edge_screen.quantize.gate_model import load_gate

    heads, obj = load_gate(path, model=model)
    block = dict(obj["gate"], sha256=sha256_file(path), backbone_sha256=obj["backbone_sha256"])
    old = writer.manifest.get("gate")
    if old is not None and old.get("sha256") != block["sha256"]:
        raise UsageError(f"bundle already holds models with another gate (sha256 {str(old.get('sha256'))[:12]}); "
                         "export every format with the same --gate, into a fresh bundle")
    LearnedGate.from_manifest(block, bundle=str(writer.manifest.get("name")))  # validate before writing
    writer.manifest["gate"] = block
    return heads, obj


def refuse_gateless_extension(writer: Any) -> None:
    """A bundle with a gate must not gain a graph without one (the screener would refuse that model)."""
    if writer.manifest.get("gate") is not None:
        raise UsageError("this bundle has a learned gate: pass the same --gate gate.pt to every export into it")


def check_set(paths: Sequence[str], prep: Any, *, n_photos: int = CHECK_PHOTOS, seed: int = 0
              ) -> tuple[np.ndarray, list[dict]]:
    """Preprocessed tensors ``[N,3,S,S]`` (float16 to halve the memory) and per-case info (group, kind, strength, expected, hand-set)
    of the generated check set built from the first ``n_photos`` of ``paths``."""
    from edge_screen.gateset import non_fundus_cases, photo_cases
    from edge_screen.imageio import load_image
    from edge_screen.preprocess import detect_fov, preprocess
    from edge_screen.quality import assess_quality

    files = [p for p in paths if Path(p).is_file()][:n_photos]  # (test sets may carry made-up names)
    photos = [(Path(p).stem, load_image(p, target_size=prep.input_size).rgb, None) for p in files]
    tensors, infos = [], []
    for case in [*non_fundus_cases(n_synthetic=4, seed=seed), *photo_cases(photos, seed=seed)]:
        fov = detect_fov(case.rgb)
        q = assess_quality(case.rgb, fov=fov, scale=1.0)
        tensors.append(preprocess(case.rgb, prep, fov=fov).tensor)
        infos.append({"group": case.group, "kind": case.kind, "strength": case.strength, "ungradable": case.ungradable,
                      "handset_ok": q.ok, "handset_reasons": list(q.reasons)})
    return np.stack(tensors).astype(np.float16), infos


def run_all(artifact: Path, format: str, batch: np.ndarray, *, chunk: int = 16) -> dict[str, np.ndarray]:
    """Every output of an exported graph by name (ONNX Runtime, or OpenVINO for ``.xml``), in chunks."""
    outs: dict[str, list[np.ndarray]] = {}
    if format == "openvino":
        from edge_screen.quantize.openvino_export import _compile, _ov

        compiled = _compile(_ov().Core().read_model(str(artifact)), threads=2)
        for i in range(0, len(batch), chunk):
            res = compiled({"image": batch[i:i + chunk].astype(np.float32)})
            for o in compiled.outputs:
                outs.setdefault(o.get_any_name(), []).append(np.array(res[o]))
    else:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        opts.log_severity_level = 3
        sess = ort.InferenceSession(str(artifact), opts, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        for i in range(0, len(batch), chunk):
            for n, v in zip(names, sess.run(names, {"image": batch[i:i + chunk].astype(np.float32)})):
                outs.setdefault(n, []).append(v)
    missing = [n for n in GATE_OUTPUTS if n not in outs]
    if missing:
        raise UsageError(f"{artifact} lacks the gate outputs {missing}")
    return {k: np.concatenate(v) for k, v in outs.items()}


def _decisions(gate: LearnedGate, outs: dict[str, np.ndarray], infos: Sequence[dict] | None) -> list[tuple[bool, str]]:
    rows = []
    for i in range(len(outs["ood_distance"])):
        if infos is not None and not infos[i]["handset_ok"]:
            rows.append((False, infos[i]["handset_reasons"][0]))
            continue
        d = gate.assess(outs["gate_probabilities"][i], float(outs["ood_distance"][i]))
        rows.append((d.ok, d.reasons[0] if d.reasons else "ok"))
    return rows


def precision_entry(gate: LearnedGate, outs: dict, infos: Sequence[dict], real: dict | None,
                    ref: tuple[dict, dict | None] | None = None) -> dict[str, Any]:
    """Rates of one graph on the check set (and real photos); agreement with ``ref`` = FP32 outputs."""
    from collections import defaultdict

    rows = _decisions(gate, outs, infos)
    by: dict[str, list[bool]] = defaultdict(list)
    for info, (ok, _) in zip(infos, rows):
        key = info["kind"] if info["group"] in ("non_fundus", "no_colour", "thumbnail") else info["group"]
        if info["group"] == "degraded":
            key = f"degraded_{'past' if info['ungradable'] else 'below'}_limit"
        by[key].append(not ok)
    entry: dict[str, Any] = {"check_set": {k: {"n": len(v), "rejected": round(float(np.mean(v)), 4)}
                                           for k, v in sorted(by.items())}}
    if real is not None:
        r = _decisions(gate, real, None)
        entry["real_photos"] = {"n": len(r), "rejected_by_learned_gate": round(float(np.mean([not ok for ok, _ in r])), 4)}
    if ref is not None:
        ref_rows = _decisions(gate, ref[0], infos)
        learned = [i for i, info in enumerate(infos) if info["handset_ok"]]
        agree = np.mean([rows[i][0] == ref_rows[i][0] for i in learned]) if learned else float("nan")
        reason = np.mean([rows[i][1] == ref_rows[i][1] for i in learned]) if learned else float("nan")
        pa, pb = 1 - ref[0]["gate_probabilities"][:, 0], 1 - outs["gate_probabilities"][:, 0]
        da, db = ref[0]["ood_distance"], outs["ood_distance"]
        entry["vs_fp32"] = {
            "inputs_reaching_learned_gate": len(learned),
            "decision_agreement": round(float(agree), 4), "main_reason_agreement": round(float(reason), 4),
            "p_ungradable_max_abs_diff": round(float(np.abs(pa - pb).max()), 4),
            "ood_distance_max_rel_diff": round(float((np.abs(da - db) / np.maximum(np.abs(da), 1e-6)).max()), 4),
        }
        if real is not None and ref[1] is not None:
            a, b = _decisions(gate, ref[1], None), _decisions(gate, real, None)
            entry["vs_fp32"]["real_photo_decision_agreement"] = round(float(np.mean([x[0] == y[0] for x, y in zip(a, b)])), 4)
    return entry


def write_report(writer: Any, root: Path, train_report: dict, key: str, entry: dict) -> None:
    """Merge ``entry`` under ``precisions[key]`` into ``reports/gate.json`` (with the training report)."""
    rel = writer.manifest.get("reports", {}).get(REPORT)
    doc: dict = {}
    if rel and (root / rel).is_file():
        doc = json.loads((root / rel).read_text(encoding="utf-8"))
    doc["training"] = train_report
    doc.setdefault("precisions", {})[key] = entry
    writer.add_report(REPORT, doc)
