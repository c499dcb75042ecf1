"""The paper's experiment end to end (pipeline_main): simulate a lesion set, train G1, G2, the
single GAN, DnCNN and one HNN per variant, then run the experiment (sgan_tf/evaluation/experiment.py)
on the test lesions. With `models=pretrained` nothing trains: the variants whose models ship are
evaluated (`shipped_models`).

Layout: output_dir/phantom (the simulated set, unless `input` names a set), output_dir/models/<stage>,
output_dir/models/hnn/<variant>, output_dir/eval (tables, figures). Rerunning resumes: a finished
stage only validates, an existing set is reused. The log says "stage k of n" as it goes.
"""

from __future__ import annotations

import dataclasses
import os

from absl import logging

from sgan_tf import pretrained, training, variants
from sgan_tf.data import ct, deeplesion, phantom
from sgan_tf.errors import UserError
from sgan_tf.evaluation import experiment
from sgan_tf.segment import grabcut, hnn_train

GAN_AND_DNCNN = ("denoise", "enhance", "single", "dncnn")
TRAIN = "train"  # `models`: train every model (the other choice: pretrained.PRETRAINED)


@dataclasses.dataclass
class PipelineConfig:
    """What pipeline_main's own flags say (the training flags are the stage configurations)."""

    output_dir: str
    input: str | None = None  # a DeepLesion-layout set with masks/ to use instead of simulating one
    num_slices: int = 200
    phantom_seed: int = 0
    photons: tuple[float, float] = phantom.DEFAULT_PHOTONS
    image_size: int = phantom.DEFAULT_SIZE
    models: str = TRAIN
    hnn_variants: tuple[str, ...] = variants.NAMES
    eval_splits: tuple[int, ...] = (3,)
    window: str = ct.DEFAULT_WINDOW
    grabcut_iterations: int = grabcut.ITERATIONS
    restart: bool = False


class Stages:
    """Logs "stage k of n: what" as the pipeline goes."""

    def __init__(self, total: int):
        self.total, self.done = total, 0

    def next(self, what: str, *args) -> None:
        self.done += 1
        logging.info(f"Stage %d of %d: {what}", self.done, self.total, *args)


def shipped_models() -> tuple[dict[str, str | None], str | None]:
    """`models=pretrained`: (the model flags, the HNN flag) naming each shipped model and leaving
    the others unset, so the variants whose models ship are evaluated; UserError when none ships."""
    shipped = [name for name in pretrained.NAMES if pretrained.is_shipped(name)]
    if not any(name in shipped for name in GAN_AND_DNCNN):
        raise UserError(f"--models={pretrained.PRETRAINED}: no model ships with this sgan-tf "
                        f"(looked in {pretrained.root()}); train them with --models={TRAIN}")
    if missing := [name for name in pretrained.NAMES if name not in shipped]:
        logging.info("Shipped models: %s; not shipped, so the rows that need them are left out: %s",
                     ", ".join(shipped), ", ".join(missing))
    models = {name: pretrained.PRETRAINED if name in shipped else None for name in GAN_AND_DNCNN}
    return models, pretrained.PRETRAINED if "hnn" in shipped else None


def run_pipeline(config: PipelineConfig, train_base: training.TrainConfig, hnn_base: hnn_train.HNNConfig) -> dict:
    """Runs every stage (module docstring); `train_base` and `hnn_base` hold the settings every
    GAN/DnCNN stage and every HNN share (stage, model folder and data are set per stage).
    Returns the experiment's result (`experiment.run_experiment`)."""
    out = config.output_dir
    root = config.input or os.path.join(out, "phantom")
    simulate = not config.input and not deeplesion.DeepLesionSet.is_root(root)
    train = config.models == TRAIN
    hnn_variants = list(config.hnn_variants) if train else []
    stages = Stages(simulate + (len(GAN_AND_DNCNN) + len(hnn_variants) if train else 0) + 1)
    if not train:
        models, hnn_model = shipped_models()  # checked before any work
    if simulate:
        stages.next("simulating %d slices into %s", config.num_slices, root)
        phantom.write_set(root, config.num_slices, config.phantom_seed, photons=config.photons, size=config.image_size)
    if train:
        models = {stage: os.path.join(out, "models", stage) for stage in GAN_AND_DNCNN}
        for stage in GAN_AND_DNCNN:
            stages.next("training %s into %s", stage, models[stage])
            training.train(dataclasses.replace(train_base, stage=stage, model_dir=models[stage]),
                           restart=config.restart)
        for variant in hnn_variants:
            model_dir = os.path.join(out, "models", "hnn", variant)
            stages.next("training the HNN on %s composites into %s", variant, model_dir)
            hnn_train.train(dataclasses.replace(
                hnn_base, model_dir=model_dir, data_dir=root, variant=variant,
                **{f"{name}_model": models[name] for name in GAN_AND_DNCNN}), restart=config.restart)
        hnn_model = os.path.join(out, "models", "hnn") if hnn_variants else None
    stages.next("evaluating into %s", os.path.join(out, "eval"))
    return experiment.run_experiment(experiment.ExperimentConfig(
        input=root, output_dir=os.path.join(out, "eval"), models=models, hnn_model=hnn_model,
        splits=config.eval_splits, window=config.window, grabcut_iterations=config.grabcut_iterations,
        inference_precision=hnn_base.inference_precision))
