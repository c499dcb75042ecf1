"""CT volumes from NIfTI (.nii, .nii.gz) and MetaImage (.mha, .mhd) files, as axial slices in
one display convention, and written back in the source's format and geometry.

**The axial convention (the one stated for the project).** `Volume.hu[z, row, column]`:

- z runs from inferior to superior (feet to head),
- rows from anterior to posterior (the top of the image is the patient's front),
- columns from the patient's right to left (the patient's right on the viewer's left),

as radiologists view axial slices, and as a standard axial DICOM series (ImageOrientationPatient
1\\0\\0\\0\\1\\0) stored in ascending z, the order `dicom.sort_slices` gives. In DICOM's patient
coordinates (LPS: +x to the patient's left, +y posterior, +z superior) the column, row and slice
indices grow along +x, +y and +z. Whatever the axis order and directions on disk, the voxels are
only permuted and flipped into this order (nibabel's orientation utilities), never resampled:
an oblique volume gets, for each of the three directions, the voxel axis closest to it, and
`Volume.affine` keeps its exact geometry.

**Geometry.** `Volume.affine` maps (column, row, slice, 1) of `hu` to the voxel centre in LPS mm.
NIfTI's world is RAS (nibabel's `affine`: the sform, else the qform), so x and y flip sign; a
NIfTI with neither (qform_code = sform_code = 0) is refused, since left cannot be told from
right; spatial units of metres or microns are converted to mm. MetaImage's world is LPS
already (sgan_tf/data/metaimage.py).

**Reading** (`read_volume`): scaling (NIfTI scl_slope / scl_inter) applied, HU as float32. Only
3-D volumes: a 4-D (or 5-D ...) file is squeezed when its extra dimensions are 1, otherwise,
like a 2-D file, refused. The voxel count is checked against `limits.MAX_VOXELS` from the
header, before any voxel is read. Every unusable file (unknown extension, missing, not
NIfTI/MetaImage, truncated or corrupt, not 3-D, no orientation, singular geometry, complex or
RGB voxels, NaN/inf) is a DataError naming the file.

**Writing** (`write_like`, `write_mask_like`): an array of `hu`'s shape, put back into the
on-disk axis order and written in the source's format family (a .nii.gz source may be written
as .nii and vice versa, .mha as .mhd) with the source's geometry: for NIfTI the source header
(qform, sform and their codes, units, descriptions) with the new data type and no scaling, for
MetaImage the source header's geometry and fields. HU are stored as int16 when their rounded
values fit, else as float32; masks as uint8 labels (NIfTI intent 'label'). Writers never
overwrite an existing file unless `overwrite`, and write safely (sgan_tf/outputs.py). A 4-D
source with a singleton dimension is written back as 3-D.
"""

from __future__ import annotations

import dataclasses
import os

import nibabel as nib
import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, io_orientation, ornt_transform

from sgan_tf.data import limits, metaimage
from sgan_tf.data.ct import check_finite
from sgan_tf.errors import DataError
from sgan_tf.outputs import replacing

NIFTI = "NIfTI"
METAIMAGE = "MetaImage"
FORMATS = {".nii.gz": NIFTI, ".nii": NIFTI, ".mha": METAIMAGE, ".mhd": METAIMAGE}
AXIAL_CODES = ("L", "P", "S")  # where column, row and slice indices grow (module docstring)
LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_MM_PER_UNIT = {"meter": 1000.0, "mm": 1.0, "micron": 0.001, "unknown": 1.0}
_NIFTI_CLASSES = (nib.Nifti1Image, nib.Nifti2Image)


@dataclasses.dataclass(frozen=True)
class OnDisk:
    """How the source file stored the volume: what the writers need to write an array back the
    same way (format, voxel axis order and directions, header)."""

    kind: str  # NIFTI or METAIMAGE
    orientation: np.ndarray  # nibabel orientation (io_orientation) of the disk voxel axes (i, j, k)
    nifti: nib.Nifti1Header | nib.Nifti2Header | None = None
    meta: metaimage.Header | None = None  # 3-D


