"""train_main as users run it: quickstart end to end, resume, and one-line errors for bad input."""

import os

import pytest

from conftest import run_module

TINY = ["--preset=quickstart", "--num_blocks=1", "--filters=4", "--crop_size=16", "--batch_size=4",
        "--num_val_pairs=2", "--log_every=1"]


def train_main(*args, **kwargs):
    return run_module("sgan_tf.cli.train_main", *args, **kwargs)


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


# -- the run folder: lock, lost state file, --restart, unreadable files, a full disk (issue 14) -----------


def test_resume_without_state_file_restart_and_a_truncated_config(tmp_path, image_folder):
    model_dir = tmp_path / "run"
    args = ["--stage=denoise", f"--model_dir={model_dir}", f"--data_dir={image_folder}", *TINY, "--pretrain_steps=1",
            "--checkpoint_every=1", "--keep_checkpoints=2"]
    assert train_main(*args, "--train_steps=3").returncode == 0
    (model_dir / "checkpoint").unlink()  # used to train from step 0 and rotate ckpt-2, ckpt-3 away
    resumed = train_main(*args, "--train_steps=4")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"Resuming from {model_dir / 'ckpt-3'}, the newest checkpoint that can be restored" in resumed.stderr
    assert "step 4/4" in resumed.stderr and "step 1/4" not in resumed.stderr
    assert sorted(p.name for p in model_dir.glob("ckpt-*.index")) == ["ckpt-2.index", "ckpt-3.index", "ckpt-4.index"]
    config = (model_dir / "config.json").read_text()
    (model_dir / "config.json").write_text(config[:40])
    assert_clean_error(train_main(*args, "--train_steps=5"), 2, "config.json is not valid JSON (truncated?)")
    restarted = train_main(*args, "--train_steps=2", "--restart")
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert "step 1/2" in restarted.stderr and "--restart: training from step 0" in restarted.stderr
    (aside,) = model_dir.glob("before_restart_*")
    assert sorted(p.name for p in aside.glob("ckpt-*.index")) == ["ckpt-2.index", "ckpt-3.index", "ckpt-4.index"]
    assert (aside / "config.json").read_text() == config[:40] and (aside / "logs").is_dir()


def test_a_held_folder_a_file_and_a_full_disk_are_one_line_errors(tmp_path, image_folder):
    import resource
    import signal
    import socket
    import subprocess
    import sys

    from conftest import REPO
    from sgan_tf.training import loop

    args = ["--stage=denoise", f"--data_dir={image_folder}", *TINY, "--pretrain_steps=1", "--train_steps=2"]
    with loop.start_run(str(tmp_path / "held"), chief=True, restart=False):
        held = train_main(*args, f"--model_dir={tmp_path / 'held'}")
    assert_clean_error(held, 2, f"is in use by a training run (pid {os.getpid()} on host {socket.gethostname()})")
    assert not (tmp_path / "held" / "config.json").exists()
    (tmp_path / "a_file").write_text("x")
    assert_clean_error(train_main(*args, f"--model_dir={tmp_path / 'a_file'}"), 2, "is a file, not a folder")

    def small_files():  # a full disk for anything over 3 kB, such as the TensorBoard log
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))
    full = subprocess.run([sys.executable, "-m", "sgan_tf.cli.train_main", *args, f"--model_dir={tmp_path / 'full'}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300, preexec_fn=small_files,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert_clean_error(full, 2, "train_main: error: cannot write TensorBoard logs to", "File too large")
    again = train_main(*args, f"--model_dir={tmp_path / 'full'}")  # the failed save left nothing in the way
    assert again.returncode == 0, again.stderr[-2000:]
