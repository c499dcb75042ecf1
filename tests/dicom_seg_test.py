"""Lesion masks as DICOM-SEG (sgan_tf/data/dicom_seg.py), read back with highdicom and pydicom."""

import glob
import os
import random

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from sgan_tf.data.dicom_seg import write_dicom_seg
from sgan_tf.errors import DataError

from conftest import SHARED_DATA

REAL_CT = os.path.join(SHARED_DATA, "real_ct")
CT_SMALL = get_testdata_file("CT_small.dcm", download=False)
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"


def make_series(folder, count: int = 5, **tags) -> list[str]:
    """`count` axial CT slices (CT_small, 128 x 128) of one new series, 2.5 mm apart, saved
    under `folder`; `tags` are set on every slice."""
    os.makedirs(folder, exist_ok=True)
    series, paths = generate_uid(), []
    for i in range(count):
        ds = pydicom.dcmread(CT_SMALL)
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [-158.1, -179.0, -75.0 + 2.5 * i]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        for keyword, value in tags.items():
            setattr(ds, keyword, value)
        paths.append(str(folder / f"slice_{i}.dcm"))
        ds.save_as(paths[-1])
    return paths


def lesion_masks(paths: list[str], on: tuple[int, ...] = (1, 3)) -> dict[str, np.ndarray]:
    masks = {}
    for i in on:
        ds = pydicom.dcmread(paths[i], stop_before_pixels=True)
        mask = np.zeros((ds.Rows, ds.Columns), np.uint8)
        mask[20 + i: 40 + i, 50:70 - i] = 1
        masks[ds.SOPInstanceUID] = mask
    return masks


def uids(paths: list[str]) -> list[str]:
    return [pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in paths]


