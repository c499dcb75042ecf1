"""DICOM CT slices: read one file to HU, find and order a series, write a derived (enhanced) series.

**Reading (`read_dicom`).** One single-frame grayscale image per file:

- HU = RescaleSlope * stored + RescaleIntercept, computed in float64 and returned as float32
  (slope 1, intercept 0 when the tags are absent). PixelSpacing gives the (row, column) pixel
  size in mm; WindowCenter/WindowWidth give the image's own `Window` (the first value when
  multi-valued; an unusable window, e.g. width <= 0, counts as absent).
- MONOCHROME1 ("the lowest value is shown white"). In the DICOM grayscale pipeline this
  inversion is a display step applied *after* the rescale (PS3.3 C.7.6.3.1.2, PS3.4 grayscale
  pipeline), so for CT the rescaled values already are HU, where higher means denser; they are
  returned unchanged (inverting them would turn air into bone). For other modalities (read with
  `allow_any_modality=True`) the values are no physical unit, and MONOCHROME1 means higher =
  less dense; they are inverted over the representable stored range so that higher = denser:
  stored' = smin + smax - stored before the rescale (smin, smax from BitsStored and
  PixelRepresentation), and the own window is mirrored alike. `meta["inverted"]` says so.
- Multi-frame files (NumberOfFrames > 1, or enhanced multi-frame objects with functional
  groups) are refused: their geometry and rescale live in per-frame sequences. Export the
  series as classic single-frame files (one slice per file).
- Compressed transfer syntaxes are decoded by pydicom's plugins: Pillow (a dependency of
  scikit-image) handles JPEG baseline and JPEG 2000, pydicom itself RLE; JPEG lossless and
  JPEG-LS need the optional decoders, `pip install "sgan-tf[dicom]"` (pylibjpeg with its
  libjpeg, openjpeg and rle plugins). A missing decoder is a `DataError` naming the file, the
  transfer syntax and that command.
- Only Modality CT is accepted (its rescaled values are HU) unless `allow_any_modality`.
Every unusable file (not DICOM, truncated, no PixelData, wrong modality, multi-frame,
non-grayscale, undecodable, malformed rescale, NaN/inf after the rescale, Rows x Columns over
the pixel cap of sgan_tf/data/limits.py, checked before the pixels are read) is a `DataError`
naming the file.

**Series (`find_dicom_files`, `sort_slices`).** Files are found recursively by
the 'DICM' marker after the 128-byte preamble or a .dcm extension (DICOMDIR index files are
skipped). Slices are grouped by SeriesInstanceUID and ordered along the slice normal
(ImagePositionPatient projected on the cross product of the ImageOrientationPatient
direction cosines), else by InstanceNumber, else by path (`sources.DicomSource` reads them
lazily, one item per file, so a batch reports a bad file and goes on).

**Derived series (`write_derived`).** A copy of the source slice with the enhanced image:
new SOPInstanceUID, the caller's SeriesInstanceUID (one per derived series), ImageType
DERIVED\\SECONDARY, DerivationDescription naming sgan-tf, the caller's SeriesDescription,
pixels as int16 HU (RescaleSlope 1, RescaleIntercept 0, MONOCHROME2) in Explicit VR Little
Endian, the window kept. Pixel padding, min/max pixel value and Modality LUT tags are dropped,
since they describe the source's stored values. A source whose values `read_dicom` inverted
(non-CT MONOCHROME1) gets its window mirrored the same way, so the derived slice displays as
the source did and reads back to the values written. Big-endian sources (a retired encoding)
are refused. Like every writer, it refuses an existing file unless `overwrite` and writes
safely (sgan_tf/outputs.py).

Geometry: the image covers a region of the source slice edge to edge: the whole slice, or an
ROI (`recist.RoiBox`, in source pixels; it may reach past the slice border, where the crop
holds air), enlarged by any zoom (e.g. `Enhancer`'s). Source pixel (c, r) has its centre at
IPP + c * dc * X + r * dr * Y (IPP = ImagePositionPatient, X and Y the row and column direction
cosines of ImageOrientationPatient, dr and dc the row and column PixelSpacing). An H x W image
of a region of R x C source pixels whose first pixel is (x0, y0) has pixels of
sr = R / H by sc = C / W source pixels, so PixelSpacing becomes (dr * sr, dc * sc), and its
first pixel's centre lies half an output pixel inside the region's corner edge
(x0 - 0.5, y0 - 0.5): ImagePositionPatient = IPP + (x0 - 0.5 + sc / 2) * dc * X +
(y0 - 0.5 + sr / 2) * dr * Y. Orientation, slice position and frame of reference are the
source's. A source without PixelSpacing (or with a position but no orientation) cannot be
placed: resizing or cropping it is a DataError. DerivationDescription records the region and
the zoom.

Patient identity, by default (`deidentify=False`): all patient, study and frame-of-reference
tags are kept, StudyInstanceUID and FrameOfReferenceUID included, so a PACS files the derived
series with the original study and overlays it on the original; a SourceImageSequence item
references the source slice.

With `deidentify=True`:
- blanked (kept empty, as the modules require them): `DEIDENTIFY_BLANK`, i.e. PatientName,
  PatientID, PatientBirthDate, PatientSex, ReferringPhysicianName, AccessionNumber, StudyID,
  StudyDate, StudyTime, ContentDate, ContentTime;
- removed: `DEIDENTIFY_REMOVE`, i.e. the other patient data (birth time, age, size, weight,
  address, phone numbers, other IDs and names, medical record locator, ethnic group,
  occupation, history, comments, alerts, allergies, ...), institution, station, device serial
  number and staff names, the other dates and times, free-text descriptions (StudyDescription,
  ImageComments, request and procedure step descriptions) and references to the original
  instances (request attributes, referenced study/patient/image/procedure step sequences,
  SourceImageSequence, IrradiationEventUID) and the file meta's application entity titles;
  both lists apply at any depth inside sequences;
- all private tags are removed;
- StudyInstanceUID and FrameOfReferenceUID are replaced by UIDs derived from the derived
  SeriesInstanceUID and the original UID (so all slices of one derived series agree without
  shared state, and the originals cannot be read back; two derived series of one study get
  two different new studies);
- PatientIdentityRemoved is set to YES and DeidentificationMethod describes the above.
Pixel data and overlays are not scrubbed: text burned into the image stays.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels import get_decoder
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import DSfloat

from sgan_tf.data import limits
from sgan_tf.data.ct import CTSlice, Window, check_finite
from sgan_tf.data.recist import RoiBox
from sgan_tf.errors import DataError
from sgan_tf.outputs import replacing

INSTALL_DECODERS = 'pip install "sgan-tf[dicom]"'
DERIVATION = "Enhanced by sgan-tf (stacked-GAN CT enhancement)"
DEIDENTIFY_BLANK = frozenset(
    {
        "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "ReferringPhysicianName",
        "AccessionNumber", "StudyID", "StudyDate", "StudyTime", "ContentDate", "ContentTime",
    }
)  # fmt: skip
DEIDENTIFY_REMOVE = frozenset(
    {
        # patient
        "PatientBirthTime", "PatientAge", "PatientSize", "PatientWeight", "PatientAddress",
        "PatientTelephoneNumbers", "PatientBirthName", "PatientMotherBirthName", "OtherPatientIDs",
        "OtherPatientIDsSequence", "OtherPatientNames", "IssuerOfPatientID", "MedicalRecordLocator",
        "EthnicGroup", "Occupation", "MilitaryRank", "BranchOfService", "CountryOfResidence",
        "RegionOfResidence", "PatientReligiousPreference", "AdditionalPatientHistory",
        "PatientComments", "MedicalAlerts", "Allergies", "PregnancyStatus", "SmokingStatus",
        "ResponsiblePerson", "ResponsibleOrganization", "PatientInsurancePlanCodeSequence",
        "AdmissionID", "AdmittingDiagnosesDescription",
        # institution, equipment and staff
        "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
        "InstitutionCodeSequence", "StationName", "DeviceSerialNumber", "PerformingPhysicianName",
        "OperatorsName", "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord", "RequestingPhysician",
        "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
        "ScheduledPerformingPhysicianName",
        # dates and times
        "SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime",
        "InstanceCreationDate", "InstanceCreationTime", "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
        # free text and references to the original instances
        "StudyDescription", "ImageComments", "RequestedProcedureDescription",
        "PerformedProcedureStepDescription", "PerformedProcedureStepID", "RequestAttributesSequence",
        "ReferencedStudySequence", "ReferencedPatientSequence", "ReferencedImageSequence",
        "ReferencedPerformedProcedureStepSequence", "SourceImageSequence", "IrradiationEventUID",
        # file meta: the sending and receiving nodes
        "SourceApplicationEntityTitle", "SendingApplicationEntityTitle", "ReceivingApplicationEntityTitle",
        "PrivateInformationCreatorUID", "PrivateInformation",
    }
)  # fmt: skip
_REPLACED_UIDS = ("StudyInstanceUID", "FrameOfReferenceUID")
# Tags in the source's stored-value units (or tied to its pixel encoding), wrong after a rewrite.
_STALE_PIXEL_TAGS = (
    "PixelPaddingValue", "PixelPaddingRangeLimit", "SmallestImagePixelValue", "LargestImagePixelValue",
    "ModalityLUTSequence",
)  # fmt: skip


def _read_dataset(path: str, header_only: bool = False) -> Dataset:
    """dcmread with every failure turned into a DataError naming the file."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    try:
        return pydicom.dcmread(path, stop_before_pixels=header_only)
    except InvalidDicomError:
        raise DataError(f"{path}: not a DICOM file (no 'DICM' marker after the 128-byte preamble)") from None
    except Exception as exc:  # pydicom raises assorted types (EOFError, ValueError, ...) on corrupt files
        raise DataError(f"{path}: unreadable DICOM file (corrupt or truncated?): {exc}") from exc


