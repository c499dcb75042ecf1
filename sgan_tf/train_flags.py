"""train_main's flags and the configurations built from them, shared with pipeline_main so
the same flag files drive both (binaries that import this module accept every flag here)."""

from __future__ import annotations

import dataclasses

from absl import flags

from sgan_tf import finetune, limit_flags, model_flags, training  # noqa: F401 (limit_flags: --max_pixels)
from sgan_tf.errors import UserError
from sgan_tf.models.precision import PRECISIONS
from sgan_tf.segment import hnn_train, inputs
from sgan_tf.training.config import GAN_STAGES
from sgan_tf.training.loop import RunSettings

_D = training.TrainConfig  # defaults come from the dataclass, so flags and library agree

flags.DEFINE_enum("stage", None, [*GAN_STAGES, hnn_train.STAGE, finetune.STAGE],
                  "Which GAN to train, hnn (lesion segmenter), or finetune (CT fine-tuning rounds of G1 and G2).")
flags.DEFINE_string("model_dir", None, "Checkpoints (ckpt-<step>), config.json and TensorBoard logs go here.")
flags.DEFINE_boolean("restart", False, "Train from step 0 in a --model_dir that holds checkpoints; the earlier "
                     "run's checkpoints, logs and config.json are moved to --model_dir/before_restart_<time>_*/.")
flags.DEFINE_string("data_dir", None, "GAN/DnCNN stages: folders of training images, comma-separated, searched "
                    "recursively ('skimage' and the default: scikit-image's bundled photographs); --stage=hnn and "
                    "finetune: a DeepLesion-layout root.")
flags.DEFINE_string("val_dir", None, "Folder of validation images; default: every 10th training file is held out.")
flags.DEFINE_integer("num_blocks", None, "Generator residual blocks (default: 9 denoise, 16 enhance/single); "
                     "dncnn: conv layers (default 17).")
flags.DEFINE_integer("filters", _D.filters, "Generator filters.")
flags.DEFINE_boolean("global_residual", _D.global_residual, "Generator adds its output to its input.")
flags.DEFINE_list("disc_filters", list(map(str, _D.disc_filters)), "Filters of the 8 discriminator convolutions.")
flags.DEFINE_integer("disc_dense_units", _D.disc_dense_units, "Units of the discriminator's first dense layer.")
flags.DEFINE_integer("crop_size", None, "Training crop size (default: 32 denoise, 128 enhance/single, 40 dncnn).")
flags.DEFINE_integer("batch_size", _D.batch_size, "Global batch size (all replicas and workers).")
flags.DEFINE_float("sigma_max", _D.sigma_max, "Noise std drawn from (0, sigma_max], 0-255 scale.")
flags.DEFINE_list("scale_range", list(map(str, _D.scale_range)), "Down-sampling factor range [low, high].")
flags.DEFINE_float("blur_max", _D.blur_max, "Gaussian blur std drawn from (0, blur_max] low-res pixels.")
flags.DEFINE_list("contrast_range", list(map(str, _D.contrast_range)), "Contrast compression factor range.")
flags.DEFINE_integer("num_val_pairs", _D.num_val_pairs, "Fixed validation pairs (and as many CT ones with --ct_dir).")
flags.DEFINE_list("ct_dir", [], "CT mixed into the GAN/DnCNN stages' pairs: DeepLesion-layout roots (simulated sets "
                  "use their noise-free copies) and folders of DICOM files or series (sgan_tf/data/ct_pairs.py).")
flags.DEFINE_list("ct_dose_range", list(map(str, _D.ct_dose_range)),
                  "--ct_dir: low-dose copies at these fractions of a full dose (log-uniform).")
flags.DEFINE_float("ct_photons", _D.ct_photons, "--ct_dir: incident photons per ray of a full-dose scan of a "
                   "noise-free slice.")
flags.DEFINE_float("ct_source_photons", _D.ct_source_photons, "--ct_dir: incident photons per ray of real scans "
                   "(0: estimated from each slice's soft-tissue noise).")
flags.DEFINE_float("ct_electronic_noise", _D.ct_electronic_noise, "--ct_dir: electronic noise std, detected counts.")
flags.DEFINE_list("ct_kernel_range", list(map(str, _D.ct_kernel_range)),
                  "--ct_dir: FBP kernels, Hann cutoffs in multiples of Nyquist (1 smooth .. 2 sharp).")
flags.DEFINE_integer("ct_copies", _D.ct_copies, "--ct_dir: low-dose copies simulated per CT slice.")
flags.DEFINE_float("ct_residual_noise", _D.ct_residual_noise, "--ct_dir, enhance stage: G2's CT inputs keep up to "
                   "this share of the low-dose noise, so G2 learns not to amplify what G1 leaves.")
flags.DEFINE_string("ct_cache_dir", None, "--ct_dir: where simulated pairs are cached "
                    "(default $XDG_CACHE_HOME/sgan-tf/ct_pairs).")
