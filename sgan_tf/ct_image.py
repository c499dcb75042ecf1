"""`load_ct`: one CT (a slice or an axial volume) from any file the readers take, as HU with the
geometry that writing it back needs; `CTImage.save` writes a result in the input's format.

What `load_ct` reads, through the reader seam (sgan_tf/data/sources.py), so the same files
and the same checks as the binaries:

| input | `hu` | `affine` | `save(path)` writes |
|-------|------|----------|---------------------|
| a NIfTI (.nii, .nii.gz) or MetaImage (.mha, .mhd) volume | [Z, H, W] | the volume's | the same format, header and geometry (`volumes.write_like`) |
| a folder holding one DICOM series | [Z, H, W] | from the slices' positions | a derived series: one file per slice in the folder `path` (`dicom.write_derived`) |
| a DICOM file | [H, W] | from its position (slice axis: the unit normal) | one derived slice at `path` |
| a 16-bit HU PNG (value = HU + 32768) | [H, W] | None | a 16-bit HU PNG |

`hu` is float32 in the axial convention of sgan_tf/data/volumes.py: z from inferior to superior,
rows from anterior to posterior, columns from the patient's right to left (DICOM series: in
`dicom.sort_slices` order, along the slice normal). `affine` maps (column, row, slice, 1) to
LPS mm; for a DICOM series its slice axis is the mean step between the first and the last
slice. A folder of several volumes or series, a folder of PNGs and DeepLesion roots are the
binaries' (`enhance_main --input=...`) and a UserError here. Unreadable files raise a
DataError naming the file. Writers never overwrite an existing file unless `overwrite`.

>>> from pydicom.data import get_testdata_file
>>> ct = load_ct(get_testdata_file("CT_small.dcm"))  # a 128 x 128 CT slice shipped with pydicom
>>> ct
CTImage(dicom [128, 128], spacing (0.661468, 0.661468) mm, source CT_small.dcm)
>>> float(ct.hu.min()), float(ct.hu.max())
(-896.0, 1167.0)
>>> import os, tempfile
>>> from sgan_tf import Enhancer
>>> enhanced = Enhancer.pretrained()(ct)  # a CTImage on the same grid
>>> enhanced.save(os.path.join(tempfile.mkdtemp(), "enhanced.dcm"))  # a derived slice of a new series
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from pydicom.uid import generate_uid

from sgan_tf import variants
from sgan_tf.data import ct as ct_lib
from sgan_tf.data import dicom, sources, volumes
from sgan_tf.data.ct import CTSlice, Window
from sgan_tf.errors import DataError, UserError
from sgan_tf.outputs import check_new_file, check_writable


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class CTImage:
    """HU and geometry of one CT (module docstring); `save` writes it in its source's format."""

    hu: np.ndarray  # float32 [H, W] (a slice) or [Z, H, W] (axial slices, inferior to superior)
    spacing: tuple[float, float] | None  # (row, column) mm
    affine: np.ndarray | None  # [4, 4]: (column, row, slice, 1) -> LPS mm; None: not placed
    source: str  # the file or folder read
    kind: str  # the source's format (sources.*.kind): volume, dicom or png
    window: Window | None = None  # the image's own window (DICOM), None: it has none
    volume: volumes.Volume | None = None  # a volume source: what writing it back needs
    dicom_files: tuple[str, ...] = ()  # a DICOM source: its files, in slice order
    description: str = variants.DERIVED_DESCRIPTION  # the SeriesDescription of a derived DICOM series

    @property
    def shape(self) -> tuple[int, ...]:
        return self.hu.shape

    def __repr__(self) -> str:
        spacing = f"({self.spacing[0]:g}, {self.spacing[1]:g}) mm" if self.spacing else "unknown"
        return (f"CTImage({self.kind} [{', '.join(map(str, self.shape))}], spacing {spacing}, "
                f"source {os.path.basename(self.source.rstrip(os.sep))})")

    def with_hu(self, hu: np.ndarray, description: str | None = None) -> "CTImage":
        """This CT with other HU of the same shape (an enhanced copy), and optionally the
        SeriesDescription its derived DICOM gets."""
        hu = np.asarray(hu, np.float32)
        if hu.shape != self.shape:
            raise ValueError(f"HU of shape {hu.shape} for a CT of shape {self.shape}")
        ct_lib.check_finite(hu, self.source)
        return dataclasses.replace(self, hu=hu, description=description or self.description)

    def save(self, path: str, overwrite: bool = False, deidentify: bool = False) -> None:
        """Writes `hu` at `path` in the source's format and geometry (module docstring): a
        volume as a volume file of its format family, a DICOM slice as a derived .dcm file, a
        DICOM series as a derived series in the folder `path` (`deidentify`: dicom.write_derived's
        de-identification), a PNG slice as a 16-bit HU PNG."""
        if self.volume is not None:
            volumes.write_like(self.volume, self.hu, path, overwrite)
        elif self.dicom_files:
            self._save_dicom(path, overwrite, deidentify)
        else:
            if not path.lower().endswith(".png"):
                raise UserError(f"{path}: {self.source} is a PNG slice; save it as .png")
            check_new_file(path, overwrite)
            ct_lib.write_hu_png(path, self.hu)

    def _save_dicom(self, path: str, overwrite: bool, deidentify: bool) -> None:
        if volumes.volume_format(path) is not None or path.lower().endswith(".png"):
            raise UserError(f"{path}: {self.source} is DICOM; save it as DICOM (a .dcm file, or a folder for a series)")
        series_uid = generate_uid()
        if self.hu.ndim == 2:
            targets = [path]
        else:
            check_writable(path)
            targets = [os.path.join(path, f"{z:04d}.dcm") for z in range(len(self.hu))]
        for target in targets:
            check_new_file(target, overwrite)  # before any slice is written
        for source, image, target in zip(self.dicom_files, self.hu if self.hu.ndim == 3 else [self.hu], targets):
            dicom.write_derived(source, image, target, series_uid, self.description, deidentify=deidentify,
                                overwrite=overwrite)


