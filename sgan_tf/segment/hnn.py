"""Holistically-nested network (HNN; HED, Xie & Tu 2015) for lesion segmentation, and its loss.

Architecture: the VGG16 convolutions (5 stages of 2, 2, 3, 3, 3 conv 3x3 + ReLU, 2x2 max-pool
between stages; 64, 128, 256, 512, 512 filters at paper size, `filters` scales them for tests),
layer names as in Keras' VGG16 (block<b>_conv<i>) so its weights load by name. After the last
conv of each stage a 1x1 conv gives a one-channel side logit, bilinearly resized to the input
size (`tf.image.resize`, half-pixel centres, the same map as HED's fixed bilinear deconvolution
kernels, with no parameters to learn). The fused logit is a 1x1 conv over the 5 concatenated
side logits, initialised to their mean (weights 1/5, as HED). The input side must be a multiple
of 16 (4 poolings) so every side output maps back onto the input grid exactly.

Input: the composite [N, H, W, 3] on the network scale [0, 1], channels (OG, denoised,
enhanced) taken as R, G, B. The model scales it the way the ImageNet VGG16 expects (x 255, then
Keras' `vgg16.preprocess_input`: BGR order, ImageNet mean subtracted), whatever the weights'
source, so an HNN's input convention never depends on how its backbone was initialised.

Loss (deep supervision, HED eq. 2-3): class-balanced sigmoid cross-entropy on each of the 5 side
outputs and on the fused output, summed with weight 1 each (HED's alpha_k = 1 and fuse weight
1). Per image, with beta = |Y-| / |Y|:

    l = -(beta * sum_{Y+} log p + (1 - beta) * sum_{Y-} log(1 - p)) / |Y|

HED's sum divided by the pixel count, so the loss does not grow with the input size (HED's
unnormalised sums needed SGD at lr 1e-6; normalised, Adam at 1e-4 trains). A label with one
class only (all background, or all lesion) gives beta in {0, 1} and a loss of 0: it carries no
balanced signal (for a RECIST-marked lesion an empty GrabCut mask is GrabCut's failure).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import tensorflow as tf
from keras import layers

from sgan_tf.errors import UserError
from sgan_tf.precision import OUTPUT_DTYPE

PAPER_FILTERS = (64, 128, 256, 512, 512)
STAGE_CONVS = (2, 2, 3, 3, 3)
INPUT_SIZE = 128  # the zoomed ROI's typical side: 2 x the 64 px target long diameter
SIDE_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0)
FUSE_WEIGHT = 1.0


def conv_names() -> list[str]:
    """Keras VGG16 names of the 13 backbone convolutions, in order."""
    return [f"block{b}_conv{i}" for b, n in enumerate(STAGE_CONVS, 1) for i in range(1, n + 1)]


def preprocess(x: tf.Tensor) -> tf.Tensor:
    """Network scale [0, 1] RGB -> VGG16's input (x 255, BGR, ImageNet mean subtracted)."""
    return keras.applications.vgg16.preprocess_input(tf.cast(x, tf.float32) * 255.0)


class HNN(keras.Model):
    """[N, H, W, 3] composite -> {"fused": [N, H, W, 1], "sides": [N, H, W, 5]} logits."""

    def __init__(self, filters: Sequence[int] = PAPER_FILTERS, input_size: int = INPUT_SIZE, **kwargs):
        kwargs.setdefault("dtype", OUTPUT_DTYPE)
        super().__init__(**kwargs)
        if len(filters) != len(STAGE_CONVS) or min(filters) <= 0:
            raise UserError(f"HNN filters need {len(STAGE_CONVS)} positive numbers, got {list(filters)}")
        if input_size <= 0 or input_size % 16:
            raise UserError(f"--hnn_input_size={input_size} must be a positive multiple of 16 (4 poolings)")
        self.filters = tuple(int(f) for f in filters)
        self.input_size = int(input_size)
        # Layers are attributes (not list items) so tf.train.Checkpoint tracks them under Keras 3.
        for b, (n, f) in enumerate(zip(STAGE_CONVS, self.filters), 1):
            for i in range(1, n + 1):
                name = f"block{b}_conv{i}"
                setattr(self, name, layers.Conv2D(f, 3, padding="same", activation="relu", name=name))
            setattr(self, f"side{b}", layers.Conv2D(1, 1, name=f"side{b}", dtype=OUTPUT_DTYPE))
        self.pool = layers.MaxPooling2D(2, 2)
        self.fuse = layers.Conv2D(1, 1, kernel_initializer=keras.initializers.Constant(1.0 / len(STAGE_CONVS)),
                                  name="fuse", dtype=OUTPUT_DTYPE)

    def backbone_convs(self) -> list[layers.Conv2D]:
        return [getattr(self, name) for name in conv_names()]

    def call(self, x, training=False):
        size = tf.shape(x)[1:3]
        h = preprocess(x)
        sides = []
        for b, n in enumerate(STAGE_CONVS, 1):
            if b > 1:
                h = self.pool(h)
            for i in range(1, n + 1):
                h = getattr(self, f"block{b}_conv{i}")(h)
            side = getattr(self, f"side{b}")(h)
            sides.append(side if b == 1 else tf.image.resize(side, size, method="bilinear"))
        sides = tf.concat(sides, axis=-1)
        return {"fused": self.fuse(sides), "sides": sides}

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def probability(self, x):
        """Lesion probability [N, H, W, 1], the fused output's sigmoid: the inference computation."""
        return tf.sigmoid(self(x, training=False)["fused"])

    def get_config(self):
        return {**super().get_config(), "filters": list(self.filters), "input_size": self.input_size}


