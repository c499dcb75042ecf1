"""DICOM reading, series ordering and derived-series writing, on pydicom's bundled test files only."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import get_decoder
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from sgan_tf.data import sources
from sgan_tf.data.ct import Window
from sgan_tf.data.dicom import (
    DERIVATION,
    INSTALL_DECODERS,
    find_dicom_files,
    read_dicom,
    sort_slices,
    write_derived,
)
from sgan_tf.data.recist import RoiBox, crop, to_roi
from sgan_tf.errors import DataError, UserError

from conftest import SHARED_DATA

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bundled(name: str) -> str:
    """A file shipped inside pydicom (never one that needs a download)."""
    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} is not bundled with this pydicom"
    return path


CT_SMALL = bundled("CT_small.dcm")


def ct_copy(tmp_path, name: str = "ct.dcm", **tags) -> str:
    """CT_small with `tags` set (None deletes), saved under tmp_path."""
    ds = pydicom.dcmread(CT_SMALL)
    for keyword, value in tags.items():
        if value is None:
            del ds[keyword]
        else:
            setattr(ds, keyword, value)
    path = str(tmp_path / name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ds.save_as(path)
    return path


def raw_ct_small() -> np.ndarray:
    """CT_small's stored values straight from the bytes: 128x128 little-endian int16."""
    ds = pydicom.dcmread(CT_SMALL)
    assert (ds.BitsAllocated, ds.PixelRepresentation, ds.file_meta.TransferSyntaxUID) == (16, 1, ExplicitVRLittleEndian)
    return np.frombuffer(ds.PixelData, "<i2").reshape(128, 128).astype(np.float64)


def needs_decoder(path: str) -> None:
    ts = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    if not get_decoder(ts).is_available:
        pytest.skip(f"no decoder for {ts.name} installed ({INSTALL_DECODERS})")


def test_hu_spacing_and_meta_of_ct_small():
    ct = read_dicom(CT_SMALL)
    np.testing.assert_array_equal(ct.hu, (raw_ct_small() * 1.0 - 1024.0).astype(np.float32))
    assert ct.hu.dtype == np.float32 and ct.source == CT_SMALL
    assert ct.spacing == pytest.approx((0.661468, 0.661468))
    assert ct.window is None
    meta = json.loads(json.dumps(ct.meta))  # JSON-able as is
    assert meta["Modality"] == "CT" and meta["Rows"] == 128 and meta["Columns"] == 128
    assert meta["TransferSyntaxUID"] == ExplicitVRLittleEndian
    assert meta["PhotometricInterpretation"] == "MONOCHROME2" and meta["inverted"] is False
    assert meta["InstanceNumber"] == 1
    assert meta["ImagePositionPatient"] == pytest.approx([-158.135803, -179.035797, -75.699997])
    assert meta["SliceLocation"] == pytest.approx(-77.2040634155)
    ds = pydicom.dcmread(CT_SMALL)
    for key in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"):
        assert meta[key] == ds[key].value


def test_rescale_and_multi_valued_window(tmp_path):
    path = ct_copy(
        tmp_path, RescaleSlope="2.5", RescaleIntercept="-1000", WindowCenter=[40, 60], WindowWidth=[400, 800]
    )
    ct = read_dicom(path)
    np.testing.assert_allclose(ct.hu, raw_ct_small() * 2.5 - 1000.0, rtol=0, atol=1e-3)
    assert ct.window == Window(-160.0, 240.0)


def test_missing_rescale_means_slope_1_intercept_0(tmp_path):
    ct = read_dicom(ct_copy(tmp_path, RescaleSlope=None, RescaleIntercept=None, PixelSpacing=None))
    np.testing.assert_array_equal(ct.hu, raw_ct_small())
    assert ct.spacing is None


