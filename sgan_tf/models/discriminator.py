"""SRGAN discriminator (Ledig et al. 2017) for fixed-size patches.

Eight 3x3 convolutions with strides (1,2,1,2,1,2,1,2) and filters (64,64,128,128,256,256,512,512),
LeakyReLU(0.2), BatchNorm after every conv but the first, then Dense(1024) -> LeakyReLU ->
Dense(1). `call` returns the logit; D's probability is sigmoid(logit). Training on logits
(`sigmoid_cross_entropy_with_logits`) is the paper's -log D loss, computed stably.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf
from keras import layers

from sgan_tf.models.generator import batch_norm
from sgan_tf.precision import OUTPUT_DTYPE

PAPER_FILTERS = (64, 64, 128, 128, 256, 256, 512, 512)
PAPER_STRIDES = (1, 2, 1, 2, 1, 2, 1, 2)


class Discriminator(keras.Model):
    """[N, P, P, 1] patch -> [N, 1] logit of "real"."""

    def __init__(
        self,
        patch_size: int,
        filters: Sequence[int] = PAPER_FILTERS,
        strides: Sequence[int] = PAPER_STRIDES,
        dense_units: int = 1024,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if len(filters) != len(strides):
            raise ValueError(f"filters {filters} and strides {strides} differ in length")
        total_stride = 1
        for s in strides:
            total_stride *= s
        if patch_size % total_stride:
            raise ValueError(f"patch_size {patch_size} is not a multiple of the total stride {total_stride}")
        self.patch_size = patch_size
        self.filters = tuple(filters)
        self.strides = tuple(strides)
        self.dense_units = dense_units
        # Attributes, not lists: see Generator (tf.train.Checkpoint tracking under Keras 3).
        for i, (f, s) in enumerate(zip(self.filters, self.strides)):
            setattr(self, f"conv_{i}", layers.Conv2D(f, 3, strides=s, padding="same", use_bias=(i == 0), name=f"conv_{i}"))
            if i > 0:
                setattr(self, f"norm_{i}", batch_norm())
        self.act = layers.LeakyReLU(negative_slope=0.2)
        self.flatten = layers.Flatten()
        self.dense1 = layers.Dense(dense_units, name="dense_1")
        self.dense2 = layers.Dense(1, name="logit", dtype=OUTPUT_DTYPE)

    @property
    def convs(self) -> tuple[layers.Conv2D, ...]:
        return tuple(getattr(self, f"conv_{i}") for i in range(len(self.filters)))

    @property
    def norms(self) -> tuple[layers.BatchNormalization | None, ...]:
        return (None,) + tuple(getattr(self, f"norm_{i}") for i in range(1, len(self.filters)))

    def call(self, x, training=False):
        h = x
        for conv, norm in zip(self.convs, self.norms):
            h = conv(h)
            if norm is not None:
                h = norm(h, training=training)
            h = self.act(h)
        h = self.act(self.dense1(self.flatten(h)))
        return self.dense2(h)

    def probability(self, x, training=False):
        """D(x) in (0, 1)."""
        return tf.sigmoid(self(x, training=training))

    def get_config(self):
        return {
            **super().get_config(),
            "patch_size": self.patch_size,
            "filters": self.filters,
            "strides": self.strides,
            "dense_units": self.dense_units,
        }