def vgg16_layout(filters: Sequence[int] = PAPER_FILTERS) -> keras.Model:
    """A functional model laid out as Keras' VGG16 without top (same layer names and order) with
    `filters` per stage: reads and writes backbone weight files of any width."""
    x = inputs = keras.Input((None, None, 3))
    for b, (n, f) in enumerate(zip(STAGE_CONVS, filters), 1):
        for i in range(1, n + 1):
            x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"block{b}_conv{i}")(x)
        x = layers.MaxPooling2D(2, 2, name=f"block{b}_pool")(x)
    return keras.Model(inputs, x, name="vgg16")


def _imagenet_vgg16() -> keras.Model:
    try:
        return keras.applications.VGG16(include_top=False, weights="imagenet", input_shape=(None, None, 3))
    except Exception as e:  # Keras raises a bare Exception when the download fails.
        raise UserError(
            "--hnn_backbone_weights=imagenet: the ImageNet VGG16 weights are not cached and could not be "
            f"downloaded ({type(e).__name__}). On an offline machine copy "
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 here and pass "
            "--hnn_backbone_weights=/path/to/that.h5 (or put it in ~/.keras/models/), or use "
            "--hnn_backbone_weights=none to train from random weights."
        ) from e


def load_backbone_weights(model: HNN, weights: str) -> None:
    """Initialises the backbone convolutions of a built HNN: 'imagenet' (Keras' VGG16 download,
    cached in ~/.keras/models), an .h5 weights file of a VGG16-layout model with the HNN's
    filters (Keras' notop file, or `vgg16_layout(filters).save_weights`), or 'none' (as built)."""
    if weights == "none":
        return
    if weights == "imagenet":
        if model.filters != PAPER_FILTERS:
            raise UserError(f"--hnn_backbone_weights=imagenet needs the paper's --hnn_filters "
                            f"{','.join(map(str, PAPER_FILTERS))}, got {','.join(map(str, model.filters))}")
        source = _imagenet_vgg16()
    else:
        if not os.path.isfile(weights):
            raise UserError(f"--hnn_backbone_weights={weights!r}: no such file "
                            "(expected 'imagenet', 'none' or an .h5 path)")
        source = vgg16_layout(model.filters)
        try:
            source.load_weights(weights)
        except Exception as e:  # Keras raises ValueError or h5py errors for a mismatched file.
            raise UserError(f"--hnn_backbone_weights={weights!r}: not VGG16-layout weights with filters "
                            f"{','.join(map(str, model.filters))}: {e}") from e
    for conv in model.backbone_convs():
        conv.set_weights(source.get_layer(conv.name).get_weights())


def class_balanced_bce(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Per-image class-balanced sigmoid cross-entropy [N] of [N, H, W, 1] logits and 0/1 labels
    [N, H, W] or [N, H, W, 1] (module docstring)."""
    logits = tf.reshape(tf.cast(logits, tf.float32), [tf.shape(logits)[0], -1])
    y = tf.reshape(tf.cast(labels, logits.dtype), [tf.shape(logits)[0], -1])
    count = tf.cast(tf.shape(y)[1], logits.dtype)
    beta = 1.0 - tf.reduce_sum(y, axis=1, keepdims=True) / count  # |Y-| / |Y|
    # -log p = softplus(-z), -log(1 - p) = softplus(z), stable for any logit.
    per_pixel = beta * y * tf.nn.softplus(-logits) + (1.0 - beta) * (1.0 - y) * tf.nn.softplus(logits)
    return tf.reduce_sum(per_pixel, axis=1) / count


def deep_supervision_loss(outputs: dict[str, tf.Tensor], labels: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """(total [N], {"side_1".."side_5", "fused": [N]}) of an HNN's outputs against 0/1 labels."""
    terms = {f"side_{k + 1}": class_balanced_bce(outputs["sides"][..., k: k + 1], labels)
             for k in range(len(SIDE_WEIGHTS))}
    terms["fused"] = class_balanced_bce(outputs["fused"], labels)
    total = FUSE_WEIGHT * terms["fused"] + tf.add_n([w * terms[f"side_{k + 1}"] for k, w in enumerate(SIDE_WEIGHTS)])
    return total, terms
