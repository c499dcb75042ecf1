"""Paper-size G1 and G2 inference throughput as a fraction of fp32 matmul throughput.

Forward pass on a batch of 16 x 128 x 128 x 1, compiled with tf.function, four ways:
  keras        generator(x, training=False)
  folded       BatchNorm folded into the convolutions (sgan_tf.models.fold_generator)
  folded_bf16  the folded generator computing in bf16 (the last layer and residual in fp32)
  keras_mb8    the Keras model on two micro-batches of 8 (does cache locality help?)
and, in a child process with TF_ENABLE_ONEDNN_OPTS=0, the Keras model without oneDNN.
Achieved GFLOP/s counts the convolution FLOPs of the traced graph; the references are 2048 x
2048 fp32 and bf16 matmuls timed in the same process, and every variant is reported against
both. Speed only: the generators are untrained (their last layer starts at zero, so every
variant returns its input); bf16 against fp32 outputs of trained models on CT are measured in
benchmarks/ct_inference_precision.py.
XLA (jit_compile) is left out: slower on CPU.

  python benchmarks/generator_inference.py [--no_onednn_child]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from common import best_time, graph_flops, matmul_gflops, write_result

import tensorflow as tf

from sgan_tf import models

BATCH, SIZE = 16, 128


VARIANTS = ("keras", "folded", "folded_bf16", "keras_mb8")


def measure(variants=VARIANTS) -> dict:
    references = {"fp32": matmul_gflops(), "bf16": matmul_gflops(dtype=tf.bfloat16)}
    x = tf.random.uniform([BATCH, SIZE, SIZE, 1], seed=0)
    out = {"matmul_gflops": {k: round(v, 1) for k, v in references.items()},
           "threads_intra": tf.config.threading.get_intra_op_parallelism_threads()}
    for name, generator in (("G1", models.denoise_generator()), ("G2", models.enhance_generator())):
        generator(x[:1])
        keras_fn = tf.function(lambda t, g=generator: g(t, training=False))
        flops = graph_flops(keras_fn.get_concrete_function(tf.TensorSpec([BATCH, SIZE, SIZE, 1])).graph)
        folded = models.fold_generator(generator)
        folded_bf16 = models.fold_generator(generator, compute_dtype="bfloat16")
        calls = {
            "keras": lambda: keras_fn(x).numpy(),
            "folded": lambda: folded(x).numpy(),
            "folded_bf16": lambda: folded_bf16(x).numpy(),
            "keras_mb8": lambda: [keras_fn(x[i : i + 8]).numpy() for i in (0, 8)],
        }
        row = {"gflop_per_batch": round(flops / 1e9, 1)}
        for variant in variants:
            seconds = best_time(calls[variant], repeats=3, min_seconds=6.0)
            gflops = flops / seconds / 1e9
            row[variant] = {"seconds": round(seconds, 4), "images_per_s": round(BATCH / seconds, 2),
                            "gflops": round(gflops, 1),
                            **{f"ratio_to_{k}_matmul": round(gflops / v, 3) for k, v in references.items()}}
        out[name] = row
    return out


def main() -> None:
    if "--child" in sys.argv:
        print(json.dumps(measure(variants=("keras",))))
        return
    result = {"batch": [BATCH, SIZE, SIZE, 1], "default": measure()}
    if "--no_onednn_child" not in sys.argv:
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"}
        proc = subprocess.run([sys.executable, __file__, "--child"], env=env, capture_output=True, text=True)
        result["onednn_off"] = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else proc.stderr[-500:]
    result["summary"] = {
        g: {v: {k: result["default"][g][v][f"ratio_to_{k}_matmul"] for k in ("fp32", "bf16")} for v in VARIANTS}
        for g in ("G1", "G2")
    }
    result["bf16_speedup"] = {
        g: round(result["default"][g]["folded"]["seconds"] / result["default"][g]["folded_bf16"]["seconds"], 3)
        for g in ("G1", "G2")
    }
    write_result("generator_inference", result)


if __name__ == "__main__":
    main()
