"""Contract tests over every registered backend and every registered export format.

Parametrised from the registries (entry points ``edge_screen.backends`` / ``edge_screen.exporters``),
so a plug-in installed beside edge-screen is tested like a built-in one (tests/quantize/test_plugins.py
runs this file with a test plug-in installed). Each export format writes a bundle of a tiny model
(every precision it declares); each backend runs what the formats wrote for it. A backend that
cannot run here is skipped with its availability reason.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_screen.backends import backend_names, get_backend
from edge_screen.bundle import load_bundle
from edge_screen.errors import BundleError, EdgeScreenError, UsageError
from edge_screen.exporters import GROUP, Exporter, check_target, exporter_names, exporters, get_exporter
from edge_screen.quantize.calib import ImageSet
from edge_screen.quantize.tiny import tiny_classifier
from edge_screen.registry import load_group
from edge_screen.runtime import OUTPUT_NAMES

from edge_screen.quantize.export import export_bundle

SIZE = 64
FORMATS = exporter_names()
TARGETS = [(f, p) for f in FORMATS for p in get_exporter(f).precisions]
RUNS = [(b, p) for b in backend_names() for p in get_backend(b).precisions]


def _images(n: int, seed: int) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.interpolate(torch.randn(n, 3, SIZE // 8, SIZE // 8, generator=g), size=(SIZE, SIZE),
                                        mode="bilinear", align_corners=False)  # fmt: skip
    return (x + 0.3 * torch.randn(n, 3, SIZE, SIZE, generator=g)).clamp(-1, 1).numpy()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """``get(format) -> bundle folder`` with every precision the format declares (written once per module)."""
    model = tiny_classifier("linear", input_size=SIZE)
    calib = ImageSet(_images(16, 0), np.full(16, -1), tuple(f"synthetic{i}" for i in range(16)))
    done: dict[str, Path] = {}

    def get(fmt: str) -> Path:
        if fmt not in done:
            exporter = get_exporter(fmt)
            reason = exporter.unavailable()
            if reason is not None:
                pytest.skip(reason)
            root = tmp_path_factory.mktemp(f"contract-{fmt}")
            export_bundle(model, root, targets=[(fmt, p) for p in exporter.precisions], calib=calib,
                          name=f"contract-{fmt}", version="0.0.1")  # fmt: skip
            done[fmt] = root
        return done[fmt]

    return get


# --------------------------------------------------------------------------------- export formats
def test_every_export_format_entry_point_is_usable() -> None:
    """No registered format is dropped (e.g. for a backend nobody registered) without the test noticing."""
    assert sorted(load_group(GROUP, Exporter)) == FORMATS == sorted(exporters())


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_format_declares_what_its_backend_runs(fmt: str) -> None:
    e = get_exporter(fmt)
    backend = get_backend(e.backend)  # registered
    assert e.precisions and set(e.precisions) <= set(backend.precisions)
    assert e.file_roles and all(isinstance(r, str) and r for r in e.file_roles)
    reason = e.unavailable()
    assert reason is None or (reason and "\n" not in reason)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t[0]}-{t[1]}")
def test_export_writes_the_declared_entry(exported, target: tuple[str, str]) -> None:
    fmt, precision = target
    e = get_exporter(fmt)
    bundle = load_bundle(exported(fmt), verify=True)  # every file hashed and present
    entry = bundle.model(e.backend, precision)
    assert set(e.file_roles) <= set(entry.files), entry.files
    assert all(bundle.path(rel).is_file() for rel in entry.files.values())
    assert {m.backend for m in bundle.models} <= set(backend_names())  # nothing no backend can run


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_target_errors_are_one_line_usage_errors(fmt: str) -> None:
    with pytest.raises(UsageError, match=rf"unknown export format '{fmt}x'.*Did you mean '{fmt}'"):
        check_target(f"{fmt}x", "fp32")
    with pytest.raises(UsageError, match=rf"precision 'int3' is not available for {fmt}; valid: "):
        check_target(fmt, "int3")


# ---------------------------------------------------------------------------------------- backends
def _runnable(exported, backend: str, precision: str):
    """(bundle, entry) written for ``backend/precision`` by a registered format, or skip with the reason."""
    spec = get_backend(backend)
    reason = spec.unavailable()
    if reason is not None:
        pytest.skip(reason)
    fmts = [f for f in FORMATS if get_exporter(f).backend == backend and precision in get_exporter(f).precisions]
    if not fmts:
        pytest.skip(f"no registered export format writes {backend}/{precision} models")
    bundle = load_bundle(exported(fmts[0]))
    entry = bundle.model(backend, precision)
    missing = [r for r in spec.file_roles if r not in entry.files]
    if missing:
        pytest.skip(f"{backend}/{precision} needs {missing} made on the device ({entry.extra.get('note', '')})")
    return spec, bundle, entry


@pytest.mark.parametrize("run", RUNS, ids=lambda t: f"{t[0]}-{t[1]}")
def test_runtime_follows_the_io_contract(exported, run: tuple[str, str]) -> None:
    spec, bundle, entry = _runnable(exported, *run)
    cls = spec.runtime_class()
    rt = cls(bundle, entry, threads=1)
    assert rt.name == spec.name and rt.precision == entry.precision
    x = _images(3, 1)
    probs, heat = rt.run(x)
    assert probs.shape == (3, 2) and probs.dtype == np.float32
    # FP16 graphs (OpenVINO runs them in f16 on CPUs with AMX-FP16): one f16 step at 1.0 is 2.4e-4
    tol = 1e-3 if entry.precision == "fp16" else 1e-4
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=tol)
    assert heat.dtype == np.float32 and heat.ndim == 3 and heat.shape[0] == 3
    assert float(heat.min()) >= -1e-5 and float(heat.max()) <= 1.0 + tol
    outs = rt.run_outputs(x[:1])
    assert set(OUTPUT_NAMES) <= set(outs) and outs["probabilities"].shape == (1, 2)
    described = rt.describe()
    assert described["backend"] == spec.name and described["precision"] == entry.precision
    assert cls.library_version() is None or isinstance(cls.library_version(), str)
    for bad in (x[:, :, :-1], x[:, :2], x[0], "not an array"):
        with pytest.raises(UsageError):
            rt.run(bad)


@pytest.mark.parametrize("run", RUNS, ids=lambda t: f"{t[0]}-{t[1]}")
def test_runtime_errors_are_edge_screen_errors(exported, run: tuple[str, str], tmp_path: Path) -> None:
    spec, bundle, entry = _runnable(exported, *run)
    cls = spec.runtime_class()
    with pytest.raises(BundleError, match="lacks file role"):
        cls(bundle, type(entry)(entry.backend, entry.precision, {"other": "x"}, {}))
    with pytest.raises(UsageError, match="threads"):
        cls(bundle, entry, threads=0)
    broken = tmp_path / "broken"
    shutil.copytree(bundle.root, broken)
    for rel in entry.files.values():
        (broken / rel).write_bytes(b"\x00 not a model \xff" * 8)
    with pytest.raises(EdgeScreenError):
        cls(load_bundle(broken, verify=False), entry)
