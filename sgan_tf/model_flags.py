"""The flags that name trained models by their training --model_dir, shared by the binaries
that load them (train_main --stage=hnn, segment_main, eval_main, pipeline_main)."""

from __future__ import annotations

from absl import flags

flags.DEFINE_string("denoise_model", None, "--model_dir of a denoise (G1) run: variants gan1 and sgan.")
flags.DEFINE_string("enhance_model", None, "--model_dir of an enhance (G2) run: variant sgan.")
flags.DEFINE_string("single_model", None, "--model_dir of a single-GAN run: variant gan.")
flags.DEFINE_string("dncnn_model", None, "--model_dir of a DnCNN run: variant dncnn.")
FLAGS = flags.FLAGS


def model_dirs():
    """The segment.inputs.ModelDirs the flags name (imported here: --help stays TF-free)."""
    from sgan_tf.segment.inputs import ModelDirs

    return ModelDirs(FLAGS.denoise_model, FLAGS.enhance_model, FLAGS.single_model, FLAGS.dncnn_model)
