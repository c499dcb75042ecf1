"""The automatic quality score of enhanced lesion ROIs (sgan_tf/finetune/score.py)."""

import cv2
import numpy as np
import pytest

from sgan_tf.finetune import score as fs

SIZE = 96
RADIUS = 20.0
# Long axis horizontal, short axis vertical, endpoints on the disk's boundary.
RECIST = np.array([[48 - RADIUS, 48], [48 + RADIUS, 48], [48, 48 - RADIUS], [48, 48 + RADIUS]])


def lesion_roi(noise: float = 0.0, blur: float = 0.0, seed: int = 0) -> np.ndarray:
    ys, xs = np.mgrid[:SIZE, :SIZE]
    image = np.where(np.hypot(xs - 48, ys - 48) <= RADIUS, 0.6, 0.4).astype(np.float32)
    if blur:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    return image + noise * np.random.default_rng(seed).standard_normal(image.shape).astype(np.float32)


def test_regions_follow_the_trimap_and_skip_clipped_pixels():
    image = lesion_roi()
    lesion, background = fs.regions(image, RECIST)
    assert lesion[48, 48] and not background[48, 48] and background[2, 2]
    assert not (lesion & background).any()
    image[:10] = 0.0  # air clipped by the window
    assert not fs.regions(image, RECIST)[1][:10].any()


def test_noise_and_cnr_scale_with_the_noise():
    lesion, background = fs.regions(lesion_roi(), RECIST)
    q1 = fs.quality(lesion_roi(noise=0.01), RECIST, lesion, background)
    q5 = fs.quality(lesion_roi(noise=0.05), RECIST, lesion, background)
    assert q5.noise / q1.noise == pytest.approx(5.0, rel=0.1)
    assert q1.contrast == pytest.approx(0.2, abs=0.01) and q5.contrast == pytest.approx(0.2, abs=0.02)
    assert q1.cnr / q5.cnr == pytest.approx(5.0, rel=0.15)


def test_sharpness_is_one_over_the_edge_width():
    lesion, background = fs.regions(lesion_roi(), RECIST)
    sharp = fs.quality(lesion_roi(noise=0.002), RECIST, lesion, background).sharpness
    soft = fs.quality(lesion_roi(noise=0.002, blur=3.0), RECIST, lesion, background).sharpness
    # A Gaussian edge of std s has a steepest slope of contrast / (s sqrt(2 pi)).
    assert soft == pytest.approx(1 / (3.0 * np.sqrt(2 * np.pi)), rel=0.15)
    assert sharp > 3 * soft


def test_denoising_and_deblurring_improve_an_artifact_does_not():
    noisy = lesion_roi(noise=0.04, blur=2.0)
    better = lesion_roi(noise=0.01, blur=0.5)
    result = fs.improvement(noisy, better, RECIST)
    assert result.gain > 0 and result.improved
    assert result.after.cnr > result.before.cnr and result.after.sharpness > result.before.sharpness
    worse = fs.improvement(better, noisy, RECIST)
    assert worse.gain < 0 and not worse.improved
    # Hallucinated smooth stripes in the background: the score rises (no high-pass noise, same
    # lesion contrast), but the image no longer shares the input's structure.
    ys, xs = np.mgrid[:SIZE, :SIZE]
    stripes = (0.2 * np.sin(xs / 3.0) * (np.hypot(xs - 48, ys - 48) > RADIUS + 8)).astype(np.float32)
    artifact = fs.improvement(noisy, better + stripes, RECIST)
    assert artifact.gain > 0 and artifact.ssim_to_input < fs.SSIM_MIN and not artifact.improved


def test_unscorable_rois_are_refused():
    with pytest.raises(ValueError, match="shapes differ"):
        fs.improvement(lesion_roi(), lesion_roi()[:-1], RECIST)
    with pytest.raises(ValueError, match="unclipped background"):
        fs.improvement(np.zeros((SIZE, SIZE), np.float32), lesion_roi(), RECIST)
