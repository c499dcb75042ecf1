"""Output folders and the one way every command writes a file into them.

`replacing` is how any file is put at a path: the writer (ours, or a library that wants a path:
nibabel, pydicom, highdicom) writes a temporary file in the same folder, which is renamed onto
the path only when complete (`os.replace`), so a reader, or a rerun after a crash or a full
disk, sees no file, the old file or the whole new one, never a part. It refuses a path that is
a symlink (a link planted there cannot redirect a write) and, unless `overwrite`, one that
exists.

`write_file` (and `write_png`, `write_npy`, `write_json`) add the output folder's rules on top:
a write stays inside its output folder (`inside`), no folder between that folder and the file
may be a symlink, and missing folders are made. The output folder itself may be a symlink: the
user chose it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import tempfile
from collections.abc import Iterator

import cv2
import numpy as np

from sgan_tf.errors import DataError, UserError


def check_writable(folder: str) -> None:
    """Creates `folder` if needed; UserError unless a file can be written in it."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UserError(f"output folder {folder} is not writable: {e.strerror or e}") from e


def inside(root: str, relative: str, what: str) -> str:
    """root/relative, normalised; DataError naming `what` when `relative` is absolute or climbs
    out of `root` with '..' (paths taken from data files, e.g. DL_info.csv's File_name)."""
    if not relative or os.path.isabs(relative) or "\0" in relative:
        raise DataError(f"{what}: {relative!r} is not a relative path inside {root}")
    base = os.path.abspath(root)
    path = os.path.normpath(os.path.join(base, relative))
    if os.path.commonpath([base, path]) != base or path == base:
        raise DataError(f"{what}: {relative!r} points outside {root}")
    return path


def check_no_links(root: str, path: str) -> None:
    """DataError if `path` or a folder between `root` and it is a symlink."""
    base = os.path.abspath(root)
    current = base
    for part in os.path.relpath(path, base).split(os.sep):
        current = os.path.join(current, part)
        if os.path.islink(current):
            raise DataError(f"{current} is a symlink; refusing to write through it")


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


def write_file(path: str, data: bytes | str, root: str | None = None) -> str:
    """Writes `data` to `path` inside `root` (default: path's folder) as the module docstring
    says, creating folders below `root` and replacing an existing file; DataError naming the
    path when it cannot."""
    root = root if root is not None else (os.path.dirname(path) or ".")
    target = inside(root, os.path.relpath(os.path.abspath(path), os.path.abspath(root)), "output")
    check_no_links(root, target)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
    except OSError as e:
        raise DataError(f"{target}: could not write: {e.strerror or e}") from e
    check_no_links(root, target)  # a folder made by someone else in the meantime
    with replacing(target, overwrite=True) as temp:
        with open(temp, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
    return target


def png_bytes(image: np.ndarray, what: str) -> bytes:
    """`image` encoded as PNG (8- or 16-bit, gray or BGR); DataError naming `what` if OpenCV cannot."""
    try:
        ok, buffer = cv2.imencode(".png", image)
    except cv2.error as e:
        raise DataError(f"{what}: could not encode as PNG: {e.err or e}") from e
    if not ok:
        raise DataError(f"{what}: could not encode as PNG")
    return buffer.tobytes()


def write_png(path: str, image: np.ndarray, root: str | None = None) -> str:
    """`image` as a PNG file, with `write_file`."""
    return write_file(path, png_bytes(image, path), root)


def write_npy(path: str, array: np.ndarray, root: str | None = None) -> str:
    """`array` as a .npy file, with `write_file`."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return write_file(path, buffer.getvalue(), root)


def write_npz(path: str, arrays: dict[str, np.ndarray], compressed: bool = False, root: str | None = None) -> str:
    """`arrays` as an .npz file (zip-compressed if `compressed`), with `write_file`."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return write_file(path, buffer.getvalue(), root)


def sha256(path: str) -> str:
    """The hex SHA-256 of a file's content (a shipped model's weights, a cached source)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: str, value, root: str | None = None, **dump_args) -> str:
    """`value` as indented JSON, with `write_file`; `dump_args` go to json.dumps."""
    return write_file(path, json.dumps(value, indent=2, **dump_args) + "\n", root)
