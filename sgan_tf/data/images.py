"""Loading natural-image sources as grayscale images on the [0, 1] scale.

Scale (used by every synthesis op and by the natural-image GAN stages): 0 is black and 1 is
the maximum of the file's integer type (255 for 8-bit, 65535 for 16-bit); float images are
taken as already on [0, 1] and clipped. Colour images are converted with OpenCV's BGR->gray
(ITU-R BT.601 luma); an alpha channel is dropped.

Training sets are held in memory at their own depth (uint8, uint16 or float32) and converted
to float32 per crop by `as_unit`: DIV2K as 8-bit grayscale takes 2.2 GB instead of 8.9 GB.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np
from absl import logging

from sgan_tf.data.ct import read_image_file
from sgan_tf.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")

# Photographs bundled inside scikit-image's package folder (no fetcher, no network). Synthetic
# patterns (chessboard, colour wheel, logo, binary silhouettes) are left out.
SKIMAGE_BUNDLED = (
    "astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png",
    "coffee.png", "coins.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png",
    "microaneurysms.png", "moon.png", "motorcycle_left.png", "motorcycle_right.png",
    "page.png", "retina.jpg", "rocket.jpg", "text.png",
)


def as_unit(image: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float array -> float32 on [0, 1] (see the module docstring)."""
    if np.issubdtype(image.dtype, np.integer):
        return image.astype(np.float32) / float(np.iinfo(image.dtype).max)
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def to_gray(image: np.ndarray) -> np.ndarray:
    """Any-depth grayscale/BGR(A) array -> [H, W] grayscale at its own depth (uint8, uint16)
    or float32 clipped to [0, 1]."""
    if image.ndim == 3:
        if image.shape[2] == 4:
            image = image[..., :3]
        if image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        elif image.shape[2] == 1:
            image = image[..., 0]
        else:
            raise ValueError(f"unsupported channel count {image.shape[2]}")
    elif image.ndim != 2:
        raise ValueError(f"unsupported image rank {image.ndim}")
    if image.dtype in (np.uint8, np.uint16):
        return np.ascontiguousarray(image)
    if not np.all(np.isfinite(image)):
        raise ValueError("image has NaN or inf pixels")
    return as_unit(image)


def read_image(path: str) -> np.ndarray:
    """Reads one file as grayscale at its own depth (see `to_gray`); DataError if unreadable or
    over the pixel cap, ValueError for an unsupported layout."""
    if os.path.dirname(path) == _skimage_folder() and path.endswith(".png"):
        return to_gray(_read_bundled_png(path))
    return to_gray(read_image_file(path))


def _skimage_folder() -> str:
    import skimage.data

    return os.path.dirname(skimage.data.__file__)


def _read_bundled_png(path: str) -> np.ndarray:
    """A bundled scikit-image PNG through Pillow, channels in OpenCV's (BGR) order: the same
    pixels as cv2.imread, without the libpng warning OpenCV prints for page.png's colour
    profile on every read."""
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.asarray(image)
    return np.ascontiguousarray(pixels[..., ::-1]) if pixels.ndim == 3 else pixels


def list_image_files(folder: str) -> list[str]:
    """All image files below `folder` (recursive, sorted, extension case-insensitive)."""
    if not os.path.isdir(folder):
        raise DataError(f"data folder {folder!r} does not exist or is not a folder")
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(os.path.join(root, name))
    if not found:
        raise DataError(f"data folder {folder!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return found


def skimage_files() -> list[str]:
    """Paths of scikit-image's bundled photographs that are present in this install."""
    folder = _skimage_folder()
    paths = [os.path.join(folder, n) for n in SKIMAGE_BUNDLED if os.path.exists(os.path.join(folder, n))]
    if not paths:
        raise DataError(f"no bundled scikit-image photographs found in {folder}")
    return paths


SKIMAGE = "skimage"  # names the bundled photographs in a list of image folders


def image_files(spec: str | None) -> list[str]:
    """The image files of a comma-separated list of folders (recursive); `SKIMAGE` in the list
    (or no list at all) names scikit-image's bundled photographs."""
    files = []
    for folder in (spec or SKIMAGE).split(","):
        folder = folder.strip()
        files.extend(skimage_files() if folder == SKIMAGE else list_image_files(folder))
    return files


def load_images(paths: Sequence[str], min_size: int) -> tuple[list[np.ndarray], list[str]]:
    """Reads `paths` at their own depth (convert with `as_unit`), skipping with a warning that
    names the file unreadable images and images smaller than `min_size` on either side.
    Raises DataError if nothing is left."""
    images, kept = [], []
    for path in paths:
        try:
            image = read_image(path)
        except DataError as e:  # names the file
            logging.warning("Skipping %s", e)
            continue
        except ValueError as e:
            logging.warning("Skipping %s: %s", path, e)
            continue
        if min(image.shape) < min_size:
            logging.warning("Skipping %s: %dx%d is smaller than the %d-pixel crop", path, *image.shape, min_size)
            continue
        images.append(image)
        kept.append(path)
    if not images:
        raise DataError(
            f"none of the {len(paths)} image files is usable (unreadable or smaller than {min_size} px)"
        )
    return images, kept


def split_holdout(paths: Sequence[str], fraction: float = 0.1) -> tuple[list[str], list[str]]:
    """Deterministic train/validation split: every k-th file (sorted order) is held out.

    With a single file it is used for both (validation is then not independent).
    """
    paths = list(paths)
    if len(paths) == 1:
        logging.warning("Only one image: validation pairs come from the training image.")
        return paths, paths
    k = max(2, int(round(1.0 / fraction)))
    val = paths[k - 1 :: k] or paths[-1:]
    train = [p for p in paths if p not in set(val)]
    return train, val
