"""Faithfulness of enhancement: how far each channel is from the noise-free image, per lesion ROI.

On a simulated set every slice has a noise-free copy (`Images_png_clean/`). For each lesion ROI
(the paper's ROI and per-lesion zoom, as segmentation sees it) the noisy ROI goes through a
variant's enhancer and the noise-free ROI through the same crop and cubic zoom. Errors are in
HU, both images clipped to the network window (what the networks see and change), over the
whole ROI and over the lesion (its true mask):

* `og`: the noisy input itself, the reference every other channel must beat;
* `denoised`, `enhanced`: the variant's channels (for `sgan`, G1 and G2).

A channel that invents texture or amplifies noise has an error above OG's; `ratio` columns
divide by OG's error on the same lesions.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from sgan_tf.data import recist
from sgan_tf.data.ct import NETWORK_WINDOW, Window
from sgan_tf.data.deeplesion import DeepLesionSet, LesionRecord
from sgan_tf.enhance import Enhancer
from sgan_tf.errors import DataError

CHANNELS = ("og", "denoised", "enhanced")


def _rmse(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    d = (a - b) if where is None else (a - b)[where]
    return float(np.sqrt(np.mean(np.square(d, dtype=np.float64)))) if d.size else float("nan")


def lesion_errors(dataset: DeepLesionSet, rec: LesionRecord, enhancer: Enhancer,
                  window: Window = NETWORK_WINDOW) -> dict[str, float]:
    """RMSE (HU, window-clipped) of each channel against the noise-free ROI, over the ROI and
    over the lesion; DataError when the set has no noise-free copy of the slice."""
    noisy = dataset.load_slice(rec).hu
    try:
        clean = dataset.load_slice(rec, clean=True).hu
    except DataError as e:
        raise DataError(f"{rec.describe()}: no noise-free copy to compare with ({e})") from e
    box = recist.roi_box(rec.recist)
    zoom = recist.zoom_factor(recist.axis_lengths(rec.recist)[0])
    result = enhancer(recist.crop(noisy, box), zoom, window)
    h, w = result.og.shape
    reference = np.clip(cv2.resize(recist.crop(clean, box), (w, h), interpolation=cv2.INTER_CUBIC),
                        window.lo, window.hi)
    truth = dataset.load_mask(rec)
    lesion = None
    if truth is not None:
        lesion = cv2.resize(recist.crop(truth, box, pad_value=0), (w, h), interpolation=cv2.INTER_NEAREST_EXACT) > 0
    out = {}
    for name in CHANNELS:
        channel = np.clip(getattr(result, f"{name}_hu"), window.lo, window.hi)
        out[f"{name} ROI"] = _rmse(channel, reference)
        out[f"{name} lesion"] = _rmse(channel, reference, lesion) if lesion is not None else float("nan")
    return out


def table(dataset: DeepLesionSet, records: Iterable[LesionRecord], enhancers: dict[str, Enhancer],
          row_names: dict[str, str], window: Window = NETWORK_WINDOW) -> tuple[list[dict], list[dict]]:
    """(rows: per variant, mean ± std RMSE of each channel and its ratio to OG's; failures)."""
    records = list(records)
    rows, failures = [], []
    for variant, enhancer in enhancers.items():
        per_lesion = []
        for rec in records:
            try:
                per_lesion.append(lesion_errors(dataset, rec, enhancer, window))
            except DataError as e:
                failures.append({"item": rec.item_id, "variant": variant, "error": str(e)})
        if not per_lesion:
            continue
        row: dict = {"Input": row_names.get(variant, variant), "lesions": len(per_lesion)}
        for region in ("ROI", "lesion"):
            og = np.array([e[f"og {region}"] for e in per_lesion])
            for name in CHANNELS:
                values = np.array([e[f"{name} {region}"] for e in per_lesion])
                ok = np.isfinite(values)
                row[f"{name} {region} RMSE (HU)"] = (float(np.mean(values[ok])), float(np.std(values[ok]))) \
                    if ok.any() else (float("nan"), float("nan"))
                if name != "og":
                    ratio = values[ok] / np.maximum(og[ok], 1e-6)
                    row[f"{name}/og {region}"] = (float(np.mean(ratio)), float(np.std(ratio))) \
                        if ok.any() else (float("nan"), float("nan"))
        rows.append(row)
    return rows, failures
