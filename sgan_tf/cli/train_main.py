r"""Trains one GAN stage of sgan-tf (denoise G1/D1, enhance G2/D2, or the single-GAN baseline),
the HNN lesion segmenter (--stage=hnn, sgan_tf/segment/hnn_train.py), or fine-tunes trained G1
and G2 on CT in rounds (--stage=finetune, sgan_tf/finetune/rounds.py).

Examples:

  # Quickstart on scikit-image's bundled photographs, tiny models, about a minute on a CPU:
  train_main --stage=denoise --preset=quickstart --model_dir=/tmp/sgan/denoise

  # Paper settings on a folder of natural images (e.g. DIV2K), all local GPUs:
  train_main --stage=enhance --preset=enhance --data_dir=/data/DIV2K \
      --model_dir=/runs/enhance --strategy=mirrored

  # The HNN lesion segmenter on GrabCut labels of a variant's composites (a DeepLesion-layout set):
  train_main --stage=hnn --preset=hnn --data_dir=/data/DeepLesion --variant=sgan \
      --denoise_model=/runs/denoise --enhance_model=/runs/enhance --model_dir=/runs/hnn_sgan

  # Fine-tuning rounds on CT lesion ROIs (the paper's transfer learning); the source runs stay as
  # they are, the fine-tuned G1/G2 go to /runs/finetune/{denoise,enhance}:
  train_main --stage=finetune --data_dir=/data/DeepLesion --denoise_model=/runs/denoise \
      --enhance_model=/runs/enhance --model_dir=/runs/finetune --max_rounds=5 --round_steps=1000

  # Flags given after --flagfile override it. Exit status: 0 done, 1 bad flags (absl) or a
  # crash, 2 bad input or configuration (one line on stderr), 3 a loss became NaN/inf.
  # Rerunning with the same --model_dir resumes from its newest checkpoint that can be restored
  # (ckpt-<step>; --restart trains from step 0 and sets the earlier run aside). One run at a
  # time: a second one on the same --model_dir is refused with the first one's pid and host.
  # TensorBoard: tensorboard --logdir /runs/enhance/logs
"""

from __future__ import annotations

from absl import flags, logging

from sgan_tf import training
from sgan_tf.finetune import rounds as finetune
from sgan_tf.cli import flags as common
from sgan_tf.cli import train_flags
from sgan_tf.errors import UserError, reported
from sgan_tf.segment import hnn_train

flags.mark_flags_as_required(["stage", "model_dir"])

FLAGS = flags.FLAGS


@reported("train_main")
def main(argv: list[str]) -> int:
    if FLAGS.stage == hnn_train.STAGE:
        result = hnn_train.train(train_flags.hnn_config_from_flags(), restart=FLAGS.restart)
        val = result["validation"]
        logging.info("Done at step %d; validation Dice %.4f against GrabCut labels, %.4f against true masks; "
                     "model_dir %s", result["global_step"], val.get("dice_grabcut", float("nan")),
                     val.get("dice_truth", float("nan")), FLAGS.model_dir)
        return 0
    if FLAGS.stage == finetune.STAGE:
        if FLAGS.restart:
            raise UserError("--restart does not apply to --stage=finetune: use a new --model_dir")
        state = finetune.finetune(train_flags.finetune_config_from_flags())
        for ev in state["evaluations"]:
            logging.info("After %d round(s): mean score %.3f (input %.3f), %d of %d ROIs improved%s", ev["round"],
                         ev["mean_score_enhanced"], ev["mean_score_input"], ev["improved"], ev["scored"],
                         f", round gain {ev['round_gain']:.4f}" if "round_gain" in ev else "")
        logging.info("Stopped: %s; fine-tuned G1 and G2 in %s/denoise and %s/enhance", state["stopped"],
                     FLAGS.model_dir, FLAGS.model_dir)
        return 0
    result = training.train(train_flags.config_from_flags(), restart=FLAGS.restart)
    val = result["validation"]
    logging.info("Done at step %d; validation PSNR %.3f dB (input %.3f dB); model_dir %s",
                 result["global_step"], val.get("psnr", float("nan")), val.get("input_psnr", float("nan")),
                 FLAGS.model_dir)
    return 0


run = common.entry_point(main, __doc__)


if __name__ == "__main__":
    run()
