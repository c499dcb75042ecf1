"""Low-dose simulation on any CT slice: noise scales as 1/sqrt(dose), no bias, LCD-CT-like
texture, extra noise only on noisy scans, determinism, any slice shape."""

import os

import numpy as np
import pytest

from sgan_tf.data import lowdose, projector

from conftest import SHARED_DATA

SIZE = 192
SPACING = 1.0
PHOTONS = 1e5


def _water_disk(n: int = SIZE, radius: float = 80.0) -> tuple[np.ndarray, np.ndarray]:
    """A water disk in air, and its flat interior (well inside the edge)."""
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(yy - n // 2, xx - n // 2)
    return np.where(r < radius, 0.0, -1000.0).astype(np.float32), r < radius - 15


def _neighbour_correlation(noise: np.ndarray, flat: np.ndarray, lag: int) -> float:
    both = flat[:, :-lag] & flat[:, lag:]
    return float(np.corrcoef(noise[:, :-lag][both], noise[:, lag:][both])[0, 1])


def _noise_std(dose: float, seed: int = 0) -> float:
    hu, flat = _water_disk()
    noise = lowdose.noise_free_scan(hu, SPACING, PHOTONS * dose, np.random.default_rng(seed))
    return float(noise[flat].std())


def test_noise_std_scales_as_one_over_sqrt_dose():
    full = _noise_std(1.0)
    for dose in (0.5, 0.25, 0.1):
        assert _noise_std(dose) == pytest.approx(full / np.sqrt(dose), rel=0.1)


def test_mean_hu_is_unbiased_in_flat_regions():
    hu, flat = _water_disk()
    for dose in (1.0, 0.1):
        noise = lowdose.noise_free_scan(hu, SPACING, PHOTONS * dose, np.random.default_rng(1), electronic_noise=5.0)
        assert abs(float(noise[flat].mean())) < 2.0


def test_extra_noise_brings_a_noisy_scan_to_the_lower_dose():
    """A full-dose scan plus the extra noise of dose a has the noise std of a scan at a x I0."""
    hu, flat = _water_disk()
    full = hu + lowdose.noise_free_scan(hu, SPACING, PHOTONS, np.random.default_rng(2))
    for dose in (0.5, 0.25):
        extra = lowdose.extra_noise(full, SPACING, dose, PHOTONS, np.random.default_rng(3))
        assert float((full + extra - hu)[flat].std()) == pytest.approx(_noise_std(dose, seed=4), rel=0.1)
        assert abs(float(extra[flat].mean())) < 2.0
    assert np.all(lowdose.extra_variance(np.ones(3), 1.0, PHOTONS) == 0.0)


def test_extra_variance_formula_with_electronic_noise():
    """Variance of -log(counts) at a x I0 minus that at I0, counts Poisson plus electronic noise."""
    p, photons, a, se = np.array([0.5, 3.0]), 2e4, 0.25, 10.0
    var = lambda i0: np.exp(p) / i0 + se ** 2 * np.exp(2 * p) / i0 ** 2
    np.testing.assert_allclose(lowdose.extra_variance(p, a, photons, se), var(a * photons) - var(photons), rtol=1e-12)


def test_estimated_photons_match_the_scan():
    hu, _ = _water_disk()
    noisy = hu + lowdose.noise_free_scan(hu, SPACING, PHOTONS, np.random.default_rng(5))
    assert lowdose.Scanner(noisy, SPACING).estimate_photons() == pytest.approx(PHOTONS, rel=0.2)


def test_same_seed_same_output_and_any_slice_shape():
    rng = np.random.default_rng(9)
    hu = rng.normal(40.0, 30.0, (70, 110)).astype(np.float32)  # non-square, content to the corners
    a = lowdose.noise_free_scan(hu, 0.7, 5e4, np.random.default_rng(6))
    b = lowdose.noise_free_scan(hu, 0.7, 5e4, np.random.default_rng(6))
    c = lowdose.noise_free_scan(hu, 0.7, 5e4, np.random.default_rng(7))
    assert a.shape == hu.shape and np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.all(np.isfinite(a)) and a[10:-10, 10:-10].std() > 1.0  # the corners are scanned too


def test_kernel_cutoff_sharpens_the_noise_grain():
    hu, flat = _water_disk()
    scanner = lowdose.Scanner(hu, SPACING)
    delta = scanner.scan_perturbation(PHOTONS, np.random.default_rng(8))
    smooth, sharp = scanner.reconstruct([delta, delta], 1.0)[0], scanner.reconstruct([delta], 2.0)[0]
    assert _neighbour_correlation(sharp, flat, 1) < _neighbour_correlation(smooth, flat, 1)
    assert sharp[flat].std() > smooth[flat].std()


def test_blurred_signal_keeps_hu_and_softens_edges_by_the_kernel():
    """The noise-free reconstruction keeps flat HU and blurs the disk's edge, less with a
    sharper kernel."""
    hu, flat = _water_disk()
    hu[flat] = 60.0
    scanner = lowdose.Scanner(hu, SPACING)
    ring = np.abs(np.hypot(*np.mgrid[-(SIZE // 2) : SIZE - SIZE // 2, -(SIZE // 2) : SIZE - SIZE // 2]) - 80.0) < 3

    def edge_error(image: np.ndarray) -> float:
        return float(np.abs(image - hu)[ring].mean())

    smooth, sharp = scanner.blurred_signal(1.0), scanner.blurred_signal(2.0)
    assert smooth.shape == hu.shape and smooth.dtype == np.float32
    for image in (smooth, sharp):
        assert abs(float(np.median(image[flat])) - 60.0) < 5.0
    assert edge_error(smooth) > edge_error(sharp) > 10.0


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, "lcd_ct")), reason="LCD-CT reference data absent")
def test_default_texture_matches_lcd_ct_low_dose_scans():
    """Neighbour correlations of the noise (lags 1 and 2) within 0.05 of the LCD-CT 10 % dose scans."""
    from sgan_tf.evaluation.denoise import lcd_regions, load_lcd

    gt, scans = load_lcd(os.path.join(SHARED_DATA, "lcd_ct"), "dose_010")
    _, lcd_flat = lcd_regions(gt)
    lcd = [np.mean([_neighbour_correlation(s - gt, lcd_flat, lag) for s in scans[:3]]) for lag in (1, 2)]
    hu, flat = _water_disk(256, 100.0)  # the phantom's size: 200 mm at 1 mm
    noise = lowdose.noise_free_scan(hu, 1.0, 1e4, np.random.default_rng(0))
    ours = [_neighbour_correlation(noise, flat, lag) for lag in (1, 2)]
    np.testing.assert_allclose(ours, lcd, atol=0.05)


def test_projector_round_trip_keeps_hu():
    hu, flat = _water_disk()
    hu[flat] = 60.0
    units = projector.hu_to_line_units(hu, 0.8)
    np.testing.assert_allclose(projector.line_units_to_hu(units, 0.8)[flat], 60.0, atol=1e-3)
    with pytest.raises(ValueError, match="cutoff"):
        projector.ramp_filter(64, "hann", cutoff=0.0)
