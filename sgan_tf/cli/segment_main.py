r"""Segments lesions with GrabCut or an HNN on one variant: every lesion row of a DeepLesion-layout
set, or one lesion a reader measured (--recist) on a DICOM, NIfTI / MetaImage or PNG slice.

Examples:

  # One lesion from its RECIST measurement (long axis x1,y1,x2,y2 then short axis x3,y3,x4,y4,
  # slice pixels) on axial slice 12 of a NIfTI volume (0 = most inferior); the mask comes out as
  # a NIfTI label volume in the CT's geometry, a PNG, and a JSON record with the area in mm²:
  segment_main --input=ct.nii.gz --slice=12 --recist=210,240,262,251,238,225,233,266 \
      --output_dir=/tmp/lesion

  # The same on a DICOM series (slice 12 in series order, counting from 0): a DICOM-SEG that
  # references the series, and a PNG; on the SGAN composite (shipped models):
  segment_main --input=/data/ct_series --slice=12 --recist=210,240,262,251,238,225,233,266 \
      --variant=sgan --output_dir=/tmp/lesion

  # A 16-bit HU PNG (value = HU + 32768) needs no --slice:
  segment_main --input=slice.png --recist=40,52,80,60,58,38,62,74 --output_dir=/tmp/lesion

  # GrabCut on OG + SGAN composites of every lesion row of a DeepLesion-layout set, one mask PNG
  # per lesion slice in slice pixels:
  segment_main --method=grabcut --variant=sgan --input=/data/phantom --output_dir=/tmp/pred \
      --denoise_model=runs/denoise --enhance_model=runs/enhance

  # An HNN trained on the og variant (train_main --stage=hnn --variant=og):
  segment_main --method=hnn --variant=og --input=/data/phantom --output_dir=/tmp/pred_hnn \
      --hnn_model=runs/hnn_og

  # Score them: eval_main --input=/data/phantom --pred_dir=/tmp/pred

One lesion (--recist): the outputs, named by the slice, are described in
sgan_tf/segment/lesion.py; existing outputs stop it unless --overwrite. A DeepLesion set: masks
are written as <output_dir>/<File_name> (DL_info.csv's name): 0/255, or label k+1 for the k-th
lesion row of a slice with several; a slice whose mask file exists is skipped before any work
unless --overwrite. Exit status: 0 all done or skipped, 2 nothing could run (bad flags or input,
one line on stderr), 4 some lesions of a set failed (named in the log).
"""

from __future__ import annotations

import math

from absl import flags

from sgan_tf import variants
from sgan_tf.cli import flags as common
from sgan_tf.errors import EXIT_SOME_FAILED, UserError, reported
from sgan_tf.segment import METHODS, grabcut

flags.DEFINE_enum("method", next(iter(METHODS)), list(METHODS), "Segmentation method (sgan_tf/segment).")
flags.DEFINE_enum("variant", variants.REFERENCE, list(variants.NAMES),
                  "Input composite (paper, Table 1; sgan_tf/variants.py).")
flags.DEFINE_string("input", None, "A DeepLesion-layout root; with --recist a DICOM file or series folder, a NIfTI / "
                    "MetaImage volume, or a 16-bit HU PNG.")
flags.DEFINE_list("recist", None, "One lesion: x1,y1,x2,y2,x3,y3,x4,y4, its long then short axis endpoints in slice "
                  "pixels (not for a DeepLesion set, whose rows carry their marks).")
flags.DEFINE_integer("slice", None, "With --recist: the slice, from 0 (a volume's axial slices inferior to superior, a "
                     "DICOM series in slice order); needed when the input has several.")
flags.DEFINE_string("output_dir", None, "Predicted masks go here.")
common.define_models("denoise", "enhance", "single", "dncnn", "hnn")
flags.DEFINE_list("splits", None, "Only these Train_Val_Test values (default: all lesions).")
flags.DEFINE_integer("grabcut_iterations", grabcut.ITERATIONS, "GrabCut iterations.")
common.define_window()
common.define_overwrite("existing mask files")
common.define_max_pixels()
flags.mark_flags_as_required(["input", "output_dir"])

FLAGS = flags.FLAGS


def recist_from_flags() -> tuple[float, ...] | None:
    """--recist as 8 finite numbers (None when unset); UserError before any work, also for
    --slice without --recist or below 0."""
    points = common.floats("recist", 8)
    if points is None:
        if FLAGS.slice is not None:
            raise UserError("--slice needs --recist (the lesion's marks on that slice)")
        return None
    if not all(math.isfinite(v) for v in points):
        raise UserError(f"--recist: 8 finite numbers are needed, got {','.join(map(str, points))}")
    if FLAGS.slice is not None and FLAGS.slice < 0:
        raise UserError(f"--slice={FLAGS.slice}: slices count from 0")
    return points


@reported("segment_main", ValueError)
def main(argv: list[str]) -> int:
    points = recist_from_flags()
    from sgan_tf.segment import lesion, segmenters

    config = common.from_flags(segmenters.SegmentConfig, models=common.models(), splits=common.ints("splits"),
                               window=common.window(), recist=points)
    if points is not None:
        lesion.segment_one(config)
        return 0
    return EXIT_SOME_FAILED if segmenters.segment_to_folder(config) else 0


run = common.entry_point(main, __doc__)


if __name__ == "__main__":
    run()
