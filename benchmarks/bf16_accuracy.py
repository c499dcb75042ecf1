"""Does mixed_bfloat16 training reach the accuracy of fp32? The same short G1 training (same
seed, same pairs: scikit-image's photographs with white noise, sigma <= 50) in each precision,
then the validation PSNR of both and their difference (the issue's bound: within 0.1 dB), and
each run's wall time (the speed-up over a whole run, input pipeline included).

  python benchmarks/bf16_accuracy.py [--steps=600] [--num_blocks=4] [--filters=32] [--crop_size=48]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from common import write_result

from sgan_tf import training

PRECISIONS = ("float32", "mixed_bfloat16")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--num_blocks", type=int, default=4)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--crop_size", type=int, default=48)
    args = parser.parse_args()
    result = {"steps": args.steps, "model": {"num_blocks": args.num_blocks, "filters": args.filters},
              "crop_size": args.crop_size, "batch": 16}
    for precision in PRECISIONS:
        config = training.TrainConfig(
            stage="denoise", model_dir=tempfile.mkdtemp(), num_blocks=args.num_blocks, filters=args.filters,
            crop_size=args.crop_size, batch_size=16, train_steps=args.steps, pretrain_steps=args.steps,
            learning_rate=1e-4, pretrain_learning_rate=1e-3, pretrain_schedule="cosine", warmup_steps=50,
            num_val_pairs=64, val_every=args.steps, checkpoint_every=args.steps, log_every=100, precision=precision)
        start = time.perf_counter()
        val = training.train(config)["validation"]
        result[precision] = {"val_psnr_db": round(val["psnr"], 3), "input_psnr_db": round(val["input_psnr"], 3),
                             "val_ssim": round(val["ssim"], 4), "seconds": round(time.perf_counter() - start, 1)}
    result["psnr_difference_db"] = round(result["mixed_bfloat16"]["val_psnr_db"] - result["float32"]["val_psnr_db"], 3)
    result["within_0.1_db"] = abs(result["psnr_difference_db"]) <= 0.1
    result["run_speedup"] = round(result["float32"]["seconds"] / result["mixed_bfloat16"]["seconds"], 3)
    write_result("bf16_accuracy", result)


if __name__ == "__main__":
    main()
