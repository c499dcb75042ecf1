"""sgan_tf/scale.py: every NumPy rule against its TF twin, and the rules themselves."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from sgan_tf import scale
from sgan_tf.data import ct

WINDOWS = [ct.NETWORK_WINDOW, ct.WINDOWS["lung"], ct.Window(-3.5, 7.25)]


@pytest.mark.parametrize("window", WINDOWS)
def test_network_scale_twins_are_equal(window):
    rng = np.random.default_rng(3)
    hu = rng.uniform(window.lo - 0.3 * window.width, window.hi + 0.3 * window.width, (4, 33, 17, 1)).astype(np.float32)
    unit = scale.to_unit(hu, window)
    np.testing.assert_allclose(scale.to_unit_tf(tf.constant(hu), window).numpy(), unit, atol=1e-6, rtol=0)
    assert unit.min() == 0.0 and unit.max() == 1.0  # clipped at both ends
    back = scale.to_hu(unit, window)
    np.testing.assert_allclose(scale.to_hu_tf(tf.constant(unit), window).numpy(), back, atol=1e-6 * window.width)
    inside = (hu > window.lo) & (hu < window.hi)
    np.testing.assert_allclose(back[inside], hu[inside], atol=1e-5 * window.width)
    out = rng.uniform(-0.1, 1.1, hu.shape).astype(np.float32)
    np.testing.assert_allclose(scale.edge_weight_tf(tf.constant(np.clip(out, 0, 1))).numpy(),
                               scale.edge_weight(np.clip(out, 0, 1)), atol=1e-6)
    np.testing.assert_allclose(scale.output_hu_tf(tf.constant(out), tf.constant(hu), window).numpy(),
                               scale.output_hu(out, hu, window), atol=1e-5 * window.width)
    np.testing.assert_array_equal(window.output_hu(out, hu), scale.output_hu(out, hu, window))


def test_the_mask_rule_keeps_pixel_centres_registered():
    mask = np.zeros((10, 10), np.uint8)
    mask[3:7, 2:5] = 1
    up = scale.resize_mask(mask, 25, 25)
    assert up.dtype == np.uint8 and up.shape == (25, 25)
    np.testing.assert_array_equal(up, cv2.resize(mask, (25, 25), interpolation=cv2.INTER_NEAREST_EXACT))
    np.testing.assert_array_equal(scale.resize_mask(up, 10, 10), mask)  # and back
    ys, xs = np.nonzero(up)
    assert (ys.mean() + 0.5) / 2.5 == pytest.approx(5.0, abs=0.2) and (xs.mean() + 0.5) / 2.5 == pytest.approx(3.5, abs=0.2)
    same = scale.resize_mask(mask, 10, 10)
    assert same is not mask and np.array_equal(same, mask)


@pytest.mark.parametrize("shape", [(40, 40), (17, 23), (3, 30), (1, 5), (96, 64)])
@pytest.mark.parametrize("zoom", [1.0, 1.04, 1.5, 2.5, 3.2, 4.0])
def test_cubic_zoom_twins_match_opencv(shape, zoom):
    image = np.random.default_rng(shape[0] * 100 + int(zoom * 10)).random(shape).astype(np.float32)
    h, w = scale.zoomed_size(shape, zoom)
    expected = scale.zoom_cubic(image, h, w)
    if (h, w) != shape:
        np.testing.assert_array_equal(expected, cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC))
    got = scale.zoom_cubic_tf(tf.constant(image[None, :, :, None]), h, w).numpy()[0, :, :, 0]
    assert got.shape == (h, w)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    if (h, w) == shape:
        np.testing.assert_array_equal(got, image)


def test_zoomed_size_twins_round_like_python():
    sides = np.arange(1, 200, dtype=np.int32)
    for zoom in (1.0, 1.5, 2.5, 3.2, 1.04, 3.75):  # x.5 products round to the even neighbour
        z = np.float32(zoom)
        got = scale.zoomed_size_tf(tf.stack([sides, sides], axis=1), z).numpy()[:, 0]
        np.testing.assert_array_equal(got, [scale.zoomed_size((int(n), 1), float(z))[0] for n in sides])
        np.testing.assert_array_equal(got, [max(round(int(n) * float(z)), 1) for n in sides])
    assert scale.zoomed_size_tf(tf.constant([5, 7]), tf.constant(2.5)).numpy().tolist() == [12, 18]
    assert scale.zoomed_size((5, 7), 2.5) == (12, 18)


@pytest.mark.parametrize("shape,size", [((50, 50), (32, 32)), ((40, 37), (32, 32)), ((20, 20), (32, 32)),
                                        ((32, 32), (20, 20)), ((40, 20), (32, 32)), ((32, 32), (32, 32))])
def test_hnn_image_resize_twins_match(shape, size):
    """hnn_train.predict's TF resize equals the OpenCV resize the training composites were made with."""
    image = np.random.default_rng(0).random(shape + (3,)).astype(np.float32)
    got = scale.resize_image_tf(tf.constant(image[None]), *size).numpy()[0]
    np.testing.assert_allclose(got, scale.resize_image(image, *size), atol=1e-5, rtol=0)


