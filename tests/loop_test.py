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