def check_seg(out: str, sources: list[pydicom.Dataset], masks: dict[str, np.ndarray],
              version: str) -> hd.seg.Segmentation:
    """The SEG at `out` references every source, holds the masks, and describes the segment."""
    seg = hd.seg.segread(out)
    source_uids = [ds.SOPInstanceUID for ds in sources]
    referenced = [item.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence]
    assert sorted(referenced) == sorted(source_uids)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == sources[0].SeriesInstanceUID
    pixels = seg.get_pixels_by_source_instance(source_uids, segment_numbers=[1], assert_missing_frames_are_empty=True)
    expected = np.stack([masks.get(uid, np.zeros((ds.Rows, ds.Columns))) > 0 for uid, ds in zip(source_uids, sources)])
    np.testing.assert_array_equal(pixels[..., 0] > 0, expected)
    framed = {frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
              for frame in seg.PerFrameFunctionalGroupsSequence}
    with_lesion = {uid for uid, mask in masks.items() if np.any(mask)}
    assert framed == (with_lesion or set(source_uids))  # lesion frames only; all (empty) without a lesion
    by_uid = {ds.SOPInstanceUID: ds for ds in sources}
    for frame in seg.PerFrameFunctionalGroupsSequence:
        source = by_uid[frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID]
        np.testing.assert_allclose([float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient],
                                   [float(v) for v in source.ImagePositionPatient], atol=1e-4)
    description = seg.get_segment_description(1)
    assert description.segment_label == "Lesion" and description.algorithm_type.value == "AUTOMATIC"
    assert description.segmented_property_type.meaning == "Lesion"
    algorithm = description.algorithm_identification[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("sgan-tf", version)
    plain = pydicom.dcmread(out)  # plain pydicom reads it too
    assert plain.Modality == "SEG" and plain.SOPClassUID == SEG_STORAGE and plain.SegmentationType == "BINARY"
    for keyword in ("StudyInstanceUID", "FrameOfReferenceUID", "PatientID"):
        assert plain[keyword].value == sources[0][keyword].value, keyword
    assert plain.SeriesInstanceUID != sources[0].SeriesInstanceUID
    return seg


def test_synthetic_series_from_paths(tmp_path):
    paths = make_series(tmp_path / "series")
    masks = lesion_masks(paths)
    out = str(tmp_path / "seg" / "lesions.dcm")
    series_uid = write_dicom_seg(paths, masks, out, software_version="0.1.0+test")
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    seg = check_seg(out, sources, masks, "0.1.0+test")
    assert seg.SeriesInstanceUID == series_uid and seg.number_of_frames == 2


def test_datasets_in_any_order_and_without_a_lesion(tmp_path):
    paths = make_series(tmp_path / "series", count=4)
    sources = [pydicom.dcmread(p) for p in paths]
    shuffled = sources[:]
    random.Random(0).shuffle(shuffled)
    masks = lesion_masks(paths, on=(2,))
    write_dicom_seg(shuffled, masks, str(tmp_path / "a.dcm"), software_version="1")
    check_seg(str(tmp_path / "a.dcm"), sources, masks, "1")
    write_dicom_seg(sources, {}, str(tmp_path / "none.dcm"), software_version="1")
    assert check_seg(str(tmp_path / "none.dcm"), sources, {}, "1").number_of_frames == 4


def test_existing_output_kept_unless_overwrite(tmp_path):
    paths = make_series(tmp_path / "series", count=2)
    out = tmp_path / "seg.dcm"
    out.write_bytes(b"old")
    with pytest.raises(DataError, match=f"^{out}: exists"):
        write_dicom_seg(paths, {}, str(out), software_version="1")
    assert out.read_bytes() == b"old"
    write_dicom_seg(paths, {}, str(out), software_version="1", overwrite=True)
    assert pydicom.dcmread(str(out)).Modality == "SEG"


def other_series(tmp_path) -> tuple[list[str], dict]:
    return make_series(tmp_path / "a", 2) + make_series(tmp_path / "b", 1), {}


def duplicate_instance(tmp_path) -> tuple[list[str], dict]:
    paths = make_series(tmp_path / "s", 2)
    return paths + paths[:1], {}


def not_dicom(tmp_path) -> tuple[list[str], dict]:
    paths = make_series(tmp_path / "s", 2)
    open(paths[1], "wb").write(b"not dicom" * 50)
    return paths, {}


def other_size(tmp_path) -> tuple[list[str], dict]:
    paths = make_series(tmp_path / "s", 2)
    ds = pydicom.dcmread(paths[1])
    ds.Rows, ds.Columns, ds.PixelData = 64, 64, ds.PixelData[: 64 * 64 * 2]
    ds.save_as(paths[1])
    return paths, {}


def blank_uid(tmp_path) -> tuple[list[str], dict]:
    return make_series(tmp_path / "s", 2, SOPInstanceUID="", StudyInstanceUID=""), {}


BAD_INPUTS = {
    # case: (build -> (sources, masks), index of the source the message names or None for the output, fragment)
    "no_sources": (lambda t: ([], {}), None, "no source images"),
    "not_ct": (lambda t: (make_series(t / "s", 2, Modality="MR"), {}), 0, "modality 'MR' is not CT"),
    "unreadable": (not_dicom, 1, "not a DICOM file"),
    "blank_uids": (blank_uid, 0, "no SOPInstanceUID, StudyInstanceUID (blanked by an anonymiser?)"),
    "other_series": (other_series, 2, "differs from the first source's"),
    "other_size": (other_size, 1, "a 64x64 (Rows x Columns) slice in a series of 128x128"),
    "duplicate": (duplicate_instance, 2, "is also that of"),
    "multi_frame": (lambda t: (make_series(t / "s", 1, NumberOfFrames=2), {}), 0, "multi-frame"),
    "mask_shape": (lambda t: (p := make_series(t / "s", 2), {uids(p)[1]: np.ones((128, 127))}), 1,
                   "mask of shape (128, 127) for a 128x128 slice"),
    "mask_unknown": (lambda t: (make_series(t / "s", 2), {"1.2.3.4": np.ones((128, 128))}), None,
                     "masks for instance(s) not among the sources: 1.2.3.4"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_data_error_naming_the_item(tmp_path, case):
    build, named, fragment = BAD_INPUTS[case]
    sources, masks = build(tmp_path)
    out = str(tmp_path / "seg.dcm")
    with pytest.raises(DataError) as info:
        write_dicom_seg(sources, masks, out, software_version="1")
    message = str(info.value)
    assert message.startswith(out if named is None else sources[named] + ":"), message
    assert fragment in message, message
    assert not os.path.exists(out)


@pytest.mark.skipif(not os.path.isdir(os.path.join(REAL_CT, "totalseg_dicom")),
                    reason="reference data real_ct/totalseg_dicom not present")
def test_real_jpeg2000_series_with_blanked_uids(tmp_path):
    """The TotalSegmentator series (JPEG 2000) has its SOP, series and study UIDs blanked: it is
    refused by name; with the UIDs restored (instance UIDs from the file meta) it segments, from
    headers only."""
    paths = sorted(glob.glob(os.path.join(REAL_CT, "totalseg_dicom", "CT.*")))
    assert len(paths) == 20
    blanked = "no SOPClassUID, SOPInstanceUID, SeriesInstanceUID, StudyInstanceUID"
    with pytest.raises(DataError, match=f"^{paths[0]}: {blanked}"):
        write_dicom_seg(paths, {}, str(tmp_path / "refused.dcm"), software_version="1")
    study, series, sources = generate_uid(), generate_uid(), []
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        sources.append(ds)
    mask = np.zeros((512, 512), np.uint8)
    mask[200:240, 300:330] = 1
    masks = {sources[7].SOPInstanceUID: mask, sources[8].SOPInstanceUID: mask[::-1]}
    out = str(tmp_path / "totalseg_seg.dcm")
    write_dicom_seg(sources, masks, out, software_version="0.1.0")
    seg = check_seg(out, sources, masks, "0.1.0")
    assert {uid for _, _, uid in seg.get_source_image_uids()} == {os.path.basename(p)[3:] for p in paths}


@pytest.mark.skipif(not os.path.isdir(os.path.join(REAL_CT, "dcmqa_ge_head_dicom")),
                    reason="reference data real_ct/dcmqa_ge_head_dicom not present")
def test_real_tilted_series(tmp_path):
    paths = sorted(glob.glob(os.path.join(REAL_CT, "dcmqa_ge_head_dicom", "*.dcm")))
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    mask = np.zeros((512, 512), bool)
    mask[250:270, 240:262] = True
    masks = {sources[19].SOPInstanceUID: mask}
    out = str(tmp_path / "head_seg.dcm")
    write_dicom_seg(paths, masks, out, software_version="0.1.0")
    seg = check_seg(out, sources, masks, "0.1.0")
    orientation = seg.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient
    np.testing.assert_allclose([float(v) for v in orientation], [float(v) for v in sources[19].ImageOrientationPatient])
