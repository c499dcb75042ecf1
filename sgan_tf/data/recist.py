"""RECIST geometry: axes from masks, the paper's lesion ROI, the per-lesion zoom, paste-back.

RECIST marks are four points (x, y) in slice pixels: the long-axis endpoints, then the
short-axis endpoints, as in DeepLesion's Measurement_coordinates.

ROI (the paper's): a square centred on the lesion (the centre of the bounding box of the four
points), side = 2 x the long diameter, rounded up to whole pixels and at least `MIN_SIDE`.
Parts of it outside the slice are padded with air, `PAD_HU` = -1024 HU, the value of the
field outside a CT scan's body. `RoiBox` keeps the ROI's place in the slice so masks and
points go back with `paste_mask` / `to_slice`.

Zoom (for G2): the ROI is enlarged by `zoom_factor` so that the long diameter reaches
`target_px` (default 64 px: the ROI becomes ~128 px, G2's training crop), never shrunk and
capped at `max_zoom` (default 4, the largest down-sampling factor G2 learned to undo). Small
lesions therefore get the larger factors, as the paper motivates.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from sgan_tf import scale
from sgan_tf.data.ct import AIR_HU
from sgan_tf.errors import DataError

PAD_HU = AIR_HU
MIN_SIDE = 8
TARGET_LESION_PX = 64.0
MAX_ZOOM = 4.0


def axis_lengths(recist: np.ndarray) -> tuple[float, float]:
    """(long, short) diameters in pixels of [4, 2] RECIST points."""
    p = np.asarray(recist, np.float64).reshape(4, 2)
    return float(np.linalg.norm(p[1] - p[0])), float(np.linalg.norm(p[3] - p[2]))


def lesion_center(recist: np.ndarray) -> tuple[float, float]:
    """(x, y) centre of the bounding box of the four RECIST points."""
    p = np.asarray(recist, np.float64).reshape(4, 2)
    lo, hi = p.min(axis=0), p.max(axis=0)
    return float((lo[0] + hi[0]) / 2), float((lo[1] + hi[1]) / 2)


def check_recist(recist: np.ndarray, image_shape: tuple[int, int], item: str) -> None:
    """DataError naming `item` for non-finite points, points outside the image, zero-length axes."""
    p = np.asarray(recist, np.float64).reshape(4, 2)
    if not np.all(np.isfinite(p)):
        raise DataError(f"{item}: RECIST coordinates are not finite: {p.ravel().tolist()}")
    h, w = image_shape
    outside = (p[:, 0] < -0.5) | (p[:, 0] > w - 0.5) | (p[:, 1] < -0.5) | (p[:, 1] > h - 0.5)
    if outside.any():
        raise DataError(f"{item}: RECIST point(s) {p[outside].tolist()} outside the {w}x{h} image")
    long_d, short_d = axis_lengths(p)
    if long_d <= 0 or short_d <= 0:
        which = "long" if long_d <= 0 else "short"
        raise DataError(f"{item}: RECIST {which} axis has zero length")


def recist_from_mask(mask: np.ndarray) -> np.ndarray:
    """RECIST points [4, 2] (x, y) of a binary mask: the longest chord between pixel centres
    (max Feret diameter), then the longest chord perpendicular to it."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        raise ValueError("empty mask has no RECIST axes")
    points = np.stack([xs, ys], axis=1).astype(np.float64)
    hull = cv2.convexHull(points.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    dist = np.linalg.norm(hull[:, None, :] - hull[None, :, :], axis=-1)
    i, j = np.unravel_index(int(np.argmax(dist)), dist.shape)
    a, b = hull[i], hull[j]
    length = dist[i, j]
    if length == 0:
        return np.stack([a, b, a, b])
    d = (b - a) / length
    n = np.array([-d[1], d[0]])
    u = (points - a) @ d
    v = (points - a) @ n
    bins = np.rint(u).astype(np.int64)
    order = np.argsort(bins, kind="stable")
    bins, v_sorted = bins[order], v[order]
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    vmax = np.maximum.reduceat(v_sorted, starts)
    vmin = np.minimum.reduceat(v_sorted, starts)
    k = int(np.argmax(vmax - vmin))
    c = a + float(bins[starts[k]]) * d
    return np.stack([a, b, c + vmin[k] * n, c + vmax[k] * n])


@dataclasses.dataclass(frozen=True)
class RoiBox:
    """A square ROI in slice pixels: columns x0..x0+side-1, rows y0..y0+side-1 (may overhang)."""

    x0: int
    y0: int
    side: int

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.side]

    def overhangs(self, image_shape: tuple[int, int]) -> bool:
        h, w = image_shape
        return self.x0 < 0 or self.y0 < 0 or self.x0 + self.side > w or self.y0 + self.side > h


