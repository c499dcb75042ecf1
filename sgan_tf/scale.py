"""The network scale and every resize, in NumPy (in-process paths) and in TF ops (the exported
SavedModels) side by side, so each rule has one home and its two forms can be read together.
Tests hold every pair equal (tests/scale_test.py).

**HU <-> network scale** (the one rule every CT path uses; `Window` holds [lo, hi]):

    unit = clip((HU - lo) / (hi - lo), 0, 1)         HU = lo + unit * (hi - lo)

Network outputs in HU keep the input outside the window (`output_hu`): the output's weight
is 1 well inside the window and falls by a smoothstep to 0 within `EDGE_BAND` of either edge,
where the input's own HU take over, so bone, lung and air survive enhancement. The weight is
the product of that ramp on the network's output and on the input, the input first smoothed
(`SMOOTH_TAPS`, separable binomial, normalised at the borders) so that noise alone does not
pull a soft-tissue pixel out of the window, while a network that blurs or overshoots a
bone/air edge cannot replace the HU of bone, lung or air it does not own.

**Zoom**: a zoomed image is max(round(n * zoom), 1) pixels per side (halves to even) and is
made by OpenCV's INTER_CUBIC (Keys' kernel, a = -0.75, half-pixel centres, edge-clamped taps,
separable, width first); the TF twin computes positions and weights in float64 and rounds once
as OpenCV's IPP path does (they agree to ~1e-7 of the value range; OpenCV's own path for
images under 4 rows to ~3e-6).

**Masks** are resized by one rule: nearest neighbour with pixel-centre alignment
(INTER_NEAREST_EXACT), so a mask and the image it labels stay registered at any zoom.

**HNN inputs** are resized by area averaging when shrinking both sides, bilinear otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # TF is imported where a TF twin runs, so NumPy users stay TF-free
    import tensorflow as tf

    from sgan_tf.data.ct import Window

EDGE_BAND = 0.05  # share of the window width over which network HU fade into the input's
SMOOTH_TAPS = (1.0, 4.0, 6.0, 4.0, 1.0)  # binomial smoothing of the input before its ramp (~Gaussian, sigma 1 px)
CUBIC_A = -0.75  # OpenCV's INTER_CUBIC coefficient (Keys' kernel)

# -- HU <-> network scale ------------------------------------------------------------------


def to_unit(hu: np.ndarray, window: Window) -> np.ndarray:
    return np.clip((np.asarray(hu, np.float32) - window.lo) / window.width, 0.0, 1.0).astype(np.float32)


def to_unit_tf(hu: tf.Tensor, window: Window) -> tf.Tensor:
    import tensorflow as tf

    return tf.clip_by_value((hu - window.lo) / window.width, 0.0, 1.0)


def to_hu(unit: np.ndarray, window: Window) -> np.ndarray:
    return (window.lo + np.clip(np.asarray(unit, np.float32), 0.0, 1.0) * window.width).astype(np.float32)


def to_hu_tf(unit: tf.Tensor, window: Window) -> tf.Tensor:
    import tensorflow as tf

    return window.lo + tf.clip_by_value(unit, 0.0, 1.0) * window.width


def edge_weight(unit: np.ndarray) -> np.ndarray:
    """Weight of a network output in its HU: 1 inside the window, a smoothstep to 0 at the edges."""
    t = np.clip(np.minimum(unit, 1.0 - unit) / EDGE_BAND, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def edge_weight_tf(unit: tf.Tensor) -> tf.Tensor:
    import tensorflow as tf

    t = tf.clip_by_value(tf.minimum(unit, 1.0 - unit) / EDGE_BAND, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _spatial_axes(ndim: int) -> tuple[int, ...]:
    """[W] -> (0,); [H, W] -> (0, 1); [N, H, W] and [N, H, W, C] -> (1, 2)."""
    return {1: (0,), 2: (0, 1), 3: (1, 2), 4: (1, 2)}[ndim]


def smooth_unit(unit: np.ndarray) -> np.ndarray:
    """`SMOOTH_TAPS` along each spatial axis, normalised by the taps inside the image."""
    from scipy import ndimage

    taps = np.asarray(SMOOTH_TAPS, np.float32)
    out, norm = np.asarray(unit, np.float32), np.ones(np.shape(unit), np.float32)
    for axis in _spatial_axes(out.ndim):
        out = ndimage.convolve1d(out, taps, axis=axis, mode="constant", cval=0.0)
        norm = ndimage.convolve1d(norm, taps, axis=axis, mode="constant", cval=0.0)
    return (out / norm).astype(np.float32)


def smooth_unit_tf(unit: tf.Tensor) -> tf.Tensor:
    """`smooth_unit` of a [N, H, W, 1] tensor."""
    import tensorflow as tf

    taps = tf.constant(SMOOTH_TAPS, tf.float32)
    rows, cols = tf.reshape(taps, [-1, 1, 1, 1]), tf.reshape(taps, [1, -1, 1, 1])
    blur = lambda x: tf.nn.conv2d(tf.nn.conv2d(x, rows, 1, "SAME"), cols, 1, "SAME")  # noqa: E731
    return blur(unit) / blur(tf.ones_like(unit))


def output_hu(unit: np.ndarray, hu_in: np.ndarray, window: Window) -> np.ndarray:
    """A network output in HU that keeps `hu_in` (the input, same pixels) outside the window."""
    unit = np.clip(np.asarray(unit, np.float32), 0.0, 1.0)
    w = edge_weight(unit) * edge_weight(smooth_unit(to_unit(hu_in, window)))
    return (w * to_hu(unit, window) + (1.0 - w) * np.asarray(hu_in, np.float32)).astype(np.float32)


def output_hu_tf(unit: tf.Tensor, hu_in: tf.Tensor, window: Window) -> tf.Tensor:
    """`output_hu` of [N, H, W, 1] tensors."""
    import tensorflow as tf

    unit = tf.clip_by_value(unit, 0.0, 1.0)
    w = edge_weight_tf(unit) * edge_weight_tf(smooth_unit_tf(to_unit_tf(hu_in, window)))
    return w * to_hu_tf(unit, window) + (1.0 - w) * hu_in

# -- zoom --------------------------------------------------------------------------------------


def zoomed_size(shape: tuple[int, int], zoom: float) -> tuple[int, int]:
    """(h, w) of an image of `shape` enlarged by `zoom`."""
    return tuple(max(int(round(n * zoom)), 1) for n in shape)


def zoomed_size_tf(hw: tf.Tensor, zoom: tf.Tensor) -> tf.Tensor:
    """`zoomed_size` in TF ops (float64, halves to even), as float64 [h, w]."""
    import tensorflow as tf

    return tf.maximum(tf.round(tf.cast(hw, tf.float64) * tf.cast(zoom, tf.float64)), 1.0)


def zoom_cubic(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize (OpenCV INTER_CUBIC) of a float image; a copy when the size is unchanged."""
    if image.shape[:2] == (height, width):
        return image.astype(np.float32, copy=True)
    return cv2.resize(image.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)


