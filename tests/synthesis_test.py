"""Pair synthesis: parameter ranges, each degradation's definition, determinism, sharding."""

import dataclasses

import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf

from sgan_tf.data import synthesis as sy

from conftest import smooth_image


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    return [smooth_image(rng, 80, 96), smooth_image(rng, 64, 64)]


def test_parameters_stay_in_their_ranges_and_cover_them():
    cfg = sy.SynthesisConfig()
    draws = [sy.sample_params(cfg, tf.constant([7, i], tf.int64)) for i in range(400)]
    values = {k: np.array([float(d[k]) for d in draws]) for k in ("noise_sigma", "scale", "blur_sigma", "contrast")}
    for name, (low, high, low_open) in {
        "noise_sigma": (0.0, 50.0, True), "scale": (1.0, 4.0, False),
        "blur_sigma": (0.0, 3.0, True), "contrast": (1.0, 3.0, False),
    }.items():
        v = values[name]
        assert v.max() <= high and (v.min() > low if low_open else v.min() >= low), name
        span = high - low
        assert v.min() < low + 0.05 * span and v.max() > high - 0.05 * span, name


def test_noise_has_the_drawn_sigma_on_the_255_scale():
    cfg = sy.SynthesisConfig(crop_size=128)
    clean = tf.fill([128, 128, 1], 0.5)
    seed = tf.constant([3, 11], tf.int64)
    sigma = float(sy.sample_params(cfg, seed)["noise_sigma"])
    noisy = sy.degrade(cfg, clean, seed)
    measured = float(tf.math.reduce_std(noisy - clean)) * 255
    assert abs(measured - sigma) < 0.05 * sigma
    assert abs(float(tf.reduce_mean(noisy - clean)) * 255) < 0.05 * sigma


def test_contrast_compression_keeps_mean_and_divides_deviations():
    x = tf.random.uniform([20, 30, 1], seed=1)
    y = sy.compress_contrast(x, tf.constant(2.5))
    np.testing.assert_allclose(float(tf.reduce_mean(y)), float(tf.reduce_mean(x)), atol=1e-6)
    np.testing.assert_allclose((y - tf.reduce_mean(y)).numpy(), (x - tf.reduce_mean(x)).numpy() / 2.5, atol=1e-6)


@pytest.mark.parametrize("sigma", [0.4, 1.5, 3.0])
def test_gaussian_blur_matches_scipy_with_reflect_padding(sigma):
    rng = np.random.default_rng(0)
    image = rng.random((33, 41)).astype(np.float32)
    ours = sy.gaussian_blur(tf.constant(image[..., None]), tf.constant(sigma)).numpy()[..., 0]
    radius = int(np.ceil(3 * sigma))
    # TF's REFLECT padding (edge not repeated) is scipy's "mirror" mode.
    ref = scipy.ndimage.gaussian_filter(image, sigma, mode="mirror", truncate=radius / sigma)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_blur_radius_is_capped_for_tiny_images():
    out = sy.gaussian_blur(tf.random.uniform([4, 4, 1]), tf.constant(3.0))
    assert out.shape == (4, 4, 1) and np.all(np.isfinite(out.numpy()))


def test_enhance_degradation_shape_range_and_strength(images):
    clean = tf.constant(images[0][:64, :64, None])
    base = {"noise_sigma": tf.constant(1.0), "noise_seed": tf.constant([0, 0], tf.int64)}
    mild = sy.enhance_degradation(clean, {**base, "scale": tf.constant(1.0), "blur_sigma": tf.constant(0.3),
                                          "contrast": tf.constant(1.0)})
    strong = sy.enhance_degradation(clean, {**base, "scale": tf.constant(4.0), "blur_sigma": tf.constant(3.0),
                                            "contrast": tf.constant(3.0)})
    for out in (mild, strong):
        assert out.shape == clean.shape
        assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 1.0
    err = lambda a: float(tf.reduce_mean(tf.square(a - clean)))
    assert err(mild) < 1e-3 < err(strong)
    assert float(tf.math.reduce_std(strong)) < float(tf.math.reduce_std(clean)) / 2


@pytest.mark.parametrize("stage", ["denoise", "enhance", "single"])
def test_dataset_is_deterministic_and_resumable(images, stage):
    cfg = sy.SynthesisConfig.for_stage(stage, crop_size=32)
    take = lambda ds, n: [tuple(t.numpy() for t in b) for b in ds.take(n)]
    a = take(sy.training_dataset(images, cfg, seed=5, global_batch=4), 3)
    b = take(sy.training_dataset(images, cfg, seed=5, global_batch=4), 3)
    c = take(sy.training_dataset(images, cfg, seed=6, global_batch=4), 1)
    resumed = take(sy.training_dataset(images, cfg, seed=5, global_batch=4, start_step=2), 1)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][0], c[0][0])
    np.testing.assert_array_equal(resumed[0][0], a[2][0])
    x, y = a[0]
    assert x.shape == y.shape == (4, 32, 32, 1)
    assert not np.array_equal(x, y)


def test_pipelines_split_the_global_batch(images):
    cfg = sy.SynthesisConfig(crop_size=16)
    whole = next(iter(sy.training_dataset(images, cfg, seed=2, global_batch=4)))[0].numpy()
    parts = []
    for p in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=p, num_replicas_in_sync=2)
        parts.append(next(iter(sy.training_dataset(images, cfg, seed=2, global_batch=4, input_context=ctx)))[0].numpy())
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_validation_pairs_are_fixed(images):
    cfg = sy.SynthesisConfig.for_stage("single", crop_size=32)
    x1, y1 = sy.validation_pairs(images, cfg, seed=0, num_pairs=5)
    x2, y2 = sy.validation_pairs(images, dataclasses.replace(cfg), seed=0, num_pairs=5)
    assert x1.shape == (5, 32, 32, 1)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)


def test_unknown_stage_is_rejected():
    with pytest.raises(ValueError, match="unknown stage"):
        sy.SynthesisConfig.for_stage("segment")


def test_integer_images_crop_to_the_same_unit_values_as_floats():
    rng = np.random.default_rng(3)
    u8 = (smooth_image(rng, 40, 50) * 255).astype(np.uint8)
    u16 = u8.astype(np.uint16) * 257  # the same picture at 16 bits
    as_float = u8.astype(np.float32) / 255
    crops = [sy.random_crop([im], 16, seed=1, index=9, augment=True) for im in (u8, u16, as_float)]
    assert all(c.dtype == np.float32 and c.shape == (16, 16, 1) for c in crops)
    np.testing.assert_allclose(crops[0], crops[2], atol=1e-7)
    np.testing.assert_allclose(crops[1], crops[2], atol=1e-7)