def test_monochrome1_ct_keeps_hu(tmp_path):
    ct = read_dicom(ct_copy(tmp_path, PhotometricInterpretation="MONOCHROME1", WindowCenter=40, WindowWidth=400))
    np.testing.assert_array_equal(ct.hu, read_dicom(CT_SMALL).hu)
    assert ct.window == Window(-160.0, 240.0) and ct.meta["inverted"] is False


def test_monochrome1_other_modality_is_inverted(tmp_path):
    path = ct_copy(tmp_path, Modality="CR", PhotometricInterpretation="MONOCHROME1", WindowCenter=1000, WindowWidth=200)
    ct = read_dicom(path, allow_any_modality=True)
    # 16-bit signed: stored' = -32768 + 32767 - stored, then the rescale (slope 1, intercept -1024).
    np.testing.assert_array_equal(ct.hu, (-1.0 - raw_ct_small()) - 1024.0)
    mirror = -1.0 - 2 * 1024.0  # the rescaled range's vmin + vmax
    assert ct.window == Window(mirror - 1100.0, mirror - 900.0) and ct.meta["inverted"] is True


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"])
def test_lossless_compressed_equals_uncompressed(name):
    path = bundled(name)
    needs_decoder(path)
    reference = read_dicom(bundled("MR_small.dcm"), allow_any_modality=True)
    decoded = read_dicom(path, allow_any_modality=True)
    assert decoded.meta["TransferSyntaxUID"] != reference.meta["TransferSyntaxUID"]
    np.testing.assert_array_equal(decoded.hu, reference.hu)


@pytest.mark.parametrize("name", ["J2K_pixelrep_mismatch.dcm", "693_J2KI.dcm"])
def test_jpeg2000_ct_decodes(name):
    path = bundled(name)
    needs_decoder(path)
    ct = read_dicom(path)
    assert ct.hu.shape == (512, 512) and np.isfinite(ct.hu).all()
    # Plenty of air and of soft tissue, nothing denser than bone: the 13/14-bit signed samples decoded right.
    assert ((ct.hu > -1100) & (ct.hu < -900)).mean() > 0.1 and ((ct.hu > 0) & (ct.hu < 100)).mean() > 0.1
    assert ct.hu.max() < 3000
    assert ct.window is not None and ct.meta["Modality"] == "CT"


