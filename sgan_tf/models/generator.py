"""SRResNet-style generator used for G1 (denoise) and G2 (enhance).

Fully convolutional: any H x W in, same H x W out, one channel. Layout (SRGAN, Ledig et al.
2017, without sub-pixel upsampling): head conv + PReLU, `num_blocks` residual blocks
(Conv -> BN -> PReLU -> Conv -> BN, identity skip), Conv -> BN plus a long skip from the head,
tail conv to one channel. With `global_residual` the tail predicts a correction that is added
to the input (residual learning as in DnCNN), which converges much faster for denoising and
deblurring; set it False for the plain SRResNet mapping.
"""

from __future__ import annotations

import keras
from keras import layers

from sgan_tf.precision import OUTPUT_DTYPE


def batch_norm() -> layers.BatchNormalization:
    """BatchNorm whose statistics are all-reduced across replicas under tf.distribute.

    Without synchronisation each replica normalises with its own sub-batch statistics, so
    moving averages drift apart between replicas and a 2-replica step differs from a
    1-device step on the same global batch.
    """
    return layers.BatchNormalization(synchronized=True, momentum=0.9, epsilon=1e-3)


class ResidualBlock(layers.Layer):
    """Conv -> BN -> PReLU -> Conv -> BN, plus the identity."""

    def __init__(self, filters: int, kernel_size: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.conv1 = layers.Conv2D(filters, kernel_size, padding="same", use_bias=False)
        self.bn1 = batch_norm()
        self.act = layers.PReLU(shared_axes=[1, 2])
        self.conv2 = layers.Conv2D(filters, kernel_size, padding="same", use_bias=False)
        self.bn2 = batch_norm()

    def call(self, x, training=False):
        h = self.act(self.bn1(self.conv1(x), training=training))
        h = self.bn2(self.conv2(h), training=training)
        return x + h

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


class Generator(keras.Model):
    """SRResNet generator without upsampling: [N, H, W, C] -> [N, H, W, 1]."""

    def __init__(
        self,
        num_blocks: int = 16,
        filters: int = 64,
        head_kernel_size: int = 9,
        global_residual: bool = True,
        **kwargs,
    ):
        kwargs.setdefault("dtype", OUTPUT_DTYPE)  # the input stays exact for the global residual
        super().__init__(**kwargs)
        self.num_blocks = num_blocks
        self.filters = filters
        self.head_kernel_size = head_kernel_size
        self.global_residual = global_residual
        self.head = layers.Conv2D(filters, head_kernel_size, padding="same", name="head_conv")
        self.head_act = layers.PReLU(shared_axes=[1, 2], name="head_prelu")
        # Sub-layers are attributes, not list items: under Keras 3 tf.train.Checkpoint only
        # follows attribute-held layers, and list-held ones would lose their BN statistics.
        self._block_names = tuple(f"block_{i:02d}" for i in range(num_blocks))
        for name in self._block_names:
            setattr(self, name, ResidualBlock(filters, name=name))
        self.trunk_conv = layers.Conv2D(filters, 3, padding="same", use_bias=False, name="trunk_conv")
        self.trunk_bn = batch_norm()
        # With the global residual a zero tail makes the untrained generator the identity,
        # so training starts from "output = input" rather than from random images.
        self.tail = layers.Conv2D(
            1, head_kernel_size, padding="same", name="tail_conv", dtype=OUTPUT_DTYPE,
            kernel_initializer="zeros" if global_residual else "glorot_uniform",
        )

    @property
    def blocks(self) -> tuple[ResidualBlock, ...]:
        return tuple(getattr(self, name) for name in self._block_names)

    def call(self, x, training=False):
        head = self.head_act(self.head(x))
        h = head
        for block in self.blocks:
            h = block(h, training=training)
        h = self.trunk_bn(self.trunk_conv(h), training=training) + head
        out = self.tail(h)
        if self.global_residual:
            out = out + x[..., :1]
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "num_blocks": self.num_blocks,
            "filters": self.filters,
            "head_kernel_size": self.head_kernel_size,
            "global_residual": self.global_residual,
        }
