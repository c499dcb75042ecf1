"""bf16 against fp32 inference on CT: how far apart the HU outputs are, and how much faster.

The same trained G1 and G2 (default: the shipped models) folded in float32 and in bfloat16
(`compute_dtype`, the last layer and the residual in float32) run the SGAN path on real and
simulated CT: the real_ct DICOM series (abdomen, head), simulated low-dose slices (a noisy
evaluation set, `--sim_dir`) and the LCD-CT phantom scans, whole slices at zoom 1 and 96 px
lesion-sized ROIs at zoom 2. Reported per set and channel (denoised, enhanced): the largest,
99.9th-percentile and mean |bf16 - fp32| in HU over pixels inside the network window (outside
it both keep the input's HU), and the fp32 / bf16 time ratio of the whole run in one process.

  python benchmarks/ct_inference_precision.py [--denoise_model=DIR --enhance_model=DIR]
      [--sim_dir=/work/data/eval_sim] [--slices=8]
"""

from __future__ import annotations

import argparse
import glob
import os
import time

from common import shared_data, write_result

import numpy as np

from sgan_tf import enhance, pretrained
from sgan_tf.data import sources
from sgan_tf.data.ct import NETWORK_WINDOW, read_hu_png

CHANNELS = ("denoised_hu", "enhanced_hu")


def ct_sets(sim_dir: str | None, slices: int) -> dict[str, list[np.ndarray]]:
    """A few HU slices of each available CT source."""
    sets: dict[str, list[np.ndarray]] = {}
    real = shared_data("real_ct")
    if real:
        for name in ("totalseg_dicom", "dcmqa_ge_head_dicom"):
            items = sources.DicomSource(os.path.join(real, name)).items()
            step = max(1, len(items) // slices)
            sets[name] = [item.read().hu for item in items[::step][:slices]]
    lcd = shared_data("lcd_ct")
    if lcd:
        from sgan_tf.evaluation.denoise import load_lcd

        sets["lcd_ct_10%"] = list(load_lcd(lcd, "dose_010")[1][:slices])
    if sim_dir and os.path.isdir(sim_dir):
        paths = sorted(glob.glob(os.path.join(sim_dir, "Images_png", "*", "*.png")))[:slices]
        sets["simulated_low_dose"] = [read_hu_png(p) for p in paths]
    return sets


def differences(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> dict[str, float]:
    d = np.abs(a - b)[where]
    if not d.size:
        return {"max_hu": 0.0, "p99_9_hu": 0.0, "mean_hu": 0.0}
    return {"max_hu": round(float(d.max()), 3), "p99_9_hu": round(float(np.percentile(d, 99.9)), 3),
            "mean_hu": round(float(d.mean()), 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--denoise_model", default=None)
    parser.add_argument("--enhance_model", default=None)
    parser.add_argument("--sim_dir", default=None)
    parser.add_argument("--slices", type=int, default=8)
    args = parser.parse_args()
    models = {"denoise": args.denoise_model, "enhance": args.enhance_model}
    dirs = {name: pretrained.resolve(value, name) for name, value in models.items()}
    enhancers = {dtype: enhance.Enhancer.for_variant("sgan", models, compute_dtype=dtype)
                 for dtype in ("float32", "bfloat16")}
    result: dict = {"models": dirs, "window": NETWORK_WINDOW.as_list(), "sets": {}}
    seconds = {k: 0.0 for k in enhancers}
    worst = {c: 0.0 for c in CHANNELS}
    for name, slices in ct_sets(args.sim_dir, args.slices).items():
        rows = {}
        for mode, zoom in (("slice_zoom1", 1.0), ("roi96_zoom2", 2.0)):
            per_channel = {c: [] for c in CHANNELS}
            for hu in slices:
                if mode.startswith("roi"):
                    c0, c1 = (s // 2 - 48 for s in hu.shape)
                    hu = hu[c0: c0 + 96, c1: c1 + 96]
                outs = {}
                for dtype, enhancer in enhancers.items():
                    start = time.perf_counter()
                    outs[dtype] = enhancer(hu, zoom)
                    seconds[dtype] += time.perf_counter() - start
                for c in CHANNELS:
                    a, b = getattr(outs["float32"], c), getattr(outs["bfloat16"], c)
                    inside = (a > NETWORK_WINDOW.lo) & (a < NETWORK_WINDOW.hi)
                    per_channel[c].append(differences(a, b, inside))
            rows[mode] = {c: {k: max(v[k] for v in values) if k != "mean_hu" else round(float(np.mean(
                [v[k] for v in values])), 4) for k in values[0]} for c, values in per_channel.items()}
            for c in CHANNELS:
                worst[c] = max(worst[c], rows[mode][c]["p99_9_hu"])
        result["sets"][name] = {"slices": len(slices), **rows}
    result["worst_p99_9_hu"] = worst
    result["fp32_over_bf16_time"] = round(seconds["float32"] / max(seconds["bfloat16"], 1e-9), 3)
    write_result("ct_inference_precision", result)


if __name__ == "__main__":
    main()
