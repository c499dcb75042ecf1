"""Projection-domain low-dose CT simulation on any CT slice in HU.

The way validated quarter-dose sets are made: HU -> linear attenuation (water mu =
`projector.MU_WATER` = 0.02/mm) -> parallel-beam forward projection -> detected counts ->
-log -> filtered back-projection with the same kernel -> HU. Everything is linear after the
log, so a low-dose image is written as the input plus a noise image,
``low = hu + FBP(p_low - p)`` with ``p`` the noise-free line integrals of `hu`: the noise is
correlated like FBP noise (its texture set by the kernel's `cutoff`) and signal dependent
(rays through more attenuation carry more noise), and the image it rides on keeps its own
resolution.

Two cases:

* **A noise-free image** (a phantom, a simulated set's clean copy): counts are
  Poisson(I0 * exp(-p)) plus Gaussian electronic noise of std `electronic_noise` counts,
  clamped at 1, with I0 the incident photons per ray (`noise_free_scan`).
* **An image that already has noise** (a real scan taken with I0 photons per ray): only the
  extra variance a dose fraction `a` < 1 brings is added (`extra_noise`); per ray, in line
  integral units (Yu et al., Med. Phys. 39, 2012),

      var_extra(p) = (1 - a) / a * exp(p) / I0 * (1 + (1 + a) / a * s_e^2 * exp(p) / I0)

  the difference between the variance of -log(counts) at a * I0 and at I0 (Poisson plus
  electronic noise of std s_e counts). The scan's I0 is rarely known: `estimate_photons`
  picks the I0 whose simulated noise matches the noise measured in the image's soft tissue.

Slices of any shape are padded with air to a square whose inscribed circle holds the image
(the projector's geometry); the noise image is cropped back.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from sgan_tf.data import projector
from sgan_tf.data.ct import AIR_HU

DEFAULT_CUTOFF = 1.5  # Hann cutoff x Nyquist whose noise texture matches the LCD-CT scans' FBP
MIN_COUNTS = 1.0  # detected counts are clamped here before the log
REFERENCE_PHOTONS = 1e5  # I0 of the reference scan `estimate_photons` calibrates against
SOFT_TISSUE_HU = (-100.0, 150.0)  # where noise is measured: fat to enhanced soft tissue


def _layout(shape: tuple[int, int], outside_circle: bool) -> tuple[int, int, int]:
    """(side, top, left) of the square an image of `shape` is centred in: the image's own
    square, or one whose inscribed circle holds the whole image when content lies outside."""
    h, w = shape
    side = int(np.ceil(np.hypot(h, w))) + 2 if outside_circle else max(h, w)
    return side, (side - h) // 2, (side - w) // 2


def _content_outside_circle(hu: np.ndarray) -> bool:
    h, w = hu.shape
    if h != w:
        return True
    return bool(np.any(hu[~projector.circle(h)] > AIR_HU + 100.0))


class Scanner:
    """A slice placed in the projector's square geometry with its noise-free line integrals,
    projected once for any number of low-dose copies."""

    def __init__(self, hu: np.ndarray, spacing_mm: float, views: int | None = None):
        hu = np.asarray(hu, np.float32)
        if hu.ndim != 2:
            raise ValueError(f"expected a [H, W] HU slice, got shape {hu.shape}")
        if not spacing_mm > 0:
            raise ValueError(f"pixel spacing must be positive, got {spacing_mm}")
        self.hu = hu
        self.spacing = float(spacing_mm)
        self.side, self.top, self.left = _layout(hu.shape, _content_outside_circle(hu))
        square = np.full((self.side, self.side), AIR_HU, np.float32)
        square[self.top : self.top + hu.shape[0], self.left : self.left + hu.shape[1]] = hu
        square[~projector.circle(self.side)] = AIR_HU
        self.views = views or projector.default_views(self.side)
        self.p = projector.radon(projector.hu_to_line_units(square, self.spacing), self.views).astype(np.float64)

    def _crop(self, square: np.ndarray) -> np.ndarray:
        """The slice's part of an image of the projector's square."""
        h, w = self.hu.shape
        return square[self.top : self.top + h, self.left : self.left + w]

    def reconstruct(self, perturbations: list[np.ndarray], cutoff: float) -> list[np.ndarray]:
        """FBP (Hann kernel at `cutoff`) of line-integral perturbations, in HU, cropped back to
        the slice; two per back-projection."""
        scale = 1000.0 / (projector.MU_WATER * self.spacing)
        images = []
        for i in range(0, len(perturbations), 2):
            pair = projector.fbp(np.stack(perturbations[i : i + 2]), "hann", cutoff) * scale
            images.extend(self._crop(im).astype(np.float32) for im in pair)
        return images

    def blurred_signal(self, cutoff: float) -> np.ndarray:
        """The slice as the FBP kernel at `cutoff` reconstructs it without noise (HU): a
        scanner's image of a noise-free object, blurred by the kernel."""
        return projector.line_units_to_hu(self._crop(projector.fbp(self.p, "hann", cutoff)), self.spacing)

    def scan_perturbation(self, photons: float, rng: np.random.Generator, electronic_noise: float = 0.0) -> np.ndarray:
        """p_noisy - p of a scan at `photons` per ray (Poisson and electronic noise)."""
        if not photons > 0:
            raise ValueError(f"photons must be positive, got {photons}")
        counts = detected_counts(photons * np.exp(-self.p), electronic_noise, rng)
        return -np.log(counts / photons) - self.p

    def extra_perturbation(self, dose_fraction: float, photons: float, rng: np.random.Generator,
                           electronic_noise: float = 0.0) -> np.ndarray:
        """The extra line-integral noise of lowering a scan at `photons` to `dose_fraction`."""
        var = extra_variance(self.p, dose_fraction, photons, electronic_noise)
        return np.sqrt(var) * rng.standard_normal(var.shape)

    def estimate_photons(self, cutoff: float = DEFAULT_CUTOFF, seed: int = 0) -> float:
        """The incident photons per ray whose simulated noise matches the noise in the slice's
        soft tissue (noise std scales as 1 / sqrt(I0)); NaN when it has too little soft tissue.

        Anatomy that leaks into the estimate makes the image look noisier, so I0 comes out low
        and lower-dose copies get at least their share of noise."""
        mask = soft_tissue_mask(self.hu)
        measured = noise_level(self.hu, mask)
        if not np.isfinite(measured) or measured <= 0:
            return float("nan")
        delta = self.scan_perturbation(REFERENCE_PHOTONS, np.random.default_rng(seed))
        expected = noise_level(self.reconstruct([delta], cutoff)[0], mask)
        return float(REFERENCE_PHOTONS * (expected / measured) ** 2)


