"""Issue 15, "Done when": a backend and an export format installed as a plug-in (entry points only,
no edit to edge-screen) appear in ``edge-screen screen --backend``, ``edge-screen export --format``
and the contract tests, and the backend screens a photo through the Screener. (The app's settings
list: tests/gui/test_plugin_backend.py.) The plug-in is tests/fake_plugin/esfake.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_screen.quantize.tiny import tiny_classifier

from edge_screen.quantize.export import export_bundle

REPO = Path(__file__).resolve().parents[2]


def _choices(parser, command: str, option: str) -> list[str]:  # noqa: ANN001
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices[command]
    return list(next(a for a in sub._actions if option in a.option_strings).choices)


def test_plug_in_appears_in_the_cli_choices(plugin_site) -> None:
    from edge_screen.cli import build_parser

    before_backends = _choices(build_parser(), "screen", "--backend")
    assert "npfake" not in before_backends and "npfake" not in _choices(build_parser(), "export", "--format")
    plugin_site.fake()
    parser = build_parser()
    assert _choices(parser, "screen", "--backend") == [*before_backends, "npfake"]  # lowest priority: last
    assert _choices(parser, "calibrate", "--backend")[-1] == "npfake"
    assert "npfake" in _choices(parser, "export", "--format")
    assert "npfake cpu" in next(a for a in next(
        a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices["screen"]._actions
        if "--device" in a.option_strings).help  # fmt: skip


def test_plug_in_appears_in_edge_screen_help_in_a_new_process(plugin_site) -> None:
    site = plugin_site.fake()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)}
    for argv, expect in ((["screen", "--help"], "npfake"), (["export", "--help"], "npfake"), (["info"], "npfake (available)")):
        proc = subprocess.run([sys.executable, "-m", "edge_screen", *argv], capture_output=True, text=True,
                              timeout=120, env=env)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-1500:]
        assert expect in proc.stdout, (argv, proc.stdout[-1500:])


def test_plug_in_exports_and_screens_a_photo(plugin_site, tmp_path: Path) -> None:
    from edge_screen.bundle import load_bundle
    from edge_screen.quantize.calib import load_image_set
    from edge_screen.preprocess import Preprocessing
    from edge_screen.screener import Screener

    import cv2

    from edge_screen.synthetic import LESIONS, synthetic_fundus

    plugin_site.fake()
    images = tmp_path / "data" / "images"
    images.mkdir(parents=True)
    for i in range(12):
        rgb = synthetic_fundus(384, seed=i, lesions=LESIONS[: i % 3])
        cv2.imwrite(str(images / f"f{i:02d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    model = tiny_classifier("linear", input_size=64)
    calib = load_image_set(images, Preprocessing(input_size=64), limit=None)
    root = export_bundle(model, tmp_path / "bundle", targets=[("npfake", "fp32")], calib=calib, name="plug",
                         version="0.0.1").root  # fmt: skip
    bundle = load_bundle(root, verify=True)
    entry = bundle.model("npfake", "fp32")
    assert entry.files == {"weights": "npfake/model.npz"} and entry.extra["fitted_on"] == 12
    screener = Screener(root, backend="npfake", precision="fp32", threads=1)
    assert (screener.backend, screener.precision) == ("npfake", "fp32")
    photos = sorted(images.glob("*.png"))
    results = [screener.screen(p) for p in photos]
    graded = [r for r in results if r.verdict != "ungradable"]
    assert graded, [r.quality.reasons for r in results]
    for r in graded:
        assert r.backend == "npfake" and 0.0 <= r.probability <= 1.0
        assert r.heatmap is not None and r.heatmap.shape == r.image.shape[:2]
    # the fitted linear map follows the FP32 model it was exported from
    from edge_screen.runtime import create_runtime

    ref = create_runtime(bundle, backend="onnxruntime", precision="fp32", threads=1).run(calib.images)[0][:, 1]
    got = screener.runtime.run(calib.images)[0][:, 1]
    assert np.corrcoef(ref, got)[0, 1] > 0.5


def test_plug_in_is_in_the_contract_tests(plugin_site) -> None:
    site = plugin_site.fake()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "npfake",
                           str(REPO / "tests" / "quantize" / "test_contracts.py")],
                          capture_output=True, text=True, timeout=300, env=env, cwd=REPO)  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:]
    assert "5 passed" in out and "skipped" not in out, out[-3000:]
