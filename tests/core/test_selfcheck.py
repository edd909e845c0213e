"""On-device self-check: the fidelity rule, a broken model marked unfaithful, the measured choice, the cache."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from edge_screen import selfcheck
from edge_screen.bundle import BundleWriter, load_bundle
from edge_screen.errors import BackendUnavailable
from edge_screen.fidelity import FidelityLimits, judge
from edge_screen.golden import encode_crops, load_golden, write_golden
from edge_screen.preprocess import normalize
from edge_screen.runtime import candidates, create_runtime

onnx = pytest.importorskip("onnx", reason="building the tiny test models needs onnx (the dev extra)")
from onnx import numpy_helper  # noqa: E402

SIZE = 64


# ------------------------------------------------------------------------------- the judge rule
def _outputs(p1: list[float], heat_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    p = np.array(p1, np.float64)
    heat = np.random.default_rng(heat_seed).random((len(p), 4, 4))
    return np.stack([1 - p, p], 1), heat


def test_judge_faithful_and_each_broken_limit() -> None:
    ref = _outputs([0.1, 0.3, 0.6, 0.9])
    ok = judge(ref, (ref[0] + [[-0.005, 0.005]] * 4, ref[1] * 1.1), threshold=0.5, names=list("abcd"))
    assert ok.faithful and ok.reasons == () and ok.verdict_flips == 0 and ok.heatmap_r_mean > 0.999
    flip = judge(ref, _outputs([0.1, 0.3, 0.45, 0.9]), threshold=0.5, names=list("abcd"))
    assert not flip.faithful and flip.flipped == ("c",) and "verdict differs" in flip.reasons[0]
    assert flip.mean_abs_dp == pytest.approx(0.0375)  # 0.15 / 4: within 0.02? no -> two reasons
    assert any("mean |P(abnormal)" in r for r in flip.reasons)
    drift = judge(ref, _outputs([0.13, 0.33, 0.63, 0.93]), threshold=0.5)  # no flip, |dp| 0.03 > 0.02
    assert not drift.faithful and drift.verdict_flips == 0 and "0.030 > 0.020" in drift.reasons[0]
    maps = judge(ref, (ref[0], _outputs([0.1] * 4, heat_seed=9)[1]), threshold=0.5)  # other heatmaps
    assert not maps.faithful and "heatmap correlation" in maps.reasons[0]
    loose = judge(ref, _outputs([0.13, 0.33, 0.63, 0.93]), threshold=0.5, limits=FidelityLimits(max_mean_abs_dp=0.05))
    assert loose.faithful
    nan = judge(ref, (np.full((4, 2), np.nan), ref[1]), threshold=0.5)
    assert not nan.faithful and "non-finite" in nan.reasons[0]


# ------------------------------------------------------------------- a bundle with a golden set
def _crops(n: int = 10, seed: int = 0) -> np.ndarray:
    """Reddish fields with a bright patch of growing size (the tiny model's 'lesion')."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, SIZE, SIZE, 3), np.float32)
    out[..., 0], out[..., 1], out[..., 2] = 180, 80, 40
    out += rng.normal(0, 6, out.shape)
    for i in range(n):
        k = 2 + 2 * i
        out[i, 20 : 20 + k, 24 : 24 + k] = 250
    return np.clip(out, 0, 255).astype(np.uint8)


def _variant(src: Path, dst: Path, *, head_bias: tuple[float, float]) -> Path:
    """The tiny model with another head bias: a 'quantized' copy that is faithful or broken."""
    m = onnx.load(str(src))
    for t in m.graph.initializer:
        if t.name == "head_b":
            t.CopyFrom(numpy_helper.from_array(np.array(head_bias, np.float32), "head_b"))
    onnx.save(m, str(dst))
    return dst


@pytest.fixture(scope="module")
def golden_bundle(tiny_bundle_factory, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny bundle: onnxruntime/fp32 (reference), onnxruntime/int8 (broken: head bias moved so
    normal photos turn abnormal), openvino/int8 when installed (faithful copy), and a golden set."""
    import onnxruntime as ort

    root = tiny_bundle_factory(openvino=False)
    b = load_bundle(root)
    fp32 = b.path(b.model("onnxruntime", "fp32").files["model"])
    work = tmp_path_factory.mktemp("variants")
    w = BundleWriter(root)
    w.add_model("onnxruntime", "int8", {"model": _variant(fp32, work / "broken.onnx", head_bias=(-1.5, 1.5))})
    try:
        import openvino  # noqa: F401

        w.add_model("openvino", "int8", {"model": _variant(fp32, work / "faithful.onnx", head_bias=(1.5001, -1.5001))})
    except ImportError:
        pass
    jpegs, decoded = encode_crops(_crops(), quality=95)
    sess = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    probs, heats = sess.run(None, {"image": np.stack([normalize(c, b.preprocessing) for c in decoded])})
    names = [f"img{i}" for i in range(len(jpegs))]
    write_golden(w, jpegs, decoded, names=names, kinds=["sample"] * len(names), probabilities=probs, heatmaps=heats)
    return w.write()


@pytest.fixture(autouse=True)
def _fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("EDGE_SCREEN_CACHE", str(cache))
    monkeypatch.setattr(selfcheck, "_MEMO", {})
    return cache


def test_golden_set_round_trip(golden_bundle: Path) -> None:
    b = load_bundle(golden_bundle)
    g = load_golden(b)
    assert g is not None and len(g) == 10 and g.exact and g.inputs.shape == (10, 3, SIZE, SIZE)
    assert g.probabilities.shape == (10, 2) and g.heatmaps.shape == (10, 16, 16)
    assert g.probabilities[0, 1] < 0.5 < g.probabilities[-1, 1]  # both verdicts are in the set
    assert all(f.startswith("golden/") for f in b.manifest["files"] if "golden" in f)


def test_broken_model_is_unfaithful_and_skipped(golden_bundle: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge_screen.selfcheck"):
        rt = create_runtime(load_bundle(golden_bundle), threads=1)
    sel = rt.selection
    checks = {c.name: c for c in sel.checks}
    broken = checks["onnxruntime/int8"]
    assert broken.status == "unfaithful" and not broken.usable
    assert broken.fidelity.verdict_flips > 0 and "verdict differs from FP32" in broken.reason
    assert "onnxruntime/int8 skipped: verdict differs" in caplog.text  # the warning says why
    assert checks["onnxruntime/fp32"].status == "faithful" and checks["onnxruntime/fp32"].latency_ms > 0
    assert sel.name != "onnxruntime/int8" and "onnxruntime/int8" in sel.skipped
    if "openvino/int8" in checks:
        assert checks["openvino/int8"].status == "faithful"
    assert sel.name in sel.summary() and "Not used: onnxruntime/int8" in sel.summary()
    json.dumps(sel.to_dict())  # JSON-safe for `edge-screen info --json` and `screen --json`


def _chk(name: str, ms: float) -> selfcheck.ModelCheck:
    backend, precision = name.split("/")
    return selfcheck.ModelCheck(backend, precision, "faithful", "ok", None, ms, 10)


def test_reduced_precision_needs_to_be_measurably_faster() -> None:
    best, why, _ = selfcheck._pick([_chk("onnxruntime/fp32", 10.0), _chk("openvino/int8", 9.8)])
    assert best.name == "onnxruntime/fp32" and "not measurably faster" in why
    best, why, policy = selfcheck._pick([_chk("onnxruntime/fp32", 10.0), _chk("openvino/int8", 6.0),
                                         _chk("onnxruntime/int8", 7.0)])  # fmt: skip
    assert best.name == "openvino/int8" and "fastest" in why and "onnxruntime/fp32 10.0 ms" in why
    assert policy is None


def test_the_choice_counts_the_fp32_work_of_borderline_rechecks() -> None:
    from edge_screen.recheck import RecheckPolicy

    checks = [_chk("onnxruntime/fp32", 10.0), _chk("openvino/int8", 5.0), _chk("onnxruntime/int8", 6.0)]
    # openvino re-checks 30% of photos (5 + 3 = 8 ms), onnxruntime 10% (6 + 1 = 7 ms): onnxruntime wins
    policies = {"openvino/int8": RecheckPolicy(0.05, 0.30), "onnxruntime/int8": RecheckPolicy(0.04, 0.10)}
    best, why, policy = selfcheck._pick(checks, policies)
    assert best.name == "onnxruntime/int8" and policy is policies["onnxruntime/int8"]
    assert "7.0 ms with its re-checks" in why and "re-checked by onnxruntime/fp32" in why
    # re-checks that eat the gain: FP32 itself (6 + 0.45 * 10 = 10.5 ms > 10 ms)
    best, why, policy = selfcheck._pick(checks[:1] + checks[2:], {"onnxruntime/int8": RecheckPolicy(0.1, 0.45)})
    assert best.name == "onnxruntime/fp32" and policy is None and "10.5 ms with its re-checks" in why
    # an unknown fraction counts as re-checking every photo
    best, _, _ = selfcheck._pick(checks[:2], {"openvino/int8": RecheckPolicy(0.05, None)})
    assert best.name == "onnxruntime/fp32"


def test_a_few_photos_count_each_models_start_up() -> None:
    def chk(name: str, ms: float, imp: float | None, load: float | None, first: float | None) -> selfcheck.ModelCheck:
        backend, precision = name.split("/")
        return selfcheck.ModelCheck(backend, precision, "faithful", "ok", None, ms, 10, imp, load, first)

    # OpenVINO: fastest per photo, slowest to start (import 30 + load 60 + first run 4 ms over the median)
    ov, ort8, ort32 = (chk("openvino/int8", 4.5, 30, 60, 8.5), chk("onnxruntime/int8", 6.0, 25, 20, 7.0),
                       chk("onnxruntime/fp32", 10.0, 25, 30, 11.0))  # fmt: skip
    assert ov.startup_ms == pytest.approx(94.0) and ort8.startup_ms == pytest.approx(46.0)
    assert selfcheck._pick([ort32, ort8, ov])[0] is ov  # the app: per photo only
    best, why, _ = selfcheck._pick([ort32, ort8, ov], images=1)  # 52 vs 66 vs 98.5 ms for one photo
    assert best is ort8 and "52.0 ms per photo for 1 with its start-up" in why
    assert selfcheck._pick([ort32, ort8, ov], images=200)[0] is ov  # 4.97 vs 6.23 ms per photo
    # the FP32 model of a re-check starts only when needed: for one photo, with probability = its share
    from edge_screen.recheck import RecheckPolicy

    best, _, policy = selfcheck._pick([ort32, ort8], {"onnxruntime/int8": RecheckPolicy(0.05, 0.2)}, images=1)
    assert best is ort8 and policy is not None  # 46 + 6 + 0.2 * 10 + 0.2 * (31 - 25) = 55.2 < 66
    # a cache without start-up numbers: per photo only
    old = [chk("onnxruntime/fp32", 10.0, None, None, None), chk("openvino/int8", 4.5, None, None, None)]
    assert selfcheck._pick(old, images=1)[0].name == "openvino/int8"


def test_forced_unfaithful_model_is_used_with_a_warning(golden_bundle: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge_screen.selfcheck"):
        rt = create_runtime(load_bundle(golden_bundle), backend="onnxruntime", precision="int8")
    assert (rt.name, rt.precision) == ("onnxruntime", "int8")
    assert rt.selection.forced and "unfaithful" in rt.selection.reason
    assert "asked for but is not faithful" in caplog.text


def test_no_faithful_model_raises(golden_bundle: Path, tmp_path: Path) -> None:
    import shutil

    root = Path(shutil.copytree(golden_bundle, tmp_path / "copy"))
    b = load_bundle(root)
    rel = b.manifest["golden"]["reference"]["file"]
    with np.load(root / rel) as z:  # a reference no model can match: every verdict inverted
        probs, heats = z["probabilities"][:, ::-1].copy(), z["heatmaps"]
    np.savez_compressed(root / rel, probabilities=probs, heatmaps=heats)
    w = BundleWriter(root)
    w.add_file(root / rel, rel)
    with pytest.raises(BackendUnavailable, match=r"no model of bundle .* is faithful to FP32 on this machine"):
        create_runtime(load_bundle(w.write()))


def test_cache_is_reused_and_keyed_by_machine_bundle_and_settings(golden_bundle: Path, _fresh_cache: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    b = load_bundle(golden_bundle)
    first = create_runtime(b, backend="onnxruntime").selection
    assert not first.cached and list((_fresh_cache / "selfcheck").glob("*.json"))

    def boom(*a, **k):  # noqa: ANN002, ANN003
        raise AssertionError("the self-check ran again although its result is cached")

    monkeypatch.setattr(selfcheck, "check_model", boom)
    monkeypatch.setattr(selfcheck, "_MEMO", {})  # read it back from disk, as a new process would
    again = create_runtime(b, backend="onnxruntime").selection
    assert again.cached and again.name == first.name and again.checks == first.checks

    m = selfcheck.machine_fingerprint()
    key = selfcheck.cache_key(b, threads=None, device=None, machine=m)
    assert key == first.key == selfcheck.cache_key(b, threads=None, device=None, machine=dict(reversed(m.items())))
    other_lib = {**m, "libraries": {**m["libraries"], "onnxruntime": "0.0.1"}}
    other_cpu = {**m, "flags_sha256": "0" * 64, "isa": {**m["isa"], "avx512_vnni": not m["isa"]["avx512_vnni"]}}
    keys = {key, selfcheck.cache_key(b, threads=2, device=None, machine=m),
            selfcheck.cache_key(b, threads=None, device="cpu", machine=m),
            selfcheck.cache_key(b, threads=None, device=None, machine=other_lib),
            selfcheck.cache_key(b, threads=None, device=None, machine=other_cpu)}  # fmt: skip
    assert len(keys) == 5
    w = BundleWriter(golden_bundle)  # a recalibrated threshold changes the manifest -> the bundle id
    w.set_threshold(0.4, "site calibration")
    changed = load_bundle(w.write())
    assert changed.id != b.id and selfcheck.cache_key(changed, threads=None, device=None, machine=m) != key


def test_bundle_without_golden_set_runs_fp32_only(tiny_bundle_factory, tmp_path: Path) -> None:
    root = tiny_bundle_factory(openvino=False)
    b = load_bundle(root)
    w = BundleWriter(root)
    w.add_model("onnxruntime", "int8", {"model": b.path(b.model("onnxruntime", "fp32").files["model"])})
    rt = create_runtime(load_bundle(w.write()))
    checks = {c.name: c for c in rt.selection.checks}
    assert rt.precision == "fp32" and checks["onnxruntime/fp32"].status == "reference"
    assert checks["onnxruntime/int8"].status == "unverified" and "edge-screen golden" in checks["onnxruntime/int8"].reason


def test_entry_needing_other_cpu_features_is_not_a_candidate(tiny_bundle_factory) -> None:
    root = tiny_bundle_factory(openvino=False)
    b = load_bundle(root)
    w = BundleWriter(root)
    w.add_model("onnxruntime", "int8", {"model": b.path(b.model("onnxruntime", "fp32").files["model"])},
                requires_isa=["no_such_cpu_flag"])  # fmt: skip
    found, skipped = candidates(load_bundle(w.write()))
    assert [(e.backend, e.precision) for _, e in found] == [("onnxruntime", "fp32")]
    assert "needs a CPU with one of no_such_cpu_flag" in skipped[0]


def test_other_decoder_pixels_recompute_the_reference_here(golden_bundle: Path, tmp_path: Path) -> None:
    import shutil

    root = Path(shutil.copytree(golden_bundle, tmp_path / "copy"))
    m = json.loads((root / "manifest.json").read_text())
    m["golden"]["images"][0]["pixels_sha256"] = "0" * 64  # as if this machine decoded other pixels
    (root / "manifest.json").write_text(json.dumps(m))
    b = load_bundle(root)
    assert not load_golden(b).exact
    rt = create_runtime(b, backend="onnxruntime", precision="fp32")
    assert rt.selection.checks[0].status == "faithful"  # judged against FP32 computed on this machine


# ------------------------------------------------------------------------ start-up of a cached choice
@pytest.mark.parametrize("fastest", ["onnxruntime", "openvino"])
def test_cached_choice_loads_only_the_chosen_backend(golden_bundle: Path, _fresh_cache: Path, fastest: str) -> None:
    """A second process with the machine's cache imports only the chosen backend's library: the key is
    built from pip metadata and no backend is probed (OpenVINO's import alone costs 0.1-0.25 s)."""
    import os
    import subprocess
    import sys

    pytest.importorskip("openvino")
    code = (
        "import json, sys\n"
        "from edge_screen.bundle import load_bundle\n"
        "from edge_screen.selfcheck import select_runtime\n"
        f"sel = select_runtime(load_bundle({str(golden_bundle)!r}), timing_s=0.05).selection\n"
        "print(json.dumps({'chosen': sel.backend, 'cached': sel.cached,"
        " 'imported': sorted(m for m in ('onnxruntime', 'openvino') if m in sys.modules)}))\n"
    )
    env = {**os.environ, "EDGE_SCREEN_CACHE": str(_fresh_cache)}

    def start() -> dict:
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        return json.loads(res.stdout.splitlines()[-1])

    first = start()
    assert not first["cached"] and first["imported"] == ["onnxruntime", "openvino"]  # the first start probes both
    [path] = (_fresh_cache / "selfcheck").glob("*.json")
    data = json.loads(path.read_text())  # make `fastest` the measured winner, whatever this machine timed
    for name, check in data["checks"].items():
        check["latency_ms"] = 1.0 if name.startswith(fastest + "/") and check["status"] == "faithful" else 100.0
    path.write_text(json.dumps(data))
    second = start()
    assert second["cached"] and second["chosen"] == fastest
    assert second["imported"] == [fastest]


def test_machine_fingerprint_imports_no_backend_library() -> None:
    import subprocess
    import sys

    code = ("import sys\nfrom edge_screen.selfcheck import machine_fingerprint\nm = machine_fingerprint()\n"
            "print(m['libraries']['onnxruntime'], [x for x in ('onnxruntime', 'openvino', 'tensorrt') if x in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    import onnxruntime

    assert out.strip() == f"onnxruntime {onnxruntime.__version__} []"


def test_cached_choice_that_no_longer_loads_is_checked_again(golden_bundle: Path, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    b = load_bundle(golden_bundle)
    first = selfcheck.select_runtime(b, timing_s=0.05).selection
    monkeypatch.setattr(selfcheck, "_MEMO", {})
    real_load, calls = selfcheck._load, []

    def broken_once(bundle, entry, threads, device):  # noqa: ANN001, ANN202 - the library broke after the check
        calls.append(f"{entry.backend}/{entry.precision}")
        if len(calls) == 1:
            raise BackendUnavailable(f"{entry.backend} cannot be imported (a half-removed install)")
        return real_load(bundle, entry, threads, device)

    monkeypatch.setattr(selfcheck, "_load", broken_once)
    with caplog.at_level(logging.WARNING, logger="edge_screen.selfcheck"):
        again = selfcheck.select_runtime(b, timing_s=0.05).selection
    assert calls[0] == first.name and not again.cached  # checked again, not a crash
    assert "no longer loads here" in caplog.text
