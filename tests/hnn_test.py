"""HNN: shapes, the class-balanced loss by hand, learning, the data stream, train_main --stage=hnn
end to end (og and sgan composites, resume), loading and prediction, backbone weight sources."""

import json
import os

import h5py
import numpy as np
import pytest
import tensorflow as tf

from sgan_tf.errors import UserError
from sgan_tf.segment import hnn, hnn_data, hnn_train, segmenters

from conftest import make_deeplesion, run_module

TINY_FILTERS = (4, 8, 8, 8, 8)
TINY = ["--hnn_input_size=32", "--hnn_filters=4,8,8,8,8", "--hnn_backbone_weights=none", "--batch_size=4",
        "--log_every=1", "--checkpoint_every=2"]


def disks(n: int = 16, size: int = 32, seed: int = 0) -> hnn_data.RoiSet:
    """Bright noisy disks on a grey background, labelled by the disks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, labels = [], []
    for _ in range(n):
        cx, cy, r = rng.uniform(10, size - 10, 2).tolist() + [rng.uniform(4, 8)]
        mask = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r).astype(np.uint8)
        image = 0.5 + 0.25 * mask + rng.normal(0, 0.05, (size, size))
        images.append(np.repeat(image[..., None], 3, axis=-1))
        labels.append(mask)
    labels = np.stack(labels)
    return hnn_data.RoiSet(hnn_data.quantise(np.stack(images)), labels, labels.copy(), np.ones(n, bool),
                           np.asarray([f"disk_{i}" for i in range(n)]))


def test_outputs_are_fused_and_five_sides_at_the_input_size():
    model = hnn.HNN(TINY_FILTERS, 32)
    out = model(tf.zeros([2, 32, 48, 3]))
    assert out["fused"].shape == (2, 32, 48, 1) and out["sides"].shape == (2, 32, 48, 5)
    assert [c.name for c in model.backbone_convs()] == hnn.conv_names()
    assert model.probability(tf.zeros([1, 32, 32, 3])).shape == (1, 32, 32, 1)
    with pytest.raises(UserError, match="multiple of 16"):
        hnn.HNN(TINY_FILTERS, 40)


def test_class_balanced_bce_by_hand():
    logits = np.array([[2.0, -1.0], [0.5, -3.0]], np.float32)
    label = np.array([[1, 0], [0, 0]], np.float32)
    softplus = lambda z: np.log1p(np.exp(z))
    beta = 3 / 4  # |Y-| / |Y|
    expected = (beta * softplus(-2.0) + (1 - beta) * (softplus(-1.0) + softplus(0.5) + softplus(-3.0))) / 4
    batch_logits = tf.constant(np.stack([logits] * 3)[..., None])
    labels = tf.constant(np.stack([label, np.zeros_like(label), np.ones_like(label)]))
    loss = hnn.class_balanced_bce(batch_logits, labels).numpy()
    # One-class labels (all background, all lesion) have beta 1 or 0: no balanced signal, loss 0.
    np.testing.assert_allclose(loss, [expected, 0.0, 0.0], rtol=1e-5, atol=1e-7)
    outputs = {"fused": batch_logits, "sides": tf.repeat(batch_logits, 5, axis=-1)}
    total, terms = hnn.deep_supervision_loss(outputs, labels)
    assert sorted(terms) == ["fused", "side_1", "side_2", "side_3", "side_4", "side_5"]
    np.testing.assert_allclose(total.numpy(), 6 * loss, rtol=1e-5, atol=1e-7)


def test_a_few_steps_learn_the_disks(tmp_path):
    rois = disks()
    config = hnn_train.HNNConfig(str(tmp_path / "run"), data_dir="unused", filters=(8, 16, 16, 16, 16), input_size=32,
                                 backbone_weights="none", batch_size=8, train_steps=40, learning_rate=1e-3,
                                 lr_decay_step=30, val_every=40, log_every=10, checkpoint_every=40)
    trainer = hnn_train.HNNTrainer(config, tf.distribute.get_strategy(), val_rois=rois)
    assert trainer.initialise() == 0
    before = trainer.validate()
    result = trainer.fit(rois, rois, 0)
    after = result["validation"]
    assert result["global_step"] == 40 and os.path.exists(tmp_path / "run" / "ckpt-40.index")
    assert float(trainer.optimizer.learning_rate.numpy()) == pytest.approx(1e-4)  # x0.1 from step 30
    assert after["loss"] < 0.3 * before["loss"], (before, after)
    assert before["dice_grabcut"] < 0.5 < 0.8 < after["dice_grabcut"], (before, after)
    assert after["dice_truth"] == after["dice_grabcut"]  # truth = labels here


def _stream(rois, global_batch, start, pipelines=1, replicas=1, steps=3):
    """Global batches (images, labels) of `steps` steps, pipelines' per-replica batches joined."""
    out = []
    for p in range(pipelines):
        ctx = tf.distribute.InputContext(pipelines, p, replicas)
        per_step = replicas // pipelines
        batches = list(hnn_data.training_dataset(rois, 7, global_batch, start, ctx).take(steps * per_step))
        out.append([batches[s * per_step: (s + 1) * per_step] for s in range(steps)])
    return [np.concatenate([b[1].numpy() for p in range(pipelines) for b in out[p][s]]) for s in range(steps)]


