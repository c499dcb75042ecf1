"""sgan_tf/evaluation/faithfulness.py on a tiny simulated set: OG's error is the noise, a perfect
denoiser's is zero, and a set without noise-free copies is reported per lesion."""

import numpy as np
import pytest

from sgan_tf import variants
from sgan_tf.data import phantom
from sgan_tf.data.sources import DeepLesionSource
from sgan_tf.enhance import Enhancer
from sgan_tf.evaluation import faithfulness


@pytest.fixture(scope="module")
def sim_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim") / "set"
    phantom.write_set(str(root), 2, seed=3, size=128, workers=1)
    return root


def test_channels_against_the_noise_free_roi(sim_set):
    items = DeepLesionSource(str(sim_set)).lesions()
    og = Enhancer.for_variant("og")
    errors = faithfulness.lesion_errors(items[0], og)
    assert errors["og ROI"] > 1.0  # the noise, in HU
    # og's enhanced channel is OG through the network scale: the noise too, up to the cubic zoom
    # of the window-clipped image at the window edges.
    assert errors["enhanced ROI"] == pytest.approx(errors["og ROI"], rel=0.5)
    assert np.isfinite(errors["og lesion"])
    clean = {i.item_id: i.read_clean() for i in items}
    for item in items:  # a denoiser that knows the answer: zero error
        item.read = lambda item=item: clean[item.item_id]
    perfect = faithfulness.lesion_errors(items[0], og)
    assert perfect["og ROI"] == pytest.approx(0.0, abs=1e-3)
    rows, failures = faithfulness.table(items, {"og": og}, variants.ROW_NAMES)
    assert failures == [] and rows[0]["Input"] == "OG" and rows[0]["lesions"] == 2
    assert rows[0]["og ROI RMSE (HU)"][0] == pytest.approx(0.0, abs=1e-3) and "enhanced/og lesion" in rows[0]


def test_a_lesion_without_a_noise_free_copy_is_a_named_failure(sim_set, tmp_path):
    items = DeepLesionSource(str(sim_set)).lesions()
    items[1].read_clean = None
    rows, failures = faithfulness.table(items, {"og": Enhancer.for_variant("og")}, variants.ROW_NAMES)
    assert rows[0]["lesions"] == 1 and failures[0]["item"] == items[1].item_id
    assert "noise-free" in failures[0]["error"]


def test_ratio_pools_errors_so_one_near_exact_og_cannot_dominate():
    # Per-lesion ratios would average (2 + 1000) / 2 = 501: the pooled ratio stays near the truth.
    og = np.array([10.0, 0.001])
    denoised = np.array([20.0, 1.0])
    assert faithfulness.pooled_ratio(denoised, og) == pytest.approx(np.sqrt((400 + 1) / (100 + 1e-6)), abs=1e-3)
    assert faithfulness.pooled_ratio(og, og) == 1.0
    assert np.isnan(faithfulness.pooled_ratio(np.array([]), np.array([])))
    assert np.isnan(faithfulness.pooled_ratio(np.array([1.0]), np.array([0.0])))