def test_missing_decoders_give_install_hint():
    """With every decoder plugin's import blocked, JPEG 2000 is refused clearly; plain files still read."""
    script = f"""
import sys
for name in ("PIL", "pylibjpeg", "openjpeg", "libjpeg", "rle", "gdcm", "jpeg_ls"):
    sys.modules[name] = None  # makes `import name` raise ImportError
from sgan_tf.data.dicom import read_dicom
from sgan_tf.errors import DataError, UserError
read_dicom({CT_SMALL!r})
try:
    read_dicom({bundled("J2K_pixelrep_mismatch.dcm")!r})
except DataError as exc:
    print(exc)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    message = result.stdout.strip()
    assert message.startswith(bundled("J2K_pixelrep_mismatch.dcm") + ":")
    assert "JPEG 2000 Image Compression (Lossless Only) (1.2.840.10008.1.2.4.90)" in message
    assert 'pip install "sgan-tf[dicom]"' in message


def truncated(tmp_path) -> str:
    path = tmp_path / "truncated.dcm"
    path.write_bytes(open(CT_SMALL, "rb").read()[:20000])  # cut inside PixelData
    return str(path)


def short_pixel_data(tmp_path) -> str:
    ds = pydicom.dcmread(CT_SMALL)
    ds.PixelData = ds.PixelData[:1000]
    path = str(tmp_path / "short.dcm")
    ds.save_as(path)
    return path


def not_dicom(tmp_path) -> str:
    path = tmp_path / "notes.dcm"
    path.write_text("not an image\n" * 20)
    return str(path)


def unknown_transfer_syntax(tmp_path) -> str:
    ds = pydicom.dcmread(CT_SMALL)
    ds.file_meta.TransferSyntaxUID = "1.2.3.4"
    path = str(tmp_path / "unknown_ts.dcm")
    ds.save_as(path, implicit_vr=False, little_endian=True)
    return path


def no_transfer_syntax(tmp_path) -> str:
    ds = pydicom.dcmread(CT_SMALL)
    del ds.file_meta.TransferSyntaxUID
    path = str(tmp_path / "no_ts.dcm")
    ds.save_as(path, implicit_vr=False, little_endian=True)
    return path


def multi_frame(tmp_path) -> str:
    ds = pydicom.dcmread(CT_SMALL)
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    path = str(tmp_path / "frames.dcm")
    ds.save_as(path)
    return path


def bad_slope(tmp_path) -> str:
    """RescaleSlope '1 ' patched to 'ab' in the file bytes (pydicom will not write a bad DS)."""
    data = open(CT_SMALL, "rb").read()
    element = b"\x28\x00\x53\x10DS\x02\x00"  # (0028,1053) DS, 2 bytes
    assert data.count(element + b"1 ") == 1
    path = tmp_path / "bad_slope.dcm"
    path.write_bytes(data.replace(element + b"1 ", element + b"ab"))
    return str(path)


BAD_INPUTS = {
    "not_dicom": (not_dicom, "not a DICOM file", False),
    "truncated": (truncated, "less than expected", False),
    "short_pixel_data": (short_pixel_data, "corrupt or truncated", False),
    "no_pixel_data": (lambda tmp: ct_copy(tmp, PixelData=None), "no PixelData", False),
    "non_ct": (lambda tmp: bundled("MR_small.dcm"), "modality 'MR' is not CT", False),
    "no_modality": (lambda tmp: ct_copy(tmp, Modality=None), "no Modality tag", False),
    "unknown_transfer_syntax": (unknown_transfer_syntax, "unsupported transfer syntax 1.2.3.4", False),
    "no_transfer_syntax": (no_transfer_syntax, "no TransferSyntaxUID", False),
    "rgb": (lambda tmp: bundled("SC_rgb_small_odd.dcm"), "grayscale image (PhotometricInterpretation 'RGB'", True),
    "palette": (lambda tmp: bundled("examples_palette.dcm"), "'PALETTE COLOR', SamplesPerPixel 1", True),
    "multi_frame": (multi_frame, "multi-frame", False),
    "inf_after_rescale": (lambda tmp: ct_copy(tmp, RescaleSlope="1e38"), "NaN/inf pixels", False),
    "bad_slope": (bad_slope, "RescaleSlope is not a number", False),
    "corrupt_jpeg": (lambda tmp: bundled("JPEG-lossy.dcm"), "cannot decode the JPEG Extended", True),
    # A header claiming 20000 x 20000 pixels is refused before the pixel data is decoded.
    "huge_header": (lambda tmp: ct_copy(tmp, Rows=20000, Columns=20000),
                    "20000x20000 = 400,000,000 pixels is over the --max_pixels=100,000,000 cap", False),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_clear_data_error(tmp_path, case):
    build, fragment, any_modality = BAD_INPUTS[case]
    path = build(tmp_path)
    with pytest.raises(DataError) as info:
        read_dicom(path, allow_any_modality=any_modality)
    message = str(info.value)
    assert message.startswith(path), message
    assert fragment in message, message


def test_missing_file_and_folders(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_dicom(str(tmp_path / "absent.dcm"))
    with pytest.raises(DataError, match="no DICOM files"):
        find_dicom_files(str(tmp_path))
    (tmp_path / "notes.txt").write_text("x")
    assert not sources.DicomSource.matches(str(tmp_path))
    with pytest.raises(UserError, match="empty input folder"):
        sources.open_source(str(tmp_path))
    with pytest.raises(UserError, match="no such file or folder"):
        sources.open_source(str(tmp_path / "absent"))


def write_slices(folder, specs: dict[str, dict]) -> None:
    for name, tags in specs.items():
        ct_copy(folder, name, **tags)


def order(folder) -> list[str]:
    return [os.path.basename(p) for p in sort_slices(find_dicom_files(str(folder)))]


def axial(z: float) -> dict:
    return dict(ImagePositionPatient=[-158.1, -179.0, z], ImageOrientationPatient=[1, 0, 0, 0, 1, 0])


def test_series_sorted_along_normal_and_failures_kept(tmp_path):
    write_slices(tmp_path, {"a.dcm": axial(3.0), "b.dcm": axial(1.0), "sub/c.dcm": axial(4.0), "d.dcm": axial(2.0)})
    no_extension = tmp_path / "sub" / "IM0005"
    no_extension.write_bytes(open(ct_copy(tmp_path, "x.dcm", **axial(5.0)), "rb").read())
    os.remove(tmp_path / "x.dcm")
    (tmp_path / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM")  # an index, not a slice
    (tmp_path / "readme.txt").write_text("not DICOM")
    broken = tmp_path / "e.dcm"
    broken.write_text("garbage")

    found = find_dicom_files(str(tmp_path))
    relative = [os.path.relpath(p, tmp_path) for p in found]
    assert relative == ["a.dcm", "b.dcm", "d.dcm", "e.dcm", "sub/IM0005", "sub/c.dcm"]
    items = sources.open_source(str(tmp_path)).items()
    names = [os.path.relpath(item.source, tmp_path) for item in items]
    assert names == ["b.dcm", "d.dcm", "a.dcm", "sub/c.dcm", "sub/IM0005", "e.dcm"]
    assert [i.item_id for i in items][3] == "sub%2Fc.dcm"
    assert [i.read().meta["ImagePositionPatient"][2] for i in items[:5]] == [1.0, 2.0, 3.0, 4.0, 5.0]
    with pytest.raises(DataError, match=str(broken)):
        items[-1].read()


def test_oblique_series_sorted_by_projection_on_normal(tmp_path):
    # Sagittal: rows along +y, columns along -z, normal = (0,1,0) x (0,0,-1) = (-1,0,0).
    sagittal = [0, 1, 0, 0, 0, -1]
    write_slices(tmp_path, {f"{n}.dcm": dict(ImagePositionPatient=[x, 0, 0], ImageOrientationPatient=sagittal)
                            for n, x in zip("abc", (2, 1, 3))})  # fmt: skip
    assert order(tmp_path) == ["c.dcm", "a.dcm", "b.dcm"]


def test_series_fallbacks_and_grouping(tmp_path):
    numbered = {f"{n}.dcm": dict(ImagePositionPatient=None, InstanceNumber=i) for n, i in zip("abc", (3, 1, 2))}
    write_slices(tmp_path / "by_number", numbered)
    assert order(tmp_path / "by_number") == ["b.dcm", "c.dcm", "a.dcm"]
    unnumbered = {f"{n}.dcm": dict(ImagePositionPatient=None, InstanceNumber=None) for n in "cab"}
    write_slices(tmp_path / "by_name", unnumbered)
    assert order(tmp_path / "by_name") == ["a.dcm", "b.dcm", "c.dcm"]
    other = dict(SeriesInstanceUID="1.2.3.999")  # a second series in the folder, kept together
    two = {"a.dcm": {**other, **axial(2.0)}, "b.dcm": axial(5.0), "c.dcm": {**other, **axial(1.0)}}
    write_slices(tmp_path / "two", two)
    assert order(tmp_path / "two") == ["c.dcm", "a.dcm", "b.dcm"]


def test_single_file_series():
    [item] = sources.open_source(CT_SMALL).items()
    assert item.source == CT_SMALL and item.kind == "dicom" and item.read().hu.shape == (128, 128)


def test_derived_round_trip_keeps_identity(tmp_path):
    source = ct_copy(tmp_path, "src.dcm", WindowCenter=40, WindowWidth=400)
    original = pydicom.dcmread(source)
    enhanced = read_dicom(source).hu + 0.3
    series_uid = generate_uid()
    out = str(tmp_path / "out" / "slice.dcm")
    write_derived(source, enhanced, out, series_uid, "sgan-tf enhanced", deidentify=False)

    back = read_dicom(out)
    np.testing.assert_allclose(back.hu, enhanced, atol=0.5)
    assert back.window == Window(-160.0, 240.0) and back.spacing == pytest.approx((0.661468, 0.661468))
    ds = pydicom.dcmread(out)
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.SOPInstanceUID != original.SOPInstanceUID and ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.SeriesInstanceUID == series_uid and ds.SeriesDescription == "sgan-tf enhanced"
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "AXIAL"] and "sgan-tf" in ds.DerivationDescription
    assert (ds.RescaleSlope, ds.RescaleIntercept, ds.BitsAllocated, ds.PixelRepresentation) == (1, 0, 16, 1)
    for keyword in ("PatientName", "PatientID", "StudyInstanceUID", "FrameOfReferenceUID", "InstitutionName"):
        assert ds[keyword].value == original[keyword].value, keyword
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == original.SOPInstanceUID
    assert any(elem.tag.is_private for elem in ds)


def test_derived_deidentified_series(tmp_path):
    original = pydicom.dcmread(CT_SMALL)
    original.PatientAddress = "1 Main Street"
    original.OtherPatientIDs = "X-1"
    original.RequestAttributesSequence = [pydicom.Dataset()]
    original.RequestAttributesSequence[0].RequestedProcedureID = "R1"
    before = pydicom.dcmread(CT_SMALL)
    series_uid = generate_uid()
    outs = [str(tmp_path / f"{i}.dcm") for i in range(2)]
    for i, out in enumerate(outs):
        write_derived(original, read_dicom(CT_SMALL).hu + i, out, series_uid, "enhanced", deidentify=True)
    a, b = (pydicom.dcmread(out) for out in outs)

    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "ReferringPhysicianName"):
        assert a[keyword].value in ("", None), keyword
    for keyword in ("PatientAddress", "OtherPatientIDs", "InstitutionName", "RequestAttributesSequence"):
        assert keyword not in a, keyword
    assert "SourceImageSequence" not in a  # no link back to the identified original
    assert not any(elem.tag.is_private for elem in a)
    assert "SourceApplicationEntityTitle" not in a.file_meta  # CLUNIE1 in the source
    assert a.PatientIdentityRemoved == "YES"
    for keyword in ("StudyInstanceUID", "FrameOfReferenceUID"):
        assert a[keyword].value == b[keyword].value != original[keyword].value, keyword
    assert a.SeriesInstanceUID == b.SeriesInstanceUID == series_uid and a.SOPInstanceUID != b.SOPInstanceUID
    np.testing.assert_allclose(read_dicom(outs[1]).hu, read_dicom(CT_SMALL).hu + 1, atol=0.5)
    assert original.PatientName == before.PatientName  # the caller's dataset is not modified
    assert original.SOPInstanceUID == before.SOPInstanceUID


def test_derived_resized_updates_geometry(tmp_path):
    hu = read_dicom(CT_SMALL).hu[::2, ::2]
    out = str(tmp_path / "half.dcm")
    write_derived(CT_SMALL, hu, out, generate_uid(), "half", deidentify=False)
    ds, back = pydicom.dcmread(out), read_dicom(out)
    assert (ds.Rows, ds.Columns) == (64, 64)
    np.testing.assert_allclose(back.hu, hu, atol=0.5)
    assert back.spacing == pytest.approx((2 * 0.661468, 2 * 0.661468))
    # Axial: the first pixel's centre moves half a new pixel minus half an old one along +x and +y.
    expected = np.array([-158.135803, -179.035797, -75.699997]) + [0.661468 / 2, 0.661468 / 2, 0]
    np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], expected, atol=1e-4)


def test_derived_from_compressed_source(tmp_path):
    path = bundled("J2K_pixelrep_mismatch.dcm")
    needs_decoder(path)
    ct = read_dicom(path)
    out = str(tmp_path / "j2k_derived.dcm")
    write_derived(pydicom.dcmread(path), ct.hu, out, generate_uid(), "enhanced", deidentify=False)
    back = read_dicom(out)
    assert back.meta["TransferSyntaxUID"] == ExplicitVRLittleEndian and "PixelPaddingValue" not in pydicom.dcmread(out)
    np.testing.assert_array_equal(back.hu, ct.hu)
    assert back.window == ct.window


def test_derived_from_inverted_other_modality(tmp_path):
    path = ct_copy(tmp_path, Modality="CR", PhotometricInterpretation="MONOCHROME1", WindowCenter=1000, WindowWidth=200)
    ct = read_dicom(path, allow_any_modality=True)
    out = str(tmp_path / "cr_derived.dcm")
    write_derived(path, ct.hu, out, generate_uid(), "enhanced", deidentify=False)
    back = read_dicom(out, allow_any_modality=True)
    assert back.meta["PhotometricInterpretation"] == "MONOCHROME2" and back.meta["inverted"] is False
    np.testing.assert_array_equal(back.hu, ct.hu)
    assert back.window == ct.window


def test_derived_refuses_values_beyond_int16(tmp_path):
    out = str(tmp_path / "wide.dcm")
    with pytest.raises(DataError, match=r"wide\.dcm: values span \[.*40000\]"):
        write_derived(CT_SMALL, np.full((128, 128), 40000.0), out, generate_uid(), "x", deidentify=False)
    with pytest.raises(DataError, match="NaN/inf"):
        write_derived(CT_SMALL, np.full((128, 128), np.nan), out, generate_uid(), "x", deidentify=False)
    assert not os.path.exists(out)


def test_derived_refuses_big_endian_source(tmp_path):
    source = bundled("MR_small_bigendian.dcm")
    hu = read_dicom(source, allow_any_modality=True).hu
    with pytest.raises(DataError, match=r"MR_small_bigendian\.dcm: big-endian sources \(Explicit VR Big Endian\)"):
        write_derived(source, hu, str(tmp_path / "be.dcm"), generate_uid(), "x", deidentify=False)


def test_pixel_cap_applies_to_every_frame_and_sample(tmp_path, max_pixels):
    max_pixels(128 * 128)
    assert read_dicom(CT_SMALL).hu.shape == (128, 128)  # at the cap
    max_pixels(128 * 128 - 1)
    with pytest.raises(DataError, match=r"ct.dcm: 128x128 = 16,384 pixels is over the --max_pixels=16,383"):
        read_dicom(ct_copy(tmp_path))


# -- derived slices of ROIs and zooms: geometry ------------------------------------------------

TILT = np.deg2rad(18.5)
ORIENTATIONS = {
    "axial": [1, 0, 0, 0, 1, 0],
    "tilted": [1, 0, 0, 0, np.cos(TILT), -np.sin(TILT)],  # gantry tilt, as real_ct/dcmqa_ge_head_dicom
    "oblique": [np.cos(0.3), np.sin(0.3), 0, -np.sin(0.3) * np.cos(TILT), np.cos(0.3) * np.cos(TILT), -np.sin(TILT)],
}
ROIS = {"whole": None, "inside": RoiBox(30, 40, 24), "overhang": RoiBox(-7, 110, 26)}  # CT_small is 128 x 128


def pixel_to_patient(ds, column: float, row: float) -> np.ndarray:
    """Patient coordinates (mm) of the point (column, row) of a slice, from its tags alone."""
    position = np.array([float(v) for v in ds.ImagePositionPatient])
    orientation = np.array([float(v) for v in ds.ImageOrientationPatient])
    row_spacing, column_spacing = (float(v) for v in ds.PixelSpacing)
    return position + column * column_spacing * orientation[:3] + row * row_spacing * orientation[3:]


def zoomed_size(box: RoiBox, zoom: float) -> int:
    return max(int(round(box.side * zoom)), 1)  # Enhancer's rule


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
@pytest.mark.parametrize("roi", sorted(ROIS))
@pytest.mark.parametrize("zoom", [1.0, 2.0, 2.5])
def test_derived_geometry_maps_source_pixels_to_the_same_place(tmp_path, orientation, roi, zoom):
    source = ct_copy(tmp_path, "src.dcm", ImageOrientationPatient=ORIENTATIONS[orientation], PixelSpacing=[0.7, 0.6])
    box = ROIS[roi] or RoiBox(0, 0, 128)
    size = zoomed_size(box, zoom)
    out = str(tmp_path / "derived.dcm")
    write_derived(source, np.zeros((size, size)), out, generate_uid(), "roi", roi=ROIS[roi], zoom=zoom)
    src, ds = pydicom.dcmread(source), pydicom.dcmread(out)
    assert (ds.Rows, ds.Columns) == (size, size)
    scale = box.side / size  # source pixels per derived pixel
    assert [float(v) for v in ds.PixelSpacing] == pytest.approx([0.7 * scale, 0.6 * scale], rel=1e-9)
    assert list(ds.ImageOrientationPatient) == list(src.ImageOrientationPatient)
    # The ROI's corner pixels, a middle one, and one outside the slice (overhang) are where they were.
    points = np.array([[box.x0, box.y0], [box.x0 + box.side - 1, box.y0 + box.side - 1],
                       [box.x0 + box.side / 2, box.y0 + 3.25], [-3, 120]], np.float64)
    for (c, r), (u, v) in zip(points, to_roi(points, box, size / box.side)):
        np.testing.assert_allclose(pixel_to_patient(ds, u, v), pixel_to_patient(src, c, r), atol=1e-4)
    if roi == "whole" and zoom == 1.0:
        assert ds.ImagePositionPatient == src.ImagePositionPatient and ds.DerivationDescription == DERIVATION


def test_derived_roi_pixels_land_where_the_tags_say(tmp_path):
    """A blob near the slice corner, cropped (air beyond the border) and enlarged 2.5x by bicubic
    interpolation as the enhancer does: its centroid in the derived slice maps, through the
    derived tags, to where the source's tags put it."""
    source = ct_copy(tmp_path, "src.dcm", ImageOrientationPatient=ORIENTATIONS["oblique"], PixelSpacing=[0.7, 0.6])
    yy, xx = np.mgrid[:128, :128]
    blob_at = (8.3, 117.6)  # (column, row) in source pixels
    hu = -1000.0 + 1000.0 * np.exp(-((xx - blob_at[0]) ** 2 + (yy - blob_at[1]) ** 2) / (2 * 2.5**2))
    box = RoiBox(-7, 100, 36)
    size = zoomed_size(box, 2.5)
    zoomed = cv2.resize(crop(hu.astype(np.float32), box), (size, size), interpolation=cv2.INTER_CUBIC)
    out = str(tmp_path / "derived.dcm")
    write_derived(source, zoomed, out, generate_uid(), "roi", roi=box, zoom=2.5)
    weight = np.clip(read_dicom(out).hu + 1000.0, 0, None)
    weight[weight < 20] = 0  # the blob, not the rounding noise of the air around it
    rows, columns = np.mgrid[:size, :size]
    centroid = ((weight * columns).sum() / weight.sum(), (weight * rows).sum() / weight.sum())
    expected = pixel_to_patient(pydicom.dcmread(source), *blob_at)
    np.testing.assert_allclose(pixel_to_patient(pydicom.dcmread(out), *centroid), expected, atol=0.03)  # 0.03 mm