def test_training_stream_resumes_exactly_and_ignores_the_replica_count():
    rois = disks(n=6)
    one = _stream(rois, 4, 0)
    np.testing.assert_array_equal(_stream(rois, 4, 2, steps=1)[0], one[2])
    # Batch numbers alternate between 2 pipelines of 1 replica each: the same global batches.
    two = _stream(rois, 4, 0, pipelines=2, replicas=2)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    # The first epoch is a permutation (rotations and flips keep each label's area).
    first_epoch = np.concatenate(one)[:6].sum(axis=(1, 2, 3))
    assert sorted(first_epoch) == sorted(rois.labels.sum(axis=(1, 2)).astype(np.float32))


def test_backbone_weights_none_and_h5_files(tmp_path):
    source = hnn.vgg16_layout(TINY_FILTERS)
    keras3 = str(tmp_path / "tiny.weights.h5")
    source.save_weights(keras3)
    legacy = str(tmp_path / "tiny_notop.h5")  # the layout of Keras' own VGG16 notop file
    with h5py.File(legacy, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in source.layers]
        f.attrs["backend"], f.attrs["keras_version"] = b"tensorflow", b"2.1.5"
        for layer in source.layers:
            names = [f"{layer.name}_W_1:0", f"{layer.name}_b_1:0"] if layer.weights else []
            group = f.create_group(layer.name)
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name, value in zip(names, layer.get_weights()):
                group.create_dataset(name, data=value)
    for path in (keras3, legacy):
        model = hnn_train.build_model(TINY_FILTERS, 32)
        hnn.load_backbone_weights(model, path)
        for conv in model.backbone_convs():
            np.testing.assert_array_equal(conv.kernel.numpy(), source.get_layer(conv.name).kernel.numpy())
    untouched = hnn_train.build_model(TINY_FILTERS, 32)
    kernel = untouched.block1_conv1.kernel.numpy()
    hnn.load_backbone_weights(untouched, "none")
    np.testing.assert_array_equal(untouched.block1_conv1.kernel.numpy(), kernel)
    assert not np.allclose(kernel, source.get_layer("block1_conv1").kernel.numpy())
    with pytest.raises(UserError, match="filters 4,8,8,8,16"):
        hnn.load_backbone_weights(hnn_train.build_model((4, 8, 8, 8, 16), 32), legacy)
    with pytest.raises(UserError, match="no such file"):
        hnn.load_backbone_weights(untouched, str(tmp_path / "absent.h5"))
    with pytest.raises(UserError, match="needs the paper's --hnn_filters"):
        hnn.load_backbone_weights(untouched, "imagenet")


