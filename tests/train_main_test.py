"""train_main as users run it: quickstart end to end, resume, and one-line errors for bad input."""

import pytest

from conftest import run_module

TINY = ["--flagfile=flags/quickstart.flags", "--num_blocks=1", "--filters=4", "--crop_size=16", "--batch_size=4",
        "--num_val_pairs=2", "--log_every=1"]


def train_main(*args, **kwargs):
    return run_module("sgan_tf.train_main", *args, **kwargs)


def assert_clean_error(proc, code, *needles):
    assert proc.returncode == code, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    for needle in needles:
        assert needle in proc.stderr, proc.stderr[-2000:]


@pytest.mark.parametrize("stage", ["enhance", "single"])
def test_stage_trains_then_resumes_without_restarting(tmp_path, image_folder, stage):
    model_dir = tmp_path / "run"
    args = ["--stage=" + stage, f"--model_dir={model_dir}", f"--data_dir={image_folder}", *TINY,
            "--pretrain_steps=1", "--checkpoint_every=2"]
    first = train_main(*args, "--train_steps=2")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "checkpoints: " + str(model_dir) in first.stderr and "tensorboard --logdir" in first.stderr
    second = train_main(*args, "--train_steps=3")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Resumed from " + str(model_dir / "ckpt-2") + " at global step 2" in second.stderr
    assert "step 3/3" in second.stderr and "step 1/3" not in second.stderr
    assert (model_dir / "ckpt-3.index").exists() and (model_dir / "config.json").exists()


def test_unknown_stage(tmp_path):
    proc = train_main("--stage=segment", f"--model_dir={tmp_path}")
    assert_clean_error(proc, 1, "--stage", "denoise", "enhance", "single")


def test_missing_model_dir():
    assert_clean_error(train_main("--stage=denoise"), 1, "model_dir")


def test_missing_data_folder(tmp_path):
    proc = train_main("--stage=denoise", f"--model_dir={tmp_path}/m", f"--data_dir={tmp_path}/absent", *TINY)
    assert_clean_error(proc, 2, "train_main: error:", "absent", "does not exist")


def test_empty_data_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = train_main("--stage=denoise", f"--model_dir={tmp_path}/m", f"--data_dir={tmp_path}/empty", *TINY)
    assert_clean_error(proc, 2, "holds no images")


def test_only_corrupt_images(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "y.jpg").write_bytes(b"")
    proc = train_main("--stage=denoise", f"--model_dir={tmp_path}/m", f"--data_dir={folder}", *TINY)
    assert_clean_error(proc, 2, "none of the 2 image files is usable")
    assert "x.png" in proc.stderr and "y.jpg" in proc.stderr  # each skip is named in a warning


@pytest.mark.parametrize("flags,needle", [
    (["--num_cpu_devices=2"], "--num_cpu_devices only applies with --strategy=mirrored"),
    (["--pretrain_steps=10", "--train_steps=5"], "--pretrain_steps must lie in [0, --train_steps]"),
    (["--crop_size=20"], "multiple of 16"),
    (["--scale_range=4,1"], "--scale_range"),
    (["--contrast_range=1"], "--contrast_range takes 2"),
    (["--strategy=mirrored", "--num_cpu_devices=3", "--batch_size=4"], "not divisible by 3 replicas"),
])
def test_conflicting_or_invalid_flags(tmp_path, flags, needle):
    proc = train_main("--stage=denoise", f"--model_dir={tmp_path}/m", *TINY, *flags)
    assert_clean_error(proc, 2, needle)


def test_positional_arguments_are_refused(tmp_path):
    proc = train_main("--stage=denoise", f"--model_dir={tmp_path}", "stray")
    assert proc.returncode != 0 and "unexpected arguments: stray" in proc.stdout + proc.stderr
