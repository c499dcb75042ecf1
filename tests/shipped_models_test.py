"""The models shipped in the package (sgan_tf/pretrained/<name>/): they load and run by default,
their weights are the ones pretrained.json names, HU far outside the network window survive, bf16
inference stays within the stated HU tolerance of fp32, and every model card names its data.
Quality is not asserted here: it is measured in the model cards."""

import os

import numpy as np
import pytest
from scipy import ndimage

from sgan_tf import outputs, pretrained, scale
from sgan_tf.data.ct import NETWORK_WINDOW
from sgan_tf.enhance import Enhancer, load_stage

SHIPPED = [n for n in pretrained.NAMES if os.path.isfile(os.path.join(pretrained.PACKAGE_DIR, n, pretrained.INFO_FILE))]
BF16_TOLERANCE_HU = {"mean": 0.5, "p99.9": 5.0}  # |bf16 - fp32| inside the window (benchmarks/ct_inference_precision.py)


@pytest.fixture(autouse=True)
def package_models(monkeypatch):
    """The package's own models, not conftest's empty folder."""
    monkeypatch.delenv(pretrained.ENV_DIR, raising=False)


def ct_like(size: int = 96, seed: int = 0) -> np.ndarray:
    """Air around a soft-tissue disc (40 HU, CT-like noise) in a thick bone ring, with a lung-like hole."""
    yy, xx = np.mgrid[:size, :size] - size / 2
    r = np.hypot(yy, xx)
    hu = np.full((size, size), -1000.0, np.float32)
    hu[r < 0.45 * size] = 1000.0
    hu[r < 0.30 * size] = 40.0
    hu[np.hypot(yy - size / 16, xx) < size / 10] = -850.0
    return hu + np.random.default_rng(seed).normal(0, 25, hu.shape).astype(np.float32) * (hu > -900)


def test_the_package_ships_every_model_within_40_mb():
    assert set(SHIPPED) == set(pretrained.NAMES)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(pretrained.PACKAGE_DIR) for f in files)
    assert total <= 40e6


@pytest.mark.parametrize("name", SHIPPED)
def test_stored_weights_are_the_packaged_ones(name):
    info = pretrained.info(name)
    weights = os.path.join(pretrained.folder(name), f"ckpt-{info['step']}.data-00000-of-00001")
    assert outputs.sha256(weights) == info["weights_sha256"] and os.path.getsize(weights) == info["weights_bytes"]


def test_shipped_models_run_by_default_and_keep_hu_outside_the_window():
    enhancer = Enhancer.for_variant("sgan")  # no model given: the shipped G1 and G2
    assert enhancer.info["denoise_model"]["pretrained"] == {"name": "denoise", "version": pretrained.info("denoise")["version"]}
    hu = ct_like()
    result = enhancer(hu, 1.0)
    for channel in ("denoised_hu", "enhanced_hu"):
        out = getattr(result, channel)
        assert out.shape == hu.shape and np.isfinite(out).all()
        # Air, lung and bone survive beyond the reach of scale.SMOOTH_TAPS from their boundary.
        far = [ndimage.binary_erosion(mask, np.ones((3, 3)), iterations=len(scale.SMOOTH_TAPS) // 2)
               for mask in (hu < NETWORK_WINDOW.lo - 200, hu > NETWORK_WINDOW.hi + 200)]
        far = far[0] | far[1]
        assert far.sum() > 0.3 * hu.size and np.abs(out - hu)[far].max() < 0.05 * np.abs(hu[far]).min()
    tissue = np.hypot(*(np.mgrid[:96, :96] - 48)) < 14
    assert np.std(result.denoised_hu[tissue]) < np.std(hu[tissue])  # it denoises
    zoomed = enhancer(hu[24:72, 24:72], 2.0)
    assert zoomed.enhanced_hu.shape == (96, 96)


@pytest.mark.parametrize("name", [n for n in ("denoise", "enhance", "dncnn") if n in SHIPPED])
def test_bf16_inference_is_within_the_stated_tolerance_of_fp32(name):
    hu = ct_like(128, seed=1)
    unit = NETWORK_WINDOW.to_unit(hu)
    outs = {dtype: NETWORK_WINDOW.to_hu(load_stage(pretrained.folder(name), compute_dtype=dtype)(unit))
            for dtype in ("float32", "bfloat16")}
    inside = (hu > NETWORK_WINDOW.lo) & (hu < NETWORK_WINDOW.hi)
    diff = np.abs(outs["float32"] - outs["bfloat16"])[inside]
    assert diff.mean() <= BF16_TOLERANCE_HU["mean"] and np.percentile(diff, 99.9) <= BF16_TOLERANCE_HU["p99.9"]


@pytest.mark.parametrize("name", SHIPPED)
def test_model_cards_name_their_data(name):
    with open(os.path.join(pretrained.folder(name), pretrained.CARD_FILE), encoding="utf-8") as f:
        card = f.read()
    figures = "LCD-CT" if name in ("denoise", "dncnn") else "EVALUATION.md"
    for part in ("DATA.md", "## Reproduce", "## Figures", figures, "python -m sgan_tf.pretrained"):
        assert part in card
    with open(os.path.join(pretrained.PACKAGE_DIR, "DATA.md"), encoding="utf-8") as f:
        data = f.read()
    for source in ("Train400", "scikit-image", "--seed=101", "totalseg_dicom", "Apache-2.0", "dcmqa_ge_head_dicom",
                   "BSD 2-Clause", "LCD-CT, BSD68, Set12"):
        assert source in data


def test_the_shipped_single_gan_and_hnn_run_by_default():
    from sgan_tf import segment_lesion

    hu = ct_like()
    gan = Enhancer.for_variant("gan")  # no model given: the shipped single GAN
    assert gan.info["single_model"]["pretrained"]["name"] == "single"
    assert gan(hu[24:72, 24:72], 2.0).enhanced_hu.shape == (96, 96)
    # A 100 HU lesion of radius 10 in soft tissue, its diameters marked; the shipped HNN was
    # trained on sgan composites. No quality asserted: that is in the model card.
    yy, xx = np.mgrid[:96, :96]
    lesion = np.where(np.hypot(yy - 48, xx - 48) <= 10, 100.0, 40.0) + np.random.default_rng(2).normal(0, 20, (96, 96))
    mask = segment_lesion(lesion, [38, 48, 58, 48, 48, 38, 48, 58], method="hnn", variant="sgan")
    assert mask.shape == lesion.shape and mask.dtype == bool and mask.any()
