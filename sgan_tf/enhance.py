"""Stacked enhancement of CT: OG -> G1 (denoise) -> per-lesion zoom -> G2 (enhance) -> composite.

An `Enhancer` takes HU images (a lesion ROI or a whole slice, a batch of them, or a volume's
axial slices) and returns, aligned at the zoomed size, OG, denoised, enhanced and the 3-channel
composite (OG, denoised, enhanced), each in the network scale and in HU (`sgan_tf.data.ct`
defines the scale); given a `CTImage` (`sgan_tf.load_ct`) it returns the enhanced `CTImage`.
The order is the paper's: G1 runs at the native resolution, where the noise has the pixel
scale it was trained on; OG and the G1 output are then enlarged by the zoom factor (bicubic),
and G2 runs on the enlarged G1 output.

Each variant of the paper's comparison (sgan_tf/variants.py) uses this path with its own
stages before and after the zoom; `Enhancer.for_variant` builds them from model folders, and
`Enhancer.pretrained` from the shipped models (sgan_tf/pretrained).

Any image larger than `tile_size` runs tile by tile (`tiled_apply`): tiles overlap by the
generator's receptive radius on each side plus a blending band, so memory stays bounded and
the result equals untiled inference up to float rounding. The tiles (or whole images) of a
batch go through the generator together, `BATCH_PIXELS` at a time.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from typing import ClassVar, overload

import numpy as np
import tensorflow as tf

from sgan_tf import precision, pretrained, scale, variants
from sgan_tf.ct_image import CTImage
from sgan_tf.data import limits
from sgan_tf.data.ct import NETWORK_WINDOW, Window
from sgan_tf.errors import DataError, UserError
from sgan_tf.models.dncnn import DnCNN, FoldedDnCNN, fold_dncnn
from sgan_tf.models.inference import FoldedGenerator, fold_generator
from sgan_tf.training import run_folder

TILE_SIZE = 256
BLEND = 16
BATCH_PIXELS = 4 * TILE_SIZE**2  # pixels per generator call: four full tiles, or more smaller images


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
    fn: Callable[[np.ndarray], np.ndarray], images: np.ndarray, tile: int, margin: int, blend: int = BLEND,
    batch_pixels: int = BATCH_PIXELS,
) -> np.ndarray:
    """fn over images [N, H, W] in tile x tile pieces; `fn` maps a stack of equal-size pieces
    [B, h, w] to [B, h, w], called with about `batch_pixels` pixels at a time (at least one
    piece). Neighbouring tiles overlap by 2*margin+blend; each keeps the pixels at least `margin`
    from its inner edges and the two are cross-faded over `blend` pixels. With margin >= fn's
    receptive radius the result is fn(images)."""
    n, h, w = images.shape
    if h <= tile and w <= tile:
        per_call = max(1, batch_pixels // (h * w))
        return np.concatenate([fn(images[i: i + per_call]) for i in range(0, n, per_call)]).astype(np.float32)
    stride = tile - 2 * margin - blend
    if stride <= 0:
        raise UserError(f"tile size {tile} is too small for a {margin}-pixel margin (need > {2 * margin + blend})")
    th, tw = min(tile, h), min(tile, w)
    weights = {(y, x): _edge_weights(th, y, h, margin, blend)[:, None] * _edge_weights(tw, x, w, margin, blend)[None, :]
               for y in tile_starts(h, th, stride) for x in tile_starts(w, tw, stride)}
    weight = np.zeros((h, w), np.float32)
    for (y, x), wgt in weights.items():
        weight[y: y + th, x: x + tw] += wgt
    out = np.zeros((n, h, w), np.float32)
    pieces = [(i, y, x) for i in range(n) for y, x in weights]
    per_call = max(1, batch_pixels // (th * tw))
    for start in range(0, len(pieces), per_call):
        chunk = pieces[start: start + per_call]
        results = fn(np.stack([images[i, y: y + th, x: x + tw] for i, y, x in chunk]))
        for (i, y, x), result in zip(chunk, results):
            out[i, y: y + th, x: x + tw] += weights[y, x] * result
    return out / weight


@dataclasses.dataclass
class GeneratorStage:
    """A trained generator as a map on the network scale of a [H, W] image, or of a stack
    [N, H, W] (run in batches), to the same shape; tiled when large."""

    module: FoldedGenerator | FoldedDnCNN
    info: dict  # source model_dir, checkpoint, step: recorded in sidecars
    tile_size: int = TILE_SIZE
    batch_pixels: int = BATCH_PIXELS

    def __post_init__(self):
        # One trace for every batch and image size: ROIs all differ in size.
        self._fn = tf.function(self.module.__call__, input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32)])

    def _run(self, x: np.ndarray) -> np.ndarray:
        """[B, H, W] -> [B, H, W], unclipped and untiled."""
        return self._fn(tf.constant(x[..., None], tf.float32)).numpy()[..., 0]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        out = tiled_apply(self._run, x if x.ndim == 3 else x[None], self.tile_size, self.module.receptive_radius,
                          batch_pixels=self.batch_pixels)
        return np.clip(out if x.ndim == 3 else out[0], 0.0, 1.0)


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
    for each name in `CHANNELS`, the composite's order; each [H, W], or [N, H, W] for a stack."""

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
        """[H, W, 3] (or [N, H, W, 3]) network scale: (OG, denoised, enhanced)."""
        return np.stack([getattr(self, name) for name in self.CHANNELS], axis=-1)

    @property
    def composite_hu(self) -> np.ndarray:
        return np.stack([getattr(self, f"{name}_hu") for name in self.CHANNELS], axis=-1)


