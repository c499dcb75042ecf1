"""Paper-size HNN inference rate (ROIs/s) in fp32 and bf16, and its GFLOP/s as a fraction of
the fp32 and the bf16 matmul GFLOP/s measured in the same process.

The HNN of sgan_tf/segment/hnn.py with VGG16's filters (64, 128, 256, 512, 512) at its input
size (128 x 128 x 3), random weights (speed does not depend on them), forward pass to the fused
probability compiled with tf.function, at batch 1 and batch 16; the bf16 model is the same
weights built under Keras' mixed_bfloat16 policy (outputs in float32). Achieved GFLOP/s counts
the convolution FLOPs of the traced fp32 graph. `predict` adds the library path around it: 16
composites of 100 x 100 resized to 128 and the probabilities resized back
(sgan_tf/segment/hnn_train.predict).

  python benchmarks/hnn_rate.py
"""

from __future__ import annotations

from common import best_time, graph_flops, matmul_gflops, write_result

import numpy as np
import tensorflow as tf

from sgan_tf import precision
from sgan_tf.segment import hnn, hnn_train

BATCHES = (1, 16)


def main() -> None:
    references = {"fp32": matmul_gflops(), "bf16": matmul_gflops(dtype=tf.bfloat16)}
    size = hnn.INPUT_SIZE
    models = {"fp32": hnn_train.build_model(hnn.PAPER_FILTERS, size)}
    with precision.policy("mixed_bfloat16"):
        models["bf16"] = hnn_train.build_model(hnn.PAPER_FILTERS, size)
    models["bf16"].set_weights(models["fp32"].get_weights())
    result = {"input": [size, size, 3], "filters": list(hnn.PAPER_FILTERS),
              "matmul_gflops": {k: round(v, 1) for k, v in references.items()}}
    for name, model in models.items():
        forward = tf.function(lambda t, m=model: tf.sigmoid(m(t, training=False)["fused"]))
        for batch in BATCHES:
            spec = tf.TensorSpec([batch, size, size, 3], tf.float32)
            flops = graph_flops(tf.function(lambda t: tf.sigmoid(models["fp32"](t, training=False)["fused"]))
                                .get_concrete_function(spec).graph)
            x = tf.random.uniform([batch, size, size, 3], seed=batch)
            seconds = best_time(lambda: forward(x).numpy(), repeats=3, min_seconds=6.0)
            gflops = flops / seconds / 1e9
            result[f"{name}_batch_{batch}"] = {
                "gflop_per_roi": round(flops / batch / 1e9, 3), "seconds": round(seconds, 4),
                "rois_per_s": round(batch / seconds, 2), "gflops": round(gflops, 1),
                **{f"ratio_to_{k}_matmul": round(gflops / v, 3) for k, v in references.items()},
            }
        composites = np.random.default_rng(0).random((16, 100, 100, 3)).astype(np.float32)
        seconds = best_time(lambda m=model: hnn_train.predict(m, composites), repeats=3, min_seconds=6.0)
        result[f"{name}_predict_16_rois_100px"] = {"seconds": round(seconds, 4), "rois_per_s": round(16 / seconds, 2)}
    result["bf16_speedup_batch_16"] = round(result["fp32_batch_16"]["seconds"] / result["bf16_batch_16"]["seconds"], 3)
    write_result("hnn_rate", result)


if __name__ == "__main__":
    main()
