"""An automatic quality score of an enhanced lesion ROI: the stand-in for the paper's visual
check of which CT enhancements improved (sgan_tf/finetune/rounds.py selects training pairs by it).

All measures are taken on the network scale, in the regions of the lesion's RECIST trimap
(sgan_tf/segment/trimap.py): the lesion is the axes plus the quadrilateral they span, the
background is what lies outside the probable-background margin.

- noise: the robust std (1.4826 x MAD) of the high-pass residual (image minus its Gaussian
  blur, sigma `NOISE_BLUR`) over the background pixels the window does not clip in the input
  (air and bone saturate at 0 and 1 and have no noise to measure); the same pixels serve the
  input and its enhancement. The median keeps organ edges in the background from counting as
  noise. Fewer than `MIN_PIXELS` such pixels: not scorable.
- CNR: |median(lesion) - median(background)| / noise.
- sharpness: along each RECIST axis, the intensity profile through each endpoint, from a
  quarter of the axis inside to `EDGE_REACH` x L outside; the steepest slope (per pixel) within
  `EDGE_WINDOW` x L of the endpoint divided by the lesion contrast, averaged over the 4 endpoints.
  It is 1/width of the edge in pixels, so it compares ROIs at the same zoom.
- SSIM to the input (OG at the same size): the guard against artifacts. An enhancement that
  changes the image's structure (hallucinated texture, ringing, tiling seams) scores low.

score = log(CNR) + SHARPNESS_WEIGHT x log(sharpness); an enhancement improved a ROI when its
score beats the input's and its SSIM to the input is at least `ssim_min`.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

from sgan_tf.data import recist
from sgan_tf.segment.trimap import make_trimap

NOISE_BLUR = 1.0
EDGE_REACH = 0.25
EDGE_WINDOW = 0.15
SHARPNESS_WEIGHT = 0.5
SSIM_MIN = 0.5
EPS = 1e-4  # network-scale floor of noise and contrast (0.04 HU in the soft-tissue window)
MIN_PIXELS = 16
CLIPPED = 1e-3  # within this of 0 or 1 a pixel counts as clipped by the window


@dataclasses.dataclass(frozen=True)
class Quality:
    """The measures of one image of a lesion ROI (module docstring)."""

    cnr: float
    sharpness: float
    noise: float
    contrast: float

    @property
    def score(self) -> float:
        return float(np.log(self.cnr) + SHARPNESS_WEIGHT * np.log(self.sharpness))


@dataclasses.dataclass(frozen=True)
class Improvement:
    """The input's and the enhancement's quality, and whether the enhancement counts as improved."""

    before: Quality
    after: Quality
    ssim_to_input: float
    ssim_min: float

    @property
    def gain(self) -> float:
        return self.after.score - self.before.score

    @property
    def improved(self) -> bool:
        return self.gain > 0 and self.ssim_to_input >= self.ssim_min


def regions(image: np.ndarray, recist_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (lesion, unclipped background) masks of a ROI image from its RECIST points
    (module docstring)."""
    trimap = make_trimap(image.shape, recist_points)
    flat = (trimap == cv2.GC_BGD) & (image > CLIPPED) & (image < 1.0 - CLIPPED)
    return np.isin(trimap, (cv2.GC_FGD, cv2.GC_PR_FGD)), flat


def _robust_std(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _edge_sharpness(image: np.ndarray, p: np.ndarray, long_d: float, contrast: float) -> float:
    slopes = []
    for a, b in (p[:2], p[2:]):
        for end, other in ((a, b), (b, a)):
            direction = (end - other) / max(np.linalg.norm(end - other), 1e-9)
            ts = np.arange(-0.25 * np.linalg.norm(end - other), EDGE_REACH * long_d + 0.5, 0.5)
            xs, ys = end[0] + ts * direction[0], end[1] + ts * direction[1]
            profile = ndimage.map_coordinates(image, [ys, xs], order=1, mode="nearest")
            slope = np.abs(np.gradient(profile, 0.5))
            near = np.abs(ts) <= max(EDGE_WINDOW * long_d, 1.0)
            slopes.append(slope[near].max() if near.any() else 0.0)
    return max(float(np.mean(slopes)) / contrast, EPS)


def quality(image: np.ndarray, recist_points: np.ndarray, lesion: np.ndarray, background: np.ndarray) -> Quality:
    """Quality of a [H, W] network-scale ROI image in the given `regions` (module docstring)."""
    image = np.asarray(image, np.float32)
    p = np.asarray(recist_points, np.float64).reshape(4, 2)
    if not lesion.any() or background.sum() < MIN_PIXELS:
        raise ValueError(f"the ROI has no lesion or fewer than {MIN_PIXELS} unclipped background pixels to score")
    residual = image - cv2.GaussianBlur(image, (0, 0), NOISE_BLUR)
    noise = max(_robust_std(residual[background]), EPS)
    contrast = max(abs(float(np.median(image[lesion]) - np.median(image[background]))), EPS)
    long_d = recist.axis_lengths(p)[0]
    return Quality(cnr=contrast / noise, sharpness=_edge_sharpness(image, p, long_d, contrast), noise=noise,
                   contrast=contrast)


def improvement(original: np.ndarray, enhanced: np.ndarray, recist_points: np.ndarray,
                ssim_min: float = SSIM_MIN) -> Improvement:
    """How `enhanced` compares with `original` (same size, network scale) on the lesion of `recist_points`."""
    if original.shape != enhanced.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {enhanced.shape}")
    lesion, background = regions(np.asarray(original, np.float32), recist_points)
    ssim = float(structural_similarity(original.astype(np.float64), enhanced.astype(np.float64), data_range=1.0,
                                       win_size=min(7, *(n - (n + 1) % 2 for n in original.shape))))
    return Improvement(quality(original, recist_points, lesion, background),
                       quality(enhanced, recist_points, lesion, background), ssim, ssim_min)
