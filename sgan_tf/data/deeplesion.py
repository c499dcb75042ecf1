"""DeepLesion-layout sets: DL_info.csv rows, 16-bit HU slices, optional ground-truth masks.

Layout of a root folder (NIH DeepLesion, and the simulated set of `phantom_main`):

    DL_info.csv                      one row per lesion (columns `COLUMNS`)
    Images_png/<series>/<NNN>.png    16-bit slices, HU = value - 32768
    masks/<series>/<NNN>.png         optional: ground-truth lesion masks (8- or 16-bit)
    Images_png_clean/<series>/...    optional: noise-free copies (simulated sets only)

`File_name` "000001_01_01_109.png" names series folder "000001_01_01" and slice "109.png".
A mask file is binary (any non-zero pixel is lesion) when its slice has one lesion row. When
a slice has several rows, a mask whose values go beyond 1 (and is not 0/255) is read as
labels: value k is the k-th row of that slice in CSV order (1-based); a binary mask is then
shared by all of that slice's lesions.

Rows that cannot be used (malformed numbers, RECIST points outside Image_size, zero-length
axes) are reported in `DeepLesionSet.problems` with their CSV line and left out; the rest
of the set goes on. A CSV without the required columns is refused as a whole.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from sgan_tf.data import recist
from sgan_tf.data.ct import CTSlice, Window, check_finite, read_hu_png
from sgan_tf.errors import DataError

INFO_FILE = "DL_info.csv"
IMAGES_DIR = "Images_png"
MASKS_DIR = "masks"
CLEAN_DIR = "Images_png_clean"

COLUMNS = (
    "File_name", "Patient_index", "Study_index", "Series_ID", "Key_slice_index",
    "Measurement_coordinates", "Bounding_boxes", "Lesion_diameters_Pixel_",
    "Normalized_lesion_location", "Coarse_lesion_type", "Possibly_noisy", "Slice_range",
    "Spacing_mm_px_", "Image_size", "DICOM_windows", "Patient_gender", "Patient_age",
    "Train_Val_Test",
)

LESION_TYPES = {
    1: "bone", 2: "abdomen", 3: "mediastinum", 4: "liver",
    5: "lung", 6: "kidney", 7: "soft tissue", 8: "pelvis", -1: "unlabelled",
}
SPLITS = {1: "train", 2: "val", 3: "test"}


@dataclasses.dataclass(frozen=True)
class LesionRecord:
    """One DL_info.csv row. Points and boxes are (x, y) slice pixels, diameters in pixels."""

    file_name: str
    patient_index: int
    study_index: int
    series_id: int
    key_slice_index: int
    recist: np.ndarray  # [4, 2]: long-axis endpoints, short-axis endpoints
    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2
    diameters: tuple[float, float]  # long, short
    normalized_location: tuple[float, float, float]
    lesion_type: int
    possibly_noisy: int
    slice_range: tuple[int, int]
    spacing: tuple[float, float, float]  # x, y, z in mm
    image_size: tuple[int, int]  # as in the CSV: (rows, columns); DeepLesion slices are square
    window: tuple[float, float]  # DICOM window lo, hi (HU)
    gender: str
    age: float
    split: int
    line: int = 0  # CSV line number (1 = header), for messages
    lesion_index: int = 0  # position among the rows of the same slice (0-based)

    @property
    def series_dir(self) -> str:
        return self.file_name.rsplit("_", 1)[0]

    @property
    def slice_file(self) -> str:
        return self.file_name.rsplit("_", 1)[1]

    @property
    def relative_path(self) -> str:
        return os.path.join(self.series_dir, self.slice_file)

    @property
    def item_id(self) -> str:
        """Unique name of this lesion: the File_name stem and its index within the slice."""
        return f"{os.path.splitext(self.file_name)[0]}_{self.lesion_index}"

    @property
    def type_name(self) -> str:
        return LESION_TYPES.get(self.lesion_type, f"type {self.lesion_type}")

    @property
    def own_window(self) -> Window | None:
        lo, hi = self.window
        return Window(lo, hi) if hi > lo else None

    def describe(self) -> str:
        return f"{INFO_FILE} line {self.line} ({self.file_name})"


def _numbers(text: str, count: int, name: str) -> tuple[float, ...]:
    parts = [p for p in str(text).replace(";", ",").split(",") if p.strip()]
    if len(parts) != count:
        raise ValueError(f"{name} needs {count} numbers, got {text!r}")
    values = tuple(float(p) for p in parts)
    if not all(np.isfinite(values)):
        raise ValueError(f"{name} has non-finite numbers: {text!r}")
    return values


def _fmt(values: Iterable[float]) -> str:
    return ", ".join(f"{float(v):.6g}" for v in values)


def parse_row(row: dict, line: int) -> LesionRecord:
    """One CSV row -> LesionRecord; ValueError with the reason when malformed."""
    name = row["File_name"].strip()
    if "_" not in name or not name.lower().endswith(".png"):
        raise ValueError(f"File_name {name!r} is not <series>_<slice>.png")
    pts = np.asarray(_numbers(row["Measurement_coordinates"], 8, "Measurement_coordinates")).reshape(4, 2)
    size = tuple(int(v) for v in _numbers(row["Image_size"], 2, "Image_size"))
    rec = LesionRecord(
        file_name=name,
        patient_index=int(float(row["Patient_index"])),
        study_index=int(float(row["Study_index"])),
        series_id=int(float(row["Series_ID"])),
        key_slice_index=int(float(row["Key_slice_index"])),
        recist=pts,
        bbox=_numbers(row["Bounding_boxes"], 4, "Bounding_boxes"),
        diameters=_numbers(row["Lesion_diameters_Pixel_"], 2, "Lesion_diameters_Pixel_"),
        normalized_location=_numbers(row["Normalized_lesion_location"], 3, "Normalized_lesion_location"),
        lesion_type=int(float(row["Coarse_lesion_type"])),
        possibly_noisy=int(float(row["Possibly_noisy"])),
        slice_range=tuple(int(v) for v in _numbers(row["Slice_range"], 2, "Slice_range")),
        spacing=_numbers(row["Spacing_mm_px_"], 3, "Spacing_mm_px_"),
        image_size=size,
        window=_numbers(row["DICOM_windows"], 2, "DICOM_windows"),
        gender=row["Patient_gender"].strip(),
        age=float(row["Patient_age"]) if str(row["Patient_age"]).strip() else float("nan"),
        split=int(float(row["Train_Val_Test"])),
        line=line,
    )
    if rec.lesion_type not in LESION_TYPES:
        raise ValueError(f"Coarse_lesion_type {rec.lesion_type} is not one of {sorted(LESION_TYPES)}")
    recist.check_recist(pts, size, rec.describe())
    return rec


def format_row(rec: LesionRecord) -> dict:
    """LesionRecord -> CSV row (DeepLesion's number formatting: comma-separated lists)."""
    return {
        "File_name": rec.file_name,
        "Patient_index": rec.patient_index,
        "Study_index": rec.study_index,
        "Series_ID": rec.series_id,
        "Key_slice_index": rec.key_slice_index,
        "Measurement_coordinates": _fmt(np.asarray(rec.recist).ravel()),
        "Bounding_boxes": _fmt(rec.bbox),
        "Lesion_diameters_Pixel_": _fmt(rec.diameters),
        "Normalized_lesion_location": _fmt(rec.normalized_location),
        "Coarse_lesion_type": rec.lesion_type,
        "Possibly_noisy": rec.possibly_noisy,
        "Slice_range": _fmt(rec.slice_range),
        "Spacing_mm_px_": _fmt(rec.spacing),
        "Image_size": _fmt(rec.image_size),
        "DICOM_windows": _fmt(rec.window),
        "Patient_gender": rec.gender,
        "Patient_age": f"{rec.age:g}",
        "Train_Val_Test": rec.split,
    }


def write_dl_info(path: str, records: Sequence[LesionRecord]) -> None:
    """Writes DL_info.csv with DeepLesion's columns, one row per record, in the given order."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for rec in records:
            writer.writerow(format_row(rec))


def read_dl_info(path: str) -> tuple[list[LesionRecord], list[str]]:
    """(usable records, one message per unusable row). DataError if the file or columns are missing."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
        records, problems = [], []
        seen: dict[str, int] = {}
        for line, row in enumerate(reader, start=2):
            try:
                rec = parse_row(row, line)
            except (ValueError, TypeError, DataError) as e:
                problems.append(f"{path} line {line}: {e}")
                continue
            index = seen.get(rec.file_name, 0)
            seen[rec.file_name] = index + 1
            records.append(dataclasses.replace(rec, lesion_index=index))
    return records, problems


class DeepLesionSet:
    """A DeepLesion-layout root: its rows, and loaders for slices and masks."""

    def __init__(self, root: str):
        if not os.path.isdir(root):
            raise DataError(f"{root}: not a folder")
        self.root = root
        self.records, self.problems = read_dl_info(os.path.join(root, INFO_FILE))
        self._rows_per_slice: dict[str, int] = {}
        for rec in self.records:
            self._rows_per_slice[rec.file_name] = self._rows_per_slice.get(rec.file_name, 0) + 1

    @staticmethod
    def is_root(path: str) -> bool:
        return os.path.isfile(os.path.join(path, INFO_FILE))

    @property
    def has_masks(self) -> bool:
        return os.path.isdir(os.path.join(self.root, MASKS_DIR))

    def select(self, splits: Sequence[int] | None = None, types: Sequence[int] | None = None) -> list[LesionRecord]:
        """Records of the given splits (1 train, 2 val, 3 test) and coarse types (None: all)."""
        return [
            r for r in self.records
            if (splits is None or r.split in splits) and (types is None or r.lesion_type in types)
        ]

    def image_path(self, rec: LesionRecord) -> str:
        return os.path.join(self.root, IMAGES_DIR, rec.relative_path)

    def mask_path(self, rec: LesionRecord) -> str:
        return os.path.join(self.root, MASKS_DIR, rec.relative_path)

    def clean_path(self, rec: LesionRecord) -> str:
        return os.path.join(self.root, CLEAN_DIR, rec.relative_path)

    def load_slice(self, rec: LesionRecord, clean: bool = False) -> CTSlice:
        """The key slice in HU; DataError naming the file for 8-bit PNGs, NaN/inf, bad RECIST."""
        path = self.clean_path(rec) if clean else self.image_path(rec)
        hu = read_hu_png(path)
        check_finite(hu, path)
        recist.check_recist(rec.recist, hu.shape, f"{rec.describe()} on {path}")
        return CTSlice(
            hu=hu,
            source=path,
            spacing=(rec.spacing[1], rec.spacing[0]),
            window=rec.own_window,
            meta={"file_name": rec.file_name, "line": rec.line, "lesion_type": rec.lesion_type},
        )

    def rows_in_slice(self, rec: LesionRecord) -> int:
        return self._rows_per_slice.get(rec.file_name, 1)

    def load_mask(self, rec: LesionRecord) -> np.ndarray | None:
        """This lesion's ground-truth mask (uint8 0/1, slice size), or None without masks/."""
        return read_mask_file(self.mask_path(rec), rec, self.rows_in_slice(rec))


def read_mask_file(path: str, rec: LesionRecord, rows_in_slice: int) -> np.ndarray | None:
    """One lesion's 0/1 mask from a mask image (module docstring: binary, or labels when the
    slice has several rows); None if the file does not exist."""
    if not os.path.isfile(path):
        return None
    stored = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if stored is None:
        raise DataError(f"{path}: not a readable mask image")
    if stored.ndim == 3:
        stored = stored[..., 0]
    values = set(np.unique(stored).tolist())
    if rows_in_slice > 1 and max(values) > 1 and values - {0, 255}:
        return (stored == rec.lesion_index + 1).astype(np.uint8)
    return (stored > 0).astype(np.uint8)