def read_header(path: str) -> Dataset:
    """A DICOM file's data set without its pixel data; DataError naming the file if unreadable."""
    return _read_dataset(path, header_only=True)


def _get(ds: Dataset, keyword: str):
    """ds.get(keyword), or None when its stored text does not parse (e.g. DS 'abc' raises on access)."""
    try:
        return ds.get(keyword)
    except (TypeError, ValueError):
        return None


def _as_list(value) -> list:
    """An element value as a list of its values (empty when absent or empty)."""
    if isinstance(value, (list, tuple, MultiValue)):
        return list(value)
    return [] if value is None or value == "" else [value]


def _scalar(ds: Dataset, keyword: str, cast: Callable[[str], float | int]) -> float | int | None:
    """The first value as `cast`; None if absent, malformed or not finite."""
    values = _as_list(_get(ds, keyword))
    try:
        number = cast(values[0]) if values else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and np.isfinite(number) else None


def _floats(ds: Dataset, keyword: str, count: int) -> list[float] | None:
    """Exactly `count` finite floats, else None."""
    values = _as_list(_get(ds, keyword))
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count and np.isfinite(numbers).all() else None


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    return None if value is None else str(value)


def _rescale(ds: Dataset, path: str) -> tuple[float, float]:
    """(slope, intercept), defaulting to (1, 0) when absent or empty."""
    result = []
    for keyword, default in (("RescaleSlope", 1.0), ("RescaleIntercept", 0.0)):
        try:
            value = ds[keyword].value if keyword in ds else None
            result.append(default if value is None or value == "" else float(value))
        except (TypeError, ValueError):
            raise DataError(f"{path}: {keyword} is not a number") from None
    return result[0], result[1]


