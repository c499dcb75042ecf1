"""Paper-size HNN inference rate (ROIs/s) and its GFLOP/s as a fraction of fp32 matmul GFLOP/s.

The HNN of sgan_tf/segment/hnn.py with VGG16's filters (64, 128, 256, 512, 512) at its input
size (128 x 128 x 3), random weights (speed does not depend on them), forward pass to the fused
probability compiled with tf.function, at batch 1 and batch 16. Achieved GFLOP/s counts the
convolution FLOPs of the traced graph; the reference is a 2048 x 2048 fp32 matmul timed in the
same process. `predict` adds the library path around it: 16 composites of 100 x 100 resized to
128 and the probabilities resized back (sgan_tf/segment/hnn_train.predict).

  python benchmarks/hnn_rate.py
"""

from __future__ import annotations

from common import best_time, graph_flops, matmul_gflops, write_result

import numpy as np
import tensorflow as tf

from sgan_tf.segment import hnn, hnn_train

BATCHES = (1, 16)


def main() -> None:
    reference = matmul_gflops()
    size = hnn.INPUT_SIZE
    model = hnn_train.build_model(hnn.PAPER_FILTERS, size)
    forward = tf.function(lambda t: tf.sigmoid(model(t, training=False)["fused"]))
    result = {"input": [size, size, 3], "filters": list(hnn.PAPER_FILTERS), "matmul_gflops": round(reference, 1)}
    for batch in BATCHES:
        spec = tf.TensorSpec([batch, size, size, 3], tf.float32)
        flops = graph_flops(forward.get_concrete_function(spec).graph)
        x = tf.random.uniform([batch, size, size, 3], seed=batch)
        seconds = best_time(lambda: forward(x).numpy(), repeats=3, min_seconds=6.0)
        gflops = flops / seconds / 1e9
        result[f"batch_{batch}"] = {
            "gflop_per_roi": round(flops / batch / 1e9, 3), "seconds": round(seconds, 4),
            "rois_per_s": round(batch / seconds, 2), "gflops": round(gflops, 1),
            "ratio_to_matmul": round(gflops / reference, 3),
        }
    composites = np.random.default_rng(0).random((16, 100, 100, 3)).astype(np.float32)
    seconds = best_time(lambda: hnn_train.predict(model, composites), repeats=3, min_seconds=6.0)
    result["predict_16_rois_100px"] = {"seconds": round(seconds, 4), "rois_per_s": round(16 / seconds, 2)}
    write_result("hnn_rate", result)


if __name__ == "__main__":
    main()