@dataclasses.dataclass
class Volume:
    """A CT volume in HU as axial slices (module docstring), with its source's geometry."""

    hu: np.ndarray  # float32 [Z, Y, X]
    affine: np.ndarray  # [4, 4]: (column, row, slice, 1) -> LPS mm
    source: str
    on_disk: OnDisk = dataclasses.field(repr=False)

    @property
    def spacing(self) -> tuple[float, float]:
        """(row, column) mm: the distance between neighbouring rows, and between columns."""
        return float(np.linalg.norm(self.affine[:3, 1])), float(np.linalg.norm(self.affine[:3, 0]))

    @property
    def slice_spacing(self) -> float:
        return float(np.linalg.norm(self.affine[:3, 2]))


def volume_extension(path: str) -> str | None:
    """The file name's volume extension (a key of FORMATS, lower case), or None."""
    name = path.lower()
    return next((ext for ext in FORMATS if name.endswith(ext)), None)


def volume_format(path: str) -> str | None:
    """NIFTI or METAIMAGE by the file name's extension (any case), or None."""
    ext = volume_extension(path)
    return FORMATS[ext] if ext else None


def _three_d(shape: tuple[int, ...], path: str) -> tuple[int, int, int]:
    """The 3-D shape, trailing singleton dimensions dropped; DataError for 2-D or real 4-D."""
    dims = tuple(int(n) for n in shape)
    while len(dims) > 3 and dims[-1] == 1:
        dims = dims[:-1]
    if len(dims) != 3:
        raise DataError(f"{path}: a {len(dims)}-D image ({'x'.join(map(str, shape))}); a 3-D CT volume is needed")
    return dims  # type: ignore[return-value]


def _read_nifti(path: str) -> tuple[np.ndarray, np.ndarray, nib.Nifti1Header | nib.Nifti2Header]:
    """(voxels [i, j, k] float32 scaled, affine LPS mm, the header)."""
    try:
        image = nib.load(path, mmap=False)
    except Exception as e:  # nibabel raises assorted types on corrupt headers
        raise DataError(f"{path}: not a readable NIfTI file: {e}") from e
    if not isinstance(image, _NIFTI_CLASSES):
        raise DataError(f"{path}: not a NIfTI image (nibabel read it as {type(image).__name__})")
    header = image.header
    shape = _three_d(header.get_data_shape(), path)
    limits.check_voxels(shape, path)
    dtype = header.get_data_dtype()
    if dtype.kind not in "iuf" or dtype.fields is not None:
        raise DataError(f"{path}: voxel type {dtype} is not a real number (complex or RGB?)")
    if int(header["qform_code"]) == 0 and int(header["sform_code"]) == 0:
        raise DataError(f"{path}: no orientation (qform_code and sform_code are both 0): left and right "
                        "cannot be told apart; fix the header (e.g. set the sform) and retry")
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow shows up as inf, reported by the caller
            voxels = image.get_fdata(dtype=np.float32).reshape(shape)
    except Exception as e:  # EOFError, zlib.error, OSError "Expected n bytes", ...
        raise DataError(f"{path}: cannot read the voxels (truncated or corrupt?): {e}") from e
    mm = _MM_PER_UNIT.get(header.get_xyzt_units()[0], 1.0)
    affine = LPS_FROM_RAS @ np.diag([mm, mm, mm, 1.0]) @ image.affine
    return voxels, affine, header.copy()


def _read_metaimage(path: str) -> tuple[np.ndarray, np.ndarray, metaimage.Header]:
    """(voxels [i, j, k], affine LPS mm, the 3-D header)."""
    array, header = metaimage.read(path)
    shape = _three_d(tuple(reversed(array.shape)), path)
    if array.dtype.kind not in "iuf":
        raise DataError(f"{path}: voxel type {array.dtype} is not a real number")
    direction = np.asarray(header.direction)[:3, :3]
    if header.ndim > 3 and not np.allclose(np.asarray(header.direction)[:3, 3:], 0):
        raise DataError(f"{path}: the spatial axes mix with dimension 4 in TransformMatrix")
    header = metaimage.Header(header.spacing[:3], header.origin[:3], tuple(map(tuple, direction.tolist())),
                              header.compressed, header.fields)
    return array.T.reshape(shape), header.affine(), header


