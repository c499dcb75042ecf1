r"""The paper's experiment end to end: simulate a lesion set, train G1, G2, the single GAN,
DnCNN and one HNN per variant, then segment every test lesion with GrabCut and the HNNs and
print Tables 1 and 2 (sgan_tf/evaluation/experiment.py). With --models=pretrained it trains nothing: the
shipped G1, G2, single GAN, DnCNN and HNN (for the variant it was trained on) are evaluated on
the simulated set.

Examples:

  # The quickstart: tiny models on built-in data, about 10 minutes on 2 CPU cores:
  pipeline_main --flagfile=flags/quickstart.flags --output_dir=runs/pipeline

  # The shipped models on a simulated set (the default when they all ship):
  pipeline_main --models=pretrained --output_dir=runs/shipped

  # On your DeepLesion-layout set with ground-truth masks instead of a simulated one:
  pipeline_main --flagfile=flags/quickstart.flags --input=/data/my_set --output_dir=runs/my_set

It takes train_main's flags (the same flag files work; they apply to every stage, with each
stage's own defaults for --num_blocks and --crop_size when a flag file leaves them unset) plus
the ones below. Layout: OUTPUT_DIR/phantom (the simulated set), OUTPUT_DIR/models/<stage>,
OUTPUT_DIR/models/hnn/<variant>, OUTPUT_DIR/eval (tables, figures). Rerunning resumes: a
finished stage only validates, an existing set is reused. The log says "stage k of n" as it
goes. Exit status: 0 done, 2 bad input
(one line on stderr), 3 a loss became NaN/inf, 4 some lesions failed in the evaluation.
"""

from __future__ import annotations

import dataclasses
import os

from absl import flags, logging

from sgan_tf import pretrained, variants
from sgan_tf.cli import flags as common
from sgan_tf.cli import train_flags
from sgan_tf.errors import EXIT_SOME_FAILED, reported

GAN_AND_DNCNN = ("denoise", "enhance", "single", "dncnn")

flags.DEFINE_string("output_dir", None, "Everything the pipeline makes goes here.")
flags.DEFINE_string("input", None, "A DeepLesion-layout set with masks/ to use instead of simulating one.")
flags.DEFINE_integer("num_slices", 200, "Simulated slices (one lesion each; 70/15/15 % train/val/test).")
flags.DEFINE_integer("phantom_seed", 0, "Seed of the simulated set.")
flags.DEFINE_string("photons", "25000,150000", "Simulated dose: I0 photons per ray, or LOW,HIGH (see phantom_main).")
flags.DEFINE_integer("image_size", 512, "Simulated slice size in pixels.")
flags.DEFINE_list("hnn_variants", list(variants.NAMES), "--models=train: variants to train an HNN on.")
flags.DEFINE_list("eval_splits", ["3"], "Train_Val_Test values scored in the tables.")
flags.mark_flag_as_required("output_dir")

FLAGS = flags.FLAGS

TINY_NOTE = ("These numbers come from the models this run trained; with the quickstart's tiny models "
             "they show that the pipeline works and say nothing about the method.")


class Stages:
    """Logs "stage k of n: what" as the pipeline goes."""

    def __init__(self, total: int):
        self.total, self.done = total, 0

    def next(self, what: str, *args) -> None:
        self.done += 1
        logging.info(f"Stage %d of %d: {what}", self.done, self.total, *args)


@reported("pipeline_main")
def main(argv: list[str]) -> int:
    from sgan_tf import training
    from sgan_tf.evaluation import experiment, tables
    from sgan_tf.data import deeplesion, phantom
    from sgan_tf.segment import hnn_train

    out = FLAGS.output_dir
    root = FLAGS.input or os.path.join(out, "phantom")
    simulate = not FLAGS.input and not deeplesion.DeepLesionSet.is_root(root)
    train = FLAGS.models == "train"
    hnn_variants = list(FLAGS.hnn_variants) if train else []
    stages = Stages(simulate + (len(GAN_AND_DNCNN) + len(hnn_variants) if train else 0) + 1)
    if simulate:
        stages.next("simulating %d slices into %s", FLAGS.num_slices, root)
        phantom.write_set(root, FLAGS.num_slices, FLAGS.phantom_seed, photons=phantom.parse_photons(FLAGS.photons),
                          size=FLAGS.image_size)
    if train:
        models = {stage: os.path.join(out, "models", stage) for stage in GAN_AND_DNCNN}
        base = train_flags.config_from_flags(stage="denoise", model_dir=models["denoise"])
        for stage in GAN_AND_DNCNN:
            stages.next("training %s into %s", stage, models[stage])
            training.train(dataclasses.replace(base, stage=stage, model_dir=models[stage]), restart=FLAGS.restart)
        hnn_base = train_flags.hnn_config_from_flags(model_dir=os.path.join(out, "models", "hnn"))
        for variant in hnn_variants:
            model_dir = os.path.join(out, "models", "hnn", variant)
            stages.next("training the HNN on %s composites into %s", variant, model_dir)
            hnn_train.train(dataclasses.replace(
                hnn_base, model_dir=model_dir, data_dir=root, variant=variant, denoise_model=models["denoise"],
                enhance_model=models["enhance"], single_model=models["single"], dncnn_model=models["dncnn"]),
                restart=FLAGS.restart)
        hnn_model = os.path.join(out, "models", "hnn") if hnn_variants else None
    else:
        models = {name: pretrained.PRETRAINED for name in GAN_AND_DNCNN}
        hnn_model = pretrained.PRETRAINED
    stages.next("evaluating into %s", os.path.join(out, "eval"))
    result = experiment.run_experiment(experiment.ExperimentConfig(
        input=root, output_dir=os.path.join(out, "eval"), models=models, hnn_model=hnn_model,
        splits=common.ints("eval_splits"), window=FLAGS.window, grabcut_iterations=FLAGS.grabcut_iterations))
    print(tables.to_markdown(result["table1"], f"Table 1 ({result['lesions']} test lesions)"))
    print(tables.to_markdown(result["table2"], "Table 2"))
    if "faithfulness" in result:
        print(tables.to_markdown(result["faithfulness"], "Faithfulness (RMSE in HU against the noise-free ROI)"))
    if train:
        print(TINY_NOTE)
    for name, path in result["paths"].items():
        print(f"{name}: {path if isinstance(path, str) else path['md']}")
    if result["failures"]:
        print(f"{len(result['failures'])} lesion(s) failed: {os.path.join(out, 'eval', 'failures.json')}")
        return EXIT_SOME_FAILED
    return 0


run = common.entry_point(main, __doc__)


if __name__ == "__main__":
    run()
