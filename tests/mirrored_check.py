"""Run as a script by distribute_test.py (logical devices must be set before TF starts).

Trains the same tiny GAN for one MSE step and two adversarial steps on the same synthesised
batches with the default strategy and with MirroredStrategy over 2 logical CPU devices,
starting from identical weights, and prints JSON with the largest differences.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
import tensorflow as tf

from sgan_tf.training import GANTrainer
from sgan_tf.training.strategy import make_strategy
from sgan_tf.training.trainer import build_dataset_fn

from conftest import smooth_image, tiny_config


def main(model_root: str) -> None:
    mirrored = make_strategy("mirrored", num_cpu_devices=2)
    rng = np.random.default_rng(0)
    images = [smooth_image(rng, 48, 48) for _ in range(3)]
    val = (np.zeros([2, 16, 16, 1], np.float32), np.zeros([2, 16, 16, 1], np.float32))
    trainers = []
    for name, strategy in (("single", tf.distribute.get_strategy()), ("mirrored", mirrored)):
        cfg = tiny_config(os.path.join(model_root, name), train_steps=3, pretrain_steps=1, batch_size=8).resolved()
        trainers.append(GANTrainer(cfg, strategy, build_dataset_fn(cfg, images), val))
    single, multi = trainers
    for model in ("generator", "discriminator"):
        getattr(multi, model).set_weights(getattr(single, model).get_weights())
    results = [t.fit() for t in trainers]
    diffs = {}
    for model in ("generator", "discriminator"):
        for a, b in zip(getattr(single, model).weights, getattr(multi, model).weights):
            diffs[a.path] = float(np.max(np.abs(a.numpy() - b.numpy())) / (np.max(np.abs(a.numpy())) + 1e-8))
    replica_spread = 0.0
    for v in multi.generator.non_trainable_variables + multi.discriminator.non_trainable_variables:
        values = [t.numpy() for t in multi.strategy.experimental_local_results(v)]
        replica_spread = max(replica_spread, max(float(np.max(np.abs(values[0] - x))) for x in values))
    print(json.dumps({
        "replicas": multi.strategy.num_replicas_in_sync,
        "max_relative_weight_diff": max(diffs.values()),
        "worst_variable": max(diffs, key=diffs.get),
        "bn_replica_spread": replica_spread,
        "metrics": [r["metrics"] for r in results],
    }))


if __name__ == "__main__":
    main(sys.argv[1])
