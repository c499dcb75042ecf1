"""Generator and discriminator: shapes, any input size, the paper's parameter counts."""

import numpy as np
import pytest
import tensorflow as tf

from sgan_tf import models


def generator_params(blocks: int, f: int = 64, k: int = 9) -> tuple[int, int]:
    """(total, trainable) parameters of the generator, counted from the architecture."""
    head = k * k * 1 * f + f + f  # conv + bias + PReLU alphas (shared over H, W)
    bn_trainable, bn_total = 2 * f, 4 * f
    block = 2 * 9 * f * f + f  # two bias-free convs + PReLU
    trunk = 9 * f * f
    tail = k * k * f + 1
    trainable = head + blocks * (block + 2 * bn_trainable) + trunk + bn_trainable + tail
    total = head + blocks * (block + 2 * bn_total) + trunk + bn_total + tail
    return total, trainable


@pytest.mark.parametrize("factory,blocks", [(models.denoise_generator, 9), (models.enhance_generator, 16)])
def test_paper_generator_parameter_counts(factory, blocks):
    g = factory()
    g(tf.zeros([1, 16, 16, 1]))
    total, trainable = generator_params(blocks)
    assert g.count_params() == total
    assert sum(int(np.prod(v.shape)) for v in g.trainable_variables) == trainable
    assert len(g.blocks) == blocks


@pytest.mark.parametrize("shape", [(1, 37, 53, 1), (2, 17, 29, 1), (1, 8, 9, 1)])
def test_generator_any_size_keeps_shape(shape):
    g = models.generator(num_blocks=2, filters=8)
    y = g(tf.random.uniform(shape), training=False)
    assert tuple(y.shape) == shape


def test_untrained_residual_generator_is_identity_and_plain_one_is_not():
    x = tf.random.uniform([2, 19, 23, 1])
    residual = models.generator(num_blocks=1, filters=8)
    np.testing.assert_allclose(residual(x, training=False).numpy(), x.numpy(), atol=1e-6)
    plain = models.generator(num_blocks=1, filters=8, global_residual=False)
    assert np.abs(plain(x, training=False).numpy() - x.numpy()).max() > 1e-3


def test_generator_uses_prelu_shared_over_space_and_synchronized_bn():
    g = models.generator(num_blocks=1, filters=8)
    g(tf.zeros([1, 8, 8, 1]))
    block = g.blocks[0]
    assert block.act.shared_axes == [1, 2]
    assert block.bn1.synchronized and block.bn2.synchronized


def discriminator_params(p: int) -> int:
    filters = (64, 64, 128, 128, 256, 256, 512, 512)
    total, cin = 0, 1
    for i, f in enumerate(filters):
        total += 9 * cin * f + (f if i == 0 else 4 * f)  # bias on the first conv, BN on the rest
        cin = f
    flat = (p // 16) ** 2 * 512
    return total + flat * 1024 + 1024 + 1024 + 1


@pytest.mark.parametrize("patch", [32, 128])
def test_paper_discriminator(patch):
    d = models.discriminator(patch)
    logits = d(tf.random.uniform([3, patch, patch, 1]), training=False)
    assert tuple(logits.shape) == (3, 1)
    assert d.count_params() == discriminator_params(patch)
    strides = [conv.strides[0] for conv in d.convs]
    assert strides == [1, 2, 1, 2, 1, 2, 1, 2]
    assert [conv.filters for conv in d.convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert d.norms[0] is None and all(n is not None for n in d.norms[1:])
    p = d.probability(tf.zeros([1, patch, patch, 1])).numpy()
    assert 0.0 < p.item() < 1.0


def test_discriminator_rejects_patch_not_divisible_by_stride():
    with pytest.raises(ValueError, match="multiple"):
        models.discriminator(40)


def test_checkpoint_holds_every_model_variable(tmp_path):
    """Keras 3 + tf.train.Checkpoint only follow attribute-held layers; nothing may be lost."""
    g = models.generator(num_blocks=3, filters=4)
    d = models.discriminator(16, filters=(4,) * 8, dense_units=4)
    g(tf.zeros([1, 16, 16, 1]))
    d(tf.zeros([1, 16, 16, 1]))
    path = tf.train.Checkpoint(g=g, d=d).save(str(tmp_path / "c"))
    saved = {name for name, _ in tf.train.list_variables(path)}
    saved_model_vars = [n for n in saved if n.startswith(("g/", "d/"))]
    assert len(saved_model_vars) == len(g.weights) + len(d.weights)
    assert any("block_02" in n and "moving_variance" in n for n in saved)


@pytest.mark.parametrize("global_residual", [True, False])
def test_folded_generator_equals_keras_inference(global_residual):
    g = models.generator(num_blocks=2, filters=8, global_residual=global_residual)
    x = tf.random.uniform([2, 21, 30, 1], seed=4)
    g(x, training=True)  # a training call moves BN statistics off their initial values
    for layer in g.blocks[0].bn1, g.trunk_bn:  # non-trivial statistics and affine terms
        for v in (layer.moving_mean, layer.moving_variance, layer.gamma, layer.beta):
            v.assign(tf.random.uniform(v.shape, 0.5, 1.5, seed=5))
    g.tail.kernel.assign(tf.random.normal(g.tail.kernel.shape, stddev=0.1, seed=6))
    folded = models.fold_generator(g)
    np.testing.assert_allclose(folded(x).numpy(), g(x, training=False).numpy(), rtol=1e-4, atol=1e-5)
    assert folded(tf.zeros([1, 9, 11, 1])).shape == (1, 9, 11, 1)


def test_folding_an_unbuilt_generator_is_refused():
    with pytest.raises(ValueError, match="build"):
        models.fold_generator(models.generator(num_blocks=1, filters=4))
