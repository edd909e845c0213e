"""Shared fixtures. Tests are offline and CPU-only; real images come from ../shared."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DEV_DATA = Path(os.environ.get("EDGE_SCREEN_DEV_DATA", REPO.parent / "shared" / "data" / "fundus-dev"))


@pytest.fixture(scope="session")
def fundus_dev() -> Path:
    """The real dev set (``labels.csv`` + ``images/``); skipped where ../shared is absent."""
    if not (DEV_DATA / "labels.csv").is_file():
        pytest.skip(f"real fundus dev set not found at {DEV_DATA} (set EDGE_SCREEN_DEV_DATA)")
    return DEV_DATA


def _sample_photo(parts: tuple[str, ...], module: str) -> Path | None:
    spec = importlib.util.find_spec(module)  # locate without importing (sklearn is slow)
    if spec is None or spec.origin is None:
        return None
    p = Path(spec.origin).parent.joinpath(*parts)
    return p if p.is_file() else None


@pytest.fixture(scope="session")
def natural_photos() -> list[Path]:
    """Ordinary (non-fundus) photos shipped inside installed packages (matplotlib, sklearn)."""
    found = [p for p in (
        _sample_photo(("mpl-data", "sample_data", "grace_hopper.jpg"), "matplotlib"),
        _sample_photo(("datasets", "images", "flower.jpg"), "sklearn"),
        _sample_photo(("datasets", "images", "china.jpg"), "sklearn"),
    ) if p is not None]
    if not found:
        pytest.skip("no sample photos found (matplotlib / scikit-learn not installed)")
    return found


# ----------------------------------------------------------------------------- tiny model bundle
TINY_INPUT_SIZE = 64


def build_tiny_onnx(path: Path, *, input_size: int = TINY_INPUT_SIZE, seed: int = 0) -> Path:
    """Write a real, small ONNX model that follows the model I/O contract (no torch).

    ``image`` float32 [B, 3, S, S] (RGB, (x/255 - 0.5) / 0.5) -> two stride-2 conv+ReLU layers ->
    global average pool -> linear head -> ``probabilities`` [B, 2] (softmax) and ``heatmap``
    [B, S/4, S/4]: the CAM of class 1 (head row 1 over the feature map), ReLU'd and divided by its
    per-image max clamped at 1e-6 (an all-zero map stays zero).
    Hand-set channels make the output depend on the image: channel 0 fires on bright pixels
    (mean RGB above ~190), channel 1 on saturated red (R - G above ~150); both raise P(abnormal).
    The remaining channels are small seeded random weights.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    c1 = np.zeros((8, 3, 3, 3), np.float32)
    b1 = np.zeros(8, np.float32)
    c1[0] = 4.0 / 27.0  # 4 * mean over RGB and 3x3
    b1[0] = -2.0  # fires above normalised mean 0.5 (pixel ~191)
    c1[1, 0] = 4.0 / 9.0  # 4 * (R - G) averaged over 3x3
    c1[1, 1] = -4.0 / 9.0
    b1[1] = -4.8  # fires above normalised R - G 1.2 (pixels ~153)
    c1[2:] = rng.normal(0.0, 0.2, (6, 3, 3, 3))
    c2 = np.zeros((8, 8, 3, 3), np.float32)
    b2 = np.zeros(8, np.float32)
    c2[0, 0] = 1.0 / 9.0
    c2[1, 1] = 1.0 / 9.0
    c2[2:] = rng.normal(0.0, 0.05, (6, 8, 3, 3))
    head = np.zeros((2, 8), np.float32)
    head[1, :2] = 30.0
    head[0, :2] = -30.0
    head[1, 2:] = rng.normal(0.0, 0.1, 6)
    head[0, 2:] = -head[1, 2:]
    hb = np.array([1.5, -1.5], np.float32)  # a plain image is normal (P(abnormal) ~ 0.05)
    cam_w = head[1].reshape(1, 8, 1, 1).copy()

    inits = [
        numpy_helper.from_array(c1, "c1_w"),
        numpy_helper.from_array(b1, "c1_b"),
        numpy_helper.from_array(c2, "c2_w"),
        numpy_helper.from_array(b2, "c2_b"),
        numpy_helper.from_array(head, "head_w"),
        numpy_helper.from_array(hb, "head_b"),
        numpy_helper.from_array(cam_w, "cam_w"),
        numpy_helper.from_array(np.array([1e-6], np.float32), "eps"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ]
    conv = dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    nodes = [
        helper.make_node("Conv", ["image", "c1_w", "c1_b"], ["x1"], **conv),
        helper.make_node("Relu", ["x1"], ["r1"]),
        helper.make_node("Conv", ["r1", "c2_w", "c2_b"], ["x2"], **conv),
        helper.make_node("Relu", ["x2"], ["feat"]),
        helper.make_node("GlobalAveragePool", ["feat"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["pooled"], axis=1),
        helper.make_node("Gemm", ["pooled", "head_w", "head_b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("Conv", ["feat", "cam_w"], ["cam_raw"]),
        helper.make_node("Relu", ["cam_raw"], ["cam_pos"]),
        helper.make_node("ReduceMax", ["cam_pos"], ["cam_max"], axes=[2, 3], keepdims=1),
        helper.make_node("Max", ["cam_max", "eps"], ["cam_den"]),
        helper.make_node("Div", ["cam_pos", "cam_den"], ["cam_norm"]),
        helper.make_node("Squeeze", ["cam_norm", "axis1"], ["heatmap"]),
    ]
    h = input_size // 4
    graph = helper.make_graph(
        nodes,
        "tiny_fundus",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, input_size, input_size])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2]),
            helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, ["batch", h, h]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edge-screen-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def make_tiny_bundle(
    root: Path,
    *,
    input_size: int = TINY_INPUT_SIZE,
    threshold: float = 0.5,
    openvino: bool = True,
    crop: str = "fov",
    name: str = "tiny",
    seed: int = 0,
) -> Path:
    """Build a bundle folder at ``root`` around :func:`build_tiny_onnx` and return ``root``.

    Entries: onnxruntime/fp32, plus openvino/fp32 (IR converted with ``openvino.convert_model``)
    when ``openvino`` is true and OpenVINO imports.
    """
    from edge_screen.bundle import BundleWriter
    from edge_screen.preprocess import Preprocessing

    work = root.parent / f".{root.name}-build"
    onnx_path = build_tiny_onnx(work / "model_fp32.onnx", input_size=input_size, seed=seed)
    w = BundleWriter(root, name=name, version="0.0.1", preprocessing=Preprocessing(input_size=input_size, crop=crop))
    w.add_model("onnxruntime", "fp32", {"model": onnx_path})
    if openvino:
        try:
            import openvino as ov
        except ImportError:
            ov = None
        if ov is not None:
            xml = work / "openvino" / "model.xml"
            ov.save_model(ov.convert_model(str(onnx_path)), str(xml), compress_to_fp16=False)
            w.add_model("openvino", "fp32", {"model": xml, "weights": xml.with_suffix(".bin")})
    w.set_threshold(threshold, "fixed for tests", {"seed": seed})
    w.set_provenance(teacher="none", student="tiny hand-set CNN", data="none (tests)", metrics={})
    return w.write()


@pytest.fixture(scope="session")
def tiny_bundle_factory(tmp_path_factory: pytest.TempPathFactory):
    """``make(**kw) -> Path``: a fresh tiny bundle folder per call (see :func:`make_tiny_bundle`)."""
    pytest.importorskip("onnx", reason="building the tiny test model needs onnx (the dev extra)")
    counter = iter(range(1_000_000))

    def make(**kw) -> Path:
        return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / f"tiny{next(counter)}", **kw)

    return make


