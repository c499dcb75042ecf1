r"""The paper's experiment end to end: simulate a lesion set, train G1, G2, the single GAN,
DnCNN and one HNN per variant, then segment every test lesion with GrabCut and the HNNs and
print Tables 1 and 2 (sgan_tf/evaluation/pipeline.py). With --models=pretrained it trains nothing: the
variants whose models ship are evaluated on the simulated set (the log names the models that do
not ship; their rows are left out).

Examples:

  # The quickstart: tiny models on built-in data, about 10 minutes on 2 CPU cores:
  pipeline_main --preset=quickstart --output_dir=runs/pipeline

  # The shipped models on a simulated set (the default when they all ship):
  pipeline_main --models=pretrained --output_dir=runs/shipped

  # On your DeepLesion-layout set with ground-truth masks instead of a simulated one:
  pipeline_main --preset=quickstart --input=/data/my_set --output_dir=runs/my_set

It takes train_main's flags (the same flag files work; they apply to every stage, with each
stage's own defaults for --num_blocks and --crop_size when a flag file leaves them unset) plus
the ones below. Layout: OUTPUT_DIR/phantom (the simulated set), OUTPUT_DIR/models/<stage>,
OUTPUT_DIR/models/hnn/<variant>, OUTPUT_DIR/eval (tables, figures). Rerunning resumes: a
finished stage only validates, an existing set is reused. The log says "stage k of n" as it
goes. Exit status: 0 done, 2 bad input
(one line on stderr), 3 a loss became NaN/inf, 4 some lesions failed in the evaluation.
"""

from __future__ import annotations

import os

from absl import flags

from sgan_tf import variants
from sgan_tf.cli import flags as common
from sgan_tf.cli import train_flags
from sgan_tf.data import phantom
from sgan_tf.errors import EXIT_SOME_FAILED, reported

flags.DEFINE_string("output_dir", None, "Everything the pipeline makes goes here.")
flags.DEFINE_string("input", None, "A DeepLesion-layout set with masks/ to use instead of simulating one.")
flags.DEFINE_integer("num_slices", 200, "Simulated slices (one lesion each; 70/15/15 % train/val/test).")
flags.DEFINE_integer("phantom_seed", 0, "Seed of the simulated set.")
flags.DEFINE_string("photons", ",".join(f"{v:g}" for v in phantom.DEFAULT_PHOTONS),
                    "Simulated dose: I0 photons per ray, or LOW,HIGH (see phantom_main).")
flags.DEFINE_integer("image_size", phantom.DEFAULT_SIZE, "Simulated slice size in pixels.")
flags.DEFINE_list("hnn_variants", list(variants.NAMES), "--models=train: variants to train an HNN on.")
flags.DEFINE_list("eval_splits", ["3"], "Train_Val_Test values scored in the tables.")
flags.mark_flag_as_required("output_dir")

FLAGS = flags.FLAGS

TINY_NOTE = ("These numbers come from the models this run trained; with the quickstart's tiny models "
             "they show that the pipeline works and say nothing about the method.")


@reported("pipeline_main")
def main(argv: list[str]) -> int:
    from sgan_tf.evaluation import pipeline, tables

    config = common.from_flags(pipeline.PipelineConfig, photons=phantom.parse_photons(FLAGS.photons),
                               eval_splits=common.ints("eval_splits"))
    base = train_flags.config_from_flags(stage="denoise", model_dir=os.path.join(FLAGS.output_dir, "models"))
    hnn_base = train_flags.hnn_config_from_flags(model_dir=os.path.join(FLAGS.output_dir, "models", "hnn"))
    result = pipeline.run_pipeline(config, base, hnn_base)
    print(tables.to_markdown(result["table1"], f"Table 1 ({result['lesions']} test lesions)"))
    print(tables.to_markdown(result["table2"], "Table 2"))
    if "faithfulness" in result:
        print(tables.to_markdown(result["faithfulness"], "Faithfulness (RMSE in HU against the noise-free ROI)"))
    if config.models == pipeline.TRAIN:
        print(TINY_NOTE)
    for name, path in result["paths"].items():
        print(f"{name}: {path if isinstance(path, str) else path['md']}")
    if result["failures"]:
        print(f"{len(result['failures'])} lesion(s) failed: {os.path.join(config.output_dir, 'eval', 'failures.json')}")
        return EXIT_SOME_FAILED
    return 0


run = common.entry_point(main, __doc__)


if __name__ == "__main__":
    run()
