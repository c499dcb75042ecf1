"""Transfer learning on CT in rounds (the paper's fine-tuning of the natural-image SGAN).

`train_main --stage=finetune` starts from trained G1/G2 runs (copied into model_dir/denoise and
model_dir/enhance, so the sources stay untouched) and repeats:

1. Enhance the training-split lesion ROIs (Train_Val_Test = 1) of a lesion source with
   the current SGAN (ROI = 2x the long diameter, per-lesion zoom, as everywhere).
2. Score each ROI's enhancement against its input (sgan_tf/finetune/score.py: CNR, edge
   sharpness along the RECIST axes, background noise, and an SSIM guard against artifacts).
   This is the automatic stand-in for the paper's visual check.
3. Select up to `max_selected` improved ROIs, largest gain first.
4. Fine-tune G1 and then G2 for `round_steps` each, with the usual GAN loss, on a mix of the
   natural pairs and CT pairs (`ct_fraction` of the crops). A CT pair is a crop of a selected
   enhanced ROI (the target) and that crop degraded by the stage's own synthesis (the input):
   noise for G1, down-sampling, blur and contrast compression for G2. The enhanced ROI stands
   in for the clean CT image nobody has. The pair (input ROI, G(input ROI)) is not used: at
   the start of a round it equals the generator's own output and gives no gradient.
5. Re-score with the fine-tuned SGAN. The round's gain is the change in the mean score over
   the same ROIs. Stop when it falls under `min_gain`, after `max_rounds` rounds, or when no
   ROI improved.

Everything of a round goes to model_dir/rounds.json and TensorBoard (model_dir/logs: per round,
the selected count, mean score before (input) and after (enhanced), the round gain, and images
of the best and worst selections). The selections are saved (model_dir/rounds/pool_<r>.npz) and
each stage checkpoints as it trains, so a stopped run resumes in the round it stopped in.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

from sgan_tf import outputs, progress
from sgan_tf.data import ct, synthesis
from sgan_tf.data.ct import WindowChoice
from sgan_tf.data.sources import CTItem, open_lesion_source
from sgan_tf.enhance import Enhancer
from sgan_tf.errors import DataError, UserError
from sgan_tf.finetune import score as finetune_score
from sgan_tf.segment import inputs
from sgan_tf.training import GANTrainer, TrainConfig, load_sources, run_folder
from sgan_tf.training.strategy import is_chief, make_strategy

STAGE = "finetune"
STAGES = ("denoise", "enhance")
STATE_FILE = "rounds.json"
TRAIN_SPLIT = 1
POOL_SCALE = 65535  # selected ROIs are kept as uint16 images, the synthesis' native depth
# A resumed run must agree on these.
FIXED_FIELDS = ("denoise_model", "enhance_model", "data_dir", "max_scored", "seed", "window", "ssim_min")


@dataclasses.dataclass
class FinetuneConfig:
    model_dir: str
    data_dir: str | None  # a DeepLesion-layout root
    denoise_model: str | None
    enhance_model: str | None
    natural_dir: str | None = None  # None: each stage's own training images
    max_rounds: int = 5
    round_steps: int = 1000
    max_selected: int = 1000
    min_gain: float = 0.01
    ct_fraction: float = 0.5
    max_scored: int = 0  # training ROIs scored per round; 0 = all
    ssim_min: float = finetune_score.SSIM_MIN
    window: str = ct.DEFAULT_WINDOW
    seed: int = 0
    # RunSettings fields (batch_size, learning_rate, checkpoint_every, strategy, ...) given on the
    # command line; they replace the source runs' values in both stages.
    stage_overrides: dict = dataclasses.field(default_factory=dict)
    stage: str = STAGE

    def validate(self) -> None:
        checks = [
            (bool(self.data_dir), "--stage=finetune needs --data_dir: a DeepLesion-layout root with training lesions"),
            (bool(self.denoise_model and self.enhance_model),
             "--stage=finetune needs --denoise_model and --enhance_model (trained G1 and G2 runs)"),
            (self.max_rounds > 0 and self.round_steps > 0, "--max_rounds and --round_steps must be positive"),
            (self.max_selected > 0, "--max_selected must be positive"),
            (0.0 < self.ct_fraction <= 1.0, "--ct_fraction must lie in (0, 1]"),
            (self.max_scored >= 0, "--max_scored must be >= 0 (0: all training lesions)"),
            (0.0 <= self.ssim_min <= 1.0, "--ssim_min must lie in [0, 1]"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)
        WindowChoice.parse(self.window)


@dataclasses.dataclass
class Pool:
    """A round's scored ROIs and its selection (saved as rounds/pool_<r>.npz)."""

    item_ids: np.ndarray  # [n] str, every scored ROI
    gains: np.ndarray  # [n] score(enhanced) - score(input)
    scores_after: np.ndarray  # [n] score of the enhanced ROI
    scores_before: np.ndarray  # [n] score of the input ROI
    ssim: np.ndarray  # [n] SSIM of the enhanced ROI to the input
    selected: list[np.ndarray]  # enhanced ROIs of the selection, uint16, best first
    selected_inputs: list[np.ndarray]  # their input ROIs (zoomed OG), uint16, for TensorBoard
    selected_ids: np.ndarray  # [k] str

    def save(self, path: str) -> None:
        arrays = {f"selected_{i}": a for i, a in enumerate(self.selected)}
        arrays.update({f"input_{i}": a for i, a in enumerate(self.selected_inputs)})
        outputs.write_npz(path, dict(item_ids=self.item_ids, gains=self.gains, scores_after=self.scores_after,
                                     scores_before=self.scores_before, ssim=self.ssim,
                                     selected_ids=self.selected_ids, **arrays), compressed=True)

    @classmethod
    def load(cls, path: str) -> "Pool":
        with np.load(path) as z:
            k = len(z["selected_ids"])
            return cls(z["item_ids"], z["gains"], z["scores_after"], z["scores_before"], z["ssim"],
                       [z[f"selected_{i}"] for i in range(k)], [z[f"input_{i}"] for i in range(k)], z["selected_ids"])


