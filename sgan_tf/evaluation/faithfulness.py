"""Faithfulness of enhancement: how far each channel is from the noise-free image, per lesion ROI.

On a simulated set every slice has a noise-free copy (`Images_png_clean/`, a source item's
`read_clean`). For each lesion ROI
(the paper's ROI and per-lesion zoom, as segmentation sees it) the noisy ROI goes through a
variant's enhancer and the noise-free ROI through the same crop and cubic zoom. Errors are in
HU, both images clipped to the network window (what the networks see and change), over the
whole ROI and over the lesion (its true mask):

* `og`: the noisy input itself, the reference every other channel must beat;
* `denoised`, `enhanced`: the variant's channels (for `sgan`, G1 and G2).

A channel that invents texture or amplifies noise has an error above OG's; the `<channel>/og`
columns divide its per-lesion RMSEs, pooled as a root mean square over the lesions, by OG's
pooled the same way on the same lesions. Pooled, not a mean of per-lesion ratios: a lesion where OG is nearly exact (a high
dose, a flat region) would make its ratio, and so the mean, explode.
"""

from __future__ import annotations

import numpy as np

from sgan_tf import metrics, progress, scale
from sgan_tf.data import recist
from sgan_tf.data.ct import DEFAULT_CHOICE, WindowChoice
from sgan_tf.data.sources import CTItem
from sgan_tf.enhance import Enhancer, EnhanceResult
from sgan_tf.errors import DataError

TITLE = "Faithfulness: RMSE (HU, network window) of each channel against the noise-free ROI, mean ± std over lesions"


def lesion_errors(item: CTItem, enhancer: Enhancer, window: WindowChoice = DEFAULT_CHOICE) -> dict[str, float]:
    """RMSE (HU, window-clipped) of each channel against the noise-free ROI, over the ROI and
    over the lesion; DataError when the item has no noise-free copy or lesion marks."""
    if item.recist is None or item.read_clean is None:
        raise DataError(f"{item.describe()}: no lesion marks or noise-free copy to compare with")
    image = item.read()
    try:
        clean = item.read_clean().hu
    except DataError as e:
        raise DataError(f"{item.describe()}: no noise-free copy to compare with ({e})") from e
    box = recist.roi_box(item.recist)
    zoom = recist.zoom_factor(recist.axis_lengths(item.recist)[0])
    win = window.resolve(image.window)
    result = enhancer(recist.crop(image.hu, box), zoom, win)
    h, w = result.og.shape
    reference = np.clip(scale.zoom_cubic(recist.crop(clean, box), h, w), win.lo, win.hi)
    truth = item.truth()
    lesion = None if truth is None else scale.resize_mask(recist.crop(truth, box, pad_value=0), h, w) > 0
    out = {}
    for name in EnhanceResult.CHANNELS:
        channel = np.clip(getattr(result, f"{name}_hu"), win.lo, win.hi)
        out[f"{name} ROI"] = metrics.rmse(channel, reference)
        out[f"{name} lesion"] = metrics.rmse(channel, reference, lesion) if lesion is not None else float("nan")
    return out


def pooled_ratio(errors: np.ndarray, og_errors: np.ndarray) -> float:
    """RMS over lesions of `errors` divided by that of OG's on the same lesions (module docstring);
    NaN when there are none or OG's is zero."""
    og_rms = float(np.sqrt(np.mean(np.square(og_errors)))) if len(og_errors) else 0.0
    if og_rms == 0.0:
        return float("nan")
    return round(float(np.sqrt(np.mean(np.square(errors)))) / og_rms, 3)


def table(items: list[CTItem], enhancers: dict[str, Enhancer], row_names: dict[str, str],
          window: WindowChoice = DEFAULT_CHOICE) -> tuple[list[dict], list[dict]]:
    """(rows: per variant, mean ± std RMSE of each channel and its ratio to OG's; failures)."""
    rows, failures = [], []
    for variant, enhancer in enhancers.items():
        per_lesion = []
        for item in progress.track(items, f"faithfulness {row_names.get(variant, variant)}", unit="lesion"):
            try:
                per_lesion.append(lesion_errors(item, enhancer, window))
            except DataError as e:
                failures.append({"item": item.item_id, "variant": variant, "error": str(e)})
        if not per_lesion:
            continue
        row: dict = {"Input": row_names.get(variant, variant), "lesions": len(per_lesion)}
        for region in ("ROI", "lesion"):
            og = np.array([e[f"og {region}"] for e in per_lesion])
            for name in EnhanceResult.CHANNELS:
                values = np.array([e[f"{name} {region}"] for e in per_lesion])
                ok = np.isfinite(values)
                row[f"{name} {region} RMSE (HU)"] = metrics.mean_std(values[ok])
                if name != "og":
                    row[f"{name}/og {region}"] = pooled_ratio(values[ok], og[ok])
        rows.append(row)
    return rows, failures