def detected_counts(mean: np.ndarray, electronic_noise: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson counts of mean `mean` plus Gaussian electronic noise, clamped at MIN_COUNTS."""
    counts = rng.poisson(mean).astype(np.float64)
    if electronic_noise > 0:
        counts += electronic_noise * rng.standard_normal(counts.shape)
    return np.maximum(counts, MIN_COUNTS)


def extra_variance(p: np.ndarray, dose_fraction: float, photons: float, electronic_noise: float = 0.0) -> np.ndarray:
    """Per-ray variance (line-integral units) that lowering the dose of a scan at `photons`
    to `dose_fraction` of it adds (the module docstring's formula)."""
    a = float(dose_fraction)
    if not 0 < a <= 1:
        raise ValueError(f"dose fraction must lie in (0, 1], got {dose_fraction}")
    e = np.exp(p) / photons
    return (1.0 - a) / a * e * (1.0 + (1.0 + a) / a * electronic_noise ** 2 * e)


def noise_free_scan(hu: np.ndarray, spacing_mm: float, photons: float, rng: np.random.Generator, *,
                    electronic_noise: float = 0.0, cutoff: float = DEFAULT_CUTOFF,
                    views: int | None = None) -> np.ndarray:
    """The noise image (HU) of a scan at `photons` per ray of the noise-free image `hu`:
    ``hu + noise`` is the low-dose image (see the module docstring)."""
    scanner = Scanner(hu, spacing_mm, views)
    return scanner.reconstruct([scanner.scan_perturbation(photons, rng, electronic_noise)], cutoff)[0]


def extra_noise(hu: np.ndarray, spacing_mm: float, dose_fraction: float, photons: float,
                rng: np.random.Generator, *, electronic_noise: float = 0.0, cutoff: float = DEFAULT_CUTOFF,
                views: int | None = None) -> np.ndarray:
    """The noise image (HU) to add to a scan taken at `photons` per ray so that it looks taken
    at `dose_fraction` of that dose (Gaussian in the projection domain, see the module doc)."""
    scanner = Scanner(hu, spacing_mm, views)
    return scanner.reconstruct([scanner.extra_perturbation(dose_fraction, photons, rng, electronic_noise)], cutoff)[0]


def soft_tissue_mask(hu: np.ndarray, erode: int = 3) -> np.ndarray:
    """Pixels whose 5x5 median lies in SOFT_TISSUE_HU, eroded by `erode` px (away from edges)."""
    smooth = ndi.median_filter(np.asarray(hu, np.float32), size=5)
    mask = (smooth > SOFT_TISSUE_HU[0]) & (smooth < SOFT_TISSUE_HU[1])
    return ndi.binary_erosion(mask, iterations=erode) if erode else mask


def noise_level(image: np.ndarray, mask: np.ndarray) -> float:
    """Robust noise estimate over `mask`: 1.4826 x the median absolute deviation of the image
    minus its 3x3 median. It scales with the noise std for a given texture; the photon
    estimate calibrates it on simulated noise of the same texture, so its bias cancels."""
    residual = np.asarray(image, np.float32) - ndi.median_filter(np.asarray(image, np.float32), size=3)
    values = residual[mask]
    if values.size < 100:
        return float("nan")
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def simulate_scan(hu: np.ndarray, spacing_mm: float, photons: float, rng: np.random.Generator,
                  views: int | None = None, filter_name: str = "hann", cutoff: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) reconstructions in HU of a square image in HU with air outside its
    inscribed circle: Poisson counts at `photons` per ray, and the noise-free sinogram, both
    reconstructed (the phantom's scan; pixels outside the circle are AIR_HU)."""
    n = hu.shape[0]
    views = views or projector.default_views(n)
    line_integrals = projector.radon(projector.hu_to_line_units(hu, spacing_mm), views).astype(np.float64)
    counts = np.maximum(rng.poisson(photons * np.exp(-line_integrals)), 1)
    noisy = -np.log(counts / photons)
    images = projector.fbp(np.stack([noisy, line_integrals]), filter_name, cutoff)
    out = (images / (projector.MU_WATER * spacing_mm) - 1.0) * 1000.0
    out[:, ~projector.circle(n)] = AIR_HU
    return out[0].astype(np.float32), out[1].astype(np.float32)