flags.DEFINE_integer("seed", _D.seed, "Seed of the data synthesis and of the weight initialisation.")
flags.DEFINE_integer("train_steps", _D.train_steps, "Total global steps, including pre-training.")
flags.DEFINE_integer("pretrain_steps", _D.pretrain_steps, "MSE-only generator steps before the adversarial phase.")
flags.DEFINE_float("learning_rate", _D.learning_rate, "Adam learning rate of G and D.")
flags.DEFINE_float("beta_1", _D.beta_1, "Adam beta_1.")
flags.DEFINE_integer("lr_decay_step", _D.lr_decay_step, "Learning rate x0.1 from this step on (0: never).")
flags.DEFINE_float("pretrain_learning_rate", _D.pretrain_learning_rate,
                   "Peak learning rate of the MSE pre-training phase (0: --learning_rate).")
flags.DEFINE_enum("pretrain_schedule", _D.pretrain_schedule, list(training.config.PRETRAIN_SCHEDULES),
                  "MSE phase: constant peak rate, or a cosine from it down to --learning_rate at --pretrain_steps.")
flags.DEFINE_integer("warmup_steps", _D.warmup_steps, "MSE phase: linear warm-up steps to the peak rate.")
flags.DEFINE_float("clip_norm", _D.clip_norm, "Clip each G and D update's global gradient norm to this (0: off).")
flags.DEFINE_integer("d_steps", _D.d_steps, "Discriminator updates per global step.")
flags.DEFINE_integer("g_steps", _D.g_steps, "Generator updates per global step (after the D updates).")
flags.DEFINE_float("mse_weight", _D.mse_weight, "Weight of the content MSE.")
flags.DEFINE_float("vgg_weight", _D.vgg_weight, "Weight of the VGG16 feature MSE (0 skips VGG).")
flags.DEFINE_float("adv_weight", _D.adv_weight, "Weight of the adversarial loss -log D(G(x)).")
flags.DEFINE_string("vgg_weights", _D.vgg_weights, "'imagenet' (Keras download, cached), an .h5 path, or 'none'.")
flags.DEFINE_integer("checkpoint_every", _D.checkpoint_every, "Save a checkpoint every N steps (and at the end).")
flags.DEFINE_integer("keep_checkpoints", _D.keep_checkpoints, "Checkpoints kept.")
flags.DEFINE_integer("val_every", _D.val_every, "Validation PSNR/SSIM and images every N steps.")
flags.DEFINE_integer("log_every", _D.log_every, "Progress line every N steps.")
flags.DEFINE_enum("strategy", _D.strategy, ["default", "mirrored", "multi_worker"], "tf.distribute strategy.")
flags.DEFINE_integer("num_cpu_devices", _D.num_cpu_devices, "With --strategy=mirrored: N logical CPU devices.")
flags.DEFINE_enum("precision", _D.precision, list(PRECISIONS),
                  "Compute precision: float32, or mixed_bfloat16 (bf16 compute, float32 weights; CPUs with "
                  "AVX512_BF16/AMX, GPUs).")
_H = hnn_train.HNNConfig  # --stage=hnn; shared flags: data_dir (a DeepLesion root) and RunSettings' fields.
flags.DEFINE_enum("variant", _H.variant, list(inputs.VARIANTS), "--stage=hnn: the composites it learns from.")
flags.DEFINE_integer("hnn_input_size", _H.input_size, "--stage=hnn: ROI side the HNN sees (multiple of 16).")
flags.DEFINE_list("hnn_filters", list(map(str, _H.filters)), "--stage=hnn: filters of the 5 VGG16 stages.")
flags.DEFINE_string("hnn_backbone_weights", _H.backbone_weights,
                    "--stage=hnn: 'imagenet' (Keras VGG16 download, cached), an .h5 path, or 'none'.")
flags.DEFINE_string("window", _H.window, "--stage=hnn: HU window of the network scale (see enhance_main --helpfull).")
flags.DEFINE_integer("grabcut_iterations", _H.grabcut_iterations, "--stage=hnn: GrabCut iterations of the labels.")
_F = finetune.FinetuneConfig  # --stage=finetune; also --data_dir (a DeepLesion root), --denoise_model, --enhance_model
flags.DEFINE_string("natural_dir", None, "--stage=finetune: natural images mixed in (default: each stage's own).")
flags.DEFINE_integer("max_rounds", _F.max_rounds, "--stage=finetune: at most this many rounds.")
flags.DEFINE_integer("round_steps", _F.round_steps, "--stage=finetune: steps of G1 and of G2 per round.")
flags.DEFINE_integer("max_selected", _F.max_selected, "--stage=finetune: improved ROIs selected per round, at most.")
flags.DEFINE_float("min_gain", _F.min_gain, "--stage=finetune: stop when a round raises the mean score by less.")
flags.DEFINE_float("ct_fraction", _F.ct_fraction, "Share of training crops taken from CT: the --ct_dir pairs "
                   "(GAN/DnCNN stages), the selected ROIs (--stage=finetune).")
flags.DEFINE_integer("max_scored", _F.max_scored, "--stage=finetune: training ROIs scored per round (0: all).")
flags.DEFINE_float("ssim_min", _F.ssim_min, "--stage=finetune: an enhancement with lower SSIM to its input is "
                   "rejected as an artifact.")
