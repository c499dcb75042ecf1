"""Denoising tables: BSD68 at sigma 15/25/50 and the FDA LCD-CT phantom, for the noisy input,
BM3D, DnCNN and G1 (protocols: `sgan_tf.evaluate_denoise`).

BSD68 follows the DnCNN paper: BM3D is given the true sigma (non-blind, as in its published
row); DnCNN and G1 are blind. On LCD-CT every method sees the soft-tissue network window;
BM3D runs twice: with the wavelet sigma estimate (blind; it underestimates correlated CT
noise) and with sigma = the noisy input's measured flat-region noise std (an oracle).
Without the bm3d package the NL-means fallback runs and its rows say `nlm`.

  python benchmarks/denoise_tables.py [--dncnn_dir=/work/runs/dncnn_train400]
      [--g1_dir=/work/runs/g1_train400] [--methods=bm3d,dncnn,g1] [--sigmas=15,25,50]

Writes benchmarks/results/denoise_tables.json (denoise_tables_<methods>.json for a subset).
"""

from __future__ import annotations

import os

from common import shared_data, write_result
from learning_g1 import PUBLISHED_BSD68, arg

from sgan_tf import baselines, enhance
from sgan_tf import evaluate_denoise as ed
from sgan_tf.data.ct import NETWORK_WINDOW
from sgan_tf.evaluate import to_markdown

METHODS = ("bm3d", "dncnn", "g1")
WHOLE_IMAGE_TILE = 1024  # no tiling on 481x321 / 256x256 images


def network_stages(chosen: list[str]) -> tuple[dict, dict]:
    """Blind network stages by row name, and their model info."""
    dirs = {"dncnn": arg("dncnn_dir", "/work/runs/dncnn_train400"), "g1": arg("g1_dir", "/work/runs/g1_train400")}
    stages, info = {}, {}
    for name in ("dncnn", "g1"):
        if name in chosen:
            stages[name] = enhance.load_stage(dirs[name], tile_size=WHOLE_IMAGE_TILE)
            info[name] = stages[name].info
    return stages, info


def natural_rows(folder: str, chosen: list[str], networks: dict, sigmas: list[float]) -> list[dict]:
    rows = []
    for sigma in sigmas:
        methods = dict(networks)
        if "bm3d" in chosen:
            name, stage = baselines.bm3d_or_fallback(sigma=sigma / 255.0)
            methods = {f"{name} (sigma known)": stage, **methods}
        rows += ed.natural_table(folder, methods, sigmas=(sigma,))
    return rows


def ct_rows(root: str, chosen: list[str], networks: dict) -> list[dict]:
    methods, told = dict(networks), {}
    if "bm3d" in chosen:
        name, stage = baselines.bm3d_or_fallback()
        methods = {f"{name} (sigma estimated)": stage, **methods}
        told = {f"{name} (sigma told)": lambda sigma: baselines.bm3d_or_fallback(sigma=sigma)[1]}
        if name != "nlm":
            told["nlm (sigma told)"] = lambda sigma: baselines.NLMStage(sigma)
    return ed.ct_table(root, methods, told=told)


def main() -> None:
    chosen = [m for m in arg("methods", ",".join(METHODS)).split(",") if m]
    unknown = set(chosen) - set(METHODS)
    if unknown:
        raise SystemExit(f"unknown --methods {sorted(unknown)}; choose from {','.join(METHODS)}")
    sigmas = [int(s) if float(s).is_integer() else float(s) for s in arg("sigmas", "15,25,50").split(",")]
    natural, lcd = shared_data("natural", "BSD68"), shared_data("lcd_ct")
    if natural is None or lcd is None:
        print("skipped: reference data natural/BSD68 or lcd_ct not found (set SGAN_SHARED_DATA)")
        return
    networks, info = network_stages(chosen)
    bsd68 = natural_rows(natural, chosen, networks, sigmas)
    ct = ct_rows(lcd, chosen, networks)
    print(to_markdown(bsd68, "BSD68"))
    print(to_markdown(ct, "LCD-CT (soft-tissue window)"))
    suffix = "" if sorted(chosen) == sorted(METHODS) else "_" + "_".join(chosen)
    write_result(f"denoise_tables{suffix}", {
        "bsd68": bsd68, "lcd_ct": ct, "models": info, "noise_seed": 0, "window": NETWORK_WINDOW.as_list(),
        "bm3d": "bm3d package" if baselines.bm3d_available() else "missing: NL-means fallback (rows say nlm)",
        "published_bsd68_psnr": PUBLISHED_BSD68,
        "data": {"bsd68": os.path.abspath(natural), "lcd_ct": os.path.abspath(lcd)},
    })


if __name__ == "__main__":
    main()
