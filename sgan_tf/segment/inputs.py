"""The inputs of segmentation: one composite per lesion ROI, for a variant (sgan_tf/variants.py).

Each item with RECIST marks (sgan_tf/data/sources.py) becomes its lesion's ROI (twice the long
diameter, sgan_tf/data/recist.py) enhanced at its per-lesion zoom by the variant's `Enhancer`,
with the RECIST points and the ground truth (when the source has masks) at the composite's size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from sgan_tf import scale
from sgan_tf.data import recist
from sgan_tf.data.ct import DEFAULT_CHOICE, WindowChoice
from sgan_tf.data.sources import CTItem
from sgan_tf.enhance import Enhancer
from sgan_tf.errors import DataError


@dataclasses.dataclass
class RoiInput:
    """One lesion ready for a segmenter, everything at the zoomed ROI's size."""

    item: CTItem
    composite: np.ndarray  # [H, W, 3] float32, network scale
    box: recist.RoiBox  # the ROI in slice pixels (before the zoom)
    zoom: float
    recist: np.ndarray  # [4, 2] (x, y) in composite pixels
    truth: np.ndarray | None  # ground truth (0/1) at composite size, when the source has masks
    slice_shape: tuple[int, int]

    def to_slice_mask(self, mask: np.ndarray) -> np.ndarray:
        """A composite-size 0/1 mask pasted back into its slice (slice size, uint8)."""
        return recist.paste_mask(scale.resize_mask(mask, self.box.side, self.box.side), self.box, self.slice_shape)


def roi_inputs(
    items: Iterable[CTItem],
    enhancer: Enhancer,
    window: WindowChoice = DEFAULT_CHOICE,
    target_px: float = recist.TARGET_LESION_PX,
    max_zoom: float = recist.MAX_ZOOM,
) -> Iterator[RoiInput | tuple[CTItem, str]]:
    """Composites of the items' lesion ROIs (the paper's ROI and per-lesion zoom). An item that
    cannot be made yields (item, message) instead; the caller reports it."""
    for item in items:
        try:
            if item.recist is None:
                raise DataError(f"{item.describe()}: no RECIST lesion marks to place its ROI")
            image = item.read()
            box = recist.roi_box(item.recist)
            zoom = recist.zoom_factor(recist.axis_lengths(item.recist)[0], target_px, max_zoom)
            result = enhancer(recist.crop(image.hu, box), zoom, window.resolve(image.window))
            truth = item.truth()
            if truth is not None:
                size = result.og.shape[0]
                truth = scale.resize_mask(recist.crop(truth, box, pad_value=0), size, size)
            yield RoiInput(item, result.composite, box, zoom, recist.to_roi(item.recist, box, zoom), truth,
                           image.hu.shape)
        except (DataError, cv2.error) as e:
            yield item, str(e)