def _keys_kernel(t: tf.Tensor) -> tf.Tensor:
    """Keys' cubic convolution kernel with a = CUBIC_A at distances t (zero from |t| = 2)."""
    import tensorflow as tf

    a, t = CUBIC_A, tf.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return tf.where(t <= 1, near, tf.where(t < 2, far, tf.zeros_like(t)))


def _cubic_axis(images: tf.Tensor, size: tf.Tensor, axis: int) -> tf.Tensor:
    """Axis 1 or 2 of [N, H, W, C] resized to `size`: output i reads the 4 pixels around source
    position (i + 0.5) * in / out - 0.5, indices clamped to the edge."""
    import tensorflow as tf

    length = tf.shape(images)[axis]
    source = (tf.range(size, dtype=tf.float64) + 0.5) * (tf.cast(length, tf.float64) / tf.cast(size, tf.float64)) - 0.5
    base = tf.floor(source)
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    out = None
    for k in (-1, 0, 1, 2):
        weight = tf.reshape(tf.cast(_keys_kernel(source - (base + k)), images.dtype), shape)
        index = tf.clip_by_value(tf.cast(base, tf.int32) + k, 0, length - 1)
        term = weight * tf.gather(images, index, axis=axis)
        out = term if out is None else out + term
    return out


def zoom_cubic_tf(images: tf.Tensor, height: int | tf.Tensor, width: int | tf.Tensor) -> tf.Tensor:
    """`zoom_cubic` of a float batch [N, H, W, C] in TF ops (the module docstring)."""
    return _cubic_axis(_cubic_axis(images, width, 2), height, 1)

# -- masks and HNN inputs ----------------------------------------------------------------------


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A 0/1 (or label) mask to height x width by pixel-centre nearest neighbour, uint8."""
    mask = np.asarray(mask, np.uint8)
    if mask.shape == (height, width):
        return mask.copy()
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Float image [H, W] or [H, W, C] to height x width: area-averaged when shrinking both sides
    (no aliasing), bilinear otherwise; a float32 copy when the size is unchanged."""
    image = np.asarray(image, np.float32)
    if image.shape[:2] == (height, width):
        return image.copy()
    shrink = height < image.shape[0] and width < image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def resize_image_tf(images: tf.Tensor, height: int | tf.Tensor, width: int | tf.Tensor) -> tf.Tensor:
    """`resize_image` for a float32 batch [N, H, W, C] in TF ops (half-pixel centres, as OpenCV)."""
    import tensorflow as tf

    size = tf.shape(images)[1:3]
    target = tf.stack([height, width])

    def resized() -> tf.Tensor:
        shrink = tf.reduce_all(target < size)
        return tf.cond(shrink, lambda: tf.image.resize(images, target, method="area"),
                       lambda: tf.image.resize(images, target, method="bilinear"))

    return tf.cond(tf.reduce_all(target == size), lambda: images, resized)
