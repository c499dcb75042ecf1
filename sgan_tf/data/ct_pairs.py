"""CT training pairs: low-dose copies of CT slices, simulated once into an on-disk cache and
cropped for every stage in the network window.

Sources (`--ct_dir`, any number of folders):

* a DeepLesion-layout root (`DL_info.csv`): the slices of the series its training rows
  (split 1) name; validation rows (split 2) give validation pairs; test rows (split 3) are
  never read. Where `Images_png_clean/` holds a noise-free copy (the simulated sets), that copy
  is the source and the target;
* any other folder: its DICOM files, recursively (single files or whole series, any transfer
  syntax the `dicom` extra decodes); every 10th slice of each series is held out for validation.

Each source slice gets `copies` low-dose copies (`lowdose`), each with its own dose, the
slice with one reconstruction kernel:

* a noise-free source is scanned at I0 = `photons` x dose (Poisson and electronic noise), the
  target is the source itself; with `blur_signal` a copy is the whole reconstruction, the
  source blurred by the kernel as a scanner blurs an object, so a model also learns to undo
  the kernel's blur (without it a copy is the source plus reconstructed noise, as sharp as
  the source);
* a source that has noise (real scans) gets only the extra noise of `dose` x its own dose
  (dose capped at `NOISY_SOURCE_MAX_DOSE`), its I0 estimated from its own soft-tissue noise
  unless `source_photons` is given; the target is the source as scanned.

Doses are drawn log-uniformly from `dose_range`, kernel cutoffs uniformly from `kernel_range`,
all from seeds of (`seed`, slice number, copy), so the cache is a pure function of the sources
and the configuration. It lives in `cache_dir/<key>/` (key: a hash of both, the sources by content): one int16 HU
array per slice (`slices/<n>.npy`, row 0 the target, rows 1.. the copies, written atomically,
so an interrupted build resumes) and `index.json`, written last. Training memory-maps it.

Crops (`CTPairs.crop`) are a pure function of (seed, example index) like the natural-image
crops of `synthesis`: a slice drawn with probability proportional to its pixels inside the
window, a copy, a position that keeps at least `MIN_IN_WINDOW` of the target's pixels
inside the window (up to `CROP_TRIES` tries, else the try that keeps most: a crop all outside
the window would make a validation pair whose input equals its target), and the same flips and 90-degree turns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Sequence

import cv2
import numpy as np
from absl import logging

from sgan_tf import outputs
from sgan_tf.data import deeplesion, dicom, lowdose
from sgan_tf.data.ct import NETWORK_WINDOW, Window, read_hu_png
from sgan_tf.errors import DataError, UserError

CACHE_VERSION = 1  # bump when the simulation or the layout changes
NOISY_SOURCE_MAX_DOSE = 0.5  # a real scan is only ever made noisier by at least this factor
DEFAULT_SPACING_MM = 0.8  # for sources that do not say (PNG without DL_info spacing)
VAL_EVERY = 10  # DICOM sources: every 10th slice of a series is a validation slice
MIN_IN_WINDOW = 0.25
CROP_TRIES = 10
TEST_SET_NAMES = ("lcd_ct", "bsd68", "set12")  # the project's test sets: never training data
TRAIN, VAL = "train", "val"


@dataclasses.dataclass(frozen=True)
class CTPairConfig:
    """Which CT sources, and how their low-dose copies are simulated."""

    dirs: tuple[str, ...]
    dose_range: tuple[float, float] = (0.01, 1.0)
    photons: float = 1e6  # incident photons per ray of a full-dose scan of a noise-free source
    source_photons: float = 0.0  # I0 of the sources that have noise; 0: estimated per slice
    electronic_noise: float = 5.0  # std of the electronic noise, detected counts
    kernel_range: tuple[float, float] = (1.0, 2.0)  # Hann cutoff x Nyquist of the FBP kernel
    copies: int = 4
    seed: int = 0
    blur_signal: bool = False  # noise-free sources: copies carry the kernel's blur (see the module docstring)

    def check(self) -> None:
        lo, hi = self.dose_range
        klo, khi = self.kernel_range
        problems = [
            (0 < lo <= hi <= 1, "--ct_dose_range must satisfy 0 < low <= high <= 1"),
            (self.photons > 0, "--ct_photons must be positive"),
            (self.source_photons >= 0, "--ct_source_photons must be >= 0 (0: estimate)"),
            (self.electronic_noise >= 0, "--ct_electronic_noise must be >= 0"),
            (0 < klo <= khi, "--ct_kernel_range must satisfy 0 < low <= high"),
            (self.copies >= 1, "--ct_copies must be at least 1"),
        ]
        for ok, message in problems:
            if not ok:
                raise UserError(message)
        for folder in self.dirs:
            parts = {p.lower() for p in os.path.normpath(os.path.abspath(folder)).split(os.sep)}
            if parts & set(TEST_SET_NAMES):
                raise UserError(f"--ct_dir={folder} is a test set ({', '.join(TEST_SET_NAMES)}); never train on it")


@dataclasses.dataclass(frozen=True)
class SourceSlice:
    """One slice a pair is simulated from."""

    path: str  # the file read (a noise-free copy for clean sources)
    kind: str  # "png" (16-bit HU) or "dicom"
    clean: bool  # noise-free: scanned from scratch; else extra noise only
    split: str  # TRAIN or VAL
    spacing: float | None  # mm per pixel; None: from the file (DICOM) or DEFAULT_SPACING_MM

    def load(self) -> tuple[np.ndarray, float]:
        """(HU [H, W] float32, spacing in mm)."""
        if self.kind == "png":
            return read_hu_png(self.path), self.spacing or DEFAULT_SPACING_MM
        sl = dicom.read_dicom(self.path)
        return sl.hu, self.spacing or (float(np.mean(sl.spacing)) if sl.spacing else DEFAULT_SPACING_MM)


def _deeplesion_sources(root: str) -> list[SourceSlice]:
    dl = deeplesion.DeepLesionSet(root)
    for problem in dl.problems:
        logging.warning("%s: %s", root, problem)
    found: dict[str, SourceSlice] = {}
    for split, name in ((1, TRAIN), (2, VAL)):
        for rec in dl.select(splits=[split]):
            folder = os.path.join(root, deeplesion.IMAGES_DIR, rec.series_dir)
            if not os.path.isdir(folder):
                logging.warning("%s: series folder %s is missing; skipped", rec.describe(), folder)
                continue
            for file in sorted(os.listdir(folder)):
                if not file.lower().endswith(".png"):
                    continue
                relative = os.path.join(rec.series_dir, file)
                clean = os.path.join(root, deeplesion.CLEAN_DIR, relative)
                is_clean = os.path.isfile(clean)
                path = clean if is_clean else os.path.join(folder, file)
                found.setdefault(path, SourceSlice(path, "png", is_clean, name, float(np.mean(rec.spacing[:2]))))
    return list(found.values())


def _dicom_sources(folder: str) -> list[SourceSlice]:
    ordered = dicom.sort_slices(dicom.find_dicom_files(folder))
    by_series: dict[str, list[str]] = {}
    for path in ordered:
        by_series.setdefault(os.path.dirname(path), []).append(path)
    return [SourceSlice(p, "dicom", False, VAL if i % VAL_EVERY == VAL_EVERY - 1 else TRAIN, None)
            for paths in by_series.values() for i, p in enumerate(paths)]


def find_sources(dirs: Sequence[str]) -> list[SourceSlice]:
    """Every training and validation slice of the folders (see the module docstring)."""
    sources = []
    for folder in dirs:
        if not os.path.isdir(folder):
            raise DataError(f"--ct_dir={folder}: not a folder")
        found = _deeplesion_sources(folder) if deeplesion.DeepLesionSet.is_root(folder) else _dicom_sources(folder)
        if not found:
            raise DataError(f"--ct_dir={folder}: no training or validation slices (a DeepLesion-layout root "
                            "needs split 1/2 rows; other folders need DICOM files)")
        sources.extend(found)
    return sources


def default_cache_dir() -> str:
    """$XDG_CACHE_HOME/sgan-tf/ct_pairs (~/.cache/sgan-tf/ct_pairs by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "sgan-tf", "ct_pairs")


