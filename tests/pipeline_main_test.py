"""pipeline_main end to end at a small size: simulate, train every model, evaluate, print tables;
and with --models=pretrained, which trains nothing."""

import json
import os

from conftest import run_module
from sgan_tf import pretrained


def test_pipeline_runs_every_stage_and_prints_both_tables(tmp_path):
    out = tmp_path / "pipe"
    args = ["--preset=quickstart", f"--output_dir={out}", "--num_slices=24", "--image_size=128",
            "--train_steps=4", "--pretrain_steps=2", "--checkpoint_every=4", "--val_every=4",
            "--hnn_variants=sgan", "--eval_splits=1,2,3"]  # the README test trains og's
    proc = run_module("sgan_tf.cli.pipeline_main", *args, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Table 1 (24 test lesions)" in proc.stdout and "Table 2" in proc.stdout
    for row in ("| OG |", "| OG+DnCNN |", "| OG+GAN |", "| OG+GAN1 |", "| OG+SGAN |"):
        assert row in proc.stdout
    assert "| OG+BM3D |" in proc.stdout or "| OG+NLM |" in proc.stdout
    assert "say nothing about the method" in proc.stdout
    for stage in ("denoise", "enhance", "single", "dncnn", "hnn/sgan"):
        assert os.path.isfile(out / "models" / stage / "checkpoint"), stage
    table = json.load(open(out / "eval" / "table1.json"))["rows"]
    sgan = next(r for r in table if r["Input"] == "OG+SGAN")
    assert sgan["HNN n"] == 24 and 0 <= sgan["HNN dice mean"] <= 1
    for row in table:  # no HNN was trained on the other variants
        assert row["HNN n"] == 0 or row["Input"] == "OG+SGAN", row["Input"]
    rerun = run_module("sgan_tf.cli.pipeline_main", *args, timeout=600)
    assert rerun.returncode == 0 and "Simulating" not in rerun.stderr  # the set and the models are reused
    assert "Stage 1 of 6: training denoise" in rerun.stderr and "Stage 6 of 6: evaluating" in rerun.stderr


def test_pipeline_with_shipped_models_trains_nothing_and_runs_the_rows_they_make(tmp_path, shipped):
    from conftest import make_deeplesion

    make_deeplesion(str(tmp_path / "set"))
    proc = run_module("sgan_tf.cli.pipeline_main", "--models=pretrained", f"--input={tmp_path / 'set'}",
                      f"--output_dir={tmp_path / 'out'}", "--eval_splits=1,2,3", env={pretrained.ENV_DIR: shipped})
    assert proc.returncode == 0 and "Stage 1 of 1: evaluating" in proc.stderr, proc.stderr[-2000:]
    assert "not shipped, so the rows that need them are left out: single, dncnn, hnn" in proc.stderr
    for row in ("| OG |", "| OG+GAN1 |", "| OG+SGAN |"):  # the shipped G1 and G2 make these
        assert row in proc.stdout
    assert "| OG+GAN |" not in proc.stdout and "| OG+DnCNN |" not in proc.stdout
    assert not os.path.exists(tmp_path / "out" / "models")


def test_pipeline_with_shipped_models_needs_one(tmp_path):
    from conftest import make_deeplesion

    make_deeplesion(str(tmp_path / "set"))
    proc = run_module("sgan_tf.cli.pipeline_main", "--models=pretrained", f"--input={tmp_path / 'set'}",
                      f"--output_dir={tmp_path / 'out'}")
    assert proc.returncode == 2 and "--models=pretrained: no model ships with this sgan-tf" in proc.stderr, \
        proc.stderr[-2000:]
    assert not os.path.exists(tmp_path / "out")
