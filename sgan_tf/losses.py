"""Generator and discriminator losses of the paper.

G: L = w_mse * MSE(G(x), y) + w_vgg * VGG-feature MSE + w_adv * (-log D(G(x)))
D: -log D(y) - log(1 - D(G(x)))
defaults w_mse = 1, w_vgg = 1e-5, w_adv = 1e-3. Every function returns per-example values
([N]) so the trainer can average over the *global* batch under tf.distribute.

VGG features: VGG16 on the grayscale image repeated to 3 channels, scaled to 0-255 and passed
through Keras' VGG16 `preprocess_input` (BGR order, ImageNet mean subtracted). One layer per
block, the last convolution of each block (before pooling): block1_conv2, block2_conv2,
block3_conv3, block4_conv3, block5_conv3. The feature loss is the mean over those five layers
of the per-example feature MSE.
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from sgan_tf.errors import UserError

VGG_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")


def per_example_mse(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Mean squared difference per example, computed in float32 (inputs may be bf16 features)."""
    axes = list(range(1, len(a.shape)))
    return tf.reduce_mean(tf.square(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)), axis=axes)


def adversarial_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """-log D(G(x)) per example (non-saturating generator loss)."""
    return tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits)[:, 0]


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """-log D(y) - log(1 - D(G(x))) per example."""
    real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return (real + fake)[:, 0]


def _vgg16(weights: str | None) -> keras.Model:
    """Keras VGG16 without top, with `weights` 'imagenet', an .h5 path, or None (random)."""
    if weights not in (None, "imagenet") and not os.path.isfile(weights):
        raise UserError(f"--vgg_weights={weights!r}: no such file (expected 'imagenet', 'none' or an .h5 path)")
    try:
        return keras.applications.VGG16(include_top=False, weights=weights, input_shape=(None, None, 3))
    except Exception as e:  # Keras raises a bare Exception when the download fails.
        if weights != "imagenet":
            raise UserError(f"--vgg_weights={weights!r}: could not load VGG16 weights: {e}") from e
        raise UserError(
            "--vgg_weights=imagenet: the ImageNet VGG16 weights are not cached and could not be "
            f"downloaded ({type(e).__name__}). On an offline machine copy "
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 here and pass "
            "--vgg_weights=/path/to/that.h5 (or put it in ~/.keras/models/), or use "
            "--vgg_weights=none for random features (smoke runs only)."
        ) from e


class VGGFeatureLoss:
    """Per-example mean over VGG_LAYERS of the feature MSE between two [N, H, W, 1] images."""

    def __init__(self, weights: str | None = "imagenet", layers: tuple[str, ...] = VGG_LAYERS):
        weights = None if weights in (None, "none") else weights
        vgg = _vgg16(weights)
        vgg.trainable = False
        self.layers = layers
        self.extractor = keras.Model(vgg.input, [vgg.get_layer(name).output for name in layers])
        self.extractor.trainable = False

    def features(self, image: tf.Tensor) -> list[tf.Tensor]:
        rgb = tf.repeat(image * 255.0, 3, axis=-1)
        out = self.extractor(keras.applications.vgg16.preprocess_input(rgb), training=False)
        return list(out)

    def __call__(self, fake: tf.Tensor, real: tf.Tensor) -> tf.Tensor:
        real_features = [tf.stop_gradient(f) for f in self.features(real)]
        fake_features = self.features(fake)
        losses = [per_example_mse(f, r) for f, r in zip(fake_features, real_features)]
        return tf.add_n(losses) / len(losses)
