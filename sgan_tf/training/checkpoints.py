"""Loading a trained generator from a training --model_dir (config.json + ckpt-<step>)."""

from __future__ import annotations

import tensorflow as tf

from sgan_tf import models
from sgan_tf.errors import UserError
from sgan_tf.training import run_folder
from sgan_tf.training.config import CONFIG_FILE, TrainConfig, build_generator, load_saved


def list_checkpoints(model_dir: str) -> list[tuple[int, str]]:
    """(step, path) of every checkpoint kept in model_dir, by step."""
    return sorted((run_folder.checkpoint_step(p), p) for p in run_folder.checkpoints(model_dir))


def load_generator(model_dir: str, checkpoint: str | None = None) -> tuple[models.Generator | models.DnCNN, int]:
    """The generator (a DnCNN for stage dncnn) of a training run and its global step: from
    `checkpoint`, or else from the newest checkpoint that can be restored (older ones are tried
    in turn, with a warning; `load_newest_generator` also says which)."""
    if checkpoint is None:
        return load_newest_generator(model_dir)[0]
    saved = load_saved(model_dir)
    if saved is None:
        raise UserError(f"{model_dir} is not a training model_dir (no {CONFIG_FILE})")
    generator = build_generator(TrainConfig(**saved))
    generator(tf.zeros([1, 16, 16, 1]))
    step = tf.Variable(0, dtype=tf.int64)
    try:
        status = tf.train.Checkpoint(generator=generator, global_step=step).read(checkpoint)
        status.assert_existing_objects_matched().expect_partial()
    except (AssertionError, ValueError, IndexError, tf.errors.OpError) as e:
        raise UserError(f"{checkpoint} does not hold the generator described in {CONFIG_FILE}: {e}") from e
    return generator, int(step.numpy())


def load_newest_generator(model_dir: str) -> tuple[tuple[models.Generator | models.DnCNN, int], str]:
    """((generator, step), checkpoint path) of the newest checkpoint of model_dir that loads."""
    if load_saved(model_dir) is None:
        raise UserError(f"{model_dir} is not a training model_dir (no {CONFIG_FILE})")
    return run_folder.load_newest(model_dir, lambda path: load_generator(model_dir, path), "retrain it")
