"""Segmenting the lesions of a DeepLesion-layout set: GrabCut or an HNN on a variant's composites.

A segmenter maps a `RoiInput` (sgan_tf/segment/inputs.py) to a 0/1 mask at the composite's
size; `segment_records` pastes it back into slice pixels. Predicted masks are stored as
`<pred_dir>/<File_name>` (DL_info.csv's name, slice size): 0/255 when the slice has one lesion
row, label k for its k-th row when it has several (sgan_tf/data/deeplesion.py reads both).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import cv2
import numpy as np
from absl import logging

from sgan_tf import outputs
from sgan_tf.data.deeplesion import DeepLesionSet, LesionRecord, read_mask_file
from sgan_tf.errors import DataError, UserError
from sgan_tf.segment import grabcut, inputs
from sgan_tf.training import run_folder
from sgan_tf.training.config import load_saved

HNN_THRESHOLD = 0.5


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

        self.model, _ = hnn_train.load_hnn(model_dir)
        self.model_dir = model_dir

    def __call__(self, roi: inputs.RoiInput) -> np.ndarray:
        from sgan_tf.segment import hnn_train

        prob = hnn_train.predict(self.model, roi.composite[None])[0]
        return (np.asarray(prob).reshape(roi.composite.shape[:2]) >= HNN_THRESHOLD).astype(np.uint8)


def hnn_variant(model_dir: str) -> str | None:
    """The variant an HNN run was trained on (its config.json), or None if not an HNN run."""
    saved = load_saved(model_dir)
    return saved.get("variant") if saved is not None and saved.get("stage") == "hnn" else None


def hnn_models(path: str | None) -> dict[str, str]:
    """variant -> HNN model_dir from `--hnn_model`: one HNN run (for the variant it was trained
    on) or a folder of runs, one per variant (e.g. <dir>/og, <dir>/sgan)."""
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


def segment_records(
    dataset: DeepLesionSet,
    records: Iterable[LesionRecord],
    enhancer,
    segmenter,
    window: str = "soft_tissue",
) -> Iterator[tuple[inputs.RoiInput, np.ndarray] | tuple[LesionRecord, str]]:
    """(roi, slice-size 0/1 mask) per record, or (record, error message) for a failed one."""
    for item in inputs.roi_inputs(dataset, records, enhancer, window=window):
        if isinstance(item, tuple):
            yield item
            continue
        try:
            yield item, item.to_slice_mask(segmenter(item))
        except (DataError, cv2.error) as e:
            yield item.record, str(e)


def prediction_path(pred_dir: str, rec: LesionRecord) -> str:
    """`<pred_dir>/<File_name>`, the predicted mask file of a lesion's slice (inside pred_dir)."""
    return outputs.inside(pred_dir, rec.file_name, rec.describe())


def write_masks(pred_dir: str, dataset: DeepLesionSet, masks: dict[str, np.ndarray],
                overwrite: bool) -> tuple[list[str], list[str]]:
    """Writes `<pred_dir>/<File_name>` per slice from {item_id: slice mask} with
    `outputs.write_file`; returns (the paths written, a message per file that could not be).
    A slice with several lesion rows gets labels (k-th row -> k + 1), otherwise 0/255."""
    by_file: dict[str, list[LesionRecord]] = {}
    for rec in dataset.records:
        by_file.setdefault(rec.file_name, []).append(rec)
    written, failed = [], []
    for recs in by_file.values():
        present = [r for r in recs if r.item_id in masks]
        if not present:
            continue
        out = np.zeros(masks[present[0].item_id].shape, np.uint8)
        for rec in present:
            out[masks[rec.item_id] > 0] = 255 if len(recs) == 1 else rec.lesion_index + 1
        try:
            path = prediction_path(pred_dir, recs[0])
            if os.path.lexists(path) and not overwrite:
                raise DataError(f"{path} exists (use --overwrite)")
            written.append(outputs.write_png(path, out, pred_dir))
        except DataError as e:
            failed.append(str(e))
    return written, failed


def read_prediction(pred_dir: str, dataset: DeepLesionSet, rec: LesionRecord) -> np.ndarray | None:
    """The predicted mask of one lesion from a `write_masks` folder, or None if missing."""
    return read_mask_file(prediction_path(pred_dir, rec), rec, dataset.rows_in_slice(rec))
