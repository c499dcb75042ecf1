"""Training configuration: one dataclass for every GAN stage; stages differ only in values.

The `dncnn` stage trains the DnCNN baseline on the denoise stage's pairs: `num_blocks` is its
depth in conv layers, `global_residual` its residual learning, and every step is an MSE step
(no discriminator; `pretrain_steps` is set to `train_steps`).
"""

from __future__ import annotations

import dataclasses
import math

from sgan_tf import models, pretrained
from sgan_tf.data.ct_pairs import CTPairConfig
from sgan_tf.data.synthesis import STAGE_DEGRADATIONS, SynthesisConfig
from sgan_tf.errors import UserError
from sgan_tf.training.loop import RunSettings, raise_failed

GAN_STAGES = tuple(STAGE_DEGRADATIONS)

# Paper values that depend on the stage; a config field left at None takes these.
STAGE_DEFAULTS = {
    "denoise": {"num_blocks": 9, "crop_size": 32},
    "enhance": {"num_blocks": 16, "crop_size": 128},
    "single": {"num_blocks": 16, "crop_size": 128},
    "dncnn": {"num_blocks": 17, "crop_size": 40},  # DnCNN paper: 17 layers, 40x40 patches
}

PRETRAIN_SCHEDULES = ("constant", "cosine")

# Stages trained on the content MSE alone, without a discriminator.
MSE_ONLY_STAGES = ("dncnn",)


def has_discriminator(stage: str) -> bool:
    return stage not in MSE_ONLY_STAGES

# Fields that fix the generator; a run initialised from another (init_model) must agree with it.
GENERATOR_FIELDS = ("num_blocks", "filters", "global_residual")

# Fields that fix the network architecture; a resumed run must agree with the saved ones.
ARCHITECTURE_FIELDS = ("stage", *GENERATOR_FIELDS, "crop_size", "disc_filters", "disc_dense_units")


