"""The reader seam: every input format is a source that yields CT items.

A `CTItem` is one CT image to work on, whatever its format: how to read it (HU, spacing, own
window, tags: a `CTSlice`), its name, and what the format knows beside the pixels (RECIST lesion
marks, coarse type, split, a ground-truth mask, a noise-free copy). Enhancement, segmentation,
evaluation, HNN training and fine-tuning all take a source's items; what needs lesions takes
the items that carry RECIST marks.

| source | input | one item per |
|--------|-------|--------------|
| `DeepLesionSource` | a DeepLesion-layout root (DL_info.csv, Images_png/, masks/, ...) | lesion row |
| `DicomSource` | a DICOM file, or a folder of them (series in slice order) | file |
| `PngSource` | a 16-bit HU PNG, or a folder of them | file |
| `VolumeSource` | a NIfTI / MetaImage volume, or a folder of them | axial slice |

`open_source` picks the first reader in `READERS` whose `matches(path)` says yes (a folder:
DeepLesion, then DICOM, PNG and volumes, the first that finds files). A new format is one new
reader class (`matches`, `items`) added to `READERS`.

Item names (output folders, mask files) are unique within a source: a DeepLesion row's
File_name stem and its index within the slice; a file's path relative to the input folder (the
file name for a single file) with '%', '/' and a leading '.' written as %25, %2F and %2E
(`item_name`), so no two files share a name (s1/a.dcm -> s1%2Fa.dcm) and the name gives the
path back; a volume slice adds %23<z> ('#' escaped) to its volume's name.

Reading is lazy: an item that cannot be read raises a DataError naming it when read, and the
caller reports it and goes on. Rows or files that cannot even be listed are the source's
`problems`, each named.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sgan_tf.data import ct, deeplesion, dicom, volumes
from sgan_tf.data.ct import CTSlice
from sgan_tf.errors import DataError, UserError

SUMMARY_NAME = "summary.json"  # never an item name: batch outputs keep their summary beside the items


@dataclasses.dataclass(frozen=True)
class SourceOptions:
    """What selects a source's items; each reader uses the options of its format."""

    splits: Sequence[int] | None = None  # DeepLesion rows of these Train_Val_Test values (None: all)
    lesion_types: Sequence[int] | None = None  # DeepLesion rows of these coarse types (None: all)
    allow_any_modality: bool = False  # DICOM files other than CT


@dataclasses.dataclass
class CTItem:
    """One CT image of a source (module docstring)."""

    item_id: str
    source: str  # the file it comes from, for messages and sidecars
    kind: str  # the source's format: deeplesion | dicom | png | volume
    read: Callable[[], CTSlice]
    recist: np.ndarray | None = None  # [4, 2] (x, y) slice pixels: long axis, then short axis
    lesion_type: int = -1
    split: int | None = None  # DeepLesion's Train_Val_Test: 1 train, 2 val, 3 test
    slice_id: str = ""  # items of one slice (its lesions) share it; masks are written per slice
    lesion_index: int = 0  # this lesion's index among its slice's
    lesions_in_slice: int = 1
    shape: tuple[int, int] | None = None  # the slice's (rows, columns) when known before reading
    read_truth: Callable[[], np.ndarray | None] | None = None  # ground-truth 0/1 mask, slice size
    truth_file: str | None = None  # the file that keeps the ground-truth mask (None: the source has none)
    read_clean: Callable[[], CTSlice] | None = None  # the noise-free copy (simulated sets)
    extra: dict = dataclasses.field(default_factory=dict)  # what sidecars record of it
    origin: Any = None  # what a writer of derived outputs needs: the DICOM file, or (the volume source,
    # the volume's path, z)
    label: str = ""  # how messages name it (default: the source file)

    def describe(self) -> str:
        return self.label or self.source

    def truth(self) -> np.ndarray | None:
        """The ground-truth mask (uint8 0/1, slice size), or None when the source has none."""
        return self.read_truth() if self.read_truth is not None else None


def item_name(relative: str) -> str:
    """The item name of a file at `relative` (module docstring): reversible, so unique."""
    name = relative.replace("%", "%25").replace(os.sep, "%2F").replace("/", "%2F")
    if name.startswith("."):
        name = "%2E" + name[1:]
    return "summary%2Ejson" if name == SUMMARY_NAME else name


