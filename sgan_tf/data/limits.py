"""The voxel-count cap on volume files, checked against the size a header claims before any
voxel data is read, so that a small or malicious file claiming a huge volume fails by name
instead of taking the machine's memory."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sgan_tf.errors import DataError

MAX_VOXELS = 1_000_000_000  # 4 GB as float32 HU; a 512 x 512 x 3800-slice CT


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
