r"""Enhances CT with trained sgan-tf models: G1 (denoise) -> per-lesion zoom -> G2 (enhance).

Examples:

  # Every lesion ROI of a DeepLesion-layout set (e.g. one made by phantom_main), test split:
  enhance_main --input=/data/DeepLesion --denoise_model=runs/denoise \
      --enhance_model=runs/enhance --output_dir=/tmp/enhanced --splits=3

  # A DICOM series, whole slices (tiled), plus a derived DICOM series without patient tags:
  enhance_main --input=/data/ct_series --denoise_model=runs/denoise \
      --enhance_model=runs/enhance --output_dir=/tmp/series_out --write_dicom --deidentify

  # The same ROI of every slice of a series, enlarged 2x, as a derived series placed on the
  # source (PixelSpacing and ImagePositionPatient of the zoomed grid):
  enhance_main --input=/data/ct_series --output_dir=/tmp/roi_series --roi=200,180,96 --zoom=2 \
      --write_dicom

  # One 16-bit HU PNG, an ROI at x=200, y=180 of side 96, enlarged 2x:
  enhance_main --input=slice.png --denoise_model=runs/denoise --enhance_model=runs/enhance \
      --output_dir=/tmp/roi_out --roi=200,180,96 --zoom=2

  # With the shipped models (no model flag: those that ship), a NIfTI volume slice by slice;
  # /tmp/volume_out/ct.nii.gz/enhanced.nii.gz (and denoised.nii.gz) come out in the source's
  # geometry once every slice is done (MetaImage .mha / .mhd alike):
  enhance_main --input=ct.nii.gz --output_dir=/tmp/volume_out

  # The paper's baselines through the same path: --variant=gan1 (G1 only), --variant=bm3d, or
  # --variant=gan --single_model=runs/single (variants: sgan_tf/variants.py).

Inputs are any source of sgan_tf/data/sources.py. Outputs per item, per volume and the summary
are described in sgan_tf/enhance_batch.py; a volume gets its enhanced volume for whole slices at
zoom 1 only (with --roi or --zoom: per-slice outputs). A finished item (its item.json exists)
or volume (volume.json) is skipped unless --overwrite; an unfinished one is redone. Exit
status: 0 every item done or skipped, 1 bad flags (absl), 2 nothing could run (bad input path,
models, flag values or output folder; one line on stderr), 4 the batch finished but some
items failed (listed in summary.json).
"""

from __future__ import annotations

import math

from absl import flags

from sgan_tf import variants
from sgan_tf.cli import flags as common
from sgan_tf.data import limits, recist
from sgan_tf.errors import EXIT_SOME_FAILED, UserError, reported

flags.DEFINE_string("input", None, "A DeepLesion-layout root, a DICOM file or folder, a 16-bit HU PNG (or folder), "
                    "or a NIfTI / MetaImage volume (or folder).")
flags.DEFINE_string("output_dir", None, "One sub-folder per item is written here, and summary.json.")
flags.DEFINE_enum("variant", variants.DEFAULT, list(variants.NAMES), "Which stages run (sgan_tf/variants.py).")
common.define_models("denoise", "enhance", "single", "dncnn")
common.define_window()
flags.DEFINE_list("roi", None, "Items without lesion marks: enhance only the square x0,y0,side (slice pixels).")
flags.DEFINE_float("zoom", 1.0, "Items without lesion marks: enlargement before G2 (>= 1, at most --max_zoom).")
flags.DEFINE_float("target_lesion_px", recist.TARGET_LESION_PX,
                   "Items with lesion marks: zoom so the long diameter reaches this many pixels...")
flags.DEFINE_float("max_zoom", recist.MAX_ZOOM, "...but never more than this factor; a larger --zoom is refused. "
                   "The zoomed image must also stay within --max_pixels.")
flags.DEFINE_list("splits", None, "DeepLesion input: only these Train_Val_Test values (1 train, 2 val, 3 test).")
flags.DEFINE_list("lesion_types", None, "DeepLesion input: only these Coarse_lesion_type values (1-8, -1).")
flags.DEFINE_integer("tile_size", 256, "Images larger than this run in overlapping tiles of this size.")
flags.DEFINE_boolean("allow_any_modality", False, "Accept DICOM modalities other than CT.")
flags.DEFINE_boolean("write_dicom", False, "DICOM input: also write enhanced.dcm, a slice of a derived series at the "
                     "item's ROI and zoom.")
flags.DEFINE_boolean("deidentify", False, "With --write_dicom: remove patient-identifying tags (sgan_tf/data/dicom.py).")
flags.DEFINE_boolean("figure", True, "Write the OG | denoised | enhanced figure.")
common.define_overwrite("the outputs of finished items")
common.define_max_pixels()
flags.mark_flags_as_required(["input", "output_dir"])

FLAGS = flags.FLAGS


def options_from_flags():
    """The library's options; UserError for a bad value, before any model (or TensorFlow) loads."""
    roi = common.ints("roi", 3)
    if roi is not None and roi[2] <= 0:
        raise UserError("--roi side must be positive")
    if not 1 <= FLAGS.max_zoom < math.inf or not 1 <= FLAGS.zoom < math.inf:
        raise UserError(f"--zoom and --max_zoom must be >= 1 and finite, got {FLAGS.zoom:g} and {FLAGS.max_zoom:g}")
    if FLAGS.zoom > FLAGS.max_zoom:
        raise UserError(f"--zoom={FLAGS.zoom:g} is over --max_zoom={FLAGS.max_zoom:g} (raise --max_zoom to allow it)")
    if not 0 < FLAGS.target_lesion_px < math.inf:
        raise UserError(f"--target_lesion_px={FLAGS.target_lesion_px} must be a positive number")
    if roi is not None:
        side = roi[2]
        limits.check_pixels(side, side, f"--roi side {side}")
        zoomed = max(int(round(side * FLAGS.zoom)), 1)
        limits.check_pixels(zoomed, zoomed, f"--roi side {side} at --zoom={FLAGS.zoom:g}")
    from sgan_tf import enhance_batch  # TensorFlow loads here, after the checks

    return common.from_flags(enhance_batch.Options, window=common.window(),
                             roi=recist.RoiBox(*roi) if roi else None)


@reported("enhance_main")
def main(argv: list[str]) -> int:
    options = options_from_flags()
    from sgan_tf import enhance_batch
    from sgan_tf.data import sources
    from sgan_tf.enhance import Enhancer

    source_options = common.from_flags(sources.SourceOptions, splits=common.ints("splits"),
                                       lesion_types=common.ints("lesion_types"))
    summary = enhance_batch.run(
        FLAGS.input, lambda: Enhancer.for_variant(FLAGS.variant, common.models(), tile_size=FLAGS.tile_size,
                                                  compute_dtype=FLAGS.inference_precision),
        options, source_options)
    return EXIT_SOME_FAILED if summary.failed else 0


run = common.entry_point(main, __doc__)


if __name__ == "__main__":
    run()