def read_volume(path: str) -> Volume:
    """A NIfTI or MetaImage CT volume -> Volume in HU, axial convention (module docstring)."""
    kind = volume_format(path)
    if kind is None:
        raise DataError(f"{path}: unknown volume file type; expected {', '.join(FORMATS)}")
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    if kind == NIFTI:
        voxels, affine, nifti = _read_nifti(path)
        meta = None
    else:
        voxels, affine, meta = _read_metaimage(path)
        nifti = None
    if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise DataError(f"{path}: singular geometry (a voxel size or direction is zero)")
    orientation = io_orientation(LPS_FROM_RAS @ affine)
    to_axial = ornt_transform(orientation, axcodes2ornt(AXIAL_CODES))
    axial = apply_orientation(voxels, to_axial)  # [column, row, slice]
    hu = np.ascontiguousarray(axial.transpose(2, 1, 0), dtype=np.float32)
    check_finite(hu, path)
    on_disk = OnDisk(kind, orientation, nifti, meta)
    return Volume(hu=hu, affine=affine @ inv_ornt_aff(to_axial, voxels.shape), source=path, on_disk=on_disk)


def _to_disk(volume: Volume, axial: np.ndarray) -> np.ndarray:
    """An array in the axial convention -> the source's voxel order [i, j, k]."""
    back = ornt_transform(axcodes2ornt(AXIAL_CODES), volume.on_disk.orientation)
    return np.ascontiguousarray(apply_orientation(axial.transpose(2, 1, 0), back))


def _write(volume: Volume, axial: np.ndarray, path: str, overwrite: bool, mask: bool) -> None:
    """Writes `axial` (already typed) in the source's format and geometry (module docstring)."""
    on_disk = volume.on_disk
    if volume_format(path) != on_disk.kind:
        raise DataError(f"{path}: the source {volume.source} is {on_disk.kind}; write it as "
                        f"{' or '.join(ext for ext, kind in FORMATS.items() if kind == on_disk.kind)}")
    voxels = _to_disk(volume, axial)
    if on_disk.kind == METAIMAGE:
        metaimage.write(path, voxels.T, on_disk.meta, overwrite)
        return
    header = on_disk.nifti.copy()
    header.set_data_dtype(voxels.dtype)
    header.set_slope_inter(1.0, 0.0)
    header["cal_min"] = header["cal_max"] = 0
    if mask:
        header.set_intent("label")
    image_class = nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
    image = image_class(voxels, header.get_best_affine(), header=header)
    with replacing(path, overwrite) as temp:
        nib.save(image, temp)


def _check_shape(volume: Volume, array: np.ndarray) -> None:
    if array.shape != volume.hu.shape:
        raise ValueError(f"an array of shape {array.shape} for the volume {volume.source} of shape {volume.hu.shape}")


def write_like(volume: Volume, hu_axial: np.ndarray, path: str, overwrite: bool = False) -> None:
    """Writes HU [Z, Y, X] (axial convention, `volume.hu`'s shape) to `path` in the format and
    geometry of `volume`'s source: int16 when the rounded values fit, else float32."""
    hu_axial = np.asarray(hu_axial)
    _check_shape(volume, hu_axial)
    check_finite(hu_axial, path)
    rounded = np.rint(hu_axial)
    fits = rounded.min() >= np.iinfo(np.int16).min and rounded.max() <= np.iinfo(np.int16).max
    _write(volume, rounded.astype(np.int16) if fits else hu_axial.astype(np.float32), path, overwrite, mask=False)


def write_mask_like(volume: Volume, mask_axial: np.ndarray, path: str, overwrite: bool = False) -> None:
    """Writes a label mask [Z, Y, X] (axial convention, integers 0..255) as uint8 to `path` in
    the format and geometry of `volume`'s source."""
    mask_axial = np.asarray(mask_axial)
    _check_shape(volume, mask_axial)
    labels = mask_axial.dtype == bool or (
        mask_axial.dtype.kind in "iu" and mask_axial.min() >= 0 and mask_axial.max() <= 255)
    if not labels:
        raise ValueError(f"a label mask holds integers 0..255, got {mask_axial.dtype} values")
    _write(volume, mask_axial.astype(np.uint8), path, overwrite, mask=True)
