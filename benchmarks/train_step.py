"""Training steps of every GAN stage and DnCNN in fp32 and in mixed_bfloat16, in one run.

Each stage trains at the paper's size (or, with --sizes=shipped, at the size of its
shipped_<stage> preset, sgan_tf/presets) through GANTrainer.step on one fixed in-memory batch of 16, so
only compute is timed: an MSE step and, for the GANs, an adversarial step (D update, then G
update with MSE + VGG16 features + adversarial loss; VGG weights random, same FLOPs).
FLOPs are counted on the traced fp32 step graph. Reported per stage and phase: steps/s in
each precision, bf16 over fp32 (the speed-up), and achieved GFLOP/s over the fp32 and the bf16
2048 x 2048 matmul rates measured in the same process.

  python benchmarks/train_step.py [--stages=denoise,enhance,single,dncnn] [--sizes=paper|shipped]
"""

from __future__ import annotations

import argparse
import os
import tempfile

from common import best_time, flag_file_fields, graph_flops, matmul_gflops, write_result

import numpy as np
import tensorflow as tf

from sgan_tf import presets, training
from sgan_tf.training import GANTrainer

BATCH = 16
PRECISIONS = ("float32", "mixed_bfloat16")
ARCHITECTURE = ("num_blocks", "filters", "crop_size", "disc_dense_units")


def stage_config(stage: str, sizes: str, precision: str) -> training.TrainConfig:
    fields = {}
    if sizes == "shipped":
        raw = flag_file_fields(presets.path(f"shipped_{stage}"), ARCHITECTURE + ("disc_filters",))
        fields = {k: int(v) for k, v in raw.items() if k in ARCHITECTURE}
        if "disc_filters" in raw:
            fields["disc_filters"] = tuple(int(v) for v in raw["disc_filters"].split(","))
    return training.TrainConfig(stage=stage, model_dir=tempfile.mkdtemp(), vgg_weights="none", batch_size=BATCH,
                                precision=precision, **fields).resolved()


def make_trainer(config: training.TrainConfig) -> GANTrainer:
    rng = np.random.default_rng(0)
    c = config.crop_size
    y = rng.random((BATCH, c, c, 1), dtype=np.float32)
    x = y + rng.normal(0, 0.1, y.shape).astype(np.float32)
    dataset_fn = lambda start, ctx: tf.data.Dataset.from_tensors((x, y)).repeat()
    return GANTrainer(config, tf.distribute.get_strategy(), dataset_fn, (x[:2], y[:2]))


def measure_stage(stage: str, sizes: str, references: dict[str, float], min_seconds: float) -> dict:
    row: dict = {}
    flops: dict[str, float] = {}
    for precision in PRECISIONS:
        config = stage_config(stage, sizes, precision)
        trainer = make_trainer(config)
        row.setdefault("architecture", {k: getattr(config, k) for k in ARCHITECTURE})
        iterator = iter(trainer.strategy.distribute_datasets_from_function(lambda ctx: trainer.dataset_fn(0, ctx)))
        phases = ("pretrain", "adversarial") if training.config.has_discriminator(stage) else ("pretrain",)
        for phase in phases:
            adversarial = phase == "adversarial"
            if precision == "float32":
                flops[phase] = graph_flops(trainer.step_function(adversarial).get_concrete_function(iterator).graph)
            run = lambda: {k: v.numpy() for k, v in trainer.step(iterator, adversarial).items()}
            seconds = best_time(run, warmup=2, repeats=3, min_seconds=min_seconds)
            gflops = flops[phase] / seconds / 1e9
            row.setdefault(phase, {"step_gflop": round(flops[phase] / 1e9, 1)})[precision] = {
                "seconds_per_step": round(seconds, 4),
                "images_per_s": round(BATCH / seconds, 2),
                "ratio_to_fp32_matmul": round(gflops / references["float32"], 3),
                "ratio_to_bf16_matmul": round(gflops / references["bfloat16"], 3),
            }
    for phase in ("pretrain", "adversarial"):
        if phase in row:
            times = [row[phase][p]["seconds_per_step"] for p in PRECISIONS]
            row[phase]["bf16_speedup"] = round(times[0] / times[1], 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stages", default="denoise,enhance,single,dncnn")
    parser.add_argument("--sizes", choices=("paper", "shipped"), default="paper")
    parser.add_argument("--min_seconds", type=float, default=10.0)
    args = parser.parse_args()
    references = {"float32": matmul_gflops(), "bfloat16": matmul_gflops(dtype=tf.bfloat16)}
    result = {"batch": BATCH, "sizes": args.sizes,
              "matmul_gflops": {k: round(v, 1) for k, v in references.items()},
              "bf16_matmul_speedup": round(references["bfloat16"] / references["float32"], 3)}
    for stage in args.stages.split(","):
        result[stage] = measure_stage(stage, args.sizes, references, args.min_seconds)
    write_result(f"train_step_{args.sizes}", result)


if __name__ == "__main__":
    main()
