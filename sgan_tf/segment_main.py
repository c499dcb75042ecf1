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
the k-th lesion row of a slice with several. A slice whose mask file exists is skipped before
any work unless --overwrite; the others are segmented and written. Exit status: 0 all done or
skipped, 2 nothing could run (one line on stderr), 4 some lesions failed (named in the log).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import app, flags, logging

from sgan_tf import limit_flags, model_flags
from sgan_tf.errors import EXIT_SOME_FAILED, UserError, reported

flags.DEFINE_enum("method", "grabcut", ["grabcut", "hnn"], "Segmentation method.")
flags.DEFINE_enum("variant", "og", ["og", "bm3d", "dncnn", "gan", "gan1", "sgan"], "Input composite (paper, Table 1).")
flags.DEFINE_string("input", None, "A DeepLesion-layout root.")
flags.DEFINE_string("output_dir", None, "Predicted masks go here.")
flags.DEFINE_string("hnn_model", None, "--model_dir of an HNN run trained on --variant (or a folder of runs by variant).")
flags.DEFINE_list("splits", None, "Only these Train_Val_Test values (default: all lesions).")
flags.DEFINE_integer("grabcut_iterations", 5, "GrabCut iterations.")
flags.DEFINE_string("window", "soft_tissue", "HU window of the network scale (see enhance_main --helpfull).")
flags.DEFINE_boolean("overwrite", False, "Replace existing mask files (default: skip their slices).")
flags.mark_flags_as_required(["input", "output_dir"])

FLAGS = flags.FLAGS


@reported("segment_main", ValueError)
def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from sgan_tf.data.deeplesion import DeepLesionSet
    from sgan_tf.outputs import check_writable
    from sgan_tf.segment import inputs, segmenters

    limit_flags.apply()
    check_writable(FLAGS.output_dir)
    dataset = DeepLesionSet(FLAGS.input)
    splits = tuple(int(s) for s in FLAGS.splits) if FLAGS.splits else None
    records = dataset.select(splits=splits)
    if not records and (dataset.records or not dataset.problems):
        raise UserError(f"--input {FLAGS.input}: no lesion rows" + (f" in --splits={list(splits)}" if splits else ""))
    failed = list(dataset.problems)
    for problem in failed:
        logging.error("%s", problem)
    skipped = set() if FLAGS.overwrite else {
        r.item_id for r in records if os.path.lexists(segmenters.prediction_path(FLAGS.output_dir, r))}
    for rec in records:
        if rec.item_id in skipped:
            logging.info("%s: skipped, %s exists (use --overwrite)", rec.item_id, rec.file_name)
    records = [r for r in records if r.item_id not in skipped]
    model_dirs = model_flags.model_dirs()
    enhancer = inputs.variant_enhancer(FLAGS.variant, model_dirs)
    if FLAGS.method == "hnn":
        hnn = segmenters.hnn_models(FLAGS.hnn_model).get(FLAGS.variant)
        if hnn is None:
            raise UserError(f"--method=hnn needs --hnn_model with an HNN trained on variant {FLAGS.variant}")
        segmenter = segmenters.HNNSegmenter(hnn)
    else:
        segmenter = segmenters.GrabCutSegmenter(FLAGS.grabcut_iterations)
    masks = {}
    for number, (item, result) in enumerate(
            segmenters.segment_records(dataset, records, enhancer, segmenter, FLAGS.window), start=1):
        if isinstance(result, str):
            failed.append(f"{item.item_id}: {result}")
            logging.error("[%d/%d] %s: failed: %s", number, len(records), item.item_id, result)
            continue
        masks[item.record.item_id] = result
        logging.info("[%d/%d] %s: done", number, len(records), item.record.item_id)
    written, unwritten = segmenters.write_masks(FLAGS.output_dir, dataset, masks, FLAGS.overwrite)
    for message in unwritten:
        logging.error("failed: %s", message)
    failed += unwritten
    logging.info("%d lesions segmented into %d mask files in %s; %d skipped (masks exist); %d failed", len(masks),
                 len(written), FLAGS.output_dir, len(skipped), len(failed))
    return EXIT_SOME_FAILED if failed else 0


def run() -> None:
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
