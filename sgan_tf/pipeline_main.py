r"""The paper's experiment end to end: simulate a lesion set, train G1, G2, the single GAN,
DnCNN and one HNN per variant, then segment every test lesion with GrabCut and the HNNs and
print Tables 1 and 2 (sgan_tf/experiment.py).

Examples:

  # The quickstart: tiny models on built-in data, about 10 minutes on 2 CPU cores:
  pipeline_main --flagfile=flags/quickstart.flags --output_dir=runs/pipeline

  # On your DeepLesion-layout set with ground-truth masks instead of a simulated one:
  pipeline_main --flagfile=flags/quickstart.flags --input=/data/my_set --output_dir=runs/my_set

It takes train_main's flags (the same flag files work; they apply to every stage, with each
stage's own defaults for --num_blocks and --crop_size when a flag file leaves them unset) plus
the ones below. Layout: OUTPUT_DIR/phantom (the simulated set), OUTPUT_DIR/models/<stage>,
OUTPUT_DIR/models/hnn/<variant>, OUTPUT_DIR/eval (tables, figures). Rerunning resumes: a
finished stage only validates, an existing set is reused. Exit status: 0 done, 2 bad input
(one line on stderr), 3 a loss became NaN/inf, 4 some lesions failed in the evaluation.
"""

from __future__ import annotations

import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import app, flags, logging

from sgan_tf import limit_flags, train_flags
from sgan_tf.errors import EXIT_SOME_FAILED, reported

flags.DEFINE_string("output_dir", None, "Everything the pipeline makes goes here.")
flags.DEFINE_string("input", None, "A DeepLesion-layout set with masks/ to use instead of simulating one.")
flags.DEFINE_integer("num_slices", 200, "Simulated slices (one lesion each; 70/15/15 % train/val/test).")
flags.DEFINE_integer("phantom_seed", 0, "Seed of the simulated set.")
flags.DEFINE_string("photons", "25000,150000", "Simulated dose: I0 photons per ray, or LOW,HIGH (see phantom_main).")
flags.DEFINE_integer("image_size", 512, "Simulated slice size in pixels.")
flags.DEFINE_list("hnn_variants", ["og", "bm3d", "dncnn", "gan", "gan1", "sgan"], "Variants to train an HNN on.")
flags.DEFINE_list("eval_splits", ["3"], "Train_Val_Test values scored in the tables.")
flags.mark_flag_as_required("output_dir")

FLAGS = flags.FLAGS

GAN_AND_DNCNN = ("denoise", "enhance", "single", "dncnn")
TINY_NOTE = ("These numbers come from the models this run trained; with the quickstart's tiny models "
             "they show that the pipeline works and say nothing about the method.")


@reported("pipeline_main")
def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from sgan_tf import evaluate, experiment, training
    from sgan_tf.data import deeplesion, phantom
    from sgan_tf.segment import hnn_train, inputs

    limit_flags.apply()
    out = FLAGS.output_dir
    root = FLAGS.input or os.path.join(out, "phantom")
    if not FLAGS.input and not deeplesion.DeepLesionSet.is_root(root):
        logging.info("Simulating %d slices into %s", FLAGS.num_slices, root)
        phantom.write_set(root, FLAGS.num_slices, FLAGS.phantom_seed, photons=phantom.parse_photons(FLAGS.photons),
                          size=FLAGS.image_size)
    models = {stage: os.path.join(out, "models", stage) for stage in GAN_AND_DNCNN}
    base = train_flags.config_from_flags(stage="denoise", model_dir=models["denoise"])
    for stage in GAN_AND_DNCNN:
        logging.info("Training %s into %s", stage, models[stage])
        training.train(dataclasses.replace(base, stage=stage, model_dir=models[stage]), restart=FLAGS.restart)
    model_dirs = inputs.ModelDirs(models["denoise"], models["enhance"], models["single"], models["dncnn"])
    hnn_base = train_flags.hnn_config_from_flags(model_dir=os.path.join(out, "models", "hnn"))
    for variant in FLAGS.hnn_variants:
        model_dir = os.path.join(out, "models", "hnn", variant)
        logging.info("Training the HNN on %s composites into %s", variant, model_dir)
        hnn_train.train(dataclasses.replace(
            hnn_base, model_dir=model_dir, data_dir=root, variant=variant, denoise_model=model_dirs.denoise,
            enhance_model=model_dirs.enhance, single_model=model_dirs.single, dncnn_model=model_dirs.dncnn),
            restart=FLAGS.restart)
    result = experiment.run_experiment(experiment.ExperimentConfig(
        input=root, output_dir=os.path.join(out, "eval"), model_dirs=model_dirs,
        hnn_model=os.path.join(out, "models", "hnn") if FLAGS.hnn_variants else None,
        splits=tuple(int(s) for s in FLAGS.eval_splits), window=FLAGS.window,
        grabcut_iterations=FLAGS.grabcut_iterations))
    print(evaluate.to_markdown(result["table1"], f"Table 1 ({result['lesions']} test lesions)"))
    print(evaluate.to_markdown(result["table2"], "Table 2"))
    print(TINY_NOTE)
    for name, path in result["paths"].items():
        print(f"{name}: {path if isinstance(path, str) else path['md']}")
    if result["failures"]:
        print(f"{len(result['failures'])} lesion(s) failed: {os.path.join(out, 'eval', 'failures.json')}")
        return EXIT_SOME_FAILED
    return 0


def run() -> None:
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
