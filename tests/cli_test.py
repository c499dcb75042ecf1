"""The binaries' shared behaviour (sgan_tf/cli): --help, list flags, flags into dataclasses."""

import dataclasses
import logging
import os

import pytest
from absl import flags
from absl import logging as absl_logging

from conftest import run_module
from sgan_tf.cli import QuietTensorFlow, _verbosity
from sgan_tf.cli import flags as common
from sgan_tf.errors import UserError

BINARIES = ("train", "phantom", "enhance", "segment", "eval", "pipeline", "export")


@pytest.mark.parametrize("binary", BINARIES)
def test_help_prints_the_docstring_and_own_flags_and_exits_0(binary):
    proc = run_module(f"sgan_tf.cli.{binary}_main", "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Examples:" in proc.stdout and f"{binary}_main --" in proc.stdout
    assert "\nFlags:\n" in proc.stdout and "--helpfull" in proc.stdout
    assert "--logtostderr" not in proc.stdout and "--only_check_args" not in proc.stdout  # absl's own
    assert "Traceback" not in proc.stderr


def test_help_lists_the_shared_flags_of_its_binary():
    enhance = run_module("sgan_tf.cli.enhance_main", "--help").stdout
    assert "--window:" in enhance and "--denoise_model:" in enhance and "'pretrained'" in enhance
    assert "--hnn_model:" not in enhance and "--stage:" not in enhance
    assert "--hnn_model:" in run_module("sgan_tf.cli.segment_main", "--help").stdout


def test_verbosity_is_read_before_tensorflow_loads():
    assert _verbosity([]) == 0 and _verbosity(["--verbosity=1"]) == 1 and _verbosity(["-v", "2"]) == 2
    assert _verbosity(["--verbosity", "x"]) == 0


def test_tensorflow_info_lines_are_dropped_and_its_warnings_and_ours_kept():
    def record(level: int, path: str) -> logging.LogRecord:
        return logging.LogRecord("absl", level, path, 1, "message", (), None)

    tf_file = os.path.join("site-packages", "tensorflow", "python", "checkpoint", "functional_saver.py")
    quiet = QuietTensorFlow()
    assert not quiet.filter(record(logging.INFO, tf_file))  # "Sharding callback duration ..."
    assert quiet.filter(record(logging.WARNING, tf_file))
    assert quiet.filter(record(logging.INFO, os.path.join("sgan_tf", "training", "loop.py")))
    assert isinstance(absl_logging.get_absl_logger(), absl_logging.ABSLLogger)  # log lines keep their file:line


def test_list_flags_and_dataclasses_from_flags():
    values = flags.FlagValues()
    flags.DEFINE_list("sizes", ["1", "2"], "", flag_values=values)
    flags.DEFINE_list("range", ["0.5", "x"], "", flag_values=values)
    flags.DEFINE_integer("count", 3, "", flag_values=values)
    values(["prog"])
    saved, common.FLAGS = common.FLAGS, values
    try:
        assert common.ints("sizes") == (1, 2)
        with pytest.raises(UserError, match="--sizes takes 3 comma-separated integers, got 2"):
            common.ints("sizes", 3)
        with pytest.raises(UserError, match="--range: could not convert"):
            common.floats("range")

        @dataclasses.dataclass
        class Config:
            count: int
            sizes: tuple[int, ...] = (7,)
            other: str = "kept"

        assert common.from_flags(Config) == Config(3, (1, 2), "kept")
        assert common.from_flags(Config, {"other": "count"}, sizes=()) == Config(3, (), 3)
    finally:
        common.FLAGS = saved
