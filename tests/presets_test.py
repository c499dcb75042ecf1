"""Flag presets (sgan_tf/presets): names, files, and --preset on a binary's command line."""

import os

import pytest

from conftest import REPO, run_module
from sgan_tf import presets
from sgan_tf.errors import UserError


def test_every_preset_is_a_flag_file_in_the_package():
    assert {"quickstart", "cpu_medium", "eval_sim", "shipped_denoise"} <= set(presets.names())
    assert os.path.dirname(presets.path("quickstart")) == os.path.join(REPO, "sgan_tf", "presets")
    for name in presets.names():
        with open(presets.path(name), encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        assert lines and all(line.startswith("--") for line in lines), name


def test_expand_puts_the_flag_file_in_place_so_later_flags_override_it():
    file = presets.path("quickstart")
    assert presets.expand(["--preset=quickstart", "--filters=4"]) == [f"--flagfile={file}", "--filters=4"]
    assert presets.expand(["-v", "1", "--preset", "quickstart"]) == ["-v", "1", f"--flagfile={file}"]
    assert presets.expand(["--x=1", "--", "--preset=nope"]) == ["--x=1", "--", "--preset=nope"]


@pytest.mark.parametrize("args", [["--preset=nope"], ["--preset"]])
def test_a_bad_preset_name_lists_the_presets(args):
    with pytest.raises(UserError, match="no such preset; the presets are .*quickstart"):
        presets.expand(args)


def test_a_binary_takes_a_preset_and_exits_2_listing_them_for_a_bad_name():
    ok = run_module("sgan_tf.cli.train_main", "--stage=denoise", "--preset=quickstart", "--model_dir=unused",
                    "--only_check_args")
    assert ok.returncode == 0, ok.stderr[-2000:]
    unknown = run_module("sgan_tf.cli.phantom_main", "--preset=quickstart", "--output_dir=unused", "--num_slices=1")
    assert unknown.returncode == 1 and "num_blocks" in unknown.stderr  # phantom_main has no training flags
    bad = run_module("sgan_tf.cli.phantom_main", "--preset=nope", "--output_dir=unused", "--num_slices=1")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == f"phantom_main: error: --preset=nope: no such preset; the presets are " \
                                 f"{', '.join(presets.names())}"
    assert "--preset=NAME" in run_module("sgan_tf.cli.phantom_main", "--help").stdout
