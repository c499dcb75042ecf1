r"""Segments every lesion of a DeepLesion-layout set with GrabCut or an HNN on one variant.

Examples:

  # GrabCut on OG + SGAN composites, one mask PNG per lesion slice in slice pixels:
  segment_main --method=grabcut --variant=sgan --input=/data/phantom --output_dir=/tmp/pred \
      --denoise_model=runs/denoise --enhance_model=runs/enhance

  # An HNN trained on the og variant (train_main --stage=hnn --variant=og):
  segment_main --method=hnn --variant=og --input=/data/phantom --output_dir=/tmp/pred_hnn \
      --hnn_model=runs/hnn_og

  # Score them: eval_main --input=/data/phantom --pred_dir=/tmp/pred

Masks are written as <output_dir>/<File_name> (DL_info.csv's name): 0/255, or label k+1 for
the k-th lesion row of a slice with several. Exit status: 0 all done, 2 nothing could run
(one line on stderr), 4 some lesions failed (named in the log).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import app, flags, logging

from sgan_tf import model_flags
from sgan_tf.errors import EXIT_SOME_FAILED, UserError, reported

flags.DEFINE_enum("method", "grabcut", ["grabcut", "hnn"], "Segmentation method.")
flags.DEFINE_enum("variant", "og", ["og", "bm3d", "dncnn", "gan", "gan1", "sgan"], "Input composite (paper, Table 1).")
flags.DEFINE_string("input", None, "A DeepLesion-layout root.")
flags.DEFINE_string("output_dir", None, "Predicted masks go here.")
flags.DEFINE_string("hnn_model", None, "--model_dir of an HNN run trained on --variant (or a folder of runs by variant).")
flags.DEFINE_list("splits", None, "Only these Train_Val_Test values (default: all lesions).")
flags.DEFINE_integer("grabcut_iterations", 5, "GrabCut iterations.")
flags.DEFINE_string("window", "soft_tissue", "HU window of the network scale (see enhance_main --helpfull).")
flags.DEFINE_boolean("overwrite", False, "Replace existing mask files.")
flags.mark_flags_as_required(["input", "output_dir"])

FLAGS = flags.FLAGS


@reported("segment_main", ValueError)
def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from sgan_tf.data.deeplesion import DeepLesionSet
    from sgan_tf.outputs import check_writable
    from sgan_tf.segment import inputs, segmenters

    check_writable(FLAGS.output_dir)
    dataset = DeepLesionSet(FLAGS.input)
    splits = tuple(int(s) for s in FLAGS.splits) if FLAGS.splits else None
    records = dataset.select(splits=splits)
    model_dirs = model_flags.model_dirs()
    enhancer = inputs.variant_enhancer(FLAGS.variant, model_dirs)
    if FLAGS.method == "hnn":
        hnn = segmenters.hnn_models(FLAGS.hnn_model).get(FLAGS.variant)
        if hnn is None:
            raise UserError(f"--method=hnn needs --hnn_model with an HNN trained on variant {FLAGS.variant}")
        segmenter = segmenters.HNNSegmenter(hnn)
    else:
        segmenter = segmenters.GrabCutSegmenter(FLAGS.grabcut_iterations)
    masks, failed = {}, list(dataset.problems)
    for number, (item, result) in enumerate(
            segmenters.segment_records(dataset, records, enhancer, segmenter, FLAGS.window), start=1):
        if isinstance(result, str):
            failed.append(f"{item.item_id}: {result}")
            logging.error("[%d/%d] %s: failed: %s", number, len(records), item.item_id, result)
            continue
        masks[item.record.item_id] = result
        logging.info("[%d/%d] %s: done", number, len(records), item.record.item_id)
    written = segmenters.write_masks(FLAGS.output_dir, dataset, masks, FLAGS.overwrite)
    logging.info("%d lesions segmented into %d mask files in %s; %d failed", len(masks), len(written),
                 FLAGS.output_dir, len(failed))
    return EXIT_SOME_FAILED if failed else 0


def run() -> None:
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
