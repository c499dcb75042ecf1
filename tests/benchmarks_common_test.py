"""The benchmarks' FLOP counter, on graphs whose FLOPs are known by hand."""

import os
import sys

import pytest
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import common  # noqa: E402
from common import graph_flops  # noqa: E402


def conv_graph(train: bool):
    w = tf.Variable(tf.random.normal([3, 3, 4, 8]))
    v = tf.Variable(tf.random.normal([8, 5]))

    def f(x):
        with tf.GradientTape() as tape:
            h = tf.nn.conv2d(x, w, 1, "SAME")
            y = tf.reduce_sum(tf.matmul(tf.reshape(h, [-1, 8]), v))
        return tape.gradient(y, [w, v]) if train else y

    return tf.function(f).get_concrete_function(tf.TensorSpec([2, 6, 7, 4])).graph


def test_forward_conv_and_matmul():
    conv = 2 * 2 * 6 * 7 * 8 * 3 * 3 * 4
    matmul = 2 * (2 * 6 * 7) * 5 * 8
    assert graph_flops(conv_graph(train=False)) == conv + matmul


def test_backward_counts_weight_gradients_but_not_the_unused_input_gradient():
    conv = 2 * 2 * 6 * 7 * 8 * 3 * 3 * 4
    matmul = 2 * (2 * 6 * 7) * 5 * 8
    # forward conv + filter gradient; forward matmul + its two gradients (h is needed for w).
    assert graph_flops(conv_graph(train=True)) == 2 * conv + 3 * matmul


def test_dynamic_shapes_and_nested_functions_are_refused():
    w = tf.random.normal([3, 3, 1, 2])
    dynamic = tf.function(lambda x: tf.nn.conv2d(x, w, 1, "SAME")).get_concrete_function(
        tf.TensorSpec([None, 8, 8, 1])).graph
    with pytest.raises(ValueError, match="not static"):
        graph_flops(dynamic)
    inner = tf.function(lambda x: tf.nn.conv2d(x, w, 1, "SAME"))
    nested = tf.function(lambda x: inner(x)).get_concrete_function(tf.TensorSpec([1, 8, 8, 1])).graph
    with pytest.raises(ValueError, match="nested"):
        graph_flops(nested)


def test_results_record_whether_bf16_is_native(tmp_path, monkeypatch):
    """A bf16 speed or accuracy figure from a CPU that emulates bf16 must say so."""
    import json

    from sgan_tf import precision

    monkeypatch.setattr(common, "RESULTS", str(tmp_path))
    path = common.write_result("example", {"ratio": 1.5})
    written = json.loads(open(path).read())
    assert written["machine"]["native_bf16"] is precision.native_bf16()
    assert written["ratio"] == 1.5 and written["benchmark"] == "example"
