"""Training: configuration, strategies, the GAN trainer and the `train` entry point."""

from __future__ import annotations

import os

from absl import logging

from sgan_tf.data import images as images_lib
from sgan_tf.data import synthesis
from sgan_tf.training.config import CONFIG_FILE, TrainConfig, check_compatible, load_saved
from sgan_tf.training.strategy import is_chief, make_strategy
from sgan_tf.training.loop import NonFiniteLossError
from sgan_tf.training.trainer import GANTrainer, build_dataset_fn

__all__ = ["GANTrainer", "NonFiniteLossError", "TrainConfig", "load_sources", "train"]


def load_sources(config: TrainConfig):
    """Training images and fixed validation pairs for a stage.

    Training images come from --data_dir (recursive) or, without it, scikit-image's bundled
    photographs. Validation images come from --val_dir, else every 10th file is held out.
    """
    crop = config.crop_size
    files = images_lib.list_image_files(config.data_dir) if config.data_dir else images_lib.skimage_files()
    images, kept = images_lib.load_images(files, crop)
    if config.val_dir:
        train_images = images
        val_images, _ = images_lib.load_images(images_lib.list_image_files(config.val_dir), crop)
    else:
        by_path = dict(zip(kept, images))
        train_files, val_files = images_lib.split_holdout(kept)
        train_images = [by_path[p] for p in train_files]
        val_images = [by_path[p] for p in val_files]
    logging.info("Data: %d training images, %d validation images (%s)", len(train_images), len(val_images),
                 config.data_dir or "scikit-image bundled photographs")
    val_pairs = synthesis.validation_pairs(val_images, config.synthesis(), config.seed, config.num_val_pairs)
    return train_images, val_pairs


def train(config: TrainConfig) -> dict:
    """Trains one GAN stage as configured, resuming from config.model_dir if it has checkpoints."""
    config = config.resolved()
    strategy = make_strategy(config.strategy, config.num_cpu_devices)
    saved = load_saved(config.model_dir)
    if saved is not None:
        for change in check_compatible(config, saved):
            logging.warning("Resuming with changed data settings (%s): pairs differ from the earlier run", change)
    train_images, val_pairs = load_sources(config)
    trainer = GANTrainer(config, strategy, build_dataset_fn(config, train_images), val_pairs)
    if is_chief(strategy):
        os.makedirs(config.model_dir, exist_ok=True)
        with open(os.path.join(config.model_dir, CONFIG_FILE), "w") as f:
            f.write(config.to_json())
    return trainer.fit()