def _mirror_sum(ds: Dataset, slope: float, intercept: float) -> float:
    """vmin + vmax of the rescaled representable range; value' = sum - value inverts it."""
    bits = int(ds.get("BitsStored") or ds.BitsAllocated)
    if int(ds.get("PixelRepresentation") or 0):
        smin, smax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        smin, smax = 0, 2**bits - 1
    return (smin + smax) * slope + 2.0 * intercept


def _inverts(ds: Dataset) -> bool:
    """True for MONOCHROME1 images of modalities other than CT (see the module docstring)."""
    return ds.get("PhotometricInterpretation") == "MONOCHROME1" and ds.get("Modality") != "CT"


def _window(ds: Dataset, mirror: float | None) -> Window | None:
    center, width = _scalar(ds, "WindowCenter", float), _scalar(ds, "WindowWidth", float)
    if center is None or width is None or width <= 0:
        return None
    lo, hi = center - width / 2.0, center + width / 2.0
    return Window(lo, hi) if mirror is None else Window(mirror - hi, mirror - lo)


def _spacing(ds: Dataset) -> tuple[float, float] | None:
    pair = _floats(ds, "PixelSpacing", 2)
    return (pair[0], pair[1]) if pair is not None and min(pair) > 0 else None


def _ts_label(ts: UID) -> str:
    return f"{ts.name} ({ts})" if ts.is_transfer_syntax else f"{ts} (not a known transfer syntax)"


