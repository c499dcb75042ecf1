"""Loading a trained generator from a training --model_dir (config.json + ckpt-<step>)."""

from __future__ import annotations

import tensorflow as tf

from sgan_tf import models
from sgan_tf.errors import UserError
from sgan_tf.training.config import CONFIG_FILE, TrainConfig, build_generator, load_saved


def list_checkpoints(model_dir: str) -> list[tuple[int, str]]:
    """(step, path) of every checkpoint kept in model_dir, by step."""
    state = tf.train.get_checkpoint_state(model_dir)
    if state is None:
        return []
    paths = list(state.all_model_checkpoint_paths)
    return sorted((int(p.rsplit("-", 1)[1]), p) for p in paths)


def load_generator(model_dir: str, checkpoint: str | None = None) -> tuple[models.Generator | models.DnCNN, int]:
    """The generator (a DnCNN for stage dncnn) of a training run and its global step; latest
    checkpoint by default."""
    saved = load_saved(model_dir)
    if saved is None:
        raise UserError(f"{model_dir} is not a training model_dir (no {CONFIG_FILE})")
    checkpoint = checkpoint or tf.train.latest_checkpoint(model_dir)
    if checkpoint is None:
        raise UserError(f"{model_dir} holds no checkpoint yet")
    generator = build_generator(TrainConfig(**saved))
    generator(tf.zeros([1, 16, 16, 1]))
    step = tf.Variable(0, dtype=tf.int64)
    status = tf.train.Checkpoint(generator=generator, global_step=step).restore(checkpoint)
    try:
        status.assert_existing_objects_matched().expect_partial()
    except AssertionError as e:
        raise UserError(f"{checkpoint} does not hold the generator described in {CONFIG_FILE}: {e}") from e
    return generator, int(step.numpy())
