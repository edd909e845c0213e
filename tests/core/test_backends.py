"""The backend registry (entry points), the names derived from it, and what happens with broken plug-ins."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from edge_screen import backends as reg
from edge_screen.bundle import BundleWriter, load_bundle
from edge_screen.errors import BackendUnavailable, BundleError, UsageError
from edge_screen.registry import closest, unknown_name
from edge_screen.runtime import candidates, select_model

BUILT_IN = ["tensorrt", "openvino", "onnxruntime"]


def test_built_in_backends_come_from_entry_points_in_priority_order() -> None:
    from importlib import metadata

    names = {ep.name for ep in metadata.entry_points(group=reg.GROUP)}
    assert set(BUILT_IN) <= names
    assert reg.backend_names()[:3] == BUILT_IN  # static order: tensorrt > openvino > onnxruntime
    assert reg.precision_names() == ("int8", "fp16", "fp32")
    import edge_screen.runtime as runtime

    assert runtime.BACKEND_PREFERENCE == tuple(reg.backend_names())
    assert runtime.PRECISION_PREFERENCE == reg.precision_names()


@pytest.mark.parametrize("name", reg.backend_names())
def test_backend_entry_matches_its_runtime_class(name: str) -> None:
    b = reg.get_backend(name)
    cls = b.runtime_class()
    assert (cls.name, cls.extra, tuple(cls.required_files)) == (b.name, b.extra, b.file_roles)
    reason = b.unavailable()
    assert reason is None or (isinstance(reason, str) and reason and "\n" not in reason)
    assert cls.is_available() is (reason is None)
    if reason is not None:
        assert cls.unavailable_message() == reason


def test_reading_the_registry_imports_no_inference_library() -> None:
    code = ("import sys, json\nfrom edge_screen.backends import backends, precision_names\n"
            "from edge_screen.exporters import exporters\n"
            "t = backends(); exporters(); precision_names()\n"
            "print(json.dumps([list(t), [m for m in ('onnxruntime', 'openvino', 'tensorrt', 'torch', 'onnx') "
            "if m in sys.modules]]))\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    names, heavy = json.loads(out.stdout)
    assert names[:3] == BUILT_IN and heavy == []


def test_installed_versions_come_from_pip_metadata_without_importing_the_libraries() -> None:
    """What the self-check key and the app's Settings page use: no library import for the built-ins."""
    code = ("import sys, json\nfrom edge_screen.backends import backends\n"
            "v = {n: b.installed() for n, b in backends().items()}\n"
            "print(json.dumps([v, [m for m in ('onnxruntime', 'openvino') if m in sys.modules]]))\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    versions, imported = json.loads(out.stdout)
    import onnxruntime

    assert versions["onnxruntime"] == f"onnxruntime {onnxruntime.__version__}" and imported == []
    from edge_screen.runtime import available_backends

    assert ("tensorrt" in available_backends()) == (versions["tensorrt"] is not None)


def test_installed_falls_back_to_the_runtime_when_no_distribution_has_metadata() -> None:
    from dataclasses import replace

    ort = reg.get_backend("onnxruntime")
    import onnxruntime

    assert replace(ort, distributions=("no-such-dist-xyz",)).installed() == onnxruntime.__version__
    gone = replace(ort, distributions=("no-such-dist-xyz",), check=lambda: "not here: pip install it")
    assert gone.installed() is None


def test_unknown_names_say_what_is_valid_and_the_closest() -> None:
    with pytest.raises(UsageError, match=r"unknown backend 'openvno'; valid: tensorrt, openvino, onnxruntime.*"
                                         r"Did you mean 'openvino'\?"):
        reg.get_backend("openvno")
    with pytest.raises(UsageError, match=r"unknown precision 'fp23'.*Did you mean 'fp32'"):
        reg.check_precision("fp23")
    assert closest("jett", ["jet", "hot"]) == "jet" and closest("zzz", ["jet", "hot"]) is None
    assert "Did you mean" not in str(unknown_name("colormap", "zzz", ["jet"]))
    from edge_screen.heatmap import colorize

    import numpy as np

    with pytest.raises(UsageError, match=r"unknown colormap 'virdis'.*Did you mean 'viridis'"):
        colorize(np.zeros((4, 4), np.float32), colormap="virdis")


def test_bundle_writer_refuses_models_no_backend_runs(tmp_path: Path) -> None:
    f = tmp_path / "m.ep"
    f.write_bytes(b"x")
    w = BundleWriter(tmp_path / "b", name="b", version="1")
    with pytest.raises(BundleError, match=r"cannot add a torch-tensorrt/fp16 model.*unknown backend 'torch-tensorrt'.*"
                                          r"Did you mean 'tensorrt'"):
        w.add_model("torch-tensorrt", "fp16", {"model": f})
    with pytest.raises(BundleError, match=r"backend 'onnxruntime' has no 'fp16' models; its precisions: fp32, int8"):
        w.add_model("onnxruntime", "fp16", {"model": f})
    assert w.manifest["models"] == []


def test_selection_says_why_it_leaves_an_entry_out(tiny_bundle_factory, caplog: pytest.LogCaptureFixture) -> None:
    """A bundle from elsewhere (a plug-in's entry, hand-edited) loads; its unrunnable entry is skipped with the reason."""
    root = tiny_bundle_factory(openvino=False)
    m = json.loads((root / "manifest.json").read_text())
    model = m["models"][0]["files"]["model"]
    m["models"].append({"backend": "torch-tensorrt", "precision": "fp16", "files": {"model": model}})
    (root / "manifest.json").write_text(json.dumps(m))
    bundle = load_bundle(root)
    found, skipped = candidates(bundle)
    assert [(e.backend, e.precision) for _, e in found] == [("onnxruntime", "fp32")]
    assert skipped == ["torch-tensorrt/fp16 (no backend 'torch-tensorrt' is registered here; registered: "
                       "tensorrt, openvino, onnxruntime)"]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="edge_screen.runtimes.selection"):
        cls, entry = select_model(bundle)
    assert entry.backend == "onnxruntime" and "torch-tensorrt/fp16 (no backend" in caplog.text
    with pytest.raises(UsageError, match="Did you mean 'tensorrt'"):
        select_model(bundle, backend="torch-tensorrt")