def cache_key(config: CTPairConfig, sources: Sequence[SourceSlice]) -> str:
    """Hash of the simulation settings and of every source file (path and content, not its
    time: a data folder copied again, with new times, keeps its cache)."""
    digest = hashlib.sha256()
    fields = dataclasses.asdict(config)
    fields.pop("dirs")
    digest.update(json.dumps({"version": CACHE_VERSION, **fields}, sort_keys=True).encode())
    for s in sources:
        digest.update(json.dumps([os.path.abspath(s.path), s.kind, s.clean, s.split, s.spacing,
                                  outputs.sha256(s.path)]).encode())
    return digest.hexdigest()[:16]


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else float(lo)


def simulate_slice(config: CTPairConfig, source: SourceSlice, number: int) -> tuple[np.ndarray, dict]:
    """([1 + copies, H, W] int16 HU: target then low-dose copies, the slice's record)."""
    hu, spacing = source.load()
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(number,)))
    cutoff = float(rng.uniform(*config.kernel_range))
    record = {"path": source.path, "clean": source.clean, "split": source.split, "spacing": spacing,
              "shape": list(hu.shape), "cutoff": round(cutoff, 4), "copies": []}
    scanner = lowdose.Scanner(hu, spacing)
    if not source.clean:
        photons = config.source_photons or scanner.estimate_photons(cutoff, seed=number)
        if not np.isfinite(photons):
            raise DataError(f"{source.path}: too little soft tissue to estimate its noise (pass --ct_source_photons)")
        record["source_photons"] = round(photons, 1)
    perturbations = []
    for _ in range(config.copies):
        dose = _log_uniform(rng, *config.dose_range)
        if source.clean:
            perturbations.append(scanner.scan_perturbation(config.photons * dose, rng, config.electronic_noise))
        else:
            dose = min(dose, NOISY_SOURCE_MAX_DOSE)
            perturbations.append(scanner.extra_perturbation(dose, photons, rng, config.electronic_noise))
        record["copies"].append({"dose": round(dose, 5)})
    noises = scanner.reconstruct(perturbations, cutoff)
    soft = lowdose.soft_tissue_mask(hu)
    for copy, noise in zip(record["copies"], noises):
        copy["soft_tissue_noise_hu"] = round(float(np.std(noise[soft])), 2) if soft.any() else None
    signal = scanner.blurred_signal(cutoff) if source.clean and config.blur_signal else hu
    stack = [hu] + [signal + noise for noise in noises]
    out = np.clip(np.rint(np.stack(stack)), -32768, 32767).astype(np.int16)
    return out, record


