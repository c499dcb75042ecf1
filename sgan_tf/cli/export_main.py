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

from absl import flags, logging

from sgan_tf import pretrained, variants
from sgan_tf.cli import flags as common
from sgan_tf.data import ct
from sgan_tf.data.ct import OWN_WINDOW
from sgan_tf.errors import UserError, reported

flags.DEFINE_enum("variant", variants.DEFAULT, list(variants.EXPORTABLE),
                  "Enhancer stages (sgan_tf/variants.py); its --*_model flags name the runs.")
common.define_models("denoise", "enhance", "single", "dncnn", "hnn")
flags.DEFINE_string("hnn_variant", None, "With a folder of HNN runs: the variant to export (default: the only one).")
flags.DEFINE_string("export_dir", None, "Models go to <export_dir>/<model>/<version>/, and models.config.")
flags.DEFINE_integer("version", None, "Version folder number (TF Serving serves the highest).", lower_bound=1)
common.define_overwrite("existing version folders")
common.define_window(f" Fixed in the export, so not '{OWN_WINDOW}'.")
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


def _hnn_run(path: str | None, variant: str | None) -> str:
    """The HNN model_dir of --hnn_model (or the shipped HNN) for --hnn_variant (or its only variant)."""
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
    models = common.models()
    hnn_model = models.pop("hnn")
    given = any(models.values()) or hnn_model
    want_enhancer = any(models.values()) or (not given and all(pretrained.is_shipped(n)
                                                                for n in variants.get(FLAGS.variant).needs))
    want_hnn = bool(hnn_model) or (not given and pretrained.is_shipped("hnn"))
    if not want_enhancer and not want_hnn:
        raise UserError("nothing to export: give the enhancer's --denoise_model/--enhance_model "
                        "(or --single_model, --dncnn_model with --variant) and/or --hnn_model (no model ships)")
    choice = common.window()
    if choice.fixed is None:
        raise UserError(f"--window={OWN_WINDOW}: an export fixes one window; give a preset or 'lo,hi'")
    window = choice.fixed
    from sgan_tf.serving import export  # TensorFlow loads here, after the checks above
    from sgan_tf.outputs import check_writable

    root = export.container_root(FLAGS.export_dir, FLAGS.base_path)
    targets = {name: export.version_path(FLAGS.export_dir, name, FLAGS.version)
               for name, wanted in ((export.ENHANCER, want_enhancer), (export.HNN, want_hnn)) if wanted}
    for path in targets.values():
        export.check_target(path, FLAGS.overwrite)
    check_writable(FLAGS.export_dir)

    # Load every model before writing anything, so a bad model folder leaves the export untouched.
    if export.ENHANCER in targets:
        from sgan_tf.enhance import Enhancer

        enhancer = Enhancer.for_variant(FLAGS.variant, models)
    if export.HNN in targets:
        run = _hnn_run(hnn_model, FLAGS.hnn_variant)
        model, info = export.load_hnn_run(run)
        if info.get("window") and ct.WindowChoice.parse(info["window"]).fixed != window:
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


run = common.entry_point(main, __doc__)


if __name__ == "__main__":
    run()
