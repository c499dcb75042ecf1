"""DnCNN (Zhang et al., IEEE TIP 2017): the paper's CNN denoising baseline.

`depth` 3x3 convolutions of `filters` channels: Conv + ReLU, (depth - 2) x (Conv + BN + ReLU),
Conv to one channel. With residual learning (DnCNN-S/B) the network predicts the noise and
the output is x - noise(x); with `residual=False` it maps x to the clean image directly (the
paper's ablation). Fully convolutional, same H x W out as in.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from sgan_tf.models.generator import batch_norm
from sgan_tf.models.inference import _conv, _fold, check_compute_dtype
from sgan_tf.precision import OUTPUT_DTYPE

PAPER_DEPTH = 17


class DnCNN(keras.Model):
    """[N, H, W, C] -> [N, H, W, 1]; the first input channel is the noisy image."""

    def __init__(self, depth: int = PAPER_DEPTH, filters: int = 64, residual: bool = True, **kwargs):
        kwargs.setdefault("dtype", OUTPUT_DTYPE)  # the input stays exact for the residual
        super().__init__(**kwargs)
        if depth < 2:
            raise ValueError(f"DnCNN depth must be at least 2, got {depth}")
        self.depth = depth
        self.filters = filters
        self.residual = residual
        self.head = layers.Conv2D(filters, 3, padding="same", activation="relu", name="head_conv")
        # Attributes, not a list: Keras 3 + tf.train.Checkpoint drops list-held BN statistics.
        self._layer_names = tuple(f"layer_{i:02d}" for i in range(1, depth - 1))
        for name in self._layer_names:
            setattr(self, f"{name}_conv", layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv"))
            setattr(self, f"{name}_bn", batch_norm())
        # A zero tail makes the untrained residual DnCNN the identity (as for the Generator):
        # with BN the default initialisation predicts unit-scale "noise" and starts at MSE ~0.8.
        self.tail = layers.Conv2D(
            1, 3, padding="same", use_bias=False, name="tail_conv", dtype=OUTPUT_DTYPE,
            kernel_initializer="zeros" if residual else "glorot_uniform",
        )

    @property
    def middle(self) -> tuple[tuple[layers.Conv2D, layers.BatchNormalization], ...]:
        """The (conv, BN) pairs between head and tail, in order."""
        return tuple((getattr(self, f"{n}_conv"), getattr(self, f"{n}_bn")) for n in self._layer_names)

    def branch(self, x, training=False):
        """The convolutional branch: the noise estimate (residual) or the clean image (plain)."""
        h = self.head(x)
        for conv, bn in self.middle:
            h = tf.nn.relu(bn(conv(h), training=training))
        return self.tail(h)

    def call(self, x, training=False):
        out = self.branch(x, training=training)
        return x[..., :1] - out if self.residual else out

    def get_config(self):
        return {**super().get_config(), "depth": self.depth, "filters": self.filters, "residual": self.residual}


class FoldedDnCNN(tf.Module):
    """A frozen copy of a DnCNN's inference computation with BN folded into the convolutions,
    computed in `compute_dtype` up to the last layer (as `FoldedGenerator`)."""

    def __init__(self, model: DnCNN, name: str | None = None, compute_dtype: str = "float32"):
        super().__init__(name=name or f"{model.name}_folded")
        dt = self.compute_dtype = check_compute_dtype(compute_dtype)
        self.residual = model.residual
        self.convs = [_fold(model.head, None, dt)] + [_fold(c, bn, dt) for c, bn in model.middle]
        self.convs.append(_fold(model.tail, None))

    @property
    def receptive_radius(self) -> int:
        """Pixels of context per side: one per 3x3 layer (17 for the paper's depth)."""
        return sum(int(kernel.shape[0]) // 2 for kernel, _ in self.convs)

    @tf.function(reduce_retracing=True)
    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        h = tf.cast(x, self.compute_dtype)
        for conv in self.convs[:-1]:
            h = tf.nn.relu(_conv(h, conv))
        out = _conv(tf.cast(h, tf.float32), self.convs[-1])
        return x[..., :1] - out if self.residual else out


def fold_dncnn(model: DnCNN, compute_dtype: str = "float32") -> FoldedDnCNN:
    """The BN-folded inference module of a built, trained DnCNN."""
    if not model.built:
        raise ValueError("build the DnCNN (call it once) before folding")
    return FoldedDnCNN(model, compute_dtype=compute_dtype)
