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

Output (with --output_dir): table1/table2 as .md, .csv and .json, scores.csv (per lesion),
failures.json, config.json, fig1_variants.png and fig3_overlays.png (sgan_tf/experiment.py).
Exit status: 0 done, 2 nothing could run (one line on stderr), 4 some lesions failed.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import app, flags, logging

from sgan_tf import limit_flags, model_flags
from sgan_tf.errors import EXIT_SOME_FAILED, UserError, reported

flags.DEFINE_string("input", None, "A DeepLesion-layout root with masks/.")
flags.DEFINE_string("output_dir", None, "Tables and figures go here.")
flags.DEFINE_string("pred_dir", None, "Instead: score this folder of predicted masks and print the result.")
flags.DEFINE_string("hnn_model", None, "An HNN run, or a folder of HNN runs (one per variant).")
flags.DEFINE_list("splits", ["3"], "Train_Val_Test values to evaluate (default: the test split).")
flags.DEFINE_integer("grabcut_iterations", 5, "GrabCut iterations.")
flags.DEFINE_string("window", "soft_tissue", "HU window of the network scale.")
flags.DEFINE_boolean("allow_nlm_fallback", True, "Without the bm3d package, run NL-means and report it as OG+NLM.")
flags.DEFINE_string("natural_dir", None, "Also: the denoising table on this folder of clean images (e.g. BSD68).")
flags.DEFINE_list("sigmas", ["15", "25", "50"], "Noise levels (0-255 scale) of the --natural_dir table.")
flags.DEFINE_string("lcd_ct_dir", None, "Also: the CT denoising table on the FDA LCD-CT phantom folder.")

FLAGS = flags.FLAGS


@reported("eval_main", ValueError)
def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from sgan_tf import evaluate, experiment

    limit_flags.apply()
    if FLAGS.pred_dir:
        if not FLAGS.input:
            raise UserError("--pred_dir needs --input (the set whose masks/ hold the ground truth)")
        result = experiment.score_predictions(FLAGS.input, FLAGS.pred_dir)
        for message in result["failed"]:
            logging.error("failed: %s", message)
        print(f"{result['lesions']} lesions scored, {len(result['missing'])} without a prediction, "
              f"{len(result['failed'])} failed")
        for metric in evaluate.METRICS:
            mean, std = result[metric]
            print(f"{metric}: {mean:.4f} ± {std:.4f}" if result["lesions"] else f"{metric}: - (no lesion scored)")
        return EXIT_SOME_FAILED if result["missing"] or result["failed"] else 0
    if not FLAGS.output_dir:
        raise UserError("give --output_dir (tables and figures) or --pred_dir (score predictions)")
    model_dirs = model_flags.model_dirs()
    if FLAGS.natural_dir or FLAGS.lcd_ct_dir:
        tables = experiment.denoising_tables(FLAGS.output_dir, model_dirs, FLAGS.natural_dir, FLAGS.lcd_ct_dir,
                                             tuple(float(s) for s in FLAGS.sigmas), FLAGS.allow_nlm_fallback)
        for paths in tables.values():
            with open(paths["md"], encoding="utf-8") as f:
                print(f.read())
    if not FLAGS.input:
        if not (FLAGS.natural_dir or FLAGS.lcd_ct_dir):
            raise UserError("give --input (a DeepLesion-layout set), --natural_dir or --lcd_ct_dir")
        return 0
    config = experiment.ExperimentConfig(
        input=FLAGS.input,
        output_dir=FLAGS.output_dir,
        model_dirs=model_dirs,
        hnn_model=FLAGS.hnn_model,
        splits=tuple(int(s) for s in FLAGS.splits),
        grabcut_iterations=FLAGS.grabcut_iterations,
        window=FLAGS.window,
        allow_nlm_fallback=FLAGS.allow_nlm_fallback,
    )
    result = experiment.run_experiment(config)
    print(evaluate.to_markdown(result["table1"], "Table 1"))
    print(evaluate.to_markdown(result["table2"], "Table 2"))
    for name, path in result["paths"].items():
        logging.info("%s: %s", name, path)
    if result["failures"]:
        logging.warning("%d lesion(s) failed; see failures.json", len(result["failures"]))
    return EXIT_SOME_FAILED if result["failures"] else 0


def run() -> None:
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
