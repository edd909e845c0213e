"""Write a benchmark run: ``results.json`` (validated), ``results.md``, ``machine.json`` and PNG plots.

:func:`validate_results` is the schema of ``results.json`` (``edge-screen-benchmark/1``) written as
code: it names the path of the first field that is missing or of the wrong type.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_screen.errors import EdgeScreenError

logger = logging.getLogger(__name__)

SCHEMA = "edge-screen-benchmark/2"
STATS_KEYS = ("n", "p50", "p90", "p99", "mean", "std", "min", "max")
CELL_STATUSES = ("ok", "error", "skipped")
STAGES = ("decode", "fov", "quality", "preprocess", "inference", "heatmap", "overlay")


class ResultsSchemaError(EdgeScreenError):
    """A results document does not follow ``edge-screen-benchmark/1``."""


def _need(d: Any, key: str, typ: type | tuple[type, ...], where: str, *, nullable: bool = False) -> Any:
    if not isinstance(d, Mapping) or key not in d:
        raise ResultsSchemaError(f"{where}: missing field {key!r}")
    v = d[key]
    if v is None and nullable:
        return v
    if isinstance(v, bool) and typ in (int, float, (int, float)):
        raise ResultsSchemaError(f"{where}.{key}: expected a number, got a bool {v!r}")
    if not isinstance(v, typ):
        raise ResultsSchemaError(f"{where}.{key}: expected {typ}, got {type(v).__name__} {str(v)[:80]!r}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ResultsSchemaError(f"{where}.{key}: not finite ({v})")
    return v


def _check_stats(d: Any, where: str) -> None:
    if not isinstance(d, Mapping):
        raise ResultsSchemaError(f"{where}: expected a statistics object, got {type(d).__name__}")
    for k in STATS_KEYS:
        v = _need(d, k, (int, float), where)
        if k != "n" and v < 0:
            raise ResultsSchemaError(f"{where}.{k}: a duration cannot be negative ({v})")
    if not d["min"] <= d["p50"] <= d["p90"] <= d["p99"] <= d["max"]:
        raise ResultsSchemaError(f"{where}: percentiles out of order (min<=p50<=p90<=p99<=max): {dict(d)}")
    if d["n"] < 1:
        raise ResultsSchemaError(f"{where}.n: at least one sample needed, got {d['n']}")


def _check_ok_cell(c: Mapping, where: str) -> None:
    _need(c, "spec", Mapping, where)
    spec = c["spec"]
    for k, t in (("kind", str), ("backend", str), ("precision", str), ("threads", int)):
        _need(spec, k, t, f"{where}.spec")
    _need(c, "input_size", int, where)
    _need(c, "load_ms", (int, float), where)
    _need(c, "first_run_ms", (int, float), where)
    _need(c, "peak_rss_mib", (int, float), where)
    _need(c, "model_file_bytes", int, where)
    _need(c, "runtime", Mapping, where)
    _check_stats(_need(c, "latency_ms", Mapping, where), f"{where}.latency_ms")
    if c["latency_ms"]["n"] != spec.get("runs"):
        raise ResultsSchemaError(f"{where}.latency_ms.n is {c['latency_ms']['n']}, the spec asked for {spec.get('runs')} runs")
    tp = c.get("throughput")
    if tp is not None and "error" not in tp:
        _need(tp, "batch", int, f"{where}.throughput")
        _need(tp, "images_per_s", (int, float), f"{where}.throughput")
        _check_stats(_need(tp, "batch_latency_ms", Mapping, f"{where}.throughput"), f"{where}.throughput.batch_latency_ms")
    e2e = c.get("e2e")
    if e2e is not None and "error" not in e2e:
        _check_stats(_need(e2e, "total", Mapping, f"{where}.e2e"), f"{where}.e2e.total")
        stages = _need(e2e, "stages", Mapping, f"{where}.e2e")
        for s in STAGES:
            _check_stats(_need(stages, s, Mapping, f"{where}.e2e.stages"), f"{where}.e2e.stages.{s}")
    acc = c.get("accuracy")
    if acc is not None and "error" not in acc:
        _need(acc, "n", int, f"{where}.accuracy")
        auc = _need(acc, "auc", (int, float), f"{where}.accuracy", nullable=True)
        if auc is not None and not 0.0 <= auc <= 1.0:
            raise ResultsSchemaError(f"{where}.accuracy.auc: must be in 0..1, got {auc}")
        vs = acc.get("verdict_vs_fp32")
        if vs is not None and not 0.0 <= _need(vs, "agreement", (int, float), f"{where}.accuracy.verdict_vs_fp32") <= 1.0:
            raise ResultsSchemaError(f"{where}.accuracy.verdict_vs_fp32.agreement must be in 0..1")


def validate_results(doc: Any) -> None:
    """Raise :class:`ResultsSchemaError` unless ``doc`` is a valid ``edge-screen-benchmark/1`` document.

    Required: ``schema``, ``created``, ``tool``, ``config``, ``machine`` (with ``cpu.model`` and
    ``libraries``), ``notes`` (list of str), ``cells`` (list; each has ``id`` and ``status`` in
    ok/error/skipped; an ok bundle/teacher cell has latency statistics whose percentiles are
    ordered, load time, peak RSS, model size and the optional throughput / e2e / accuracy blocks),
    ``comparisons`` (teacher vs student, with a positive ``speedup_p50``).
    """
    where = "results"
    if _need(doc, "schema", str, where) != SCHEMA:
        raise ResultsSchemaError(f"results.schema is {doc['schema']!r}; this reader knows {SCHEMA!r}")
    for k, t in (("created", str), ("tool", str), ("config", Mapping), ("machine", Mapping), ("notes", list),
                 ("cells", list), ("comparisons", list), ("ratios", list), ("smoke", bool)):
        _need(doc, k, t, where)
    cpu = _need(doc["machine"], "cpu", Mapping, "results.machine")
    _need(cpu, "model", str, "results.machine.cpu")
    _need(doc["machine"], "libraries", Mapping, "results.machine")
    if not all(isinstance(n, str) for n in doc["notes"]):
        raise ResultsSchemaError("results.notes: every note must be a string")
    ids = set()
    for i, c in enumerate(doc["cells"]):
        w = f"results.cells[{i}]"
        cid = _need(c, "id", str, w)
        if cid in ids:
            raise ResultsSchemaError(f"{w}.id: duplicate cell id {cid!r}")
        ids.add(cid)
        status = _need(c, "status", str, w)
        if status not in CELL_STATUSES:
            raise ResultsSchemaError(f"{w}.status: {status!r} is not one of {CELL_STATUSES}")
        if status == "error":
            _need(c, "error", str, w)
        elif status == "skipped":
            _need(c, "reason", str, w)
        elif c.get("kind") == "app":
            _check_stats(_need(c, "startup_to_exit_ms", Mapping, w), f"{w}.startup_to_exit_ms")
        elif c.get("kind") == "cli":
            _check_stats(_need(c, "wall_ms", Mapping, w), f"{w}.wall_ms")
        else:
            _check_ok_cell(c, w)
    for i, row in enumerate(doc["ratios"]):
        w = f"results.ratios[{i}]"
        if _need(row, "cell", str, w) not in ids:
            raise ResultsSchemaError(f"{w}.cell: {row['cell']!r} is not a cell id")
    for i, comp in enumerate(doc["comparisons"]):
        w = f"results.comparisons[{i}]"
        for k in ("teacher", "student"):
            if _need(comp, k, str, w) not in ids:
                raise ResultsSchemaError(f"{w}.{k}: {comp[k]!r} is not a cell id")
        if _need(comp, "speedup_p50", (int, float), w) <= 0:
            raise ResultsSchemaError(f"{w}.speedup_p50 must be positive, got {comp['speedup_p50']}")


def _fmt(v: Any, nd: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _mb(n: int | None) -> str:
    if n is None:
        return "–"
    return f"{n / 1e6:.2f}" if n >= 100_000 else f"{n / 1e6:.4f}"


def _label(c: Mapping) -> str:
    s = c["spec"]
    name = "teacher" if s["kind"] == "teacher" else "student"
    backend = s["backend"] + ("-default" if s.get("settings") == "default" else "")
    if s["kind"] == "torch-student":
        backend = "torch eager"
    return f"{name} {backend} {s['precision']} @{c.get('input_size', '?')} t{s['threads']}"


def _met(t: Any, nd: int = 2) -> str:
    """A target cell: value (target) and a mark."""
    if not isinstance(t, Mapping):
        return _fmt(t, nd)
    if t.get("value") is None:
        return "–"
    mark = {True: "met", False: "NOT met", None: ""}[t.get("met")]
    return f"{t['value']:.{nd}f} ({t['target']}, {mark})"


def _ratio_lines(doc: Mapping) -> list[str]:
    rows = doc.get("ratios") or []
    if not rows:
        return []
    lines = ["", "## Ratios of issue 16, each measured within this run", "",
             "| cell | model p50 ms | e2e p50 ms | e2e - model ms (interleaved) | e2e / model | folder / model batch-N |"
             " folder (no overlap) / model | teacher / this e2e | torch eager / this (model) | ORT FP32 default / this (model) | CLI one image ms |",
             "|---|---:|---:|---|---:|---|---:|---|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['cell']} | {_fmt(r.get('model_p50_ms'))} | {_fmt(r.get('e2e_p50_ms'))} | "
                     f"{_met(r.get('e2e_minus_model_p50_ms'))} | {_fmt(r.get('e2e_over_model_p50'))} | "
                     f"{_met(r.get('folder_over_model_batch'))} | {_fmt(r.get('folder_serial_over_model_batch'))} | "
                     f"{_met(r.get('teacher_over_student_e2e'), 1)} | {_fmt(r.get('torch_eager_student_over_this_model'), 1)} | "
                     f"{_fmt(r.get('ort_default_fp32_over_this_model'), 2)} | {_met(r.get('cli_single_image_ms'), 0)} |")
    return lines


def _busy_lines(doc: Mapping) -> list[str]:
    cells = [c for c in doc["cells"] if c.get("cpu_busy", {}).get("machine_busy_cores") is not None]
    if not cells:
        return []
    cores = doc["machine"]["cpu"].get("usable_cores")
    others = [c["cpu_busy"]["others_cores"] for c in cells]
    lines = ["", f"## How busy the machine was ({cores} usable cores)", "",
             "CPU time of other processes during each cell (from /proc/stat, less the cell's own), in cores:", "",
             "| cell | wall s | this cell, cores | other processes, cores | steal, cores | load avg start / end |",
             "|---|---:|---:|---:|---:|---|"]
    for c in cells:
        b = c["cpu_busy"]
        la = f"{(c.get('loadavg_start') or ['–'])[0]} / {(c.get('loadavg_end') or ['–'])[0]}"
        lines.append(f"| {c['id']} | {b['wall_s']:.0f} | {b['own_cores']:.2f} | {b['others_cores']:.2f} | "
                     f"{b.get('steal_cores', 0):.2f} | {la} |")
    lines.append(f"\nMedian other load: {sorted(others)[len(others) // 2]:.2f} cores, max {max(others):.2f}.")
    return lines


def markdown(doc: Mapping) -> str:
    """The results as Markdown: a model-only table, an end-to-end table, speedups, skipped/failed cells."""
    m = doc["machine"]
    cpu = m["cpu"]
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v)
    lines = [f"# edge-screen benchmark ({doc['created']})", ""]
    if doc.get("smoke"):
        lines += ["**Smoke run: too few runs to quote.**", ""]
    lines += [f"- Machine: {cpu['model']} ({cpu.get('usable_cores')} usable cores, {cpu.get('architecture')})"
              + (f", GPUs: {', '.join(g['name'] for g in m['gpus'])}" if m.get("gpus") else ""),
              f"- Key CPU flags: {', '.join(k for k, v in (cpu.get('key_flags') or {}).items() if v) or 'none'}",
              f"- Libraries: {libs}", f"- Tool: {doc['tool']}"]
    cam = doc.get("camera_image")
    if cam:
        lines.append(f"- End-to-end input: {cam['width']}x{cam['height']} JPEG q{cam['jpeg_quality']} "
                     f"({cam['bytes'] / 1e6:.2f} MB), from {Path(str(cam['source'])).name}, read into memory before timing")
    lines += [f"- Note: {n}" for n in doc["notes"]]
    ok = [c for c in doc["cells"] if c["status"] == "ok" and c.get("kind") != "app" and "latency_ms" in c]
    lines += ["", "## Model only (batch 1) and load", "",
              "| cell | weights | file MB | load ms | p50 ms | p90 ms | p99 ms | mean ± std ms | batch-N img/s | peak RSS MiB | AUC | verdict = FP32 | with re-check |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in ok:
        lat, tp, acc = c["latency_ms"], c.get("throughput") or {}, c.get("accuracy") or {}
        vs = acc.get("verdict_vs_fp32") or {}
        rc = acc.get("verdict_vs_fp32_rechecked") or {}
        weights = "random" if "random" in str(c.get("weights")) else ("ckpt" if c["spec"]["kind"] == "teacher" else "bundle")
        tps = f"{tp['images_per_s']:.1f} (N={tp['batch']})" if "images_per_s" in tp else "–"
        lines.append(
            f"| {_label(c)} | {weights} | {_mb(c['model_file_bytes'])} | {c['load_ms']:.0f} | {lat['p50']:.2f} | "
            f"{lat['p90']:.2f} | {lat['p99']:.2f} | {lat['mean']:.2f} ± {lat['std']:.2f} | {tps} | "
            f"{c['peak_rss_mib']:.0f} | {_fmt(acc.get('auc'), 3)} | {_fmt(vs.get('agreement'), 3)} | "
            + (f"{rc['agreement']:.3f} ({100 * rc['rechecked']:.0f}% re-checked)" if rc else "–") + " |")
    e2e = [c for c in ok if c.get("e2e") and "error" not in c["e2e"]]
    if e2e:
        lines += ["", "## End to end: JPEG bytes -> Screener.screen -> heatmap overlay (p50 ms per stage)", "",
                  "| cell | decoded to | decode | fov | quality | preprocess | inference | heatmap | overlay | total p50 | total p90 |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for c in e2e:
            st = c["e2e"]["stages"]
            ds = c["e2e"].get("decoded_size") or ["?", "?"]
            lines.append(f"| {_label(c)} | {ds[0]}x{ds[1]} | " + " | ".join(f"{st[s]['p50']:.2f}" for s in STAGES)
                         + f" | {c['e2e']['total']['p50']:.2f} | {c['e2e']['total']['p90']:.2f} |")
    if doc["comparisons"]:
        lines += ["", "## Teacher (FP32 PyTorch) vs student INT8, same run", "",
                  "| teacher | student | threads | teacher p50 ms | student p50 ms | speedup | e2e speedup |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for comp in doc["comparisons"]:
            lines.append(f"| {comp['teacher']} | {comp['student']} | {comp['threads']} | {comp['teacher_p50_ms']:.2f} | "
                         f"{comp['student_p50_ms']:.2f} | {comp['speedup_p50']:.1f}x | {_fmt(comp.get('e2e_speedup_p50'), 1)}x |")
    folders = [c for c in ok if "images_per_s" in (c.get("folder") or {})]
    if folders:
        lines += ["", "## Folder throughput: Screener.screen_many over 12 MP JPEG files vs the model alone (images/s, "
                  "median of alternating rounds)", "",
                  "| cell | images | batch | workers | model batch-N | screen_many pipelined | screen_many, no workers | "
                  "pipelined / model | pipelined / no workers |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for c in folders:
            f = c["folder"]
            ips = f["images_per_s"]
            lines.append(f"| {_label(c)} | {f['n_images']} | {f['batch']} | {f['workers']} | {ips['model']:.1f} | "
                         f"{ips['pipelined']:.1f} | {ips['serial']:.1f} | {f['pipelined_over_model']:.2f} | "
                         f"{f['pipelined_over_serial']:.2f} |")
    clis = [c for c in doc["cells"] if c.get("kind") == "cli" and c["status"] == "ok"]
    if clis:
        lines += ["", "## Command line, one 12 MP image, a fresh process per run (wall ms)", "",
                  "| command | p50 | max | Screener's own total (p50) |", "|---|---:|---:|---:|"]
        for c in clis:
            own = (c.get("screen_total_ms") or {}).get("p50")
            lines.append(f"| `{c['command']}` | {c['wall_ms']['p50']:.0f} | {c['wall_ms']['max']:.0f} | {_fmt(own, 1)} |")
    lines += _ratio_lines(doc)
    apps = [c for c in doc["cells"] if c.get("kind") == "app" and c["status"] == "ok"]
    for c in apps:
        st = c["startup_to_exit_ms"]
        marks = c.get("marks_ms") or {}
        extra = "".join(f", {k.replace('_', ' ')} p50 {v['p50']:.0f} ms" for k, v in marks.items())
        lines += ["", f"App (`{c['command']}`, {st['n']} runs): launch to exit p50 {st['p50']:.0f} ms, max {st['max']:.0f} ms"
                  + extra]
    lines += _busy_lines(doc)
    other = [f"- `{c['id']}` {c['status']}: {c.get('reason') or c.get('error')}" for c in doc["cells"] if c["status"] != "ok"]
    other += [f"- `{c['id']}` {block} error: {(c.get(block) or {})['error']}" for c in ok
              for block in ("e2e", "accuracy", "throughput", "folder") if "error" in (c.get(block) or {})]
    if other:
        lines += ["", "## Not measured", "", *other]
    return "\n".join(lines) + "\n"


README_START = "<!-- benchmark-table:start (generated by python -m edge_screen.benchmarks.report --readme) -->"
README_END = "<!-- benchmark-table:end -->"


def readme_table(doc: Mapping, *, results_dir: str) -> str:
    """The README's benchmark section body, generated from one results document."""
    cells = {c["id"]: c for c in doc["cells"] if c["status"] == "ok"}
    m = doc["machine"]
    cpu = m["cpu"]
    flags = ", ".join(k for k, v in (cpu.get("key_flags") or {}).items() if v)
    from edge_screen.backends import backend_names

    libs = ", ".join(f"{k} {m['libraries'][k]}" for k in (*reversed(backend_names()), "torch", "opencv", "numpy")
                     if m["libraries"].get(k))
    lines = [f"Measured by `edge-screen benchmark` on {doc['created'][:10]} ({cpu['model']}, {cpu.get('usable_cores')} "
             f"usable cores, {flags}; {libs}); full tables, plots, the machine record and notes: "
             f"[{results_dir}]({results_dir}/results.md) (what bounds each target, the model's floor and the cost of a "
             f"smaller input: [NOTES.md]({results_dir}/NOTES.md)). p50, batch 1, one run; every cell runs through the real "
             "`Screener`; ratios are measured within one cell process, interleaved, because the machine is shared.", "",
             "| model | backend | threads | model only | end-to-end from a 12 MP JPEG | e2e - model | "
             "e2e - model, CPU time | folder img/s (model batch-8 img/s) | file | AUC (300 accuracy-set photos; in the training sources of bundle 2.x: compares paths, not an accuracy estimate) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in cells.values():
        if "latency_ms" not in c:
            continue
        s = c["spec"]
        kind = {"teacher": f"teacher {c.get('model_name')} @{c.get('input_size')}",
                "torch-student": f"student @{c.get('input_size')} (random init)"}.get(
            s["kind"], f"student @{c.get('input_size')} {s['precision'].upper()}")
        backend = {"torch": "PyTorch eager FP32"}.get(s["backend"], s["backend"])
        if s.get("settings") == "default":
            backend += " (library defaults)"
        e2e = c.get("e2e") or {}
        f = (c.get("folder") or {}).get("images_per_s") or {}
        acc = (c.get("accuracy") or {}).get("auc")
        lines.append(
            f"| {kind} | {backend} | {s['threads']} | {c['latency_ms']['p50']:.1f} ms | "
            f"{_fmt((e2e.get('total') or {}).get('p50'), 1)} ms | {_fmt(e2e.get('e2e_minus_model_p50_ms'), 1)} ms | "
            f"{_fmt((e2e.get('cpu_ms') or {}).get('e2e_minus_model_p50'), 1)} ms | "
            + (f"{f['pipelined']:.1f} ({f['model']:.1f})" if f else "–")
            + f" | {_mb(c.get('model_file_bytes'))} MB | {_fmt(acc, 3)} |")
    rows = doc.get("ratios") or []
    if rows:
        lines += ["", "Targets (issue 16), from the same run:", ""]
        for r in rows:
            bits = [f"e2e - model {_met(r.get('e2e_minus_model_p50_ms'), 1)} ms",
                    f"folder / model batch {_met(r.get('folder_over_model_batch'))}",
                    f"teacher / student end to end {_met(r.get('teacher_over_student_e2e'), 1)}",
                    f"CLI one image {_met(r.get('cli_single_image_ms'), 0)} ms"]
            if r.get("app_to_screened_ms"):
                bits.append(f"app start to screened image {_met(r['app_to_screened_ms'], 0)} ms")
            lines.append(f"- `{r['cell']}`: " + "; ".join(bits) + ".")
    busy = [c["cpu_busy"] for c in doc["cells"] if (c.get("cpu_busy") or {}).get("others_cores") is not None]
    if busy:
        others = sorted(b["others_cores"] for b in busy)
        own = sorted(b["own_cores"] for b in busy)
        lines += ["", f"How busy the machine was: other processes used {others[len(others) // 2]:.2f} of the "
                  f"{cpu.get('usable_cores')} cores (median over the cells, from /proc/stat), the benchmark cells "
                  f"{own[len(own) // 2]:.2f}. Wall times are inflated accordingly; CPU times (all threads of the cell "
                  "process) are not, and the ratios are measured within one cell."]
    return "\n".join(lines).rstrip() + "\n"


def update_readme(readme: Path, doc: Mapping, *, results_dir: str) -> None:
    """Replace the text between :data:`README_START` and :data:`README_END` in ``readme``."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ResultsSchemaError(f"{readme}: no {README_START!r} ... {README_END!r} markers to replace between")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(head + README_START + "\n" + readme_table(doc, results_dir=results_dir) + README_END + tail)


def main(argv: list[str] | None = None) -> int:
    """``python -m edge_screen.benchmarks.report RESULTS.json [--readme README.md]``: re-render a run."""
    import argparse

    p = argparse.ArgumentParser(description="Re-render results.md (and the README's benchmark table) from results.json")
    p.add_argument("results", type=Path)
    p.add_argument("--readme", type=Path, help="rewrite the benchmark table between the markers in this README")
    p.add_argument("--no-plots", action="store_true")
    args = p.parse_args(argv)
    doc = json.loads(args.results.read_text())
    write_report(doc, args.results.parent, plots=not args.no_plots)
    if args.readme:
        rel = Path(args.results.parent).resolve().relative_to(args.readme.resolve().parent)
        update_readme(args.readme, doc, results_dir=rel.as_posix())
    return 0


def write_plots(doc: Mapping, out: Path) -> list[Path]:
    """``latency.png`` (p50 with p90 whiskers per cell), ``e2e_stages.png`` and ``latency_vs_auc.png``.

    Returns the paths written (none when no cell succeeded).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [c for c in doc["cells"] if c["status"] == "ok" and "latency_ms" in c]
    written: list[Path] = []
    if not ok:
        return written
    labels = [_label(c) for c in ok]
    p50 = [c["latency_ms"]["p50"] for c in ok]
    p90 = [c["latency_ms"]["p90"] for c in ok]
    e2e = [c["e2e"]["total"]["p50"] if "total" in (c.get("e2e") or {}) else 0.0 for c in ok]
    fig, ax = plt.subplots(figsize=(max(8.0, 0.9 * len(ok) + 5), 4.5))
    xs = range(len(ok))
    ax.bar([x - 0.2 for x in xs], p50, width=0.4, label="model only p50 (bar) / p90 (whisker)",
           yerr=[[0] * len(ok), [b - a for a, b in zip(p50, p90)]], capsize=3, color="tab:blue")
    cam = doc.get("camera_image") or {}
    ax.bar([x + 0.2 for x in xs], e2e, width=0.4, color="tab:orange",
           label=f"end to end p50 ({cam.get('width', '?')}x{cam.get('height', '?')} JPEG)")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("ms (log scale)")
    ax.set_yscale("log")
    ax.set_title(f"Latency per backend / precision — {doc['machine']['cpu']['model']}"[:90], fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    path = out / "latency.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)

    staged = [c for c in ok if "stages" in (c.get("e2e") or {})]
    if staged:
        fig, ax = plt.subplots(figsize=(8, 1.2 + 0.45 * len(staged)))
        left = [0.0] * len(staged)
        for stage in STAGES:
            widths = [c["e2e"]["stages"][stage]["p50"] for c in staged]
            ax.barh(range(len(staged)), widths, left=left, label=stage)
            left = [a + b for a, b in zip(left, widths)]
        ax.set_yticks(range(len(staged)))
        ax.set_yticklabels([_label(c) for c in staged], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("ms (p50 of each stage)")
        ax.set_title("End-to-end stage breakdown", fontsize=10)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        path = out / "e2e_stages.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    pts = [(c["latency_ms"]["p50"], (c.get("accuracy") or {}).get("auc"), _label(c)) for c in ok]
    pts = [p for p in pts if p[1] is not None]
    if pts:
        from matplotlib.ticker import FormatStrFormatter

        for x, y, lab in pts:
            ax.scatter([x], [y])
            ax.annotate(lab, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        # plain numbers on the log axis (matplotlib's 8x10^0 labels overlap on a narrow range), and
        # room on the right and above for the labels of the slowest / most accurate points
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        ax.set_xlim(min(xs) / 1.25, max(xs) * 2.5)
        span = max(ys) - min(ys) or 0.01
        ax.set_ylim(min(ys) - 0.15 * span, max(ys) + 0.25 * span)
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.tick_params(axis="x", which="minor", labelsize=7)
    else:
        ax.text(0.5, 0.5, "no labelled set (--images with labels) or no AUC measured",
                ha="center", va="center", transform=ax.transAxes, fontsize=9)
    ax.set_xlabel("model-only p50 latency, ms (log)")
    ax.set_ylabel("AUC (abnormal vs normal)")
    ax.set_title("Latency vs AUC", fontsize=10)
    fig.tight_layout()
    path = out / "latency_vs_auc.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)
    return written


def write_report(doc: Mapping, out: Path, *, plots: bool = True) -> dict[str, Path]:
    """Validate, then write results.json, machine.json, results.md and (``plots``) the PNGs into ``out``."""
    validate_results(doc)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": out / "results.json", "machine": out / "machine.json", "markdown": out / "results.md"}
    paths["results"].write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    paths["machine"].write_text(json.dumps(doc["machine"], indent=1) + "\n")
    paths["markdown"].write_text(markdown(doc))
    if plots:
        for p in write_plots(doc, out):
            paths[p.stem] = p
    return paths


if __name__ == "__main__":
    import sys

    sys.exit(main())
