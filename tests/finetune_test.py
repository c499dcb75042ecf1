"""CT fine-tuning rounds (sgan_tf/finetune/rounds.py) with tiny G1/G2 runs on a small lesion set.

The quality score is replaced by a fake that marks chosen ROIs as improved, so the rounds'
machinery is tested whatever tiny models do to the images (the score has its own tests).
"""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import make_deeplesion, run_module
from sgan_tf.finetune import rounds as finetune
from sgan_tf.finetune import score as finetune_score
from sgan_tf.data import deeplesion
from sgan_tf.enhance import Enhancer
from sgan_tf.errors import UserError


@pytest.fixture(scope="module")
def lesion_set(tmp_path_factory):
    """Six lesions, all in the training split."""
    root = tmp_path_factory.mktemp("ft_set")
    records = make_deeplesion(str(root), shapes=((96, 96),) * 6, lesion_types=(1, 2, 3, 4, 5, 6))
    records = [dataclasses.replace(r, split=1) for r in records]
    deeplesion.write_dl_info(os.path.join(root, deeplesion.INFO_FILE), records)
    return str(root)


class FakeScore:
    """improvement() stand-in: item k of the n-th scoring gets gain gains[k] + 0.01 n; counts calls."""

    def __init__(self, gains):
        self.gains, self.calls = list(gains), 0

    def __call__(self, original, enhanced, recist_points, ssim_min=finetune_score.SSIM_MIN):
        scoring, k = divmod(self.calls, len(self.gains))
        self.calls += 1
        q = finetune_score.Quality(cnr=1.0, sharpness=1.0, noise=0.01, contrast=0.01)
        # Each later scoring adds 0.01 to every gain: a round gain of 0.01.
        after = finetune_score.Quality(cnr=float(np.exp(self.gains[k] + 0.01 * scoring)), sharpness=1.0,
                                       noise=0.01, contrast=0.01)
        return finetune_score.Improvement(q, after, ssim_to_input=0.9, ssim_min=ssim_min)


def config(tmp_path, lesion_set, tiny_models, **kw):
    fields = dict(model_dir=str(tmp_path / "ft"), data_dir=lesion_set, denoise_model=tiny_models["denoise"],
                  enhance_model=tiny_models["enhance"], max_rounds=2, round_steps=2, max_selected=3, min_gain=-1.0,
                  stage_overrides={"checkpoint_every": 2, "log_every": 1, "val_every": 2})
    return finetune.FinetuneConfig(**{**fields, **kw})


def steps(model_dir):
    return int(tf.train.latest_checkpoint(model_dir).rsplit("-", 1)[1])


def test_rounds_train_log_and_resume(tmp_path, lesion_set, tiny_models, monkeypatch):
    fake = FakeScore([0.5, -0.2, 0.3, 0.1, -0.4, 0.2])
    monkeypatch.setattr(finetune_score, "improvement", fake)
    source_steps = {s: steps(tiny_models[s]) for s in ("denoise", "enhance")}
    state = finetune.finetune(config(tmp_path, lesion_set, tiny_models, max_rounds=1))
    out = tmp_path / "ft"
    assert fake.calls == 12 and state["stopped"] == "--max_rounds=1 done"  # scored before and after round 1
    first = state["evaluations"][0]
    assert first["scored"] == 6 and first["improved"] == 4 and first["selected"] == 3  # max_selected caps it
    assert first["mean_selected_gain"] == pytest.approx((0.5 + 0.3 + 0.2) / 3)
    pool = finetune.Pool.load(str(out / "rounds" / "pool_0.npz"))
    assert list(pool.gains[[0, 2, 5]]) == pytest.approx([0.5, 0.3, 0.2]) and len(pool.selected) == 3
    assert pool.selected[0].dtype == np.uint16
    for stage in ("denoise", "enhance"):
        assert steps(out / stage) == source_steps[stage] + 2
        assert steps(tiny_models[stage]) == source_steps[stage]  # the sources are untouched
    assert state["rounds"][0]["round_gain"] == pytest.approx(0.01)
    assert os.listdir(out / "logs")
    # The fine-tuned G1/G2 are ordinary training runs.
    Enhancer.for_variant("sgan", {s: str(out / s) for s in ("denoise", "enhance")})(np.zeros((40, 40)), 1.5)

    # A run with more rounds that stops in round 2, after G1 and before G2 ...
    class StopInEnhance(finetune.GANTrainer):
        def fit(self):
            if self.config.stage == "enhance":
                raise KeyboardInterrupt
            return super().fit()

    with monkeypatch.context() as m:
        m.setattr(finetune, "GANTrainer", StopInEnhance)
        with pytest.raises(KeyboardInterrupt):
            finetune.finetune(config(tmp_path, lesion_set, tiny_models, max_rounds=2))
    assert fake.calls == 12 and steps(out / "denoise") == source_steps["denoise"] + 4
    assert steps(out / "enhance") == source_steps["enhance"] + 2
    # ... resumes in round 2: no new scoring before it, G1 is done, G2 trains, then the final scoring.
    state = finetune.finetune(config(tmp_path, lesion_set, tiny_models, max_rounds=2))
    assert fake.calls == 18 and len(state["evaluations"]) == 3 and len(state["rounds"]) == 2
    assert steps(out / "enhance") == source_steps["enhance"] + 4
    with open(out / finetune.STATE_FILE) as f:
        assert json.load(f)["stopped"] == "--max_rounds=2 done"


def test_stop_rules(tmp_path, lesion_set, tiny_models, monkeypatch):
    monkeypatch.setattr(finetune_score, "improvement", FakeScore([-0.1] * 6))
    state = finetune.finetune(config(tmp_path, lesion_set, tiny_models, model_dir=str(tmp_path / "none")))
    assert state["rounds"] == [] and "no training ROI improved" in state["stopped"]
    monkeypatch.setattr(finetune_score, "improvement", FakeScore([0.2] * 6))
    state = finetune.finetune(config(tmp_path, lesion_set, tiny_models, model_dir=str(tmp_path / "gain"),
                                     min_gain=0.5))
    assert len(state["rounds"]) == 1 and "< --min_gain=0.5" in state["stopped"]


def test_bad_configurations(tmp_path, lesion_set, tiny_models):
    with pytest.raises(UserError, match="--enhance_model"):
        finetune.finetune(config(tmp_path, lesion_set, tiny_models, enhance_model=None))
    with pytest.raises(UserError, match="holds a 'single' run"):
        finetune.finetune(config(tmp_path, lesion_set, tiny_models, enhance_model=tiny_models["single"]))
    with pytest.raises(UserError, match="ct_fraction"):
        finetune.finetune(config(tmp_path, lesion_set, tiny_models, ct_fraction=0.0))


def test_train_main_finetune(tmp_path, lesion_set, tiny_models):
    out = tmp_path / "cli"
    proc = run_module("sgan_tf.cli.train_main", "--stage=finetune", f"--data_dir={lesion_set}",
                      f"--denoise_model={tiny_models['denoise']}", f"--enhance_model={tiny_models['enhance']}",
                      f"--model_dir={out}", "--max_rounds=1", "--round_steps=1", "--ssim_min=0", "--batch_size=4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / finetune.STATE_FILE) as f:
        state = json.load(f)
    assert state["config"]["stage_overrides"] == {"batch_size": 4} and state["evaluations"][0]["scored"] == 6
    assert "Stopped:" in proc.stderr
