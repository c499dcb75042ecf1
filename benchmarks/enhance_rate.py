"""SGAN enhancement rate per lesion ROI (paper-size G1 + G2) against BM3D / NL-means on the same
ROI, and peak memory of a whole 512 x 512 slice, tiled and untiled.

ROIs are the paper's: side 2x the long diameter, zoomed so the lesion reaches 64 px (cap 4x).
Three lesion sizes: 10, 20 and 60 px long diameter (8, 16, 48 mm at 0.8 mm/px). SGAN runs G1
on the ROI, zooms, then G2 (sgan_tf.enhance.Enhancer, BN-folded models). The classical
denoisers run on the same ROI at its native size with sigma estimated from the ROI. Each
figure is a ratio taken in this run: SGAN ROIs/s / denoiser ROIs/s, and the pipeline's
GFLOP/s / fp32 matmul GFLOP/s.

Memory: each mode runs in its own child process (G2 at zoom 1 on a 512 x 512 slice, the
heavier stage); the figure is the peak RSS growth over the same process after a 64 x 64
warm-up (ru_maxrss), tiled (tile 256) vs untiled.

Weights are random unless --denoise_model/--enhance_model point to training model dirs:
speed and memory do not depend on them.

  python benchmarks/enhance_rate.py [--denoise_model=DIR --enhance_model=DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

from common import best_time, graph_flops, matmul_gflops, write_result

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
    return graph_flops(stage.module.__call__.get_concrete_function(tf.TensorSpec([1, size, size, 1])).graph)


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


def memory_child(tile_size: int) -> dict:
    g2 = _stage(models.enhance_generator(), None, tile_size)
    enh = enhance.Enhancer(None, g2, "gan")
    enh(np.zeros((64, 64), np.float32))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    enh(np.random.default_rng(0).normal(40, 40, (512, 512)).astype(np.float32))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"tile_size": tile_size, "peak_rss_growth_mb": round((after - before) / 1024, 1),
            "peak_rss_mb": round(after / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--denoise_model")
    parser.add_argument("--enhance_model")
    parser.add_argument("--memory_child", type=int)
    args = parser.parse_args()
    if args.memory_child is not None:
        print(json.dumps(memory_child(args.memory_child)))
        return
    result = {"rate": rate(args), "memory_512": {}}
    for label, tile in (("tiled_256", 256), ("untiled", 100_000)):
        child = subprocess.run([sys.executable, __file__, f"--memory_child={tile}"], capture_output=True, text=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, check=True)
        result["memory_512"][label] = json.loads(child.stdout.strip().splitlines()[-1])
    tiled, untiled = (result["memory_512"][k]["peak_rss_growth_mb"] for k in ("tiled_256", "untiled"))
    result["memory_512"]["tiled_over_untiled"] = round(tiled / untiled, 3) if untiled else None
    write_result("enhance_rate", result)


if __name__ == "__main__":
    main()
