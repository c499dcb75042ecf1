"""Denoising quality of a paper-size G1 training run on BSD68 at sigma = 25.

Protocol of the DnCNN paper: clean 8-bit images on [0, 1], white Gaussian noise of std
sigma/255 added with a fixed seed (NumPy, one draw per image in file order), no clipping of
the noisy input; the output is clipped to [0, 1]; PSNR (peak 1) and SSIM are averaged over
the 68 images. The noisy input scores 20.17 dB; published BM3D 28.57 dB, DnCNN-S 29.23 dB.

A run to evaluate (paper-size G1, Train400 training images, BSD68 as validation):
  train_main --stage=denoise --preset=denoise --vgg_weight=0 \
      --data_dir=../shared/data/natural/Train400 --val_dir=../shared/data/natural/BSD68 \
      --model_dir=RUN --pretrain_steps=7000 --train_steps=10000 --checkpoint_every=500 --keep_checkpoints=40
(--vgg_weight=0 on a machine without the ImageNet VGG weights; the schedule flags may be
changed between resumed runs, e.g. to fit the adversarial phase into the time available.)

  python benchmarks/learning_g1.py --model_dir=RUN [--every=3000 | --steps=1000,7000,10000]
      [--sigma=25] [--dataset=BSD68]
"""

from __future__ import annotations

import glob
import os
import sys

from common import shared_data, write_result

import numpy as np
import tensorflow as tf
from skimage.metrics import structural_similarity

from sgan_tf import models
from sgan_tf.data import images as images_lib
from sgan_tf.training.run_folder import checkpoint_step, checkpoints, load_generator

PUBLISHED_BSD68 = {15: {"BM3D": 31.07, "DnCNN-S": 31.72}, 25: {"BM3D": 28.57, "DnCNN-S": 29.23},
                   50: {"BM3D": 25.62, "DnCNN-S": 26.23}}


def arg(name: str, default: str | None = None) -> str | None:
    for a in sys.argv[1:]:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return default


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def noisy_set(folder: str, sigma: float, seed: int):
    loaded, _ = images_lib.load_images(images_lib.list_image_files(folder), 1)
    clean = [images_lib.as_unit(image) for image in loaded]
    rng = np.random.default_rng(seed)
    return clean, [c + rng.normal(0, sigma / 255, c.shape).astype(np.float32) for c in clean]


def evaluate(generator, clean, noisy) -> dict:
    folded = models.fold_generator(generator)
    p, s = [], []
    for c, n in zip(clean, noisy):
        out = np.clip(folded(tf.constant(n[None, :, :, None]))[0, :, :, 0].numpy(), 0, 1)
        p.append(psnr(out, c))
        s.append(structural_similarity(out, c, data_range=1.0))
    return {"psnr": round(float(np.mean(p)), 3), "ssim": round(float(np.mean(s)), 4)}


def training_time(model_dir: str) -> dict:
    """First/last step and wall time of the run, from its TensorBoard events."""
    times = {}
    for path in glob.glob(os.path.join(model_dir, "logs", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "train/g_loss":
                    times[event.step] = event.wall_time
    if not times:
        return {}
    first, last = min(times), max(times)
    return {"first_step": first, "last_step": last, "wall_seconds": round(times[last] - times[first], 1)}


def main() -> None:
    model_dir = arg("model_dir")
    if not model_dir:
        sys.exit("usage: learning_g1.py --model_dir=RUN [--every=3000 | --steps=S1,S2] [--sigma=25] [--dataset=BSD68]")
    sigma, every, name = float(arg("sigma", "25")), int(arg("every", "3000")), arg("dataset", "BSD68")
    folder = shared_data("natural", name)
    if folder is None:
        print(f"skipped: reference data natural/{name} not found (set SGAN_SHARED_DATA)")
        return
    clean, noisy = noisy_set(folder, sigma, seed=0)
    found = sorted((checkpoint_step(p), p) for p in checkpoints(model_dir))
    steps = arg("steps")
    wanted = {int(v) for v in steps.split(",")} if steps else None
    chosen = [(s, p) for s, p in found if (s in wanted if wanted else s % every == 0)]
    if found and found[-1] not in chosen:
        chosen.append(found[-1])
    rows = []
    for step, path in chosen:
        generator, _, _ = load_generator(model_dir, path)
        rows.append({"step": step, **evaluate(generator, clean, noisy)})
        print(rows[-1], flush=True)
    noisy_psnr = float(np.mean([psnr(n, c) for c, n in zip(clean, noisy)]))
    result = {
        "dataset": name, "images": len(clean), "sigma": sigma, "noise_seed": 0,
        "noisy_input_psnr": round(noisy_psnr, 3),
        "published": PUBLISHED_BSD68.get(int(sigma), {}) if name == "BSD68" else {},
        "checkpoints": rows, "training": training_time(model_dir),
    }
    best = max(rows, key=lambda r: r["psnr"]) if rows else None
    if best:
        result["best"] = best
        result["gain_over_noisy_db"] = round(best["psnr"] - noisy_psnr, 3)
    write_result(f"learning_g1_{name.lower()}_sigma{int(sigma)}", result)


if __name__ == "__main__":
    main()
