"""What every trainer shares: run settings, checkpoints, and the step loop around a model's step.

`GANTrainer` (every GAN stage and DnCNN) and the HNN trainer subclass `Trainer`; they supply
the model-specific step and validation, and the loop does the rest the same way for both:
resume from ckpt-<step>, TensorBoard scalars under model_dir/logs, a progress line with
steps/s, validation and checkpoints on a schedule, and a stop without saving when a loss turns
NaN/inf.
"""

from __future__ import annotations

import abc
import dataclasses
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable

import tensorflow as tf
from absl import logging

from sgan_tf.errors import NonFiniteLossError, UserError
from sgan_tf.models.precision import PRECISIONS
from sgan_tf.training.strategy import is_chief, worker_id

STRATEGIES = ("default", "mirrored", "multi_worker")


@dataclasses.dataclass(kw_only=True)
class RunSettings:
    """Batch, seed, schedule, bookkeeping and distribution: the fields every run config has
    (and the flags train_main maps once for every stage)."""

    batch_size: int = 16  # global, over all replicas and workers
    seed: int = 0
    train_steps: int = 100_000
    learning_rate: float = 1e-4
    checkpoint_every: int = 1000
    keep_checkpoints: int = 5
    val_every: int = 500
    log_every: int = 100
    strategy: str = "default"
    num_cpu_devices: int = 0
    precision: str = "float32"  # or "mixed_bfloat16": bf16 compute, float32 weights and outputs

    def run_checks(self) -> list[tuple[bool, str]]:
        """(ok, message) pairs for the shared fields; subclasses add theirs and raise."""
        return [
            (self.batch_size > 0 and self.train_steps > 0, "--batch_size and --train_steps must be positive"),
            (self.learning_rate > 0, "--learning_rate must be positive"),
            (self.checkpoint_every > 0 and self.val_every > 0 and self.log_every > 0,
             "--checkpoint_every, --val_every and --log_every must be positive"),
            (self.strategy in STRATEGIES, f"unknown --strategy={self.strategy!r}"),
            (self.num_cpu_devices == 0 or self.strategy == "mirrored",
             "--num_cpu_devices only applies with --strategy=mirrored"),
            (self.precision in PRECISIONS, f"unknown --precision={self.precision!r}; use one of {', '.join(PRECISIONS)}"),
        ]


def raise_failed(checks: list[tuple[bool, str]]) -> None:
    for ok, message in checks:
        if not ok:
            raise UserError(message)


class Trainer(abc.ABC):
    """The loop and checkpoints of a run; subclasses build the model, then call
    `_init_checkpoints`, and implement `train_step`, `validate` and `format_validation`.

    Every worker saves (MultiWorkerMirroredStrategy needs all of them to), but only the chief
    writes to model_dir; the others write to a scratch folder they empty after each save.
    """

    config: RunSettings
    strategy: tf.distribute.Strategy
    global_step: tf.Variable
    name: str  # for log lines: "stage denoise", "the HNN (variant og)"

    def _init_checkpoints(self, checkpoint: tf.train.Checkpoint, model_dir: str, prefix: str) -> None:
        self.model_dir = model_dir
        self.chief = is_chief(self.strategy)
        self.checkpoint = checkpoint
        self._write_dir = model_dir if self.chief else tempfile.mkdtemp(prefix=f"{prefix}_{worker_id(self.strategy)}_")
        self.manager = tf.train.CheckpointManager(
            checkpoint, self._write_dir, max_to_keep=self.config.keep_checkpoints, checkpoint_name="ckpt"
        )

    def restore(self) -> int:
        """Restores model_dir's latest checkpoint, if any; returns the global step (0 if none)."""
        latest = tf.train.latest_checkpoint(self.model_dir)
        if latest:
            try:
                self.checkpoint.restore(latest).assert_existing_objects_matched()
            except (AssertionError, ValueError, tf.errors.OpError) as e:
                raise UserError(f"{latest} does not match this model ({type(e).__name__}); use a new --model_dir "
                                "or the model flags it was trained with") from e
            logging.info("Resumed from %s at global step %d", latest, int(self.global_step.numpy()))
        return int(self.global_step.numpy())

    def save(self) -> str:
        path = self.manager.save(checkpoint_number=int(self.global_step.numpy()))
        if not self.chief:
            shutil.rmtree(self._write_dir, ignore_errors=True)
            os.makedirs(self._write_dir, exist_ok=True)
        return path

    # -- subclass hooks ------------------------------------------------------------------------

    @abc.abstractmethod
    def train_step(self, iterator, step: int) -> tuple[dict[str, float], dict[str, float]]:
        """Runs global step `step` (0-based); (metrics checked for NaN/inf, extra TensorBoard scalars)."""

    @abc.abstractmethod
    def validate(self, writer, step: int) -> dict[str, float]:
        """Validation metrics, also written with images to `writer` unless it is None."""

    def format_validation(self, metrics: dict[str, float]) -> str:
        return "  ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()))

    # -- the loop --------------------------------------------------------------------------------

    def run(self, start: int, dataset_fn: Callable[[tf.distribute.InputContext], tf.data.Dataset]) -> dict:
        """Trains from global step `start` to train_steps on batches of `dataset_fn`."""
        cfg = self.config
        if start >= cfg.train_steps:
            logging.info("Already at step %d >= --train_steps=%d; nothing to train.", start, cfg.train_steps)
            return {"global_step": start, "validation": self.validate(None, start), "metrics": {}}
        writer = tf.summary.create_file_writer(os.path.join(self._write_dir, "logs")) if self.chief else None
        logging.info("Training %s from step %d to %d on %d replica(s); checkpoints: %s/ckpt-<step>; "
                     "TensorBoard: tensorboard --logdir %s", self.name, start, cfg.train_steps,
                     self.strategy.num_replicas_in_sync, self.model_dir, os.path.join(self.model_dir, "logs"))
        iterator = iter(self.strategy.distribute_datasets_from_function(dataset_fn))
        metrics, val, last_saved = {}, {}, start
        tick, tick_step = time.perf_counter(), start
        for step in range(start, cfg.train_steps):
            metrics, extras = self.train_step(iterator, step)
            if bad := [k for k, v in metrics.items() if not math.isfinite(v)]:
                kept = tf.train.latest_checkpoint(self.model_dir)
                raise NonFiniteLossError(
                    f"non-finite {', '.join(bad)} at step {step + 1} ({metrics}); training stopped, "
                    f"last good checkpoint kept: {kept or 'none (no checkpoint was saved yet)'}")
            done = step + 1
            self.global_step.assign(done)
            if writer is not None:
                with writer.as_default(step=done):
                    for name, value in {**metrics, **extras}.items():
                        tf.summary.scalar(f"train/{name}", value)
            if done % cfg.log_every == 0 or done == cfg.train_steps:
                now = time.perf_counter()
                rate = (done - tick_step) / max(now - tick, 1e-9)
                tick, tick_step = now, done
                logging.info("step %d/%d  %s  %.2f steps/s", done, cfg.train_steps,
                             "  ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())), rate)
            if done % cfg.val_every == 0 or done == cfg.train_steps:
                val = self.validate(writer, done)
                logging.info("step %d validation  %s", done, self.format_validation(val))
            if done % cfg.checkpoint_every == 0:
                logging.info("Saved %s", self.save())
                last_saved = done
        if last_saved != cfg.train_steps:
            logging.info("Saved %s", self.save())
        if writer is not None:
            writer.close()
        return {"global_step": cfg.train_steps, "validation": val, "metrics": metrics}
