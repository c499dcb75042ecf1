r"""Packages a trained run as a shipped model: sgan_tf/pretrained/<name>/ (see the package doc).

  python -m sgan_tf.pretrained --name=denoise --model_dir=/runs/g1 [--checkpoint=ckpt-10000] \
      [--version=1.0] [--overwrite]

Writes the network's weights alone (float32) with the run's config.json and pretrained.json;
a MODEL_CARD.md already there is kept (it is written by hand, with the model's figures).
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile

from absl import app, flags, logging

from sgan_tf import outputs, pretrained
from sgan_tf.errors import UserError, reported

flags.DEFINE_enum("name", None, list(pretrained.NAMES), "Which shipped model the run becomes.")
flags.DEFINE_string("model_dir", None, "The training run folder.")
flags.DEFINE_string("checkpoint", None, "Checkpoint file prefix in --model_dir (default: its latest).")
flags.DEFINE_string("version", "1.0", "Version recorded in pretrained.json and in every item sidecar.")
flags.DEFINE_boolean("overwrite", False, "Replace the weights of a model already shipped.")
flags.mark_flags_as_required(["name", "model_dir"])
FLAGS = flags.FLAGS


def package(name: str, model_dir: str, checkpoint: str | None = None, version: str = "1.0",
            overwrite: bool = False) -> str:
    """Writes run `model_dir` as shipped model `name`; returns its folder."""
    import tensorflow as tf

    from sgan_tf.segment import hnn_train
    from sgan_tf.training import run_folder

    target = pretrained.folder(name)
    if pretrained.is_shipped(name) and not overwrite:
        raise UserError(f"{target} already holds a shipped {name} model (pass --overwrite to replace it)")
    config = run_folder.read_config(model_dir) or {}
    if config.get("stage") != name:
        raise UserError(f"{model_dir} trained stage {config.get('stage')!r}, not {name!r}")
    if name == "hnn":
        network, checkpoint = hnn_train.load_hnn(model_dir, checkpoint)
        step = run_folder.checkpoint_step(checkpoint)
        parts = {"model": network}
    else:
        network, step, checkpoint = run_folder.load_generator(model_dir, checkpoint)
        parts = {"generator": network}
    os.makedirs(pretrained.root(), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{name}_", dir=pretrained.root())
    os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide an installed model from other users
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(**parts, global_step=tf.Variable(step, dtype=tf.int64)), staging, max_to_keep=1,
        checkpoint_name="ckpt")
    saved = manager.save(checkpoint_number=step)
    run_folder.copy_config(model_dir, staging)
    weights = f"{saved}.data-00000-of-00001"
    record = {"name": name, "version": version, "step": step, "packaged": datetime.date.today().isoformat(),
              "source_checkpoint": os.path.basename(checkpoint),
              "weights_sha256": outputs.sha256(weights), "weights_bytes": os.path.getsize(weights)}
    outputs.write_json(os.path.join(staging, pretrained.INFO_FILE), record, staging)
    card = os.path.join(target, pretrained.CARD_FILE)
    if os.path.isfile(card):
        shutil.copy(card, os.path.join(staging, pretrained.CARD_FILE))
    if os.path.isdir(target):
        shutil.rmtree(target)
    os.replace(staging, target)
    logging.info("Packaged %s step %d as the shipped %s model (%d bytes of weights) in %s", model_dir, step, name,
                 record["weights_bytes"], target)
    return target


@reported("python -m sgan_tf.pretrained")
def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    package(FLAGS.name, FLAGS.model_dir, FLAGS.checkpoint, FLAGS.version, FLAGS.overwrite)
    return 0


if __name__ == "__main__":
    app.run(main)
