"""The inputs of segmentation: one composite per lesion ROI for each of the paper's variants.

A variant is a way to make the 3-channel image a segmenter sees (paper, Table 1):

| variant | channels (network scale, zoomed ROI) | models needed |
|---------|--------------------------------------|---------------|
| `og`    | OG, OG, OG                           | -             |
| `bm3d`  | OG, BM3D, BM3D                       | - (`bm3d` package, or the NL-means fallback, named `nlm`) |
| `dncnn` | OG, DnCNN, DnCNN                     | dncnn         |
| `gan`   | OG, single GAN, single GAN           | single        |
| `gan1`  | OG, G1, G1                           | denoise       |
| `sgan`  | OG, G1, G2                           | denoise, enhance |

Denoisers (BM3D, DnCNN, G1) run at the ROI's native resolution, before the per-lesion zoom;
G2 and the single GAN after it (sgan_tf/enhance.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from sgan_tf.data import recist
from sgan_tf.data.ct import parse_window
from sgan_tf.data.deeplesion import DeepLesionSet, LesionRecord
from sgan_tf.enhance import TILE_SIZE, Enhancer, load_stage
from sgan_tf.errors import DataError, UserError

VARIANTS = ("og", "bm3d", "dncnn", "gan", "gan1", "sgan")
ROW_NAMES = {"og": "OG", "bm3d": "OG+BM3D", "nlm": "OG+NLM", "dncnn": "OG+DnCNN", "gan": "OG+GAN",
             "gan1": "OG+GAN1", "sgan": "OG+SGAN"}


@dataclasses.dataclass
class ModelDirs:
    """Training model directories of the networks the variants use (None: not given)."""

    denoise: str | None = None
    enhance: str | None = None
    single: str | None = None
    dncnn: str | None = None


def variant_enhancer(variant: str, model_dirs: ModelDirs, tile_size: int = TILE_SIZE,
                     allow_fallback: bool = True) -> Enhancer:
    """The Enhancer that makes `variant`'s composites. For `bm3d` without the bm3d package the
    NL-means fallback is used and the Enhancer's variant says `nlm`, never `bm3d`."""
    if variant in ("og", "gan", "gan1", "sgan"):
        return Enhancer.from_model_dirs(variant, model_dirs.denoise, model_dirs.enhance, model_dirs.single,
                                        tile_size=tile_size)
    if variant == "dncnn":
        if not model_dirs.dncnn:
            raise UserError("variant dncnn needs --dncnn_model")
        stage = load_stage(model_dirs.dncnn, tile_size=tile_size)
        return Enhancer(stage, None, "dncnn", info={"dncnn_model": stage.info})
    if variant == "bm3d":
        from sgan_tf import baselines

        name, stage = baselines.bm3d_or_fallback(allow_fallback)
        return Enhancer(stage, None, name, info={"denoiser": name})
    raise UserError(f"variant {variant!r}: use one of {', '.join(VARIANTS)}")


@dataclasses.dataclass
class RoiInput:
    """One lesion ready for a segmenter, everything at the zoomed ROI's size."""

    record: LesionRecord
    composite: np.ndarray  # [H, W, 3] float32, network scale
    box: recist.RoiBox  # the ROI in slice pixels (before the zoom)
    zoom: float
    recist: np.ndarray  # [4, 2] (x, y) in composite pixels
    truth: np.ndarray | None  # ground truth (0/1) at composite size, when the set has masks/

    def to_slice_mask(self, mask: np.ndarray) -> np.ndarray:
        """A composite-size 0/1 mask pasted back into its slice (slice size, uint8)."""
        return recist.paste_mask(_resize_mask(mask, self.box.side), self.box, tuple(self.record.image_size))


def _resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    if mask.shape == (size, size):
        return mask.astype(np.uint8)
    return cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST_EXACT)


def roi_inputs(
    dataset: DeepLesionSet,
    records: Iterable[LesionRecord],
    enhancer: Enhancer,
    target_px: float = recist.TARGET_LESION_PX,
    max_zoom: float = recist.MAX_ZOOM,
    window: str = "soft_tissue",
) -> Iterator[RoiInput | tuple[LesionRecord, str]]:
    """Composites of the records' ROIs (the paper's ROI and per-lesion zoom, sgan_tf/data/recist.py).
    An item that cannot be made yields (record, message) instead; the caller reports it."""
    for rec in records:
        try:
            image = dataset.load_slice(rec)
            box = recist.roi_box(rec.recist)
            zoom = recist.zoom_factor(recist.axis_lengths(rec.recist)[0], target_px, max_zoom)
            result = enhancer(recist.crop(image.hu, box), zoom, parse_window(window, own=rec.own_window))
            truth = dataset.load_mask(rec)
            if truth is not None:
                roi_truth = recist.crop(truth, box, pad_value=0)
                truth = _resize_mask(roi_truth, result.og.shape[0])
            yield RoiInput(rec, result.composite, box, zoom, recist.to_roi(rec.recist, box, zoom), truth)
        except (DataError, cv2.error) as e:
            yield rec, str(e)
