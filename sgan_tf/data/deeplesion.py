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

Rows that cannot be used (bytes that are not UTF-8, malformed or out-of-range numbers, a
File_name that is not a plain file name, RECIST points outside Image_size, zero-length axes)
are reported in `DeepLesionSet.problems` with their CSV line and left out; the rest of the set
goes on. A CSV without the required columns is refused as a whole. Every path made from a row
stays inside its folder of the set (`outputs.inside`); symlinks the set's owner placed in the
set are followed.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
from collections.abc import Iterable, Sequence

import numpy as np

from sgan_tf import outputs
from sgan_tf.data import limits, recist
from sgan_tf.data.ct import CTSlice, Window, check_finite, read_hu_png, read_image_file
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


MAX_INDEX = 2**31 - 1  # patient, study, series and slice numbers


def _integers(text: str, count: int, name: str, lo: int = 0, hi: int = MAX_INDEX) -> tuple[int, ...]:
    """`count` whole numbers in [lo, hi] (written as integers or floats such as '3.0')."""
    values = _numbers(text, count, name)
    if not all(v == int(v) and lo <= v <= hi for v in values):
        raise ValueError(f"{name} needs {count} whole number(s) in [{lo}, {hi}], got {text!r}")
    return tuple(int(v) for v in values)


def _integer(text: str, name: str, lo: int = 0, hi: int = MAX_INDEX) -> int:
    return _integers(text, 1, name, lo, hi)[0]


def _fmt(values: Iterable[float]) -> str:
    return ", ".join(f"{float(v):.6g}" for v in values)


def check_file_name(name: str) -> None:
    """ValueError unless `name` is a plain `<series>_<slice>.png` file name: no folders, no
    '..', so the slice, its mask and every output named after it stay inside their folders."""
    series, _, slice_file = name.rpartition("_")
    plain = not any(c in name for c in "/\\\0") and series not in ("", ".", "..")
    if not plain or not slice_file.lower().endswith(".png"):
        raise ValueError(f"File_name {name!r} is not <series>_<slice>.png (a plain file name: no folders, no '..')")


def parse_row(row: dict, line: int) -> LesionRecord:
    """One CSV row -> LesionRecord; ValueError with the reason when malformed or out of range."""
    name = row["File_name"].strip()
    check_file_name(name)
    pts = np.asarray(_numbers(row["Measurement_coordinates"], 8, "Measurement_coordinates")).reshape(4, 2)
    size = _integers(row["Image_size"], 2, "Image_size", lo=1)
    limits.check_pixels(size[1], size[0], f"Image_size {row['Image_size']!r}")
    spacing = _numbers(row["Spacing_mm_px_"], 3, "Spacing_mm_px_")
    if min(spacing) <= 0:
        raise ValueError(f"Spacing_mm_px_ needs 3 positive numbers (mm), got {row['Spacing_mm_px_']!r}")
    age_text = str(row["Patient_age"]).strip()
    age = float(age_text) if age_text else float("nan")
    if not (np.isnan(age) or 0 <= age <= 200):
        raise ValueError(f"Patient_age {age_text!r} is not an age in years")
    rec = LesionRecord(
        file_name=name,
        patient_index=_integer(row["Patient_index"], "Patient_index"),
        study_index=_integer(row["Study_index"], "Study_index"),
        series_id=_integer(row["Series_ID"], "Series_ID"),
        key_slice_index=_integer(row["Key_slice_index"], "Key_slice_index"),
        recist=pts,
        bbox=_numbers(row["Bounding_boxes"], 4, "Bounding_boxes"),
        diameters=_numbers(row["Lesion_diameters_Pixel_"], 2, "Lesion_diameters_Pixel_"),
        normalized_location=_numbers(row["Normalized_lesion_location"], 3, "Normalized_lesion_location"),
        lesion_type=_integer(row["Coarse_lesion_type"], "Coarse_lesion_type", lo=-MAX_INDEX),
        possibly_noisy=_integer(row["Possibly_noisy"], "Possibly_noisy", hi=1),
        slice_range=_integers(row["Slice_range"], 2, "Slice_range"),
        spacing=spacing,
        image_size=size,
        window=_numbers(row["DICOM_windows"], 2, "DICOM_windows"),
        gender=row["Patient_gender"].strip(),
        age=age,
        split=_integer(row["Train_Val_Test"], "Train_Val_Test", lo=-MAX_INDEX),
        line=line,
    )
    if rec.lesion_type not in LESION_TYPES:
        raise ValueError(f"Coarse_lesion_type {rec.lesion_type} is not one of {sorted(LESION_TYPES)}")
    if rec.split not in SPLITS:
        raise ValueError(f"Train_Val_Test {rec.split} is not one of {sorted(SPLITS)}")
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
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    for rec in records:
        writer.writerow(format_row(rec))
    outputs.write_file(path, text.getvalue())


