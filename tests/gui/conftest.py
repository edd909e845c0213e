"""GUI test fixtures. Qt runs offscreen: the platform is set here, before anything imports Qt."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture()
def screen_bundle(request: pytest.FixtureRequest) -> Path:
    """A real small model bundle (the core's ``tiny_bundle`` fixture); skips until the core provides it."""
    pytest.importorskip("edge_screen.screener", reason="edge_screen.screener (core) is not there yet")
    try:
        return Path(request.getfixturevalue("tiny_bundle"))
    except pytest.FixtureLookupError:
        pytest.skip("the core's tiny_bundle fixture is not there yet")


@pytest.fixture()
def idrid_image(fundus_dev: Path) -> Path:
    """One real 1024x680 fundus photo (IDRiD)."""
    paths = sorted((fundus_dev / "images").glob("idrid_*.jpg"))
    if not paths:
        pytest.skip("no idrid_*.jpg in the dev set")
    return paths[0]


@pytest.fixture()
def app_settings(tmp_path: Path):
    """AppSettings in a temporary INI file, with the records folder under tmp_path."""
    pytest.importorskip("PySide6")
    from edge_screen.gui.settings import AppSettings

    s = AppSettings(tmp_path / "settings.ini")
    s.data_dir = str(tmp_path / "data")
    return s


def _disc_image(h: int = 480, w: int = 640, seed: int = 0) -> np.ndarray:
    """(h, w, 3) uint8 RGB: an orange disc on black, enough to exercise image paths (not a screening input)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.45 * h) ** 2
    img = np.zeros((h, w, 3), np.uint8)
    img[disc] = (200, 90, 40)
    img = np.clip(img.astype(np.int16) + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
    img[~disc] = 0
    return img


@pytest.fixture()
def disc_image():
    """Factory ``(h=480, w=640, seed=0) -> (h, w, 3) uint8 RGB`` orange disc on black."""
    return _disc_image