def _decode(ds: Dataset, path: str) -> np.ndarray:
    """The stored pixel values, or a DataError saying why they cannot be had."""
    if "TransferSyntaxUID" not in ds.file_meta:
        raise DataError(f"{path}: no TransferSyntaxUID in the file meta header, cannot decode the pixels")
    ts = UID(ds.file_meta.TransferSyntaxUID)
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        raise DataError(
            f"{path}: unsupported transfer syntax {_ts_label(ts)}; convert the file to an uncompressed one, "
            "e.g. `gdcmconv --raw in.dcm out.dcm`"
        ) from None
    if not decoder.is_available:
        raise DataError(
            f"{path}: pixel data is compressed as {_ts_label(ts)} and no decoder for it is installed; "
            f"install the optional decoders: {INSTALL_DECODERS}"
        )
    try:
        return ds.pixel_array
    except Exception as exc:  # the decoders raise assorted types on corrupt or short pixel data
        reason = " ".join(line.strip() for line in str(exc).splitlines()) or type(exc).__name__
        raise DataError(
            f"{path}: cannot decode the {_ts_label(ts)} pixel data (corrupt or truncated?): {reason}"
        ) from exc


def _check_size(ds: Dataset, path: str) -> None:
    """The pixel cap (sgan_tf/data/limits.py) on Rows x Columns x frames x samples, from the
    header, before the pixel data is read or decoded."""
    rows, columns = _scalar(ds, "Rows", int), _scalar(ds, "Columns", int)
    if rows is None or columns is None:
        return  # the decoder reports it
    planes = max(_scalar(ds, "NumberOfFrames", int) or 1, 1) * max(_scalar(ds, "SamplesPerPixel", int) or 1, 1)
    limits.check_pixels(columns, rows, path, planes)


def read_dicom(path: str, allow_any_modality: bool = False) -> CTSlice:
    """One single-frame grayscale DICOM file -> CTSlice in HU (see the module docstring)."""
    _check_size(_read_dataset(path, header_only=True), path)
    ds = _read_dataset(path)
    if "PixelData" not in ds:
        raise DataError(f"{path}: no PixelData element (not an image, or the file is truncated)")
    modality = str(ds.get("Modality") or "")
    if modality != "CT" and not allow_any_modality:
        what = f"modality {modality!r} is not CT" if modality else "no Modality tag (CT expected)"
        raise DataError(f"{path}: {what}; only CT pixel values are HU (--allow_any_modality reads it anyway)")
    frames = _scalar(ds, "NumberOfFrames", int) or 1
    if frames > 1 or "SharedFunctionalGroupsSequence" in ds:
        raise DataError(
            f"{path}: multi-frame (enhanced) DICOM with {frames} frame(s) is not supported; "
            "export the series as single-frame files, one slice per file"
        )
    photometric = str(ds.get("PhotometricInterpretation") or "")
    samples = _scalar(ds, "SamplesPerPixel", int) or 1
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise DataError(
            f"{path}: not a grayscale image (PhotometricInterpretation {photometric!r}, SamplesPerPixel {samples})"
        )
    stored = _decode(ds, path)
    slope, intercept = _rescale(ds, path)
    mirror = _mirror_sum(ds, slope, intercept) if _inverts(ds) else None
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows up as inf, reported below
        values = stored.astype(np.float64) * slope + intercept
        hu = (values if mirror is None else mirror - values).astype(np.float32)
    check_finite(hu, f"{path} (RescaleSlope {slope:g}, RescaleIntercept {intercept:g})")
    meta = {
        "Modality": modality,
        "SOPInstanceUID": _text(ds, "SOPInstanceUID"),
        "SeriesInstanceUID": _text(ds, "SeriesInstanceUID"),
        "StudyInstanceUID": _text(ds, "StudyInstanceUID"),
        "InstanceNumber": _scalar(ds, "InstanceNumber", int),
        "ImagePositionPatient": _floats(ds, "ImagePositionPatient", 3),
        "ImageOrientationPatient": _floats(ds, "ImageOrientationPatient", 6),
        "SliceLocation": _scalar(ds, "SliceLocation", float),
        "TransferSyntaxUID": str(ds.file_meta.TransferSyntaxUID),
        "PhotometricInterpretation": photometric,
        "Rows": int(ds.Rows),
        "Columns": int(ds.Columns),
        "inverted": mirror is not None,
    }
    return CTSlice(hu=hu, source=path, spacing=_spacing(ds), window=_window(ds, mirror), meta=meta)


