"""The documented one-command path from a user's copy of the Jang et al. 2024 teacher to a bundle."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from edge_screen.bundle import load_bundle
from edge_screen.screener import Screener

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
from conftest import draw_fundus, write_set  # noqa: E402


def _released_format_checkpoint(path: Path) -> None:
    """Same architecture and file format as resnet50_512_ImageNet+Fundus.pth, random weights."""
    torch.manual_seed(0)
    net = torchvision.models.resnet50(weights=None)
    net.fc = nn.Sequential(nn.Linear(2048, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 2))
    torch.save(nn.DataParallel(net), path)  # the whole pickled DataParallel, keys prefixed module.


@pytest.mark.slow
def test_from_jang_recipe_builds_a_bundle_that_screens(tmp_path: Path) -> None:
    ckpt = tmp_path / "resnet50_512_ImageNet+Fundus.pth"
    _released_format_checkpoint(ckpt)
    labels = write_set(tmp_path / "data", 10, size=96)
    env = {**os.environ, "IMG": "64", "TEACHER_IMG": "64", "EPOCHS": "1", "FREEZE": "3", "CALIB": "8",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run(["bash", str(REPO / "quantize" / "recipes" / "from_jang.sh"), str(ckpt), str(labels),
                          str(tmp_path / "work")], env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    bundle = load_bundle(tmp_path / "work" / "bundle")  # hashes verified
    have = {(m.backend, m.precision) for m in bundle.models}
    assert {("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "int8"), ("tensorrt", "int8")} <= have
    assert bundle.preprocessing.input_size == 64
    assert bundle.manifest["provenance"]  # teacher and data recorded
    # the training photos are 96 px (a fast test); a disc under 100 stored pixels is low_resolution, so
    # the screened photo is a larger one
    photo = draw_fundus(7, True, 192)
    result = Screener(bundle, backend="onnxruntime", precision="int8").screen(photo)
    assert result.verdict in ("abnormal", "normal") and 0.0 <= result.probability <= 1.0


def test_sample_csv_draws_a_tuning_set_apart_from_calib_and_report(tmp_path: Path) -> None:
    """``--tune`` adds photos the INT8 report never measures, and leaves calib/report as they were."""
    import csv

    sys.path.insert(0, str(REPO / "quantize" / "recipes"))
    import sample_csv

    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "source_label", "source_repo", "source_path"])
        for i in range(200):
            w.writerow([f"images/{'ab'[i % 2]}_{i:03d}.jpg", ("normal", "abnormal")[i % 2], "", f"repo{i % 4}", ""])

    def draw(out: Path, *extra: str) -> dict[str, list[str]]:
        sample_csv.main(["--data", str(labels), "--out", str(out), "--calib", "40", "--report", "40", *extra])
        return {p.stem: [r["file"] for r in csv.DictReader(open(p, encoding="utf-8"))] for p in out.glob("*.csv")}

    plain, tuned = draw(tmp_path / "a"), draw(tmp_path / "b", "--tune", "80")
    assert set(plain) == {"calib", "report"} and set(tuned) == {"calib", "report", "tune"}
    assert tuned["calib"] == plain["calib"] and tuned["report"] == plain["report"]
    assert len(tuned["tune"]) == 80 and not set(tuned["tune"]) & (set(tuned["calib"]) | set(tuned["report"]))


def test_int8_agreement_measures_every_cpu_int8_model_and_counts_unreadable_photos(fundus_dev: Path,
                                                                                   tmp_path: Path) -> None:
    """The recipe behind MODEL_CARD's INT8 table: INT8 vs FP32 through the app's runtimes, on real photos."""
    import csv
    import json

    sys.path.insert(0, str(REPO / "quantize" / "recipes"))
    import int8_agreement

    from edge_screen.bundle import default_bundle_path

    bundle = default_bundle_path()
    if bundle is None:
        pytest.skip("no default model shipped")
    rows = list(csv.DictReader(open(fundus_dev / "labels.csv", encoding="utf-8")))
    picked = [r for r in rows if r["label"] == "normal"][:6] + [r for r in rows if r["label"] == "abnormal"][:6]
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    data = tmp_path / "set.csv"
    with open(data, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "label"])
        w.writerows([[str(fundus_dev / r["file"]), r["label"]] for r in picked] + [[str(tmp_path / "broken.jpg"), "normal"]])
    out = tmp_path / "agree.json"
    assert int8_agreement.main([str(bundle), str(data), "--json", str(out), "--threads", "1"]) == 0
    res = json.loads(out.read_text())["results"]
    int8 = {f"{e.backend}/int8 set.csv" for e in load_bundle(bundle).models
            if e.precision == "int8" and e.backend in ("onnxruntime", "openvino")}  # fmt: skip
    assert set(res) == int8 and int8
    for r in res.values():
        assert r["photos"] == 12 and r["unreadable"] == 1
        assert 0.0 < r["mean_abs_dp"] <= r["max_abs_dp"] < 0.2  # INT8 is close to, not equal to, FP32
        assert 0.0 <= r["agreement"] <= 1.0 and abs(r["delta_auc"]) < 0.5
        q = r["recheck"]  # the shipped INT8 entries declare a borderline re-check
        assert 0.0 <= q["rechecked"] <= 1.0 and q["margin"] > 0
        assert q["agreement"] >= r["agreement"] and q["mean_abs_dp"] <= r["mean_abs_dp"]
        assert q["max_abs_dp"] <= max(r["max_abs_dp"], 1e-9)
