"""Classical denoising baselines as stages: [H, W] float32 on [0, 1] -> [H, W] on [0, 1].

Same interface as `enhance.GeneratorStage`, so tables and the enhancement path treat a trained
network and a classical filter alike. Each stage has a `name` (the label its rows must carry)
and an `info` dict (settings, for sidecars).

* `bm3d`: BM3D (Dabov et al. 2007) from the optional `bm3d` package (`pip install
  sgan-tf[bm3d]`; free for non-commercial use only), white-noise profile.
* `nlm`: scikit-image's non-local means (`denoise_nl_means`, h = 0.8 sigma, 5x5 patches,
  13x13 search window, as in its documentation): a free stand-in when `bm3d` is missing,
  always reported as `nlm`, never as BM3D.

Noise level: a fixed `sigma` (noise std on the image's [0, 1] scale) or, when None, an
estimate per image: the median absolute deviation of the finest diagonal wavelet
coefficients / 0.6745 (Donoho's estimator, `skimage.restoration.estimate_sigma`). It is
accurate for white noise (within a few percent on BSD68, a little high on textured images),
but CT noise is spatially correlated (FBP ramp filter): most of its power lies below the
finest wavelet band, and the estimate comes out about half the true std on the FDA LCD-CT
phantom. Pass a measured `sigma` for CT (e.g. the std in a flat region).
"""

from __future__ import annotations

import dataclasses
import importlib
import warnings
from types import ModuleType

import numpy as np
from absl import logging
from skimage.restoration import denoise_nl_means, estimate_sigma

from sgan_tf.errors import UserError

DENOISERS = ("bm3d", "nlm")
SIGMA_ESTIMATOR = "wavelet MAD (skimage.restoration.estimate_sigma)"


def estimate_noise_sigma(x: np.ndarray) -> float:
    """Noise std of a [H, W] image on its own scale (wavelet MAD; see the module docstring); 0
    for an image without detail (an ROI clipped flat by the window), where the estimator has
    no coefficient to measure."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's "mean of empty slice" in that case
        sigma = float(estimate_sigma(np.asarray(x, np.float64)))
    return sigma if np.isfinite(sigma) else 0.0


def _bm3d_module() -> ModuleType | None:
    try:
        return importlib.import_module("bm3d")
    except ImportError:
        return None


def bm3d_available() -> bool:
    return _bm3d_module() is not None


@dataclasses.dataclass
class _SigmaStage:
    """Shared sigma handling of the classical denoisers; subclasses define `_denoise(x, sigma)`."""

    sigma: float | None = None  # noise std on [0, 1]; None: estimated per image
    name = ""

    def __post_init__(self):
        if self.sigma is not None and not self.sigma > 0:
            raise UserError(f"{self.name}: sigma must be positive, got {self.sigma}")

    @property
    def info(self) -> dict:
        return {"method": self.name, "sigma": self.sigma if self.sigma is not None else SIGMA_ESTIMATOR}

    def _sigma(self, x: np.ndarray) -> float:
        return self.sigma if self.sigma is not None else estimate_noise_sigma(x)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if x.ndim != 2:
            raise ValueError(f"expected a [H, W] image, got shape {x.shape}")
        sigma = self._sigma(x)
        out = self._denoise(x, sigma) if sigma > 0 else x  # a noise-free image is left as it is
        return np.clip(out, 0.0, 1.0).astype(np.float32)


BM3D_MIN_SIDE = 32


class BM3DStage(_SigmaStage):
    """BM3D with white-noise std `sigma` (fixed, or estimated per image)."""

    name = "bm3d"

    def __post_init__(self):
        super().__post_init__()
        self._bm3d = _bm3d_module()
        if self._bm3d is None:
            raise UserError("BM3D needs the optional 'bm3d' package: pip install 'sgan-tf[bm3d]' "
                            "(free for non-commercial use only)")

    def _denoise(self, x: np.ndarray, sigma: float) -> np.ndarray:
        # The bm3d library crashes (SIGSEGV) on images smaller than its blocks (8 x 8 seen):
        # small ROIs are mirror-padded to BM3D_MIN_SIDE and cropped back.
        pad = [(0, max(BM3D_MIN_SIDE - n, 0)) for n in x.shape]
        out = self._bm3d.bm3d(np.pad(x, pad, mode="symmetric"), sigma_psd=sigma)
        return out[: x.shape[0], : x.shape[1]]


class NLMStage(_SigmaStage):
    """scikit-image non-local means with filter strength h = 0.8 sigma."""

    name = "nlm"

    def _denoise(self, x: np.ndarray, sigma: float) -> np.ndarray:
        return denoise_nl_means(x, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True)


def denoiser_stage(name: str, sigma: float | None = None, allow_fallback: bool = False) -> BM3DStage | NLMStage:
    """The `name` baseline; `bm3d` without the package raises UserError, or with
    `allow_fallback` returns the `nlm` stage (check the returned stage's `name`)."""
    if name not in DENOISERS:
        raise UserError(f"unknown denoiser {name!r}; expected one of {', '.join(DENOISERS)}")
    if name == "bm3d" and not bm3d_available() and allow_fallback:
        logging.warning("bm3d package not installed: using non-local means, reported as 'nlm'")
        return NLMStage(sigma)
    return BM3DStage(sigma) if name == "bm3d" else NLMStage(sigma)


def bm3d_or_fallback(allow_fallback: bool = True, sigma: float | None = None) -> tuple[str, BM3DStage | NLMStage]:
    """The paper's BM3D row: ("bm3d", stage), or ("nlm", stage) when `bm3d` is not installed
    and `allow_fallback`, so that the row is labelled with the method that actually ran."""
    stage = denoiser_stage("bm3d", sigma, allow_fallback=allow_fallback)
    return stage.name, stage