def roi_box(recist: np.ndarray, scale: float = 2.0, min_side: int = MIN_SIDE) -> RoiBox:
    """The paper's ROI: side = scale x the long diameter, centred on the lesion."""
    long_d, _ = axis_lengths(recist)
    side = max(int(math.ceil(scale * long_d)), min_side)
    cx, cy = lesion_center(recist)
    return RoiBox(int(round(cx - (side - 1) / 2)), int(round(cy - (side - 1) / 2)), side)


def _overlap(box: RoiBox, image_shape: tuple[int, int]) -> tuple[slice, slice, slice, slice]:
    """(image rows, image cols, roi rows, roi cols) of the part of `box` inside the image."""
    h, w = image_shape
    ys, xs = max(box.y0, 0), max(box.x0, 0)
    ye, xe = min(box.y0 + box.side, h), min(box.x0 + box.side, w)
    if ye <= ys or xe <= xs:
        raise DataError(f"ROI {box.as_list()} lies outside the {w}x{h} image")
    return (slice(ys, ye), slice(xs, xe), slice(ys - box.y0, ye - box.y0), slice(xs - box.x0, xe - box.x0))


def crop(image: np.ndarray, box: RoiBox, pad_value: float = PAD_HU) -> np.ndarray:
    """The ROI of a slice [H, W]; parts outside the slice are `pad_value`."""
    iy, ix, ry, rx = _overlap(box, image.shape[:2])
    out = np.full((box.side, box.side) + image.shape[2:], pad_value, dtype=image.dtype)
    out[ry, rx] = image[iy, ix]
    return out


def paste_mask(roi_mask: np.ndarray, box: RoiBox, image_shape: tuple[int, int]) -> np.ndarray:
    """A binary ROI mask (any size: resized to the box side by pixel-centre-aligned nearest
    neighbour, matching the bicubic zoom of the images) placed into
    an all-zero uint8 slice mask; the overhanging part is dropped."""
    roi_mask = np.asarray(roi_mask)
    if roi_mask.shape[:2] != (box.side, box.side):
        roi_mask = scale.resize_mask(roi_mask, box.side, box.side)
    out = np.zeros(image_shape, np.uint8)
    iy, ix, ry, rx = _overlap(box, image_shape)
    out[iy, ix] = (roi_mask[ry, rx] > 0).astype(np.uint8)
    return out


def to_roi(points: np.ndarray, box: RoiBox, zoom: float = 1.0) -> np.ndarray:
    """Slice (x, y) -> coordinates in the (zoomed) ROI image (pixel centres map to centres)."""
    p = np.asarray(points, np.float64)
    return (p - [box.x0, box.y0] + 0.5) * zoom - 0.5


def to_slice(points: np.ndarray, box: RoiBox, zoom: float = 1.0) -> np.ndarray:
    """Inverse of `to_roi`."""
    p = np.asarray(points, np.float64)
    return (p + 0.5) / zoom - 0.5 + [box.x0, box.y0]


def zoom_factor(long_px: float, target_px: float = TARGET_LESION_PX, max_zoom: float = MAX_ZOOM) -> float:
    """Enlargement bringing the long diameter to `target_px`: in [1, max_zoom]."""
    if long_px <= 0:
        raise ValueError("long diameter must be positive")
    return float(min(max(target_px / long_px, 1.0), max_zoom))