@pytest.fixture(scope="session")
def tiny_bundle(tiny_bundle_factory) -> Path:
    """A session-wide tiny bundle folder (onnxruntime fp32 + openvino fp32 when installed). Do not modify it."""
    return tiny_bundle_factory()


@pytest.fixture(autouse=True, scope="session")
def _bundle_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep zip-bundle extraction out of the user's ~/.cache during tests."""
    os.environ.setdefault("EDGE_SCREEN_CACHE", str(tmp_path_factory.mktemp("cache")))


# ------------------------------------------------------------------------- plug-ins at test time
FAKE_PLUGIN = REPO / "tests" / "fake_plugin" / "esfake.py"
#: the entry points of tests/fake_plugin/esfake.py (a backend and an export format named "npfake")
FAKE_ENTRY_POINTS = {"edge_screen.backends": {"npfake": "esfake:BACKEND"},
                     "edge_screen.exporters": {"npfake": "esfake:EXPORTER"}}


def install_plugin(site: Path, dist: str, entry_points: dict[str, dict[str, str]],
                   modules: dict[str, str] | None = None) -> Path:
    """Write a distribution ``dist`` into the folder ``site`` as pip would: ``<dist>-0.1.dist-info``
    (METADATA, entry_points.txt) plus top-level modules ``{name: source}``. Put ``site`` on
    ``sys.path`` (or PYTHONPATH) and clear the registry caches to make it visible."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n", encoding="utf-8")
    text = "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
                   for group, eps in entry_points.items())
    (info / "entry_points.txt").write_text(text, encoding="utf-8")
    for name, source in (modules or {}).items():
        (site / f"{name}.py").write_text(source, encoding="utf-8")
    return site


@pytest.fixture()
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``install(dist, entry_points, modules=None) -> site``: plug-ins this test sees (importlib.metadata,
    the registries, imports); gone afterwards. ``install.fake()`` installs tests/fake_plugin/esfake.py."""
    import importlib
    import sys

    from edge_screen.registry import clear_caches

    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    before = set(sys.modules)

    def install(dist: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str] | None = None) -> Path:
        install_plugin(site, dist, entry_points, modules)
        importlib.invalidate_caches()
        clear_caches()
        return site

    install.fake = lambda: install("esfake", FAKE_ENTRY_POINTS, {"esfake": FAKE_PLUGIN.read_text(encoding="utf-8")})
    yield install
    clear_caches()
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(site)):
            del sys.modules[name]
