"""Segmenting the lesions of a source: GrabCut or an HNN on a variant's composites.

A segmenter maps a `RoiInput` (sgan_tf/segment/inputs.py) to a 0/1 mask at the composite's
size; `segment_items` pastes it back into slice pixels. Predicted masks are stored per slice as
`<pred_dir>/<slice name>` (a DeepLesion slice's File_name, else the item name), slice size:
0/255 when the slice has one lesion, label k for its k-th lesion when it has several
(`deeplesion.read_mask_file` reads both).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator

import cv2
import numpy as np
from absl import logging

from sgan_tf import outputs, precision, pretrained, progress, variants
from sgan_tf.data.ct import DEFAULT_CHOICE, WindowChoice
from sgan_tf.data.deeplesion import read_mask_file
from sgan_tf.data.sources import CTItem
from sgan_tf.errors import DataError, UserError
from sgan_tf.segment import HNN_THRESHOLD, grabcut, inputs
from sgan_tf.training import run_folder


class GrabCutSegmenter:
    """GrabCut from the RECIST trimap on the composite (sgan_tf/segment/grabcut.py)."""

    name = "grabcut"

    def __init__(self, iterations: int = 5):
        self.iterations = iterations

    def __call__(self, roi: inputs.RoiInput) -> np.ndarray:
        return grabcut.grabcut(roi.composite, roi.recist, self.iterations)


class HNNSegmenter:
    """A trained HNN's fused output, thresholded at `HNN_THRESHOLD`."""

    name = "hnn"

    def __init__(self, model_dir: str):
        from sgan_tf.segment import hnn_train

        self.model, checkpoint = hnn_train.load_hnn(model_dir)
        self.model_dir = model_dir
        self.info = run_folder.model_info(model_dir, checkpoint)

    def __call__(self, roi: inputs.RoiInput) -> np.ndarray:
        from sgan_tf.segment import hnn_train

        prob = hnn_train.predict(self.model, roi.composite[None])[0]
        return (np.asarray(prob).reshape(roi.composite.shape[:2]) >= HNN_THRESHOLD).astype(np.uint8)


def segmenters_for(variant: str, hnn_dirs: dict[str, str], grabcut_iterations: int = grabcut.ITERATIONS) -> dict:
    """The segmenters (by method, sgan_tf/segment METHODS) that can run on `variant`'s
    composites: GrabCut always, the HNN when `hnn_dirs` (`hnn_models`) holds one trained on it."""
    found = {GrabCutSegmenter.name: GrabCutSegmenter(grabcut_iterations)}
    if variant in hnn_dirs:
        found[HNNSegmenter.name] = HNNSegmenter(hnn_dirs[variant])
    return found


def models_that_ran(enhancer_info: dict, methods: Iterable) -> dict:
    """What sidecars record of the models behind a segmentation: the enhancer's (its `info`)
    and, when an HNN is among `methods`, its folder and checkpoint as `hnn_model`."""
    return {**enhancer_info, **{"hnn_model": m.info for m in methods if isinstance(m, HNNSegmenter)}}


def hnn_variant(model_dir: str) -> str | None:
    """The variant an HNN run was trained on (its config.json), or None if not an HNN run."""
    saved = run_folder.read_config(model_dir)
    return saved.get("variant") if saved is not None and saved.get("stage") == "hnn" else None


def hnn_models(value: str | None) -> dict[str, str]:
    """variant -> HNN model_dir from what `--hnn_model` says (`pretrained.resolve`): one HNN run
    (for the variant it was trained on), a folder of runs, one per variant (e.g. <dir>/og,
    <dir>/sgan), or the shipped HNN; {} for none."""
    path = pretrained.resolve(value, "hnn")
    if not path:
        return {}
    if not os.path.isdir(path):
        raise UserError(f"--hnn_model {path}: no such folder")
    if (variant := hnn_variant(path)) is not None:
        return {variant: path}
    found = {}
    for name in sorted(os.listdir(path)):
        sub = os.path.join(path, name)
        if os.path.isdir(sub) and (variant := hnn_variant(sub)) is not None:
            if not run_folder.checkpoints(sub):
                logging.warning("%s: HNN run without a checkpoint yet (unfinished?); variant %s has no HNN row",
                                sub, variant)
                continue
            found[variant] = sub
    if not found:
        raise UserError(f"--hnn_model {path}: neither an HNN training run nor a folder of them")
    return found


def segment_items(
    items: Iterable[CTItem],
    enhancer,
    segmenter,
    window: WindowChoice = DEFAULT_CHOICE,
) -> Iterator[tuple[inputs.RoiInput, np.ndarray] | tuple[CTItem, str]]:
    """(roi, slice-size 0/1 mask) per lesion item, or (item, error message) for a failed one."""
    for roi in inputs.roi_inputs(items, enhancer, window):
        if isinstance(roi, tuple):
            yield roi
            continue
        try:
            yield roi, roi.to_slice_mask(segmenter(roi))
        except (DataError, cv2.error) as e:
            yield roi.item, str(e)