class Source(abc.ABC):
    """A reader of one input path (module docstring)."""

    kind: str
    has_lesions = False  # whether items can carry RECIST marks (what segmentation and training need)

    def __init__(self, path: str, options: SourceOptions = SourceOptions()):
        self.path = path
        self.options = options
        self.problems: list[str] = []  # "<what>: <message>" for entries that are not items
        self.problem_prefix: str | None = None  # every problem starts with it (a re-listing forgets them)
        self.has_truth = False  # whether items can have ground-truth masks
        self.has_noise_free = False  # whether items have noise-free copies (simulated sets)

    @staticmethod
    @abc.abstractmethod
    def matches(path: str) -> bool:
        """Whether `path` is this reader's input."""

    @abc.abstractmethod
    def items(self) -> list[CTItem]:
        """The items, in order; UserError when the input holds none at all."""

    def lesions(self, splits: Sequence[int] | None = None) -> list[CTItem]:
        """The items with RECIST marks (of `splits`, None: all)."""
        return [i for i in self.items() if i.recist is not None and (splits is None or i.split in splits)]


class DeepLesionSource(Source):
    """DL_info.csv rows of a DeepLesion-layout root, optionally of some splits and types."""

    kind = "deeplesion"
    has_lesions = True

    def __init__(self, path: str, options: SourceOptions = SourceOptions()):
        super().__init__(path, options)
        self.dataset = deeplesion.DeepLesionSet(path)
        self.problems = list(self.dataset.problems)
        self.problem_prefix = f"{os.path.join(path, deeplesion.INFO_FILE)} line "
        self.has_truth = self.dataset.has_masks
        self.has_noise_free = os.path.isdir(os.path.join(path, deeplesion.CLEAN_DIR))

    @staticmethod
    def matches(path: str) -> bool:
        return os.path.isdir(path) and deeplesion.DeepLesionSet.is_root(path)

    def item(self, rec: deeplesion.LesionRecord) -> CTItem:
        ds = self.dataset
        return CTItem(
            item_id=rec.item_id, source=ds.image_path(rec), kind=self.kind, read=lambda: ds.load_slice(rec),
            recist=rec.recist, lesion_type=rec.lesion_type, split=rec.split, slice_id=rec.file_name,
            lesion_index=rec.lesion_index, lesions_in_slice=ds.rows_in_slice(rec), shape=tuple(rec.image_size),
            read_truth=(lambda: ds.load_mask(rec)) if self.has_truth else None,
            truth_file=ds.mask_path(rec) if self.has_truth else None,
            read_clean=lambda: ds.load_slice(rec, clean=True),
            extra={"file_name": rec.file_name, "csv_line": rec.line, "lesion_type": rec.lesion_type,
                   "lesion_type_name": rec.type_name, "split": rec.split},
            label=rec.describe(),
        )

    def items(self) -> list[CTItem]:
        splits, types = self.options.splits, self.options.lesion_types
        records = self.dataset.select(splits, types)
        if not records and self.dataset.records:
            raise UserError(f"--input {self.path}: none of its {len(self.dataset.records)} lesion rows is in --splits="
                            f"{list(splits or [])} / --lesion_types={list(types or [])}")
        if not records and not self.problems:
            raise UserError(f"--input {self.path}: {deeplesion.INFO_FILE} has no lesion rows")
        return [self.item(r) for r in records]


class _FileSource(Source):
    """A file, or the files of a folder found by `_find`, one item per file (`_item`)."""

    def __init__(self, path: str, options: SourceOptions = SourceOptions()):
        super().__init__(path, options)
        self.base = os.path.dirname(path) if os.path.isfile(path) else path

    @staticmethod
    @abc.abstractmethod
    def _find(folder: str) -> list[str]:
        """The source's files in a folder, in item order ([] for none)."""

    @classmethod
    def matches(cls, path: str) -> bool:
        return bool(cls._find(path)) if os.path.isdir(path) else cls._is_file(path)

    @staticmethod
    @abc.abstractmethod
    def _is_file(path: str) -> bool:
        """Whether a single file is this source's input."""

    def files(self) -> list[str]:
        return self._find(self.path) if os.path.isdir(self.path) else [self.path]

    def name(self, path: str) -> str:
        return item_name(os.path.relpath(path, self.base))


class DicomSource(_FileSource):
    """DICOM files: a file, or a folder's files by series in slice order (`dicom.sort_slices`)."""

    kind = "dicom"

    @staticmethod
    def _find(folder: str) -> list[str]:
        try:
            return dicom.sort_slices(dicom.find_dicom_files(folder))
        except DataError:  # none there
            return []

    @staticmethod
    def _is_file(path: str) -> bool:
        return os.path.isfile(path) and not path.lower().endswith(".png") and volumes.volume_format(path) is None

    def items(self) -> list[CTItem]:
        return [CTItem(self.name(p), p, self.kind, functools.partial(dicom.read_dicom, p, self.options.allow_any_modality),
                       slice_id=self.name(p), origin=p) for p in self.files()]