@dataclasses.dataclass
class TrainConfig(RunSettings):
    """A GAN (or DnCNN) stage; batch, seed, schedule, bookkeeping and distribution fields come
    from RunSettings."""

    stage: str
    model_dir: str
    data_dir: str | None = None
    val_dir: str | None = None
    # A trained run folder (or "pretrained": the shipped model of the stage) whose generator a new
    # run starts from: transfer learning, e.g. the shipped G1 fine-tuned on a site's own CT. Only a
    # run without checkpoints is initialised; the step, the optimiser and D start afresh.
    init_model: str | None = None
    # Model.
    num_blocks: int | None = None
    filters: int = 64
    global_residual: bool = True
    disc_filters: tuple[int, ...] = (64, 64, 128, 128, 256, 256, 512, 512)
    disc_dense_units: int = 1024
    # Data.
    crop_size: int | None = None
    sigma_max: float = 50.0
    scale_range: tuple[float, float] = (1.0, 4.0)
    blur_max: float = 3.0
    contrast_range: tuple[float, float] = (1.0, 3.0)
    num_val_pairs: int = 16
    # CT pairs (data/ct_pairs.py), mixed in only when ct_dirs is given; defaults from CTPairConfig.
    ct_dirs: tuple[str, ...] = ()
    ct_fraction: float = 0.5
    ct_dose_range: tuple[float, float] = CTPairConfig.dose_range
    ct_photons: float = CTPairConfig.photons
    ct_source_photons: float = CTPairConfig.source_photons
    ct_electronic_noise: float = CTPairConfig.electronic_noise
    ct_kernel_range: tuple[float, float] = CTPairConfig.kernel_range
    ct_copies: int = CTPairConfig.copies
    ct_blur_signal: bool = CTPairConfig.blur_signal
    ct_cache_dir: str | None = None  # default: ct_pairs.default_cache_dir()
    ct_residual_noise: float = 0.0  # enhance stage: share of CT noise left in G2's inputs (synthesis)
    # Optimisation.
    pretrain_steps: int = 0
    beta_1: float = 0.5
    # The MSE phase's schedule (see learning_rate_at): its peak rate (0: learning_rate), a linear
    # warm-up, and "constant" or "cosine" (from the peak down to learning_rate at pretrain_steps).
    pretrain_learning_rate: float = 0.0
    pretrain_schedule: str = "constant"
    warmup_steps: int = 0
    clip_norm: float = 0.0  # global gradient-norm clipping of every G and D update; 0: off
    d_steps: int = 1
    g_steps: int = 1
    mse_weight: float = 1.0
    vgg_weight: float = 1e-5
    adv_weight: float = 1e-3
    vgg_weights: str = "imagenet"

    def resolved(self) -> TrainConfig:
        """A copy with stage defaults filled in, checked for consistency."""
        if self.stage not in STAGE_DEFAULTS:
            raise UserError(f"unknown stage {self.stage!r}; expected one of {', '.join(GAN_STAGES)}")
        cfg = dataclasses.replace(self)
        for name, value in STAGE_DEFAULTS[self.stage].items():
            if getattr(cfg, name) is None:
                setattr(cfg, name, value)
        for name in ("disc_filters", "scale_range", "contrast_range", "ct_dirs", "ct_dose_range", "ct_kernel_range"):
            setattr(cfg, name, tuple(getattr(cfg, name)))
        if not has_discriminator(cfg.stage):
            cfg.pretrain_steps = cfg.train_steps
        cfg.init_model = pretrained.resolve(cfg.init_model, cfg.stage) if cfg.init_model else None
        cfg.validate()
        return cfg

    def validate(self) -> None:
        raise_failed(self.run_checks() + [
            (0 <= self.pretrain_steps <= self.train_steps, "--pretrain_steps must lie in [0, --train_steps]"),
            (self.num_blocks > 0 and self.filters > 0, "--num_blocks and --filters must be positive"),
            (self.crop_size > 0, "--crop_size must be positive"),
            (self.crop_size % (2 ** 4) == 0 or not has_discriminator(self.stage),
             f"--crop_size={self.crop_size} must be a multiple of 16 (the discriminator's stride)"),
            (self.d_steps >= 1 and self.g_steps >= 1, "--d_steps and --g_steps must be at least 1"),
            (0 < self.sigma_max, "--sigma_max must be positive"),
            (1.0 <= self.scale_range[0] <= self.scale_range[1], "--scale_range must be 1 <= low <= high"),
            (1.0 <= self.contrast_range[0] <= self.contrast_range[1], "--contrast_range must be 1 <= low <= high"),
            (self.blur_max > 0, "--blur_max must be positive"),
            (min(self.mse_weight, self.vgg_weight, self.adv_weight) >= 0, "loss weights must be non-negative"),
            (self.num_val_pairs > 0, "--num_val_pairs must be positive"),
            (0.0 <= self.ct_fraction <= 1.0, "--ct_fraction must lie in [0, 1]"),
            (0.0 <= self.ct_residual_noise <= 1.0, "--ct_residual_noise must lie in [0, 1]"),
            (self.pretrain_learning_rate >= 0, "--pretrain_learning_rate must be >= 0 (0: --learning_rate)"),
            (self.pretrain_schedule in PRETRAIN_SCHEDULES,
             f"--pretrain_schedule must be one of {', '.join(PRETRAIN_SCHEDULES)}"),
            (0 <= self.warmup_steps <= max(self.pretrain_steps, 0), "--warmup_steps must lie in [0, --pretrain_steps]"),
            (self.clip_norm >= 0, "--clip_norm must be >= 0 (0: off)"),
        ])
        if self.ct_dirs:
            self.ct_pairs().check()

    def ct_pairs(self) -> CTPairConfig:
        """The CT pair source's settings (meaningful when ct_dirs is given)."""
        return CTPairConfig(
            dirs=self.ct_dirs, dose_range=self.ct_dose_range, photons=self.ct_photons,
            source_photons=self.ct_source_photons, electronic_noise=self.ct_electronic_noise,
            kernel_range=self.ct_kernel_range, copies=self.ct_copies, seed=self.seed,
            blur_signal=self.ct_blur_signal,
        )

    def scheduled_rate(self, step: int) -> float:
        """In the MSE phase a linear warm-up to the peak, then the peak (constant) or a cosine
        from it down to learning_rate; afterwards learning_rate (RunSettings.learning_rate_at
        applies lr_decay_step)."""
        if step >= self.pretrain_steps:
            return self.learning_rate
        peak = self.pretrain_learning_rate or self.learning_rate
        if step < self.warmup_steps:
            return peak * (step + 1) / self.warmup_steps
        if self.pretrain_schedule == "cosine":
            progress = (step - self.warmup_steps) / max(self.pretrain_steps - self.warmup_steps, 1)
            return self.learning_rate + 0.5 * (peak - self.learning_rate) * (1.0 + math.cos(math.pi * progress))
        return peak

    def synthesis(self) -> SynthesisConfig:
        return SynthesisConfig.for_stage(
            self.stage,
            crop_size=self.crop_size,
            sigma_max=self.sigma_max,
            scale_range=self.scale_range,
            blur_max=self.blur_max,
            contrast_range=self.contrast_range,
            ct_residual_noise=self.ct_residual_noise,
        )


def build_generator(config: TrainConfig) -> models.Generator | models.DnCNN:
    """The (unbuilt) generator a resolved config describes; training and loading share it."""
    if config.stage == "dncnn":
        return models.dncnn(config.num_blocks, config.filters, residual=config.global_residual, name="dncnn")
    return models.generator(
        config.num_blocks, config.filters, global_residual=config.global_residual, name=f"{config.stage}_generator"
    )


# Fields that change which pairs a step sees; changing them on resume is allowed (e.g. a new
# data folder) but the run is then no longer the continuation of the earlier one.
DATA_FIELDS = (
    "data_dir", "seed", "batch_size", "sigma_max", "scale_range", "blur_max", "contrast_range", "ct_dirs",
    "ct_fraction", "ct_dose_range", "ct_photons", "ct_source_photons", "ct_electronic_noise", "ct_kernel_range",
    "ct_copies", "ct_blur_signal", "ct_residual_noise",
)
