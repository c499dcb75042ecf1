"""The shared step loop (sgan_tf/training/loop.py) on a toy trainer: a scalar fitted by SGD."""

import os

import pytest
import tensorflow as tf

from sgan_tf.errors import UserError
from sgan_tf.training import loop


class ScalarTrainer(loop.Trainer):
    """Fits w to the batch values by SGD on (w - x)^2; `poison_at` makes that step's loss NaN."""

    def __init__(self, config: loop.RunSettings, model_dir: str, poison_at: int = -1):
        self.config = config
        self.strategy = tf.distribute.get_strategy()
        self.name = "the scalar"
        self.poison_at = poison_at
        self.w = tf.Variable(0.0)
        self.global_step = tf.Variable(0, dtype=tf.int64)
        self.validated_at = []
        self._init_checkpoints(tf.train.Checkpoint(w=self.w, global_step=self.global_step), model_dir, "toy")

    def train_step(self, iterator, step):
        x = next(iterator)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((self.w - x) ** 2)
        self.w.assign_sub(self.config.learning_rate * tape.gradient(loss, self.w))
        value = float("nan") if step == self.poison_at else float(loss)
        return {"loss": value}, {"w": float(self.w)}

    def validate(self, writer, step):
        self.validated_at.append(step)
        return {"w": float(self.w)}


def dataset_fn(ctx):
    return tf.data.Dataset.from_tensors(tf.constant([3.0, 5.0])).repeat()


def settings(**kw):
    return loop.RunSettings(**{"train_steps": 10, "learning_rate": 0.1, "checkpoint_every": 4, "val_every": 5,
                               "log_every": 3, **kw})


def checkpoints(model_dir):
    return sorted(int(n[5:-6]) for n in os.listdir(model_dir) if n.startswith("ckpt-") and n.endswith(".index"))


def test_schedule_resume_and_result(tmp_path):
    trainer = ScalarTrainer(settings(), str(tmp_path))
    assert trainer.restore() == 0
    result = trainer.run(0, dataset_fn)
    assert result["global_step"] == 10 and trainer.validated_at == [5, 10]
    assert checkpoints(tmp_path) == [4, 8, 10]  # every 4 steps, and the last step
    assert result["validation"]["w"] == pytest.approx(4.0 * (1 - 0.8 ** 10))
    assert os.listdir(tmp_path / "logs")  # TensorBoard events
    # Resuming restores w and the step, and goes on to the new train_steps.
    longer = ScalarTrainer(settings(train_steps=12), str(tmp_path))
    assert longer.restore() == 10 and float(longer.w) == pytest.approx(result["validation"]["w"])
    assert longer.run(10, dataset_fn)["global_step"] == 12 and checkpoints(tmp_path)[-1] == 12
    # At or past train_steps nothing trains; validation still runs.
    done = ScalarTrainer(settings(train_steps=12), str(tmp_path))
    assert done.run(done.restore(), dataset_fn) == {"global_step": 12, "validation": {"w": float(done.w)},
                                                    "metrics": {}}


def test_non_finite_loss_stops_without_saving(tmp_path):
    trainer = ScalarTrainer(settings(), str(tmp_path), poison_at=5)
    with pytest.raises(loop.NonFiniteLossError, match=r"non-finite loss at step 6 .*ckpt-4"):
        trainer.run(0, dataset_fn)
    assert checkpoints(tmp_path) == [4]


def test_restore_refuses_another_model(tmp_path):
    ScalarTrainer(settings(train_steps=4), str(tmp_path)).run(0, dataset_fn)

    class Other(ScalarTrainer):
        def __init__(self, *args):
            super().__init__(*args)
            self.v = tf.Variable(1.0)
            self._init_checkpoints(tf.train.Checkpoint(v=self.v, global_step=self.global_step), str(tmp_path), "toy")

    with pytest.raises(UserError, match="does not match this model"):
        Other(settings(), str(tmp_path)).restore()


@pytest.mark.parametrize("field, value, message", [
    ("train_steps", 0, "--train_steps must be positive"),
    ("learning_rate", 0.0, "--learning_rate must be positive"),
    ("val_every", 0, "--val_every"),
    ("strategy", "tpu", "unknown --strategy"),
    ("num_cpu_devices", 2, "only applies with --strategy=mirrored"),
])
def test_run_checks(field, value, message):
    with pytest.raises(UserError, match=message):
        loop.raise_failed(settings(**{field: value}).run_checks())
    loop.raise_failed(settings().run_checks())


# -- resuming, checkpoint files and the run folder lock (issue 14) ------------------------------------


def _trained(model_dir, steps=10, **kw):
    trainer = ScalarTrainer(settings(train_steps=steps, **kw), str(model_dir))
    trainer.run(trainer.restore(), dataset_fn)
    return trainer


