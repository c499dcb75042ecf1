"""The GAN trainer: learning, exact resume, TensorBoard output, NaN handling, D/G ratio."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from sgan_tf import training
from sgan_tf.errors import UserError
from sgan_tf.training import GANTrainer, NonFiniteLossError

from conftest import smooth_image, tiny_config


def fixed_batch(n=4, c=16, sigma=25.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.stack([smooth_image(rng, c, c) for _ in range(n)])[..., None]
    x = (y + rng.normal(0, sigma / 255, y.shape)).astype(np.float32)
    return x, y


def make_trainer(config, dataset_fn=None, batch=None):
    config = config.resolved()
    x, y = batch if batch is not None else fixed_batch(config.batch_size, config.crop_size)
    if dataset_fn is None:
        dataset_fn = lambda start, ctx: tf.data.Dataset.from_tensors((x, y)).repeat()
    return GANTrainer(config, tf.distribute.get_strategy(), dataset_fn, (x, y))


def weights(trainer):
    models = [trainer.generator, trainer.discriminator]
    opts = [trainer.g_optimizer, trainer.d_optimizer]
    return [v.numpy() for m in models for v in m.weights] + [v.numpy() for o in opts for v in o.variables]


def test_quickstart_steps_lower_the_content_loss(tmp_path):
    x, y = fixed_batch()
    trainer = make_trainer(tiny_config(tmp_path, train_steps=30, pretrain_steps=30, learning_rate=1e-3), batch=(x, y))
    mse = lambda: float(tf.reduce_mean(tf.square(trainer.generator(x, training=True) - y)))
    before = mse()
    trainer.fit()
    assert mse() < 0.7 * before


def test_adversarial_phase_updates_both_networks_with_the_configured_ratio(tmp_path):
    trainer = make_trainer(tiny_config(tmp_path, train_steps=3, pretrain_steps=1, d_steps=2, g_steps=1))
    d_before = [v.numpy() for v in trainer.discriminator.trainable_variables]
    result = trainer.fit()
    assert int(trainer.g_optimizer.iterations) == 3
    assert int(trainer.d_optimizer.iterations) == 4  # 2 adversarial steps x 2 D updates
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(d_before, trainer.discriminator.trainable_variables))
    assert {"d_loss", "d_real", "d_fake", "adv_loss", "content_mse", "g_loss"} <= set(result["metrics"])
    assert 0.0 < result["metrics"]["d_real"] < 1.0


def test_resume_continues_the_step_and_reproduces_an_uninterrupted_run(image_folder, tmp_path):
    common = dict(data_dir=str(image_folder), train_steps=6, pretrain_steps=3, checkpoint_every=2, vgg_weight=1e-3,
                  vgg_weights="none")
    whole = training.train(tiny_config(tmp_path / "whole", **common))
    assert whole["global_step"] == 6
    training.train(tiny_config(tmp_path / "split", **{**common, "train_steps": 4}))
    assert os.path.exists(tmp_path / "split" / "ckpt-4.index")
    resumed_cfg = tiny_config(tmp_path / "split", **common).resolved()
    from sgan_tf.training import load_sources
    from sgan_tf.training.trainer import build_dataset_fn

    images, _, val = load_sources(resumed_cfg)
    resumed = GANTrainer(resumed_cfg, tf.distribute.get_strategy(), build_dataset_fn(resumed_cfg, images), val)
    result = resumed.fit()
    assert result["global_step"] == 6 and int(resumed.global_step.numpy()) == 6
    reference = make_trainer(tiny_config(tmp_path / "whole", **common))
    assert reference.restore() == 6
    for a, b in zip(weights(reference), weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    ckpts = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "split" / "ckpt-*.index")))
    assert ckpts == ["ckpt-2.index", "ckpt-4.index", "ckpt-6.index"]


def test_rerun_after_the_last_step_trains_nothing(tmp_path):
    cfg = tiny_config(tmp_path, train_steps=2, pretrain_steps=1)
    make_trainer(cfg).fit()
    again = make_trainer(cfg)
    result = again.fit()
    assert result["global_step"] == 2 and int(again.g_optimizer.iterations) == 2


def test_resume_refuses_a_different_architecture(image_folder, tmp_path):
    training.train(tiny_config(tmp_path, data_dir=str(image_folder), train_steps=1, pretrain_steps=1))
    with pytest.raises(UserError, match="num_blocks=1 there, 2 now"):
        training.train(tiny_config(tmp_path, data_dir=str(image_folder), train_steps=2, num_blocks=2))


def read_events(model_dir):
    scalars, images = {}, set()
    for path in glob.glob(os.path.join(model_dir, "logs", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if plugin == "images":
                    images.add(value.tag)
                elif plugin == "scalars":
                    scalars.setdefault(value.tag, []).append(event.step)
    return scalars, images


def test_tensorboard_has_every_scalar_per_step_and_the_images(tmp_path):
    cfg = tiny_config(tmp_path, train_steps=4, pretrain_steps=2, val_every=2, vgg_weight=1e-3, vgg_weights="none")
    make_trainer(cfg).fit()
    scalars, images = read_events(str(tmp_path))
    per_step = ["train/g_loss", "train/content_mse", "train/learning_rate", "train/adversarial"]
    for tag in per_step:
        assert scalars[tag] == [1, 2, 3, 4], tag
    for tag in ["train/d_loss", "train/d_real", "train/d_fake", "train/adv_loss", "train/vgg_loss"]:
        assert scalars[tag] == [3, 4], tag
    for tag in ["validation/psnr", "validation/ssim", "validation/input_psnr"]:
        assert scalars[tag] == [2, 4], tag
    assert images == {"validation/input", "validation/output", "validation/target"}


def test_learning_rate_decays_at_the_configured_step(tmp_path):
    trainer = make_trainer(tiny_config(tmp_path, train_steps=3, pretrain_steps=3, learning_rate=1e-3, lr_decay_step=2))
    trainer.fit()
    assert float(trainer.g_optimizer.learning_rate.numpy()) == pytest.approx(1e-4)
    scalars, _ = read_events(str(tmp_path))
    assert scalars["train/learning_rate"] == [1, 2, 3]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    x, y = fixed_batch()
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan

    def dataset_fn(start, ctx):
        good = tf.data.Dataset.from_tensors((x, y)).repeat(3 - start)
        return good.concatenate(tf.data.Dataset.from_tensors((bad, y)).repeat())

    trainer = make_trainer(tiny_config(tmp_path, train_steps=6, pretrain_steps=6, checkpoint_every=2), dataset_fn)
    with pytest.raises(NonFiniteLossError, match=r"step 4 .*ckpt-2"):
        trainer.fit()
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-2")
    assert not glob.glob(str(tmp_path / "ckpt-4*"))
    restored = make_trainer(tiny_config(tmp_path, train_steps=6, pretrain_steps=6))
    assert restored.restore() == 2
    assert all(np.all(np.isfinite(w)) for w in weights(restored))


def test_load_generator_restores_the_trained_weights(tmp_path, image_folder):
    from sgan_tf.training.run_folder import checkpoint_step, checkpoints, load_generator

    cfg = tiny_config(tmp_path, data_dir=str(image_folder), train_steps=3, pretrain_steps=3, checkpoint_every=2)
    training.train(cfg)
    assert [checkpoint_step(p) for p in checkpoints(str(tmp_path))] == [3, 2]
    reference = make_trainer(cfg)
    reference.restore()
    g, step, path = load_generator(str(tmp_path))
    assert step == 3 and path == checkpoints(str(tmp_path))[0]
    x = tf.random.uniform([1, 24, 24, 1], seed=2)
    np.testing.assert_allclose(g(x).numpy(), reference.generator(x).numpy(), atol=1e-6)
    g2, step2, _ = load_generator(str(tmp_path), checkpoints(str(tmp_path))[1])
    assert step2 == 2
    with pytest.raises(UserError, match="not a training model_dir"):
        load_generator(str(tmp_path / "nothing"))


@pytest.mark.parametrize("adversarial", [False, True])
def test_bf16_step_matches_fp32(tmp_path, adversarial):
    """Same seed, same batch: a mixed_bfloat16 step gives the fp32 losses within bf16 rounding,
    keeps float32 weights and outputs, and its checkpoint loads into an fp32 model."""
    x, y = fixed_batch()
    steps = 2 if adversarial else 1
    losses = {}
    for precision in ("float32", "mixed_bfloat16"):
        cfg = tiny_config(tmp_path / precision, train_steps=steps, pretrain_steps=1, precision=precision,
                          num_blocks=2, filters=16)
        trainer = make_trainer(cfg, batch=(x, y))
        result = trainer.fit()
        losses[precision] = result["metrics"]
        assert all(v.dtype == "float32" for v in trainer.generator.weights)
        assert trainer.generator(x).dtype == tf.float32
    for name, value in losses["float32"].items():
        assert losses["mixed_bfloat16"][name] == pytest.approx(value, rel=0.05, abs=1e-4), name
    fp32 = make_trainer(tiny_config(tmp_path / "mixed_bfloat16", train_steps=steps, pretrain_steps=1,
                                    num_blocks=2, filters=16), batch=(x, y))
    assert fp32.restore() == steps


def test_pretrain_schedule_warms_up_then_follows_a_cosine(tmp_path):
    cfg = tiny_config(tmp_path, train_steps=12, pretrain_steps=10, learning_rate=1e-4, pretrain_learning_rate=1e-3,
                      pretrain_schedule="cosine", warmup_steps=2, lr_decay_step=11).resolved()
    rates = [cfg.learning_rate_at(s) for s in range(12)]
    assert rates[:2] == pytest.approx([5e-4, 1e-3])  # linear warm-up to the peak
    assert rates[2] == pytest.approx(1e-3)
    assert rates[9] == pytest.approx(1e-4 + 0.5 * 9e-4 * (1 + np.cos(np.pi * 7 / 8)))  # 7 of 8 cosine steps
    assert all(a >= b for a, b in zip(rates[2:10], rates[3:10]))  # the cosine only decays
    assert rates[10] == pytest.approx(1e-4) and rates[11] == pytest.approx(1e-5)  # adversarial, then x0.1
    with pytest.raises(UserError, match="pretrain_schedule"):
        tiny_config(tmp_path, pretrain_schedule="linear").resolved()


def test_models_load_from_the_newest_checkpoint_that_can_be_read(tmp_path, image_folder, caplog):
    """A damaged newest checkpoint of a trained run: enhance_main's loader falls back to the one
    before it, with a warning, and names it in the sidecar info."""
    from sgan_tf.enhance import load_stage

    cfg = tiny_config(tmp_path, data_dir=str(image_folder), train_steps=3, pretrain_steps=3, checkpoint_every=2)
    training.train(cfg)
    data = tmp_path / "ckpt-3.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    stage = load_stage(str(tmp_path))
    assert stage.info["checkpoint"] == "ckpt-2" and stage.info["step"] == 2
    assert "Cannot restore " + str(tmp_path / "ckpt-3") in caplog.text
    (tmp_path / "ckpt-2.index").write_bytes(b"")
    with pytest.raises(UserError, match="no checkpoint in .* can be restored: ckpt-3 .*; ckpt-2 .*retrain it"):
        load_stage(str(tmp_path))



def trainable(model):
    return [v.numpy() for v in model.trainable_variables]


def test_init_model_starts_a_new_run_from_another_runs_generator_once(tmp_path, image_folder):
    from sgan_tf.training.run_folder import load_generator

    training.train(tiny_config(tmp_path / "source", data_dir=str(image_folder), train_steps=2, pretrain_steps=2))
    source, _, _ = load_generator(str(tmp_path / "source"))
    # A rate of 1e-12 leaves the trainable weights where they started: the source's.
    new = tiny_config(tmp_path / "new", data_dir=str(image_folder), init_model=str(tmp_path / "source"), seed=7,
                      train_steps=1, pretrain_steps=1, learning_rate=1e-12)
    assert training.train(new)["global_step"] == 1
    started, step, _ = load_generator(str(tmp_path / "new"))
    assert step == 1
    # The model it starts from is validated at step 0, its figure for the run to beat.
    assert read_events(str(tmp_path / "new"))[0]["validation/psnr"] == [0, 1]
    for a, b in zip(trainable(started), trainable(source), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # A run that has checkpoints resumes from them; its init_model is not read again.
    again = tiny_config(tmp_path / "new", data_dir=str(image_folder), init_model=str(tmp_path / "gone"), seed=7,
                        train_steps=2, pretrain_steps=2, learning_rate=1e-12)
    assert training.train(again)["global_step"] == 2


def test_init_model_refuses_another_generator_and_a_folder_without_a_run(tmp_path, image_folder):
    training.train(tiny_config(tmp_path / "two", data_dir=str(image_folder), train_steps=1, pretrain_steps=1,
                               num_blocks=2))
    trainer = make_trainer(tiny_config(tmp_path / "new", num_blocks=1))
    with pytest.raises(UserError, match=r"init_model=.*two: its denoise generator .*num_blocks': 2.* is not the "
                                        r"denoise generator this run trains .*num_blocks': 1"):
        trainer.init_generator(str(tmp_path / "two"))
    with pytest.raises(UserError, match=r"init_model=.*nothing: not a trained run"):
        trainer.init_generator(str(tmp_path / "nothing"))
    # train() checks the source before it reads any data (here, none exists).
    with pytest.raises(UserError, match=r"init_model=.*nothing: not a trained run"):
        training.train(tiny_config(tmp_path / "fresh", data_dir=str(tmp_path / "no_images"),
                                   init_model=str(tmp_path / "nothing")))


def test_init_model_pretrained_loads_the_shipped_generator(tmp_path, shipped, monkeypatch):
    from sgan_tf import pretrained
    from sgan_tf.training.run_folder import load_generator

    monkeypatch.setenv(pretrained.ENV_DIR, shipped)
    cfg = tiny_config(tmp_path, num_blocks=2, init_model=pretrained.PRETRAINED).resolved()
    assert cfg.init_model == pretrained.folder("denoise")
    trainer = make_trainer(cfg)
    assert trainer.init_generator(cfg.init_model).endswith(f"ckpt-{pretrained.info('denoise')['step']}")
    for a, b in zip(trainable(trainer.generator), trainable(load_generator(cfg.init_model)[0]), strict=True):
        np.testing.assert_array_equal(a, b)