_UNDECODABLE = re.compile(r"[\udc80-\udcff]")  # bytes that are not UTF-8, as surrogateescape keeps them


def _row_problem(row: dict, columns: int) -> str | None:
    """Why a raw CSV row cannot be parsed at all (missing fields, bytes that are not UTF-8)."""
    if None in row.values():
        return f"has {sum(v is not None for k, v in row.items() if k is not None)} fields, {columns} expected"
    for key, value in row.items():
        if key is not None and (match := _UNDECODABLE.search(value)):
            return f"{key} is not UTF-8 text (byte 0x{ord(match.group()) - 0xDC00:02x})"
    return None


def read_dl_info(path: str) -> tuple[list[LesionRecord], list[str]]:
    """(usable records, one message per unusable row, naming the file and line). DataError if
    the file or columns are missing. A row is unusable when it cannot be decoded as UTF-8 CSV,
    a field is malformed or out of range, or it names the same item as an earlier row."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        reader = csv.DictReader(f)
        try:
            fieldnames = reader.fieldnames or []
        except csv.Error as e:
            raise DataError(f"{path} line 1: not a CSV header: {e}") from e
        missing = [c for c in COLUMNS if c not in fieldnames]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
        records, problems = [], []
        seen: dict[str, int] = {}
        stems: dict[str, tuple[str, int]] = {}
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:  # e.g. a field over the csv module's size limit
                problems.append(f"{path} line {start}: not valid CSV: {e}")
                continue
            line = reader.line_num
            try:
                if problem := _row_problem(row, len(fieldnames)):
                    raise ValueError(problem)
                rec = parse_row(row, line)
                stem = os.path.splitext(rec.file_name)[0]
                other, other_line = stems.setdefault(stem, (rec.file_name, line))
                if other != rec.file_name:
                    raise ValueError(f"File_name {rec.file_name!r} names the same item as line {other_line}'s {other!r}")
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

    def _path(self, folder: str, rec: LesionRecord) -> str:
        """<root>/<folder>/<series>/<slice>; DataError naming the row unless it stays in that folder."""
        return outputs.inside(os.path.join(self.root, folder), rec.relative_path, rec.describe())

    def image_path(self, rec: LesionRecord) -> str:
        return self._path(IMAGES_DIR, rec)

    def mask_path(self, rec: LesionRecord) -> str:
        return self._path(MASKS_DIR, rec)

    def clean_path(self, rec: LesionRecord) -> str:
        return self._path(CLEAN_DIR, rec)

    def load_slice(self, rec: LesionRecord, clean: bool = False) -> CTSlice:
        """The key slice in HU; DataError naming the file for 8-bit PNGs, NaN/inf, a size other
        than Image_size, bad RECIST."""
        path = self.clean_path(rec) if clean else self.image_path(rec)
        hu = read_hu_png(path)
        if hu.shape != tuple(rec.image_size):
            raise DataError(f"{rec.describe()} on {path}: the slice is {hu.shape[1]}x{hu.shape[0]}, "
                            f"Image_size says {rec.image_size[1]}x{rec.image_size[0]}")
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
        return read_mask_file(self.mask_path(rec), rec.lesion_index, self.rows_in_slice(rec),
                              tuple(rec.image_size), f"Image_size of {rec.describe()}")


def read_mask_file(path: str, lesion_index: int, rows_in_slice: int, shape: tuple[int, int] | None = None,
                   shape_from: str = "its slice") -> np.ndarray | None:
    """Lesion `lesion_index`'s 0/1 mask from a mask image (module docstring: binary, or labels
    when the slice has several rows), checked against the slice `shape` (known from
    `shape_from`) when given; None if the file does not exist."""
    if not os.path.isfile(path):
        return None
    stored = read_image_file(path)
    if stored.ndim == 3:
        stored = stored[..., 0]
    if shape is not None and stored.shape != tuple(shape):
        raise DataError(f"{path}: the mask is {stored.shape[1]}x{stored.shape[0]}, "
                        f"{shape_from} says {shape[1]}x{shape[0]}")
    values = set(np.unique(stored).tolist())
    if rows_in_slice > 1 and max(values) > 1 and values - {0, 255}:
        return (stored == lesion_index + 1).astype(np.uint8)
    return (stored > 0).astype(np.uint8)
