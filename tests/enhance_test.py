"""Stacked enhancement: tiling equivalence, shapes and alignment with tiny trained models, variants."""

import dataclasses
import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

from sgan_tf import enhance, models
from sgan_tf.data import ct, recist
from sgan_tf.errors import DataError, UserError


@pytest.fixture(scope="module")
def random_stage():
    """A 2-block generator with a random (non-zero) tail, so it is far from the identity."""
    keras_gen = models.generator(2, 8)
    keras_gen(tf.zeros([1, 16, 16, 1]))
    keras_gen.tail.kernel.assign(tf.random.stateless_normal(keras_gen.tail.kernel.shape, [1, 2], stddev=0.2))
    return enhance.GeneratorStage(models.fold_generator(keras_gen), {"model_dir": "random"}, tile_size=72)


def test_receptive_radius_counts_every_conv(random_stage):
    assert random_stage.module.receptive_radius == 4 + 2 * 2 + 1 + 4


def test_tile_origins_cover_the_image_with_full_tiles():
    assert enhance.tile_starts(50, 64, 20) == [0]
    starts = enhance.tile_starts(300, 72, 30)
    assert starts[0] == 0 and starts[-1] == 300 - 72
    assert all(b - a <= 30 for a, b in zip(starts, starts[1:]))


@pytest.mark.parametrize("shape", [(300, 257), (72, 200), (513, 73)])
def test_tiled_inference_equals_untiled(random_stage, shape):
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    full = np.clip(random_stage._run(x[None])[0], 0, 1)
    tiled = random_stage(x)
    assert np.abs(full - x).mean() > 0.05  # the model really changes the image
    np.testing.assert_allclose(tiled, full, atol=1e-5)


def test_stacks_run_in_batches_and_equal_each_image_alone(random_stage):
    images = np.random.default_rng(1).random((5, 150, 100)).astype(np.float32)  # 6 tiles of 72 each
    batched = dataclasses.replace(random_stage, batch_pixels=4 * 72 * 72)(images)
    assert batched.shape == images.shape
    for image, out in zip(images, batched):
        np.testing.assert_allclose(out, np.clip(random_stage._run(image[None])[0], 0, 1), atol=1e-5)
    small = np.random.default_rng(2).random((3, 20, 30)).astype(np.float32)  # untiled, two calls of 2 and 1
    np.testing.assert_allclose(dataclasses.replace(random_stage, batch_pixels=1300)(small),
                               np.clip(random_stage._run(small), 0, 1), atol=1e-5)


def test_tiles_blend_with_weights_that_sum_to_one():
    calls = []

    def record(tiles):
        calls.append(tiles.shape)
        return np.ones_like(tiles)

    out = enhance.tiled_apply(record, np.zeros((2, 200, 150), np.float32), tile=64, margin=8, blend=8,
                              batch_pixels=3 * 64 * 64)
    np.testing.assert_allclose(out, 1.0, atol=1e-6)
    assert sum(c[0] for c in calls) > 8 and all(c[1:] == (64, 64) and c[0] <= 3 for c in calls)
    with pytest.raises(UserError, match="too small"):
        enhance.tiled_apply(record, np.zeros((1, 200, 200), np.float32), tile=32, margin=12, blend=8)


def _disk_image(size=40, center=(24, 15), radius=4):
    hu = np.full((size, size), 40.0, np.float32)
    yy, xx = np.mgrid[:size, :size]
    hu[(xx - center[0]) ** 2 + (yy - center[1]) ** 2 <= radius ** 2] = 200.0
    return hu


