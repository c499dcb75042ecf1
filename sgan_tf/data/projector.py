"""Parallel-beam CT projection and filtered back-projection: the one home of scan geometry.

Both the phantom (`sgan_tf.data.phantom`) and the low-dose simulator (`sgan_tf.data.lowdose`)
project and reconstruct through this module, so every simulated CT image shares one geometry
and one family of reconstruction kernels.

Geometry (as skimage.transform.radon with circle=True): square images that are zero outside
their inscribed circle, `views` projection angles over [0, 180) degrees, rotation centre at
pixel (n // 2, n // 2), one detector bin per pixel.

Attenuation: mu = MU_WATER * (1 + HU / 1000) per mm (clamped at 0), times the pixel spacing,
so line integrals are dimensionless and HU = 1000 * (mu / (MU_WATER * spacing) - 1).

Kernels: the ramp filter times a Hann window whose cutoff is `cutoff` times the Nyquist
frequency: cutoff 1 is the textbook Hann filter (smooth), larger cutoffs keep more high
frequencies (sharper images, finer noise grain), `filter_name='ramp'` no window at all.
"""

from __future__ import annotations

import cv2
import numpy as np

MU_WATER = 0.02  # linear attenuation of water, 1/mm (about 60-70 keV)
VIEWS_PER_PIXEL = 1.5  # projection views per image column (768 at 512 px)
FILTERS = ("ramp", "hann")


def hu_to_line_units(hu: np.ndarray, spacing_mm: float) -> np.ndarray:
    """HU -> attenuation per pixel (mu * spacing), float32, clamped at 0 (nothing below vacuum)."""
    mu = np.maximum(MU_WATER * (1.0 + np.asarray(hu, np.float64) / 1000.0), 0.0) * spacing_mm
    return mu.astype(np.float32)


def line_units_to_hu(values: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Inverse of `hu_to_line_units` (without the clamp)."""
    return ((np.asarray(values, np.float64) / (MU_WATER * spacing_mm) - 1.0) * 1000.0).astype(np.float32)


def projection_angles(views: int) -> np.ndarray:
    """Projection angles in degrees: `views` (even) steps over [0, 180)."""
    if views < 2 or views % 2:
        raise ValueError(f"views must be even and >= 2, got {views}")
    return np.arange(views) * (180.0 / views)


def default_views(size: int) -> int:
    """Views used for a size x size image: VIEWS_PER_PIXEL per column, rounded to even."""
    return max(2, 2 * int(round(VIEWS_PER_PIXEL * size / 2)))


def circle(n: int) -> np.ndarray:
    """True inside the reconstruction circle (radius n // 2 about pixel (n // 2, n // 2))."""
    yy, xx = np.ogrid[:n, :n]
    c = n // 2
    return (yy - c) ** 2 + (xx - c) ** 2 <= c * c


def _reflected(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(valid, index): detector bin t of a 90-degree-turned frame is bin 2c - t of this one."""
    index = 2 * (n // 2) - np.arange(n)
    valid = (index >= 0) & (index < n)
    return valid, index[valid]


def radon(image: np.ndarray, views: int) -> np.ndarray:
    """Parallel-beam sinogram [n, views] of a square image that is zero outside its inscribed
    circle; matches skimage.transform.radon(image, projection_angles(views), circle=True).

    Each rotation (bilinear, cv2.warpAffine) serves two views: column sums give angle a,
    row sums angle a + 90 degrees.
    """
    image = np.ascontiguousarray(image, np.float32)
    n = image.shape[0]
    if image.shape != (n, n):
        raise ValueError(f"radon needs a square image, got {image.shape}")
    half = views // 2
    angles = projection_angles(views)
    valid, index = _reflected(n)
    sinogram = np.zeros((n, views), np.float32)
    for k in range(half):
        matrix = cv2.getRotationMatrix2D((n // 2, n // 2), float(angles[k]), 1.0)
        turned = cv2.warpAffine(image, matrix, (n, n), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        sinogram[:, k] = turned.sum(axis=0)
        sinogram[valid, k + half] = turned.sum(axis=1)[index]
    return sinogram


def ramp_filter(n: int, filter_name: str = "hann", cutoff: float = 1.0) -> np.ndarray:
    """Frequency response of the FBP filter for n detector bins, zero-padded length (power of
    two >= 2n): the ramp sampled from its band-limited spatial kernel (no DC offset), times a
    Hann window reaching zero at `cutoff` x Nyquist for 'hann'."""
    if filter_name not in FILTERS:
        raise ValueError(f"filter_name must be one of {FILTERS}, got {filter_name!r}")
    if not cutoff > 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    size = max(64, 1 << int(np.ceil(np.log2(2 * n))))
    offsets = np.rint(np.fft.fftfreq(size) * size).astype(np.int64)
    kernel = np.zeros(size)
    kernel[0] = 0.25
    odd = offsets % 2 == 1
    kernel[odd] = -1.0 / (np.pi * offsets[odd]) ** 2
    response = 2.0 * np.real(np.fft.fft(kernel))
    if filter_name == "hann":
        f = np.abs(np.fft.fftfreq(size)) / (0.5 * cutoff)  # 1 at the cutoff
        response *= np.where(f < 1.0, 0.5 * (1.0 + np.cos(np.pi * np.minimum(f, 1.0))), 0.0)
    return response


def fbp(sinograms: np.ndarray, filter_name: str = "hann", cutoff: float = 1.0) -> np.ndarray:
    """Filtered back-projection of one [n, views] or two [2, n, views] sinograms over
    `projection_angles(views)`; zero outside the inscribed circle.

    With cutoff 1 it matches skimage.transform.iradon(..., circle=True, filter_name='ramp' or
    'hann'). Each back-projection is one 4-channel cv2.warpAffine that spreads a source row
    over the image: channels (a, b) take views k and (a, b) + 2 views k + views/2, whose
    sum is turned by 90 degrees at the end.
    """
    single = sinograms.ndim == 2
    stack = np.asarray(sinograms, np.float64)[None] if single else np.asarray(sinograms, np.float64)
    count, n, views = stack.shape
    if count > 2:
        raise ValueError(f"fbp takes one or two sinograms, got {count}")
    half = views // 2
    angles = np.deg2rad(projection_angles(views))
    response = ramp_filter(n, filter_name, cutoff)
    spectrum = np.fft.rfft(stack, n=response.size, axis=1) * response[None, : response.size // 2 + 1, None]
    filtered = np.fft.irfft(spectrum, n=response.size, axis=1)[:, :n].astype(np.float32)
    # Four identical source rows read at row 1.5: cv2 takes its slow border path with fewer.
    source = np.zeros((4, n, 4), np.float32)
    total = np.zeros((n, n, 4), np.float32)
    c = n // 2
    for k in range(half):
        source[:, :, :count] = filtered[:, :, k].T[None]
        source[:, :, 2 : 2 + count] = filtered[:, :, k + half].T[None]
        cos, sin = np.cos(angles[k]), np.sin(angles[k])
        # Destination pixel (x, y) reads detector bin cos*(x-c) - sin*(y-c) + c of view k.
        matrix = np.array([[cos, -sin, c * (1.0 - cos + sin)], [0.0, 0.0, 1.5]])
        total += cv2.warpAffine(source, matrix, (n, n), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    images = total[:, :, :2].copy()
    valid, index = _reflected(n)
    images[valid] += total.transpose(1, 0, 2)[index, :, 2:]
    images = np.moveaxis(images[:, :, :count], 2, 0) * np.float32(np.pi / (2 * views))
    images *= circle(n)[None]
    return images[0] if single else images
