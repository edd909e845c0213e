"""Bundle loading, validation, tampering, zip bundles and the writer."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from edge_screen.bundle import (
    MANIFEST,
    SCHEMA,
    BundleWriter,
    default_bundle_path,
    load_bundle,
    sha256_file,
    zip_bundle,
)
from edge_screen.errors import BundleError
from edge_screen.preprocess import Preprocessing


@pytest.fixture
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the session bundle that a test may damage."""
    return Path(shutil.copytree(tiny_bundle, tmp_path / "b"))


def _edit_manifest(root: Path, fn) -> None:
    m = json.loads((root / MANIFEST).read_text())
    fn(m)
    (root / MANIFEST).write_text(json.dumps(m))


def test_load_valid_bundle(tiny_bundle: Path) -> None:
    b = load_bundle(tiny_bundle)
    assert b.name == "tiny" and b.version == "0.0.1"
    assert b.labels == ("normal", "abnormal")
    assert b.preprocessing == Preprocessing(input_size=64, crop="fov")
    assert b.threshold == 0.5
    assert ("onnxruntime", "fp32") in {(m.backend, m.precision) for m in b.models}
    for rel, info in b.manifest["files"].items():  # every recorded hash is the file's real one
        assert sha256_file(b.path(rel)) == info["sha256"]
        assert (b.root / rel).stat().st_size == info["size"]
    assert b.id.startswith("tiny@0.0.1:") and len(b.id.split(":")[1]) == 12
    prov = b.manifest["provenance"]
    assert prov["created"].endswith("Z") and prov["tool"].startswith("edge-screen")


def test_bundle_model_lookup(tiny_bundle: Path) -> None:
    b = load_bundle(tiny_bundle)
    e = b.model("onnxruntime")
    assert e.precision == "fp32" and e.files["model"].endswith(".onnx")
    with pytest.raises(BundleError, match=r"no onnxruntime/int8 model; it has: .*onnxruntime/fp32"):
        b.model("onnxruntime", "int8")
    with pytest.raises(BundleError, match="inside the bundle"):
        b.path("../outside.txt")


