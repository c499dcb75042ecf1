"""The size caps: the one limit on any image or volume the commands decode or make.

Every image reader checks the size a file's header claims against the pixel cap before
decoding (PNG: the IHDR chunk; JPEG: the start-of-frame marker; DICOM: Rows x Columns x frames,
in sgan_tf/data/dicom.py), so a small file claiming a huge image (a decompression bomb) fails
by name instead of taking the machine's memory; an enhancement checks its zoomed size the same
way. Binaries set the cap from their --max_pixels flag (sgan_tf/cli/flags.py). Volume files
(NIfTI, MetaImage) are checked the same way against the voxel cap `MAX_VOXELS`.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from sgan_tf.errors import DataError, UserError

DEFAULT_MAX_PIXELS = 100_000_000
MAX_VOXELS = 1_000_000_000  # 4 GB as float32 HU; a 512 x 512 x 3800-slice CT
EXPORT_MAX_SIDE = 1024  # default largest zoomed side an exported enhancer takes (it runs untiled)
EXPORT_MAX_BATCH_PIXELS = 4 * EXPORT_MAX_SIDE * EXPORT_MAX_SIDE  # default largest batch of an export, in pixels
_max_pixels = DEFAULT_MAX_PIXELS

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, ...); not DHT, JPG or DAC.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def set_max_pixels(count: int) -> None:
    """Sets the cap (pixels per image); UserError unless it is a positive integer."""
    global _max_pixels
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UserError(f"--max_pixels={count} must be a positive integer")
    _max_pixels = count


def max_pixels() -> int:
    return _max_pixels


def check_pixels(width: int, height: int, what: str, planes: int = 1) -> None:
    """DataError naming `what` unless width x height (x planes) is within the cap."""
    count = int(width) * int(height) * int(planes)
    if count > _max_pixels:
        frames = f" x {planes}" if planes > 1 else ""
        raise DataError(f"{what}: {int(width)}x{int(height)}{frames} = {count:,} pixels is over the "
                        f"--max_pixels={_max_pixels:,} cap (raise it if this image is genuine)")


def _jpeg_size(f) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame marker, or None if not found."""
    f.seek(2)
    while True:
        marker = f.read(2)
        while len(marker) == 2 and marker[0] == 0xFF and marker[1] == 0xFF:  # fill bytes
            marker = marker[1:] + f.read(1)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        if marker[1] in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            continue
        length = f.read(2)
        if len(length) < 2:
            return None
        size = struct.unpack(">H", length)[0]
        if marker[1] in _JPEG_SOF:
            frame = f.read(5)
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        f.seek(size - 2, 1)


def check_image_file(path: str) -> None:
    """Checks the size a PNG or JPEG header claims against the cap, before any decoding.
    Other formats are left to the decoder (OpenCV refuses more than 2^30 pixels itself)."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
            if head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":
                width, height = struct.unpack(">II", head[16:24])
            elif head[:2] == b"\xff\xd8":
                size = _jpeg_size(f)
                if size is None:
                    return
                width, height = size
            else:
                return
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from e
    check_pixels(width, height, path)


def check_voxels(shape: Sequence[int], what: str, max_voxels: int = MAX_VOXELS) -> None:
    """DataError naming `what` unless every dimension is positive and their product is within
    `max_voxels`."""
    dims = [int(n) for n in shape]
    if any(n < 1 for n in dims):
        raise DataError(f"{what}: dimensions {'x'.join(map(str, dims))} include an empty one")
    count = math.prod(dims)
    if count > max_voxels:
        raise DataError(f"{what}: {'x'.join(map(str, dims))} = {count:,} voxels is over the cap of "
                        f"{max_voxels:,} (sgan_tf.data.limits.MAX_VOXELS)")