def _slice_file(folder: str, number: int) -> str:
    return os.path.join(folder, "slices", f"{number:06d}.npy")


def _build_one(args: tuple[CTPairConfig, SourceSlice, int, str]) -> dict | str:
    """Simulates one slice into the cache (atomically); its record, or the error's message."""
    config, source, number, folder = args
    record_path = _slice_file(folder, number)[:-4] + ".json"
    if os.path.isfile(record_path):
        with open(record_path) as f:
            return json.load(f)
    try:
        stack, record = simulate_slice(config, source, number)
    except (DataError, ValueError, OSError, cv2.error) as e:
        return f"{source.path}: {e}"
    outputs.write_npy(_slice_file(folder, number), stack)
    outputs.write_json(record_path, record)
    return record


def _init_worker() -> None:
    cv2.setNumThreads(1)


def build_cache(config: CTPairConfig, cache_dir: str | None = None, workers: int | None = None) -> str:
    """The cache folder of `config` under `cache_dir` (default: `default_cache_dir()`),
    simulated where missing (see the module docstring)."""
    config.check()
    cache_dir = cache_dir or default_cache_dir()
    sources = find_sources(config.dirs)
    folder = os.path.join(cache_dir, cache_key(config, sources))
    index_path = os.path.join(folder, "index.json")
    if os.path.isfile(index_path):
        return folder
    os.makedirs(os.path.join(folder, "slices"), exist_ok=True)
    jobs = [(config, s, n, folder) for n, s in enumerate(sources)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    logging.info("Simulating low-dose copies of %d CT slices into %s (%d workers)", len(jobs), folder, workers)
    start, every, results = time.perf_counter(), max(1, len(jobs) // 10), []
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
        for result in pool.imap(_build_one, jobs):
            results.append(result)
            if len(results) % every == 0 or len(results) == len(jobs):
                logging.info("CT pairs: %d/%d slices (%.2f slices/s)", len(results), len(jobs),
                             len(results) / (time.perf_counter() - start))
    entries = []
    for number, result in enumerate(results):
        if isinstance(result, str):
            logging.warning("CT pairs: skipped %s", result)
        else:
            entries.append({"number": number, **result})
    if not entries:
        raise DataError(f"--ct_dir: none of the {len(jobs)} CT slices could be simulated")
    outputs.write_json(index_path, {"config": dataclasses.asdict(config), "entries": entries})
    return folder


class CTPairs:
    """The cached pairs of one split as crops on the network scale (see the module docstring)."""

    def __init__(self, folder: str, split: str, window: Window = NETWORK_WINDOW, clean_only: bool = False):
        with open(os.path.join(folder, "index.json")) as f:
            index = json.load(f)
        self.entries = [e for e in index["entries"] if e["split"] == split and (e["clean"] or not clean_only)]
        if not self.entries:
            what = "noise-free " if clean_only else ""
            raise DataError(f"{folder}: no {what}{split} CT slices in the pair cache")
        self.window = window
        self.stacks = [np.load(_slice_file(folder, e["number"]), mmap_mode="r") for e in self.entries]
        weights = np.array([self._in_window(s[0]).sum() for s in self.stacks], np.float64) + 1.0
        self.probabilities = weights / weights.sum()

    def __len__(self) -> int:
        return len(self.entries)

    def _in_window(self, hu: np.ndarray) -> np.ndarray:
        return (hu > self.window.lo) & (hu < self.window.hi)

    def crop(self, crop_size: int, seed: int, index: int, augment: bool) -> tuple[np.ndarray, np.ndarray]:
        """(low-dose, target) float32 [c, c, 1] crops on the network scale, chosen by (seed, index)."""
        rng = np.random.default_rng([seed, index, 1])
        stack = self.stacks[rng.choice(len(self.stacks), p=self.probabilities)]
        copy = int(rng.integers(1, stack.shape[0]))
        h, w = stack.shape[1:]
        if min(h, w) < crop_size:
            raise DataError(f"a {h}x{w} CT slice is smaller than the {crop_size}-pixel crop")
        best = (-1.0, 0, 0)  # (in-window share, top, left) of the best try
        for _ in range(CROP_TRIES):
            top, left = int(rng.integers(0, h - crop_size + 1)), int(rng.integers(0, w - crop_size + 1))
            share = float(self._in_window(stack[0, top : top + crop_size, left : left + crop_size]).mean())
            best = max(best, (share, top, left))
            if share >= MIN_IN_WINDOW:
                break
        _, top, left = best
        target = stack[0, top : top + crop_size, left : left + crop_size]
        pair = np.stack([stack[copy, top : top + crop_size, left : left + crop_size], target])
        if augment:
            pair = np.rot90(pair, k=int(rng.integers(4)), axes=(1, 2))
            if rng.integers(2):
                pair = pair[:, :, ::-1]
        unit = self.window.to_unit(pair.astype(np.float32))
        return unit[0][..., None], unit[1][..., None]