def test_tampered_file_names_the_file(bundle_copy: Path) -> None:
    b = load_bundle(bundle_copy)
    rel = b.model("onnxruntime").files["model"]
    data = bytearray((bundle_copy / rel).read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    (bundle_copy / rel).write_bytes(bytes(data))
    with pytest.raises(BundleError, match=rf"{rel}.*SHA-256"):
        load_bundle(bundle_copy)
    load_bundle(bundle_copy, verify=False)  # sizes still match: hash check is what catches it


def test_truncated_file_fails_even_without_verify(bundle_copy: Path) -> None:
    rel = load_bundle(bundle_copy).model("onnxruntime").files["model"]
    p = bundle_copy / rel
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(BundleError, match=rf"{rel}.*bytes, manifest says"):
        load_bundle(bundle_copy, verify=False)


def test_missing_file(bundle_copy: Path) -> None:
    rel = load_bundle(bundle_copy).model("onnxruntime").files["model"]
    (bundle_copy / rel).unlink()
    with pytest.raises(BundleError, match=rf"{rel}.*missing"):
        load_bundle(bundle_copy)


def test_missing_manifest_and_path(bundle_copy: Path, tmp_path: Path) -> None:
    (bundle_copy / MANIFEST).unlink()
    with pytest.raises(BundleError, match="no manifest.json"):
        load_bundle(bundle_copy)
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(BundleError, match="not a zip"):
        load_bundle(tmp_path / "x.txt")


def test_unknown_schema(bundle_copy: Path) -> None:
    _edit_manifest(bundle_copy, lambda m: m.update(schema="edge-screen-bundle/99"))
    with pytest.raises(BundleError, match=r"unknown bundle schema 'edge-screen-bundle/99'.*edge-screen-bundle/1"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m.pop("name"), r"missing field 'name'"),
        (lambda m: m.update(labels=["only"]), r"'labels'"),
        (lambda m: m["threshold"].update(value=1.5), r"threshold.value.*between 0 and 1.*1.5"),
        (lambda m: m["threshold"].update(value=0.0), r"threshold.value.*between 0 and 1.*got 0.0"),
        (lambda m: m["threshold"].update(value=1), r"threshold.value.*between 0 and 1.*got 1$"),
        (lambda m: m["threshold"].update(value=float("nan")), r"threshold.value.*got nan"),
        (lambda m: m["preprocessing"].update(std=[0.5, float("inf"), 0.5]), r"'preprocessing' is invalid.*finite"),
        (lambda m: m["preprocessing"].update(mean=[float("nan"), 0.5, 0.5]), r"'preprocessing' is invalid.*finite"),
        (lambda m: m["preprocessing"].update(std=[0.5, 0.0, 0.5]), r"'preprocessing' is invalid.*std.*> 0"),
        (lambda m: m.update(quality={"min_focus": "abc"}), r"'quality' is invalid.*min_focus='abc'"),
        (lambda m: m.update(quality={"min_focus": -1.0}), r"'quality' is invalid.*min_focus=-1.0"),
        (lambda m: m.update(quality={"max_white_fraction": 1.5}), r"'quality' is invalid.*max_white_fraction.*0..1"),
        (lambda m: m.update(quality={"min_focus": True}), r"'quality' is invalid.*min_focus=True"),
        (lambda m: m.update(quality={"min_sharpness": 3}), r"'quality' is invalid.*unknown.*min_sharpness"),
        (lambda m: m["threshold"].pop("method"), r"threshold.method"),
        (lambda m: m["preprocessing"].update(crop="square"), r"'preprocessing' is invalid.*crop"),
        (lambda m: m["models"][0].update(precision="int4"), r"models\[0\].precision.*int4"),
        (lambda m: m["models"][0]["files"].update(model="not/listed.onnx"), r"not listed in 'files'"),
        (lambda m: m["models"][0]["files"].update(model="../../etc/passwd"), r"inside the bundle"),
        (lambda m: next(iter(m["files"].values())).update(sha256="xyz"), r"sha256 must be 64"),
        (lambda m: m.update(models="all"), r"'models' must be"),
    ],
)
def test_bad_field_is_named(bundle_copy: Path, edit, match: str) -> None:
    _edit_manifest(bundle_copy, edit)
    with pytest.raises(BundleError, match=match):
        load_bundle(bundle_copy)


def test_invalid_json(bundle_copy: Path) -> None:
    (bundle_copy / MANIFEST).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(bundle_copy)


def test_zip_bundle_round_trip(tiny_bundle: Path, tmp_path: Path) -> None:
    z = zip_bundle(tiny_bundle, tmp_path / "tiny.zip")
    b = load_bundle(z)
    ref = load_bundle(tiny_bundle)
    assert b.id == ref.id and b.source == z.resolve()
    assert b.root != ref.root and (b.root / MANIFEST).is_file()
    assert load_bundle(z).root == b.root  # extracted once, reused (cache keyed by the zip hash)


def test_zip_with_top_folder(tiny_bundle: Path, tmp_path: Path) -> None:
    z = tmp_path / "nested.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in tiny_bundle.rglob("*"):
            if p.is_file():
                zf.write(p, f"tiny/{p.relative_to(tiny_bundle).as_posix()}")
    assert load_bundle(z).name == "tiny"


def _zip_of(folder: Path, z: Path, *, edit=None, extra: dict | None = None) -> Path:
    """Zip ``folder`` (optionally editing its manifest, adding raw members)."""
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in folder.rglob("*"):
            if p.is_file():
                rel = p.relative_to(folder).as_posix()
                data = p.read_bytes()
                if rel == MANIFEST and edit is not None:
                    m = json.loads(data)
                    edit(m)
                    data = json.dumps(m).encode()
                zf.writestr(rel, data)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return z


