"""What every trainer shares: run settings, checkpoints, and the step loop around a model's step.

`GANTrainer` (every GAN stage and DnCNN) and the HNN trainer subclass `Trainer`; they supply
the model-specific step and validation, and the loop does the rest the same way for both:
resume from the newest ckpt-<step> that can be restored (older ones are tried in turn, with a
warning; training/run_folder.py), TensorBoard scalars under model_dir/logs, a progress bar
(sgan_tf/progress.py) and a line with the losses and steps/s every log_every steps, validation
and checkpoints on a schedule, and a stop without saving when a loss turns NaN/inf. A run keeps its own last `keep_checkpoints` checkpoints and never deletes one
it did not write; a folder holding checkpoint files of which none can be restored is refused
(the train functions' `restart` sets them aside first, `start_run`). A checkpoint or
TensorBoard log that cannot be written stops the run with a UserError.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator

import tensorflow as tf
from absl import logging

from sgan_tf import progress
from sgan_tf.errors import NonFiniteLossError, UserError
from sgan_tf.precision import PRECISIONS
from sgan_tf.training import run_folder
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
    lr_decay_step: int = 0  # learning rate x0.1 from this global step on; 0 = never
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
            (self.lr_decay_step >= 0, "--lr_decay_step must be >= 0 (0: never)"),
            (self.checkpoint_every > 0 and self.val_every > 0 and self.log_every > 0 and self.keep_checkpoints > 0,
             "--checkpoint_every, --val_every, --log_every and --keep_checkpoints must be positive"),
            (self.strategy in STRATEGIES, f"unknown --strategy={self.strategy!r}"),
            (self.num_cpu_devices == 0 or self.strategy == "mirrored",
             "--num_cpu_devices only applies with --strategy=mirrored"),
            (self.precision in PRECISIONS, f"unknown --precision={self.precision!r}; use one of {', '.join(PRECISIONS)}"),
        ]

    def scheduled_rate(self, step: int) -> float:
        """The rate of global step `step` before the x0.1 decay: learning_rate; configs with
        phases (TrainConfig) override it."""
        return self.learning_rate

    def learning_rate_at(self, step: int) -> float:
        """The rate of global step `step` (0-based): `scheduled_rate`, x0.1 from lr_decay_step on."""
        decayed = self.lr_decay_step and step >= self.lr_decay_step
        return self.scheduled_rate(step) * (0.1 if decayed else 1.0)


@contextlib.contextmanager
def start_run(model_dir: str, chief: bool, restart: bool) -> Iterator[None]:
    """The block of a training run: model_dir locked (run_folder.locked); with `restart` the
    earlier run's checkpoints, logs and config.json set aside first, so it starts from step 0."""
    with run_folder.locked(model_dir, chief):
        if restart and chief and (aside := run_folder.set_aside(model_dir, also=(run_folder.CONFIG_FILE,))):
            logging.warning("--restart: training from step 0; the earlier run's checkpoints, logs and %s are in %s",
                            run_folder.CONFIG_FILE, aside)
        yield


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
    _current_lr: float | None = None  # host copy; reading a mirrored Keras variable as float fails

    def _check_batch(self) -> None:
        """UserError unless the global batch splits evenly over the strategy's replicas."""
        replicas = self.strategy.num_replicas_in_sync
        if self.config.batch_size % replicas:
            raise UserError(f"--batch_size={self.config.batch_size} is not divisible by {replicas} replicas")

    def _set_learning_rate(self, step: int, *optimizers) -> float:
        """Gives the optimizers (None: skipped) the config's rate of global step `step`; the rate."""
        lr = self.config.learning_rate_at(step)
        if lr != self._current_lr:
            for opt in filter(None, optimizers):
                opt.learning_rate.assign(lr)
            self._current_lr = lr
        return lr

    def _distributed_step(self, replica_step: Callable, iterator, *args) -> dict[str, tf.Tensor]:
        """`replica_step(x, y, *args)` on each replica's part of the next global batch, its
        metrics summed over replicas (each replica averages over the global batch)."""
        x, y = next(iterator)
        per_replica = self.strategy.run(replica_step, args=(x, y, *args))
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in per_replica.items()}

    def _init_checkpoints(self, checkpoint: tf.train.Checkpoint, model_dir: str, prefix: str) -> None:
        self.model_dir = model_dir
        self.chief = is_chief(self.strategy)
        self.checkpoint = checkpoint
        self.restored: str | None = None  # the checkpoint `restore` resumed from
        self._write_dir = model_dir if self.chief else tempfile.mkdtemp(prefix=f"{prefix}_{worker_id(self.strategy)}_")
        self._written: list[str] = []  # this run's checkpoints, oldest first: the only ones it deletes

    def _restore_from(self, path: str) -> None:
        """Every object of the run from `path`; expect_partial: checkpoints written by
        tf.train.CheckpointManager (before run_folder) also hold its save counter."""
        self.checkpoint.read(path).assert_existing_objects_matched().expect_partial()

    def restore(self) -> int:
        """Restores model_dir's newest checkpoint that can be restored (module docstring); returns
        the global step (0 without checkpoints)."""
        found = run_folder.restore_newest(
            self.model_dir, self._restore_from,
            "use a new --model_dir, the model flags it was trained with, or --restart to train from step 0 "
            "(the checkpoints are kept in a folder of their own)")
        if found is None:
            if files := run_folder.leftovers(self.model_dir):
                raise UserError(f"--model_dir={self.model_dir} holds checkpoint files ({', '.join(files[:4])}) but no "
                                "checkpoint index (ckpt-<step>.index) to resume from; pass --restart to train from "
                                "step 0 (they are kept in a folder of their own)")
            return int(self.global_step.numpy())
        self.restored = found[1]
        if os.path.normpath(self.restored) != os.path.normpath(named := self._state_latest()):
            logging.warning("Resuming from %s, the newest checkpoint that can be restored (the %s file named %s)",
                            self.restored, run_folder.STATE_FILE, named)
        logging.info("Resumed from %s at global step %d", self.restored, int(self.global_step.numpy()))
        return int(self.global_step.numpy())

    def _state_latest(self) -> str:
        try:
            return tf.train.latest_checkpoint(self.model_dir) or "none"
        except (ValueError, tf.errors.OpError) as e:  # an empty or unreadable state file
            return f"none ({type(e).__name__})"

    def save(self) -> str:
        """Writes ckpt-<global step>; the chief then deletes its own checkpoints beyond
        keep_checkpoints and rewrites the state file. UserError if it cannot be written."""
        path = os.path.join(self._write_dir, f"{run_folder.PREFIX}-{int(self.global_step.numpy())}")
        try:
            self.checkpoint.write(path)
        except (tf.errors.OpError, OSError) as e:
            raise UserError(f"could not write checkpoint {path}: {run_folder.brief(e)}; training "
                            f"stopped (last checkpoint: {self._last_checkpoint()})") from e
        if not self.chief:
            shutil.rmtree(self._write_dir, ignore_errors=True)
            os.makedirs(self._write_dir, exist_ok=True)
            return path
        if path in self._written:
            self._written.remove(path)
        self._written.append(path)
        while len(self._written) > self.config.keep_checkpoints:
            run_folder.delete_checkpoint(self._written.pop(0))
        run_folder.write_state(self.model_dir, path)
        return path

    def _last_checkpoint(self) -> str:
        found = run_folder.checkpoints(self.model_dir)
        return found[0] if found else "none (no checkpoint was saved yet)"

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

    def run(self, start: int, dataset_fn: Callable[[tf.distribute.InputContext], tf.data.Dataset],
            validate_first: bool = False) -> dict:
        """Trains from global step `start` to train_steps on batches of `dataset_fn`;
        `validate_first` validates the model as it starts (a run started from a trained model:
        the figure its training is measured against)."""
        cfg = self.config
        if start >= cfg.train_steps:
            logging.info("Already at step %d >= --train_steps=%d; nothing to train.", start, cfg.train_steps)
            return {"global_step": start, "validation": self.validate(None, start), "metrics": {}}
        writer = TensorBoardLogs(os.path.join(self._write_dir, run_folder.LOGS)) if self.chief else None
        logging.info("Training %s from step %d to %d on %d replica(s); checkpoints: %s/ckpt-<step>; "
                     "TensorBoard: tensorboard --logdir %s", self.name, start, cfg.train_steps,
                     self.strategy.num_replicas_in_sync, self.model_dir, os.path.join(self.model_dir, "logs"))
        metrics, val, last_saved = {}, {}, start
        if validate_first:
            val = self.validate(writer, start)
            logging.info("step %d validation (the model it starts from)  %s", start, self.format_validation(val))
        iterator = iter(self.strategy.distribute_datasets_from_function(dataset_fn))
        tick, tick_step = time.perf_counter(), start
        bar = progress.Progress(cfg.train_steps, self.name, unit="step", initial=start) if self.chief else None
        for step in range(start, cfg.train_steps):
            metrics, extras = self.train_step(iterator, step)
            if bad := [k for k, v in metrics.items() if not math.isfinite(v)]:
                raise NonFiniteLossError(
                    f"non-finite {', '.join(bad)} at step {step + 1} ({metrics}); training stopped, "
                    f"last good checkpoint kept: {self._last_checkpoint()}")
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
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
        if last_saved != cfg.train_steps:
            logging.info("Saved %s", self.save())
        if writer is not None:
            writer.close()
        return {"global_step": cfg.train_steps, "validation": val, "metrics": metrics}


class TensorBoardLogs:
    """A tf.summary file writer (the same `as_default`, `flush`, `close`) whose failures to
    write, such as a full disk, are UserErrors naming the folder."""

    def __init__(self, folder: str):
        self.folder = folder
        with self._errors():
            self._writer = tf.summary.create_file_writer(folder)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (tf.errors.OpError, OSError) as e:
            raise UserError(f"cannot write TensorBoard logs to {self.folder}: {run_folder.brief(e)}") from e

    @contextlib.contextmanager
    def as_default(self, step: int) -> Iterator[None]:
        with self._errors(), self._writer.as_default(step=step):
            yield

    def flush(self) -> None:
        with self._errors():
            self._writer.flush()

    def close(self) -> None:
        with self._errors():
            self._writer.close()
