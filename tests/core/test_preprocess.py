"""Preprocessing: FOV detection (synthetic and all dev photos), crop, normalise, and the
coordinate round trip between the original image and the model input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_screen.errors import UsageError
from edge_screen.imageio import load_image
from edge_screen.preprocess import (FieldOfView, Preprocessing, crop_image, detect_fov, normalize,
                                    preprocess)


def test_fov_on_synthetic_square(fundus_rgb):
    fov = detect_fov(fundus_rgb)
    assert fov.found
    assert fov.radius == pytest.approx(0.47 * 512, rel=0.03)
    assert abs(fov.cx - 255.5) < 8 and abs(fov.cy - 255.5) < 8
    assert fov.coverage == pytest.approx(np.pi * 0.47 ** 2, abs=0.04)


def test_fov_on_disc_clipped_top_and_bottom(fundus_wide):
    fov = detect_fov(fundus_wide)
    assert fov.found
    assert fov.radius == pytest.approx(0.405 * 1024, rel=0.03)  # larger than half the height
    assert abs(fov.cx - 511.5) < 12 and abs(fov.cy - 339.5) < 12


def test_fov_is_in_the_coordinates_of_the_given_image(fundus_wide):
    big = cv2.resize(fundus_wide, (2048, 1360), interpolation=cv2.INTER_LINEAR)
    a, b = detect_fov(fundus_wide), detect_fov(big)
    assert b.radius == pytest.approx(2 * a.radius, rel=0.01)
    assert b.cx == pytest.approx(2 * a.cx + 0.5, abs=3) and b.cy == pytest.approx(2 * a.cy + 0.5, abs=3)


@pytest.mark.parametrize("kind", ["black", "grey", "noise", "gradient"])
def test_no_fov_in_images_without_a_disc(kind):
    rng = np.random.default_rng(0)
    img = {"black": np.zeros((300, 400, 3), np.uint8),
           "grey": np.full((300, 400, 3), 128, np.uint8),
           "noise": rng.integers(0, 256, (300, 400, 3), dtype=np.uint8),
           "gradient": np.repeat(np.linspace(0, 255, 400, dtype=np.uint8)[None, :, None]
                                 .repeat(300, 0), 3, 2)}[kind]
    assert not detect_fov(img).found


@pytest.mark.slow
def test_fov_on_every_dev_image(dev_images):
    bad = []
    for path in dev_images:
        rgb = load_image(path).rgb
        h, w = rgb.shape[:2]
        fov = detect_fov(rgb)
        short = min(w, h)
        plausible = (fov.found and 0.35 * short <= fov.radius <= 0.75 * short
                     and abs(fov.cx - w / 2) < 0.2 * w and abs(fov.cy - h / 2) < 0.1 * h
                     and 0.45 <= fov.coverage <= 0.95)
        if not plausible:
            bad.append((path.name, fov))
    assert not bad, f"{len(bad)} dev images without a plausible FOV, e.g. {bad[:3]}"


def test_crop_is_square_around_the_disc(fundus_wide):
    prep = Preprocessing(input_size=256, fov_margin=0.02)
    crop, t, fov = crop_image(fundus_wide, prep)
    assert crop.shape == (256, 256, 3) and crop.dtype == np.uint8
    centre = t.to_input(np.array([[fov.cx, fov.cy]]))[0]
    np.testing.assert_allclose(centre, [127.5, 127.5], atol=0.6)
    # The disc (diameter 2r) spans the input less the 2 % margin each side.
    assert t.matrix[0, 0] * 2 * fov.radius == pytest.approx(256 / 1.04, rel=0.01)
    # Clipped top and bottom: black padding rows; the crop centre is bright.
    assert crop[:8].max() < 20 and crop[-8:].max() < 20 and crop[128, 128].max() > 60


def test_crop_none_letterboxes_whole_image(fundus_wide):
    prep = Preprocessing(input_size=128, crop="none")
    crop, t, _ = crop_image(fundus_wide, prep)
    corners = t.to_input(np.array([[-0.5, -0.5], [1023.5, 679.5]]))
    np.testing.assert_allclose(corners, [[-0.5, 21.0], [127.5, 106.0]], atol=1e-9)  # 85 px tall, centred
    assert crop[:21].max() < 5 and crop[107:].max() < 5


def test_not_found_falls_back_to_letterbox():
    img = np.full((200, 300, 3), 128, np.uint8)
    crop, t, fov = crop_image(img, Preprocessing(input_size=150))
    assert not fov.found
    assert t.matrix[0, 0] == pytest.approx(0.5) and crop[10, 75].tolist() == [0, 0, 0]
    assert crop[75, 75].tolist() == [128, 128, 128]


def test_transform_round_trip_and_scaled(fundus_wide):
    _, t, _ = crop_image(fundus_wide, Preprocessing(input_size=384))
    pts = np.array([[0.0, 0.0], [511.5, 339.5], [1000.0, 600.0]])
    np.testing.assert_allclose(t.to_image(t.to_input(pts)), pts, atol=1e-9)
    t4 = t.scaled(4.0)  # the same crop on a 4x larger copy of the picture
    np.testing.assert_allclose(t4.to_input(4 * (pts + 0.5) - 0.5), t.to_input(pts), atol=1e-9)
    assert t4.image_size == (4096, 2720)


def test_marked_point_lands_where_expected(fundus_rgb):
    img = fundus_rgb.copy()
    x, y = 300, 180
    cv2.circle(img, (x, y), 4, (0, 255, 255), -1)
    fov = detect_fov(fundus_rgb)
    # Use the FOV of the clean image so the dot cannot move the crop.
    pre = preprocess(img, Preprocessing(input_size=320), fov=fov)
    mask = (pre.crop[..., 2] > 200) & (pre.crop[..., 1] > 200)
    found = np.argwhere(mask).mean(axis=0)[::-1]  # (x, y) in the input
    np.testing.assert_allclose(found, pre.transform.to_input(np.array([[x, y]]))[0], atol=0.8)


def _peak(m: np.ndarray) -> np.ndarray:
    w = np.clip(m - 0.5 * m.max(), 0, None)
    ys, xs = np.indices(m.shape)
    return np.array([(xs * w).sum(), (ys * w).sum()]) / w.sum()


def test_heatmap_maps_back_onto_the_image(fundus_wide):
    _, t, _ = crop_image(fundus_wide, Preprocessing(input_size=384))
    # A 12x12 CAM-like map with a peak at cell (8, 3): centre (8.5, 3.5) cells = input px
    # (8.5 * 32, 3.5 * 32) in corner coordinates.
    cam = np.zeros((12, 12), np.float32)
    cam[3, 8] = 1.0
    cam = cv2.GaussianBlur(cam, (5, 5), 1.0)
    out = t.map_to_image(cam)
    assert out.shape == (680, 1024) and out.dtype == np.float32
    expect = t.to_image(np.array([[8.5 * 32 - 0.5, 3.5 * 32 - 0.5]]))[0]
    np.testing.assert_allclose(_peak(out), expect, atol=2.0)


def test_heatmap_after_reduced_decode_lands_on_the_original(encode):
    from edge_screen.synthetic import synthetic_fundus

    big = cv2.resize(synthetic_fundus(width=1024, height=680, seed=2), (4096, 2720))
    x, y = 2600, 900
    cv2.circle(big, (x, y), 12, (0, 255, 255), -1)
    img = load_image(encode(big, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 92]), target_size=384)
    assert img.scale == pytest.approx(0.25)
    pre = preprocess(img.rgb, Preprocessing(input_size=384))
    mask = (pre.crop[..., 2] > 170) & (pre.crop[..., 1] > 170)
    dot_in = np.argwhere(mask).mean(axis=0)[::-1]
    t_orig = pre.transform.scaled(1 / img.scale)
    np.testing.assert_allclose(t_orig.to_image(dot_in[None])[0], [x, y], atol=5)
    # A model-input heatmap peaked at the dot lands on the dot in the ORIGINAL frame.
    hm = np.zeros((384, 384), np.float32)
    cv2.circle(hm, (round(dot_in[0]), round(dot_in[1])), 6, 1.0, -1)
    full = pre.transform.map_to_image(hm, size=img.original_size)
    assert full.shape == (2720, 4096)
    np.testing.assert_allclose(_peak(full), [x, y], atol=8)
    # A coarse 24x24 CAM: a peak in cell (17, 5) lands on that cell's centre in the original.
    cam = np.zeros((24, 24), np.float32)
    cam[5, 17] = 1.0
    full = pre.transform.map_to_image(cv2.GaussianBlur(cam, (5, 5), 1.0), size=img.original_size)
    expect = t_orig.to_image(np.array([[17.5 * 16 - 0.5, 5.5 * 16 - 0.5]]))[0]
    np.testing.assert_allclose(_peak(full), expect, atol=6)


def test_map_is_zero_outside_the_crop(fundus_wide):
    prep = Preprocessing(input_size=64, fov_margin=0.0)
    _, t, fov = crop_image(fundus_wide, prep)
    out = t.map_to_image(np.ones((4, 4), np.float32))
    (x_lo, _), (x_hi, _) = t.to_image(np.array([[-0.5, 0.0], [63.5, 0.0]]))
    assert abs(x_lo - (fov.cx - fov.radius)) < 16 and abs(x_hi - (fov.cx + fov.radius)) < 16
    lo, hi = int(np.floor(x_lo)), int(np.ceil(x_hi))
    assert lo > 10 and out[:, :lo].max() == 0.0 and out[:, hi + 1:].max() == 0.0
    assert out[:, lo + 2: hi - 2].min() == pytest.approx(1.0)


def test_normalize_values_and_channel_order():
    crop = np.zeros((16, 16, 3), np.uint8)
    crop[..., 0] = 255
    t = normalize(crop, Preprocessing(input_size=16))
    assert t.shape == (3, 16, 16) and t.dtype == np.float32
    np.testing.assert_allclose(t[:, 0, 0], [1.0, -1.0, -1.0])
    tb = normalize(crop, Preprocessing(input_size=16, color_order="BGR",
                                       mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3)))
    np.testing.assert_allclose(tb[:, 0, 0], [-2.0, -2.0, (1 - 0.6) / 0.3], rtol=1e-6)


def test_preprocess_matches_crop_then_normalize(fundus_rgb):
    prep = Preprocessing(input_size=224)
    pre = preprocess(fundus_rgb, prep)
    crop, t, fov = crop_image(fundus_rgb, prep)
    np.testing.assert_array_equal(pre.crop, crop)
    np.testing.assert_array_equal(pre.tensor, normalize(crop, prep))
    np.testing.assert_array_equal(pre.transform.matrix, t.matrix)
    assert isinstance(pre.fov, FieldOfView) and pre.fov == fov


def test_preprocessing_dict_round_trip_and_validation():
    p = Preprocessing(input_size=320, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                      color_order="BGR", crop="none", fov_margin=0.05)
    assert Preprocessing.from_dict(p.to_dict()) == p
    assert Preprocessing.from_dict({"input_size": 256, "mean": [0.5, 0.5, 0.5]}).input_size == 256
    for bad in ({"crop": "centre"}, {"color_order": "RGBA"}, {"std": (0.5, 0.0, 0.5)},
                {"input_size": 4}, {"fov_margin": 0.7}):
        with pytest.raises(UsageError):
            Preprocessing(**bad)
    with pytest.raises(UsageError, match="unknown preprocessing field"):
        Preprocessing.from_dict({"input_size": 256, "resize": "bilinear"})
    with pytest.raises(UsageError, match="uint8"):
        detect_fov(np.zeros((64, 64, 3), np.float32))


def test_heatmap_of_a_square_crop_equals_the_general_warp(fundus_wide):
    """The fast path (one separable resize of the CAM over the square) and the affine warp agree."""
    from edge_screen.preprocess import Transform

    rng = np.random.default_rng(3)
    cam = rng.random((12, 12)).astype(np.float32)
    for prep in (Preprocessing(input_size=96), Preprocessing(input_size=64, crop="none")):
        _, t, _ = crop_image(fundus_wide, prep)  # the disc leaves the frame at top and bottom
        fast = t.map_to_image(cam)
        nudged = Transform(t.matrix + np.array([[0, 0, 1e-4], [0, 0, 1e-4]]), t.input_size, t.image_size)
        general = nudged.map_to_image(cam)  # not an integer square: the warp
        assert fast.shape == general.shape == (680, 1024)
        assert np.abs(fast - general).max() < 2e-3
        outside = general == 0  # the random CAM is > 0 everywhere, so 0 means outside the crop
        assert outside.any() == (prep.crop == "fov")  # crop="none" letterboxes: the whole frame is inside
        assert (fast[outside] == 0).all() and (fast[~outside] > 0).all()
