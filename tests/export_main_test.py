"""export_main as a user runs it: both models, a folder of HNN runs, the printed commands, the
version folder refused without --overwrite, one model group alone, and each bad flag."""

import json
import os

import pytest

from conftest import run_module
from export_test import make_hnn_run


@pytest.fixture(scope="module")
def hnn_runs(tmp_path_factory) -> str:
    """A folder of HNN runs by variant (og, sgan), as --hnn_model takes it."""
    root = tmp_path_factory.mktemp("hnn_runs")
    for variant in ("og", "sgan"):
        make_hnn_run(root / variant, variant)
    return str(root)


def test_exports_both_models_and_refuses_to_overwrite(tmp_path, tiny_models, hnn_runs):
    out = tmp_path / "serving"
    args = [f"--denoise_model={tiny_models['denoise']}", f"--enhance_model={tiny_models['enhance']}",
            f"--hnn_model={hnn_runs}", "--hnn_variant=sgan", f"--export_dir={out}", "--version=7",
            "--base_path=/models", "--threshold=0.4"]
    first = run_module("sgan_tf.cli.export_main", *args)
    assert first.returncode == 0, first.stderr[-3000:]
    for model in ("enhancer", "hnn"):
        assert (out / model / "7" / "saved_model.pb").is_file()
        assert f"saved_model_cli show --dir {out / model / '7'} --all" in first.stdout
    assert f'docker run -p 8501:8501 -p 8500:8500 -v "{out}:/models" tensorflow/serving ' \
           "--model_config_file=/models/models.config" in first.stdout
    config = (out / "models.config").read_text()
    assert 'base_path: "/models/enhancer"' in config and 'base_path: "/models/hnn"' in config
    sidecar = json.loads((out / "hnn" / "7" / "assets.extra" / "export.json").read_text())
    assert sidecar["sources"]["hnn_model"]["variant"] == "sgan" and sidecar["threshold"] == 0.4

    again = run_module("sgan_tf.cli.export_main", *args)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert f"export_main: error: {out / 'enhancer' / '7'} exists" in again.stderr
    assert "--overwrite" in again.stderr

    # The HNN alone, replacing its version; the enhancer's folder stays listed in models.config.
    hnn_only = run_module("sgan_tf.cli.export_main", f"--hnn_model={hnn_runs}", "--hnn_variant=og",
                          f"--export_dir={out}", "--version=7", "--overwrite")
    assert hnn_only.returncode == 0, hnn_only.stderr[-3000:]
    assert f"wrote {out / 'hnn' / '7'}" in hnn_only.stdout and f"wrote {out / 'enhancer'}" not in hnn_only.stdout
    sidecar = json.loads((out / "hnn" / "7" / "assets.extra" / "export.json").read_text())
    assert sidecar["sources"]["hnn_model"]["variant"] == "og" and sidecar["threshold"] == 0.5
    config = (out / "models.config").read_text()
    assert f'base_path: "{out / "enhancer"}"' in config and f'base_path: "{out / "hnn"}"' in config
    assert sorted(os.listdir(out / "hnn")) == ["7"]


@pytest.mark.parametrize("flags,needle,code", [
    ([], "nothing to export", 2),
    (["--hnn_model={runs}", "--window=dicom"], "an export fixes one window", 2),
    (["--hnn_model={runs}"], "holds HNNs for og, sgan: choose one with --hnn_variant", 2),
    (["--hnn_model={runs}", "--hnn_variant=gan"], "has no HNN for variant gan", 2),
    (["--denoise_model={denoise}"], "variant sgan needs --enhance_model", 2),
    (["--hnn_model={runs}", "--hnn_variant=og", "--base_path=models"], "must be an absolute path", 2),
    (["--hnn_model={runs}", "--threshold=1.5"], "strictly between 0 and 1", 1),
    (["--hnn_model={runs}", "--version=0"], "version", 1),
])
def test_bad_flags_give_one_clear_line(tmp_path, tiny_models, hnn_runs, flags, needle, code):
    version = [] if any(f.startswith("--version") for f in flags) else ["--version=1"]
    args = [f.format(runs=hnn_runs, denoise=tiny_models["denoise"]) for f in flags]
    proc = run_module("sgan_tf.cli.export_main", *args, f"--export_dir={tmp_path / 'out'}", *version)
    assert proc.returncode == code, proc.stderr[-3000:]
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "hnn").exists() and not (tmp_path / "out" / "enhancer").exists()
