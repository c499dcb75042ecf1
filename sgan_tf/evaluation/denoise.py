"""Denoising tables: natural images (the DnCNN paper's protocol) and the FDA LCD-CT phantom.

A method is a stage ([H, W] float32 on [0, 1] -> [H, W] on [0, 1]): `enhance.load_stage` for
G1 or DnCNN, `baselines.denoiser_stage` for BM3D / NL-means. Rows are dicts with (mean, std)
tuples for averaged metrics, the convention of `sgan_tf.evaluation.tables.to_markdown`/`write_table`.

**Natural images** (`natural_table`): each 8-bit image of a folder (e.g. BSD68) on [0, 1],
white Gaussian noise of std sigma/255 from `np.random.default_rng(seed)` (one draw per image,
in sorted file order, the generator restarted for each sigma), no clipping of the noisy input.
PSNR (peak 1) and SSIM (scikit-image, data_range 1) of each output against the clean image,
averaged over images. The `noisy` row scores the unclipped noisy input (20.17 dB at sigma 25).

**CT** (`ct_table`): the FDA LCD-CT phantom (MetaImage, values HU + 1000; a noiseless
`ground_truth` and, per dose, stacks of 10 noise realisations). Each realisation goes
HU -> network window -> method -> HU, as in `enhance` (`Window.output_hu`: outside the window
the output keeps the scan's HU); the `noisy` row is the scan itself. Metrics against the ground
truth, mean (std) over realisations:
* RMSE and PSNR in the low-dose CT literature's window (`LITERATURE_WINDOW`, -160..240 HU):
  both images clipped to it, RMSE in HU and PSNR with its 400 HU range, whole image;
* PSNR (peak 1) and SSIM (data_range 1) on the network window's [0, 1] scale, whole image;
* RMSE in HU over the phantom interior: pixels whose 7x7 ground-truth neighbourhood lies
  inside the phantom (> -500 HU), which leaves out the air and the phantom's edge, where the
  reconstruction's edge blur (not noise) dominates the error;
* noise std in HU: std of (output - ground truth) over the flat interior pixels (7x7
  ground-truth neighbourhood constant), i.e. the residual noise where there is no structure.
The `noise-free scan` row estimates what a perfect denoiser scores: the realisations' expected
image against the ground truth (`noise_free_rmse`), a floor set by the reconstruction's edge
blur, the same at every dose (about 11.4 HU of lit-window RMSE on LCD-CT).
Methods in `told` are built per dose from that dose's true noise level (the noisy scans'
noise std over the flat interior, on the [0, 1] scale): classical denoisers told what a
blind network must work out.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from absl import logging
from scipy import ndimage as ndi

from sgan_tf import metrics
from sgan_tf.data import images as images_lib
from sgan_tf.data import metaimage
from sgan_tf.data.ct import NETWORK_WINDOW, WINDOWS, Window
from sgan_tf.errors import DataError

Stage = Callable[[np.ndarray], np.ndarray]
NOISY = "noisy"
NOISE_FREE = "noise-free scan"
LITERATURE_WINDOW = WINDOWS["soft_tissue"]  # -160..240 HU, as low-dose CT papers report RMSE/PSNR

LCD_HU_OFFSET = 1000.0  # LCD-CT files store HU + 1000
LCD_DOSES = ("dose_010", "dose_055", "dose_100")
PHANTOM_MIN_HU = -500.0
REGION_SIZE = 7


def _apply(stage: Stage, x: np.ndarray) -> np.ndarray:
    out = np.asarray(stage(x), np.float32)
    if out.shape != x.shape:
        raise ValueError(f"a stage returned shape {out.shape} for a {x.shape} input")
    return out


def _timed(methods: Mapping[str, Stage], inputs: list[np.ndarray]):
    """(name, outputs, seconds per input): the noisy inputs first, then each method's outputs."""
    yield NOISY, inputs, 0.0
    for name, stage in methods.items():
        start = time.perf_counter()
        outputs = [_apply(stage, x) for x in inputs]
        yield name, outputs, (time.perf_counter() - start) / len(inputs)


