"""Output folders shared by the commands that write files."""

from __future__ import annotations

import os
import tempfile

from sgan_tf.errors import UserError


def check_writable(folder: str) -> None:
    """Creates `folder` if needed; UserError unless a file can be written in it."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UserError(f"output folder {folder} is not writable: {e.strerror or e}") from e