def test_zip_path_traversal_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    def list_escape(m):
        m["files"]["../../escaped.txt"] = {"sha256": "0" * 64, "size": 6}

    z = _zip_of(tiny_bundle, tmp_path / "evil.zip", edit=list_escape, extra={"../../escaped.txt": "gotcha"})
    with pytest.raises(BundleError, match="outside the bundle"):
        load_bundle(z)
    assert not list(tmp_path.parent.rglob("escaped.txt"))


def test_zip_unlisted_members_are_never_extracted(tiny_bundle: Path, tmp_path: Path) -> None:
    """Padding or stray members (here 64 MiB of zeros and a path escape) cost nothing: only the
    manifest's files are written to the cache."""
    z = _zip_of(tiny_bundle, tmp_path / "padded.zip",
                extra={"padding.bin": b"\0" * (64 << 20), "../../escaped.txt": "gotcha"})
    b = load_bundle(z)
    extracted = {p.relative_to(b.root).as_posix() for p in b.root.rglob("*") if p.is_file()}
    assert extracted == {MANIFEST, ".complete", *b.manifest["files"]}
    assert not list(tmp_path.parent.rglob("escaped.txt"))


def test_zip_member_size_must_match_the_manifest_before_extraction(tiny_bundle: Path, tmp_path: Path,
                                                                    monkeypatch) -> None:
    """A member whose size in the zip differs from the manifest's is refused before anything is written."""
    rel = load_bundle(tiny_bundle).model("onnxruntime").files["model"]

    def grow(m):
        m["files"][rel]["size"] += 1

    z = _zip_of(tiny_bundle, tmp_path / "sizes.zip", edit=grow)
    written = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, mode="r", *a, **k: (written.append(str(f)) if "w" in mode else None)
                        or real_open(f, mode, *a, **k))
    with pytest.raises(BundleError, match=rf"{rel}.*bytes in the zip but .* in manifest.json"):
        load_bundle(z)
    assert not [w for w in written if "bundles" in w]


