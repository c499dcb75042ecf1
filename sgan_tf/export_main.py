r"""Exports the enhancer and/or the HNN segmenter as SavedModels for TF Serving.

Examples:

  # SGAN enhancer (G1 -> zoom -> G2) and the HNN trained on sgan composites, version 1:
  export_main --denoise_model=runs/denoise --enhance_model=runs/enhance \
      --hnn_model=runs/hnn --hnn_variant=sgan --export_dir=/tmp/serving --version=1

  # Only the HNN, for a server that mounts /tmp/serving at /models (models.config paths):
  export_main --hnn_model=runs/hnn_og --export_dir=/tmp/serving --version=2 --base_path=/models

  # Check what was written, then serve it:
  saved_model_cli show --dir /tmp/serving/enhancer/1 --all
  docker run -p 8501:8501 -p 8500:8500 -v "/tmp/serving:/models" tensorflow/serving \
      --model_config_file=/models/models.config

Writes DIR/enhancer/<version>/, DIR/hnn/<version>/ (each with assets.extra/export.json) and
DIR/models.config, listing every model folder in DIR. Signatures, scales and the request
layout: sgan_tf/export.py and export/README.md. An existing version folder is kept unless
--overwrite. Exit status: 0 written, 1 bad flags (absl), 2 a user error (one line on stderr).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import app, flags, logging

from sgan_tf import model_flags
from sgan_tf.data.ct import OWN_WINDOW, WINDOWS, parse_window
from sgan_tf.errors import UserError, reported

flags.DEFINE_enum("variant", "sgan", ["sgan", "gan1", "gan", "dncnn"],
                  "Enhancer stages (sgan_tf/enhance.py); its --*_model flags name the runs.")
flags.DEFINE_string("hnn_model", None, "--model_dir of an HNN run (or a folder of runs by variant).")
flags.DEFINE_string("hnn_variant", None, "With a folder of HNN runs: the variant to export (default: the only one).")
flags.DEFINE_string("export_dir", None, "Models go to <export_dir>/<model>/<version>/, and models.config.")
flags.DEFINE_integer("version", None, "Version folder number (TF Serving serves the highest).", lower_bound=1)
flags.DEFINE_boolean("overwrite", False, "Replace existing version folders.")
flags.DEFINE_string("window", "soft_tissue",
                    f"HU window of the network scale, fixed in the export: one of {sorted(WINDOWS)} or 'lo,hi'.")
flags.DEFINE_float("threshold", 0.5, "HNN mask threshold on the probability (0 < t < 1), fixed in the export.")
flags.DEFINE_integer("max_side", 1024, "Enhancer: refuse requests whose zoomed side exceeds this (memory).",
                     lower_bound=1)
flags.DEFINE_integer("max_batch_pixels", 4 * 1024 * 1024,
                     "Refuse requests whose batch holds more pixels than this in all (enhancer: N x zoomed h x w; "
                     "HNN: N x H x W and N x its input size squared), before any network runs (memory).",
                     lower_bound=1)
flags.DEFINE_string("base_path", None,
                    "Path of --export_dir as the server sees it (e.g. /models in the tensorflow/serving "
                    "container) for models.config; default: its absolute path here.")
flags.mark_flags_as_required(["export_dir", "version"])
flags.register_validator("threshold", lambda t: 0.0 < t < 1.0, message="--threshold must lie strictly between 0 and 1")

FLAGS = flags.FLAGS


def _hnn_run(path: str, variant: str | None) -> str:
    """The HNN model_dir of --hnn_model for --hnn_variant (or its only variant)."""
    from sgan_tf.segment.segmenters import hnn_models

    runs = hnn_models(path)
    if variant is None and len(runs) == 1:
        return next(iter(runs.values()))
    if variant is None:
        raise UserError(f"--hnn_model {path} holds HNNs for {', '.join(sorted(runs))}: choose one with --hnn_variant")
    if variant not in runs:
        raise UserError(f"--hnn_model {path} has no HNN for variant {variant} (it has {', '.join(sorted(runs))})")
    return runs[variant]


@reported("export_main")
def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    want_enhancer = any([FLAGS.denoise_model, FLAGS.enhance_model, FLAGS.single_model, FLAGS.dncnn_model])
    if not want_enhancer and not FLAGS.hnn_model:
        raise UserError("nothing to export: give the enhancer's --denoise_model/--enhance_model "
                        "(or --single_model, --dncnn_model with --variant) and/or --hnn_model")
    if FLAGS.window.strip() == OWN_WINDOW:
        raise UserError(f"--window={OWN_WINDOW}: an export fixes one window; give a preset or 'lo,hi'")
    window = parse_window(FLAGS.window)
    from sgan_tf import export  # TensorFlow loads here, after the checks above
    from sgan_tf.outputs import check_writable

    root = export.container_root(FLAGS.export_dir, FLAGS.base_path)
    targets = {name: export.version_path(FLAGS.export_dir, name, FLAGS.version)
               for name, wanted in ((export.ENHANCER, want_enhancer), (export.HNN, bool(FLAGS.hnn_model))) if wanted}
    for path in targets.values():
        export.check_target(path, FLAGS.overwrite)
    check_writable(FLAGS.export_dir)

    # Load every model before writing anything, so a bad model folder leaves the export untouched.
    if export.ENHANCER in targets:
        from sgan_tf.segment.inputs import variant_enhancer

        enhancer = variant_enhancer(FLAGS.variant, model_flags.model_dirs())
    if export.HNN in targets:
        run = _hnn_run(FLAGS.hnn_model, FLAGS.hnn_variant)
        model, info = export.load_hnn_run(run)
        if info.get("window") and parse_window(info["window"]) != window:
            logging.warning("%s was trained with --window=%s; the export's og_hu signature uses %s",
                            run, info["window"], window.as_list())
    if export.ENHANCER in targets:
        export.export_enhancer(enhancer, targets[export.ENHANCER], window, FLAGS.max_side, FLAGS.overwrite,
                               FLAGS.max_batch_pixels)
        print(f"wrote {targets[export.ENHANCER]} (enhancer, variant {FLAGS.variant}, window {window.as_list()} HU)")
    if export.HNN in targets:
        export.export_hnn(model, targets[export.HNN], info, window, FLAGS.threshold, FLAGS.overwrite,
                          FLAGS.max_batch_pixels)
        print(f"wrote {targets[export.HNN]} (HNN of {run}, variant {info.get('variant')}, threshold {FLAGS.threshold})")
    config = export.write_models_config(FLAGS.export_dir, FLAGS.base_path)
    print(f"wrote {config} (model base paths under {root})")
    for path in targets.values():
        print(f"inspect: saved_model_cli show --dir {path} --all")
    print(f"serve:   {export.docker_command(FLAGS.export_dir, FLAGS.base_path)}")
    return 0


def run() -> None:
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