def _quantise(image: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(image, 0.0, 1.0) * POOL_SCALE).astype(np.uint16)


def init_stage_dir(stage: str, source: str, dest: str) -> int:
    """Copies the source `stage` run's latest checkpoint into `dest` unless it has a checkpoint
    already; returns the source checkpoint's step."""
    saved = run_folder.read_config(source) if os.path.isdir(source) else None
    found = run_folder.checkpoints(source) if saved else []
    if not found:
        raise UserError(f"--{stage}_model={source}: not a trained run (needs {run_folder.CONFIG_FILE} and a "
                        "checkpoint)")
    if saved.get("stage") != stage:
        raise UserError(f"--{stage}_model={source} holds a {saved.get('stage')!r} run, not a {stage!r} run")
    latest = found[0]
    if not run_folder.checkpoints(dest):
        os.makedirs(dest, exist_ok=True)
        run_folder.copy_checkpoint(latest, dest)
        run_folder.copy_config(source, dest)
        logging.info("Fine-tuning starts from %s (copied to %s)", latest, dest)
    return run_folder.checkpoint_step(latest)


def stage_config(config: FinetuneConfig, stage: str, source: str, train_steps: int) -> TrainConfig:
    """The TrainConfig of a stage's fine-tuning: the source run's, in model_dir/<stage>."""
    saved = run_folder.read_config(source)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in saved.items() if k in fields})
    return dataclasses.replace(cfg, model_dir=os.path.join(config.model_dir, stage), train_steps=train_steps,
                               data_dir=config.natural_dir or cfg.data_dir, **config.stage_overrides).resolved()


def _items(config: FinetuneConfig) -> list[CTItem]:
    """The training-split lesions scored each round (at most max_scored, drawn with the seed)."""
    items = open_lesion_source(config.data_dir, "--data_dir").lesions([TRAIN_SPLIT])
    if config.max_scored and len(items) > config.max_scored:
        keep = np.sort(np.random.default_rng(config.seed).choice(len(items), config.max_scored, replace=False))
        items = [items[i] for i in keep]
    if not items:
        raise DataError(f"{config.data_dir}: no lesion in the training split (Train_Val_Test = {TRAIN_SPLIT})")
    return items


def score_round(config: FinetuneConfig, items: list[CTItem], enhancer: Enhancer) -> Pool:
    """Enhances and scores the items' ROIs; selects the improved ones, best first."""
    ids, gains, after, before, ssim, kept = [], [], [], [], [], []
    rois = inputs.roi_inputs(items, enhancer, WindowChoice.parse(config.window))
    for roi in progress.track(rois, "score ROIs", total=len(items), unit="ROI"):
        if isinstance(roi, tuple):
            logging.warning("Not scored: %s: %s", roi[0].item_id, roi[1])
            continue
        og, enhanced = roi.composite[..., 0], roi.composite[..., 2]
        try:
            result = finetune_score.improvement(og, enhanced, roi.recist, config.ssim_min)
        except ValueError as e:
            logging.warning("Not scored: %s: %s", roi.item.item_id, e)
            continue
        ids.append(roi.item.item_id)
        gains.append(result.gain)
        after.append(result.after.score)
        before.append(result.before.score)
        ssim.append(result.ssim_to_input)
        if result.improved:
            kept.append((result.gain, len(ids) - 1, _quantise(enhanced), _quantise(og)))
    if not ids:
        raise DataError(f"{config.data_dir}: no training ROI could be scored")
    kept.sort(key=lambda k: -k[0])
    kept = kept[: config.max_selected]
    return Pool(np.array(ids), np.array(gains), np.array(after), np.array(before), np.array(ssim),
                [k[2] for k in kept], [k[3] for k in kept], np.array([ids[k[1]] for k in kept]))