def prediction_path(pred_dir: str, item: CTItem) -> str:
    """`<pred_dir>/<slice name>`, the predicted mask file of a lesion's slice (inside pred_dir)."""
    name = item.slice_id if item.slice_id.lower().endswith(".png") else f"{item.slice_id}.png"
    return outputs.inside(pred_dir, name, item.describe())


def write_masks(pred_dir: str, items: Iterable[CTItem], masks: dict[str, np.ndarray],
                overwrite: bool) -> tuple[list[str], list[str]]:
    """Writes `<pred_dir>/<slice name>` per slice from {item_id: slice mask} with
    `outputs.write_file`; returns (the paths written, a message per file that could not be).
    A slice with several lesions gets labels (k-th lesion -> k + 1), otherwise 0/255."""
    by_slice: dict[str, list[CTItem]] = {}
    for item in items:
        by_slice.setdefault(item.slice_id, []).append(item)
    written, failed = [], []
    for group in by_slice.values():
        present = [i for i in group if i.item_id in masks]
        if not present:
            continue
        out = np.zeros(masks[present[0].item_id].shape, np.uint8)
        for item in present:
            out[masks[item.item_id] > 0] = 255 if item.lesions_in_slice == 1 else item.lesion_index + 1
        try:
            path = prediction_path(pred_dir, group[0])
            if os.path.lexists(path) and not overwrite:
                raise DataError(f"{path} exists (use --overwrite)")
            written.append(outputs.write_png(path, out, pred_dir))
        except DataError as e:
            failed.append(str(e))
    return written, failed


def read_prediction(pred_dir: str, item: CTItem) -> np.ndarray | None:
    """The predicted mask of one lesion from a `write_masks` folder, or None if missing."""
    return read_mask_file(prediction_path(pred_dir, item), item.lesion_index, item.lesions_in_slice, item.shape,
                          f"the slice of {item.describe()}")


@dataclasses.dataclass
class SegmentConfig:
    """What segment_main's flags say: where to, which variant's composites, which method."""

    input: str
    output_dir: str
    variant: str = variants.REFERENCE
    method: str = GrabCutSegmenter.name  # a method of sgan_tf/segment METHODS
    models: dict = dataclasses.field(default_factory=dict)  # name -> --<name>_model value
    hnn_model: str | None = None
    splits: tuple[int, ...] | None = None
    grabcut_iterations: int = grabcut.ITERATIONS
    window: WindowChoice = DEFAULT_CHOICE
    overwrite: bool = False
    recist: tuple[float, ...] | None = None  # one lesion's marks (8 numbers): sgan_tf/segment/lesion.py
    slice: int | None = None  # ... on this slice of the input
    inference_precision: str = precision.INFERENCE_DEFAULT


def segment_to_folder(config: SegmentConfig) -> list[str]:
    """Segments every lesion of `config.input` into mask files in `config.output_dir` (module
    docstring); a slice whose mask exists is skipped unless `overwrite`. Returns the failures,
    each named (logged as they happen)."""
    from sgan_tf.data.sources import open_lesion_source
    from sgan_tf.enhance import Enhancer

    outputs.check_writable(config.output_dir)
    source = open_lesion_source(config.input, "--input")
    items = source.lesions(config.splits)
    if not items and (source.lesions() or not source.problems):
        raise UserError(f"--input {config.input}: no lesion rows"
                        + (f" in --splits={list(config.splits)}" if config.splits else ""))
    failed = list(source.problems)
    for problem in failed:
        logging.error("%s", problem)
    skipped = set() if config.overwrite else {
        i.item_id for i in items if os.path.lexists(prediction_path(config.output_dir, i))}
    for item in items:
        if item.item_id in skipped:
            logging.info("%s: skipped, %s exists (use --overwrite)", item.item_id, item.slice_id)
    todo = [i for i in items if i.item_id not in skipped]
    enhancer = Enhancer.for_variant(config.variant, config.models, compute_dtype=config.inference_precision)
    hnn_dirs = hnn_models(config.hnn_model) if config.method == HNNSegmenter.name else {}
    segmenter = segmenters_for(config.variant, hnn_dirs, config.grabcut_iterations).get(config.method)
    if segmenter is None:
        raise UserError(f"--method={config.method} needs --hnn_model with an HNN trained on variant {config.variant}")
    masks = {}
    results = segment_items(todo, enhancer, segmenter, config.window)
    for item, result in progress.track(results, f"segment {variants.ROW_NAMES.get(enhancer.variant)}",
                                       total=len(todo), unit="lesion"):
        if isinstance(result, str):
            failed.append(f"{item.item_id}: {result}")
            logging.error("%s: failed: %s", item.item_id, result)
            continue
        masks[item.item.item_id] = result
    written, unwritten = write_masks(config.output_dir, items, masks, config.overwrite)
    for message in unwritten:
        logging.error("failed: %s", message)
    failed += unwritten
    logging.info("%d lesions segmented into %d mask files in %s; %d skipped (masks exist); %d failed", len(masks),
                 len(written), config.output_dir, len(skipped), len(failed))
    return failed
