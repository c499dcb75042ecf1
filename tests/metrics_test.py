"""sgan_tf/metrics.py against hand-computed cases."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from sgan_tf import metrics


def test_scores_hand_computed():
    truth = np.zeros((4, 4), np.uint8)
    truth[0:2, 0:2] = 1  # 4 px
    pred = np.zeros((4, 4), np.uint8)
    pred[1:3, 1:3] = 1  # 4 px, overlap 1
    s = metrics.overlap(pred, truth)
    assert s == pytest.approx({"dice": 2 * 1 / 8, "precision": 1 / 4, "recall": 1 / 4})
    pred2 = truth.copy()
    pred2[3, 3] = 1
    assert metrics.overlap(pred2, truth) == pytest.approx({"dice": 8 / 9, "precision": 4 / 5, "recall": 1.0})


def test_empty_cases():
    empty, truth = np.zeros((3, 3)), np.eye(3)
    assert metrics.overlap(empty, truth) == {"dice": 0.0, "precision": 0.0, "recall": 0.0}
    assert metrics.overlap(truth, empty) == {"dice": 0.0, "precision": 0.0, "recall": 0.0}
    assert metrics.overlap(empty, empty) == {"dice": 1.0, "precision": 1.0, "recall": 1.0}
    with pytest.raises(ValueError):
        metrics.overlap(np.zeros((2, 2)), np.zeros((3, 3)))


def test_image_scores_and_summaries():
    rng = np.random.default_rng(0)
    clean = rng.random((32, 32))
    noisy = clean + rng.normal(0, 0.3, clean.shape)
    assert metrics.rmse(noisy, clean) == pytest.approx(np.sqrt(np.mean((noisy - clean) ** 2)))
    assert metrics.psnr(noisy, clean) == pytest.approx(peak_signal_noise_ratio(clean, noisy, data_range=1.0))
    assert metrics.psnr_of_rmse(40.0, peak=400.0) == pytest.approx(20.0)  # the LCD-CT window: 400 HU
    assert metrics.ssim(clean, clean) == pytest.approx(1.0) and metrics.ssim(noisy, clean) < 0.9
    where = np.zeros(clean.shape, bool)
    assert np.isnan(metrics.rmse(noisy, clean, where))
    where[0, :2] = True
    assert metrics.rmse(np.ones((32, 32)), np.zeros((32, 32)), where) == 1.0
    assert metrics.mean_std([1.0, 3.0]) == (2.0, 1.0)
    assert all(np.isnan(metrics.mean_std([])))
