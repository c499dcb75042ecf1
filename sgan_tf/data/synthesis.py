"""On-the-fly synthesis of (degraded, clean) training pairs as tf.data pipelines.

Every pair is a pure function of (seed, example index): crops and flips come from a NumPy
generator seeded with [seed, index], degradations from TF stateless random ops seeded the
same way. A run that resumes at global step t therefore sees exactly the pairs an
uninterrupted run would have seen, and replicas/workers split the global batch by index.

Degradations, all TF ops on one [H, W, 1] crop on the [0, 1] scale (see `images`):

* noise: y = x + (sigma / 255) * n, n ~ N(0, 1) white, sigma ~ U(0, sigma_max] per example
  (sigma_max = 50 on the 0-255 scale). No clipping, as in the DnCNN protocol.
* enhance degradation, in this order:
  1. down-sample by s ~ U[1, 4] to round(size / s) (bicubic with antialiasing);
  2. Gaussian blur, std b ~ U(0, 3] low-resolution pixels, kernel radius ceil(3b),
     reflect padding;
  3. contrast compression by k ~ U[1, 3]: x <- m + (x - m) / k, where m is the mean of the
     crop after step 2 (the mean is kept, every deviation from it shrinks by k);
  4. up-sample back to the crop size (bicubic), clip to [0, 1].
* single-GAN pairs: the enhance degradation, then the noise.
* dncnn (the DnCNN baseline): the noise only, as for the denoise stage.

CT pairs (`ct_pairs.CTPairs`, optional): with probability `ct_fraction` (decided per example
index from its own seed, so the natural crops of the other examples do not change) an example
is a CT crop in the network window instead. Its input is the stage's degradation with CT noise
in place of white noise: the simulated low-dose copy (denoise, dncnn), the enhance degradation
of the target (enhance; plus a share ~ U[0, ct_residual_noise] of the copy's noise, so that G2
learns to leave alone the noise G1 leaves behind), or the enhance degradation plus the copy's
noise (single), clipped to the window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from sgan_tf.data.images import as_unit

if TYPE_CHECKING:
    from sgan_tf.data.ct_pairs import CTPairs

STAGE_DEGRADATIONS = {
    "denoise": (True, False),  # (noise, enhance degradation)
    "enhance": (False, True),
    "single": (True, True),
    "dncnn": (True, False),  # the DnCNN baseline, trained on the denoise pairs
}


@dataclasses.dataclass(frozen=True)
class SynthesisConfig:
    """What degradations a stage applies, and their parameter ranges."""

    crop_size: int = 32
    noise: bool = True
    sigma_max: float = 50.0  # on the 0-255 scale
    degrade: bool = False
    scale_range: tuple[float, float] = (1.0, 4.0)
    blur_max: float = 3.0
    contrast_range: tuple[float, float] = (1.0, 3.0)
    augment: bool = True  # random flips / 90-degree rotations of the crop
    ct_residual_noise: float = 0.0  # enhance stage: up to this share of a CT copy's noise in the input

    @classmethod
    def for_stage(cls, stage: str, **overrides) -> SynthesisConfig:
        if stage not in STAGE_DEGRADATIONS:
            raise ValueError(f"unknown stage {stage!r}; expected one of {sorted(STAGE_DEGRADATIONS)}")
        noise, degrade = STAGE_DEGRADATIONS[stage]
        return cls(noise=noise, degrade=degrade, **overrides)


def _uniform(seed, low, high):
    return tf.random.stateless_uniform([], seed=seed, minval=low, maxval=high, dtype=tf.float32)


def sample_params(config: SynthesisConfig, seed) -> dict[str, tf.Tensor]:
    """Per-example degradation parameters, each drawn from its documented range."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=5)
    return {
        # 1 - U[0, 1) lies in (0, 1], so sigma lies in (0, sigma_max] and b in (0, blur_max].
        "noise_sigma": config.sigma_max * (1.0 - _uniform(seeds[0], 0.0, 1.0)),
        "scale": _uniform(seeds[1], *config.scale_range),
        "blur_sigma": config.blur_max * (1.0 - _uniform(seeds[2], 0.0, 1.0)),
        "contrast": _uniform(seeds[3], *config.contrast_range),
        "noise_seed": seeds[4],
    }


