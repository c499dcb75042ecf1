"""HNN training data: lesion ROIs of one split as composites with GrabCut labels, and tf.data.

Each lesion item of a split becomes the composite of a variant (`inputs.roi_inputs`: the paper's
ROI and per-lesion zoom) labelled by GrabCut from its RECIST marks (`grabcut.grabcut`), the
paper's weak supervision; ground-truth masks, when the source has them, are kept for validation
only. Composite and masks are resized to the HNN's input size (sgan_tf/scale.py: `resize_image`
and the one mask rule, `resize_mask`) and held in memory, composites as uint16
fixed point (`IMAGE_SCALE` steps over the window: 0.006 HU on the 400 HU soft-tissue window;
22k DeepLesion training ROIs at 128 px take 2.2 GB). A set is cached in the model_dir as an
.npz keyed by everything it depends on, so a resumed run skips the enhancement and GrabCut.

Training order is a pure function of (seed, step): example j of the stream (step s fills
j = s * B ... s * B + B - 1 for the global batch B) is item `index_shuffle(j mod N)` of epoch
j // N's permutation, under a random rotation by a multiple of 90 degrees and a random
horizontal flip drawn from (seed, j). A resumed run continues the same stream, and the
examples of a step do not depend on the number of replicas or workers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import numpy as np
import tensorflow as tf
from absl import logging

from sgan_tf import outputs, progress, scale
from sgan_tf.data.ct import DEFAULT_CHOICE, WindowChoice
from sgan_tf.data.sources import CTItem
from sgan_tf.enhance import Enhancer
from sgan_tf.segment import grabcut, inputs

_MAX_BATCHES = 2**62
IMAGE_SCALE = 65535.0  # stored composite = round(network scale x IMAGE_SCALE), uint16
# Bumped whenever a cached RoiSet's content changes for the same inputs (2: masks resized by
# scale.resize_mask, pixel-centre nearest neighbour, instead of OpenCV's INTER_NEAREST).
CACHE_VERSION = 2


@dataclasses.dataclass
class RoiSet:
    """The ROIs of one split at the HNN's input size S."""

    images: np.ndarray  # [N, S, S, 3] uint16 composites (`quantise`)
    labels: np.ndarray  # [N, S, S] uint8 0/1 GrabCut masks
    truth: np.ndarray  # [N, S, S] uint8 0/1 ground truth (zeros where not has_truth)
    has_truth: np.ndarray  # [N] bool
    item_ids: np.ndarray  # [N] str, LesionRecord.item_id

    def __len__(self) -> int:
        return len(self.item_ids)

    def float_images(self, index: slice = slice(None)) -> np.ndarray:
        """Composites [n, S, S, 3] on the network scale, float32."""
        return self.images[index].astype(np.float32) / IMAGE_SCALE


def quantise(images: np.ndarray) -> np.ndarray:
    """Network-scale images -> uint16 fixed point (clipped to [0, 1])."""
    return np.rint(np.clip(images, 0.0, 1.0) * IMAGE_SCALE).astype(np.uint16)


def build_roi_set(
    items: list[CTItem],
    enhancer: Enhancer,
    input_size: int,
    window: WindowChoice = DEFAULT_CHOICE,
    grabcut_iterations: int = grabcut.ITERATIONS,
) -> tuple[RoiSet, list[str]]:
    """The items' ROIs with GrabCut labels, and one message per lesion that failed (left out)."""
    images, labels, truth, has_truth, ids, problems = [], [], [], [], [], []
    empty = np.zeros((input_size, input_size), np.uint8)
    s = input_size
    for roi in progress.track(inputs.roi_inputs(items, enhancer, window), "HNN ROIs", total=len(items), unit="ROI"):
        if isinstance(roi, tuple):
            item, message = roi
            problems.append(f"{item.describe()}: {message}")
            continue
        label = grabcut.grabcut(roi.composite, roi.recist, grabcut_iterations)
        images.append(quantise(scale.resize_image(roi.composite, s, s)))
        labels.append(scale.resize_mask(label, s, s))
        truth.append(empty if roi.truth is None else scale.resize_mask(roi.truth, s, s))
        has_truth.append(roi.truth is not None)
        ids.append(roi.item.item_id)
    shape = (0, input_size, input_size)
    return RoiSet(
        images=np.stack(images) if images else np.zeros(shape + (3,), np.uint16),
        labels=np.stack(labels) if labels else np.zeros(shape, np.uint8),
        truth=np.stack(truth) if truth else np.zeros(shape, np.uint8),
        has_truth=np.asarray(has_truth, bool),
        item_ids=np.asarray(ids, str),
    ), problems


