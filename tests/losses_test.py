"""Losses: definitions against hand computation; VGG weights sources and the offline error."""

import numpy as np
import pytest
import tensorflow as tf

from sgan_tf import losses
from sgan_tf.errors import UserError

from conftest import run_module


def test_adversarial_and_discriminator_losses_are_the_papers_logs():
    logits = tf.constant([[-2.0], [0.0], [3.0]])
    d = tf.sigmoid(logits).numpy()[:, 0]
    np.testing.assert_allclose(losses.adversarial_loss(logits).numpy(), -np.log(d), rtol=1e-5)
    real = tf.constant([[1.0], [-1.0], [0.5]])
    dr = tf.sigmoid(real).numpy()[:, 0]
    np.testing.assert_allclose(
        losses.discriminator_loss(real, logits).numpy(), -np.log(dr) - np.log(1 - d), rtol=1e-5
    )


def test_per_example_mse():
    a = tf.reshape(tf.range(8, dtype=tf.float32), [2, 2, 2, 1])
    np.testing.assert_allclose(losses.per_example_mse(a, tf.zeros_like(a)).numpy(), [3.5, 31.5])


def test_vgg_feature_loss_uses_one_layer_per_block():
    loss = losses.VGGFeatureLoss("none")
    assert loss.layers == ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")
    feats = loss.features(tf.zeros([1, 32, 32, 1]))
    # Channels and resolutions pin each output to the last conv of its block (before pooling).
    assert [f.shape[-1] for f in feats] == [64, 128, 256, 512, 512]
    assert [f.shape[1] for f in feats] == [32, 16, 8, 4, 2]
    x = tf.random.uniform([2, 32, 32, 1], seed=0)
    same = loss(x, x).numpy()
    np.testing.assert_allclose(same, 0.0, atol=1e-6)
    diff = loss(x, tf.random.uniform([2, 32, 32, 1], seed=1)).numpy()
    assert diff.shape == (2,) and np.all(diff > 0)


def test_vgg_weights_from_an_h5_file(tmp_path):
    source = losses.VGGFeatureLoss("none")
    path = str(tmp_path / "vgg16.weights.h5")
    source.extractor.save_weights(path)
    loaded = losses.VGGFeatureLoss(path)
    x = tf.random.uniform([1, 32, 32, 1], seed=3)
    for a, b in zip(source.features(x), loaded.features(x)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_missing_weights_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        losses.VGGFeatureLoss(str(tmp_path / "absent.h5"))


def test_imagenet_offline_gives_a_clear_error(tmp_path):
    """No cached weights and no network (proxy to a closed loopback port): one clear line."""
    env = {
        "KERAS_HOME": str(tmp_path / "keras"),
        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "NO_PROXY": "",
    }
    proc = run_module(
        "sgan_tf.cli.train_main", "--stage=denoise", "--preset=quickstart",
        f"--model_dir={tmp_path / 'run'}", "--vgg_weights=imagenet", "--vgg_weight=1e-5", env=env,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "--vgg_weights=/path/to/that.h5" in proc.stderr
    assert "train_main: error:" in proc.stderr