def gaussian_blur(image: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
    """Separable Gaussian blur of an [H, W, 1] image with reflect padding.

    The radius ceil(3 sigma) is capped at size - 1 so that reflection stays defined.
    """
    shape = tf.shape(image)
    radius = tf.cast(tf.math.ceil(3.0 * sigma), tf.int32)
    radius = tf.clip_by_value(radius, 1, tf.minimum(shape[0], shape[1]) - 1)
    x = tf.cast(tf.range(-radius, radius + 1), tf.float32)
    kernel = tf.exp(-0.5 * tf.square(x / sigma))
    kernel = kernel / tf.reduce_sum(kernel)
    padded = tf.pad(image[tf.newaxis], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    out = tf.nn.conv2d(padded, tf.reshape(kernel, [-1, 1, 1, 1]), strides=1, padding="VALID")
    out = tf.nn.conv2d(out, tf.reshape(kernel, [1, -1, 1, 1]), strides=1, padding="VALID")
    return out[0]


def compress_contrast(image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """m + (x - m) / factor with m the image mean."""
    mean = tf.reduce_mean(image)
    return mean + (image - mean) / factor


def enhance_degradation(image: tf.Tensor, params: dict[str, tf.Tensor]) -> tf.Tensor:
    """Down-sample, blur, compress contrast, up-sample back (see module docstring)."""
    size = tf.shape(image)[:2]
    small = tf.maximum(tf.cast(tf.round(tf.cast(size, tf.float32) / params["scale"]), tf.int32), 1)
    low = tf.image.resize(image, small, method="bicubic", antialias=True)
    low = gaussian_blur(low, params["blur_sigma"])
    low = compress_contrast(low, params["contrast"])
    up = tf.image.resize(low, size, method="bicubic")
    return tf.clip_by_value(up, 0.0, 1.0)


def add_noise(image: tf.Tensor, params: dict[str, tf.Tensor]) -> tf.Tensor:
    noise = tf.random.stateless_normal(tf.shape(image), seed=params["noise_seed"])
    return image + (params["noise_sigma"] / 255.0) * noise


def degrade(config: SynthesisConfig, clean: tf.Tensor, seed) -> tf.Tensor:
    """The stage's degradation of one clean [H, W, 1] crop, deterministic in `seed`."""
    params = sample_params(config, seed)
    x = clean
    if config.degrade:
        x = enhance_degradation(x, params)
    if config.noise:
        x = add_noise(x, params)
    return x


def area_probabilities(images: Sequence[np.ndarray]) -> np.ndarray:
    """Probability of drawing each image: proportional to its area (uniform over pixels)."""
    areas = np.array([im.size for im in images], dtype=np.float64)
    return areas / areas.sum()


def random_crop(
    images: Sequence[np.ndarray],
    crop_size: int,
    seed: int,
    index: int,
    augment: bool,
    probabilities: np.ndarray | None = None,
) -> np.ndarray:
    """A float32 [c, c, 1] crop on [0, 1] chosen by [seed, index]; the image is drawn with
    `probabilities` (default `area_probabilities(images)`; pass them precomputed in loops)."""
    rng = np.random.default_rng([seed, index])
    if probabilities is None:
        probabilities = area_probabilities(images)
    image = images[rng.choice(len(images), p=probabilities)]
    top = rng.integers(0, image.shape[0] - crop_size + 1)
    left = rng.integers(0, image.shape[1] - crop_size + 1)
    crop = image[top : top + crop_size, left : left + crop_size]
    if augment:
        crop = np.rot90(crop, k=rng.integers(4))
        if rng.integers(2):
            crop = crop[:, ::-1]
    return np.ascontiguousarray(as_unit(crop))[..., np.newaxis]


def example_indices(start_step: int, global_batch: int, pipeline_id: int = 0, num_pipelines: int = 1) -> Iterator[int]:
    """Example indices an input pipeline serves, in order, from `start_step` on.

    Global step t uses examples t*B .. t*B+B-1; pipeline p serves the p-th contiguous
    B/num_pipelines of them, which its local replicas split in order.
    """
    if global_batch % num_pipelines:
        raise ValueError(f"global batch {global_batch} is not divisible by {num_pipelines} input pipelines")
    share = global_batch // num_pipelines
    step = start_step
    while True:
        base = step * global_batch + pipeline_id * share
        yield from range(base, base + share)
        step += 1


def ct_degrade(config: SynthesisConfig, clean: tf.Tensor, low_dose: tf.Tensor, seed) -> tf.Tensor:
    """The stage's degradation of a CT target with CT noise (`low_dose` - `clean`) in place of
    white noise (see the module docstring)."""
    if not config.degrade:
        return low_dose
    x = enhance_degradation(clean, sample_params(config, seed))
    if config.noise:
        share = 1.0
    elif config.ct_residual_noise > 0:
        share = _uniform(tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), 7), 0.0,
                         config.ct_residual_noise)
    else:
        return x
    return tf.clip_by_value(x + share * (low_dose - clean), 0.0, 1.0)


def is_ct_example(seed: int, index: int, ct_fraction: float) -> bool:
    """Whether example `index` is a CT crop: a draw of its own, so the others keep their crops."""
    return bool(np.random.default_rng([seed, index, 2]).uniform() < ct_fraction)


def pair_dataset(
    images: Sequence[np.ndarray],
    config: SynthesisConfig,
    seed: int,
    indices: Iterator[int] | Sequence[int],
    probabilities: np.ndarray | None = None,
    ct: CTPairs | None = None,
    ct_fraction: float = 0.0,
) -> tf.data.Dataset:
    """Unbatched (degraded, clean) pairs for the given example indices; images are drawn with
    `probabilities` (default: by area), a share `ct_fraction` of examples from `ct`."""
    c = config.crop_size
    if probabilities is None:
        probabilities = area_probabilities(images)
    blank = np.zeros([c, c, 1], np.float32)

    def crops():
        for index in indices:
            if ct is not None and is_ct_example(seed, index, ct_fraction):
                low_dose, clean = ct.crop(c, seed, index, config.augment)
                yield index, clean, low_dose, True
            else:
                yield index, random_crop(images, c, seed, index, config.augment, probabilities), blank, False

    image_spec = tf.TensorSpec([c, c, 1], tf.float32)
    ds = tf.data.Dataset.from_generator(
        crops, output_signature=(tf.TensorSpec([], tf.int64), image_spec, image_spec, tf.TensorSpec([], tf.bool)),
    )

    def synthesise(index, clean, low_dose, is_ct):
        example_seed = tf.stack([tf.constant(seed, tf.int64), index])
        natural = degrade(config, clean, example_seed)
        if ct is None:
            return natural, clean
        return tf.where(is_ct, ct_degrade(config, clean, low_dose, example_seed), natural), clean

    return ds.map(synthesise, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def training_dataset(
    images: Sequence[np.ndarray],
    config: SynthesisConfig,
    seed: int,
    global_batch: int,
    start_step: int = 0,
    input_context: tf.distribute.InputContext | None = None,
    probabilities: np.ndarray | None = None,
    ct: CTPairs | None = None,
    ct_fraction: float = 0.0,
) -> tf.data.Dataset:
    """Endless batched pairs for one input pipeline (per-replica batches under tf.distribute);
    images drawn with `probabilities` (default: by area), a share `ct_fraction` from `ct`."""
    pipeline_id, num_pipelines, per_replica = 0, 1, global_batch
    if input_context is not None:
        pipeline_id = input_context.input_pipeline_id
        num_pipelines = input_context.num_input_pipelines
        per_replica = input_context.get_per_replica_batch_size(global_batch)
    indices = example_indices(start_step, global_batch, pipeline_id, num_pipelines)
    ds = pair_dataset(images, config, seed, indices, probabilities, ct, ct_fraction)
    return ds.batch(per_replica, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


VALIDATION_SEED_OFFSET = 1_000_003


def validation_pairs(
    images: Sequence[np.ndarray], config: SynthesisConfig, seed: int, num_pairs: int, ct: CTPairs | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A fixed set of (degraded, clean) pairs, [num_pairs, c, c, 1] each, from held-out images
    (from held-out CT slices instead when `ct` is given)."""
    config = dataclasses.replace(config, augment=False)
    ds = pair_dataset(images, config, seed + VALIDATION_SEED_OFFSET, range(num_pairs), ct=ct,
                      ct_fraction=1.0 if ct is not None else 0.0)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.stack(xs), np.stack(ys)
