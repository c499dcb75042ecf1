r"""The paper's evaluation: Tables 1 and 2 on a DeepLesion-layout set with ground-truth masks.

Examples:

  # Every variant whose models are given x {GrabCut, HNN}, on the test split:
  eval_main --input=/data/phantom --output_dir=/tmp/eval --denoise_model=runs/denoise \
      --enhance_model=runs/enhance --single_model=runs/single --dncnn_model=runs/dncnn \
      --hnn_model=runs/hnn            # runs/hnn/<variant>: one HNN run per variant

  # Score one folder of predicted masks (from segment_main) against the set's masks:
  eval_main --input=/data/phantom --pred_dir=/tmp/pred

  # Denoising tables: BSD68 at sigma 15/25/50 and the LCD-CT phantom (BM3D, DnCNN, G1):
  eval_main --output_dir=/tmp/denoise --natural_dir=../shared/data/natural/BSD68 \
      --lcd_ct_dir=../shared/data/lcd_ct --denoise_model=runs/denoise --dncnn_model=runs/dncnn

  # The shipped models (when they ship): no model flag at all.
  eval_main --input=/data/phantom --output_dir=/tmp/eval_shipped

Output (with --output_dir): table1/table2 as .md, .csv and .json, scores.csv (per lesion),
failures.json, config.json, fig1_variants.png and fig3_overlays.png, and on a simulated set
(noise-free copies) faithfulness.{md,csv,json} (sgan_tf/evaluation/experiment.py).
Exit status: 0 done, 2 nothing could run (one line on stderr), 4 some lesions failed.
"""

from __future__ import annotations

from absl import flags, logging

from sgan_tf.cli import flags as common
from sgan_tf.errors import EXIT_SOME_FAILED, UserError, reported
from sgan_tf.segment import grabcut

flags.DEFINE_string("input", None, "A DeepLesion-layout root with masks/.")
flags.DEFINE_string("output_dir", None, "Tables and figures go here.")
flags.DEFINE_string("pred_dir", None, "Instead: score this folder of predicted masks and print the result.")
common.define_models("denoise", "enhance", "single", "dncnn", "hnn")
flags.DEFINE_list("splits", ["3"], "Train_Val_Test values to evaluate (default: the test split).")
flags.DEFINE_list("variants", None, "Only these rows of Tables 1 and 2 (default: every variant whose models are given "
                  "or ship; sgan_tf/variants.py).")
flags.DEFINE_integer("grabcut_iterations", grabcut.ITERATIONS, "GrabCut iterations.")
common.define_window()
flags.DEFINE_boolean("allow_nlm_fallback", True, "Without the bm3d package, run NL-means and report it as OG+NLM.")
flags.DEFINE_string("natural_dir", None, "Also: the denoising table on this folder of clean images (e.g. BSD68).")
flags.DEFINE_list("sigmas", ["15", "25", "50"], "Noise levels (0-255 scale) of the --natural_dir table.")
flags.DEFINE_string("lcd_ct_dir", None, "Also: the CT denoising table on the FDA LCD-CT phantom folder.")
common.define_max_pixels()

FLAGS = flags.FLAGS


def _print_file(path: str) -> None:
    with open(path, encoding="utf-8") as f:
        print(f.read())


@reported("eval_main", ValueError)
def main(argv: list[str]) -> int:
    from sgan_tf.evaluation import experiment, tables

    if FLAGS.pred_dir:
        if not FLAGS.input:
            raise UserError("--pred_dir needs --input (the set whose masks/ hold the ground truth)")
        result = experiment.score_predictions(FLAGS.input, FLAGS.pred_dir)
        for message in result["failed"]:
            logging.error("failed: %s", message)
        print(f"{result['lesions']} lesions scored, {len(result['missing'])} without a prediction, "
              f"{len(result['failed'])} failed")
        for metric in tables.METRICS:
            mean, std = result[metric]
            print(f"{metric}: {mean:.4f} ± {std:.4f}" if result["lesions"] else f"{metric}: - (no lesion scored)")
        return EXIT_SOME_FAILED if result["missing"] or result["failed"] else 0
    if not FLAGS.output_dir:
        raise UserError("give --output_dir (tables and figures) or --pred_dir (score predictions)")
    common.window()  # a bad --window fails here, before any model loads
    if FLAGS.natural_dir or FLAGS.lcd_ct_dir:
        tables = experiment.denoising_tables(FLAGS.output_dir, common.models(), FLAGS.natural_dir, FLAGS.lcd_ct_dir,
                                             common.floats("sigmas"), FLAGS.allow_nlm_fallback,
                                             FLAGS.inference_precision)
        for paths in tables.values():
            _print_file(paths["md"])
    if not FLAGS.input:
        if not (FLAGS.natural_dir or FLAGS.lcd_ct_dir):
            raise UserError("give --input (a DeepLesion-layout set), --natural_dir or --lcd_ct_dir")
        return 0
    config = common.from_flags(experiment.ExperimentConfig, models=common.models(), splits=common.ints("splits"))
    result = experiment.run_experiment(config)
    for name in ("table1", "table2", "faithfulness"):
        if name in result["paths"]:
            _print_file(result["paths"][name]["md"])
    for name, path in result["paths"].items():
        logging.info("%s: %s", name, path)
    if result["failures"]:
        logging.warning("%d lesion(s) failed; see failures.json", len(result["failures"]))
    return EXIT_SOME_FAILED if result["failures"] else 0


run = common.entry_point(main, __doc__)


if __name__ == "__main__":
    run()
