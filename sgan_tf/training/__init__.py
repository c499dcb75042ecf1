"""Training: configuration, strategies, the GAN trainer and the `train` entry point."""

from __future__ import annotations

from absl import logging

from sgan_tf.data import ct_pairs, synthesis
from sgan_tf.data import images as images_lib
from sgan_tf.training import run_folder
from sgan_tf.training.config import ARCHITECTURE_FIELDS, DATA_FIELDS, TrainConfig
from sgan_tf.training.strategy import is_chief, make_strategy
from sgan_tf.training.loop import NonFiniteLossError, start_run
from sgan_tf.training.trainer import GANTrainer, build_dataset_fn, check_init_model

__all__ = ["GANTrainer", "NonFiniteLossError", "TrainConfig", "load_sources", "train"]


def load_sources(config: TrainConfig):
    """Training images, CT pairs (None without ct_dirs) and fixed validation pairs for a stage.

    Training images come from --data_dir (folders, recursive; 'skimage' or no --data_dir:
    scikit-image's bundled photographs). Validation images come from --val_dir, else every 10th file is held out.
    CT pairs come from the cache of --ct_dir (built on first use); their validation split gives
    the "ct_" validation pairs. The enhance stage takes noise-free CT slices only: its targets
    must be sharp and clean.
    """
    crop = config.crop_size
    files = images_lib.image_files(config.data_dir)
    images, kept = images_lib.load_images(files, crop)
    if config.val_dir:
        train_images = images
        val_images, _ = images_lib.load_images(images_lib.image_files(config.val_dir), crop)
    else:
        by_path = dict(zip(kept, images))
        train_files, val_files = images_lib.split_holdout(kept)
        train_images = [by_path[p] for p in train_files]
        val_images = [by_path[p] for p in val_files]
    logging.info("Data: %d training images, %d validation images (%s)", len(train_images), len(val_images),
                 config.data_dir or "scikit-image bundled photographs")
    synth = config.synthesis()
    val_sets = {"": synthesis.validation_pairs(val_images, synth, config.seed, config.num_val_pairs)}
    ct = None
    if config.ct_dirs:
        folder = ct_pairs.build_cache(config.ct_pairs(), config.ct_cache_dir)
        clean_only = config.stage == "enhance"
        ct = ct_pairs.CTPairs(folder, ct_pairs.TRAIN, clean_only=clean_only)
        ct_val = ct_pairs.CTPairs(folder, ct_pairs.VAL, clean_only=clean_only)
        val_sets["ct_"] = synthesis.validation_pairs([], synth, config.seed, config.num_val_pairs, ct=ct_val)
        logging.info("CT pairs: %d training and %d validation slices (%s), %.0f %% of training crops",
                     len(ct), len(ct_val), folder, 100 * config.ct_fraction)
    return train_images, ct, val_sets


def train(config: TrainConfig, restart: bool = False) -> dict:
    """Trains one GAN stage as configured, resuming from config.model_dir if it has checkpoints
    (`restart`: from step 0, the earlier run set aside; loop.start_run), with the folder locked."""
    config = config.resolved()
    strategy = make_strategy(config.strategy, config.num_cpu_devices)
    with start_run(config.model_dir, is_chief(strategy), restart):
        saved = run_folder.read_config(config.model_dir)
        if saved is not None:
            for change in run_folder.check_compatible(config, saved, ARCHITECTURE_FIELDS, DATA_FIELDS,
                                                      f"a {config.stage} run"):
                logging.warning("Resuming with changed data settings (%s): pairs differ from the earlier run", change)
        if config.init_model and not run_folder.checkpoints(config.model_dir):
            check_init_model(config)  # before the data: a wrong folder fails in a second
        train_images, ct, val_sets = load_sources(config)
        trainer = GANTrainer(config, strategy, build_dataset_fn(config, train_images, ct), val_sets)
        if is_chief(strategy):
            run_folder.write_config(config.model_dir, config)
        return trainer.fit()