def test_zip_over_the_size_limit_is_refused_before_extraction(tiny_bundle: Path, tmp_path: Path, monkeypatch) -> None:
    from edge_screen import bundle_archive

    monkeypatch.setenv("EDGE_SCREEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(bundle_archive, "MAX_ZIP_BYTES", 1000)
    z = zip_bundle(tiny_bundle, tmp_path / "big.zip")
    with pytest.raises(BundleError, match="would expand to .* more than 1,000"):
        load_bundle(z)
    bundles = tmp_path / "cache" / "bundles"
    assert not bundles.exists() or not list(bundles.iterdir())  # nothing was written


def test_zip_cache_keeps_the_most_recently_used(tiny_bundle_factory, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EDGE_SCREEN_CACHE", str(tmp_path / "cache"))
    zips = [zip_bundle(tiny_bundle_factory(openvino=False, seed=i), tmp_path / f"b{i}.zip") for i in range(3)]
    r0 = load_bundle(zips[0]).root
    one = sum(p.stat().st_size for p in r0.rglob("*") if p.is_file())
    monkeypatch.setenv("EDGE_SCREEN_CACHE_MAX_MB", str(2.5 * one / (1 << 20)))  # room for two extractions
    r1 = load_bundle(zips[1]).root
    assert r0.exists() and r1.exists()
    os.utime(r1 / ".complete", (1, 1))  # b1 was last used long ago ...
    assert load_bundle(zips[0]).root == r0  # ... b0 just now (reused, not extracted again)
    r2 = load_bundle(zips[2]).root  # room is needed: the least recently used (b1) goes
    assert r0.exists() and r2.exists() and not r1.exists()
    assert load_bundle(zips[1]).id  # an evicted bundle is simply extracted again when asked for


def test_folder_bundle_refuses_symlinks_out(bundle_copy: Path, tmp_path: Path) -> None:
    b = load_bundle(bundle_copy)
    rel = b.model("onnxruntime").files["model"]
    outside = tmp_path / "elsewhere.onnx"
    shutil.move(bundle_copy / rel, outside)
    (bundle_copy / rel).symlink_to(outside)
    with pytest.raises(BundleError, match=rf"{rel}.*symlink that leads outside the bundle"):
        load_bundle(bundle_copy)


def test_folder_bundle_allows_symlinks_inside(bundle_copy: Path) -> None:
    b = load_bundle(bundle_copy)
    rel = b.model("onnxruntime").files["model"]
    target = bundle_copy / "store" / "model.onnx"
    target.parent.mkdir()
    shutil.move(bundle_copy / rel, target)
    (bundle_copy / rel).symlink_to(target)
    assert load_bundle(bundle_copy).id == b.id


def test_deeply_nested_manifest_is_a_bundle_error(bundle_copy: Path) -> None:
    (bundle_copy / MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BundleError, match="nested too deeply"):
        load_bundle(bundle_copy)


def test_zip_tampered_member(tiny_bundle: Path, tmp_path: Path) -> None:
    rel = load_bundle(tiny_bundle).model("onnxruntime").files["model"]
    z = tmp_path / "tampered.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in tiny_bundle.rglob("*"):
            if p.is_file():
                data = p.read_bytes()
                if p.relative_to(tiny_bundle).as_posix() == rel:
                    data = data[:-1] + bytes([data[-1] ^ 1])
                zf.writestr(p.relative_to(tiny_bundle).as_posix(), data)
    with pytest.raises(BundleError, match=rf"{rel}.*SHA-256"):
        load_bundle(z)


def test_writer_extends_bundle(bundle_copy: Path, tmp_path: Path) -> None:
    before = load_bundle(bundle_copy)
    extra = tmp_path / "model_int8.onnx"
    shutil.copy(before.path(before.model("onnxruntime").files["model"]), extra)
    w = BundleWriter(bundle_copy)  # reopen without restating the preprocessing
    w.add_model("onnxruntime", "int8", {"model": extra}, note="test copy")
    w.add_report("quantization", {"accuracy_drop": 0.01})
    w.set_threshold(0.25, "sensitivity>=0.95 on validation", {"n": 10})
    w.write()
    b = load_bundle(bundle_copy)
    assert b.model("onnxruntime").precision == "int8"  # auto precision prefers int8
    assert b.model("onnxruntime", "int8").extra["note"] == "test copy"
    assert b.model("onnxruntime", "int8").files["model"] == "onnxruntime/int8/model_int8.onnx"
    assert b.threshold == 0.25 and b.threshold_method.startswith("sensitivity")
    assert json.loads(b.path(b.manifest["reports"]["quantization"]).read_text()) == {"accuracy_drop": 0.01}
    assert b.id != before.id
    assert not list(bundle_copy.glob(".manifest-*"))  # atomic write leaves no temp file


def test_writer_refuses_other_preprocessing(bundle_copy: Path) -> None:
    with pytest.raises(BundleError, match="preprocessing"):
        BundleWriter(bundle_copy, preprocessing=Preprocessing(input_size=128))


def test_writer_requires_preprocessing_for_new_bundle(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"x")
    w = BundleWriter(tmp_path / "new")
    w.add_model("onnxruntime", "fp32", {"model": tmp_path / "m.onnx"})
    with pytest.raises(BundleError, match="preprocessing is required"):
        w.write()


def test_manifest_example_schema(tiny_bundle: Path) -> None:
    m = json.loads((tiny_bundle / MANIFEST).read_text())
    assert m["schema"] == SCHEMA
    assert set(m) >= {"name", "version", "labels", "preprocessing", "threshold", "models", "files", "provenance"}


def test_default_bundle_path_points_at_a_bundle_or_none() -> None:
    p = default_bundle_path()
    if p is None:
        pytest.skip("no default model shipped yet (issue 'Default model')")
    assert load_bundle(p).models


@pytest.mark.xfail(strict=True, reason="the raw INT8 files of bundle 2.3.0 (= 2.2.0's: pair-safe 8-bit weights, one "
                   "Q/DQ model for ONNX Runtime and OpenVINO) meet mean |dp| <= 0.01 (0.0094-0.0095) and the AUC target, "
                   "but the ORT one agrees with FP32 on 98.5% of 200 photos, and the TensorRT Q/DQ file (run on the CPU) "
                   "has mean |dp| 0.016 and heatmap r 0.94 (reports/quantization.json). What the screener reports, "
                   "with the borderline re-check, meets the CPU targets: test_shipped_bundle_screens_like_fp32. When "
                   "a re-export's raw files meet them, remove this marker (strict: a pass fails)")
def test_shipped_bundle_meets_the_int8_targets() -> None:
    """The shipped INT8 files match FP32 as the quantization issue requires (report written at export)."""
    p = default_bundle_path()
    if p is None:
        pytest.skip("no default model shipped")
    bundle = load_bundle(p)
    report = json.loads((p / bundle.manifest["reports"]["quantization"]).read_text())
    assert set(report) == {"onnxruntime/int8", "openvino/int8", "tensorrt/int8"}
    for name, r in report.items():
        assert r["images"] >= 200 and r["auc_reference"] is not None, name  # measured on labelled validation
        assert r["auc_candidate"] >= r["auc_reference"] - 0.005, name
        assert r["verdict_agreement"] >= 0.99, name
        assert r["prob_mean_abs_diff"] <= 0.01, name
        assert r["heatmap_pearson_mean"] >= 0.95, name
    for e in bundle.manifest["models"]:
        if e["precision"] == "int8":
            assert e["float_convs"] >= 0, e  # the mixed-precision setting the report was measured with


def test_shipped_bundle_screens_like_fp32() -> None:
    """Issue 12's targets for what the screener reports on CPUs (INT8 + borderline re-check,
    edge_screen.recheck): the export's comparison on its labelled validation photos, and a margin that
    covers the largest INT8 error it saw."""
    p = default_bundle_path()
    if p is None:
        pytest.skip("no default model shipped")
    bundle = load_bundle(p)
    report = json.loads((p / bundle.manifest["reports"]["quantization"]).read_text())
    for name in ("onnxruntime/int8", "openvino/int8"):
        raw, screened = report[name], report[name]["recheck"]
        backend, precision = name.split("/")
        margin = bundle.model(backend, precision).extra["recheck"]["margin"]
        assert margin == screened["margin"] and raw["prob_max_abs_diff"] <= margin, name
        assert screened["verdict_agreement"] >= 0.99 and screened["prob_mean_abs_diff"] <= 0.01, name
        assert screened["auc_candidate"] >= screened["auc_reference"] - 0.005, name
        assert screened["prob_mean_abs_diff"] <= raw["prob_mean_abs_diff"], name
        assert 0.0 < screened["fraction"] < 0.3, name  # the re-check costs a minority of photos


def test_shipped_bundle_has_a_learned_gate_that_meets_its_targets() -> None:
    """Issue 13: the default bundle carries the gate in every graph and its report, and the report's
    targets hold: >= 99% of generated non-fundus inputs and >= 95% of photos blurred with sigma >= 6 px
    ungradable, <= 3% of real photos (out of fold) ungradable."""
    p = default_bundle_path()
    if p is None:
        pytest.skip("no default model shipped")
    bundle = load_bundle(p)
    assert bundle.manifest.get("gate"), "the default bundle has no learned gate"
    report = json.loads((p / bundle.manifest["reports"]["gate"]).read_text())
    t = report["training"]["targets"]
    assert t["non_fundus_ungradable"]["n"] >= 50 and t["non_fundus_ungradable"]["rejected"] >= 0.99, t
    assert t["blur_sigma_ge_6px_ungradable"]["n"] >= 100 and t["blur_sigma_ge_6px_ungradable"]["rejected"] >= 0.95, t
    assert t["real_photos_ungradable"]["n"] >= 500 and t["real_photos_ungradable"]["rejected"] <= 0.03, t
    for model in bundle.models:  # every CPU graph was checked against the gate's cases at export
        if model.backend in ("onnxruntime", "openvino"):
            key = f"{model.backend}/{model.precision}"
            assert key in report["precisions"], key
            assert report["precisions"][key]["check_set"]["natural_circle"]["rejected"] == 1.0, key
