"""The GAN trainer shared by every stage: distributed D/G steps (the loop is training/loop.py)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from sgan_tf import losses, models
from sgan_tf.data import synthesis
from sgan_tf.data.ct_pairs import CTPairs
from sgan_tf.errors import UserError
from sgan_tf.training import config as config_lib
from sgan_tf import precision
from sgan_tf.training import loop, run_folder

DatasetFn = Callable[[int, tf.distribute.InputContext], tf.data.Dataset]
"""(start_step, input_context) -> per-replica batches of (degraded, clean) pairs."""

ValidationSets = dict[str, tuple[np.ndarray, np.ndarray]]
"""Fixed (input, target) pairs by metric prefix: "" natural images, "ct_" CT slices."""


def validation_metrics(
    generator: keras.Model, x: np.ndarray, y: np.ndarray, batch: int = 16, prefix: str = ""
) -> tuple[dict[str, float], tf.Tensor]:
    """Mean PSNR / SSIM (peak 1.0) of the clipped generator output and of the input as given
    (unclipped, the DnCNN convention: 20.17 dB at sigma 25), named with `prefix`, and the output."""
    outputs = [generator(x[i : i + batch], training=False) for i in range(0, len(x), batch)]
    out = tf.clip_by_value(tf.concat(outputs, axis=0), 0.0, 1.0)
    return {
        f"{prefix}psnr": float(tf.reduce_mean(tf.image.psnr(out, y, max_val=1.0))),
        f"{prefix}ssim": float(tf.reduce_mean(tf.image.ssim(out, y, max_val=1.0))),
        f"{prefix}input_psnr": float(tf.reduce_mean(tf.image.psnr(x, y, max_val=1.0))),
        f"{prefix}input_ssim": float(tf.reduce_mean(tf.image.ssim(x, y, max_val=1.0))),
    }, out


class GANTrainer(loop.Trainer):
    """Alternating D/G training of one stage under a tf.distribute strategy.

    Each global step takes one global batch; in the MSE pre-training phase (the first
    `pretrain_steps`) G is updated on the content MSE only, afterwards `d_steps` D updates
    then `g_steps` G updates are made on that batch. Per-example losses are averaged over the
    global batch, so gradients summed across replicas equal the single-device gradient.
    Stages without a discriminator (`dncnn`) build no D (nor VGG) and only make MSE steps.
    """

    def __init__(
        self,
        config: config_lib.TrainConfig,
        strategy: tf.distribute.Strategy,
        dataset_fn: DatasetFn,
        val_sets: ValidationSets | tuple[np.ndarray, np.ndarray],
    ):
        self.config = config
        self.strategy = strategy
        self.dataset_fn = dataset_fn
        self.val_sets = val_sets if isinstance(val_sets, dict) else {"": val_sets}
        self.name = f"stage {config.stage}"
        self._check_batch()
        c = config.crop_size
        keras.utils.set_random_seed(config.seed)  # same seed, same initial weights
        adversarial = config_lib.has_discriminator(config.stage)
        with strategy.scope(), precision.policy(config.precision):
            self.generator = config_lib.build_generator(config)
            self.generator(tf.zeros([1, c, c, 1]))
            clip = {"global_clipnorm": config.clip_norm} if config.clip_norm else {}
            self.g_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, **clip)
            self.g_optimizer.build(self.generator.trainable_variables)
            self.discriminator = self.d_optimizer = self.vgg = None
            if adversarial:
                self.discriminator = models.discriminator(c, filters=config.disc_filters, dense_units=config.disc_dense_units)
                self.discriminator(tf.zeros([1, c, c, 1]))
                self.d_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, **clip)
                self.d_optimizer.build(self.discriminator.trainable_variables)
                self.vgg = losses.VGGFeatureLoss(config.vgg_weights) if config.vgg_weight > 0 else None
            self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        parts = dict(generator=self.generator, g_optimizer=self.g_optimizer, global_step=self.global_step)
        if adversarial:
            parts.update(discriminator=self.discriminator, d_optimizer=self.d_optimizer)
        self._init_checkpoints(tf.train.Checkpoint(**parts), config.model_dir, prefix="sgan")
        self._steps = {adv: tf.function(lambda it, adv=adv: self._distributed_step(self._replica_step, it, adv))
                       for adv in (False, True)}

    # -- steps -----------------------------------------------------------------------------

    def _average(self, per_example: tf.Tensor) -> tf.Tensor:
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.config.batch_size)

    def _d_updates(self, fake: tf.Tensor, y: tf.Tensor) -> dict[str, tf.Tensor]:
        D = self.discriminator
        for _ in range(self.config.d_steps):
            with tf.GradientTape() as tape:
                real_logits = D(y, training=True)
                fake_logits = D(fake, training=True)
                d_loss = self._average(losses.discriminator_loss(real_logits, fake_logits))
            grads = tape.gradient(d_loss, D.trainable_variables)
            self.d_optimizer.apply_gradients(zip(grads, D.trainable_variables))
        return {
            "d_loss": d_loss,
            "d_real": self._average(tf.sigmoid(real_logits)[:, 0]),
            "d_fake": self._average(tf.sigmoid(fake_logits)[:, 0]),
        }

    def _replica_step(self, x: tf.Tensor, y: tf.Tensor, adversarial: bool) -> dict[str, tf.Tensor]:
        """D updates on G(x), then G updates against the updated D.

        The first G update reuses the G(x) the D updates saw (G has not changed in between,
        so this equals recomputing it, minus one forward pass and one extra update of G's BN
        statistics); the D updates run with the G tape paused.
        """
        cfg, G, D = self.config, self.generator, self.discriminator
        metrics = {}
        for i in range(cfg.g_steps):
            with tf.GradientTape() as tape:
                fake = G(x, training=True)
                if adversarial and i == 0:
                    with tape.stop_recording():
                        metrics.update(self._d_updates(tf.stop_gradient(fake), y))
                mse = losses.per_example_mse(fake, y)
                total = cfg.mse_weight * mse
                terms = {"content_mse": mse}
                if adversarial:
                    if self.vgg is not None:
                        terms["vgg_loss"] = self.vgg(fake, y)
                        total += cfg.vgg_weight * terms["vgg_loss"]
                    terms["adv_loss"] = losses.adversarial_loss(D(fake, training=True))
                    total += cfg.adv_weight * terms["adv_loss"]
                g_loss = self._average(total)
            grads = tape.gradient(g_loss, G.trainable_variables)
            self.g_optimizer.apply_gradients(zip(grads, G.trainable_variables))
        metrics["g_loss"] = g_loss
        # The replica's gradient norm before clipping, averaged over replicas by the SUM reduce.
        metrics["g_grad_norm"] = tf.linalg.global_norm(grads) / self.strategy.num_replicas_in_sync
        metrics.update({name: self._average(value) for name, value in terms.items()})
        return metrics

    def step_function(self, adversarial: bool):
        """The compiled (tf.function) global step of a phase; takes a distributed iterator."""
        return self._steps[adversarial]

    def step(self, iterator, adversarial: bool) -> dict[str, tf.Tensor]:
        """One global step on the next batch of a distributed iterator."""
        return self.step_function(adversarial)(iterator)

    # -- the loop's hooks --------------------------------------------------------------------

    def train_step(self, iterator, step: int) -> tuple[dict[str, float], dict[str, float]]:
        lr = self._set_learning_rate(step, self.g_optimizer, self.d_optimizer)
        adversarial = step >= self.config.pretrain_steps
        metrics = {k: float(v) for k, v in self.step(iterator, adversarial).items()}
        return metrics, {"learning_rate": lr, "adversarial": float(adversarial)}

    def validate(self, writer, step: int) -> dict[str, float]:
        metrics = {}
        for prefix, (x, y) in self.val_sets.items():
            values, out = validation_metrics(self.generator, x, y, prefix=prefix)
            metrics.update(values)
            if writer is not None:
                with writer.as_default(step=step):
                    k = min(4, len(x))
                    tf.summary.image(f"validation/{prefix}input", tf.clip_by_value(x[:k], 0.0, 1.0), max_outputs=k)
                    tf.summary.image(f"validation/{prefix}output", out[:k], max_outputs=k)
                    tf.summary.image(f"validation/{prefix}target", y[:k], max_outputs=k)
        if writer is not None:
            with writer.as_default(step=step):
                for name, value in metrics.items():
                    tf.summary.scalar(f"validation/{name}", value)
            writer.flush()
        return metrics

    def format_validation(self, m: dict[str, float]) -> str:
        return "  ".join(f"{p or 'natural '}psnr={m[p + 'psnr']:.3f} dB (input {m[p + 'input_psnr']:.3f})  "
                         f"ssim={m[p + 'ssim']:.4f} (input {m[p + 'input_ssim']:.4f})" for p in self.val_sets)

    def init_generator(self, source: str) -> str:
        """Loads the generator of trained run `source` (its newest checkpoint that can be read:
        a training run or a shipped model); returns that checkpoint's path. UserError when
        `source` is not a run of this generator architecture (`check_init_model`)."""
        check_init_model(dataclasses.replace(self.config, init_model=source))

        def load(path: str) -> None:
            tf.train.Checkpoint(generator=self.generator).read(path).assert_existing_objects_matched().expect_partial()

        _, path = run_folder.load_newest(source, load, "pass a run folder that holds this stage's generator")
        logging.info("Generator initialised from %s; training starts at step 0", path)
        return path

    def fit(self) -> dict:
        """Trains from the latest checkpoint up to `train_steps`; a run without checkpoints
        starts from scratch, or from `init_model`'s generator (validated at step 0)."""
        start = self.restore()
        initialised = self.restored is None and bool(self.config.init_model)
        if initialised:
            self.init_generator(self.config.init_model)
        return self.run(start, lambda ctx: self.dataset_fn(start, ctx), validate_first=initialised)


def check_init_model(config: config_lib.TrainConfig) -> None:
    """UserError unless config.init_model is a trained run of the generator `config` trains
    (its config.json says; read before any data loads)."""
    source = config.init_model
    saved = run_folder.read_config(source) if os.path.isdir(source) else None
    if saved is None:
        raise UserError(f"--init_model={source}: not a trained run (no {run_folder.CONFIG_FILE})")
    theirs = {f: saved.get(f) for f in config_lib.GENERATOR_FIELDS}
    ours = {f: getattr(config, f) for f in config_lib.GENERATOR_FIELDS}
    same_kind = config_lib.has_discriminator(saved.get("stage", "")) == config_lib.has_discriminator(config.stage)
    if theirs != ours or not same_kind:
        raise UserError(f"--init_model={source}: its {saved.get('stage')} generator ({theirs}) is not the "
                        f"{config.stage} generator this run trains ({ours})")


def build_dataset_fn(config: config_lib.TrainConfig, images, ct: CTPairs | None = None) -> DatasetFn:
    synth = config.synthesis()
    return lambda start, ctx: synthesis.training_dataset(images, synth, config.seed, config.batch_size, start, ctx,
                                                         ct=ct, ct_fraction=config.ct_fraction)
