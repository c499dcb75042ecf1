"""Lesion masks as a DICOM Segmentation (DICOM-SEG) of a CT series, written with highdicom.

`write_dicom_seg` writes one binary Segmentation instance with one segment, "Lesion"
(category Morphologically Abnormal Structure, type Lesion, SNOMED CT), algorithm type
AUTOMATIC, identified as the algorithm `sgan-tf` (family Artificial Intelligence) at the
caller's version string. Viewers (3D Slicer, OHIF, a PACS) overlay it on the source series:

- it copies the patient and study of the source series and references every source instance
  (ReferencedSeriesSequence), and each of its frames references the source slice it
  segments (by SOPInstanceUID) and carries that slice's position and orientation;
- it holds the frames of the source slices with lesion pixels only (highdicom's
  omit_empty_frames), so a 300-slice series with one lesion does not carry 299 empty frames; a
  series without any lesion pixel gets all its frames, empty, since a Segmentation needs at
  least one: "looked, found nothing" stays explicit;
- it is a new series (its own SeriesInstanceUID) in the source's study and frame of reference.
Patient identity is copied from the source, as `dicom.write_derived` does by default; type 2
patient and study attributes missing from it (removed by some anonymisers, e.g.
PatientBirthDate) are written empty, as DICOM allows.

Only the sources' headers are read (no pixel data), so compressed series need no decoder.
Bad input is a DataError naming the item: no sources; a source file that cannot be read; a
source that is not CT, is multi-frame, lacks a UID it must be referenced by (some anonymisers
blank them: SOPClassUID, SOPInstanceUID, SeriesInstanceUID, StudyInstanceUID,
FrameOfReferenceUID), belongs to another series than the first or has another size; two
sources with one SOPInstanceUID; a mask for an instance that is not among the sources, not 2-D, or of another
size than its slice. The file is written as sgan_tf/outputs.py says.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from sgan_tf.data import dicom
from sgan_tf.errors import DataError
from sgan_tf.outputs import replacing

ALGORITHM = "sgan-tf"
SEGMENT_LABEL = "Lesion"
REQUIRED_UIDS = ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID")
# Type 2 patient and study attributes (present, possibly empty) that the SEG copies from its source.
PATIENT_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
                 "StudyDate", "StudyTime", "ReferringPhysicianName")


def _sources(sources: Sequence[str | Dataset]) -> list[tuple[str, Dataset]]:
    """(name for messages, header) of each source, checked (module docstring)."""
    named = []
    for number, source in enumerate(sources, start=1):
        if isinstance(source, Dataset):
            named.append((str(getattr(source, "filename", None) or f"source dataset #{number}"), source))
        else:
            named.append((source, dicom.read_header(source)))
    seen: dict[str, str] = {}
    for name, ds in named:
        modality = str(ds.get("Modality") or "")
        if modality != "CT":
            raise DataError(f"{name}: modality {modality or 'missing'!r} is not CT; "
                            "a lesion DICOM-SEG needs a CT series")
        if int(ds.get("NumberOfFrames") or 1) > 1:
            raise DataError(f"{name}: multi-frame source images are not supported")
        missing = [keyword for keyword in REQUIRED_UIDS if not str(ds.get(keyword) or "")]
        if missing:
            raise DataError(f"{name}: no {', '.join(missing)} (blanked by an anonymiser?); a DICOM-SEG references "
                            "its source images by these UIDs")
        if ds.SeriesInstanceUID != named[0][1].SeriesInstanceUID:
            raise DataError(f"{name}: series {ds.SeriesInstanceUID} differs from the first source's "
                            f"({named[0][0]}: {named[0][1].SeriesInstanceUID}); one DICOM-SEG covers one series")
        size, first_size = (ds.get("Rows"), ds.get("Columns")), (named[0][1].get("Rows"), named[0][1].get("Columns"))
        if None in size or size != first_size:
            raise DataError(f"{name}: a {size[0]}x{size[1]} (Rows x Columns) slice in a series of "
                            f"{first_size[0]}x{first_size[1]} slices")
        if ds.SOPInstanceUID in seen:
            raise DataError(f"{name}: SOPInstanceUID {ds.SOPInstanceUID} is also that of {seen[ds.SOPInstanceUID]}")
        seen[ds.SOPInstanceUID] = name
    missing = [keyword for keyword in PATIENT_STUDY if keyword not in named[0][1]]
    if missing:  # removed by an anonymiser: empty, as type 2 allows (on a copy, not the caller's data set)
        first = copy.deepcopy(named[0][1])
        for keyword in missing:
            setattr(first, keyword, "")
        named[0] = (named[0][0], first)
    return named


def _stack(named: list[tuple[str, Dataset]], masks: Mapping[str, np.ndarray], out_path: str) -> np.ndarray:
    """The masks as a bool [sources, rows, columns] stack in source order (no mask: empty)."""
    index = {ds.SOPInstanceUID: i for i, (_, ds) in enumerate(named)}
    unknown = sorted(set(masks) - set(index))
    if unknown:
        raise DataError(f"{out_path}: masks for instance(s) not among the sources: {', '.join(unknown[:3])}"
                        + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""))
    stack = np.zeros((len(named), int(named[0][1].Rows), int(named[0][1].Columns)), bool)
    for name, ds in named:
        mask = masks.get(ds.SOPInstanceUID)
        if mask is None:
            continue
        mask = np.asarray(mask)
        if mask.shape != stack.shape[1:]:
            raise DataError(f"{name}: mask of shape {mask.shape} for a {ds.Rows}x{ds.Columns} slice")
        stack[index[ds.SOPInstanceUID]] = mask > 0
    return stack


def write_dicom_seg(
    sources: Sequence[str | Dataset],
    masks: Mapping[str, np.ndarray],
    out_path: str,
    software_version: str,
    series_description: str = "sgan-tf lesions",
    series_number: int = 1,
    overwrite: bool = False,
) -> str:
    """Writes the lesion masks of a CT series as a DICOM-SEG (module docstring); returns its
    SeriesInstanceUID.

    `sources` are the series' files or data sets (any order; pixel data is not needed);
    `masks` maps a source's SOPInstanceUID to its [Rows, Columns] mask (> 0: lesion); sources
    without a mask have no lesion.
    """
    if not sources:
        raise DataError(f"{out_path}: no source images for the DICOM-SEG")
    named = _sources(sources)
    stack = _stack(named, masks, out_path)
    segment = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=SEGMENT_LABEL,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name=ALGORITHM, family=codes.cid7162.ArtificialIntelligence, version=software_version),
    )
    series_uid = generate_uid()
    try:
        seg = hd.seg.Segmentation(
            source_images=[ds for _, ds in named],
            pixel_array=stack,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[segment],
            series_instance_uid=series_uid,
            series_number=series_number,
            sop_instance_uid=generate_uid(),
            instance_number=1,
            manufacturer=ALGORITHM,
            manufacturer_model_name=ALGORITHM,
            software_versions=software_version,
            device_serial_number="none",
            series_description=series_description,
            omit_empty_frames=bool(stack.any()),
        )
    except (ValueError, TypeError, AttributeError, KeyError) as e:  # highdicom's checks of the source headers
        raise DataError(f"{out_path}: cannot build a DICOM-SEG on the series of {named[0][0]}: {e}") from e
    with replacing(out_path, overwrite) as temp:
        seg.save_as(temp)
    return series_uid
