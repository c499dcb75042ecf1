r"""Writes a simulated low-dose CT lesion set in the DeepLesion layout (sgan_tf.data.phantom).

Output: Images_png/<series>/<slice>.png (low-dose, 16-bit, HU + 32768), Images_png_clean/...
(the noise-free reconstruction), masks/... (true lesion masks, 0/255) and DL_info.csv; one
lesion per slice, all 8 coarse lesion types in turn. The same --seed gives the same bytes.

Examples:

  # 100 slices at 512 x 512 with all CPUs:
  phantom_main --output_dir=/data/phantom --num_slices=100 --seed=0

  # A fixed dose of 5e4 photons per ray, two worker processes, replacing an earlier set:
  phantom_main --output_dir=/data/phantom --num_slices=100 --seed=0 --photons=5e4 --workers=2 --overwrite

  # A quick small set (256 x 256, same field of view):
  phantom_main --output_dir=/tmp/phantom --num_slices=16 --seed=1 --image_size=256

  # Exit status: 0 done, 1 bad flags (absl), 2 bad input (one line on stderr).
"""

from __future__ import annotations


from absl import flags, logging

from sgan_tf.cli import flags as common
from sgan_tf.data import phantom
from sgan_tf.errors import reported

flags.DEFINE_string("output_dir", None, "Folder of the set; must be empty or absent unless --overwrite.")
flags.DEFINE_integer("num_slices", None, "Slices (one lesion each).")
flags.DEFINE_integer("seed", 0, "Seed of the set; slice i depends only on it and on i.")
flags.DEFINE_string("photons", ",".join(f"{v:g}" for v in phantom.DEFAULT_PHOTONS),
                    "Incident photons per ray: I0, or LOW,HIGH to draw I0 per slice (log-uniform).")
flags.DEFINE_integer("workers", None, "Worker processes (default: all CPUs).")
flags.DEFINE_integer("image_size", phantom.DEFAULT_SIZE, "Slice size in pixels, >= 128 (the field of view in mm stays).")
flags.DEFINE_integer("views", None, "Projection views over 180 degrees, even (default: 1.5 per pixel, 768 at 512).")
common.define_overwrite("a set in a non-empty --output_dir", "refuse a non-empty --output_dir")
flags.mark_flags_as_required(["output_dir", "num_slices"])

FLAGS = flags.FLAGS


@reported("phantom_main")
def main(argv: list[str]) -> int:
    records = phantom.write_set(FLAGS.output_dir, FLAGS.num_slices, FLAGS.seed,
                                photons=phantom.parse_photons(FLAGS.photons), workers=FLAGS.workers,
                                size=FLAGS.image_size, views=FLAGS.views, overwrite=FLAGS.overwrite)
    logging.info("Wrote %d slices to %s", len(records), FLAGS.output_dir)
    return 0


run = common.entry_point(main, __doc__)


if __name__ == "__main__":
    run()
