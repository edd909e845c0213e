"""Benchmark harness: statistics, labelled sets, schema, and a smoke run of the real pipeline.

Timings are never asserted (STYLE.md): only structure, ordering and the numbers that do not depend
on the machine (AUC, verdict agreement, sizes).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_screen.benchmarks import harness, report
from edge_screen.benchmarks.cli import main as bench_main
from edge_screen.benchmarks.machine import machine_record
from edge_screen.benchmarks.runner import BenchmarkConfig, _post_process, plan_cells
from edge_screen.errors import UsageError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_summarize_percentiles_match_numpy_and_are_ordered() -> None:
    rng = np.random.default_rng(1)
    samples = list(rng.gamma(2.0, 3.0, size=137))
    st = harness.summarize(samples)
    assert st["n"] == 137
    assert st["p50"] == pytest.approx(np.percentile(samples, 50), abs=1e-3)
    assert st["p99"] == pytest.approx(np.percentile(samples, 99), abs=1e-3)
    assert st["std"] == pytest.approx(np.std(samples, ddof=1), abs=1e-3)
    assert st["min"] <= st["p50"] <= st["p90"] <= st["p99"] <= st["max"]
    with pytest.raises(UsageError):
        harness.summarize([])


def test_time_calls_counts_warmup_and_runs() -> None:
    calls = []
    samples = harness.time_calls(lambda: calls.append(1), runs=7, warmup=3)
    assert len(samples) == 7 and len(calls) == 10
    assert all(s >= 0 for s in samples)
    with pytest.raises(UsageError):
        harness.time_calls(lambda: None, runs=0, warmup=0)


def test_read_labelled_set_csv_and_errors(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "b.jpg").write_bytes(b"x")
    csv = tmp_path / "set.csv"
    csv.write_text("file,label\na.jpg,abnormal\nb.jpg,0\n")
    paths, labels = harness.read_labelled_set(csv)
    assert [p.name for p in paths] == ["a.jpg", "b.jpg"] and labels == [1, 0]
    assert harness.read_labelled_set(csv, limit=1)[1] == [1]
    csv.write_text("file,label\na.jpg,maybe\n")
    with pytest.raises(UsageError, match="maybe"):
        harness.read_labelled_set(csv)
    csv.write_text("file,label\nmissing.jpg,1\n")
    with pytest.raises(UsageError, match="do not exist"):
        harness.read_labelled_set(csv)
    unl = tmp_path / "unlabelled"
    unl.mkdir()
    (unl / "c.png").write_bytes(b"x")
    assert harness.read_labelled_set(unl) == ([unl / "c.png"], None)


def test_verdict_agreement() -> None:
    out = harness.verdict_agreement([0.1, 0.6, 0.49, 0.9], [0.2, 0.4, 0.51, 0.95], threshold=0.5)
    assert out["agreement"] == pytest.approx(0.5)
    assert out["max_abs_prob_diff"] == pytest.approx(0.2)
    with pytest.raises(UsageError):
        harness.verdict_agreement([0.1], [0.1, 0.2], threshold=0.5)


def test_machine_record_reads_this_machine() -> None:
    m = machine_record()
    assert m["cpu"]["model"] and m["cpu"]["usable_cores"] >= 1
    assert m["libraries"]["numpy"] == np.__version__
    json.dumps(m)  # JSON-safe


def test_cli_module_does_not_import_torch() -> None:
    code = "import sys, edge_screen.benchmarks.cli; print('torch' in sys.modules, 'PySide6' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_benchmark_is_a_subcommand_of_edge_screen() -> None:
    """The entry point registers ``edge-screen benchmark`` with its options."""
    proc = subprocess.run([sys.executable, "-m", "edge_screen", "benchmark", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for opt in ("--bundle", "--teacher", "--backends", "--precisions", "--threads", "--images", "--runs", "--smoke", "--out"):
        assert opt in proc.stdout


def test_plan_records_unavailable_backend_as_skipped(tiny_bundle_factory, tmp_path: Path) -> None:
    """A TensorRT entry on a machine without TensorRT is recorded as skipped, with the reason."""
    from edge_screen.bundle import BundleWriter, load_bundle
    from edge_screen.runtime import get_runtime_class

    if get_runtime_class("tensorrt").is_available():
        pytest.skip("TensorRT is installed here; the skip path is not reachable")
    root = tiny_bundle_factory(openvino=False)
    w = BundleWriter(root)
    onnx_rel = load_bundle(root).model("onnxruntime").files["model"]
    w.add_model("tensorrt", "int8", {"onnx": root / onnx_rel}, note="build the engine on the device")
    w.write()
    cfg = BenchmarkConfig(out=tmp_path, bundle=root, threads=(1, 2), alternatives=False)
    cells, skipped = plan_cells(cfg, cache=tmp_path, accuracy_set=None, camera_jpeg=tmp_path / "x.jpg")
    assert sorted(c.id for c in cells) == ["student/onnxruntime/fp32/native/t1", "student/onnxruntime/fp32/native/t2"]
    assert [s["id"] for s in skipped] == ["student/tensorrt/int8/native/t1", "student/tensorrt/int8/native/t2"]
    assert all("tensorrt" in s["reason"].lower() for s in skipped)
    assert [c.accuracy for c in sorted(cells, key=lambda c: c.threads)] == [False, True]  # once per group
    # the alternatives: eager PyTorch student per thread count, ONNX Runtime FP32 with default settings once
    cells, _ = plan_cells(dataclasses.replace(cfg, alternatives=True), cache=tmp_path, accuracy_set=None,
                          camera_jpeg=tmp_path / "x.jpg")
    extra = sorted(c.id for c in cells if c.kind != "bundle" or c.settings == "default")
    assert extra == ["student/onnxruntime-default/fp32/native/t2", "student/torch/fp32/native/t1",
                     "student/torch/fp32/native/t2"]


def test_rechecked_agreement_takes_the_reference_inside_the_band() -> None:
    p, ref = [0.2, 0.52, 0.46, 0.9, 0.30], [0.1, 0.48, 0.55, 0.9, 0.58]
    assert harness.verdict_agreement(p, ref, 0.5)["agreement"] == pytest.approx(0.4)
    r = harness.rechecked_agreement(p, ref, 0.5, 0.05)  # 0.52 and 0.46 are re-checked; 0.30 is outside
    assert r["agreement"] == pytest.approx(0.8) and r["rechecked"] == pytest.approx(0.4) and r["margin"] == 0.05
    assert r["max_abs_prob_diff"] == pytest.approx(0.28)


def test_post_process_speedup_and_agreement(tmp_path: Path) -> None:
    def cell(kind, backend, precision, threads, p50, probs=None):
        spec = harness.CellSpec(kind=kind, backend=backend, precision=precision, threads=threads, input_size=None)
        d = {"id": spec.id, "spec": spec.to_dict(), "status": "ok", "input_size": 64, "threshold": 0.5,
             "latency_ms": {"p50": p50}}
        if probs is not None:
            path = tmp_path / f"{spec.id.replace('/', '_')}.json"
            path.write_text(json.dumps({"probs": probs}))
            d["spec"]["probs_out"] = str(path)
            d["accuracy"] = {"n": len(probs), "auc": None}
        return d

    cells = [cell("teacher", "torch", "fp32", 2, 200.0), cell("bundle", "onnxruntime", "fp32", 2, 10.0, [0.1, 0.9, 0.6]),
             cell("bundle", "openvino", "int8", 2, 4.0, [0.2, 0.8, 0.4]), cell("bundle", "openvino", "int8", 1, 5.0)]
    comps = _post_process(cells)
    assert len(comps) == 1 and comps[0]["speedup_p50"] == pytest.approx(50.0)
    assert comps[0]["student"] == "student/openvino/int8/native/t2"
    assert cells[2]["accuracy"]["fp32_reference"] == "student/onnxruntime/fp32/native/t2"
    assert cells[2]["accuracy"]["verdict_vs_fp32"]["agreement"] == pytest.approx(2 / 3)
    assert "verdict_vs_fp32" not in cells[1]["accuracy"]  # the reference is not compared with itself


@pytest.fixture(scope="module")
def smoke_run(tiny_bundle, fundus_dev, tmp_path_factory) -> tuple[int, Path]:
    """One smoke benchmark of the tiny bundle (ORT + OpenVINO FP32) on 6 real labelled images."""
    out = tmp_path_factory.mktemp("bench")
    rc = bench_main(["--bundle", str(tiny_bundle), "--images", str(fundus_dev), "--limit-images", "6",
                     "--threads", "1", "--smoke", "--camera-size", "1072x712", "--no-alternatives", "--out", str(out)])
    return rc, out


def test_smoke_benchmark_writes_valid_results(smoke_run) -> None:
    rc, out = smoke_run
    doc = json.loads((out / "results.json").read_text())
    report.validate_results(doc)
    assert rc == 0, [c.get("error") for c in doc["cells"]]
    ok = {c["id"]: c for c in doc["cells"] if c["status"] == "ok"}
    ort = ok["student/onnxruntime/fp32/native/t1"]
    assert ort["latency_ms"]["n"] == 5 and ort["input_size"] == 64
    assert ort["model_file_bytes"] > 0 and ort["peak_rss_mib"] > 0
    assert ort["runtime"]["backend"] == "onnxruntime"
    assert set(ort["e2e"]["stages"]) == set(report.STAGES)
    assert ort["e2e"]["model_only_interleaved"]["n"] == 2  # one model-only call per end-to-end call
    assert ort["accuracy"]["n"] == 6 and 0.0 <= ort["accuracy"]["auc"] <= 1.0
    # folder throughput through screen_many, against the model's batch throughput, same cell
    f = ort["folder"]
    assert f["n_images"] == 4 and set(f["images_per_s"]) == {"model", "pipelined", "serial"}
    assert f["pipelined_over_model"] == pytest.approx(f["images_per_s"]["pipelined"] / f["images_per_s"]["model"],
                                                  rel=0.05, abs=2e-3)
    cli = ok["cli/onnxruntime/fp32/t1"]
    assert cli["kind"] == "cli" and cli["wall_ms"]["n"] == 1 and cli["screen_total_ms"]["p50"] > 0
    default = ok["cli/default/t1"]  # what a user types: no --backend/--precision, the machine's choice
    assert "--backend" not in default["command"] and default["chosen"].split("/")[0] in {"onnxruntime", "openvino"}
    row = next(r for r in doc["ratios"] if r["cell"] == "student/onnxruntime/fp32/native/t1")
    assert row["e2e_minus_model_p50_ms"]["target"] == "<= 8" and row["cli_single_image_ms"]["value"] > 0
    assert ort["cpu_busy"]["own_cores"] >= 0
    assert doc["camera_image"]["width"] == 1072 and doc["camera_image"]["source"].endswith("idrid_0001.jpg")
    if "student/openvino/fp32/native/t1" in ok:  # same FP32 graph on two runtimes: same verdicts
        vs = ok["student/openvino/fp32/native/t1"]["accuracy"]["verdict_vs_fp32"]
        assert vs["agreement"] == 1.0 and vs["max_abs_prob_diff"] < 1e-4
    md = (out / "results.md").read_text()
    assert "student onnxruntime fp32 @64 t1" in md and "Smoke run" in md
    assert "Ratios of issue 16" in md and "Folder throughput" in md and "Command line" in md
    for name in ("latency.png", "latency_vs_auc.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    assert json.loads((out / "machine.json").read_text())["cpu"] == doc["machine"]["cpu"]


def test_validate_results_rejects_broken_documents(smoke_run) -> None:
    _, out = smoke_run
    good = json.loads((out / "results.json").read_text())
    ok_index = next(i for i, c in enumerate(good["cells"]) if c["status"] == "ok")

    def broken(edit) -> dict:
        d = copy.deepcopy(good)
        edit(d)
        return d

    cases = {
        "schema": lambda d: d.update(schema="edge-screen-benchmark/0"),
        "ratios": lambda d: d.pop("ratios"),
        "missing field 'machine'": lambda d: d.pop("machine"),
        "percentiles out of order": lambda d: d["cells"][ok_index]["latency_ms"].update(p90=0.0, p50=1.0),
        "duplicate cell id": lambda d: d["cells"].append(copy.deepcopy(d["cells"][ok_index])),
        "status": lambda d: d["cells"][ok_index].update(status="fine"),
        "auc": lambda d: d["cells"][ok_index]["accuracy"].update(auc=1.5),
        "not a cell id": lambda d: d["comparisons"].append({"teacher": "nope", "student": "nope", "speedup_p50": 2.0}),
    }
    for match, edit in cases.items():
        with pytest.raises(report.ResultsSchemaError, match=match):
            report.validate_results(broken(edit))


def test_ort_default_settings_cell(tmp_path: Path, tiny_bundle: Path) -> None:
    """The alternative a user would pick: the bundle's ONNX file in a plain InferenceSession(path)."""
    from edge_screen.benchmarks.runner import run_cell_subprocess

    spec = harness.CellSpec(kind="bundle", backend="onnxruntime", precision="fp32", threads=1, settings="default",
                            bundle=str(tiny_bundle), runs=3, warmup=1, batch=2, throughput_runs=2, e2e_runs=0)
    assert spec.id == "student/onnxruntime-default/fp32/native/t1"
    r = run_cell_subprocess(spec, work=tmp_path, timeout_s=300)
    assert r["status"] == "ok", r.get("error")
    assert r["runtime"]["threads"] is None and "defaults" in r["runtime"]["settings"]


