"""Issue 15, "Done when" (the app's part): a backend installed as a plug-in (tests/fake_plugin/esfake.py,
entry points only) is offered in the app's settings, can be chosen there, and runs the app's model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def _with_npfake_entry(tiny_bundle_factory) -> Path:  # noqa: ANN001
    """A tiny bundle plus an ``npfake/fp32`` entry (a linear map that calls bright, red photos abnormal)."""
    from edge_screen.bundle import BundleWriter

    root = tiny_bundle_factory(openvino=False)
    weights = root.parent / "npfake.npz"
    np.savez(weights, w=np.array([1.0, -0.5, -0.5], np.float32), b=np.float32(-0.2), stride=np.int64(8))
    w = BundleWriter(root)
    w.add_model("npfake", "fp32", {"weights": weights})
    return w.write()


def test_plug_in_backend_is_offered_and_used_by_the_app(plugin_site, tiny_bundle_factory, make_app, qtbot) -> None:
    from edge_screen.gui.settings import backends

    assert "npfake" not in backends()
    plugin_site.fake()
    assert backends()[-1] == "npfake"
    bundle = _with_npfake_entry(tiny_bundle_factory)
    parts = make_app(bundle)
    page = parts.window.settings
    parts.window.tabs.setCurrentWidget(page)  # fills the list from the registry
    names = [page.backend.itemData(i) for i in range(page.backend.count())]
    assert names[0] == "auto" and "npfake" in names and "onnxruntime" in names
    i = page.backend.findData("npfake")
    assert page.backend.itemText(i) == "npfake"  # installed: no "(not installed)"
    page.backend.setCurrentIndex(i)
    page.bundle.setText(str(bundle))
    with qtbot.waitSignal(parts.models.model_changed, timeout=30000) as changed:
        page.apply.click()
    screener = changed.args[0]
    assert screener is not None and (screener.backend, screener.precision) == ("npfake", "fp32")
    assert parts.settings.backend == "npfake"