def _dicom_affine(slices: list[CTSlice]) -> np.ndarray | None:
    """(column, row, slice, 1) -> LPS mm from the slices' position, orientation and spacing;
    None when a slice lacks one of them."""
    positions = [s.meta.get("ImagePositionPatient") for s in slices]
    orientation = slices[0].meta.get("ImageOrientationPatient")
    spacing = slices[0].spacing
    if orientation is None or spacing is None or any(p is None for p in positions):
        return None
    along_row, along_column = np.array(orientation[:3]), np.array(orientation[3:])
    first, last = np.array(positions[0]), np.array(positions[-1])
    step = (last - first) / (len(slices) - 1) if len(slices) > 1 else np.cross(along_row, along_column)
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2], affine[:3, 3] = along_row * spacing[1], along_column * spacing[0], \
        step, first
    return affine


def _load_dicom(source: sources.DicomSource) -> CTImage:
    items = source.items()
    slices = [item.read() for item in items]
    series = {s.meta.get("SeriesInstanceUID") for s in slices}
    if len(series) > 1:
        raise UserError(f"{source.path}: {len(series)} DICOM series; load_ct reads one (name its folder or a file)")
    shapes = {s.hu.shape for s in slices}
    if len(shapes) > 1:
        raise DataError(f"{source.path}: slices of different sizes ({', '.join(sorted(map(str, shapes)))})")
    hu = slices[0].hu if len(slices) == 1 else np.stack([s.hu for s in slices])
    return CTImage(hu, slices[0].spacing, _dicom_affine(slices), source.path, source.kind, slices[0].window,
                   dicom_files=tuple(item.source for item in items))


def load_ct(path: str, allow_any_modality: bool = False) -> CTImage:
    """One CT from `path` (module docstring): HU as float32 with its geometry. DICOM files of
    a modality other than CT are refused unless `allow_any_modality`."""
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file or folder")
    source = sources.open_source(path, sources.SourceOptions(allow_any_modality=allow_any_modality))
    if isinstance(source, sources.VolumeSource):
        files = source.files()
        if len(files) != 1:
            raise UserError(f"{path}: {len(files)} volumes; load_ct reads one (name its file)")
        volume = source.volume(files[0])
        return CTImage(volume.hu, volume.spacing, volume.affine, files[0], source.kind, volume=volume)
    if isinstance(source, sources.DicomSource):
        return _load_dicom(source)
    if isinstance(source, sources.PngSource) and os.path.isfile(path):
        (item,) = source.items()
        return CTImage(item.read().hu, None, None, path, source.kind)
    raise UserError(f"{path}: a {source.kind} input of several images; load_ct reads one volume, one DICOM series "
                    "or one image (the binaries take whole inputs: enhance_main --input=...)")