def _walk(folder: str, keep: Callable[[str], bool]) -> list[str]:
    """The files below `folder` (recursive, sorted) whose names `keep` accepts."""
    return sorted(os.path.join(d, f) for d, _, files in os.walk(folder) for f in files if keep(f))


def _read_png(path: str) -> CTSlice:
    hu = ct.read_hu_png(path)
    ct.check_finite(hu, path)
    return CTSlice(hu=hu, source=path)


class PngSource(_FileSource):
    """16-bit HU PNGs (value = HU + 32768): a file, or a folder's (recursive, sorted)."""

    kind = "png"

    @staticmethod
    def _find(folder: str) -> list[str]:
        return _walk(folder, lambda name: name.lower().endswith(".png"))

    @staticmethod
    def _is_file(path: str) -> bool:
        return os.path.isfile(path) and path.lower().endswith(".png")

    def items(self) -> list[CTItem]:
        return [CTItem(self.name(p), p, self.kind, functools.partial(_read_png, p), slice_id=self.name(p))
                for p in self.files()]


def slice_name(volume_name: str, z: int) -> str:
    """The item name of axial slice `z` of the volume named `volume_name` (module docstring)."""
    return f"{volume_name}%23{z}"


class VolumeSource(_FileSource):
    """NIfTI / MetaImage volumes (sgan_tf/data/volumes.py): one item per axial slice, inferior to
    superior; each item's `origin` is (this source, the volume's path, z): `volume(path)` gives
    the geometry a writer needs to put slices back (`volumes.write_like`)."""

    kind = "volume"

    @staticmethod
    def _find(folder: str) -> list[str]:
        return _walk(folder, lambda name: volumes.volume_format(name) is not None)

    @staticmethod
    def _is_file(path: str) -> bool:
        return os.path.isfile(path) and volumes.volume_format(path) is not None

    def __init__(self, path: str, options: SourceOptions = SourceOptions()):
        super().__init__(path, options)
        self._last: tuple[str, volumes.Volume] | None = None  # one volume in memory at a time

    def volume(self, path: str) -> volumes.Volume:
        """The volume at `path`, read once while its slices are worked on."""
        if self._last is None or self._last[0] != path:
            self._last = None
            self._last = (path, volumes.read_volume(path))
        return self._last[1]

    def _slice(self, path: str, z: int) -> CTSlice:
        volume = self.volume(path)
        return CTSlice(hu=volume.hu[z], source=f"{path}#{z}", spacing=volume.spacing,
                       meta={"slice_index": z, "slice_spacing_mm": volume.slice_spacing})

    def items(self) -> list[CTItem]:
        found = []
        for path in self.files():
            try:
                depth = len(self.volume(path).hu)
            except DataError as e:
                self.problems.append(str(e))
                continue
            name = self.name(path)
            found += [CTItem(slice_name(name, z), f"{path}#{z}", self.kind, functools.partial(self._slice, path, z),
                             slice_id=slice_name(name, z), origin=(self, path, z),
                             extra={"volume": path, "slice_index": z})
                      for z in range(depth)]
        return found


READERS: tuple[type[Source], ...] = (DeepLesionSource, DicomSource, PngSource, VolumeSource)


def open_source(path: str, options: SourceOptions = SourceOptions()) -> Source:
    """The source of an input path (module docstring); UserError when it is missing or holds
    nothing any reader takes."""
    if not os.path.exists(path):
        raise UserError(f"--input {path}: no such file or folder")
    for reader in READERS:
        if reader.matches(path):
            return reader(path, options)
    raise UserError(f"--input {path}: empty input folder (no {deeplesion.INFO_FILE}, DICOM, PNG, NIfTI or "
                    "MetaImage files)")


def open_lesion_source(path: str | None, flag: str, options: SourceOptions = SourceOptions()) -> Source:
    """`open_source` for work on lesions: DataError naming `flag` unless the input is a source
    whose items carry RECIST marks."""
    source = open_source(path, options) if path and os.path.exists(path) else None
    if source is None or not source.has_lesions:
        raise DataError(f"{flag}={path}: not a DeepLesion-layout root (no {deeplesion.INFO_FILE}), nor another "
                        "source with lesion marks")
    return source
