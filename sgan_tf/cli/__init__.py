"""The console binaries (`*_main`), their shared flags (`flags.py`) and the train flags that
train_main and pipeline_main share (`train_flags.py`). Each binary parses its flags and calls
one library function.

Importing this package quiets TensorFlow's C++ log (TF_CPP_MIN_LOG_LEVEL=2: errors only) before
anything can import TensorFlow, unless the command line asks for more (`--verbosity=1` or `-v 1`
and above; absl's flag) or the variable is set already. At the same verbosity it drops the INFO
lines TensorFlow's Python code sends through absl's logger (`QuietTensorFlow`: "Sharding callback
duration" at every checkpoint save), keeping its warnings and errors.
"""

from __future__ import annotations

import logging
import os
import sys

from absl import logging as absl_logging


def _verbosity(argv: list[str]) -> int:
    """absl's --verbosity / -v value on a command line (0 when absent or unreadable)."""
    for i, arg in enumerate(argv):
        for name in ("--verbosity", "-v"):
            value = None
            if arg.startswith(name + "="):
                value = arg.split("=", 1)[1]
            elif arg == name and i + 1 < len(argv):
                value = argv[i + 1]
            if value is not None:
                try:
                    return int(value)
                except ValueError:
                    return 0
    return 0


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if _verbosity(sys.argv[1:]) >= 1 else "2")


class QuietTensorFlow(logging.Filter):
    """Drops records below WARNING logged from TensorFlow's own files."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or f"{os.sep}tensorflow{os.sep}" not in record.pathname


if _verbosity(sys.argv[1:]) < 1:
    absl_logging.get_absl_logger().addFilter(QuietTensorFlow())  # absl's own logger class, so lines keep their file
