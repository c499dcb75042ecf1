"""train_main's flags and the configurations built from them, shared with pipeline_main so
the same flag files drive both (binaries that import this module accept every flag here).
Each configuration is its dataclass filled from the flags of the same names (`flags.from_flags`),
so flag defaults come from the dataclasses and the library and the flags agree."""

from __future__ import annotations

import dataclasses

from absl import flags

from sgan_tf import pretrained, training, variants
from sgan_tf.cli import flags as common
from sgan_tf.finetune import rounds as finetune
from sgan_tf.precision import PRECISIONS
from sgan_tf.segment import hnn_train
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
flags.DEFINE_string("init_model", None, "GAN/DnCNN stages: a trained run folder, or 'pretrained' (the shipped model "
                    "of the stage), whose generator a new run starts from (fine-tuning; step 0, new optimiser and D).")
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
flags.DEFINE_bool("ct_blur_signal", _D.ct_blur_signal, "--ct_dir: copies of noise-free slices are whole "
                  "reconstructions (the slice blurred by the FBP kernel), so the model also undoes that blur.")
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
flags.DEFINE_enum("strategy", _D.strategy, list(training.loop.STRATEGIES), "tf.distribute strategy.")
flags.DEFINE_integer("num_cpu_devices", _D.num_cpu_devices, "With --strategy=mirrored: N logical CPU devices.")
flags.DEFINE_enum("precision", _D.precision, list(PRECISIONS),
                  "Compute precision: float32, or mixed_bfloat16 (bf16 compute, float32 weights; CPUs with "
                  "AVX512_BF16/AMX, GPUs).")
_H = hnn_train.HNNConfig  # --stage=hnn; shared flags: data_dir (a DeepLesion root) and RunSettings' fields.
flags.DEFINE_enum("variant", _H.variant, list(variants.NAMES), "--stage=hnn: the composites it learns from.")
flags.DEFINE_integer("hnn_input_size", _H.input_size, "--stage=hnn: ROI side the HNN sees (multiple of 16).")
flags.DEFINE_list("hnn_filters", list(map(str, _H.filters)), "--stage=hnn: filters of the 5 VGG16 stages.")
flags.DEFINE_string("hnn_backbone_weights", _H.backbone_weights,
                    "--stage=hnn: 'imagenet' (Keras VGG16 download, cached), an .h5 path, or 'none'.")
common.define_window()
common.define_models("denoise", "enhance", "single", "dncnn")
common.define_max_pixels()
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
flags.DEFINE_enum("models", pretrained.PRETRAINED if all(map(pretrained.is_shipped, pretrained.NAMES)) else "train",
                  [pretrained.PRETRAINED, "train"], "pipeline_main: train every model, or evaluate the shipped "
                  "ones (the default when they all ship); train_main ignores it.")
FLAGS = flags.FLAGS
TRAIN_LISTS = {"disc_filters": 8, "scale_range": 2, "contrast_range": 2, "ct_dose_range": 2, "ct_kernel_range": 2}
HNN_FLAGS = {"input_size": "hnn_input_size", "filters": "hnn_filters", "backbone_weights": "hnn_backbone_weights"}


def config_from_flags(**overrides) -> training.TrainConfig:
    """The GAN/DnCNN TrainConfig the flags describe; keyword arguments replace fields."""
    return common.from_flags(training.TrainConfig, {"ct_dirs": "ct_dir"}, TRAIN_LISTS, **overrides)


def hnn_config_from_flags(**overrides) -> hnn_train.HNNConfig:
    """The HNNConfig the flags describe; keyword arguments replace fields."""
    return common.from_flags(hnn_train.HNNConfig, HNN_FLAGS, {"filters": 5}, **{"stage": hnn_train.STAGE, **overrides})


def finetune_config_from_flags(**overrides) -> finetune.FinetuneConfig:
    """The FinetuneConfig the flags describe: stage settings from the source runs, except the
    RunSettings flags given explicitly (on the command line or in a flag file); G1 and G2 as
    their flags say (`pretrained.resolve`: unset means the shipped ones, if they ship)."""
    run_settings = {f.name for f in dataclasses.fields(RunSettings)} - {"seed", "train_steps"}
    given = {name: FLAGS[name].value for name in run_settings if FLAGS[name].present}
    return common.from_flags(finetune.FinetuneConfig, **{
        "stage": finetune.STAGE, "stage_overrides": given,
        **{f"{n}_model": pretrained.resolve(FLAGS[f"{n}_model"].value, n) for n in finetune.STAGES}, **overrides})
