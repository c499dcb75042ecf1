"""Inference form of a trained generator with BatchNorm folded into the convolutions.

In inference BN is an affine map per channel, so conv -> BN equals one conv with scaled
weights and a bias. Folding removes the BN passes over every activation map: on a 2-core CPU
it lifts paper-size G1/G2 from about 0.83 to about 0.89 of fp32 matmul throughput
(benchmarks/generator_inference.py). The result is a plain tf.Module of tf.nn ops, the same
numbers as `generator(x, training=False)` up to float rounding.

`compute_dtype="bfloat16"` keeps bf16 copies of the folded weights and runs every layer but
the last in bf16 (2x the fp32 matmul rate on CPUs with AVX512_BF16/AMX); the last layer and
the global residual stay float32, so the output adds a bf16-computed correction to the exact
input (`sgan_tf.precision`).
"""

from __future__ import annotations

import tensorflow as tf
from keras import layers

from sgan_tf.models.generator import Generator


COMPUTE_DTYPES = ("float32", "bfloat16")


def _f32(value) -> tf.Tensor:
    return tf.cast(tf.convert_to_tensor(value), tf.float32)


def _fold(conv: layers.Conv2D, bn: layers.BatchNormalization | None,
          dtype: str = "float32") -> tuple[tf.Variable, tf.Variable]:
    """(kernel, bias) of conv followed by inference-mode BN, folded in float32, stored in `dtype`."""
    kernel = _f32(conv.kernel)
    bias = _f32(conv.bias) if conv.use_bias else tf.zeros([kernel.shape[-1]])
    if bn is not None:
        scale = _f32(bn.gamma) * tf.math.rsqrt(_f32(bn.moving_variance) + bn.epsilon)
        kernel = kernel * scale
        bias = _f32(bn.beta) + (bias - _f32(bn.moving_mean)) * scale
    return (tf.Variable(tf.cast(kernel, dtype), trainable=False), tf.Variable(tf.cast(bias, dtype), trainable=False))


def check_compute_dtype(dtype: str) -> str:
    if dtype not in COMPUTE_DTYPES:
        raise ValueError(f"compute dtype must be one of {COMPUTE_DTYPES}, got {dtype!r}")
    return dtype


def _conv(h: tf.Tensor, kernel_bias) -> tf.Tensor:
    return tf.nn.bias_add(tf.nn.conv2d(h, kernel_bias[0], strides=1, padding="SAME"), kernel_bias[1])


def _prelu(h: tf.Tensor, alpha: tf.Variable) -> tf.Tensor:
    return tf.maximum(h, 0.0) + alpha * tf.minimum(h, 0.0)


class FoldedGenerator(tf.Module):
    """A frozen copy of a Generator's inference computation, BN folded: [N,H,W,C] -> [N,H,W,1]
    float32, computed in `compute_dtype` up to the last layer."""

    def __init__(self, generator: Generator, name: str | None = None, compute_dtype: str = "float32"):
        super().__init__(name=name or f"{generator.name}_folded")
        dt = self.compute_dtype = check_compute_dtype(compute_dtype)
        alpha = lambda layer: tf.Variable(tf.cast(_f32(layer.alpha), dt), trainable=False)  # noqa: E731
        self.global_residual = generator.global_residual
        self.head = _fold(generator.head, None, dt)
        self.head_alpha = alpha(generator.head_act)
        self.blocks = [(_fold(b.conv1, b.bn1, dt), alpha(b.act), _fold(b.conv2, b.bn2, dt)) for b in generator.blocks]
        self.trunk = _fold(generator.trunk_conv, generator.trunk_bn, dt)
        self.tail = _fold(generator.tail, None)

    @property
    def receptive_radius(self) -> int:
        """Pixels of context each output pixel sees on every side (sum of conv half-widths).
        Tiles overlapping by this much on each side reproduce untiled inference exactly."""
        convs = [self.head, self.trunk, self.tail] + [c for c1, _, c2 in self.blocks for c in (c1, c2)]
        return sum(int(kernel.shape[0]) // 2 for kernel, _ in convs)

    @tf.function(reduce_retracing=True)
    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        head = _prelu(_conv(tf.cast(x, self.compute_dtype), self.head), self.head_alpha)
        h = head
        for conv1, alpha, conv2 in self.blocks:
            h = h + _conv(_prelu(_conv(h, conv1), alpha), conv2)
        out = _conv(tf.cast(_conv(h, self.trunk) + head, tf.float32), self.tail)
        if self.global_residual:
            out = out + x[..., :1]
        return out


def fold_generator(generator: Generator, compute_dtype: str = "float32") -> FoldedGenerator:
    """The BN-folded inference module of a built, trained generator."""
    if not generator.built:
        raise ValueError("build the generator (call it once) before folding")
    return FoldedGenerator(generator, compute_dtype=compute_dtype)