@pytest.mark.parametrize("changes,needle", [
    ({"data_dir": None}, "needs --data_dir"),
    ({"input_size": 40}, "multiple of 16"),
    ({"variant": "sgan"}, "needs --denoise_model"),
    ({"data_dir": "/nonexistent"}, "not a DeepLesion-layout root"),
    ({"window": "lungs"}, "window 'lungs'"),
])
def test_bad_configurations_are_user_errors(tmp_path, changes, needle):
    root = tmp_path / "dl"
    make_deeplesion(root)
    config = hnn_train.HNNConfig(str(tmp_path / "run"), data_dir=str(root), filters=TINY_FILTERS, input_size=32)
    with pytest.raises(UserError, match=needle):
        hnn_train.train(hnn_train.HNNConfig(**{**config.__dict__, **changes}))


def test_train_main_og_trains_resumes_loads_and_predicts(tmp_path):
    root, model_dir = tmp_path / "dl", tmp_path / "run"
    make_deeplesion(root)
    args = ["--stage=hnn", f"--data_dir={root}", "--variant=og", f"--model_dir={model_dir}", *TINY]
    first = run_module("sgan_tf.cli.train_main", *args, "--train_steps=2")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Made 2 train ROIs" in first.stderr and "validation Dice" in first.stderr
    second = run_module("sgan_tf.cli.train_main", *args, "--train_steps=3")
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"Resumed from {model_dir / 'ckpt-2'} at global step 2" in second.stderr
    assert "Loaded 2 train ROIs" in second.stderr  # the GrabCut labels came from the cache
    assert "step 3/3" in second.stderr and "step 1/3" not in second.stderr
    saved = json.loads((model_dir / "config.json").read_text())
    assert (saved["stage"], saved["variant"], saved["filters"]) == ("hnn", "og", list(TINY_FILTERS))
    assert os.listdir(model_dir / "logs")
    model, _ = hnn_train.load_hnn(str(model_dir))
    assert hnn_train.load_hnn(str(model_dir), "ckpt-2")[1] == str(model_dir / "ckpt-2")  # by name
    composites = np.random.default_rng(0).random((3, 50, 50, 3)).astype(np.float32)
    prob = hnn_train.predict(model, composites)
    assert prob.shape == (3, 50, 50) and prob.min() >= 0 and prob.max() <= 1
    with pytest.raises(UserError, match="not an HNN"):
        hnn_train.load_hnn(str(root))
    # Sidecars of a segmentation name the HNN that ran beside the enhancer's models.
    methods = segmenters.segmenters_for("og", {"og": str(model_dir)}).values()
    ran = segmenters.models_that_ran({"denoise_model": {"checkpoint": "ckpt-9"}}, methods)
    assert ran["denoise_model"] == {"checkpoint": "ckpt-9"} and ran["hnn_model"]["checkpoint"] == "ckpt-3"
    grabcut_only = segmenters.segmenters_for("og", {}).values()
    assert segmenters.models_that_ran({}, grabcut_only) == {}


def test_train_main_sgan_composites_on_two_replicas(tmp_path, tiny_models):
    root, model_dir = tmp_path / "dl", tmp_path / "run"
    make_deeplesion(root)
    proc = run_module(
        "sgan_tf.cli.train_main", "--stage=hnn", f"--data_dir={root}", "--variant=sgan", f"--model_dir={model_dir}",
        f"--denoise_model={tiny_models['denoise']}", f"--enhance_model={tiny_models['enhance']}", *TINY,
        "--train_steps=2", "--strategy=mirrored", "--num_cpu_devices=2",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "variant sgan" in proc.stderr and "on 2 replica(s)" in proc.stderr
    assert (model_dir / "ckpt-2.index").exists()


def test_imagenet_offline_gives_a_clear_error(tmp_path):
    """No cached weights and no network (proxy to a closed loopback port): one clear line."""
    root = tmp_path / "dl"
    make_deeplesion(root)
    env = {
        "KERAS_HOME": str(tmp_path / "keras"),
        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "NO_PROXY": "",
    }
    proc = run_module("sgan_tf.cli.train_main", "--stage=hnn", f"--data_dir={root}", f"--model_dir={tmp_path / 'run'}",
                      "--hnn_input_size=32", "--hnn_backbone_weights=imagenet", env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "train_main: error: --hnn_backbone_weights=imagenet" in proc.stderr
    assert "--hnn_backbone_weights=/path/to/that.h5" in proc.stderr
