"""Paper-size GAN training steps: images/s and achieved GFLOP/s as a fraction of fp32 matmul.

G1/D1 on 16 x 32 x 32 crops and G2/D2 on 16 x 128 x 128 crops, each for an MSE pre-training
step and an adversarial step (D update, then G update with MSE + VGG16 features + adversarial
loss), through GANTrainer.step on one fixed in-memory batch (so only compute is timed).
FLOPs are counted on the traced step graph (forward and both backprop convolutions, dense
matmuls; VGG included), so the ratio needs no "3x forward" rule of thumb; that rule's figure
is printed beside it. VGG weights are random (--vgg_weights=none): same FLOPs as ImageNet.

  python benchmarks/train_step.py [--stages=denoise,enhance]
"""

from __future__ import annotations

import sys
import tempfile

from common import best_time, graph_flops, matmul_gflops, write_result

import numpy as np
import tensorflow as tf

from sgan_tf import training
from sgan_tf.training import GANTrainer

BATCH = 16


def make_trainer(stage: str) -> GANTrainer:
    cfg = training.TrainConfig(stage=stage, model_dir=tempfile.mkdtemp(), vgg_weights="none", batch_size=BATCH).resolved()
    rng = np.random.default_rng(0)
    c = cfg.crop_size
    y = rng.random((BATCH, c, c, 1), dtype=np.float32)
    x = y + rng.normal(0, 0.1, y.shape).astype(np.float32)
    dataset_fn = lambda start, ctx: tf.data.Dataset.from_tensors((x, y)).repeat()
    return GANTrainer(cfg, tf.distribute.get_strategy(), dataset_fn, (x[:2], y[:2]))


def measure_stage(stage: str, reference: float, min_seconds: float = 20.0, phases=("pretrain", "adversarial")) -> dict:
    trainer = make_trainer(stage)
    iterator = iter(trainer.strategy.distribute_datasets_from_function(lambda ctx: trainer.dataset_fn(0, ctx)))
    c = trainer.config.crop_size
    forward = graph_flops(
        tf.function(lambda t: trainer.generator(t, training=False))
        .get_concrete_function(tf.TensorSpec([BATCH, c, c, 1])).graph
    )
    row = {"crop": c, "num_blocks": trainer.config.num_blocks, "g_forward_gflop": round(forward / 1e9, 2)}
    for phase in phases:
        adversarial = phase == "adversarial"
        run = lambda: {k: v.numpy() for k, v in trainer.step(iterator, adversarial).items()}
        seconds = best_time(run, warmup=2, repeats=3, min_seconds=min_seconds)
        flops = graph_flops(trainer.step_function(adversarial).get_concrete_function(iterator).graph)
        row[phase] = {
            "seconds_per_step": round(seconds, 4),
            "images_per_s": round(BATCH / seconds, 2),
            "step_gflop": round(flops / 1e9, 1),
            "gflops": round(flops / seconds / 1e9, 1),
            "ratio_to_matmul": round(flops / seconds / 1e9 / reference, 3),
        }
    if "pretrain" in row:
        row["pretrain"]["ratio_3x_forward_rule"] = round(
            3 * forward / row["pretrain"]["seconds_per_step"] / 1e9 / reference, 3)
    return row


def main() -> None:
    stages = ["denoise", "enhance"]
    for arg in sys.argv[1:]:
        if arg.startswith("--stages="):
            stages = arg.split("=", 1)[1].split(",")
    reference = matmul_gflops()
    result = {"batch": BATCH, "matmul_gflops": round(reference, 1)}
    for stage in stages:
        result["G1" if stage == "denoise" else "G2" if stage == "enhance" else stage] = measure_stage(stage, reference)
    write_result("train_step", result)


if __name__ == "__main__":
    main()
