r"""Exports the enhancer and/or the HNN segmenter as SavedModels for TF Serving.

Examples:

  # SGAN enhancer (G1 -> zoom -> G2) and the HNN trained on sgan composites, version 1:
  export_main --denoise_model=runs/denoise --enhance_model=runs/enhance \
      --hnn_model=runs/hnn --hnn_variant=sgan --export_dir=/tmp/serving --version=1

  # Only the HNN, for a server that mounts /tmp/serving at /models (models.config paths):
  export_main --hnn_model=runs/hnn_og --export_dir=/tmp/serving --version=2 --base_path=/models

  # The shipped models, when they ship (no model flag: the shipped ones):
  export_main --export_dir=/tmp/serving --version=3

  # Check what was written, then serve it:
  saved_model_cli show --dir /tmp/serving/enhancer/1 --all
  docker run -p 8501:8501 -p 8500:8500 -v "/tmp/serving:/models" tensorflow/serving \
      --model_config_file=/models/models.config

Writes DIR/enhancer/<version>/, DIR/hnn/<version>/ (each with assets.extra/export.json) and
DIR/models.config, listing every model folder in DIR. Signatures, scales and the request
layout: sgan_tf/serving/export.py and export/README.md. An existing version folder is kept unless
--overwrite. Exit status: 0 written, 1 bad flags (absl), 2 a user error (one line on stderr).
"""

from __future__ import annotations

from absl import flags

from sgan_tf import precision, variants
from sgan_tf.cli import flags as common
from sgan_tf.data import limits
from sgan_tf.data.ct import OWN_WINDOW
from sgan_tf.errors import UserError, reported
from sgan_tf.segment import HNN_THRESHOLD

flags.DEFINE_enum("variant", variants.DEFAULT, list(variants.EXPORTABLE),
                  "Enhancer stages (sgan_tf/variants.py); its --*_model flags name the runs.")
common.define_models("denoise", "enhance", "single", "dncnn", "hnn", inference_precision=precision.SERVING_DEFAULT)
flags.DEFINE_string("hnn_variant", None, "With a folder of HNN runs: the variant to export (default: the only one).")
flags.DEFINE_string("export_dir", None, "Models go to <export_dir>/<model>/<version>/, and models.config.")
flags.DEFINE_integer("version", None, "Version folder number (TF Serving serves the highest).", lower_bound=1)
common.define_overwrite("existing version folders")
common.define_window(f" Fixed in the export, so not '{OWN_WINDOW}'.")
flags.DEFINE_float("threshold", HNN_THRESHOLD, "HNN mask threshold on the probability (0 < t < 1), fixed in the export.")
flags.DEFINE_integer("max_side", limits.EXPORT_MAX_SIDE,
                     "Enhancer: refuse requests whose zoomed side exceeds this (memory).", lower_bound=1)
flags.DEFINE_integer("max_batch_pixels", limits.EXPORT_MAX_BATCH_PIXELS,
                     "Refuse requests whose batch holds more pixels than this in all (enhancer: N x zoomed h x w; "
                     "HNN: N x H x W and N x its input size squared), before any network runs (memory).",
                     lower_bound=1)
flags.DEFINE_string("base_path", None,
                    "Path of --export_dir as the server sees it (e.g. /models in the tensorflow/serving "
                    "container) for models.config; default: its absolute path here.")
flags.mark_flags_as_required(["export_dir", "version"])
flags.register_validator("threshold", lambda t: 0.0 < t < 1.0, message="--threshold must lie strictly between 0 and 1")

FLAGS = flags.FLAGS


@reported("export_main")
def main(argv: list[str]) -> int:
    window = common.window().fixed
    if window is None:
        raise UserError(f"--window={OWN_WINDOW}: an export fixes one window; give a preset or 'lo,hi'")
    from sgan_tf.serving import export  # TensorFlow loads here, after the flag checks

    config = common.from_flags(export.ExportConfig, models=common.models(), window=window)
    for line in export.export_models(config):
        print(line)
    print(f"serve:   {export.docker_command(FLAGS.export_dir, FLAGS.base_path)}")
    return 0


run = common.entry_point(main, __doc__)


if __name__ == "__main__":
    run()
