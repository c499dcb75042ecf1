r"""Enhances CT with trained sgan-tf models: G1 (denoise) -> per-lesion zoom -> G2 (enhance).

Examples:

  # Every lesion ROI of a DeepLesion-layout set (e.g. one made by phantom_main), test split:
  enhance_main --input=/data/DeepLesion --denoise_model=runs/denoise \
      --enhance_model=runs/enhance --output_dir=/tmp/enhanced --splits=3

  # A DICOM series, whole slices (tiled), plus a derived DICOM series without patient tags:
  enhance_main --input=/data/ct_series --denoise_model=runs/denoise \
      --enhance_model=runs/enhance --output_dir=/tmp/series_out --write_dicom --deidentify

  # One 16-bit HU PNG, an ROI at x=200, y=180 of side 96, enlarged 2x:
  enhance_main --input=slice.png --denoise_model=runs/denoise --enhance_model=runs/enhance \
      --output_dir=/tmp/roi_out --roi=200,180,96 --zoom=2

  # The paper's baselines through the same path: --variant=gan1 (G1 only) or
  # --variant=gan --single_model=runs/single.

Outputs per item and the summary are described in sgan_tf/enhance_batch.py. A finished item
(its item.json exists) is skipped unless --overwrite; an unfinished one is redone. Exit
status: 0 every item done or skipped, 1 bad flags (absl), 2 nothing could run (bad input path,
models, flag values or output folder; one line on stderr), 4 the batch finished but some
items failed (listed in summary.json).
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import app, flags

from sgan_tf import enhance_batch, limit_flags
from sgan_tf.data import limits, recist
from sgan_tf.data.ct import OWN_WINDOW, WINDOWS, parse_window
from sgan_tf.errors import EXIT_SOME_FAILED, UserError, reported

flags.DEFINE_string("input", None, "A DeepLesion-layout root, a DICOM file or folder, or a 16-bit HU PNG (or folder).")
flags.DEFINE_string("output_dir", None, "One sub-folder per item is written here, and summary.json.")
flags.DEFINE_enum("variant", "sgan", ["sgan", "gan1", "gan", "og"], "Which stages run (see sgan_tf/enhance.py).")
flags.DEFINE_string("denoise_model", None, "The --model_dir of a denoise (G1) training run.")
flags.DEFINE_string("enhance_model", None, "The --model_dir of an enhance (G2) training run.")
flags.DEFINE_string("single_model", None, "The --model_dir of a single-GAN training run (--variant=gan).")
flags.DEFINE_string("window", "soft_tissue",
                    f"HU window mapped to the network scale: one of {sorted(WINDOWS)}, '{OWN_WINDOW}' "
                    "(the image's own DICOM / DL_info.csv window), or 'lo,hi'.")
flags.DEFINE_list("roi", None, "DICOM/PNG input: enhance only the square x0,y0,side (slice pixels).")
flags.DEFINE_float("zoom", 1.0, "DICOM/PNG input: enlargement before G2 (>= 1, at most --max_zoom).")
flags.DEFINE_float("target_lesion_px", recist.TARGET_LESION_PX,
                   "DeepLesion input: zoom so the long diameter reaches this many pixels...")
flags.DEFINE_float("max_zoom", recist.MAX_ZOOM, "...but never more than this factor; a larger --zoom is refused. "
                   "The zoomed image must also stay within --max_pixels.")
flags.DEFINE_list("splits", None, "DeepLesion input: only these Train_Val_Test values (1 train, 2 val, 3 test).")
flags.DEFINE_list("lesion_types", None, "DeepLesion input: only these Coarse_lesion_type values (1-8, -1).")
flags.DEFINE_integer("tile_size", 256, "Images larger than this run in overlapping tiles of this size.")
flags.DEFINE_boolean("allow_any_modality", False, "Accept DICOM modalities other than CT.")
flags.DEFINE_boolean("write_dicom", False, "DICOM input, whole slices: also write enhanced.dcm (derived series).")
flags.DEFINE_boolean("deidentify", False, "With --write_dicom: remove patient-identifying tags (sgan_tf/data/dicom.py).")
flags.DEFINE_boolean("figure", True, "Write the OG | denoised | enhanced figure.")
flags.DEFINE_boolean("overwrite", False, "Replace existing outputs instead of skipping their items.")
flags.mark_flags_as_required(["input", "output_dir"])

FLAGS = flags.FLAGS


def _ints(name: str, values: list[str] | None, length: int | None = None) -> tuple[int, ...] | None:
    if values is None:
        return None
    try:
        out = tuple(int(v) for v in values)
    except ValueError as e:
        raise UserError(f"--{name}: {e}") from e
    if length is not None and len(out) != length:
        raise UserError(f"--{name} takes {length} comma-separated integers, got {len(out)}")
    return out


def options_from_flags() -> enhance_batch.Options:
    """The library's options; UserError for a bad value, before any model loads."""
    roi = _ints("roi", FLAGS.roi, 3)
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
    parse_window(FLAGS.window)  # a bad spec fails here, before any model loads
    return enhance_batch.Options(
        output_dir=FLAGS.output_dir,
        window=FLAGS.window,
        roi=recist.RoiBox(*roi) if roi else None,
        zoom=FLAGS.zoom,
        target_lesion_px=FLAGS.target_lesion_px,
        max_zoom=FLAGS.max_zoom,
        splits=_ints("splits", FLAGS.splits),
        lesion_types=_ints("lesion_types", FLAGS.lesion_types),
        allow_any_modality=FLAGS.allow_any_modality,
        write_dicom=FLAGS.write_dicom,
        deidentify=FLAGS.deidentify,
        overwrite=FLAGS.overwrite,
        figure=FLAGS.figure,
    )


@reported("enhance_main")
def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    limit_flags.apply()
    options = options_from_flags()
    from sgan_tf.enhance import Enhancer

    summary = enhance_batch.run(
        FLAGS.input,
        lambda: Enhancer.from_model_dirs(
            FLAGS.variant, FLAGS.denoise_model, FLAGS.enhance_model, FLAGS.single_model, tile_size=FLAGS.tile_size,
        ),
        options,
    )
    return EXIT_SOME_FAILED if summary.failed else 0


def run() -> None:
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