@pytest.mark.slow
def test_teacher_cell_runs_in_torch(tmp_path: Path, tiny_bundle: Path) -> None:
    """The FP32 PyTorch teacher cell through the real Screener (random init, tiny input so it stays fast)."""
    pytest.importorskip("torch")
    from edge_screen.synthetic import synthetic_fundus
    import cv2

    jpeg = tmp_path / "cam.jpg"
    cv2.imwrite(str(jpeg), cv2.cvtColor(synthetic_fundus(512, seed=2, width=768, height=512), cv2.COLOR_RGB2BGR))
    spec = harness.CellSpec(kind="teacher", backend="torch", precision="fp32", threads=1, input_size=64,
                            teacher="jang2024_resnet50", runs=3, warmup=1, batch=2, throughput_runs=2, e2e_runs=2,
                            bundle=str(tiny_bundle), camera_jpeg=str(jpeg))
    from edge_screen.benchmarks.runner import run_cell_subprocess

    r = run_cell_subprocess(spec, work=tmp_path, timeout_s=300)
    assert r["status"] == "ok", r.get("error")
    assert r["input_size"] == 64 and "random init" in r["weights"]
    assert r["output"] == {"probs_shape": [1, 2], "heatmap_shape": [1, 2, 2]}
    assert r["parameters"] > 20_000_000 and r["heatmap_kind"] == "gradcam"
    # the same Screener stages as the students: the teacher's map is mapped onto the decoded image
    assert set(r["e2e"]["stages"]) == set(report.STAGES) and r["e2e"]["heatmap_size"] == r["e2e"]["decoded_size"]
    assert r["runtime"]["backend"] == "torch"
    # the bundle's student in eager PyTorch: the bundle's own preprocessing (64 px)
    eager = dataclasses.replace(spec, kind="torch-student", teacher="effnet_lite0", input_size=None, e2e_runs=1)
    r = run_cell_subprocess(eager, work=tmp_path, timeout_s=300)
    assert r["status"] == "ok", r.get("error")
    assert r["input_size"] == 64 and "random init" in r["weights"] and set(r["e2e"]["stages"]) == set(report.STAGES)


