"""One lesion from its RECIST marks (sgan_tf/segment/lesion.py): segment_lesion on arrays, and
segment_main --recist on a NIfTI volume, a DICOM series and a PNG, masks in the input's format."""

import doctest
import json
import os

import cv2
import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from conftest import make_deeplesion, run_module
from sgan_tf.data import ct, volumes
from sgan_tf.errors import DataError, UserError
from sgan_tf.segment import lesion, segmenters

CENTRE, RADIUS = (40, 36), 9  # (x, y) of the disk lesion, pixels
MARKS = (31, 36, 49, 36, 40, 27, 40, 45)  # its horizontal then vertical diameter


def lesion_slice(shape=(72, 80), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """(HU slice, lesion mask): a 30 HU disk on fat (-100 HU) with 10 HU noise."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    disk = (xx - CENTRE[0]) ** 2 + (yy - CENTRE[1]) ** 2 <= RADIUS**2
    noise = np.random.default_rng(seed).normal(0, 10, shape)
    return (np.where(disk, 30.0, -100.0) + noise).astype(np.float32), disk


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_the_docstring_example_runs():
    result = doctest.testmod(lesion)
    assert result.failed == 0 and result.attempted >= 6


def test_segment_lesion_finds_the_marked_disk_on_each_variant(tiny_models):
    hu, disk = lesion_slice()
    mask = lesion.segment_lesion(hu, MARKS)
    assert mask.dtype == bool and mask.shape == hu.shape and iou(mask, disk) > 0.85
    same = lesion.segment_lesion(hu, np.reshape(MARKS, (4, 2)), window="-160,240")  # soft tissue, spelled out
    np.testing.assert_array_equal(same, mask)
    enhanced = lesion.segment_lesion(hu, MARKS, variant="sgan", models=tiny_models)
    assert enhanced.shape == hu.shape and enhanced[CENTRE[1], CENTRE[0]]


@pytest.mark.parametrize("marks, message", [
    ((31, 36, 49, 36, 40, 27, 40), "RECIST takes 8 numbers"),
    ((31, 36, 49, 36, 40, 27, 40, float("nan")), "not finite"),
    ((31, 36, 90, 36, 40, 27, 40, 45), "outside the 80x72 image"),
    ((31, 36, 31, 36, 40, 27, 40, 45), "long axis has zero length"),
])
def test_bad_marks_are_data_errors(marks, message):
    hu, _ = lesion_slice()
    with pytest.raises(DataError, match=message):
        lesion.segment_lesion(hu, marks)


def test_hnn_without_a_model_and_a_3d_array_are_refused():
    hu, _ = lesion_slice()
    with pytest.raises(UserError, match="needs an HNN trained on variant og"):
        lesion.segment_lesion(hu, MARKS, method="hnn")
    with pytest.raises(DataError, match="a \\[H, W\\] HU slice is needed"):
        lesion.segment_lesion(hu[None], MARKS)


def config(input_path, out, **fields) -> segmenters.SegmentConfig:
    return segmenters.SegmentConfig(input=str(input_path), output_dir=str(out), recist=MARKS, **fields)


def axial_volume(tmp_path, z: int = 1, depth: int = 3) -> tuple[str, np.ndarray]:
    """A NIfTI whose disk axes are permuted (P, I, R), with the lesion on axial slice `z`;
    returns (path, the lesion's axial mask volume)."""
    shape = lesion_slice()[0].shape
    empty = np.zeros((shape[0], depth, shape[1]), np.int16)  # (i, j, k): P, I, R
    affine = np.array([[0, 0, 0.7, 10.0], [-0.8, 0, 0, -20.0], [0, -2.5, 0, 30.0], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(empty, affine), str(tmp_path / "empty.nii.gz"))
    volume = volumes.read_volume(str(tmp_path / "empty.nii.gz"))
    assert volume.hu.shape == (depth, *shape)
    hu = np.full(volume.hu.shape, -100.0, np.float32)
    truth = np.zeros(volume.hu.shape, bool)
    hu[z], truth[z] = lesion_slice()
    volumes.write_like(volume, hu, str(tmp_path / "ct.nii.gz"))
    return str(tmp_path / "ct.nii.gz"), truth


def test_binary_on_a_nifti_volume_writes_a_label_volume_in_its_geometry(tmp_path, tiny_models):
    path, truth = axial_volume(tmp_path)
    out = tmp_path / "out"
    proc = run_module("sgan_tf.cli.segment_main", f"--input={path}", "--slice=1",
                      f"--recist={','.join(map(str, MARKS))}", f"--output_dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(os.listdir(out)) == ["ct.nii.gz%231.lesion.json", "ct.nii.gz%231.mask.nii.gz", "ct.nii.gz%231.png"]
    source, mask = volumes.read_volume(path), volumes.read_volume(str(out / "ct.nii.gz%231.mask.nii.gz"))
    np.testing.assert_allclose(mask.affine, source.affine, atol=1e-6)
    assert nib.load(str(out / "ct.nii.gz%231.mask.nii.gz")).get_data_dtype() == np.uint8
    assert mask.hu[[0, 2]].max() == 0 and iou(mask.hu[1] > 0, truth[1]) > 0.85
    png = cv2.imread(str(out / "ct.nii.gz%231.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(png > 0, mask.hu[1] > 0)
    record = json.loads((out / "ct.nii.gz%231.lesion.json").read_text())
    assert record["slice"] == 1 and record["method"] == "grabcut" and record["variant"] == "og"
    assert record["area_mm2"] == pytest.approx(record["pixels"] * 0.7 * 0.8)
    assert "mm²" in proc.stderr
    again = run_module("sgan_tf.cli.segment_main", f"--input={path}", "--slice=1",
                       f"--recist={','.join(map(str, MARKS))}", f"--output_dir={out}")
    assert again.returncode == 2 and "exists; not overwritten" in again.stderr
    # The record names the models that ran (folder and checkpoint), as enhance_main's sidecars do.
    sgan = run_module("sgan_tf.cli.segment_main", f"--input={path}", "--slice=1", "--variant=sgan",
                      f"--denoise_model={tiny_models['denoise']}", f"--enhance_model={tiny_models['enhance']}",
                      f"--recist={','.join(map(str, MARKS))}", f"--output_dir={tmp_path / 'sgan'}")
    assert sgan.returncode == 0, sgan.stderr[-2000:]
    ran = json.loads((tmp_path / "sgan" / "ct.nii.gz%231.lesion.json").read_text())["models"]
    assert set(ran) == {"denoise_model", "enhance_model"} and ran["denoise_model"]["checkpoint"]


def series(folder, depth: int = 3, lesion_on: int = 1) -> list[str]:
    """`depth` axial CT slices (CT_small's header, 72 x 80 synthetic HU) of one series, 2.5 mm
    apart, the lesion on slice `lesion_on`; the file names do not follow the slice order."""
    folder.mkdir()
    uid, paths = generate_uid(), []
    for z in range(depth):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
        hu = lesion_slice(seed=z)[0] if z == lesion_on else np.full((72, 80), -100.0, np.float32)
        ds.Rows, ds.Columns = hu.shape
        ds.PixelData = (np.rint(hu) + 1024).astype(np.int16).tobytes()  # RescaleIntercept -1024
        ds.SeriesInstanceUID, ds.SOPInstanceUID = uid, generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImagePositionPatient = [-20.0, -30.0, 10.0 + 2.5 * z]
        paths.append(str(folder / f"{'cba'[z]}.dcm"))
        ds.save_as(paths[-1])
    return paths


def test_binary_on_a_dicom_series_writes_a_seg_referencing_the_series(tmp_path):
    paths = series(tmp_path / "series")
    out = tmp_path / "out"
    proc = run_module("sgan_tf.cli.segment_main", f"--input={tmp_path / 'series'}", "--slice=1",
                      f"--recist={','.join(map(str, MARKS))}", f"--output_dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(os.listdir(out)) == ["b.dcm.lesion.json", "b.dcm.png", "b.dcm.seg.dcm"]
    seg = hd.seg.segread(str(out / "b.dcm.seg.dcm"))
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    uids = [ds.SOPInstanceUID for ds in sources]
    referenced = [i.ReferencedSOPInstanceUID for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence]
    assert sorted(referenced) == sorted(uids)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == sources[0].SeriesInstanceUID
    [frame] = seg.PerFrameFunctionalGroupsSequence
    assert frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID == uids[1]
    pixels = seg.get_pixels_by_source_instance(uids, segment_numbers=[1], assert_missing_frames_are_empty=True)
    png = cv2.imread(str(out / "b.dcm.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(pixels[1, ..., 0] > 0, png > 0)
    assert pixels[[0, 2]].max() == 0 and iou(png > 0, lesion_slice()[1]) > 0.85
    plain = pydicom.dcmread(out / "b.dcm.seg.dcm")
    assert plain.Modality == "SEG" and plain.StudyInstanceUID == sources[0].StudyInstanceUID
    record = json.loads((out / "b.dcm.lesion.json").read_text())
    assert record["slice"] == 1 and record["source"] == paths[1] and record["spacing_mm"]


def test_binary_on_a_png_needs_no_slice_and_bad_flags_stop_before_any_work(tmp_path):
    hu, disk = lesion_slice()
    ct.write_hu_png(str(tmp_path / "slice.png"), hu)
    out = tmp_path / "out"
    marks = f"--recist={','.join(map(str, MARKS))}"
    proc = run_module("sgan_tf.cli.segment_main", f"--input={tmp_path / 'slice.png'}", marks, f"--output_dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(os.listdir(out)) == ["slice.png", "slice.png.lesion.json"]
    assert iou(cv2.imread(str(out / "slice.png"), cv2.IMREAD_UNCHANGED) > 0, disk) > 0.85
    assert json.loads((out / "slice.png.lesion.json").read_text())["area_mm2"] is None  # a PNG has no spacing
    for flags, message in (
        (["--recist=1,2,3"], "--recist takes 8 comma-separated numbers, got 3"),
        (["--recist=1,2,3,4,5,6,7,inf"], "--recist: 8 finite numbers are needed"),
        ([marks, "--slice=-1"], "--slice=-1: slices count from 0"),
        (["--slice=2"], "--slice needs --recist"),
    ):
        bad = run_module("sgan_tf.cli.segment_main", f"--input={tmp_path / 'slice.png'}", *flags,
                         f"--output_dir={tmp_path / 'never'}")
        assert bad.returncode == 2 and message in bad.stderr, (flags, bad.stderr[-2000:])
    assert not (tmp_path / "never").exists()


def test_inputs_slices_and_marks_are_checked_with_clear_messages(tmp_path):
    path, _ = axial_volume(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(UserError, match="has 3 slices; say which with --slice=0..2"):
        lesion.segment_one(config(path, out))
    with pytest.raises(UserError, match="--slice=3: --input .* has 3 slice\\(s\\), 0..2"):
        lesion.segment_one(config(path, out, slice=3))
    with pytest.raises(DataError, match="--recist on .*ct.nii.gz#0: RECIST point\\(s\\) .* outside the 80x72"):
        lesion.segment_one(segmenters.SegmentConfig(input=path, output_dir=str(out), slice=0,
                                                    recist=(31, 36, 99, 36, 40, 27, 40, 45)))
    make_deeplesion(str(tmp_path / "set"))
    with pytest.raises(UserError, match="carries its own RECIST marks"):
        lesion.segment_one(config(tmp_path / "set", out, slice=0))
    (tmp_path / "pngs").mkdir()
    for name in ("a.png", "b.png"):
        ct.write_hu_png(str(tmp_path / "pngs" / name), lesion_slice()[0])
    with pytest.raises(UserError, match="holds 2 png files; --recist takes one file"):
        lesion.segment_one(config(tmp_path / "pngs", out))
    (tmp_path / "broken.nii.gz").write_bytes(b"\x1f\x8b broken")
    with pytest.raises(DataError, match="broken.nii.gz: not a readable NIfTI"):
        lesion.segment_one(config(tmp_path / "broken.nii.gz", out))
    assert not os.listdir(out)


def test_existing_outputs_are_kept_and_a_failed_format_write_leaves_nothing(tmp_path):
    paths = series(tmp_path / "series")
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.dcm.png").write_bytes(b"mine")
    with pytest.raises(DataError, match="b.dcm.png: exists; not overwritten"):
        lesion.segment_one(config(tmp_path / "series", out, slice=1))
    assert (out / "b.dcm.png").read_bytes() == b"mine"
    written = lesion.segment_one(config(tmp_path / "series", out, slice=1, overwrite=True))
    assert [os.path.basename(p) for p in written] == ["b.dcm.seg.dcm", "b.dcm.png", "b.dcm.lesion.json"]
    ds = pydicom.dcmread(paths[0])
    ds.Modality = "MR"  # a series the DICOM-SEG refuses: the slice is segmented, nothing is left behind
    ds.save_as(paths[0])
    with pytest.raises(DataError, match="c.dcm: modality 'MR' is not CT"):
        lesion.segment_one(config(tmp_path / "series", tmp_path / "out2", slice=1))
    assert os.listdir(tmp_path / "out2") == []
