"""Simulated low-dose CT set (sgan_tf.data.phantom): slices/s and the noise it produces.

Writes 24 slices of 512 x 512 at the default dose range with 1 and with 2 worker processes
(each single-threaded, pool start-up included) and reports slices/s and their ratio, taken in
this process. Noise: std of noisy - clean (read back from the written 16-bit PNGs) in flat
soft tissue of each slice (clean HU within 40 +- 120, 5 x 5 range < 40 HU, eroded), per level.
Projector check: relative L2 error of our radon and Hann FBP against scikit-image's on the
Shepp-Logan phantom at 256 px / 384 views, and scikit-image's time over ours for the pair.

  python benchmarks/phantom_rate.py [--slices=24]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import cv2
import numpy as np

SIZE = 512
CHECK_SIZE, CHECK_VIEWS = 256, 384


def flat_soft_noise(noisy: np.ndarray, clean: np.ndarray) -> float:
    """Std of noisy - clean over flat soft tissue of the clean slice."""
    k = np.ones((5, 5), np.uint8)
    flat = (np.abs(clean - 40) < 120) & (cv2.dilate(clean, k) - cv2.erode(clean, k) < 40)
    flat = cv2.erode(flat.astype(np.uint8), k).astype(bool)
    return float((noisy - clean)[flat].std())


def projector_check() -> dict:
    """Our radon + FBP against scikit-image's: relative errors and the time ratio."""
    from skimage.data import shepp_logan_phantom
    from skimage.transform import iradon, radon, resize

    from sgan_tf.data import projector

    image = resize(shepp_logan_phantom(), (CHECK_SIZE, CHECK_SIZE)).astype(np.float32)
    angles = projector.projection_angles(CHECK_VIEWS)
    start = time.perf_counter()
    theirs_sino = radon(image, angles, circle=True)
    theirs = iradon(theirs_sino, angles, circle=True, filter_name="hann")
    theirs_s = time.perf_counter() - start
    start = time.perf_counter()
    ours_sino = projector.radon(image, CHECK_VIEWS)
    ours = projector.fbp(ours_sino, "hann")
    ours_s = time.perf_counter() - start
    return {"size": CHECK_SIZE, "views": CHECK_VIEWS,
            "radon_rel_error": float(f"{np.linalg.norm(ours_sino - theirs_sino) / np.linalg.norm(theirs_sino):.2e}"),
            "fbp_rel_error": float(f"{np.linalg.norm(ours - theirs) / np.linalg.norm(theirs):.2e}"),
            "skimage_time_ratio": round(theirs_s / ours_s, 1)}


def main() -> None:
    # Imported here: common imports TensorFlow, and the spawned workers re-import this file.
    from common import write_result

    from sgan_tf.data import deeplesion, phantom, projector
    from sgan_tf.data.ct import read_hu_png

    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=24)
    args = parser.parse_args()
    result = {"slices": args.slices, "size": SIZE, "views": projector.default_views(SIZE),
              "photons": list(phantom.DEFAULT_PHOTONS), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        rates = {}
        for workers in (1, 2):
            out = os.path.join(tmp, f"w{workers}")
            start = time.perf_counter()
            records = phantom.write_set(out, args.slices, seed=0, workers=workers, size=SIZE)
            rates[workers] = args.slices / (time.perf_counter() - start)
        result["slices_per_s"] = {f"workers_{w}": round(r, 3) for w, r in rates.items()}
        result["seconds_per_slice_one_core"] = round(1 / rates[1], 3)
        result["ratio_workers_2_to_1"] = round(rates[2] / rates[1], 3)
        by_level: dict[str, list[float]] = {}
        for rec in records:
            noisy = read_hu_png(os.path.join(out, deeplesion.IMAGES_DIR, rec.relative_path))
            clean = read_hu_png(os.path.join(out, deeplesion.CLEAN_DIR, rec.relative_path))
            z = rec.normalized_location[2]
            level = next(k for k, (lo, hi) in phantom.LEVEL_Z.items() if lo <= z <= hi)
            by_level.setdefault(level, []).append(flat_soft_noise(noisy, clean))
    every = [v for values in by_level.values() for v in values]
    result["noise_std_hu"] = {"min": round(min(every), 1), "median": round(float(np.median(every)), 1),
                              "max": round(max(every), 1)}
    result["noise_std_hu_by_level"] = {k: [round(min(v), 1), round(max(v), 1)] for k, v in sorted(by_level.items())}
    result["projector_vs_skimage"] = projector_check()
    write_result("phantom_rate", result)


if __name__ == "__main__":
    main()
