"""tf.data pair synthesis throughput vs what a paper-size training step consumes.

For each stage: pairs/s of the synthesis pipeline alone (global batch 16, paper crop size,
on Train400 from the reference data when present, else scikit-image's bundled photographs),
and pairs/s an adversarial training step of that stage consumes (16 / step time), both
measured in this process. Target: pipeline >= 5x consumption.

  python benchmarks/synthesis_throughput.py
"""

from __future__ import annotations

import time

from common import matmul_gflops, shared_data, write_result
from train_step import measure_stage

from sgan_tf.data import images as images_lib
from sgan_tf.data import synthesis

BATCH = 16


def pipeline_pairs_per_s(images, stage: str, crop: int, seconds: float = 10.0) -> float:
    cfg = synthesis.SynthesisConfig.for_stage(stage, crop_size=crop)
    iterator = iter(synthesis.training_dataset(images, cfg, seed=0, global_batch=BATCH))
    for _ in range(5):
        next(iterator)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x, y = next(iterator)
        x.numpy()
        n += BATCH
    return n / (time.perf_counter() - start)


def main() -> None:
    folder = shared_data("natural", "Train400")
    files = images_lib.list_image_files(folder) if folder else images_lib.skimage_files()
    images, _ = images_lib.load_images(files, 128)
    reference = matmul_gflops()
    result = {"source": folder or "scikit-image bundled", "images": len(images), "batch": BATCH, "target_ratio": 5.0}
    for stage, crop in (("denoise", 32), ("enhance", 128), ("single", 128)):
        produced = pipeline_pairs_per_s(images, stage, crop)
        step = measure_stage(stage, reference, min_seconds=8.0, phases=("adversarial",))["adversarial"]
        consumed = step["images_per_s"]
        result[stage] = {"crop": crop, "pipeline_pairs_per_s": round(produced, 1),
                         "train_step_pairs_per_s": consumed, "ratio": round(produced / consumed, 1)}
    write_result("synthesis_throughput", result)


if __name__ == "__main__":
    main()
