"""Simulated low-dose CT lesion set in the DeepLesion layout, with true masks and clean copies.

Each slice is drawn independently from its own seed (`np.random.SeedSequence(seed,
spawn_key=(0, index))`), so slice i is the same whatever the set size or worker count:

1. Anatomy in HU at one body level (thorax, upper abdomen, pelvis): air, skin, subcutaneous
   fat, muscle, organs, vessels, bones, lungs with vessels; mild low-frequency texture
   (`anatomy`).
2. One lesion of a DeepLesion coarse type (1 bone ... 8 pelvis) in a host organ typical of
   that type: a star-shaped blob (ellipse with radial Fourier perturbations), sharp or
   blurred boundary, homogeneous or not. Its true mask is the blob's soft profile >= 0.5
   (`lesions`).
3. A CT scan by physics (`lowdose.simulate_scan`, geometry and kernels in `projector`):
   HU -> linear attenuation -> parallel-beam sinogram -> Poisson counts at I0 photons per ray
   (counts clamped >= 1) -> -log(counts / I0) -> filtered back-projection (Hann-apodised ramp)
   -> HU. The clean copy is the FBP of the noise-free sinogram, so the pair differs by noise only.
   Pixels outside the reconstruction circle are `AIR_HU`, like the field outside a scanner's.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import shutil

import cv2
import numpy as np

from sgan_tf import outputs, progress
from sgan_tf.data import deeplesion, recist
from sgan_tf.data.ct import write_hu_png
from sgan_tf.data.phantom.anatomy import BODIES, LEVEL_Z, Anatomy
from sgan_tf.data.phantom.lesions import LESION_SITES, Lesion, add_lesion
from sgan_tf.errors import UserError
from sgan_tf.outputs import check_writable

DEFAULT_SIZE = 512
MIN_SIZE = 128  # smaller slices leave some organs too few pixels for a lesion
DEFAULT_PHOTONS = (2.5e4, 1.5e5)  # incident photons per ray, drawn log-uniformly per slice
SPACING_RANGE = (0.7, 0.9)  # mm per pixel at 512 px (field of view 358-461 mm)
SLICE_MM = 5.0
BBOX_PAD = 5  # DeepLesion's bounding boxes pad the lesion by 5 px

DICOM_WINDOWS = {5: (-1350.0, 150.0), 1: (-500.0, 1300.0)}  # by lesion type; others: SOFT_WINDOW
SOFT_WINDOW = (-175.0, 275.0)
SPLIT_FRACTIONS = (0.7, 0.15, 0.15)  # train, val, test


# --------------------------------------------------------------------------------- slices


@dataclasses.dataclass(frozen=True)
class PhantomSlice:
    """One simulated slice: the phantom, its scans, the lesion and what the record needs."""

    index: int
    phantom: np.ndarray  # float32 [n, n] HU, the true anatomy with the lesion
    noisy: np.ndarray  # float32 [n, n] HU, low-dose reconstruction
    clean: np.ndarray  # float32 [n, n] HU, reconstruction of the noise-free sinogram
    mask: np.ndarray  # bool [n, n], the true lesion: profile >= 0.5
    profile: np.ndarray  # float32 [n, n] in [0, 1], the lesion's soft weight in the phantom
    body: np.ndarray  # bool [n, n], inside the body outline
    lesion: Lesion
    level: str
    z: float  # normalised body position in [0, 1] (head to feet)
    spacing: float  # mm per pixel
    photons: float
    gender: str
    age: float
    split: int


def _lesion_type(index: int, seed: int) -> int:
    """Coarse type of slice `index`: each block of 8 slices holds all 8 types, shuffled per seed."""
    block = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, index // 8)))
    return int(block.permutation(8)[index % 8]) + 1


def _draw_photons(rng: np.random.Generator, photons: tuple[float, float]) -> float:
    lo, hi = photons
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else float(lo)


def make_slice(index: int, seed: int, size: int = DEFAULT_SIZE, photons: tuple[float, float] = DEFAULT_PHOTONS,
               views: int | None = None) -> PhantomSlice:
    """Slice `index` of the set `seed`; the same for any set size. `size` px square (the
    field of view in mm stays that of 512 px, so pixels are 512 / size times larger)."""
    from sgan_tf.data.lowdose import simulate_scan  # scipy loads here: phantom_main --help stays quick

    if size < MIN_SIZE:
        raise UserError(f"image size must be >= {MIN_SIZE} px, got {size}")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, index)))
    lesion_type = _lesion_type(index, seed)
    levels = LESION_SITES[lesion_type].levels
    level = levels[int(rng.integers(len(levels)))]
    z = float(rng.uniform(*LEVEL_Z[level]))
    spacing = float(rng.uniform(*SPACING_RANGE)) * DEFAULT_SIZE / size
    paint, widths, depths = BODIES[level]
    width, depth = rng.uniform(*widths), rng.uniform(*depths)
    # Shrink a body too wide for the field of view: the outline reaches out to 1.118 x its
    # larger semi-axis (superellipse power <= 2.5, wobble <= 4.3 %), its centre moves <= 3.6 % of n.
    fit = min(1.0, (0.464 * size - 2) * spacing / (1.118 * max(width, depth) / 2))
    anatomy = Anatomy(rng, size, spacing, width * fit, depth * fit)
    paint(anatomy)
    lesion, profile = add_lesion(anatomy, lesion_type)
    body = (anatomy.labels > 0)
    dose = _draw_photons(rng, photons)
    noisy, clean = simulate_scan(anatomy.hu, spacing, dose, rng, views)
    u = rng.uniform()
    split = 1 if u < SPLIT_FRACTIONS[0] else 2 if u < SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1] else 3
    return PhantomSlice(index=index, phantom=anatomy.hu, noisy=noisy, clean=clean, mask=profile >= 0.5,
                        profile=profile, body=body, lesion=lesion, level=level, z=z, spacing=spacing, photons=dose,
                        gender=str(rng.choice(["M", "F"])), age=float(rng.integers(20, 86)), split=split)


def _record(sl: PhantomSlice) -> deeplesion.LesionRecord:
    """The DL_info.csv row of a slice: one patient/study/series per slice, RECIST from its mask."""
    n = sl.mask.shape[0]
    key = 1 + int(round(sl.z * 199))
    points = recist.recist_from_mask(sl.mask)
    ys, xs = np.nonzero(sl.mask)
    bbox = (float(max(xs.min() - BBOX_PAD, 0)), float(max(ys.min() - BBOX_PAD, 0)),
            float(min(xs.max() + BBOX_PAD, n - 1)), float(min(ys.max() + BBOX_PAD, n - 1)))
    series = f"{sl.index + 1:06d}_01_01"
    return deeplesion.LesionRecord(
        file_name=f"{series}_{key:03d}.png",
        patient_index=sl.index + 1,
        study_index=1,
        series_id=1,
        key_slice_index=key,
        recist=points,
        bbox=bbox,
        diameters=recist.axis_lengths(points),
        normalized_location=(float(xs.mean()) / n, float(ys.mean()) / n, sl.z),
        lesion_type=sl.lesion.lesion_type,
        possibly_noisy=0,
        slice_range=(key, key),
        spacing=(sl.spacing, sl.spacing, SLICE_MM),
        image_size=(n, n),
        window=DICOM_WINDOWS.get(sl.lesion.lesion_type, SOFT_WINDOW),
        gender=sl.gender,
        age=sl.age,
        split=sl.split,
    )


# ---------------------------------------------------------------------------------- sets


@dataclasses.dataclass(frozen=True)
class _Job:
    output_dir: str
    seed: int
    size: int
    photons: tuple[float, float]
    views: int | None


def _write_slice(job: _Job, index: int) -> deeplesion.LesionRecord:
    sl = make_slice(index, job.seed, job.size, job.photons, job.views)
    rec = _record(sl)
    write_hu_png(os.path.join(job.output_dir, deeplesion.IMAGES_DIR, rec.relative_path), sl.noisy)
    write_hu_png(os.path.join(job.output_dir, deeplesion.CLEAN_DIR, rec.relative_path), sl.clean)
    outputs.write_png(os.path.join(job.output_dir, deeplesion.MASKS_DIR, rec.relative_path),
                      sl.mask.astype(np.uint8) * 255, job.output_dir)
    return rec


_WORKER_JOB: _Job | None = None


def _init_worker(job: _Job) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job
    cv2.setNumThreads(1)


def _worker(index: int) -> deeplesion.LesionRecord:
    return _write_slice(_WORKER_JOB, index)


_OUTPUTS = (deeplesion.IMAGES_DIR, deeplesion.CLEAN_DIR, deeplesion.MASKS_DIR, deeplesion.INFO_FILE)


def _prepare_output_dir(output_dir: str, overwrite: bool) -> None:
    """Creates `output_dir`; UserError if it holds files (unless `overwrite`: then a previous
    set's Images_png, Images_png_clean, masks and DL_info.csv are removed) or is not writable."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise UserError(f"output folder {output_dir} is a file")
    if os.path.isdir(output_dir) and os.listdir(output_dir):
        if not overwrite:
            raise UserError(f"output folder {output_dir} is not empty (pass --overwrite to replace a set there)")
        for name in _OUTPUTS:
            path = os.path.join(output_dir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    check_writable(output_dir)


def parse_photons(spec: str) -> tuple[float, float]:
    """'I0' or 'LOW,HIGH' (photons per ray) -> (low, high); UserError when malformed."""
    parts = [p.strip() for p in str(spec).split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError as e:
        raise UserError(f"photons {spec!r}: use I0 or LOW,HIGH (photons per ray)") from e
    if len(values) not in (1, 2) or not all(np.isfinite(values)) or min(values) < 1:
        raise UserError(f"photons {spec!r}: use I0 or LOW,HIGH with values >= 1")
    lo, hi = values[0], values[-1]
    if hi < lo:
        raise UserError(f"photons {spec!r}: LOW must not exceed HIGH")
    return lo, hi


def write_set(output_dir: str, num_slices: int, seed: int, photons: tuple[float, float] = DEFAULT_PHOTONS,
              workers: int | None = None, size: int = DEFAULT_SIZE, views: int | None = None,
              overwrite: bool = False) -> list[deeplesion.LesionRecord]:
    """Writes slices 0..num_slices-1 of set `seed` in the DeepLesion layout (see module doc)
    with `workers` processes (default: all CPUs); returns the DL_info.csv rows."""
    if num_slices < 1:
        raise UserError(f"number of slices must be >= 1, got {num_slices}")
    if size < MIN_SIZE:
        raise UserError(f"image size must be >= {MIN_SIZE} px, got {size}")
    if views is not None and (views < 2 or views % 2):
        raise UserError(f"views must be even and >= 2, got {views}")
    if workers is not None and workers < 1:
        raise UserError(f"workers must be >= 1, got {workers}")
    workers = min(workers or os.cpu_count() or 1, num_slices)
    _prepare_output_dir(output_dir, overwrite)
    job = _Job(output_dir, seed, size, tuple(photons), views)
    records = []
    bar = progress.Progress(num_slices, "simulate", unit="slices")
    try:
        if workers == 1:  # in this process, on one core like a worker
            threads = cv2.getNumThreads()
            cv2.setNumThreads(1)
            try:
                for i in range(num_slices):
                    records.append(_write_slice(job, i))
                    bar.update()
            finally:
                cv2.setNumThreads(threads)
        else:
            context = multiprocessing.get_context("spawn")
            with context.Pool(workers, initializer=_init_worker, initargs=(job,)) as pool:
                for rec in pool.imap(_worker, range(num_slices)):
                    records.append(rec)
                    bar.update()
    finally:
        bar.close()
    deeplesion.write_dl_info(os.path.join(output_dir, deeplesion.INFO_FILE), records)
    return records