def evaluation_record(round_index: int, pool: Pool, ssim_min: float, seconds: float) -> dict:
    """The summary of scoring the model after `round_index` fine-tuning rounds."""
    selected = np.isin(pool.item_ids, pool.selected_ids)
    better = pool.gains > 0
    return {
        "round": round_index,
        "scored": int(len(pool.item_ids)),
        "mean_score_input": float(pool.scores_before.mean()),
        "mean_score_enhanced": float(pool.scores_after.mean()),
        "mean_gain": float(pool.gains.mean()),
        "improved": int((better & (pool.ssim >= ssim_min)).sum()),
        "ssim_rejected": int((better & (pool.ssim < ssim_min)).sum()),
        "selected": int(selected.sum()),
        "mean_selected_gain": float(pool.gains[selected].mean()) if selected.any() else 0.0,
        "mean_ssim": float(pool.ssim.mean()),
        "seconds": round(seconds, 1),
    }


def mixed_dataset_fn(cfg: TrainConfig, natural: list[np.ndarray], ct: list[np.ndarray], ct_fraction: float):
    """GANTrainer's dataset_fn: the stage's synthesis over natural and CT images, CT images
    drawn with total probability `ct_fraction` (each group by area)."""
    images = list(natural) + list(ct)
    nat = synthesis.area_probabilities(natural) * (1.0 - ct_fraction) if natural else np.zeros(0)
    ctp = synthesis.area_probabilities(ct) * ct_fraction
    probabilities = np.concatenate([nat, ctp])
    probabilities /= probabilities.sum()
    synth = cfg.synthesis()
    return lambda start, ctx: synthesis.training_dataset(images, synth, cfg.seed, cfg.batch_size, start, ctx,
                                                         probabilities)


def _log_round(writer, record: dict, pool: Pool, k: int = 4) -> None:
    def pairs(index):
        tiles = []
        for i in index:
            x, y = (a.astype(np.float32) / POOL_SCALE for a in (pool.selected_inputs[i], pool.selected[i]))
            pair = np.concatenate([x, y], axis=1)[..., None]
            tiles.append(tf.image.resize(pair, [128, 256]).numpy())
        return np.stack(tiles)

    with writer.as_default(step=record["round"]):
        for name in ("mean_score_input", "mean_score_enhanced", "mean_gain", "selected", "mean_selected_gain",
                     "mean_ssim", "round_gain"):
            if name in record:
                tf.summary.scalar(f"finetune/{name}", record[name])
        n = len(pool.selected)
        if n:
            about = "selected ROIs, input (zoomed OG) | enhanced"
            tf.summary.image("finetune/best_selected", pairs(range(min(k, n))), max_outputs=k, description=about)
            tf.summary.image("finetune/worst_selected", pairs(range(max(n - k, 0), n)), max_outputs=k,
                             description=about)
    writer.flush()


class RoundState:
    """model_dir/rounds.json: the configuration, the source steps, evaluations and rounds. Only
    the chief writes it; other workers keep the same state in memory."""

    def __init__(self, config: FinetuneConfig, chief: bool = True):
        self.chief = chief
        self.path = os.path.join(config.model_dir, STATE_FILE)
        self.data = {"config": run_folder.config_dict(config), "start_steps": {}, "evaluations": [], "rounds": [],
                     "stopped": None}
        if os.path.exists(self.path):
            with open(self.path) as f:
                saved = json.load(f)
            changed = [k for k in FIXED_FIELDS if saved["config"].get(k) != self.data["config"][k]]
            if changed:
                raise UserError(f"--model_dir={config.model_dir} holds a fine-tuning run with other "
                                f"{', '.join(changed)}; use a new --model_dir or the same flags")
            saved["config"] = self.data["config"]
            self.data = saved

    def save(self) -> None:
        if not self.chief:
            return
        outputs.write_json(self.path, self.data)