Stage = Callable[[np.ndarray], np.ndarray]


def _apply(stage: Stage, images: np.ndarray) -> np.ndarray:
    """A stage on a stack [N, H, W]: a generator in batches, any other stage image by image."""
    if isinstance(stage, GeneratorStage):
        return stage(images)
    return np.stack([stage(image) for image in images])


def _zoom(images: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.stack([scale.zoom_cubic(image, height, width) for image in images])


class Enhancer:
    """The stacked enhancement of one variant; call it on HU images (`__call__`).

    >>> import numpy as np
    >>> enhancer = Enhancer.pretrained()  # the shipped G1 and G2 (sgan_tf/pretrained)
    >>> slice_hu = np.random.default_rng(0).normal(40, 25, (64, 64))  # noisy soft tissue, HU
    >>> result = enhancer(slice_hu)
    >>> result.enhanced_hu.shape, result.composite.shape
    ((64, 64), (64, 64, 3))
    >>> bool(result.denoised_hu.std() < slice_hu.std())  # G1 removed noise
    True
    >>> enhancer(np.stack([slice_hu] * 3)).enhanced_hu.shape  # a batch, or a volume's axial slices
    (3, 64, 64)
    >>> enhancer(slice_hu, zoom=2).enhanced_hu.shape  # G2 runs after a 2x bicubic zoom
    (128, 128)
    """

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

    @overload
    def __call__(self, hu: np.ndarray, zoom: float = 1.0, window: Window = NETWORK_WINDOW) -> EnhanceResult: ...

    @overload
    def __call__(self, hu: CTImage, zoom: float = 1.0, window: Window = NETWORK_WINDOW) -> CTImage: ...

    def __call__(self, hu, zoom=1.0, window=NETWORK_WINDOW):
        """Enhance HU images at `zoom` (>= 1) through `window`: a [H, W] image, or a stack
        [N, H, W] (a batch, or a volume's axial slices, each enhanced as a slice; generators
        run on several at once) -> an EnhanceResult of arrays of the same rank at the zoomed
        size (all channels of a stack are in memory at once). A `CTImage` (`sgan_tf.load_ct`) ->
        the enhanced CTImage on its own grid (zoom 1), which `save` writes in the input's format
        and geometry; its slices run a batch's worth at a time, keeping only the enhanced HU."""
        if isinstance(hu, CTImage):
            if zoom != 1.0:
                raise UserError(f"zoom {zoom:g}: a CTImage is enhanced on its own grid; enhance its .hu to zoom")
            stack = hu.hu if hu.hu.ndim == 3 else hu.hu[None]
            per_call = max(1, BATCH_PIXELS // (stack.shape[1] * stack.shape[2]))
            enhanced = np.concatenate([self(stack[z: z + per_call], 1.0, window).enhanced_hu
                                       for z in range(0, len(stack), per_call)])
            return hu.with_hu(enhanced.reshape(hu.shape), variants.series_description(self.variant))
        hu = np.asarray(hu, np.float32)
        if hu.ndim not in (2, 3) or 0 in hu.shape:
            raise DataError(f"expected a [H, W] HU image or a stack [N, H, W] of them, got shape {hu.shape}")
        if not np.all(np.isfinite(hu)):
            raise DataError(f"image has {int((~np.isfinite(hu)).sum())} NaN/inf pixels")
        if not 1.0 <= zoom < math.inf:
            raise UserError(f"zoom {zoom}: must be a finite number >= 1 (the zoom only enlarges)")
        stack = hu if hu.ndim == 3 else hu[None]
        size_h, size_w = scale.zoomed_size(stack.shape[1:], zoom)
        limits.check_pixels(size_w, size_h, f"the {stack.shape[2]}x{stack.shape[1]} image zoomed {zoom:g}x")
        og = window.to_unit(stack)
        first = _apply(self.before_zoom, og) if self.before_zoom else og
        og_hu_z, og_z, first_z = (_zoom(a, size_h, size_w) for a in (stack, og, first))
        og_z, first_z = np.clip(og_z, 0, 1), np.clip(first_z, 0, 1)
        second = _apply(self.after_zoom, first_z) if self.after_zoom else first_z
        if self.before_zoom is None and self.after_zoom is not None:
            first_z = second  # single GAN: one output fills both channels
        channels = dict(og=og_z, denoised=first_z, enhanced=second, og_hu=og_hu_z,
                        denoised_hu=window.output_hu(first_z, og_hu_z), enhanced_hu=window.output_hu(second, og_hu_z))
        if hu.ndim == 2:
            channels = {name: array[0] for name, array in channels.items()}
        return EnhanceResult(**channels, zoom=float(zoom), window=window, variant=self.variant)
