"""--max_pixels, shared by every binary that decodes images (the cap: sgan_tf/data/limits.py)."""

from __future__ import annotations

from absl import flags

from sgan_tf.data import limits

flags.DEFINE_integer("max_pixels", limits.DEFAULT_MAX_PIXELS,
                     "Largest image (pixels: width x height) read or made: larger files are refused by name "
                     "before decoding, a larger zoomed image before it is made. Bounds memory.", lower_bound=1)
FLAGS = flags.FLAGS


def apply() -> None:
    """Sets the readers' cap from --max_pixels; binaries call it first in main."""
    limits.set_max_pixels(FLAGS.max_pixels)
