"""Classical denoising baselines: noise reduction, the sigma estimate, and truthful BM3D fallback."""

import sys

import numpy as np
import pytest

from sgan_tf import baselines
from sgan_tf.errors import UserError

from conftest import smooth_image


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2))


@pytest.fixture(scope="module")
def noisy_pair():
    clean = smooth_image(np.random.default_rng(0), 64, 72)
    noisy = (clean + np.random.default_rng(1).normal(0, 25 / 255, clean.shape)).astype(np.float32)
    return clean, noisy


@pytest.fixture
def without_bm3d(monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)  # `import bm3d` now raises ImportError


def test_sigma_estimate_is_close_on_white_noise(noisy_pair):
    assert baselines.estimate_noise_sigma(noisy_pair[1]) == pytest.approx(25 / 255, rel=0.1)


@pytest.mark.parametrize("name", ["bm3d", "nlm"])
@pytest.mark.parametrize("sigma", [None, 25 / 255])
def test_stages_reduce_noise(noisy_pair, name, sigma):
    if name == "bm3d":
        pytest.importorskip("bm3d")
    clean, noisy = noisy_pair
    stage = baselines.denoiser_stage(name, sigma)
    out = stage(noisy)
    assert stage.name == name and out.shape == noisy.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert psnr(out, clean) > psnr(noisy, clean) + 3.0
    assert stage.info["sigma"] == (sigma if sigma else baselines.SIGMA_ESTIMATOR)


def test_bm3d_row_is_bm3d_when_installed():
    pytest.importorskip("bm3d")
    name, stage = baselines.bm3d_or_fallback(sigma=0.1)
    assert name == "bm3d" and isinstance(stage, baselines.BM3DStage) and stage.sigma == 0.1


def test_missing_bm3d_is_an_error_unless_the_fallback_is_allowed(without_bm3d):
    assert not baselines.bm3d_available()
    with pytest.raises(UserError, match="pip install"):
        baselines.denoiser_stage("bm3d")
    assert baselines.denoiser_stage("bm3d", allow_fallback=True).name == "nlm"
    name, stage = baselines.bm3d_or_fallback()
    assert name == "nlm" and isinstance(stage, baselines.NLMStage)
    with pytest.raises(UserError, match="pip install"):
        baselines.bm3d_or_fallback(allow_fallback=False)


def test_bad_requests_are_refused():
    with pytest.raises(UserError, match="unknown denoiser"):
        baselines.denoiser_stage("wiener")
    with pytest.raises(UserError, match="positive"):
        baselines.NLMStage(sigma=0.0)
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        baselines.NLMStage()(np.zeros((4, 4, 1), np.float32))


@pytest.mark.filterwarnings("error")  # the estimator's numpy warnings on a flat image are not shown
def test_clean_image_is_left_unchanged():
    flat = np.full((24, 24), 0.5, np.float32)
    np.testing.assert_array_equal(baselines.NLMStage()(flat), flat)
    clipped = np.zeros((24, 24), np.float32)  # an ROI all below the window: no detail coefficient at all
    assert baselines.estimate_noise_sigma(clipped) == 0.0
    np.testing.assert_array_equal(baselines.NLMStage()(clipped), clipped)


@pytest.mark.skipif(not baselines.bm3d_available(), reason="bm3d package not installed")
def test_bm3d_handles_rois_smaller_than_its_blocks():
    rng = np.random.default_rng(0)
    for shape in ((5, 5), (8, 8), (8, 20)):
        out = baselines.BM3DStage(0.1)(rng.random(shape).astype(np.float32))
        assert out.shape == shape and np.isfinite(out).all()