def _broken(install) -> Path:
    return install("brokenplug", {"edge_screen.backends": {
        "missing": "no_such_module_xyz:BACKEND",                # import error
        "notabackend": "brokenmod:NOT_A_BACKEND",               # wrong type
        "misnamed": "brokenmod:MISNAMED",                       # declares another name
        "raises": "brokenmod:RAISES",                           # its module raises at import
        "onnxruntime": "brokenmod:DUPLICATE",                   # a built-in's name (first one wins)
    }}, {"brokenmod": (
        "from edge_screen.backends import Backend\n"
        "NOT_A_BACKEND = 42\n"
        "MISNAMED = Backend(name='other', precisions=('fp32',), file_roles=('model',), extra='', runtime='x:Y', "
        "check=lambda: None)\n"
        "DUPLICATE = Backend(name='onnxruntime', precisions=('fp32',), file_roles=('model',), extra='', runtime='x:Y', "
        "check=lambda: None)\n"
        "def __getattr__(name):\n"
        "    if name == 'RAISES':\n"
        "        raise RuntimeError('plug-in bug')\n"
        "    raise AttributeError(name)\n")})  # fmt: skip


def test_broken_plug_ins_are_skipped_with_one_line_each(plugin_site, caplog: pytest.LogCaptureFixture) -> None:
    _broken(plugin_site)
    with caplog.at_level(logging.WARNING, logger="edge_screen.registry"):
        names = reg.backend_names()
    assert names == BUILT_IN
    assert reg.get_backend("onnxruntime").runtime == "edge_screen.runtimes.onnxruntime:OnnxRuntime"
    lines = [r.getMessage() for r in caplog.records]
    assert all("\n" not in line and "skipping entry point" in line for line in lines)
    text = "\n".join(lines)
    for name, why in (("missing", "ModuleNotFoundError"), ("notabackend", "is a int, not a Backend"),
                      ("misnamed", "declares the name 'other'"), ("raises", "RuntimeError: plug-in bug"),
                      ("onnxruntime", "already registered")):  # fmt: skip
        assert f"'{name}'" in text and why in text, (name, text)


def test_broken_plug_in_leaves_the_cli_working(plugin_site, tmp_path: Path) -> None:
    import os

    site = _broken(plugin_site)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "edge_screen", "screen", "--help"], capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip
    assert proc.returncode == 0 and "{tensorrt,openvino,onnxruntime}" in proc.stdout.replace("\n", "").replace(" ", "")
    assert "Traceback" not in proc.stderr
    assert 1 <= proc.stderr.count("skipping entry point") <= 5 * 2  # one line per broken entry (per registry read)


def test_a_runtime_whose_module_is_gone_is_unavailable_not_a_crash(plugin_site, tiny_bundle: Path,
                                                                    tmp_path: Path) -> None:
    plugin_site("ghostplug", {"edge_screen.backends": {"ghost": "ghostmod:BACKEND"}}, {"ghostmod": (
        "from edge_screen.backends import Backend\n"
        "BACKEND = Backend(name='ghost', precisions=('fp32',), file_roles=('model',), extra='ghost', "
        "runtime='ghost_runtime_gone:GhostRuntime', check=lambda: None, priority=100)\n")})  # fmt: skip
    assert reg.backend_names()[0] == "ghost"
    with pytest.raises(BackendUnavailable, match=r"backend 'ghost': its runtime .* cannot be imported.*edge-screen\[ghost\]"):
        reg.get_backend("ghost").runtime_class()
    # a bundle entry for it is skipped with that reason; the others still run
    bundle = load_bundle(tiny_bundle)
    writer = BundleWriter(tmp_path / "ghost-bundle", name="g", version="1", preprocessing=bundle.preprocessing)
    writer.add_model("ghost", "fp32", {"model": bundle.path(bundle.model("onnxruntime", "fp32").files["model"])})
    writer.add_model("onnxruntime", "fp32", {"model": bundle.path(bundle.model("onnxruntime", "fp32").files["model"])})
    writer.set_threshold(0.5, "test")
    found, skipped = candidates(load_bundle(writer.write()))
    assert [e.backend for _, e in found] == ["onnxruntime"] and "cannot be imported" in skipped[0]
