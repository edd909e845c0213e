"""Synthetic fundus generator: deterministic, drawn as asked, and accepted by the pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from edge_screen.errors import UsageError
from edge_screen.preprocess import detect_fov
from edge_screen.quality import assess_quality
from edge_screen.synthetic import LESIONS, synthetic_fundus


def test_deterministic_by_seed():
    a, b = synthetic_fundus(256, seed=4), synthetic_fundus(256, seed=4)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - synthetic_fundus(256, seed=5)).mean() > 2


def test_shape_dtype_and_dark_surround():
    img = synthetic_fundus(300, seed=1)
    assert img.shape == (300, 300, 3) and img.dtype == np.uint8
    assert img[:10, :10].max() <= 5  # black corners
    r, g, b = img[150, 150].astype(int)
    assert r > g > b  # red-dominant retina


def test_non_square_frame_clips_the_disc_like_idrid():
    img = synthetic_fundus(width=1024, height=680, seed=0)
    assert img.shape == (680, 1024, 3)
    assert img[0, 480:540].mean() > 40 and img[-1, 480:540].mean() > 40  # clipped top/bottom
    assert img[340, :40].max() <= 5 and img[340, -40:].max() <= 5  # black at the sides
    fov = detect_fov(img)
    assert fov.found and fov.radius > 340


@pytest.mark.parametrize("lesion", LESIONS)
def test_each_lesion_changes_the_picture(lesion):
    base = synthetic_fundus(256, seed=3).astype(int)
    with_lesion = synthetic_fundus(256, seed=3, lesions=(lesion,)).astype(int)
    changed = np.abs(with_lesion - base).max(axis=2) > 30
    assert changed.sum() > 20, lesion


def test_lesion_colours():
    base = synthetic_fundus(384, seed=6).astype(int)
    haem = synthetic_fundus(384, seed=6, lesions=("haemorrhages",)).astype(int)
    exud = synthetic_fundus(384, seed=6, lesions=("exudates",)).astype(int)
    dh = (haem - base)[np.abs(haem - base).max(axis=2) > 30]
    de = (exud - base)[np.abs(exud - base).max(axis=2) > 30]
    assert dh[:, 0].mean() < 0  # haemorrhages darken
    assert de[:, 1].mean() > 0  # exudates add yellow (green up)


@pytest.mark.parametrize("kw", [dict(size=512, seed=0), dict(size=224, seed=9),
                                dict(width=800, height=600, seed=2),
                                dict(size=512, seed=1, lesions=LESIONS)])
def test_synthetic_images_pass_fov_and_quality(kw):
    img = synthetic_fundus(**kw)
    assert detect_fov(img).found
    report = assess_quality(img)
    assert report.ok, report.messages


def test_bad_arguments():
    with pytest.raises(UsageError, match="unknown lesion"):
        synthetic_fundus(128, lesions=("cotton_wool",))
    with pytest.raises(UsageError, match="out of range"):
        synthetic_fundus(16)