def finetune(config: FinetuneConfig) -> dict:
    """Runs (or resumes) the fine-tuning rounds; returns rounds.json's content."""
    config.validate()
    open_lesion_source(config.data_dir, "--data_dir")
    strategy = make_strategy(config.stage_overrides.get("strategy", "default"),
                             config.stage_overrides.get("num_cpu_devices", 0))
    chief = is_chief(strategy)
    with run_folder.locked(config.model_dir, chief):
        return _finetune(config, strategy, chief)


def _finetune(config: FinetuneConfig, strategy: tf.distribute.Strategy, chief: bool) -> dict:
    """The rounds of `finetune`, model_dir locked."""
    os.makedirs(os.path.join(config.model_dir, "rounds"), exist_ok=True)
    if chief:
        run_folder.write_config(config.model_dir, config)
    state = RoundState(config, chief)
    sources = {"denoise": config.denoise_model, "enhance": config.enhance_model}
    for stage in STAGES:
        step = init_stage_dir(stage, sources[stage], os.path.join(config.model_dir, stage))
        state.data["start_steps"].setdefault(stage, step)
    state.data["stopped"] = None
    items = _items(config)
    writer = tf.summary.create_file_writer(os.path.join(config.model_dir, "logs")) if chief else None
    natural_sources = {}  # natural training images and validation pairs: the same every round
    evaluations, rounds = state.data["evaluations"], state.data["rounds"]
    while True:
        r = len(rounds)  # fine-tuning rounds done; the model is the one after r rounds
        pool_path = os.path.join(config.model_dir, "rounds", f"pool_{r}.npz")
        if len(evaluations) <= r or not os.path.exists(pool_path):
            start = time.perf_counter()
            enhancer = Enhancer.for_variant("sgan", {stage: os.path.join(config.model_dir, stage) for stage in STAGES})
            pool = score_round(config, items, enhancer)
            if chief:
                pool.save(pool_path)
            del evaluations[r:]
            evaluations.append(evaluation_record(r, pool, config.ssim_min, time.perf_counter() - start))
            state.save()
        else:
            pool = Pool.load(pool_path)
        ev = evaluations[r]
        logging.info("Round %d scoring: %d ROIs, mean score %.3f (input %.3f), %d improved, %d selected "
                     "(mean gain %.3f)", r, ev["scored"], ev["mean_score_enhanced"], ev["mean_score_input"],
                     ev["improved"], ev["selected"], ev["mean_selected_gain"])
        if r >= 1:
            gain = ev["mean_score_enhanced"] - evaluations[r - 1]["mean_score_enhanced"]
            rounds[r - 1]["round_gain"] = ev["round_gain"] = gain
            logging.info("Round %d gained %.4f in mean score", r, gain)
        if writer is not None:
            _log_round(writer, ev, pool)
        if r >= 1 and ev["round_gain"] < config.min_gain:
            state.data["stopped"] = f"round {r} gained {ev['round_gain']:.4f} < --min_gain={config.min_gain}"
        elif r >= config.max_rounds:
            state.data["stopped"] = f"--max_rounds={config.max_rounds} done"
        elif not pool.selected:
            state.data["stopped"] = f"no training ROI improved in round {r + 1}'s scoring"
        if state.data["stopped"]:
            state.save()
            logging.info("Fine-tuning stopped: %s", state.data["stopped"])
            return state.data
        steps = {}
        for stage in STAGES:
            target = state.data["start_steps"][stage] + (r + 1) * config.round_steps
            cfg = stage_config(config, stage, sources[stage], target)
            ct_images = [im for im in pool.selected if min(im.shape) >= cfg.crop_size]
            if not ct_images:
                raise DataError(f"round {r + 1}: no selected ROI is as large as the {stage} crop ({cfg.crop_size} px)")
            if stage not in natural_sources:
                natural_sources[stage] = load_sources(cfg)
            natural, _, val_pairs = natural_sources[stage]
            logging.info("Round %d, %s: %d CT ROIs (%.0f%% of crops) + %d natural images, to step %d", r + 1, stage,
                         len(ct_images), 100 * config.ct_fraction, len(natural), target)
            if chief:
                run_folder.write_config(cfg.model_dir, cfg)
            trainer = GANTrainer(cfg, strategy, mixed_dataset_fn(cfg, natural, ct_images, config.ct_fraction),
                                 val_pairs)
            result = trainer.fit()
            steps[stage] = {"to_step": target, "ct_rois": len(ct_images), "validation": result["validation"]}
        rounds.append({"round": r + 1, "selected": ev["selected"], "stages": steps})
        state.save()
