"""Draws docs/trimap.png: the RECIST trimap and GrabCut result on simulated lesions.

Rows are lesions of the simulated set (seed 0, 512 px, low-dose OG); each ROI is the paper's,
zoomed as for G2 (variant og). Columns: the ROI with its RECIST axes (long green, short
cyan); the trimap of `make_trimap` over it (red: foreground, yellow: probable foreground,
blue: probable background, unshaded: background); GrabCut's mask (green outline) against the
true lesion (red outline) with the Dice in the ROI.

  python docs/make_trimap_figure.py
"""

from __future__ import annotations

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np

from sgan_tf.data import phantom, recist
from sgan_tf.enhance import Enhancer
from sgan_tf.segment.grabcut import grabcut
from sgan_tf.segment.trimap import make_trimap

SLICES = (5, 0, 7)  # mediastinum, low-contrast liver, small lung nodule
PANEL = 256
TITLE = 22
COLOURS = {cv2.GC_FGD: (40, 40, 230), cv2.GC_PR_FGD: (40, 210, 230), cv2.GC_PR_BGD: (220, 120, 40)}  # BGR


def label(panel: np.ndarray, text: str) -> np.ndarray:
    """The panel under a title strip."""
    strip = np.full((TITLE, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([strip, panel])


def outline(panel: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> None:
    big = cv2.resize(mask.astype(np.uint8), (PANEL, PANEL), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(panel, contours, -1, colour, 2)


def row(index: int, og: Enhancer) -> np.ndarray:
    sl = phantom.make_slice(index, seed=0, size=512)
    points = recist.recist_from_mask(sl.mask)
    box = recist.roi_box(points)
    zoom = recist.zoom_factor(recist.axis_lengths(points)[0])
    result = og(recist.crop(sl.noisy, box), zoom)
    marks = recist.to_roi(points, box, zoom)
    side = result.og.shape[0]
    truth = cv2.resize(recist.crop(sl.mask.astype(np.uint8), box, 0), (side, side), interpolation=cv2.INTER_NEAREST)
    scale = PANEL / side
    gray = cv2.cvtColor(cv2.resize(np.rint(result.og * 255).astype(np.uint8), (PANEL, PANEL),
                                   interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)

    axes = gray.copy()
    for ends, colour in ((marks[:2], (60, 200, 60)), (marks[2:], (220, 220, 40))):
        a, b = np.rint(((ends + 0.5) * scale - 0.5) * 16).astype(int)  # 4 fractional bits (shift=4)
        cv2.line(axes, tuple(map(int, a)), tuple(map(int, b)), colour, 2, cv2.LINE_AA, shift=4)

    t = cv2.resize(make_trimap((side, side), marks), (PANEL, PANEL), interpolation=cv2.INTER_NEAREST)
    shaded = gray.copy()
    for code, colour in COLOURS.items():
        shaded[t == code] = (0.45 * gray[t == code] + 0.55 * np.array(colour)).astype(np.uint8)

    mask = grabcut(result.composite, marks)
    segmented = gray.copy()
    outline(segmented, truth, (40, 40, 230))
    outline(segmented, mask, (60, 200, 60))
    dice = 2 * float((mask & truth).sum()) / float(mask.sum() + truth.sum())
    name = f"type {sl.lesion.lesion_type}, L = {recist.axis_lengths(points)[0]:.0f} px, zoom {zoom:.1f}"
    return np.hstack([label(axes, name), label(shaded, "trimap"), label(segmented, f"GrabCut, Dice {dice:.2f}")])


def main() -> None:
    og = Enhancer(None, None, "og")
    figure = np.vstack([row(i, og) for i in SLICES])
    path = os.path.join(REPO, "docs", "trimap.png")
    if not cv2.imwrite(path, figure):
        raise OSError(f"{path}: could not write")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