def cache_key(source_path: str, items: list[CTItem], enhancer: Enhancer, input_size: int,
              window: WindowChoice, grabcut_iterations: int) -> str:
    """What a cached RoiSet depends on: the source, its lesions, the variant's models (checkpoints
    included; a shipped model by name and version, not by the folder it is installed in, so the
    cache outlives a reinstall), input size, window, GrabCut iterations and `CACHE_VERSION`."""
    models = {name: {k: v for k, v in model.items() if k != "model_dir"}
              if isinstance(model, dict) and "pretrained" in model else model
              for name, model in enhancer.info.items()}
    return json.dumps({
        "version": CACHE_VERSION,
        "root": os.path.abspath(source_path),
        "items": [i.item_id for i in items],
        "variant": enhancer.variant,
        "models": models,
        "input_size": input_size,
        "window": window.spec,
        "grabcut_iterations": grabcut_iterations,
    }, sort_keys=True)


def load_cached(path: str, key: str) -> RoiSet | None:
    """The RoiSet stored at `path` if it was made with `key`, else None."""
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["key"]) != key:
                logging.info("%s was made from other data or models; rebuilding it", path)
                return None
            return RoiSet(**{field.name: f[field.name] for field in dataclasses.fields(RoiSet)})
    except (OSError, ValueError, KeyError) as e:
        logging.warning("%s is unreadable (%s); rebuilding it", path, e)
        return None


def save_cached(path: str, key: str, rois: RoiSet) -> None:
    """Writes `rois` with its key to `path` (via a temporary file, so a crash leaves no half-written cache)."""
    outputs.write_npz(path, {"key": np.asarray(key), **dataclasses.asdict(rois)})


def augment(image: tf.Tensor, label: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """One of the 8 rotations/flips of a square image [S, S, C] and its label [S, S, 1], drawn
    from a stateless `seed` [2]."""
    draw = tf.random.stateless_uniform([2], seed=seed, minval=0, maxval=8, dtype=tf.int32)
    both = tf.image.rot90(tf.concat([image, label], axis=-1), k=draw[0] % 4)
    both = tf.where(draw[1] % 2 == 1, tf.image.flip_left_right(both), both)
    return both[..., :-1], both[..., -1:]


def training_dataset(rois: RoiSet, seed: int, global_batch: int, start_step: int,
                     ctx: tf.distribute.InputContext) -> tf.data.Dataset:
    """Per-replica batches of (composite [b, S, S, 3] float32, GrabCut label [b, S, S, 1]
    float32) from global step `start_step` on (module docstring: the order)."""
    b = ctx.get_per_replica_batch_size(global_batch)
    n = len(rois)
    images = tf.convert_to_tensor(rois.images)
    labels = tf.convert_to_tensor(rois.labels)
    seed = tf.constant(seed, tf.int64)

    def example(j: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        index = tf.random.experimental.index_shuffle(j % n, seed=tf.stack([seed, j // n]), max_index=n - 1)
        image = tf.cast(tf.gather(images, index), tf.float32) / IMAGE_SCALE
        label = tf.cast(tf.gather(labels, index), tf.float32)[..., None]
        return augment(image, label, tf.stack([seed, j]))

    # Per-replica batch k holds examples k*b .. k*b+b-1; step s takes batches s*R .. s*R+R-1 for
    # R replicas in all, pipeline p (of P, each feeding R/P replicas) those with k mod P == p.
    first = start_step * global_batch // b
    batches = tf.data.Dataset.range(first, _MAX_BATCHES).shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
    examples = batches.flat_map(lambda k: tf.data.Dataset.range(k * b, (k + 1) * b))
    return (examples.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(b, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))
