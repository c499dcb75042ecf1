"""Exported SavedModels (sgan_tf/serving/export.py) against the in-process path: ROIs/s, size on disk.

Enhancer: paper-size G1 + G2 (sgan), the SavedModel's serving_default on one ROI at a time
against `sgan_tf.enhance.Enhancer` on the same ROI, for the ROIs of benchmarks/enhance_rate.py
(10, 20 and 60 px lesions, the paper's ROI and zoom). HNN: paper-size (VGG16 widths, input
128), the SavedModel's serving_default against `hnn_train.predict` on the same 100 x 100
composites, batch 1 and 16. Both run the SavedModel as a server does (tf.saved_model.load,
the signature function). Each rate figure is a ratio taken in this run: SavedModel ROIs/s over
in-process ROIs/s. Size: the version folder on disk over the fp32 weights it holds. Also
reported: the largest difference of the outputs (network scale) and the export time.

Weights are random unless --denoise_model/--enhance_model/--hnn_model (an HNN run) point to
training model dirs: speed and size do not depend on them.

  python benchmarks/export_rate.py [--denoise_model=DIR --enhance_model=DIR --hnn_model=DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from common import best_time, write_result
from enhance_rate import LESION_PX, _roi, _stage

import numpy as np
import tensorflow as tf

from sgan_tf import enhance, models
from sgan_tf.serving import export
from sgan_tf.segment import hnn, hnn_train

HNN_SIDE = 100
HNN_BATCHES = (1, 16)


def _folder_mb(path: str) -> float:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files) / 1e6


def _weights_mb(variables) -> float:
    return sum(int(np.prod(v.shape)) for v in variables) * 4 / 1e6


def _size(path: str, variables, seconds: float) -> dict:
    size, weights = _folder_mb(path), _weights_mb(variables)
    return {"export_seconds": round(seconds, 2), "size_mb": round(size, 2), "fp32_weights_mb": round(weights, 2),
            "size_over_weights": round(size / weights, 3)}


def enhancer_rates(args, root: str) -> dict:
    g1 = _stage(models.denoise_generator(), args.denoise_model)
    g2 = _stage(models.enhance_generator(), args.enhance_model)
    sgan = enhance.Enhancer(g1, g2, "sgan")
    path = export.version_path(root, export.ENHANCER, 1)
    start = time.perf_counter()
    export.export_enhancer(sgan, path)
    out = _size(path, g1.module.variables + g2.module.variables, time.perf_counter() - start)
    served = tf.saved_model.load(path).signatures["serving_default"]
    rng = np.random.default_rng(0)
    for long_px in LESION_PX:
        hu, zoom = _roi(long_px, rng)
        zoom = float(np.float32(zoom))  # the request's float32 zoom, for both paths
        x, z = tf.constant(hu[None, :, :, None]), tf.constant(zoom, tf.float32)
        serve = lambda: {k: v.numpy() for k, v in served(hu=x, zoom=z).items()}
        saved = best_time(serve, repeats=5, min_seconds=3.0)
        local = best_time(lambda: sgan(hu, zoom), repeats=5, min_seconds=3.0)
        diff = np.abs(serve()["composite"][0] - sgan(hu, zoom).composite).max()
        out[f"lesion_{long_px}px"] = {
            "roi_side": hu.shape[0], "zoomed_side": int(round(hu.shape[0] * zoom)),
            "saved_model_rois_per_s": round(1 / saved, 2), "in_process_rois_per_s": round(1 / local, 2),
            "saved_over_in_process": round(local / saved, 3), "max_abs_diff_network_scale": float(f"{diff:.2e}")}
    return out


def hnn_rates(args, root: str) -> dict:
    if args.hnn_model:
        model, _ = export.load_hnn_run(args.hnn_model)
    else:
        model = hnn_train.build_model(hnn.PAPER_FILTERS, hnn.INPUT_SIZE)
    path = export.version_path(root, export.HNN, 1)
    start = time.perf_counter()
    export.export_hnn(model, path)
    out = _size(path, model.weights, time.perf_counter() - start)
    served = tf.saved_model.load(path).signatures["serving_default"]
    composites = np.random.default_rng(0).random((max(HNN_BATCHES), HNN_SIDE, HNN_SIDE, 3)).astype(np.float32)
    for batch in HNN_BATCHES:
        x = composites[:batch]
        serve = lambda: served(composite=tf.constant(x))["probability"].numpy()
        saved = best_time(serve, repeats=3, min_seconds=4.0)
        local = best_time(lambda: hnn_train.predict(model, x), repeats=3, min_seconds=4.0)
        diff = np.abs(serve()[..., 0] - hnn_train.predict(model, x)).max()
        out[f"batch_{batch}"] = {
            "roi_side": HNN_SIDE, "input_size": model.input_size,
            "saved_model_rois_per_s": round(batch / saved, 2), "in_process_rois_per_s": round(batch / local, 2),
            "saved_over_in_process": round(local / saved, 3), "max_abs_diff_probability": float(f"{diff:.2e}")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--denoise_model")
    parser.add_argument("--enhance_model")
    parser.add_argument("--hnn_model", help="An HNN training run (model_dir).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        result = {"enhancer": enhancer_rates(args, root), "hnn": hnn_rates(args, root)}
    write_result("export_rate", result)


if __name__ == "__main__":
    main()
