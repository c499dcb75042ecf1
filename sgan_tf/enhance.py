"""Stacked enhancement of CT: OG -> G1 (denoise) -> per-lesion zoom -> G2 (enhance) -> composite.

An `Enhancer` takes a HU image (a lesion ROI or a whole slice) and returns, aligned at the zoomed size, OG, denoised, enhanced and the 3-channel composite
(OG, denoised, enhanced), each in the network scale and in HU (`sgan_tf.data.ct` defines the
scale). The order is the paper's: G1 runs at the native resolution, where the noise has the
pixel scale it was trained on; OG and the G1 output are then enlarged by the zoom factor
(bicubic), and G2 runs on the enlarged G1 output.

Each variant of the paper's comparison (sgan_tf/variants.py) uses this path with its own
stages before and after the zoom; `Enhancer.for_variant` builds them from model folders, and
`Enhancer.pretrained` from the shipped models (sgan_tf/pretrained).

Any image larger than `tile_size` runs tile by tile (`tiled_apply`): tiles overlap by the
generator's receptive radius on each side plus a blending band, so memory stays bounded and
the result equals untiled inference up to float rounding.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np
import tensorflow as tf

from sgan_tf import precision, pretrained, scale, variants
from sgan_tf.data import limits
from sgan_tf.data.ct import NETWORK_WINDOW, Window
from sgan_tf.errors import DataError, UserError
from sgan_tf.models.dncnn import DnCNN, FoldedDnCNN, fold_dncnn
from sgan_tf.models.inference import FoldedGenerator, fold_generator
from sgan_tf.training import run_folder

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
               compute_dtype: str = precision.INFERENCE_DEFAULT) -> GeneratorStage:
    """A generator (or DnCNN) from a training --model_dir or a shipped model's folder (its newest
    checkpoint that can be restored unless `checkpoint`), computing in `compute_dtype` (one of
    precision.INFERENCE_PRECISIONS; 'auto': bf16 where native). Its `info` is what sidecars
    record of it, the dtype that ran included."""
    if not os.path.isdir(path):
        raise UserError(f"{path}: model folder not found")
    compute_dtype = precision.inference_dtype(compute_dtype)
    generator, step, checkpoint = run_folder.load_generator(path, checkpoint)
    info = run_folder.model_info(path, checkpoint, step=step, compute_dtype=compute_dtype)
    fold = fold_dncnn if isinstance(generator, DnCNN) else fold_generator
    module = fold(generator, compute_dtype=compute_dtype)
    return GeneratorStage(module, info, tile_size)


@dataclasses.dataclass
class EnhanceResult:
    """Aligned channels at the zoomed size: `<name>` on the network scale, `<name>_hu` in HU,
    for each name in `CHANNELS`, the composite's order."""

    CHANNELS: ClassVar[tuple[str, ...]] = ("og", "denoised", "enhanced")

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
        return np.stack([getattr(self, name) for name in self.CHANNELS], axis=-1)

    @property
    def composite_hu(self) -> np.ndarray:
        return np.stack([getattr(self, f"{name}_hu") for name in self.CHANNELS], axis=-1)


Stage = Callable[[np.ndarray], np.ndarray]


class Enhancer:
    """The stacked enhancement of one variant; call it on HU images."""

    def __init__(self, before_zoom: Stage | None, after_zoom: Stage | None, variant: str, info: dict | None = None):
        self.before_zoom = before_zoom
        self.after_zoom = after_zoom
        self.variant = variant  # the row that ran: "nlm" when BM3D fell back to NL-means
        self.info = info or {}  # per model: its source folder, checkpoint (and shipped version)

    @classmethod
    def for_variant(cls, variant: str = variants.DEFAULT, models: Mapping[str, str | None] | None = None,
                    tile_size: int = TILE_SIZE, allow_fallback: bool = True,
                    compute_dtype: str = precision.INFERENCE_DEFAULT) -> "Enhancer":
        """The stages of `variant` (sgan_tf/variants.py). `models` maps model names
        (pretrained.NAMES) to what their --<name>_model flag says: a run folder, 'pretrained',
        or None for the shipped model if one ships (`pretrained.resolve`); the networks compute in
        `compute_dtype` (`load_stage`). For BM3D without the
        bm3d package and with `allow_fallback`, NL-means runs and the Enhancer's variant says `nlm`."""
        spec = variants.get(variant)
        given = {name: pretrained.resolve((models or {}).get(name), name) for name in spec.needs}
        if missing := [f"--{name}_model" for name in spec.needs if not given[name]]:
            raise UserError(f"variant {variant} needs {' and '.join(missing)} (no shipped model to use instead)")
        stages, info, name = {}, {}, variant
        for side in (spec.before_zoom, spec.after_zoom):
            if side in given:
                stages[side] = load_stage(given[side], tile_size=tile_size, compute_dtype=compute_dtype)
                info[f"{side}_model"] = stages[side].info
            elif side in variants.CLASSICAL:
                from sgan_tf import baselines

                name, stages[side] = baselines.bm3d_or_fallback(allow_fallback)
                info["denoiser"] = name
        return cls(stages.get(spec.before_zoom), stages.get(spec.after_zoom), name, info)

    @classmethod
    def pretrained(cls, variant: str = variants.DEFAULT, **kwargs) -> "Enhancer":
        """`for_variant` with the shipped models; UserError naming any that is not shipped."""
        return cls.for_variant(variant, {name: pretrained.PRETRAINED for name in variants.get(variant).needs},
                               **kwargs)

    def __call__(self, hu: np.ndarray, zoom: float = 1.0, window: Window = NETWORK_WINDOW) -> EnhanceResult:
        """Enhance a [H, W] HU image at `zoom` (>= 1) through `window`."""
        hu = np.asarray(hu, np.float32)
        if hu.ndim != 2:
            raise DataError(f"expected a [H, W] HU image, got shape {hu.shape}")
        if not np.all(np.isfinite(hu)):
            raise DataError(f"image has {int((~np.isfinite(hu)).sum())} NaN/inf pixels")
        if not 1.0 <= zoom < math.inf:
            raise UserError(f"zoom {zoom}: must be a finite number >= 1 (the zoom only enlarges)")
        size_h, size_w = scale.zoomed_size(hu.shape, zoom)
        limits.check_pixels(size_w, size_h, f"the {hu.shape[1]}x{hu.shape[0]} image zoomed {zoom:g}x")
        og = window.to_unit(hu)
        first = self.before_zoom(og) if self.before_zoom else og
        og_hu_z, og_z, first_z = (scale.zoom_cubic(a, size_h, size_w) for a in (hu, og, first))
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
