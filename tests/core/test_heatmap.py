"""The one heatmap rendering shared by the CLI, the app and the PDF: faded by evidence, masked to the retina, legend."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_screen.errors import UsageError
from edge_screen.heatmap import (
    LEGEND_BACKGROUND,
    fov_mask,
    legend_bar,
    legend_height,
    overlay,
    render_heatmap,
    with_legend,
)
from edge_screen.preprocess import detect_fov
from edge_screen.synthetic import synthetic_fundus


@pytest.fixture(scope="module")
def fundus() -> np.ndarray:
    return synthetic_fundus(320, seed=3)


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 2


def test_map_is_masked_to_the_field_of_view(fundus: np.ndarray) -> None:
    heat = np.ones((10, 10), np.float32)                 # a map that is hot everywhere, borders included
    fov = detect_fov(fundus)
    assert fov.found
    out = render_heatmap(fundus, heat, probability=0.9, threshold=0.3)
    inside = fov_mask(fundus.shape[:2], fov) > 0.99
    outside = fov_mask(fundus.shape[:2], fov) < 0.01
    changed = _changed(out, fundus)
    assert changed[inside].mean() > 0.95               # the retina gets the colour
    assert not changed[outside].any()                  # the black border stays black
    # without the mask the border would have been painted: the mask is what keeps it clean
    assert _changed(render_heatmap(fundus, heat, probability=0.9, threshold=0.3, fov=None), fundus)[outside].mean() > 0.9


def test_map_fades_with_the_evidence(fundus: np.ndarray) -> None:
    heat = np.ones((10, 10), np.float32)
    strong = np.abs(render_heatmap(fundus, heat, probability=0.9, threshold=0.3).astype(int) - fundus).mean()
    faint = np.abs(render_heatmap(fundus, heat, probability=0.03, threshold=0.3).astype(int) - fundus).mean()
    none = render_heatmap(fundus, heat, probability=0.0, threshold=0.3)
    assert faint < 0.4 * strong
    assert (none == fundus).all()                      # no evidence, no colour
    # the same as the plain overlay of the masked, weighted map: one rendering, not a variant
    fov = detect_fov(fundus)
    expected = overlay(fundus, heat.repeat(32, 0).repeat(32, 1) * 0.1 * fov_mask(fundus.shape[:2], fov))
    got = render_heatmap(fundus, heat, probability=0.03, threshold=0.3, fov=fov)
    assert np.abs(got.astype(int) - expected).max() <= 1


def test_no_mask_when_the_disc_is_not_found() -> None:
    flat = np.full((120, 160, 3), 128, np.uint8)
    out = render_heatmap(flat, np.ones((4, 4), np.float32))
    assert _changed(out, flat).all()


def test_bad_inputs_are_usage_errors(fundus: np.ndarray) -> None:
    with pytest.raises(UsageError, match="uint8"):
        render_heatmap(fundus.astype(np.float32), np.ones((4, 4)))
    with pytest.raises(UsageError, match="NaN"):
        render_heatmap(fundus, np.full((4, 4), np.nan))
    with pytest.raises(UsageError, match="fov"):
        render_heatmap(fundus, np.ones((4, 4)), fov="yes")
    with pytest.raises(UsageError, match="ASCII"):
        with_legend(fundus, text="कमज़ोर")


def test_legend_shows_the_colours_of_the_overlay() -> None:
    bar = legend_bar(200, 10)
    assert bar.shape == (10, 200, 3) and bar.dtype == np.uint8
    # each column is what the overlay draws for that strength over a retina-coloured pixel
    base = np.empty((1, 200, 3), np.uint8)
    base[:] = LEGEND_BACKGROUND
    expected = overlay(base, np.linspace(0, 1, 200, dtype=np.float32)[None, :])
    assert np.abs(bar[:1].astype(int) - expected).max() <= 1
    dist = np.abs(bar[0].astype(int) - np.array(LEGEND_BACKGROUND)).sum(axis=1)
    assert dist[0] <= 3 and dist[-1] > 40               # weak = the untouched retina, strong = coloured
    with pytest.raises(UsageError):
        legend_bar(1, 10)


def test_with_legend_adds_a_strip_below(fundus: np.ndarray) -> None:
    out = with_legend(fundus)
    assert out.shape == (fundus.shape[0] + legend_height(fundus.shape[1]), fundus.shape[1], 3)
    assert (out[: fundus.shape[0]] == fundus).all()     # the image itself is untouched
    strip = out[fundus.shape[0]:]
    assert (strip > 200).any()                          # the text is drawn


def test_cli_heatmap_dir_fades_a_normal_photo_and_keeps_the_border_clean(tiny_bundle: Path, tmp_path: Path,
                                                                         capsys) -> None:
    """The CLI's overlay PNGs are drawn by render_heatmap: the border of the photo stays as it was."""
    from edge_screen import cli
    from edge_screen.imageio import load_image

    photo = tmp_path / "eye.png"
    rgb = synthetic_fundus(256, seed=5)
    cv2.imwrite(str(photo), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    code = cli.main(["screen", str(photo), "--bundle", str(tiny_bundle), "--json", "--heatmap-dir",
                     str(tmp_path / "heat"), "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 0
    row = json.loads(out.splitlines()[0])
    assert row["verdict"] in ("normal", "abnormal")
    written = cv2.cvtColor(cv2.imread(row["heatmap"]), cv2.COLOR_BGR2RGB)
    decoded = load_image(photo).rgb
    img = written[: decoded.shape[0]]
    fov = detect_fov(decoded)
    outside = fov_mask(decoded.shape[:2], fov) < 0.01
    assert outside.any() and not _changed(img, decoded)[outside].any()
    assert written.shape[0] == decoded.shape[0] + legend_height(decoded.shape[1])
