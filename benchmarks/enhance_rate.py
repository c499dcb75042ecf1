"""SGAN enhancement rate per lesion ROI (paper-size G1 + G2) against BM3D / NL-means on the same
ROI, and peak memory of a whole 512 x 512 slice, tiled and untiled.

ROIs are the paper's: side 2x the long diameter, zoomed so the lesion reaches 64 px (cap 4x).
Three lesion sizes: 10, 20 and 60 px long diameter (8, 16, 48 mm at 0.8 mm/px). SGAN runs G1
on the ROI, zooms, then G2 (sgan_tf.enhance.Enhancer, BN-folded models). The classical
denoisers run on the same ROI at its native size with sigma estimated from the ROI. Each
figure is a ratio taken in this run: SGAN ROIs/s / denoiser ROIs/s, and the pipeline's
GFLOP/s / fp32 matmul GFLOP/s.

Memory: each mode runs in its own child process (G2 at zoom 1 on a 512 x 512 and a
1024 x 1024 slice, the heavier stage); the figure is the peak RSS growth during that call
(Linux VmHWM, reset after a 64 x 64 warm-up), tiled (tile 256) vs untiled.

Weights are random unless --denoise_model/--enhance_model point to training model dirs:
speed and memory do not depend on them.

  python benchmarks/enhance_rate.py [--denoise_model=DIR --enhance_model=DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from common import best_time, matmul_gflops, write_result

import numpy as np
import tensorflow as tf
from skimage.restoration import denoise_nl_means, estimate_sigma

from sgan_tf import enhance, models
from sgan_tf.data import ct, recist

LESION_PX = (10, 20, 60)


def _stage(generator, path: str | None, tile_size: int = enhance.TILE_SIZE) -> enhance.GeneratorStage:
    if path:
        return enhance.load_stage(path, tile_size=tile_size)
    generator(tf.zeros([1, 16, 16, 1]))
    return enhance.GeneratorStage(models.fold_generator(generator), {"model_dir": None}, tile_size)


def _roi(long_px: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A low-dose-like soft-tissue ROI with a hypodense lesion, and its zoom."""
    side = int(np.ceil(2 * long_px))
    yy, xx = np.mgrid[:side, :side] - (side - 1) / 2
    hu = np.full((side, side), 60.0) - 40.0 * ((xx / (long_px / 2)) ** 2 + (yy / (long_px / 3)) ** 2 <= 1)
    hu = hu + rng.normal(0, 40, hu.shape)
    return hu.astype(np.float32), recist.zoom_factor(long_px)


def _flops(stage: enhance.GeneratorStage, size: int) -> float:
    """Conv multiply-add FLOPs (x2) of one size x size image: every conv is stride 1, SAME."""
    kernels = [v for v in stage.module.trainable_variables + stage.module.non_trainable_variables if v.shape.rank == 4]
    return 2.0 * size * size * sum(float(np.prod(k.shape)) for k in kernels)


def _denoisers():
    out = {"nl_means": lambda x, s: denoise_nl_means(x, h=0.8 * s, sigma=s, fast_mode=True, patch_size=5,
                                                       patch_distance=6)}
    try:
        import bm3d

        out["bm3d"] = lambda x, s: bm3d.bm3d(x, sigma_psd=s)
    except ImportError:
        pass
    return out


def rate(args) -> dict:
    reference = matmul_gflops()
    g1 = _stage(models.denoise_generator(), args.denoise_model)
    g2 = _stage(models.enhance_generator(), args.enhance_model)
    sgan = enhance.Enhancer(g1, g2, "sgan")
    rng = np.random.default_rng(0)
    out = {"matmul_gflops": round(reference, 1), "rois": {}}
    for long_px in LESION_PX:
        hu, zoom = _roi(long_px, rng)
        side, zoomed = hu.shape[0], int(round(hu.shape[0] * zoom))
        seconds = best_time(lambda: sgan(hu, zoom), repeats=5, min_seconds=3.0)
        flops = _flops(g1, side) + _flops(g2, zoomed)
        row = {"roi_side": side, "zoom": round(zoom, 3), "zoomed_side": zoomed,
               "sgan_rois_per_s": round(1 / seconds, 2),
               "sgan_ratio_to_matmul": round(flops / seconds / 1e9 / reference, 3)}
        unit = ct.NETWORK_WINDOW.to_unit(hu).astype(np.float64)
        sigma = float(estimate_sigma(unit))
        for name, fn in _denoisers().items():
            t = best_time(lambda: fn(unit, sigma), repeats=3, min_seconds=2.0)
            row[f"{name}_rois_per_s"] = round(1 / t, 2)
            row[f"sgan_over_{name}"] = round(t / seconds, 3)
        out["rois"][f"lesion_{long_px}px"] = row
    return out


def _proc_status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def memory_child(tile_size: int, size: int) -> dict:
    """Peak RSS growth while G2 enhances one size x size slice (Linux: VmHWM reset via clear_refs)."""
    g2 = _stage(models.enhance_generator(), None, tile_size)
    enh = enhance.Enhancer(None, g2, "gan")
    enh(np.zeros((64, 64), np.float32))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak (VmHWM) to the current RSS
    before = _proc_status_kb("VmRSS")
    enh(np.random.default_rng(0).normal(40, 40, (size, size)).astype(np.float32))
    peak = _proc_status_kb("VmHWM")
    return {"tile_size": tile_size, "size": size, "rss_before_mb": round(before / 1024, 1),
            "peak_growth_mb": round((peak - before) / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--denoise_model")
    parser.add_argument("--enhance_model")
    parser.add_argument("--memory_child", type=int)
    parser.add_argument("--memory_size", type=int, default=512)
    args = parser.parse_args()
    if args.memory_child is not None:
        print(json.dumps(memory_child(args.memory_child, args.memory_size)))
        return
    result = {"rate": rate(args), "memory": {}}
    for size in (512, 1024):
        row = {}
        for label, tile in (("tiled_256", 256), ("untiled", 100_000)):
            child = subprocess.run(
                [sys.executable, __file__, f"--memory_child={tile}", f"--memory_size={size}"], capture_output=True,
                text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, check=True)
            row[label] = json.loads(child.stdout.strip().splitlines()[-1])
        row["tiled_over_untiled"] = round(row["tiled_256"]["peak_growth_mb"] / row["untiled"]["peak_growth_mb"], 3)
        result["memory"][f"slice_{size}"] = row
    write_result("enhance_rate", result)


if __name__ == "__main__":
    main()
