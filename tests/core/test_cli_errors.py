"""Every failure the CLI can meet ends in one line on stderr and exit code 2 or 3, never a traceback
(issue 15): an unusable --heatmap-dir, a full disk under --json, a bundle whose input size
disagrees with its model, a library error inside a batch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_screen.errors import BundleError, InferenceError
from edge_screen.screener import ScreenFailure, Screener
from edge_screen.synthetic import synthetic_fundus

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, stdout=subprocess.PIPE, cwd: Path | None = None) -> subprocess.CompletedProcess:  # noqa: ANN001
    return subprocess.run([sys.executable, "-m", "edge_screen.cli", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, cwd=cwd, timeout=300)  # fmt: skip


def _one_line(proc: subprocess.CompletedProcess, code: int, *words: str) -> str:
    err = proc.stderr.strip()
    assert proc.returncode == code, (proc.returncode, err)
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if "error" in ln.lower()]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import cv2

    p = tmp_path_factory.mktemp("photo") / "eye.png"
    cv2.imwrite(str(p), cv2.cvtColor(synthetic_fundus(256, seed=3), cv2.COLOR_RGB2BGR))
    return p


@pytest.mark.parametrize("where", ["file", "under_file", "not_permitted"])
def test_unusable_heatmap_dir_is_one_line(tiny_bundle: Path, photo: Path, tmp_path: Path, where: str) -> None:
    (tmp_path / "afile").write_text("x")
    target = {"file": tmp_path / "afile", "under_file": tmp_path / "afile" / "sub",
              "not_permitted": Path("/sys/edge-screen-test")}[where]  # fmt: skip
    if where == "not_permitted" and not Path("/sys").is_dir():
        pytest.skip("no /sys here (a folder nobody may create in)")
    proc = _cli("screen", str(photo), "--bundle", str(tiny_bundle), "--heatmap-dir", str(target))
    _one_line(proc, 2, "--heatmap-dir", str(target))
    assert proc.stdout == ""  # nothing screened half-way: the folder is checked first


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_json_to_a_full_disk_is_one_line_and_exit_3(tiny_bundle: Path, photo: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = _cli("screen", str(photo), "--bundle", str(tiny_bundle), "--json", stdout=full)
    _one_line(proc, 3, "No space left", "write")
    assert "Exception ignored" not in proc.stderr  # no second error when Python flushes stdout at exit


def test_json_into_a_closed_pipe_is_quiet(tiny_bundle: Path, photo: Path) -> None:
    cmd = [sys.executable, "-m", "edge_screen.cli", "screen", *[str(photo)] * 40, "--bundle", str(tiny_bundle), "--json"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(10)  # the reader (e.g. `| head -c 10`) leaves
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=300) in (0, 3) and "Traceback" not in err, err


@pytest.mark.parametrize("size", [16, 63, 4096])
def test_input_size_disagreeing_with_the_model_is_one_line(tiny_bundle: Path, photo: Path, tmp_path: Path,
                                                           size: int) -> None:  # fmt: skip
    bad = tmp_path / "bad"
    shutil.copytree(tiny_bundle, bad)
    m = json.loads((bad / "manifest.json").read_text())
    m["preprocessing"]["input_size"] = size
    (bad / "manifest.json").write_text(json.dumps(m))
    for backend in ("onnxruntime", "openvino"):
        if not any(e["backend"] == backend for e in m["models"]):
            continue
        proc = _cli("screen", str(photo), "--bundle", str(bad), "--backend", backend)
        _one_line(proc, 2, f"input size {size}", "64x64")
        with pytest.raises(BundleError, match="manifest.json"):
            Screener(bad, backend=backend)


def test_a_library_error_in_a_batch_fails_that_batch_not_the_stream(tiny_bundle: Path) -> None:
    screener = Screener(tiny_bundle, backend="onnxruntime")
    real = screener.runtime._run
    calls = {"n": 0}

    def flaky(batch: np.ndarray):  # noqa: ANN202 - a CUDA / driver error on the second batch only
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real(batch)

    screener.runtime._run = flaky
    images = [synthetic_fundus(128, seed=i) for i in range(6)]
    out = list(screener.screen_many(images, batch_size=2, workers=0))
    assert len(out) == 6
    failed = [i for i, r in enumerate(out) if isinstance(r, ScreenFailure)]
    assert failed == [2, 3], out
    assert out[2].kind == "InferenceError" and "CUDA error" in out[2].error and "\n" not in out[2].error
    assert all(r.verdict in ("normal", "abnormal") for i, r in enumerate(out) if i not in failed)
    with pytest.raises(InferenceError):  # a single screen() gets the same one-line error
        calls["n"] = 1
        screener.screen(images[0])


def test_any_error_on_one_photo_fails_that_photo_not_the_stream(tiny_bundle: Path) -> None:
    """screen_many survives any per-image exception (a bug in a measure, not only bad files)."""
    screener = Screener(tiny_bundle, backend="onnxruntime")
    real = screener._prepare

    def buggy(src):  # noqa: ANN001, ANN202
        if isinstance(src, np.ndarray) and src[0, 0, 0] == 7:
            raise ZeroDivisionError("division by zero in a quality measure")
        return real(src)

    screener._prepare = buggy
    images = [synthetic_fundus(128, seed=i) for i in range(4)]
    images[1] = images[1].copy()
    images[1][0, 0, 0] = 7
    out = list(screener.screen_many(images, batch_size=2, workers=1))
    assert [type(r).__name__ for r in out] == ["ScreenResult", "ScreenFailure", "ScreenResult", "ScreenResult"]
    assert out[1].kind == "ZeroDivisionError" and "quality measure" in out[1].error


def test_quality_rejected_is_gone() -> None:
    """An ungradable photo is a result (verdict "ungradable"), never an exception: no dead error class."""
    import edge_screen
    import edge_screen.errors as errors

    assert not hasattr(errors, "QualityRejected") and "QualityRejected" not in edge_screen.__all__