def test_a_lost_state_file_resumes_the_newest_checkpoint_with_a_warning(tmp_path, caplog):
    _trained(tmp_path, checkpoint_every=2, keep_checkpoints=2)
    assert checkpoints(tmp_path) == [8, 10]
    os.remove(tmp_path / "checkpoint")
    longer = ScalarTrainer(settings(train_steps=14, checkpoint_every=2, keep_checkpoints=2), str(tmp_path))
    assert longer.restore() == 10
    assert "Resuming from " + str(tmp_path / "ckpt-10") in caplog.text and "named none" in caplog.text
    longer.run(10, dataset_fn)
    assert checkpoints(tmp_path) == [8, 10, 12, 14]  # the earlier run's are not rotated away
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-14")


def test_a_run_deletes_only_its_own_checkpoints(tmp_path):
    _trained(tmp_path, steps=6, checkpoint_every=2, keep_checkpoints=2)
    assert checkpoints(tmp_path) == [4, 6]
    _trained(tmp_path, steps=12, checkpoint_every=2, keep_checkpoints=2)
    assert checkpoints(tmp_path) == [4, 6, 10, 12]
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-4", "ckpt-6", "ckpt-10", "ckpt-12"]


def test_damaged_checkpoints_fall_back_to_the_previous_one(tmp_path, caplog):
    reference = _trained(tmp_path, checkpoint_every=2, keep_checkpoints=4)
    assert checkpoints(tmp_path) == [4, 6, 8, 10]
    data = tmp_path / "ckpt-10.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:len(data.read_bytes()) // 2])  # used to raise IndexError
    index = tmp_path / "ckpt-8.index"
    index.write_bytes(index.read_bytes()[:len(index.read_bytes()) // 2])  # used to say "does not match"
    (tmp_path / "checkpoint").write_text("")  # used to raise ValueError
    trainer = ScalarTrainer(settings(), str(tmp_path))
    assert trainer.restore() == 6 and trainer.restored == str(tmp_path / "ckpt-6")
    assert "ckpt-10: it is damaged or unreadable (IndexError" in caplog.text
    assert "ckpt-8: it is damaged or unreadable (OpError: not an sstable" in caplog.text
    assert float(trainer.w) != float(reference.w)  # the weights of step 6, not of a half-read step 10
    for step in (4, 6):
        (tmp_path / f"ckpt-{step}.index").write_bytes(b"")
    with pytest.raises(UserError, match=r"no checkpoint in .* can be restored: ckpt-10 is damaged or unreadable "
                                        r"\(IndexError.*; ckpt-4 is damaged .*--restart"):
        ScalarTrainer(settings(), str(tmp_path)).restore()


def test_checkpoint_files_without_an_index_are_kept_and_refused_unless_restart(tmp_path):
    _trained(tmp_path, steps=4)
    for name in os.listdir(tmp_path):
        if name.endswith(".index"):
            os.remove(tmp_path / name)
    with pytest.raises(UserError, match=r"holds checkpoint files \(checkpoint, ckpt-4.data-00000-of-00001\) but "
                                        r"no checkpoint index .* pass --restart"):
        ScalarTrainer(settings(), str(tmp_path)).restore()
    with loop.start_run(str(tmp_path), chief=True, restart=True):
        assert ScalarTrainer(settings(), str(tmp_path)).restore() == 0
    (aside,) = [n for n in os.listdir(tmp_path) if n.startswith("before_restart_")]
    assert sorted(os.listdir(tmp_path / aside)) == ["checkpoint", "ckpt-4.data-00000-of-00001", "logs"]


def test_one_run_per_folder(tmp_path):
    import socket

    with loop.start_run(str(tmp_path / "run"), chief=True, restart=False):
        with pytest.raises(UserError, match=f"is in use by a training run \\(pid {os.getpid()} on host "
                                            f"{socket.gethostname()}\\)"):
            with loop.start_run(str(tmp_path / "run"), chief=True, restart=False):
                pass
        with loop.start_run(str(tmp_path / "run"), chief=False, restart=False):
            pass  # the other workers of a multi-worker run do not lock
    with loop.start_run(str(tmp_path / "run"), chief=True, restart=False):
        pass  # released at the end of the run
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        with loop.start_run(str(tmp_path / "file"), chief=True, restart=False):
            pass


def test_unwritable_checkpoints_and_logs_stop_with_a_user_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "logs").write_text("a file where the TensorBoard folder goes")
    with pytest.raises(UserError, match="cannot write TensorBoard logs to .*logs"):
        ScalarTrainer(settings(), str(tmp_path / "a")).run(0, dataset_fn)
    (tmp_path / "b" / "ckpt-4.index").mkdir(parents=True)  # the checkpoint cannot be put in place
    with pytest.raises(UserError, match=r"could not write checkpoint .*ckpt-4: .*training stopped \(last checkpoint: "
                                        r"none"):
        ScalarTrainer(settings(), str(tmp_path / "b")).run(0, dataset_fn)