FLAGS = flags.FLAGS


def _floats(name: str, values: list[str], length: int | None = None) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except ValueError as e:
        raise UserError(f"--{name}: {e}") from e
    if length is not None and len(out) != length:
        raise UserError(f"--{name} takes {length} comma-separated numbers, got {len(out)}")
    return out


def _run_settings() -> dict:
    """The flags of RunSettings' fields (same names), shared by every stage."""
    return {f.name: getattr(FLAGS, f.name) for f in dataclasses.fields(RunSettings)}


def config_from_flags(**overrides) -> training.TrainConfig:
    """The GAN/DnCNN TrainConfig the flags describe; keyword arguments replace fields."""
    config = training.TrainConfig(
        stage=FLAGS.stage,
        model_dir=FLAGS.model_dir,
        data_dir=FLAGS.data_dir,
        val_dir=FLAGS.val_dir,
        num_blocks=FLAGS.num_blocks,
        filters=FLAGS.filters,
        global_residual=FLAGS.global_residual,
        disc_filters=tuple(int(v) for v in _floats("disc_filters", FLAGS.disc_filters, 8)),
        disc_dense_units=FLAGS.disc_dense_units,
        crop_size=FLAGS.crop_size,
        sigma_max=FLAGS.sigma_max,
        scale_range=_floats("scale_range", FLAGS.scale_range, 2),
        blur_max=FLAGS.blur_max,
        contrast_range=_floats("contrast_range", FLAGS.contrast_range, 2),
        num_val_pairs=FLAGS.num_val_pairs,
        ct_dirs=tuple(FLAGS.ct_dir),
        ct_fraction=FLAGS.ct_fraction,
        ct_dose_range=_floats("ct_dose_range", FLAGS.ct_dose_range, 2),
        ct_photons=FLAGS.ct_photons,
        ct_source_photons=FLAGS.ct_source_photons,
        ct_electronic_noise=FLAGS.ct_electronic_noise,
        ct_kernel_range=_floats("ct_kernel_range", FLAGS.ct_kernel_range, 2),
        ct_copies=FLAGS.ct_copies,
        ct_cache_dir=FLAGS.ct_cache_dir,
        ct_residual_noise=FLAGS.ct_residual_noise,
        pretrain_steps=FLAGS.pretrain_steps,
        pretrain_learning_rate=FLAGS.pretrain_learning_rate,
        pretrain_schedule=FLAGS.pretrain_schedule,
        warmup_steps=FLAGS.warmup_steps,
        clip_norm=FLAGS.clip_norm,
        beta_1=FLAGS.beta_1,
        lr_decay_step=FLAGS.lr_decay_step,
        d_steps=FLAGS.d_steps,
        g_steps=FLAGS.g_steps,
        mse_weight=FLAGS.mse_weight,
        vgg_weight=FLAGS.vgg_weight,
        adv_weight=FLAGS.adv_weight,
        vgg_weights=FLAGS.vgg_weights,
        **_run_settings(),
    )
    return dataclasses.replace(config, **overrides)


def hnn_config_from_flags(**overrides) -> hnn_train.HNNConfig:
    """The HNNConfig the flags describe; keyword arguments replace fields."""
    dirs = model_flags.model_dirs()
    config = hnn_train.HNNConfig(
        model_dir=FLAGS.model_dir,
        data_dir=FLAGS.data_dir,
        variant=FLAGS.variant,
        denoise_model=dirs.denoise,
        enhance_model=dirs.enhance,
        single_model=dirs.single,
        dncnn_model=dirs.dncnn,
        input_size=FLAGS.hnn_input_size,
        filters=tuple(int(v) for v in _floats("hnn_filters", FLAGS.hnn_filters, 5)),
        backbone_weights=FLAGS.hnn_backbone_weights,
        window=FLAGS.window,
        grabcut_iterations=FLAGS.grabcut_iterations,
        **_run_settings(),
    )
    return dataclasses.replace(config, **overrides)


def finetune_config_from_flags(**overrides) -> finetune.FinetuneConfig:
    """The FinetuneConfig the flags describe: stage settings from the source runs, except the
    RunSettings flags given explicitly (on the command line or in a flag file)."""
    dirs = model_flags.model_dirs()
    given = {name: value for name, value in _run_settings().items() if FLAGS[name].present}
    config = finetune.FinetuneConfig(
        model_dir=FLAGS.model_dir,
        data_dir=FLAGS.data_dir,
        denoise_model=dirs.denoise,
        enhance_model=dirs.enhance,
        natural_dir=FLAGS.natural_dir,
        max_rounds=FLAGS.max_rounds,
        round_steps=FLAGS.round_steps,
        max_selected=FLAGS.max_selected,
        min_gain=FLAGS.min_gain,
        ct_fraction=FLAGS.ct_fraction,
        max_scored=FLAGS.max_scored,
        ssim_min=FLAGS.ssim_min,
        window=FLAGS.window,
        seed=FLAGS.seed,
        stage_overrides={k: v for k, v in given.items() if k not in ("seed", "train_steps")},
    )
    return dataclasses.replace(config, **overrides)