def test_readme_table_is_generated_from_the_results(smoke_run, tmp_path: Path) -> None:
    _, out = smoke_run
    doc = json.loads((out / "results.json").read_text())
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n## Benchmarks\n\n{report.README_START}\nold table\n{report.README_END}\n\n## Next\n")
    report.update_readme(readme, doc, results_dir="benchmarks/results/here")
    text = readme.read_text()
    assert "old table" not in text and text.endswith("## Next\n") and text.count(report.README_START) == 1
    table = text.split(report.README_START)[1].split(report.README_END)[0]
    ort = next(c for c in doc["cells"] if c["id"] == "student/onnxruntime/fp32/native/t1")
    assert f"{ort['latency_ms']['p50']:.1f} ms" in table
    assert "Targets (issue 16)" in table and "benchmarks/results/here/results.md" in table
    plain = tmp_path / "plain.md"
    plain.write_text("no markers here\n")
    with pytest.raises(report.ResultsSchemaError, match="markers"):
        report.update_readme(plain, doc, results_dir="r")


def test_app_timing_marks_are_read() -> None:
    from edge_screen.benchmarks.startup import _app_marks

    out = ("INFO something\ntiming window_shown 1796168496.873 since_run_s=0.897 window=1284x724+0+0\n"
           "timing first_screened 1796168498.358 since_run_s=2.382 window=1284x724+0+0\nscreenshot: x.png\n")
    assert _app_marks(out) == {"window_shown": pytest.approx(897.0), "first_screened": pytest.approx(2382.0)}
    assert _app_marks("timing broken line\n") == {}