def _has_dicm_marker(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def find_dicom_files(folder: str) -> list[str]:
    """DICOM files under `folder` (recursive, sorted): 'DICM' marker or .dcm name; DICOMDIR skipped."""
    if not os.path.isdir(folder):
        raise DataError(f"{folder}: no such folder")
    found = []
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            if name.upper() != "DICOMDIR" and (name.lower().endswith(".dcm") or _has_dicm_marker(path)):
                found.append(path)
    if not found:
        raise DataError(f"{folder}: no DICOM files (looked recursively for *.dcm and files with the 'DICM' marker)")
    return sorted(found)


def _position_along_normal(ds: Dataset) -> float | None:
    position = _floats(ds, "ImagePositionPatient", 3)
    orientation = _floats(ds, "ImageOrientationPatient", 6)
    if position is None or orientation is None:
        return None
    return float(np.dot(np.cross(orientation[:3], orientation[3:]), position))


def _order_series(members: list[tuple[str, Dataset]]) -> list[str]:
    """One series' paths along the slice normal, else by InstanceNumber, else by path."""
    keys = [_position_along_normal(ds) for _, ds in members]
    if any(k is None for k in keys):
        keys = [_scalar(ds, "InstanceNumber", int) for _, ds in members]
    if any(k is None for k in keys):
        keys = [0] * len(members)
    return [path for _, path in sorted(zip(keys, (path for path, _ in members)))]


def sort_slices(paths: list[str]) -> list[str]:
    """Paths grouped by SeriesInstanceUID (series in path order), each series in slice order;
    files whose header cannot be read come last, so that reading them reports the problem."""
    series: dict[str, list[tuple[str, Dataset]]] = {}
    unreadable = []
    for path in sorted(paths):
        try:
            ds = _read_dataset(path, header_only=True)
        except DataError:
            unreadable.append(path)
            continue
        series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((path, ds))
    return [path for members in series.values() for path in _order_series(members)] + unreadable


def _scrub(ds: Dataset) -> None:
    """Blank or remove the de-identification lists in `ds` and, recursively, its sequences."""
    for elem in list(ds):
        if elem.keyword in DEIDENTIFY_REMOVE:
            del ds[elem.tag]
        elif elem.keyword in DEIDENTIFY_BLANK:
            elem.value = ""
        elif elem.VR == "SQ":
            for item in elem.value:
                _scrub(item)


def _deidentify(ds: Dataset, salt: str) -> None:
    ds.remove_private_tags()
    _scrub(ds)
    _scrub(ds.file_meta)
    for keyword in _REPLACED_UIDS:
        if keyword in ds:
            ds[keyword].value = generate_uid(entropy_srcs=[salt, keyword, str(ds[keyword].value)])
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "sgan-tf: PHI blanked/removed, private tags removed, new UIDs"


def _place(ds: Dataset, name: str, shape: tuple[int, int], roi: RoiBox | None, zoom: float | None) -> str:
    """Sets PixelSpacing and ImagePositionPatient for an image of `shape` covering `roi` (or the
    whole slice) edge to edge (module docstring); returns the region for DerivationDescription."""
    rows, columns = _scalar(ds, "Rows", int), _scalar(ds, "Columns", int)
    if roi is None and None in (rows, columns):
        return ""
    x0, y0, region = (0, 0, (rows, columns)) if roi is None else (roi.x0, roi.y0, (roi.side, roi.side))
    if zoom is not None and any(abs(n - max(m * zoom, 1.0)) > 0.5 + 1e-6 for n, m in zip(shape, region)):
        raise ValueError(f"a {shape[0]}x{shape[1]} image is not the {region[0]}x{region[1]} region at zoom {zoom:g}")
    what = "" if roi is None else (
        f"; source columns {x0}..{x0 + roi.side - 1}, rows {y0}..{y0 + roi.side - 1}"
        + (" (air beyond the slice border)" if None not in (rows, columns) and roi.overhangs((rows, columns)) else ""))
    if roi is None and tuple(shape) == region:
        return what
    what += f"; zoom {zoom if zoom is not None else shape[0] / region[0]:g}"
    spacing = _spacing(ds)
    if spacing is None:
        raise DataError(f"{name}: no usable PixelSpacing, so a resized or ROI image cannot be placed "
                        "in patient coordinates")
    scale = (region[0] / shape[0], region[1] / shape[1])  # source pixels per output pixel
    position = _floats(ds, "ImagePositionPatient", 3)
    if position is not None:
        orientation = _floats(ds, "ImageOrientationPatient", 6)
        if orientation is None:
            raise DataError(f"{name}: ImagePositionPatient without a usable ImageOrientationPatient; "
                            "a resized or ROI image cannot be placed in patient coordinates")
        along_row, along_column = np.array(orientation[:3]), np.array(orientation[3:])
        column, row = x0 - 0.5 + scale[1] / 2.0, y0 - 0.5 + scale[0] / 2.0  # first output pixel's centre
        first = np.array(position) + along_row * column * spacing[1] + along_column * row * spacing[0]
        ds.ImagePositionPatient = [DSfloat(float(v), auto_format=True) for v in first]
    ds.PixelSpacing = [DSfloat(float(s * k), auto_format=True) for s, k in zip(spacing, scale)]
    return what


def write_derived(
    source: str | Dataset,
    hu: np.ndarray,
    out_path: str,
    series_uid: str,
    series_description: str,
    deidentify: bool = False,
    roi: RoiBox | None = None,
    zoom: float | None = None,
    overwrite: bool = False,
) -> None:
    """Write `hu` [H, W] as one slice of a derived series of `source` (see the module docstring).

    `hu` covers `roi` (source pixels; None: the whole slice) edge to edge; `zoom`, when given,
    is the enlargement it was made with, and H, W must be the region's size times it, rounded
    (ValueError otherwise). The geometry follows from the sizes (module docstring).
    """
    hu = np.asarray(hu)
    if hu.ndim != 2:
        raise ValueError(f"write_derived needs a 2-D image, got shape {hu.shape}")
    check_finite(hu, out_path)
    stored = np.rint(hu.astype(np.float64))
    lo, hi = float(stored.min()), float(stored.max())
    if lo < -32768 or hi > 32767:
        raise DataError(f"{out_path}: values span [{lo:g}, {hi:g}], beyond the int16 range of a derived slice")
    ds = copy.deepcopy(source) if isinstance(source, Dataset) else _read_dataset(source, header_only=True)
    name = source if isinstance(source, str) else str(getattr(source, "filename", None) or "source dataset")
    ds.ensure_file_meta()
    ts = UID(ds.file_meta.get("TransferSyntaxUID") or ExplicitVRLittleEndian)
    if ts.is_transfer_syntax and not ts.is_little_endian:
        raise DataError(f"{name}: big-endian sources ({ts.name}) are not supported for derived series")

    region = _place(ds, name, hu.shape, roi, zoom)  # before set_pixel_data changes Rows/Columns
    if _inverts(ds):  # read_dicom mirrored this window along with the values
        slope, intercept = _rescale(ds, name)
        mirror = _mirror_sum(ds, slope, intercept)
        if "WindowCenter" in ds:
            ds.WindowCenter = [DSfloat(mirror - float(c), auto_format=True) for c in _as_list(ds.WindowCenter)]
    source_ref = (ds.get("SOPClassUID"), ds.get("SOPInstanceUID"))

    for keyword in _STALE_PIXEL_TAGS:
        if keyword in ds:
            del ds[keyword]
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.set_pixel_data(stored.astype(np.int16), "MONOCHROME2", 16)  # also a new SOPInstanceUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.RescaleSlope = "1"
    ds.RescaleIntercept = "0"
    ds.ImageType = ["DERIVED", "SECONDARY", *_as_list(ds.get("ImageType"))[2:]]
    ds.DerivationDescription = DERIVATION + region
    ds.SeriesInstanceUID = series_uid
    ds.SeriesDescription = series_description
    if deidentify:
        _deidentify(ds, salt=series_uid)
    elif None not in source_ref:
        reference = Dataset()
        reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = source_ref
        ds.SourceImageSequence = Sequence([reference])

    with replacing(out_path, overwrite) as temp:
        ds.save_as(temp, enforce_file_format=True)