def test_derived_description_and_unchanged_tags_for_a_zoomed_roi(tmp_path):
    out = str(tmp_path / "d.dcm")
    write_derived(CT_SMALL, np.zeros((65, 65)), out, generate_uid(), "roi", roi=RoiBox(-7, 110, 26), zoom=2.5)
    ds, src = pydicom.dcmread(out), pydicom.dcmread(CT_SMALL)
    assert ds.DerivationDescription == (
        f"{DERIVATION}; source columns -7..18, rows 110..135 (air beyond the slice border); zoom 2.5")
    assert ds.SliceLocation == src.SliceLocation and ds.FrameOfReferenceUID == src.FrameOfReferenceUID
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert ds.SOPInstanceUID != src.SOPInstanceUID


def test_derived_zoom_must_match_the_image_and_geometry_must_be_known(tmp_path):
    out = str(tmp_path / "d.dcm")
    with pytest.raises(ValueError, match="a 50x50 image is not the 24x24 region at zoom 2.5"):
        write_derived(CT_SMALL, np.zeros((50, 50)), out, generate_uid(), "x", roi=RoiBox(0, 0, 24), zoom=2.5)
    no_spacing = ct_copy(tmp_path, "nospacing.dcm", PixelSpacing=None)
    with pytest.raises(DataError, match=f"^{no_spacing}: no usable PixelSpacing"):
        write_derived(no_spacing, np.zeros((24, 24)), out, generate_uid(), "x", roi=RoiBox(0, 0, 24))
    no_orientation = ct_copy(tmp_path, "noorientation.dcm", ImageOrientationPatient=None)
    with pytest.raises(DataError, match=f"^{no_orientation}: ImagePositionPatient without"):
        write_derived(no_orientation, np.zeros((48, 48)), out, generate_uid(), "x", roi=RoiBox(0, 0, 24), zoom=2.0)
    assert not os.path.exists(out)
    write_derived(no_spacing, read_dicom(CT_SMALL).hu, out, generate_uid(), "x")  # whole slice, zoom 1: as before
    assert "PixelSpacing" not in pydicom.dcmread(out)


