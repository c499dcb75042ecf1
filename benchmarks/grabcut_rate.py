"""GrabCut from RECIST marks (sgan_tf.segment): time per ROI, and Dice on simulated lesions.

Rate: one simulated lesion ROI (clean, network scale) resized to 40, 80, 128 and 256 px with
its marks, segmented with 5 iterations (trimap included, OpenCV's default threads); reports
ms per ROI, ROIs/s and the time per pixel relative to the 80 px ROI, all from this process.

Dice: slices 0..N-1 of phantom set 0 at 512 px against their true masks, on the noisy (OG)
and the clean reconstruction, each in two ways:
- `native`: the paper's ROI at its own resolution, Dice in the ROI;
- `og_row`: what Table 1's GrabCut OG row computes: the ROI zoomed as for G2 (bicubic,
  `Enhancer` variant og, soft-tissue window), GrabCut on the (OG, OG, OG) composite with the
  zoomed marks, the mask pasted back into the slice (nearest), Dice in the slice.

  python benchmarks/grabcut_rate.py [--slices=40]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
from common import best_time, write_result

from sgan_tf.data import phantom, recist
from sgan_tf.data.ct import NETWORK_WINDOW
from sgan_tf.enhance import Enhancer
from sgan_tf.segment.grabcut import ITERATIONS, grabcut

SIZE = 512
RATE_SIZES = (40, 80, 128, 256)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return 2.0 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)


def rate(sl: phantom.PhantomSlice) -> dict:
    """ms per ROI and ROIs/s at RATE_SIZES, from one lesion ROI resized."""
    points = recist.recist_from_mask(sl.mask)
    box = recist.roi_box(points)
    roi = NETWORK_WINDOW.to_unit(recist.crop(sl.clean, box))
    seconds = {}
    for size in RATE_SIZES:
        zoom = size / box.side
        image = np.clip(cv2.resize(roi, (size, size), interpolation=cv2.INTER_CUBIC), 0, 1)
        marks = recist.to_roi(points, box, zoom)
        seconds[size] = best_time(lambda: grabcut(image, marks), repeats=3, min_seconds=1.5)
    per_pixel = {s: t / s**2 for s, t in seconds.items()}
    return {"iterations": ITERATIONS, "cv2_threads": cv2.getNumThreads(),
            "ms_per_roi": {str(s): round(t * 1e3, 2) for s, t in seconds.items()},
            "rois_per_s": {str(s): round(1 / t, 1) for s, t in seconds.items()},
            "time_per_pixel_vs_80px": {str(s): round(p / per_pixel[80], 2) for s, p in per_pixel.items()}}


def summary(values: list[float]) -> dict:
    return {"mean": round(float(np.mean(values)), 3), "std": round(float(np.std(values)), 3),
            "min": round(float(np.min(values)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=40)
    args = parser.parse_args()
    start = time.perf_counter()
    slices = [phantom.make_slice(i, seed=0, size=SIZE) for i in range(args.slices)]
    simulate_s = time.perf_counter() - start
    result = {"rate": rate(slices[0])}

    og = Enhancer(None, None, "og")
    scores = {f"{way}_{kind}": [] for way in ("native", "og_row") for kind in ("noisy", "clean")}
    scores["native_noisy_all_parts"] = []
    by_type: dict[int, list[float]] = {}
    start = time.perf_counter()
    for sl in slices:
        points = recist.recist_from_mask(sl.mask)
        box = recist.roi_box(points)
        zoom = recist.zoom_factor(recist.axis_lengths(points)[0])
        truth = recist.crop(sl.mask.astype(np.uint8), box, 0)
        for kind, hu in (("noisy", sl.noisy), ("clean", sl.clean)):
            roi = recist.crop(hu, box)
            native = NETWORK_WINDOW.to_unit(roi)
            scores[f"native_{kind}"].append(dice(grabcut(native, recist.to_roi(points, box)), truth))
            if kind == "noisy":
                scores["native_noisy_all_parts"].append(
                    dice(grabcut(native, recist.to_roi(points, box), keep_connected=False), truth))
            composite = og(roi, zoom).composite
            mask = recist.paste_mask(grabcut(composite, recist.to_roi(points, box, zoom)), box, sl.mask.shape)
            scores[f"og_row_{kind}"].append(dice(mask, sl.mask))
            if kind == "noisy":
                by_type.setdefault(sl.lesion.lesion_type, []).append(scores["og_row_noisy"][-1])
    result.update({
        "slices": args.slices, "size": SIZE, "seconds_simulating": round(simulate_s, 1),
        "seconds_segmenting": round(time.perf_counter() - start, 1),
        "dice": {name: summary(values) for name, values in scores.items()},
        "og_row_noisy_dice_by_type": {str(t): round(float(np.mean(v)), 3) for t, v in sorted(by_type.items())},
    })
    write_result("grabcut_rate", result)


if __name__ == "__main__":
    main()
