"""Stacked enhancement of CT: OG -> G1 (denoise) -> per-lesion zoom -> G2 (enhance) -> composite.

`enhance(hu, ...)` and the `Enhancer` class take a HU image (a lesion ROI or a whole slice)
and return, aligned at the zoomed size, OG, denoised, enhanced and the 3-channel composite
(OG, denoised, enhanced), each in the network scale and in HU (`sgan_tf.data.ct` defines the
scale). The order is the paper's: G1 runs at the native resolution, where the noise has the
pixel scale it was trained on; OG and the G1 output are then enlarged by the zoom factor
(bicubic), and G2 runs on the enlarged G1 output.

Variants (the paper's comparison rows) use the same path with other stages:

| variant | before the zoom | after the zoom | composite channels |
|---------|-----------------|----------------|--------------------|
| `sgan`  | G1              | G2             | OG, G1, G2         |
| `gan1`  | G1              | -              | OG, G1, G1         |
| `gan`   | -               | single GAN     | OG, GAN, GAN       |
| `og`    | -               | -              | OG, OG, OG         |

Any image larger than `tile_size` runs tile by tile (`tiled_apply`): tiles overlap by the
generator's receptive radius on each side plus a blending band, so memory stays bounded and
the result equals untiled inference up to float rounding.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable

import cv2
import numpy as np
import tensorflow as tf

from sgan_tf.data import limits, recist
from sgan_tf.data.ct import NETWORK_WINDOW, Window
from sgan_tf.errors import DataError, UserError
from sgan_tf.models.dncnn import DnCNN, FoldedDnCNN, fold_dncnn
from sgan_tf.models.inference import FoldedGenerator, fold_generator
from sgan_tf.training.checkpoints import load_generator, load_newest_generator
from sgan_tf.training.config import CONFIG_FILE, load_saved

VARIANTS = ("sgan", "gan1", "gan", "og")
TILE_SIZE = 256
BLEND = 16


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Tile origins covering [0, length): every tile full-size, the last flush with the end."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def _edge_weights(tile: int, start: int, length: int, margin: int, blend: int) -> np.ndarray:
    """1-D blending weights of a tile: 0 within `margin` of an inner edge, then a linear ramp
    over `blend` pixels, 1 elsewhere; image borders are not inner edges."""
    w = np.ones(tile, np.float32)
    ramp = (np.arange(blend, dtype=np.float32) + 0.5) / blend
    if start > 0:
        w[:margin] = 0.0
        w[margin: margin + blend] = ramp
    if start + tile < length:
        w[tile - margin:] = 0.0
        w[tile - margin - blend: tile - margin] = ramp[::-1]
    return w


def tiled_apply(
    fn: Callable[[np.ndarray], np.ndarray], image: np.ndarray, tile: int, margin: int, blend: int = BLEND
) -> np.ndarray:
    """fn over a [H, W] image in tile x tile pieces. Neighbouring tiles overlap by 2*margin+blend;
    each keeps the pixels at least `margin` from its inner edges and the two are cross-faded
    over `blend` pixels. With margin >= fn's receptive radius the result is fn(image)."""
    h, w = image.shape
    if h <= tile and w <= tile:
        return fn(image)
    stride = tile - 2 * margin - blend
    if stride <= 0:
        raise UserError(f"tile size {tile} is too small for a {margin}-pixel margin (need > {2 * margin + blend})")
    th, tw = min(tile, h), min(tile, w)
    out = np.zeros((h, w), np.float32)
    weight = np.zeros((h, w), np.float32)
    for y in tile_starts(h, th, stride):
        wy = _edge_weights(th, y, h, margin, blend)
        for x in tile_starts(w, tw, stride):
            wx = _edge_weights(tw, x, w, margin, blend)
            wgt = wy[:, None] * wx[None, :]
            out[y: y + th, x: x + tw] += wgt * fn(image[y: y + th, x: x + tw])
            weight[y: y + th, x: x + tw] += wgt
    return out / weight


@dataclasses.dataclass
class GeneratorStage:
    """A trained generator as a [H, W] -> [H, W] map on the network scale, tiled when large."""

    module: FoldedGenerator | FoldedDnCNN
    info: dict  # source model_dir, checkpoint, step: recorded in sidecars
    tile_size: int = TILE_SIZE

    def __post_init__(self):
        # One trace for every image size: ROIs all differ in size.
        self._fn = tf.function(self.module.__call__, input_signature=[tf.TensorSpec([1, None, None, 1], tf.float32)])

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self._fn(tf.constant(x[None, :, :, None], tf.float32)).numpy()[0, :, :, 0]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = tiled_apply(self._run, x.astype(np.float32), self.tile_size, self.module.receptive_radius)
        return np.clip(out, 0.0, 1.0)


def load_stage(path: str, checkpoint: str | None = None, tile_size: int = TILE_SIZE,
               compute_dtype: str = "float32") -> GeneratorStage:
    """A generator (or DnCNN) from a training --model_dir (its newest checkpoint that can be
    restored unless `checkpoint`), computing in `compute_dtype` (float32 or bfloat16, see
    models.inference)."""
    if not os.path.isdir(path):
        raise UserError(f"{path}: model folder not found")
    if load_saved(path) is None:
        raise UserError(f"{path}: not a training model_dir (no {CONFIG_FILE})")
    if checkpoint is None:
        (generator, step), checkpoint = load_newest_generator(path)
    else:
        generator, step = load_generator(path, checkpoint)
    info = {"model_dir": os.path.abspath(path), "checkpoint": os.path.basename(checkpoint), "step": step,
            "compute_dtype": compute_dtype}
    fold = fold_dncnn if isinstance(generator, DnCNN) else fold_generator
    module = fold(generator, compute_dtype=compute_dtype)
    return GeneratorStage(module, info, tile_size)


