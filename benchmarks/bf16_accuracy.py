"""Does mixed_bfloat16 training reach the accuracy of fp32? The same short G1 training (same
pairs: scikit-image's photographs with white noise, sigma <= 50) in each precision for each of
`--seeds` seeds, then the validation PSNR per run, the mean over seeds per precision, and the
difference of the means (the issue's bound: within 0.1 dB); the spread over seeds says how much
of a difference one run pair could show by chance. Also each precision's total wall time.

  python benchmarks/bf16_accuracy.py [--steps=600] [--seeds=0,1,2] [--num_blocks=4] [--filters=32]
      [--crop_size=48]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from common import write_result

import numpy as np

from sgan_tf import training

PRECISIONS = ("float32", "mixed_bfloat16")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--num_blocks", type=int, default=4)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--crop_size", type=int, default=48)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    result = {"steps": args.steps, "seeds": seeds, "model": {"num_blocks": args.num_blocks, "filters": args.filters},
              "crop_size": args.crop_size, "batch": 16}
    for precision in PRECISIONS:
        runs, seconds = [], 0.0
        for seed in seeds:
            config = training.TrainConfig(
                stage="denoise", model_dir=tempfile.mkdtemp(), num_blocks=args.num_blocks, filters=args.filters,
                crop_size=args.crop_size, batch_size=16, train_steps=args.steps, pretrain_steps=args.steps,
                learning_rate=1e-4, pretrain_learning_rate=1e-3, pretrain_schedule="cosine", warmup_steps=50,
                num_val_pairs=64, val_every=args.steps, checkpoint_every=args.steps, log_every=100,
                precision=precision, vgg_weight=0.0, seed=seed)
            start = time.perf_counter()
            val = training.train(config)["validation"]
            seconds += time.perf_counter() - start
            runs.append({"seed": seed, "val_psnr_db": round(val["psnr"], 3), "input_psnr_db": round(val["input_psnr"], 3)})
        psnrs = [r["val_psnr_db"] for r in runs]
        result[precision] = {"runs": runs, "mean_psnr_db": round(float(np.mean(psnrs)), 3),
                             "std_psnr_db": round(float(np.std(psnrs)), 3), "seconds": round(seconds, 1)}
    result["mean_difference_db"] = round(result["mixed_bfloat16"]["mean_psnr_db"] - result["float32"]["mean_psnr_db"], 3)
    result["within_0.1_db"] = abs(result["mean_difference_db"]) <= 0.1
    result["run_speedup"] = round(result["float32"]["seconds"] / result["mixed_bfloat16"]["seconds"], 3)
    write_result("bf16_accuracy", result)


if __name__ == "__main__":
    main()
