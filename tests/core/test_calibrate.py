"""``edge-screen calibrate``: a clinic's labelled photos choose the threshold of a copy of the bundle.

Real photos (IDRiD part of the dev set: 30 normal + 30 abnormal) screened by the real Screener with
the tiny hand-set ONNX bundle of tests/conftest.py (its scores vary from photo to photo).
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from edge_screen.bundle import MANIFEST, load_bundle
from edge_screen.calibrate import calibrate_bundle, read_site_csv, wilson_ci
from edge_screen.cli import main
from edge_screen.errors import UsageError
from edge_screen.screener import Screener


def _site_csv(fundus_dev: Path, root: Path, n_normal: int, n_abnormal: int) -> Path:
    with open(fundus_dev / "labels.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["file"].startswith("images/idrid_")]
    picked = [r for r in rows if r["label"] == "normal"][:n_normal] + [r for r in rows if r["label"] == "abnormal"][:n_abnormal]
    root.mkdir(parents=True, exist_ok=True)
    path = root / "site.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label"])
        for r in picked:
            w.writerow([str(fundus_dev / r["file"]), r["label"]])
    return path


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def site(fundus_dev: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _site_csv(fundus_dev, tmp_path_factory.mktemp("clinic") / "clinic-a", 30, 30)


def test_refuses_fewer_than_30_of_a_class(fundus_dev: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    small = _site_csv(fundus_dev, tmp_path / "small", 29, 30)
    with pytest.raises(UsageError, match="29 normal and 30 abnormal.*at least 30 of each"):
        calibrate_bundle(tiny_bundle, small, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert main(["calibrate", "--bundle", str(tiny_bundle), "--data", str(small), "--out", str(tmp_path / "o2")]) == 2


def test_calibrates_a_copy_and_keeps_hashes(tiny_bundle: Path, site: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    before = json.loads((tiny_bundle / MANIFEST).read_text())
    out = tmp_path / "tiny-clinic-a"
    assert main(["calibrate", "--bundle", str(tiny_bundle), "--data", str(site), "--out", str(out), "--site", "Clinic A"]) == 0
    printed = capsys.readouterr().out
    assert "calibrated on 60 photos from Clinic A" in printed and "sensitivity" in printed and "95% CI" in printed

    assert json.loads((tiny_bundle / MANIFEST).read_text()) == before  # the original bundle is untouched
    b = load_bundle(out, verify=True)
    m = b.manifest
    for rel, info in before["files"].items():  # same model files, same recorded hashes
        assert m["files"][rel] == info and _sha(out / rel) == info["sha256"]
    cal = m["calibration"]
    assert set(cal) == {"site", "n_images", "n_normal", "n_abnormal", "created", "sensitivity", "specificity",
                        "target_sensitivity"}
    assert (cal["site"], cal["n_images"], cal["n_normal"], cal["n_abnormal"]) == ("Clinic A", 60, 30, 30)
    assert cal["created"].endswith("Z") and cal["target_sensitivity"] == 0.95
    hist = m["threshold"]["history"]
    assert len(hist) == 1 and hist[0]["value"] == before["threshold"]["value"] and hist[0]["replaced"].endswith("Z")
    assert "60 photos from Clinic A" in m["threshold"]["method"]

    # The real screener on the calibrated bundle reaches the target on these photos, at the recorded point.
    rows = read_site_csv(site)
    s = Screener(out)
    p = np.array([s.screen(f, heatmap=False).probability for f, _ in rows])
    y = np.array([lab for _, lab in rows])
    assert s.threshold == m["threshold"]["value"]
    sens = float(np.mean(p[y == 1] >= s.threshold))
    spec = float(np.mean(p[y == 0] < s.threshold))
    assert sens >= 0.95 and sens == pytest.approx(cal["sensitivity"]) and spec == pytest.approx(cal["specificity"])
    # highest such threshold: any higher score among the abnormal ones loses sensitivity
    above = np.sort(p[y == 1][p[y == 1] > s.threshold])
    if above.size:
        assert np.mean(p[y == 1] >= above[0]) < 0.95

    # calibrating the calibrated bundle again keeps the whole history
    out2 = tmp_path / "again"
    calibrate_bundle(out, site, out2, site="Clinic A", target_sensitivity=0.9)
    hist2 = load_bundle(out2).manifest["threshold"]["history"]
    assert [h["value"] for h in hist2] == [before["threshold"]["value"], m["threshold"]["value"]]
    assert all("history" not in h for h in hist2)


def test_refuses_an_existing_output_folder(tiny_bundle: Path, site: Path, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        calibrate_bundle(tiny_bundle, site, tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "x"


def test_bad_site_csv_is_one_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text("file,label\na.jpg,maybe\n")
    with pytest.raises(UsageError, match="label 'maybe' is not valid"):
        read_site_csv(p)
    p.write_text("path,grade\na.jpg,1\n")
    with pytest.raises(UsageError, match="'file' and 'label'"):
        read_site_csv(p)


def test_wilson_interval() -> None:
    lo, hi = wilson_ci(57, 60)
    assert lo < 57 / 60 < hi and hi <= 1.0
    assert wilson_ci(30, 30)[1] == 1.0 and wilson_ci(30, 30)[0] == pytest.approx(0.8865, abs=1e-3)


def test_a_signed_bundle_gives_an_unsigned_calibrated_copy(tiny_bundle: Path, site: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("cryptography", reason="bundle signatures need the sign extra (cryptography)")
    import shutil

    from edge_screen.bundle import SIGNATURE
    from edge_screen.signing import generate_keypair, sign_file

    signed = Path(shutil.copytree(tiny_bundle, tmp_path / "signed"))
    generate_keypair(tmp_path / "k.key", tmp_path / "k.pub")
    sign_file(signed / MANIFEST, tmp_path / "k.key")
    monkeypatch.setenv("EDGE_SCREEN_TRUSTED_KEYS", str(tmp_path / "k.pub"))  # this site loads signed bundles only
    r = calibrate_bundle(signed, site, tmp_path / "cal")
    assert r.signature_removed and not (tmp_path / "cal" / SIGNATURE).exists()  # a stale signature never stays
    assert (signed / SIGNATURE).is_file()
    load_bundle(tmp_path / "cal", trusted_keys=[])  # hashes valid; signing it again is the programme's step
