"""DnCNN baseline: architecture, residual learning, folding, and training/loading as stage `dncnn`."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from sgan_tf import enhance, models, training
from sgan_tf.errors import UserError
from sgan_tf.training import GANTrainer
from sgan_tf.training.run_folder import load_generator
from sgan_tf.training.config import build_generator

from conftest import run_module, tiny_config
from trainer_test import fixed_batch


def dncnn_params(depth: int, f: int = 64) -> tuple[int, int]:
    """(total, trainable): biased head conv, (depth - 2) bias-free convs + BN, bias-free tail."""
    head, middle, tail = 9 * f + f, 9 * f * f, 9 * f
    trainable = head + (depth - 2) * (middle + 2 * f) + tail
    return trainable + (depth - 2) * 2 * f, trainable


def test_paper_dncnn_parameter_count():
    model = models.dncnn()
    model(tf.zeros([1, 40, 40, 1]))
    total, trainable = dncnn_params(17)
    assert sum(int(np.prod(v.shape)) for v in model.trainable_variables) == trainable == 556_096
    assert model.count_params() == total
    assert len(model.middle) == 15
    assert all(bn.synchronized for _, bn in model.middle)


@pytest.mark.parametrize("shape", [(1, 37, 53, 1), (2, 17, 29, 1)])
def test_any_size_keeps_shape(shape):
    assert tuple(models.dncnn(4, 8)(tf.random.uniform(shape)).shape) == shape


def test_residual_learning_subtracts_the_predicted_noise():
    x = tf.random.uniform([2, 19, 23, 1], seed=1)
    residual = models.dncnn(3, 8)
    np.testing.assert_allclose(residual(x).numpy(), x.numpy(), atol=1e-6)  # zero tail: starts as identity
    residual.tail.kernel.assign(tf.random.normal(residual.tail.kernel.shape, stddev=0.1, seed=2))
    noise = residual.branch(x).numpy()
    assert np.abs(noise).max() > 1e-3
    np.testing.assert_allclose(residual(x).numpy(), x.numpy() - noise, atol=1e-6)
    plain = models.dncnn(3, 8, residual=False)
    np.testing.assert_allclose(plain(x).numpy(), plain.branch(x).numpy())


def test_checkpoint_holds_every_variable(tmp_path):
    model = models.dncnn(4, 4)
    model(tf.zeros([1, 8, 8, 1]))
    path = tf.train.Checkpoint(m=model).save(str(tmp_path / "c"))
    saved = [n for n, _ in tf.train.list_variables(path) if n.startswith("m/")]
    assert len(saved) == len(model.weights)
    assert any("layer_02_bn" in n and "moving_variance" in n for n in saved)


@pytest.mark.parametrize("residual", [True, False])
def test_folded_dncnn_equals_keras_inference(residual):
    model = models.dncnn(4, 8, residual=residual)
    x = tf.random.uniform([2, 21, 30, 1], seed=4)
    model(x, training=True)
    for _, bn in model.middle:
        for v in (bn.moving_mean, bn.moving_variance, bn.gamma, bn.beta):
            v.assign(tf.random.uniform(v.shape, 0.5, 1.5, seed=5))
    model.tail.kernel.assign(tf.random.normal(model.tail.kernel.shape, stddev=0.1, seed=6))
    folded = models.fold_dncnn(model)
    np.testing.assert_allclose(folded(x).numpy(), model(x, training=False).numpy(), rtol=1e-4, atol=1e-5)
    assert folded.receptive_radius == 4


def test_dncnn_stage_config(tmp_path):
    cfg = training.TrainConfig(stage="dncnn", model_dir=str(tmp_path), train_steps=50).resolved()
    assert (cfg.num_blocks, cfg.crop_size, cfg.pretrain_steps) == (17, 40, 50)  # 40: no D stride to respect
    assert cfg.synthesis().noise and not cfg.synthesis().degrade
    assert isinstance(build_generator(cfg), models.DnCNN)
    with pytest.raises(UserError, match="multiple of 16"):
        training.TrainConfig(stage="denoise", model_dir=str(tmp_path), crop_size=40).resolved()


def test_training_is_mse_only_and_lowers_the_loss(tmp_path):
    x, y = fixed_batch()
    cfg = tiny_config(tmp_path, stage="dncnn", num_blocks=4, train_steps=30, learning_rate=1e-3).resolved()
    trainer = GANTrainer(cfg, tf.distribute.get_strategy(),
                         lambda start, ctx: tf.data.Dataset.from_tensors((x, y)).repeat(), (x, y))
    assert trainer.discriminator is None and trainer.vgg is None
    mse = lambda: float(tf.reduce_mean(tf.square(trainer.generator(x, training=True) - y)))
    before = mse()
    result = trainer.fit()
    assert mse() < 0.7 * before
    assert set(result["metrics"]) == {"content_mse", "g_grad_norm", "g_loss"}
    saved = {n.split("/")[0] for n, _ in tf.train.list_variables(tf.train.latest_checkpoint(str(tmp_path)))}
    assert not {"discriminator", "d_optimizer"} & saved


def test_checkpoint_round_trip_through_load_generator_and_load_stage(image_folder, tmp_path):
    model_dir = str(tmp_path / "run")
    training.train(tiny_config(model_dir, stage="dncnn", num_blocks=3, data_dir=str(image_folder), train_steps=3))
    assert json.load(open(f"{model_dir}/config.json"))["stage"] == "dncnn"
    model, step, _ = load_generator(model_dir)
    assert isinstance(model, models.DnCNN) and step == 3
    # A checkpoint by name is found in model_dir, not in the working directory (the repository).
    assert load_generator(model_dir, "ckpt-3")[1:] == (3, os.path.join(model_dir, "ckpt-3"))
    with pytest.raises(UserError, match="ckpt-9"):
        load_generator(model_dir, "ckpt-9")
    stage = enhance.load_stage(model_dir, tile_size=48)
    assert stage.module.receptive_radius == 3 and stage.info["step"] == 3
    image = np.random.default_rng(0).random((70, 90)).astype(np.float32)
    expected = np.clip(model(image[None, :, :, None], training=False).numpy()[0, :, :, 0], 0, 1)
    np.testing.assert_allclose(stage(image), expected, atol=1e-4)  # tiled (48 < 90) and folded


def test_train_main_trains_dncnn_without_a_discriminator(image_folder, tmp_path):
    proc = run_module("sgan_tf.cli.train_main", "--stage=dncnn", f"--model_dir={tmp_path}/m", f"--data_dir={image_folder}",
                      "--num_blocks=3", "--filters=4", "--crop_size=20", "--batch_size=4", "--num_val_pairs=2",
                      "--train_steps=2", "--log_every=1", "--vgg_weights=absent.h5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "step 2/2  content_mse=" in proc.stderr and "d_loss" not in proc.stderr
    assert (tmp_path / "m" / "ckpt-2.index").exists()
