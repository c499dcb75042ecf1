"""Output folders shared by the commands that write files, and the safe way to write a file.

`replacing` is how a writer puts a new file at a path: it refuses an existing file unless
`overwrite`, never writes through a symlink (a link at the path is refused, even with
`overwrite`), and has the writer write a temporary file in the same folder that is renamed onto
the path only when complete (`os.replace`), so a reader, or a rerun after a crash or a full
disk, sees either no file, the old file, or the whole new one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator

from sgan_tf.errors import DataError, UserError


def check_writable(folder: str) -> None:
    """Creates `folder` if needed; UserError unless a file can be written in it."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UserError(f"output folder {folder} is not writable: {e.strerror or e}") from e


def check_new_file(path: str, overwrite: bool) -> None:
    """DataError naming `path` if it is a symlink or a folder, or exists and `overwrite` is off."""
    if os.path.islink(path):
        raise DataError(f"{path}: is a symlink; refusing to write through it")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a folder, not a file")
    if os.path.exists(path) and not overwrite:
        raise DataError(f"{path}: exists; not overwritten (pass overwrite=True / --overwrite to replace it)")


@contextlib.contextmanager
def replacing(path: str, overwrite: bool = False) -> Iterator[str]:
    """Yields a new, empty temporary file beside `path` for the caller to write; on success it
    is renamed onto `path`, on any error removed (module docstring). Its name ends with the
    basename of `path`, so writers that pick a format by extension (.nii.gz) pick the same one.
    OSError becomes a DataError naming `path`."""
    check_new_file(path, overwrite)
    folder = os.path.dirname(path) or "."
    temp = os.path.join(folder, f".{secrets.token_hex(6)}.tmp.{os.path.basename(path)}")
    try:
        os.makedirs(folder, exist_ok=True)
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666))  # mode as umask says
    except OSError as e:
        raise DataError(f"{path}: could not write: {e.strerror or e}") from e
    try:
        yield temp
        check_new_file(path, overwrite)  # a file or link put there meanwhile
        os.replace(temp, path)
    except OSError as e:
        raise DataError(f"{path}: could not write: {e.strerror or e}") from e
    finally:
        if os.path.lexists(temp):
            os.remove(temp)
