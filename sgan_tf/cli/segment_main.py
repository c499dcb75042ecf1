r"""Segments every lesion of a lesion source (a DeepLesion-layout set) with GrabCut or an HNN on one variant.

Examples:

  # GrabCut on OG + SGAN composites, one mask PNG per lesion slice in slice pixels:
  segment_main --method=grabcut --variant=sgan --input=/data/phantom --output_dir=/tmp/pred \
      --denoise_model=runs/denoise --enhance_model=runs/enhance

  # An HNN trained on the og variant (train_main --stage=hnn --variant=og):
  segment_main --method=hnn --variant=og --input=/data/phantom --output_dir=/tmp/pred_hnn \
      --hnn_model=runs/hnn_og

  # Score them: eval_main --input=/data/phantom --pred_dir=/tmp/pred

Masks are written as <output_dir>/<File_name> (DL_info.csv's name): 0/255, or label k+1 for
the k-th lesion row of a slice with several. A slice whose mask file exists is skipped before
any work unless --overwrite; the others are segmented and written. Exit status: 0 all done or
skipped, 2 nothing could run (one line on stderr), 4 some lesions failed (named in the log).
"""

from __future__ import annotations

from absl import flags

from sgan_tf import variants
from sgan_tf.cli import flags as common
from sgan_tf.errors import EXIT_SOME_FAILED, reported
from sgan_tf.segment import METHODS, grabcut

flags.DEFINE_enum("method", next(iter(METHODS)), list(METHODS), "Segmentation method (sgan_tf/segment).")
flags.DEFINE_enum("variant", variants.REFERENCE, list(variants.NAMES),
                  "Input composite (paper, Table 1; sgan_tf/variants.py).")
flags.DEFINE_string("input", None, "A DeepLesion-layout root.")
flags.DEFINE_string("output_dir", None, "Predicted masks go here.")
common.define_models("denoise", "enhance", "single", "dncnn", "hnn")
flags.DEFINE_list("splits", None, "Only these Train_Val_Test values (default: all lesions).")
flags.DEFINE_integer("grabcut_iterations", grabcut.ITERATIONS, "GrabCut iterations.")
common.define_window()
common.define_overwrite("existing mask files")
common.define_max_pixels()
flags.mark_flags_as_required(["input", "output_dir"])

FLAGS = flags.FLAGS


@reported("segment_main", ValueError)
def main(argv: list[str]) -> int:
    from sgan_tf.segment import segmenters

    config = common.from_flags(segmenters.SegmentConfig, models=common.models(), splits=common.ints("splits"),
                               window=common.window())
    return EXIT_SOME_FAILED if segmenters.segment_to_folder(config) else 0


run = common.entry_point(main, __doc__)


if __name__ == "__main__":
    run()
