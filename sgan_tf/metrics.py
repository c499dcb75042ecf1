"""Every score the project reports, in one place: segmentation overlap and image fidelity.

Per lesion, a predicted mask P against the ground truth T (both binary, same shape):

    Dice = 2|P ∩ T| / (|P| + |T|)     precision = |P ∩ T| / |P|     recall = |P ∩ T| / |T|

with the empty cases fixed as: both masks empty -> 1 for all three; otherwise a zero
denominator gives 0 (an empty prediction of a real lesion has precision 0, recall 0).

Images: PSNR in dB for a given peak (1 on the network scale), SSIM (scikit-image, Gaussian-free
7x7 windows, data_range given), RMSE. Tables summarise per-item values as (mean, std).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage.metrics import structural_similarity


def overlap(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice, precision and recall of a binary prediction against a binary truth."""
    p, t = np.asarray(pred) > 0, np.asarray(truth) > 0
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and truth {t.shape} differ in shape")
    inter, n_p, n_t = float(np.sum(p & t)), float(p.sum()), float(t.sum())
    if n_p == 0 and n_t == 0:
        return {"dice": 1.0, "precision": 1.0, "recall": 1.0}
    return {
        "dice": 2 * inter / (n_p + n_t),
        "precision": inter / n_p if n_p else 0.0,
        "recall": inter / n_t if n_t else 0.0,
    }


def rmse(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    """Root mean squared difference (over `where` when given; NaN when it is empty)."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    d = d if where is None else d[where]
    return float(np.sqrt(np.mean(d * d))) if d.size else float("nan")


def psnr_of_rmse(value: float, peak: float = 1.0) -> float:
    """PSNR in dB of an RMSE `value`, for `peak` (the value range)."""
    return float(20.0 * np.log10(peak / value))


def psnr(out: np.ndarray, clean: np.ndarray, peak: float = 1.0) -> float:
    """PSNR in dB for `peak` (the value range)."""
    return psnr_of_rmse(rmse(out, clean), peak)


def ssim(out: np.ndarray, clean: np.ndarray, data_range: float = 1.0) -> float:
    return float(structural_similarity(np.asarray(out, np.float64), np.asarray(clean, np.float64),
                                       data_range=data_range))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """(mean, std) of per-item values; (NaN, NaN) for none."""
    if not len(values):
        return float("nan"), float("nan")
    return float(np.mean(values)), float(np.std(values))