def noisy_images(clean: Sequence[np.ndarray], sigma: float, seed: int = 0) -> list[np.ndarray]:
    """clean + N(0, (sigma/255)^2), one draw per image in order from default_rng(seed); unclipped."""
    rng = np.random.default_rng(seed)
    return [(c + rng.normal(0.0, sigma / 255.0, c.shape)).astype(np.float32) for c in clean]


def natural_table(
    folder: str, methods: Mapping[str, Stage], sigmas: Sequence[float] = (15, 25, 50), seed: int = 0,
    told: Mapping[str, Callable[[float], Stage]] | None = None,
) -> list[dict]:
    """Rows (sigma x method, `noisy` first, then `methods`, then `told` built with sigma / 255)
    of PSNR/SSIM on a folder of clean grayscale images."""
    files = images_lib.list_image_files(folder)
    loaded, _ = images_lib.load_images(files, 1)
    clean = [images_lib.as_unit(image) for image in loaded]
    rows = []
    for sigma in sigmas:
        noisy = noisy_images(clean, sigma, seed)
        per_sigma = {**methods, **{name: make(sigma / 255.0) for name, make in (told or {}).items()}}
        for name, outputs, seconds in _timed(per_sigma, noisy):
            clipped = outputs if name == NOISY else [np.clip(o, 0.0, 1.0) for o in outputs]
            rows.append({
                "dataset": os.path.basename(os.path.normpath(folder)),
                "sigma": sigma,
                "method": name,
                "PSNR": metrics.mean_std([metrics.psnr(o, c) for o, c in zip(clipped, clean)]),
                "SSIM": metrics.mean_std([metrics.ssim(o, c) for o, c in zip(clipped, clean)]),
                "images": len(clean),
                "seconds/image": round(seconds, 3),
            })
            logging.info("sigma %g %s: PSNR %.3f dB, SSIM %.4f", sigma, name, rows[-1]["PSNR"][0], rows[-1]["SSIM"][0])
    return rows


# -- LCD-CT phantom ---------------------------------------------------------------------------