def _centroid(channel):
    w = np.clip(channel - np.median(channel), 0, None)
    yy, xx = np.mgrid[: channel.shape[0], : channel.shape[1]]
    return np.array([(w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()])


@pytest.mark.parametrize("zoom", [1.0, 2.5])
def test_sgan_channels_are_aligned_at_the_zoomed_size(tiny_models, zoom):
    enh = enhance.Enhancer.for_variant("sgan", tiny_models)
    hu = _disk_image()
    result = enh(hu, zoom)
    size = int(round(40 * zoom))
    for name in ("og", "denoised", "enhanced", "og_hu", "denoised_hu", "enhanced_hu"):
        assert getattr(result, name).shape == (size, size), name
    assert result.composite.shape == (size, size, 3) and result.composite_hu.shape == (size, size, 3)
    assert result.composite.min() >= 0 and result.composite.max() <= 1
    expected = recist.to_roi(np.array([[24.0, 15.0]]), recist.RoiBox(0, 0, 40), zoom)[0]
    for c in range(3):
        np.testing.assert_allclose(_centroid(result.composite[..., c]), expected, atol=0.75)
    np.testing.assert_allclose(result.og_hu, cv2.resize(hu, (size, size), interpolation=cv2.INTER_CUBIC))
    np.testing.assert_allclose(result.enhanced_hu, ct.NETWORK_WINDOW.output_hu(result.enhanced, result.og_hu),
                               atol=1e-3)
    assert result.window == ct.NETWORK_WINDOW and result.variant == "sgan"
    assert enh.info["denoise_model"]["step"] == 3 and enh.info["enhance_model"]["checkpoint"] == "ckpt-3"


def test_variants_share_the_path(tiny_models):
    hu = _disk_image()
    gan1 = enhance.Enhancer.for_variant("gan1", tiny_models)(hu, 2.0)
    np.testing.assert_array_equal(gan1.denoised, gan1.enhanced)
    sgan = enhance.Enhancer.for_variant("sgan", tiny_models)(hu, 2.0)
    np.testing.assert_allclose(sgan.denoised, gan1.denoised, atol=1e-6)
    gan = enhance.Enhancer.for_variant("gan", tiny_models)(hu, 2.0)
    np.testing.assert_array_equal(gan.denoised, gan.enhanced)
    og = enhance.Enhancer.for_variant("og")(hu, 2.0)
    np.testing.assert_array_equal(og.composite[..., 0], og.composite[..., 2])
    np.testing.assert_array_equal(og.og, sgan.og)
    with pytest.raises(UserError, match="needs --enhance_model"):
        enhance.Enhancer.for_variant("sgan", {"denoise": tiny_models["denoise"]})


def test_window_choice_changes_the_network_scale(tiny_models):
    enh = enhance.Enhancer.for_variant("og")
    hu = _disk_image()
    lung = enh(hu, window=ct.WINDOWS["lung"])
    assert lung.window == ct.WINDOWS["lung"]
    np.testing.assert_allclose(lung.og, ct.WINDOWS["lung"].to_unit(hu))


def test_bad_images_and_model_dirs_are_refused(tiny_models, tmp_path):
    enh = enhance.Enhancer.for_variant("og")
    bad = _disk_image()
    bad[3, 3] = np.nan
    with pytest.raises(DataError, match="1 NaN/inf"):
        enh(bad)
    with pytest.raises(DataError, match="shape"):
        enh(np.zeros((4, 4, 3, 1)))
    with pytest.raises(UserError, match="only enlarges"):
        enh(_disk_image(), zoom=0.5)
    with pytest.raises(UserError, match="not a training model_dir"):
        enhance.load_stage(str(tmp_path))
    with pytest.raises(UserError, match="not found"):
        enhance.load_stage(str(tmp_path / "missing"))


def test_variant_names_and_model_flags_come_from_the_registry(tiny_models):
    enh = enhance.Enhancer.for_variant("sgan", tiny_models)
    assert enh.variant == "sgan" and set(enh.info) == {"denoise_model", "enhance_model"}
    assert enh.info["enhance_model"]["model_dir"] == os.path.abspath(tiny_models["enhance"])
    with pytest.raises(UserError, match="variant 'sharp': use one of og, bm3d, dncnn, gan, gan1, sgan"):
        enhance.Enhancer.for_variant("sharp")


def test_hu_outputs_keep_the_input_outside_the_window():
    """Air and bone survive enhancement: where the network output saturates at the window's
    edges, the output HU are the input's; well inside the window they are the network's."""
    hu = _disk_image()
    hu[:8] = -1000.0  # air
    hu[-8:] = 1200.0  # bone
    smooth = lambda x: np.clip(cv2.GaussianBlur(x, (5, 5), 1.0), 0.0, 1.0)  # a stand-in network
    result = enhance.Enhancer(smooth, smooth, "sgan")(hu, 1.5)
    for unit, out in ((result.denoised, result.denoised_hu), (result.enhanced, result.enhanced_hu)):
        outside = (unit <= 0.0) | (unit >= 1.0)
        assert outside[:6].all() and outside[-6:].all()
        np.testing.assert_array_equal(out[outside], result.og_hu[outside])
        inside = (unit > 0.1) & (unit < 0.9)
        np.testing.assert_allclose(out[inside], ct.NETWORK_WINDOW.to_hu(unit[inside]), rtol=1e-6)
        assert out[:6].max() < -900 and out[-6:].min() > 1100


def test_a_stack_through_any_stage_equals_each_image_alone():
    """Stages that are not generators (classical filters, here a stand-in) take one image at a time."""
    smooth = lambda x: np.clip(cv2.GaussianBlur(x, (5, 5), 1.0), 0.0, 1.0)  # noqa: E731  [H, W] only
    stack = np.stack([_disk_image(), _disk_image(center=(10, 20)), _disk_image() - 300])
    together = enhance.Enhancer(smooth, smooth, "sgan")(stack, 1.5)
    assert together.enhanced_hu.shape == (3, 60, 60) and together.composite_hu.shape == (3, 60, 60, 3)
    for image, out in zip(stack, together.composite_hu):
        np.testing.assert_allclose(out, enhance.Enhancer(smooth, smooth, "sgan")(image, 1.5).composite_hu, atol=1e-4)
    with pytest.raises(DataError, match=r"got shape \(0, 40, 40\)"):
        enhance.Enhancer.for_variant("og")(stack[:0])


def test_zoom_must_be_finite_and_the_zoomed_image_within_the_cap(max_pixels):
    enh = enhance.Enhancer.for_variant("og")
    for zoom in (float("nan"), float("inf")):
        with pytest.raises(UserError, match="must be a finite number >= 1"):
            enh(np.zeros((8, 8)), zoom=zoom)
    max_pixels(100 * 100)
    assert enh(np.zeros((50, 50)), zoom=2.0).og.shape == (100, 100)  # at the cap
    with pytest.raises(DataError, match="the 50x50 image zoomed 2.5x: 125x125 = 15,625 pixels is over the "
                                        "--max_pixels=10,000 cap"):
        enh(np.zeros((50, 50)), zoom=2.5)


def test_truncated_config_json_is_a_one_line_error(tiny_models, tmp_path):
    import shutil

    run = tmp_path / "denoise"
    shutil.copytree(tiny_models["denoise"], run)
    text = (run / "config.json").read_text()
    (run / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(UserError, match=r"config.json is not valid JSON \(truncated\?\)"):
        enhance.load_stage(str(run))


def test_networks_compute_in_the_inference_default_and_sidecars_say_which(tiny_models):
    from sgan_tf import precision

    default = enhance.Enhancer.for_variant("sgan", tiny_models)
    assert default.info["denoise_model"]["compute_dtype"] == precision.inference_dtype(precision.INFERENCE_DEFAULT)
    fp32 = enhance.Enhancer.for_variant("sgan", tiny_models, compute_dtype="float32")
    assert fp32.info["enhance_model"]["compute_dtype"] == "float32"
