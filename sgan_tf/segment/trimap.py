"""The GrabCut initialisation of a lesion from its RECIST marks: four regions in OpenCV's codes.

RECIST points are [4, 2] (x, y) in the ROI image's pixels (pixel centres at integers): the
long-axis endpoints p1, p2, then the short-axis endpoints s1, s2. L and S are the long and
short diameters. Lengths scale with the lesion (down to the pixel minimums), so the trimap of
a zoomed ROI is the zoomed trimap. A pixel takes the first region its centre falls in:

1. `GC_FGD` (1): the two axes drawn as lines. Each segment is shrunk about its midpoint to
   `AXIS_KEEP` of its length (its ends lie on the boundary; shrunk, the line stays inside),
   and drawn `LINE_WIDTH` x S wide (at least `MIN_LINE_WIDTH_PX`) with round caps.
2. `GC_PR_FGD` (3): the quadrilateral p1, s1, p2, s2 (the convex hull of the four points).
3. `GC_PR_BGD` (2): within `MARGIN` x L (at least `MIN_MARGIN_PX`) of the quadrilateral.
4. `GC_BGD` (0): the rest.

Why these: the axes are drawn on the lesion by the reader, so they are the surest lesion
pixels. The four endpoints lie on the boundary, so the quadrilateral is inside any convex
lesion (probable foreground). The boundary bulges out of it (by 0.15 L for a circle, 0.21 S
for a long ellipse); `MARGIN` = 0.25 L leaves room for that and for irregular outlines (on 40
simulated lesions, 0.15 L left up to 5 % of a lesion in the background, 0.25 L none). GrabCut
only moves pixels between the two probable classes, so the background outside the margin is
final. In the paper's ROI (side 2 L, centred on the lesion) the quadrilateral lies within L / 2
of the centre in x and y, so the ROI's corners (0.71 L from it) are background for any margin
below 0.71 L. `MIN_MARGIN_PX` keeps a 2 px probable-background ring between the foreground
classes and the background of tiny lesions.

Points may lie near or beyond the image edge: regions are evaluated on the pixels that exist,
so the trimap is the crop of the one on a larger canvas. If no axis pixel falls inside the
image (a degenerate mark), the pixel nearest the centre of the marks becomes the foreground.
"""

from __future__ import annotations

import cv2
import numpy as np

from sgan_tf.data import recist

AXIS_KEEP = 0.8  # drawn fraction of each axis, centred on the axis' midpoint
LINE_WIDTH = 0.1  # axis line width, as a fraction of the short diameter
MIN_LINE_WIDTH_PX = 1.5
MARGIN = 0.25  # probable-background margin around the quadrilateral, as a fraction of the long diameter
MIN_MARGIN_PX = 2.0


def _segment_distance(xs: np.ndarray, ys: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of the points (xs, ys) (broadcast) to the segment a-b."""
    d = b - a
    length2 = float(d @ d)
    t = 0.0 if length2 == 0 else np.clip(((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / length2, 0.0, 1.0)
    return np.hypot(xs - a[0] - t * d[0], ys - a[1] - t * d[1])


def _polygon_distance(xs: np.ndarray, ys: np.ndarray, hull: np.ndarray) -> np.ndarray:
    """Distance of the points to a convex polygon (vertices in order): 0 inside."""
    edges = [(hull[i], hull[(i + 1) % len(hull)]) for i in range(len(hull))]
    outside = np.min([_segment_distance(xs, ys, a, b) for a, b in edges], axis=0)
    if len(hull) < 3:
        return outside
    area2 = sum(a[0] * b[1] - a[1] * b[0] for a, b in edges)  # > 0: counter-clockwise in (x, y)
    sign = 1.0 if area2 > 0 else -1.0
    inside = np.ones(np.broadcast(xs, ys).shape, bool)
    for a, b in edges:
        inside &= sign * ((b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0])) >= 0
    return np.where(inside, 0.0, outside)


def make_trimap(shape: tuple[int, int], recist_points: np.ndarray, axis_keep: float = AXIS_KEEP,
                line_width: float = LINE_WIDTH, margin: float = MARGIN) -> np.ndarray:
    """uint8 [H, W] GrabCut mask (cv2.GC_* codes) of the lesion marked by `recist_points` (see module doc)."""
    h, w = shape
    p = np.asarray(recist_points, np.float64).reshape(4, 2)
    if not np.all(np.isfinite(p)):
        raise ValueError(f"RECIST points are not finite: {p.ravel().tolist()}")
    long_d, short_d = recist.axis_lengths(p)
    ys, xs = np.mgrid[:h, :w].astype(np.float64)

    hull = cv2.convexHull(p.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    quad = _polygon_distance(xs, ys, hull)
    trimap = np.full((h, w), cv2.GC_BGD, np.uint8)
    trimap[quad <= max(margin * long_d, MIN_MARGIN_PX)] = cv2.GC_PR_BGD
    trimap[quad == 0] = cv2.GC_PR_FGD

    half_width = max(line_width * short_d, MIN_LINE_WIDTH_PX) / 2
    for a, b in (p[:2], p[2:]):
        mid, half = (a + b) / 2, (b - a) * axis_keep / 2
        trimap[_segment_distance(xs, ys, mid - half, mid + half) <= half_width] = cv2.GC_FGD
    return ensure_foreground(trimap, p)


def ensure_foreground(trimap: np.ndarray, recist_points: np.ndarray) -> np.ndarray:
    """`trimap`, with the pixel nearest the centre of the marks made `GC_FGD` when it has none
    (GrabCut needs a foreground seed)."""
    if (trimap == cv2.GC_FGD).any():
        return trimap
    h, w = trimap.shape
    cx, cy = recist.lesion_center(recist_points)
    out = trimap.copy()
    out[int(np.clip(round(cy), 0, h - 1)), int(np.clip(round(cx), 0, w - 1))] = cv2.GC_FGD
    return out
