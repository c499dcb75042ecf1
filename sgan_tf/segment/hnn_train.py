"""Training the HNN on GrabCut labels of a variant's composites; loading it; predicting.

Same machinery as the GANs (sgan_tf/training): a tf.distribute strategy (`make_strategy`),
the shared loop (checkpoints ckpt-<step>, TensorBoard under model_dir/logs, NonFiniteLossError
when a loss turns NaN/inf), config.json checked on resume (training/run_folder.py). The lesions
come from any source with RECIST marks and splits (sgan_tf/data/sources.py).
Optimiser: Adam (beta_1 0.9) at 1e-4 by default; HED's SGD at 1e-6 was tuned to its
unnormalised losses, ours are per-pixel means (sgan_tf/segment/hnn.py).

Validation (split 2) reports the mean per-lesion Dice of the fused output at 0.5 against the
GrabCut labels and, for lesions with ground truth, against the true masks, both at the input
size; TensorBoard also gets the validation loss and a few composites, outputs and labels.
"""

from __future__ import annotations

import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from sgan_tf import metrics, precision, scale, variants
from sgan_tf.data import ct
from sgan_tf.data.ct import WindowChoice
from sgan_tf.data.sources import CTItem, Source, open_lesion_source
from sgan_tf.enhance import Enhancer
from sgan_tf.errors import DataError, UserError
from sgan_tf.segment import HNN_THRESHOLD, grabcut, hnn, hnn_data
from sgan_tf.training import run_folder
from sgan_tf.training.loop import RunSettings, Trainer, raise_failed, start_run
from sgan_tf.training.strategy import is_chief, make_strategy

STAGE = "hnn"
# A resumed run must agree on these: the architecture, and the variant the HNN is named by.
FIXED_FIELDS = ("stage", "filters", "input_size", "variant")
# Changing these on resume is allowed, with a warning: the run then sees other examples.
DATA_FIELDS = ("data_dir", "denoise_model", "enhance_model", "single_model", "dncnn_model", "window",
               "grabcut_iterations", "seed", "batch_size")
SPLITS = {"train": 1, "val": 2}  # Train_Val_Test values; RoiSets cached as model_dir/hnn_rois_<name>.npz


@dataclasses.dataclass
class HNNConfig(RunSettings):
    """An HNN run; batch, seed, schedule, bookkeeping and distribution fields come from
    RunSettings (train_steps defaults to 20k here)."""

    model_dir: str
    data_dir: str | None
    variant: str = variants.REFERENCE
    denoise_model: str | None = None
    enhance_model: str | None = None
    single_model: str | None = None
    dncnn_model: str | None = None
    # Model.
    input_size: int = hnn.INPUT_SIZE
    filters: tuple[int, ...] = hnn.PAPER_FILTERS
    backbone_weights: str = "imagenet"
    # Data.
    window: str = ct.DEFAULT_WINDOW
    grabcut_iterations: int = grabcut.ITERATIONS
    inference_precision: str = precision.INFERENCE_DEFAULT  # of the models that make its composites
    train_steps: int = dataclasses.field(default=20_000, kw_only=True)
    stage: str = STAGE

    def validate(self) -> None:
        raise_failed(self.run_checks() + [
            (bool(self.data_dir), "--stage=hnn needs --data_dir: a DeepLesion-layout root (DL_info.csv, Images_png/)"),
            (self.variant in variants.NAMES, f"--variant={self.variant!r}: use one of {', '.join(variants.NAMES)}"),
            (self.input_size > 0 and self.input_size % 16 == 0,
             f"--hnn_input_size={self.input_size} must be a positive multiple of 16 (4 poolings)"),
            (len(self.filters) == len(hnn.STAGE_CONVS) and min(self.filters) > 0,
             f"--hnn_filters takes {len(hnn.STAGE_CONVS)} positive numbers, got {list(self.filters)}"),
            (self.grabcut_iterations > 0, "--grabcut_iterations must be positive"),
        ])
        WindowChoice.parse(self.window)

    def models(self) -> dict[str, str | None]:
        """The enhancement models by name (pretrained.NAMES), as `Enhancer.for_variant` takes them."""
        return {"denoise": self.denoise_model, "enhance": self.enhance_model, "single": self.single_model,
                "dncnn": self.dncnn_model}


def build_model(filters, input_size: int) -> hnn.HNN:
    """A built HNN (weights as initialised)."""
    model = hnn.HNN(filters, input_size, name="hnn")
    model(tf.zeros([1, input_size, input_size, 3]))
    return model