@dataclasses.dataclass
class EnhanceResult:
    """Aligned channels at the zoomed size: `<name>` on the network scale, `<name>_hu` in HU."""

    og: np.ndarray
    denoised: np.ndarray
    enhanced: np.ndarray
    og_hu: np.ndarray
    denoised_hu: np.ndarray
    enhanced_hu: np.ndarray
    zoom: float
    window: Window
    variant: str

    @property
    def composite(self) -> np.ndarray:
        """[H, W, 3] network scale: (OG, denoised, enhanced)."""
        return np.stack([self.og, self.denoised, self.enhanced], axis=-1)

    @property
    def composite_hu(self) -> np.ndarray:
        return np.stack([self.og_hu, self.denoised_hu, self.enhanced_hu], axis=-1)


Stage = Callable[[np.ndarray], np.ndarray]


class Enhancer:
    """The stacked enhancement of one variant; call it on HU images."""

    def __init__(self, before_zoom: Stage | None, after_zoom: Stage | None, variant: str,
                 window: Window = NETWORK_WINDOW, info: dict | None = None):
        self.before_zoom = before_zoom
        self.after_zoom = after_zoom
        self.variant = variant
        self.window = window
        self.info = info or {}

    @classmethod
    def from_model_dirs(
        cls,
        variant: str = "sgan",
        denoise_model: str | None = None,
        enhance_model: str | None = None,
        single_model: str | None = None,
        window: Window = NETWORK_WINDOW,
        tile_size: int = TILE_SIZE,
    ) -> "Enhancer":
        """The variant's stages loaded from training model directories (see the module table)."""
        needs = {"sgan": ("denoise_model", "enhance_model"), "gan1": ("denoise_model",),
                 "gan": ("single_model",), "og": ()}
        if variant not in needs:
            raise UserError(f"variant {variant!r}: use one of {', '.join(VARIANTS)}")
        given = {"denoise_model": denoise_model, "enhance_model": enhance_model, "single_model": single_model}
        missing = [f"--{n}" for n in needs[variant] if not given[n]]
        if missing:
            raise UserError(f"variant {variant} needs {' and '.join(missing)}")
        stages = {n: load_stage(given[n], tile_size=tile_size) for n in needs[variant]}
        before = stages.get("denoise_model")
        after = stages.get("enhance_model") or stages.get("single_model")
        info = {n: s.info for n, s in stages.items()}
        return cls(before, after, variant, window, info)

    def __call__(self, hu: np.ndarray, zoom: float = 1.0, window: Window | None = None) -> EnhanceResult:
        """Enhance a [H, W] HU image at `zoom` (>= 1) through `window` (default: the Enhancer's)."""
        window = window or self.window
        hu = np.asarray(hu, np.float32)
        if hu.ndim != 2:
            raise DataError(f"expected a [H, W] HU image, got shape {hu.shape}")
        if not np.all(np.isfinite(hu)):
            raise DataError(f"image has {int((~np.isfinite(hu)).sum())} NaN/inf pixels")
        if not 1.0 <= zoom < math.inf:
            raise UserError(f"zoom {zoom}: must be a finite number >= 1 (the zoom only enlarges)")
        size_h, size_w = (max(int(round(n * zoom)), 1) for n in hu.shape)
        limits.check_pixels(size_w, size_h, f"the {hu.shape[1]}x{hu.shape[0]} image zoomed {zoom:g}x")
        og = window.to_unit(hu)
        first = self.before_zoom(og) if self.before_zoom else og
        og_hu_z, og_z, first_z = (_resize(a, size_h, size_w) for a in (hu, og, first))
        og_z, first_z = np.clip(og_z, 0, 1), np.clip(first_z, 0, 1)
        second = self.after_zoom(first_z) if self.after_zoom else first_z
        if self.before_zoom is None and self.after_zoom is not None:
            first_z = second  # single GAN: one output fills both channels
        return EnhanceResult(
            og=og_z, denoised=first_z, enhanced=second,
            og_hu=og_hu_z, denoised_hu=window.output_hu(first_z, og_hu_z),
            enhanced_hu=window.output_hu(second, og_hu_z),
            zoom=float(zoom), window=window, variant=self.variant,
        )

    def enhance_roi(self, hu_slice: np.ndarray, box: recist.RoiBox, zoom: float,
                    window: Window | None = None) -> EnhanceResult:
        """Crop the ROI (air-padded at the slice border) and enhance it at `zoom`."""
        return self(recist.crop(hu_slice, box), zoom, window)


def _resize(image: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bicubic resize (OpenCV INTER_CUBIC) of a float image; a copy when the size is unchanged."""
    if image.shape == (h, w):
        return image.astype(np.float32, copy=True)
    return cv2.resize(image.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def enhance(
    hu: np.ndarray,
    denoise_model: str,
    enhance_model: str,
    zoom: float = 1.0,
    window: Window = NETWORK_WINDOW,
) -> EnhanceResult:
    """One-off SGAN enhancement of a HU image with models from training model directories.
    Build an `Enhancer` once instead when enhancing many images."""
    return Enhancer.from_model_dirs("sgan", denoise_model, enhance_model, window=window)(hu, zoom)
