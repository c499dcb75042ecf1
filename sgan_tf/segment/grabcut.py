"""GrabCut lesion segmentation of a ROI image initialised by the RECIST trimap (trimap.py).

The segmenter sees the 8-bit image of `to_uint8`: a composite's three channels (OG, denoised,
enhanced) in order, or one channel repeated. OpenCV reads the array as BGR, which does not
matter: GrabCut's colour models are Gaussian mixtures over the three values, whatever they mean.

The result is deterministic: OpenCV's random generator, which seeds the k-means start of the
mixtures, is reset to `SEED` before each run.
"""

from __future__ import annotations

import cv2
import numpy as np

from sgan_tf.segment.trimap import ensure_foreground, make_trimap

SEED = 0
ITERATIONS = 5


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[H, W], [H, W, 1] or [H, W, 3] network-scale float image -> uint8 [H, W, 3]:
    round(clip(x, 0, 1) * 255), one channel repeated to three, three kept in order."""
    x = np.asarray(image, np.float32)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[:, :, 0]
    if x.ndim == 2:
        x = np.repeat(x[:, :, None], 3, axis=2)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"expected an [H, W], [H, W, 1] or [H, W, 3] image, got shape {image.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"image has {int((~np.isfinite(x)).sum())} NaN/inf values")
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _components_touching(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The 8-connected components of `mask` that contain a `seeds` pixel."""
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = np.unique(labels[seeds & (labels > 0)])
    return np.isin(labels, keep) & (labels > 0)


def grabcut(image: np.ndarray, recist_points: np.ndarray, iterations: int = ITERATIONS,
            trimap: np.ndarray | None = None, keep_connected: bool = True) -> np.ndarray:
    """uint8 0/1 lesion mask [H, W] of a network-scale ROI image ([H, W] or [H, W, 3]).

    `recist_points` [4, 2] (x, y) are in the image's pixels; `trimap` (cv2.GC_* codes, default
    `make_trimap`) overrides the initialisation; if it has no definite foreground, the pixel
    nearest the marks' centre is made one. The mask is GrabCut's foreground (definite or
    probable). With `keep_connected` only its 8-connected parts that hold a definite-foreground
    pixel (the RECIST axes) are kept, dropping look-alike tissue GrabCut finds elsewhere in the
    margin. GrabCut cannot run (OpenCV raises) when the initialisation has no background pixel,
    definite or probable (e.g. a trimap that makes the whole ROI foreground); it is then not
    called and the initial foreground (definite or probable) is the result.
    """
    img = to_uint8(image)
    shape = img.shape[:2]
    init = make_trimap(shape, recist_points) if trimap is None else np.array(trimap, np.uint8)
    if init.shape != shape:
        raise ValueError(f"trimap shape {init.shape} differs from the image's {shape}")
    if init.max() > cv2.GC_PR_FGD:
        raise ValueError(f"trimap values must be cv2.GC_* codes 0..3, found {int(init.max())}")
    init = ensure_foreground(init, recist_points)
    seeds = init == cv2.GC_FGD
    mask = init.copy()
    if ((mask == cv2.GC_BGD) | (mask == cv2.GC_PR_BGD)).any():
        cv2.setRNGSeed(SEED)
        mask, _, _ = cv2.grabCut(img, mask, None, np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64),
                                 iterations, cv2.GC_INIT_WITH_MASK)
    fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    if keep_connected:
        fg = _components_touching(fg, seeds)
    return fg.astype(np.uint8)