def test_derived_refuses_to_overwrite_or_follow_a_link(tmp_path):
    hu = read_dicom(CT_SMALL).hu
    out = tmp_path / "d.dcm"
    out.write_bytes(b"earlier")
    with pytest.raises(DataError, match=f"^{out}: exists"):
        write_derived(CT_SMALL, hu, str(out), generate_uid(), "x")
    assert out.read_bytes() == b"earlier"
    write_derived(CT_SMALL, hu, str(out), generate_uid(), "x", overwrite=True)
    np.testing.assert_array_equal(read_dicom(str(out)).hu, hu)
    link = tmp_path / "link.dcm"
    link.symlink_to(tmp_path / "target.dcm")
    with pytest.raises(DataError, match="is a symlink"):
        write_derived(CT_SMALL, hu, str(link), generate_uid(), "x", overwrite=True)
    assert not (tmp_path / "target.dcm").exists()


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, "real_ct", "dcmqa_ge_head_dicom")),
                    reason="reference data real_ct/dcmqa_ge_head_dicom not present")
def test_derived_roi_of_a_real_tilted_slice(tmp_path):
    source = os.path.join(SHARED_DATA, "real_ct", "dcmqa_ge_head_dicom", "20.dcm")
    box = RoiBox(480, -10, 48)  # over the right and top borders
    size = zoomed_size(box, 2.5)
    out = str(tmp_path / "d.dcm")
    write_derived(source, np.full((size, size), 20.0), out, generate_uid(), "roi", roi=box, zoom=2.5)
    src, ds = pydicom.dcmread(source, stop_before_pixels=True), pydicom.dcmread(out)
    assert float(src.ImageOrientationPatient[5]) == pytest.approx(-0.3173047)
    points = np.array([[480.0, -10.0], [511.0, 0.0], [527.0, 37.0]])
    for (c, r), (u, v) in zip(points, to_roi(points, box, size / box.side)):
        np.testing.assert_allclose(pixel_to_patient(ds, u, v), pixel_to_patient(src, c, r), atol=1e-4)
    assert "PixelPaddingValue" not in ds and read_dicom(out).hu.shape == (size, size)