def dice_scores(prob: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-item Dice [N] of probability maps [N, S, S] at HNN_THRESHOLD against 0/1 masks."""
    return np.array([metrics.overlap(p >= HNN_THRESHOLD, t)["dice"] for p, t in zip(prob, labels)], np.float64)


class HNNTrainer(Trainer):
    """Deep-supervision training of an HNN under a tf.distribute strategy (loop: training/loop.py).

    Per-example losses are averaged over the global batch, so gradients summed across
    replicas equal the single-device gradient.
    """

    def __init__(self, config: HNNConfig, strategy: tf.distribute.Strategy, val_rois: hnn_data.RoiSet | None = None):
        self.config = config
        self.strategy = strategy
        self.val_rois = val_rois
        self.name = f"the HNN (variant {config.variant})"
        self._check_batch()
        keras.utils.set_random_seed(config.seed)
        with strategy.scope(), precision.policy(config.precision):
            self.model = build_model(config.filters, config.input_size)
            self.optimizer = keras.optimizers.Adam(config.learning_rate)
            self.optimizer.build(self.model.trainable_variables)
            self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, global_step=self.global_step)
        self._init_checkpoints(checkpoint, config.model_dir, prefix="hnn")
        self._step = tf.function(lambda iterator: self._distributed_step(self._replica_step, iterator))
        self._outputs = tf.function(lambda x: self.model(x, training=False))

    def initialise(self) -> int:
        """Restores the newest checkpoint that can be restored, or else loads the backbone
        weights; the global step."""
        step = self.restore()
        if self.restored is None:
            hnn.load_backbone_weights(self.model, self.config.backbone_weights)
        return step

    def _replica_step(self, x: tf.Tensor, y: tf.Tensor) -> dict[str, tf.Tensor]:
        average = lambda v: tf.nn.compute_average_loss(v, global_batch_size=self.config.batch_size)
        with tf.GradientTape() as tape:
            total, terms = hnn.deep_supervision_loss(self.model(x, training=True), y)
            loss = average(total)
        variables = self.model.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return {"loss": loss, **{name: average(value) for name, value in terms.items()}}

    def train_step(self, iterator, step: int) -> tuple[dict[str, float], dict[str, float]]:
        lr = self._set_learning_rate(step, self.optimizer)
        return {k: float(v) for k, v in self._step(iterator).items()}, {"learning_rate": lr}

    def validate(self, writer=None, step: int = 0, batch: int = 16) -> dict[str, float]:
        """Validation loss and Dice (module docstring); {} without validation lesions."""
        rois = self.val_rois
        if rois is None or not len(rois):
            return {}
        probs, losses = [], []
        for i in range(0, len(rois), batch):
            x = tf.constant(rois.float_images(slice(i, i + batch)))
            out = self._outputs(x)
            losses.append(hnn.deep_supervision_loss(out, rois.labels[i: i + batch])[0].numpy())
            probs.append(tf.sigmoid(out["fused"]).numpy()[..., 0])
        prob = np.concatenate(probs)
        metrics = {"loss": float(np.concatenate(losses).mean()),
                   "dice_grabcut": float(dice_scores(prob, rois.labels).mean())}
        if rois.has_truth.any():
            metrics["dice_truth"] = float(dice_scores(prob[rois.has_truth], rois.truth[rois.has_truth]).mean())
            metrics["dice_grabcut_vs_truth"] = float(
                dice_scores(rois.labels[rois.has_truth].astype(np.float32), rois.truth[rois.has_truth]).mean())
        if writer is not None:
            k = min(4, len(rois))
            with writer.as_default(step=step):
                for name, value in metrics.items():
                    tf.summary.scalar(f"validation/{name}", value)
                tf.summary.image("validation/composite", rois.float_images(slice(k)), max_outputs=k)
                tf.summary.image("validation/fused", prob[:k, ..., None], max_outputs=k)
                tf.summary.image("validation/grabcut", rois.labels[:k, ..., None].astype(np.float32), max_outputs=k)
                if rois.has_truth[:k].any():
                    tf.summary.image("validation/truth", rois.truth[:k, ..., None].astype(np.float32), max_outputs=k)
            writer.flush()
        return metrics

    def format_validation(self, metrics: dict[str, float]) -> str:
        return super().format_validation(metrics) or "(no validation lesions)"

    def fit(self, train_rois: hnn_data.RoiSet, val_rois: hnn_data.RoiSet, start: int) -> dict:
        """Trains from global step `start` up to `train_steps`, validating on `val_rois`."""
        cfg = self.config
        self.val_rois = val_rois
        return self.run(start, lambda ctx: hnn_data.training_dataset(train_rois, cfg.seed, cfg.batch_size, start, ctx))


def load_rois(config: HNNConfig, source: Source, enhancer: Enhancer, name: str, chief: bool) -> hnn_data.RoiSet:
    """The RoiSet of split `name` (SPLITS) from model_dir's cache, else built (and cached by the chief)."""
    items: list[CTItem] = source.lesions([SPLITS[name]])
    window = WindowChoice.parse(config.window)
    key = hnn_data.cache_key(source.path, items, enhancer, config.input_size, window, config.grabcut_iterations)
    path = os.path.join(config.model_dir, f"hnn_rois_{name}.npz")
    rois = hnn_data.load_cached(path, key)
    if rois is not None:
        logging.info("Loaded %d %s ROIs from %s", len(rois), name, path)
        return rois
    start = time.perf_counter()
    rois, problems = hnn_data.build_roi_set(items, enhancer, config.input_size, window, config.grabcut_iterations)
    for problem in problems:
        logging.warning("Left out of the %s ROIs: %s", name, problem)
    logging.info("Made %d %s ROIs (variant %s, GrabCut labels) in %.1f s; %d left out", len(rois), name,
                 enhancer.variant, time.perf_counter() - start, len(problems))
    if chief:
        hnn_data.save_cached(path, key, rois)
    return rois


def train(config: HNNConfig, restart: bool = False) -> dict:
    """Trains an HNN as configured, resuming from config.model_dir if it has checkpoints
    (`restart`: from step 0, the earlier run set aside; loop.start_run), with the folder locked."""
    config = dataclasses.replace(config, filters=tuple(int(f) for f in config.filters))
    config.validate()
    strategy = make_strategy(config.strategy, config.num_cpu_devices)
    with start_run(config.model_dir, is_chief(strategy), restart):
        return _train(config, strategy)


def _train(config: HNNConfig, strategy: tf.distribute.Strategy) -> dict:
    """The run of `train`, model_dir locked."""
    saved = run_folder.read_config(config.model_dir)
    if saved is not None:
        for change in run_folder.check_compatible(config, saved, FIXED_FIELDS, DATA_FIELDS, "an HNN"):
            logging.warning("Resuming with changed data settings (%s): examples differ from the earlier run", change)
    source = open_lesion_source(config.data_dir, "--data_dir")
    enhancer = Enhancer.for_variant(config.variant, config.models(), compute_dtype=config.inference_precision)
    trainer = HNNTrainer(config, strategy)
    start = trainer.initialise()
    if trainer.chief:
        run_folder.write_config(config.model_dir, config)
    train_rois = load_rois(config, source, enhancer, "train", trainer.chief)
    if not len(train_rois):
        raise DataError(f"{config.data_dir}: no usable lesion in the training split (Train_Val_Test = 1)")
    val_rois = load_rois(config, source, enhancer, "val", trainer.chief)
    if not len(val_rois):
        logging.warning("%s has no usable lesion in the validation split (2): no validation", config.data_dir)
    return trainer.fit(train_rois, val_rois, start)


def load_hnn(model_dir: str, checkpoint: str | None = None) -> tuple[hnn.HNN, str]:
    """The HNN of a training run and the checkpoint it came from: `checkpoint` (a name in
    model_dir or a path, `run_folder.checkpoint_path`), or else the newest one that can be
    restored (older ones are tried in turn, with a warning)."""
    saved = run_folder.read_config(model_dir) if os.path.isdir(model_dir) else None
    if saved is None or saved.get("stage") != STAGE:
        raise UserError(f"{model_dir}: not an HNN training model_dir (no {run_folder.CONFIG_FILE} with stage "
                        f"{STAGE!r})")

    def restore(path: str) -> hnn.HNN:
        model = build_model(saved["filters"], saved["input_size"])
        try:
            tf.train.Checkpoint(model=model).read(path).assert_existing_objects_matched().expect_partial()
        except (AssertionError, ValueError, IndexError, tf.errors.OpError) as e:
            raise UserError(f"{path} does not hold the HNN described in {run_folder.CONFIG_FILE}: {e}") from e
        return model

    if checkpoint is not None:
        checkpoint = run_folder.checkpoint_path(model_dir, checkpoint)
        return restore(checkpoint), checkpoint
    return run_folder.load_newest(model_dir, restore, "retrain it or give another HNN run")


def predict(model: hnn.HNN, composites: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Lesion probabilities [N, H, W] of composites [N, H, W, 3] (network scale, any size):
    resized to the HNN's input size, the fused output's sigmoid resized back, both with
    `scale.resize_image_tf` (the exported HNN runs the same ops)."""
    composites = np.asarray(composites, np.float32)
    if composites.ndim != 4 or composites.shape[-1] != 3:
        raise ValueError(f"expected composites [N, H, W, 3], got shape {composites.shape}")
    if not len(composites):
        return np.zeros(composites.shape[:3], np.float32)
    s, (h, w) = model.input_size, composites.shape[1:3]
    probs = []
    for i in range(0, len(composites), batch_size):
        x = scale.resize_image_tf(tf.constant(composites[i: i + batch_size]), s, s)
        probs.append(scale.resize_image_tf(model.probability(x), h, w))
    return tf.concat(probs, axis=0).numpy()[..., 0]