def lcd_regions(ground_truth_hu: np.ndarray, size: int = REGION_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(interior, flat) masks of the phantom from its noiseless image (see the module docstring)."""
    lo = ndi.minimum_filter(ground_truth_hu, size, mode="nearest")
    hi = ndi.maximum_filter(ground_truth_hu, size, mode="nearest")
    interior = lo > PHANTOM_MIN_HU
    return interior, interior & (lo == hi)


def read_metaimage(path: str) -> np.ndarray:
    """The voxels of a MetaImage file, shape DimSize reversed ([z,] y, x) (sgan_tf/data/metaimage.py)."""
    array, _ = metaimage.read(path)
    return array


def load_lcd(root: str, dose: str, signal: str = "signal_present") -> tuple[np.ndarray, np.ndarray]:
    """(ground truth [H, W], realisations [N, H, W]) of one LCD-CT dose, in HU."""
    gt = read_metaimage(os.path.join(root, "ground_truth.mhd")).astype(np.float32) - LCD_HU_OFFSET
    scans = read_metaimage(os.path.join(root, dose, signal, f"{signal}.mhd")).astype(np.float32) - LCD_HU_OFFSET
    if scans.ndim == 2:
        scans = scans[None]
    if scans.shape[1:] != gt.shape:
        raise DataError(f"{root}/{dose}: scans {scans.shape[1:]} and ground truth {gt.shape} differ in size")
    return gt, scans


def dose_label(dose: str) -> str:
    """'dose_010' -> '10%'."""
    digits = dose.rsplit("_", 1)[-1]
    return f"{int(digits)}%" if digits.isdigit() else dose


def noise_free_rmse(scans: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None,
                    clip: Window | None = None) -> float:
    """RMSE (HU) against `truth` of the noise-free scan, the expected image of the realisations
    `scans` [N, H, W] (N >= 2), over `mask` (default all), both clipped to `clip` if given.
    Per pixel the squared error of the realisations' mean minus its noise share (variance / N),
    unbiased wherever the mean lies inside `clip`; elsewhere the clipped mean's squared error."""
    scans = np.asarray(scans, np.float64)
    n = len(scans)
    if n < 2:
        raise ValueError(f"noise_free_rmse needs at least 2 realisations, got {n}")
    mean, var = scans.mean(axis=0), scans.var(axis=0, ddof=1)
    target = truth if clip is None else np.clip(truth, clip.lo, clip.hi)
    squared = (mean - target) ** 2 - var / n
    if clip is not None:
        inside = (mean > clip.lo) & (mean < clip.hi)
        squared = np.where(inside, squared, (np.clip(mean, clip.lo, clip.hi) - target) ** 2)
    if mask is not None:
        squared = squared[mask]
    return float(np.sqrt(max(float(squared.mean()), 0.0)))


def ct_table(
    lcd_ct_dir: str,
    methods: Mapping[str, Stage],
    window: Window = NETWORK_WINDOW,
    doses: Sequence[str] = LCD_DOSES,
    signal: str = "signal_present",
    told: Mapping[str, Callable[[float], Stage]] | None = None,
) -> list[dict]:
    """Rows (dose x method, `noisy` and the `noise-free scan` estimate first, then `methods`,
    then `told` built with each dose's true noise level) of CT denoising metrics on the LCD-CT
    phantom (module docstring)."""
    lit = LITERATURE_WINDOW
    rows = []
    for dose in doses:
        gt, scans = load_lcd(lcd_ct_dir, dose, signal)
        interior, flat = lcd_regions(gt)
        gt_unit, gt_lit = window.to_unit(gt), np.clip(gt, lit.lo, lit.hi)
        inputs = [window.to_unit(s) for s in scans]
        sigma = float(np.mean([np.std((s - gt)[flat]) for s in scans])) / window.width
        per_dose = {**methods, **{name: make(sigma) for name, make in (told or {}).items()}}
        rows_before = len(rows)
        for name, outputs, seconds in _timed(per_dose, inputs):
            hu = list(scans) if name == NOISY else [window.output_hu(o, s) for o, s in zip(outputs, scans)]
            errors_hu = [h - gt for h in hu]
            lit_rmse = [float(np.sqrt(np.mean((np.clip(h, lit.lo, lit.hi) - gt_lit) ** 2))) for h in hu]
            rows.append({
                "dose": dose_label(dose),
                "method": name,
                "RMSE -160..240 (HU)": metrics.mean_std(lit_rmse),
                "PSNR -160..240 (dB)": metrics.mean_std([metrics.psnr_of_rmse(r, lit.width) for r in lit_rmse]),
                "RMSE interior (HU)": metrics.mean_std([float(np.sqrt(np.mean(e[interior] ** 2))) for e in errors_hu]),
                "noise std (HU)": metrics.mean_std([float(np.std(e[flat])) for e in errors_hu]),
                "PSNR": metrics.mean_std([metrics.psnr(np.clip(o, 0.0, 1.0), gt_unit) for o in outputs]),
                "SSIM": metrics.mean_std([metrics.ssim(np.clip(o, 0.0, 1.0), gt_unit) for o in outputs]),
                "realisations": len(outputs),
                "seconds/image": round(seconds, 3),
            })
            logging.info("%s %s: RMSE -160..240 %.2f HU, interior %.2f HU, noise std %.2f HU", dose, name,
                         rows[-1]["RMSE -160..240 (HU)"][0], rows[-1]["RMSE interior (HU)"][0],
                         rows[-1]["noise std (HU)"][0])
        if len(scans) > 1:
            rows.insert(rows_before + 1, _noise_free_row(dose, scans, gt, interior))
    return rows


def _noise_free_row(dose: str, scans: np.ndarray, gt: np.ndarray, interior: np.ndarray) -> dict:
    """The `noise-free scan` row of a dose: single estimates (std NaN); no noise, PSNR or SSIM."""
    lit = noise_free_rmse(scans, gt, clip=LITERATURE_WINDOW)
    nan = float("nan")
    return {
        "dose": dose_label(dose), "method": NOISE_FREE,
        "RMSE -160..240 (HU)": (lit, nan),
        "PSNR -160..240 (dB)": (metrics.psnr_of_rmse(lit, LITERATURE_WINDOW.width) if lit > 0 else nan, nan),
        "RMSE interior (HU)": (noise_free_rmse(scans, gt, mask=interior), nan),
        "noise std (HU)": (0.0, nan), "PSNR": (nan, nan), "SSIM": (nan, nan),
        "realisations": len(scans), "seconds/image": 0.0,
    }
