"""Screener end to end on synthetic and real fundus photos, plus the overlay helper."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_screen.bundle import load_bundle
from edge_screen.errors import BundleError, ImageError, UsageError
from edge_screen.heatmap import colorize, overlay, save_overlay
from edge_screen.screener import ScreenFailure, Screener, ScreenResult
from edge_screen.synthetic import synthetic_fundus

STAGES = {"decode", "fov", "quality", "preprocess", "total"}


@pytest.fixture(scope="module")
def screener(tiny_bundle: Path) -> Screener:
    return Screener(tiny_bundle, threads=1)


def _with_blob(rgb: np.ndarray, cx: int, cy: int, r: int) -> np.ndarray:
    out = rgb.copy()
    cv2.circle(out, (cx, cy), r, (255, 255, 255), -1)
    return out


def _peak(heat: np.ndarray) -> tuple[int, int]:
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    return int(x), int(y)


def _non_fundus_photo(w: int = 480, h: int = 360) -> np.ndarray:
    """A full-frame outdoor-like scene: sky gradient, green ground, a house: no dark surround, no disc."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2] = np.linspace(120, 235, h // 2, dtype=np.uint8)[:, None, None] * np.array([0.6, 0.8, 1.0])[None, None]
    img[h // 2 :] = (70, 140, 60)
    cv2.rectangle(img, (150, 120), (330, 260), (200, 60, 50), -1)
    cv2.rectangle(img, (210, 190), (250, 260), (90, 60, 30), -1)
    rng = np.random.default_rng(0)
    return np.clip(img.astype(np.int16) + rng.integers(-12, 12, img.shape), 0, 255).astype(np.uint8)


def test_synthetic_fundus_result(screener: Screener, tiny_bundle: Path) -> None:
    rgb = synthetic_fundus(320, seed=0, width=400, height=320)
    res = screener.screen(rgb)
    assert isinstance(res, ScreenResult)
    assert res.quality.ok, res.quality.messages
    assert res.verdict in {"normal", "abnormal"}
    assert 0.0 <= res.probability <= 1.0
    assert (res.verdict == "abnormal") == (res.probability >= res.threshold)
    assert res.heatmap.shape == (320, 400) and res.heatmap.dtype == np.float32
    assert 0.0 <= res.heatmap.min() and res.heatmap.max() <= 1.0
    assert set(res.timings_ms) == STAGES and all(v >= 0 for v in res.timings_ms.values())
    assert res.batch.size == 1 and res.batch.index == 0 and res.batch.inference_ms > 0
    own = sum(v for k, v in res.timings_ms.items() if k != "total")
    assert res.timings_ms["total"] >= own + res.batch.inference_ms
    assert res.backend == screener.runtime.name and res.precision == "fp32"
    assert res.bundle == load_bundle(tiny_bundle).id
    d = res.to_dict()
    assert d["verdict"] == res.verdict and isinstance(d["quality"], dict) and "heatmap" not in d


def test_lesion_raises_probability_and_heatmap_lands_on_it(screener: Screener) -> None:
    base = synthetic_fundus(320, seed=4, width=480, height=320)
    cx, cy = 300, 200  # inside the disc, right of and below the centre
    plain, lesion = screener.screen(base), screener.screen(_with_blob(base, cx, cy, 32))
    assert plain.quality.ok and lesion.quality.ok
    assert lesion.probability > plain.probability + 0.03
    px, py = _peak(lesion.heatmap)
    # the CAM is 16x16 over a ~300 px crop: one cell is ~20 px in the original
    assert abs(px - cx) < 40 and abs(py - cy) < 40, (px, py)


def test_reduced_decode_maps_heatmap_to_original(screener: Screener, tmp_path: Path) -> None:
    big = synthetic_fundus(1800, seed=5, width=2400, height=1800)
    cx, cy = 1500, 1100
    path = tmp_path / "big.jpg"
    assert cv2.imwrite(str(path), cv2.cvtColor(_with_blob(big, cx, cy, 110), cv2.COLOR_RGB2BGR))
    res = screener.screen(path)
    assert res.quality.ok, res.quality.messages
    assert res.original_size == (2400, 1800)
    assert res.image.shape[1] < 2400 and res.scale < 1.0  # decoded reduced (model input is 64 px)
    assert res.heatmap.shape == (1800, 2400)
    px, py = _peak(res.heatmap)
    assert abs(px - cx) < 200 and abs(py - cy) < 200, (px, py)
    assert res.source == str(path)
    # the display map is aligned with the reduced decode and peaks at the same place, scaled
    assert res.image_heatmap.shape == res.image.shape[:2]
    qx, qy = _peak(res.image_heatmap)
    assert abs(qx / res.scale - cx) < 200 and abs(qy / res.scale - cy) < 200, (qx, qy, res.scale)


def test_path_bytes_and_array_agree(screener: Screener, tmp_path: Path) -> None:
    rgb = synthetic_fundus(256, seed=6)
    path = tmp_path / "f.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    a, b, c = screener.screen(path), screener.screen(path.read_bytes()), screener.screen(rgb)
    assert a.probability == pytest.approx(b.probability, abs=1e-6) == pytest.approx(c.probability, abs=1e-6)
    assert b.source is None and a.source == str(path)
    assert screener.screen(rgb, heatmap=False).heatmap is None


def test_non_fundus_photo_is_ungradable(screener: Screener) -> None:
    res = screener.screen(_non_fundus_photo())
    assert res.verdict == "ungradable"
    assert res.probability is None and res.heatmap is None
    assert res.quality.reasons and len(res.quality.messages) == len(res.quality.reasons)
    assert res.batch is None and res.cam is None  # never reached the model


def test_dark_image_is_ungradable(screener: Screener) -> None:
    res = screener.screen((synthetic_fundus(256, seed=7) * 0.08).astype(np.uint8))
    assert res.verdict == "ungradable" and res.probability is None


def test_bad_inputs(screener: Screener) -> None:
    with pytest.raises(ImageError):
        screener.screen(b"definitely not an image")
    with pytest.raises(UsageError, match=r"\(H, W, 3\) uint8"):
        screener.screen(np.zeros((10, 10), np.float32))


def test_screen_many_streams_in_order_with_failures(screener: Screener, tmp_path: Path) -> None:
    paths = []
    for i in range(7):
        p = tmp_path / f"img{i}.png"
        cv2.imwrite(str(p), cv2.cvtColor(synthetic_fundus(192, seed=10 + i), cv2.COLOR_RGB2BGR))
        paths.append(p)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    sources = [paths[0], tmp_path / "broken.jpg", *paths[1:4], tmp_path / "missing.png", _non_fundus_photo(), *paths[4:]]
    consumed = []

    def gen():
        for s in sources:
            consumed.append(s)
            yield s

    stream = screener.screen_many(gen(), batch_size=3)
    first = next(stream)
    assert len(consumed) <= 6  # a generator: it reads at most two batches ahead
    results = [first, *stream]
    assert len(results) == len(sources)
    kinds = [type(r).__name__ for r in results]
    assert kinds[1] == "ScreenFailure" and kinds[5] == "ScreenFailure"
    assert results[1].source == str(tmp_path / "broken.jpg") and "\n" not in results[1].error
    assert results[6].verdict == "ungradable"
    graded = [r for r in results if isinstance(r, ScreenResult) and r.probability is not None]
    assert [r.source for r in graded] == [str(p) for p in paths]
    for r, p in zip(graded, paths):  # batching does not change the numbers
        assert r.probability == pytest.approx(screener.screen(p).probability, abs=1e-5)
    assert all(isinstance(r, ScreenFailure) or r.heatmap is not None or r.verdict == "ungradable" for r in results)


def test_screen_many_rejects_bad_batch_size(screener: Screener) -> None:
    with pytest.raises(UsageError):
        list(screener.screen_many([], batch_size=0))


def test_no_bundle_and_no_default(monkeypatch) -> None:
    monkeypatch.setattr("edge_screen.screener.default_bundle_path", lambda: None)
    with pytest.raises(BundleError, match="--bundle"):
        Screener(None)


def test_explicit_backend_is_used(tiny_bundle: Path) -> None:
    s = Screener(tiny_bundle, backend="onnxruntime")
    assert s.screen(synthetic_fundus(192, seed=1)).backend == "onnxruntime"


def test_real_dev_images(screener: Screener, fundus_dev: Path) -> None:
    rows = list(csv.DictReader((fundus_dev / "labels.csv").open()))
    picks = [next(r for r in rows if Path(r["file"]).name.startswith(p)) for p in ("idrid_", "odir_")]
    for row in picks:
        path = fundus_dev / row["file"]
        res = screener.screen(path)
        assert res.quality.ok, (path, res.quality.messages)
        assert res.verdict in {"normal", "abnormal"}
        h, w = cv2.imread(str(path)).shape[:2]
        assert res.original_size == (w, h)
        assert res.heatmap.shape == (h, w) and np.isfinite(res.heatmap).all()
        assert 0.0 <= res.heatmap.min() and res.heatmap.max() <= 1.0


# ------------------------------------------------------------------------------------- overlay
def test_overlay_blends_only_where_the_map_is_hot() -> None:
    rgb = np.full((40, 60, 3), 100, np.uint8)
    heat = np.zeros((10, 15), np.float32)
    heat[5:, 10:] = 1.0
    out = overlay(rgb, heat, alpha=0.5)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert (out[:15, :30] == 100).all()  # cold region unchanged
    hot = colorize(np.ones((1, 1), np.float32))[0, 0].astype(int)
    np.testing.assert_allclose(out[-1, -1].astype(int), np.round((100 + hot) / 2), atol=1)
    assert (overlay(rgb, np.zeros((40, 60), np.float32)) == rgb).all()


def test_overlay_errors_and_save(tmp_path: Path) -> None:
    rgb = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(UsageError, match="Did you mean 'jet'"):
        overlay(rgb, np.zeros((8, 8)), colormap="jett")
    with pytest.raises(UsageError, match="NaN"):
        overlay(rgb, np.full((8, 8), np.nan))
    p = save_overlay(tmp_path / "o.png", rgb, np.ones((4, 4)), colormap="turbo")
    assert cv2.imread(str(p)).shape == (8, 8, 3)


def test_bundle_quality_overrides_apply(tiny_bundle: Path, tmp_path: Path) -> None:
    import shutil

    from edge_screen.bundle import BundleWriter

    root = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    w = BundleWriter(root)
    w.set_quality(min_brightness=250.0)  # a gate no normal photo passes
    w.write()
    res = Screener(root).screen(synthetic_fundus(256, seed=1))
    assert res.verdict == "ungradable" and "too_dark" in res.quality.reasons
    w.set_quality(no_such_threshold=1.0)
    w.write()
    with pytest.raises(BundleError, match="no_such_threshold"):
        Screener(root)


def test_evidence_weight_fades_the_map_of_a_normal_result() -> None:
    from edge_screen.heatmap import evidence_weight

    assert evidence_weight(0.9, 0.13) == 1.0  # referral: full strength
    assert evidence_weight(0.065, 0.13) == pytest.approx(0.5)
    assert evidence_weight(0.0, 0.13) == 0.0
    assert evidence_weight(None, 0.13) == 1.0 and evidence_weight(0.2, 0.0) == 1.0
    rgb = np.full((20, 20, 3), 100, np.uint8)
    heat = np.ones((20, 20), np.float32)
    strong = np.abs(overlay(rgb, heat * evidence_weight(0.9, 0.13)).astype(int) - 100).mean()
    faint = np.abs(overlay(rgb, heat * evidence_weight(0.02, 0.13)).astype(int) - 100).mean()
    assert faint < 0.25 * strong


def test_shipped_int8_models_agree_with_fp32_on_the_samples() -> None:
    """Every shipped INT8 runtime gives the FP32 verdict and a close CAM on the bundled IDRiD samples."""
    from edge_screen.bundle import default_bundle_path

    bundle = default_bundle_path()
    if bundle is None:
        pytest.skip("no default model shipped")
    samples = sorted((Path(__file__).resolve().parents[2] / "edge_screen" / "samples").glob("*.jpg"))
    assert len(samples) >= 4
    ref = [Screener(bundle, backend="onnxruntime", precision="fp32").screen(s) for s in samples]
    import importlib.util

    for backend in ("onnxruntime", "openvino"):
        if importlib.util.find_spec(backend) is None:
            continue  # the openvino extra is optional for the core
        got = [Screener(bundle, backend=backend, precision="int8").screen(s) for s in samples]
        for a, b in zip(ref, got):
            assert b.verdict == a.verdict and abs(b.probability - a.probability) < 0.05, (backend, a.source)
            if a.verdict == "abnormal":  # the map the app shows at full strength (a normal one is faded)
                r = np.corrcoef(a.cam.ravel(), b.cam.ravel())[0, 1]
                assert r > 0.95, (backend, a.source, r)
        assert {a.verdict for a in ref} == {"normal", "abnormal"}  # the samples cover both verdicts


# ------------------------------------------------------------------- pipeline, runtime, display
def _pngs(tmp_path: Path, n: int, seed: int = 40) -> list[Path]:
    paths = []
    for i in range(n):
        p = tmp_path / f"p{i}.png"
        cv2.imwrite(str(p), cv2.cvtColor(synthetic_fundus(192, seed=seed + i), cv2.COLOR_RGB2BGR))
        paths.append(p)
    return paths


def test_one_photo_is_decoded_once_and_shrunk_once(screener: Screener, tmp_path: Path, monkeypatch) -> None:
    """Decode -> one analysis copy -> FOV and every quality measure on it -> one crop."""
    import edge_screen.fundus as fundus
    import edge_screen.screener as scr

    calls = {"load": 0, "copy": 0, "crop": 0}

    def count(name, fn):  # noqa: ANN001, ANN202
        def wrapped(*a, **kw):  # noqa: ANN002, ANN003, ANN202
            calls[name] += 1
            return fn(*a, **kw)
        return wrapped

    monkeypatch.setattr(scr, "load_image", count("load", scr.load_image))
    monkeypatch.setattr(scr, "crop_image", count("crop", scr.crop_image))
    copy = count("copy", fundus.analysis_copy)
    monkeypatch.setattr(scr, "analysis_copy", copy)
    monkeypatch.setattr(fundus, "analysis_copy", copy)  # detect_fov / quality would make their own here
    monkeypatch.setattr("edge_screen.quality.analysis_copy", copy)
    big = tmp_path / "big.jpg"
    cv2.imwrite(str(big), cv2.cvtColor(synthetic_fundus(1200, seed=3, width=1600, height=1200), cv2.COLOR_RGB2BGR))
    res = screener.screen(big)
    assert res.quality.ok, res.quality.messages
    assert calls == {"load": 1, "copy": 1, "crop": 1}
    assert res.fov is not None and res.fov.found and res.fov.radius < res.image.shape[0]  # in `image` coordinates


def test_pipelined_stream_matches_serial_in_order(screener: Screener, tmp_path: Path) -> None:
    paths = _pngs(tmp_path, 9)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    sources = [paths[0], broken, *paths[1:5], _non_fundus_photo(), *paths[5:]]
    serial = list(screener.screen_many(sources, batch_size=4, workers=0))
    piped = list(screener.screen_many(sources, batch_size=4, workers=3))
    assert [type(r).__name__ for r in serial] == [type(r).__name__ for r in piped]
    assert [r.source for r in piped] == [r.source for r in serial]
    assert isinstance(piped[1], ScreenFailure) and piped[6].verdict == "ungradable"
    graded = [r for r in piped if isinstance(r, ScreenResult) and r.probability is not None]
    for a, b in zip([r for r in serial if isinstance(r, ScreenResult) and r.probability is not None], graded):
        assert a.probability == pytest.approx(b.probability, abs=1e-6)
    # batch figures are labelled as the batch's; positions cover each batch once
    sizes = [r.batch.size for r in graded]
    assert set(sizes) <= {1, 2, 3, 4} and all(0 <= r.batch.index < r.batch.size for r in graded)
    first = [r for r in graded if r.batch.size == graded[0].batch.size][: graded[0].batch.size]
    assert len({r.batch.inference_ms for r in first}) == 1  # one batch, one inference time


def test_stream_closed_early_stops_its_workers(screener: Screener, tmp_path: Path) -> None:
    import threading

    paths = _pngs(tmp_path, 12, seed=60)
    stream = screener.screen_many(iter(paths), batch_size=2, workers=2)
    next(stream)
    assert any(t.name.startswith("edge-screen-prepare") for t in threading.enumerate())
    stream.close()
    assert not any(t.name.startswith("edge-screen-prepare") for t in threading.enumerate())


def test_bad_workers(screener: Screener) -> None:
    with pytest.raises(UsageError, match="workers"):
        list(screener.screen_many([], workers=-1))


class _CountingRuntime:
    """Wraps a real runtime and counts its batches (what a benchmark or a shared session injects)."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner, self.calls = inner, []
        self.bundle, self.name, self.precision = inner.bundle, "counted", inner.precision

    def run(self, batch):  # noqa: ANN001, ANN201
        self.calls.append(batch.shape[0])
        return self.inner.run(batch)


def test_injected_runtime_is_used(screener: Screener, tiny_bundle: Path, tmp_path: Path) -> None:
    rt = _CountingRuntime(screener.runtime)
    s = Screener(tiny_bundle, runtime=rt)
    paths = _pngs(tmp_path, 5, seed=80)
    res = list(s.screen_many(paths, batch_size=3))
    assert rt.calls == [3, 2] and {r.backend for r in res} == {"counted"}
    assert res[0].probability == pytest.approx(screener.screen(paths[0]).probability, abs=1e-6)
    with pytest.raises(UsageError, match="backend"):
        Screener(tiny_bundle, runtime=rt, backend="onnxruntime")


def test_injected_runtime_must_match_the_preprocessing(screener: Screener, tiny_bundle_factory) -> None:
    other = Screener(tiny_bundle_factory(input_size=32, openvino=False)).runtime
    with pytest.raises(UsageError, match="preprocessing"):
        Screener(load_bundle(screener.bundle.root), runtime=other)


def test_display_copy_maps_the_heatmap_at_display_size(screener: Screener, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    base = synthetic_fundus(900, seed=5, width=1200, height=900)
    cv2.imwrite(str(big), cv2.cvtColor(_with_blob(base, 800, 560, 70), cv2.COLOR_RGB2BGR))
    res = screener.screen(big)
    d = res.display(max_side=400)
    assert d.rgb.shape == (300, 400, 3) and d.heatmap.shape == (300, 400) and d.scale == pytest.approx(1 / 3)
    resized = cv2.resize(res.image_heatmap, (400, 300), interpolation=cv2.INTER_AREA)
    assert np.abs(d.heatmap - resized).mean() < 0.02
    assert d.fov.radius == pytest.approx(res.fov.radius / 3, rel=1e-6)
    px, py = _peak(d.heatmap)
    assert abs(px * 3 - 800) < 90 and abs(py * 3 - 560) < 90
    small = res.display(max_side=5000)  # never enlarged
    assert small.rgb is res.image
    assert screener.screen(big, heatmap=False).display().heatmap is None
