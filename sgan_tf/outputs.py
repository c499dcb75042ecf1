"""Output folders and the one way every command writes a file into them.

`write_file` (and `write_png`, `write_npy`, `write_json`) keep a write inside its output folder
(`inside`), refuse a path whose file or any folder below the output folder is a symlink (a link
planted there cannot redirect a write to another file), and write to a temporary name in the
target's folder that is then renamed into place: a reader, or a rerun after a crash or a full
disk, sees the old file or the complete new one, never a part. The output folder itself may
be a symlink: the user chose it.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import tempfile

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


def write_file(path: str, data: bytes | str, root: str | None = None) -> str:
    """Writes `data` to `path` inside `root` (default: path's folder) as the module docstring
    says, creating folders below `root`; DataError naming the path when it cannot."""
    root = root if root is not None else (os.path.dirname(path) or ".")
    target = inside(root, os.path.relpath(os.path.abspath(path), os.path.abspath(root)), "output")
    check_no_links(root, target)
    folder = os.path.dirname(target)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        os.makedirs(folder, exist_ok=True)
        check_no_links(root, target)  # a folder made by someone else in the meantime
        temp = os.path.join(folder, f".{os.path.basename(target)}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)  # mode as umask says
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, target)
        except BaseException:
            if os.path.exists(temp):
                os.remove(temp)
            raise
    except OSError as e:
        raise DataError(f"{target}: could not write: {e.strerror or e}") from e
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


def write_json(path: str, value, root: str | None = None, **dump_args) -> str:
    """`value` as indented JSON, with `write_file`; `dump_args` go to json.dumps."""
    return write_file(path, json.dumps(value, indent=2, **dump_args) + "\n", root)
