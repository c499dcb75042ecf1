"""Does a natural-image-trained G1 denoise simulated low-dose CT lesion ROIs through the
network window? RMSE (HU, inside the window) of the noisy ROI, G1, BM3D (if installed) and
NL-means against the noise-free reconstruction of the same slice, on the paper's ROIs of a
phantom set; each method's RMSE is also given as a ratio to the noisy input's (one run).

  python benchmarks/ct_roi_denoise.py --denoise_model=DIR [--phantom_dir=DIR] [--num_slices=48]

Without --phantom_dir a set is simulated into a temporary folder (seed 0, default dose).
"""

from __future__ import annotations

import argparse
import tempfile

from common import write_result

import numpy as np
from skimage.restoration import denoise_nl_means, estimate_sigma

from sgan_tf import enhance
from sgan_tf.data import ct, deeplesion, phantom, recist


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--denoise_model", required=True)
    parser.add_argument("--phantom_dir")
    parser.add_argument("--num_slices", type=int, default=48)
    args = parser.parse_args()
    root = args.phantom_dir or tempfile.mkdtemp(prefix="phantom_")
    if not args.phantom_dir:
        phantom.write_set(root, args.num_slices, seed=0)
    dataset = deeplesion.DeepLesionSet(root)
    g1 = enhance.load_stage(args.denoise_model)
    window = ct.NETWORK_WINDOW
    methods = {"g1": lambda x: g1(x),
               "nl_means": lambda x: denoise_nl_means(x, h=0.8 * estimate_sigma(x), sigma=estimate_sigma(x),
                                                      fast_mode=True, patch_size=5, patch_distance=6)}
    try:
        import bm3d

        methods["bm3d"] = lambda x: bm3d.bm3d(x, sigma_psd=estimate_sigma(x))
    except ImportError:
        pass
    errors = {name: [] for name in ["noisy", *methods]}
    for rec in dataset.records:
        box = recist.roi_box(rec.recist)
        noisy = window.to_unit(recist.crop(dataset.load_slice(rec).hu, box))
        clean_hu = window.to_hu(window.to_unit(recist.crop(dataset.load_slice(rec, clean=True).hu, box)))
        errors["noisy"].append(_rmse(window.to_hu(noisy), clean_hu))
        for name, fn in methods.items():
            errors[name].append(_rmse(window.to_hu(fn(noisy.astype(np.float64))), clean_hu))
    noisy_mean = float(np.mean(errors["noisy"]))
    result = {"rois": len(dataset.records), "window_hu": window.as_list(), "model": g1.info,
              "rmse_hu_mean": {k: round(float(np.mean(v)), 2) for k, v in errors.items()},
              "rmse_ratio_to_noisy": {k: round(float(np.mean(v)) / noisy_mean, 3) for k, v in errors.items()}}
    write_result("ct_roi_denoise", result)


if __name__ == "__main__":
    main()
