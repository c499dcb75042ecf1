"""DL_info.csv reading/writing, row validation, slice and mask loading, filters."""

import csv
import os

import cv2
import numpy as np
import pytest

from conftest import make_deeplesion
from sgan_tf.data import deeplesion
from sgan_tf.errors import DataError


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write_rows(path, rows, fields=deeplesion.COLUMNS):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def test_written_set_reads_back_with_every_field(tmp_path):
    written = make_deeplesion(str(tmp_path))
    ds = deeplesion.DeepLesionSet(str(tmp_path))
    assert ds.problems == [] and ds.has_masks
    assert [r.file_name for r in ds.records] == [r.file_name for r in written]
    for got, want in zip(ds.records, written):
        np.testing.assert_allclose(got.recist, want.recist, atol=1e-4)
        assert got.lesion_type == want.lesion_type and got.split == want.split
        assert got.spacing == want.spacing and got.window == want.window and got.image_size == want.image_size
        assert got.line >= 2 and got.lesion_index == 0
    rec = ds.records[0]
    assert rec.series_dir == "000001_01_01" and rec.slice_file == "010.png"
    assert ds.image_path(rec).endswith(os.path.join("Images_png", "000001_01_01", "010.png"))


def test_deeplesion_number_format_is_parsed():
    row = {
        "File_name": "000001_01_01_109.png", "Patient_index": "1", "Study_index": "1", "Series_ID": "1",
        "Key_slice_index": "109",
        "Measurement_coordinates": "233.537, 95.0204, 234.057, 106.977, 231.169, 101.605, 236.252, 101.143",
        "Bounding_boxes": "226.169, 90.0204, 241.252, 111.977", "Lesion_diameters_Pixel_": "11.9677, 5.10387",
        "Normalized_lesion_location": "0.44227, 0.2151, 0.40626", "Coarse_lesion_type": "-1",
        "Possibly_noisy": "0", "Slice_range": "103, 115", "Spacing_mm_px_": "0.488281, 0.488281, 5",
        "Image_size": "512, 512", "DICOM_windows": "-175, 275", "Patient_gender": "F", "Patient_age": "62",
        "Train_Val_Test": "1",
    }
    rec = deeplesion.parse_row(row, 2)
    assert rec.recist.shape == (4, 2) and rec.recist[1, 1] == pytest.approx(106.977)
    assert rec.lesion_type == -1 and rec.type_name == "unlabelled"
    assert rec.slice_range == (103, 115) and rec.own_window.lo == -175


def test_filters_by_split_and_type(tmp_path):
    make_deeplesion(str(tmp_path))
    ds = deeplesion.DeepLesionSet(str(tmp_path))
    assert {r.split for r in ds.select(splits=[1])} == {1}
    assert [r.lesion_type for r in ds.select(types=[5, 1])] == [5, 1]
    assert ds.select(splits=[3], types=[4]) == []


def test_missing_columns_refuse_the_whole_file(tmp_path):
    make_deeplesion(str(tmp_path))
    path = str(tmp_path / deeplesion.INFO_FILE)
    rows = _rows(path)
    _write_rows(path, rows, [c for c in deeplesion.COLUMNS if c not in ("Image_size", "Train_Val_Test")])
    with pytest.raises(DataError, match="missing column.*Image_size, Train_Val_Test"):
        deeplesion.DeepLesionSet(str(tmp_path))


@pytest.mark.parametrize("column,value,message", [
    ("Measurement_coordinates", "1, 2, 3", "needs 8 numbers"),
    ("Measurement_coordinates", "a, b, c, d, e, f, g, h", "could not convert"),
    ("Measurement_coordinates", "10, 10, 200, 10, 50, 5, 50, 15", "outside the 96x96"),
    ("Measurement_coordinates", "10, 10, 10, 10, 20, 5, 20, 15", "long axis has zero length"),
    ("Measurement_coordinates", "10, 10, 30, 10, 20, 5, 20, 5", "short axis has zero length"),
    ("Spacing_mm_px_", "", "needs 3 numbers"),
    ("Coarse_lesion_type", "12", "not one of"),
    # Paths that would leave the set (and name outputs outside the output folder).
    ("File_name", "/tmp/000001_01_01_010.png", "is not <series>_<slice>.png"),
    ("File_name", "../../000001_01_01_010.png", "is not <series>_<slice>.png"),
    ("File_name", "..\\000001_01_01_010.png", "is not <series>_<slice>.png"),
    ("File_name", ".._010.png", "is not <series>_<slice>.png"),
    # Numbers out of range (inf and 1e999 used to raise OverflowError and stop the whole set).
    ("Patient_index", "inf", "Patient_index has non-finite numbers"),
    ("Key_slice_index", "1e999", "Key_slice_index has non-finite numbers"),
    ("Study_index", "2.5", "whole number"),
    ("Series_ID", "-3", "whole number"),
    ("Spacing_mm_px_", "-1, 0, 0", "3 positive numbers"),
    ("Image_size", "100000, 100000", "over the --max_pixels"),
    ("Image_size", "0, 96", "whole number"),
    ("Slice_range", "1, nan", "non-finite"),
    ("Possibly_noisy", "3", "whole number"),
    ("Train_Val_Test", "9", "Train_Val_Test 9 is not one of [1, 2, 3]"),
    ("Patient_age", "-4", "not an age"),
])
def test_bad_rows_are_reported_by_line_and_the_rest_go_on(tmp_path, column, value, message):
    make_deeplesion(str(tmp_path))
    path = str(tmp_path / deeplesion.INFO_FILE)
    rows = _rows(path)
    rows[1][column] = value
    _write_rows(path, rows)
    ds = deeplesion.DeepLesionSet(str(tmp_path))
    assert len(ds.records) == 3
    assert len(ds.problems) == 1 and "line 3" in ds.problems[0] and message in ds.problems[0]


def test_load_slice_in_hu_and_mask(tmp_path):
    make_deeplesion(str(tmp_path))
    ds = deeplesion.DeepLesionSet(str(tmp_path))
    image = ds.load_slice(ds.records[0])
    assert image.hu.shape == (96, 96) and image.hu.dtype == np.float32
    assert -40 < float(np.median(image.hu)) < 100  # around the 40 HU background, not 32808
    assert image.spacing == (0.8, 0.8) and image.window.hi == 275
    mask = ds.load_mask(ds.records[0])
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert image.hu[mask > 0].mean() < image.hu[mask == 0].mean() - 40
    os.remove(ds.mask_path(ds.records[1]))
    assert ds.load_mask(ds.records[1]) is None


def test_eight_bit_slice_is_refused_by_name(tmp_path):
    make_deeplesion(str(tmp_path))
    ds = deeplesion.DeepLesionSet(str(tmp_path))
    cv2.imwrite(ds.image_path(ds.records[2]), np.zeros((96, 96), np.uint8))
    with pytest.raises(DataError, match=r"012\.png: expected a 16-bit"):
        ds.load_slice(ds.records[2])


def test_slice_of_another_size_than_its_row_is_refused(tmp_path):
    make_deeplesion(str(tmp_path))
    ds = deeplesion.DeepLesionSet(str(tmp_path))
    from sgan_tf.data import ct
    ct.write_hu_png(ds.image_path(ds.records[0]), np.zeros((40, 40)))
    with pytest.raises(DataError, match="line 2 .*the slice is 40x40, Image_size says 96x96"):
        ds.load_slice(ds.records[0])


def test_label_masks_select_the_row_of_a_slice_with_two_lesions(tmp_path):
    make_deeplesion(str(tmp_path))
    path = str(tmp_path / deeplesion.INFO_FILE)
    rows = _rows(path)
    second = dict(rows[0])
    second["Measurement_coordinates"] = "60, 60, 80, 60, 70, 55, 70, 65"
    _write_rows(path, [rows[0], second] + rows[1:])
    ds = deeplesion.DeepLesionSet(str(tmp_path))
    a, b = ds.records[0], ds.records[1]
    assert (a.lesion_index, b.lesion_index) == (0, 1) and a.item_id != b.item_id
    labels = np.zeros((96, 96), np.uint8)
    labels[10:20, 10:20] = 1
    labels[55:66, 60:81] = 2
    cv2.imwrite(ds.mask_path(a), labels)
    assert ds.load_mask(a).sum() == 100 and ds.load_mask(b).sum() == 11 * 21


def test_undecodable_and_malformed_lines_are_reported_by_line(tmp_path):
    """A byte that is not UTF-8, an oversized field and a short row each cost one row, not the set."""
    make_deeplesion(str(tmp_path))
    path = tmp_path / deeplesion.INFO_FILE
    lines = path.read_bytes().split(b"\r\n")
    lines[1] = lines[1].replace(b",F,", b",\xff\xfe,")  # Patient_gender
    lines[2] = lines[2].replace(b",F,", b"," + b"F" * 200_000 + b",")
    lines[3] = lines[3].split(b",")[0] + b",1,1"
    path.write_bytes(b"\r\n".join(lines))
    ds = deeplesion.DeepLesionSet(str(tmp_path))
    assert [r.line for r in ds.records] == [5]
    assert len(ds.problems) == 3
    assert "line 2: Patient_gender is not UTF-8 text (byte 0xff)" in ds.problems[0]
    assert "line 3: not valid CSV: field larger than field limit" in ds.problems[1]
    assert "line 4: has 3 fields, 18 expected" in ds.problems[2]


def test_two_file_names_of_one_item_are_refused(tmp_path):
    make_deeplesion(str(tmp_path))
    path = str(tmp_path / deeplesion.INFO_FILE)
    rows = _rows(path)
    rows[1]["File_name"] = rows[0]["File_name"].replace(".png", ".PNG")
    _write_rows(path, rows)
    ds = deeplesion.DeepLesionSet(str(tmp_path))
    assert len(ds.records) == 3 and "line 3:" in ds.problems[0] and "same item as line 2" in ds.problems[0]


def test_paths_of_a_record_stay_inside_the_set(tmp_path):
    import dataclasses

    make_deeplesion(str(tmp_path))
    ds = deeplesion.DeepLesionSet(str(tmp_path))
    escaped = dataclasses.replace(ds.records[0], file_name="../../etc_passwd.png")
    for load in (ds.image_path, ds.mask_path, ds.clean_path):
        with pytest.raises(DataError, match="points outside"):
            load(escaped)


def test_mask_of_another_size_is_refused(tmp_path):
    make_deeplesion(str(tmp_path))
    ds = deeplesion.DeepLesionSet(str(tmp_path))
    cv2.imwrite(ds.mask_path(ds.records[1]), np.zeros((40, 96), np.uint8))
    with pytest.raises(DataError, match="the mask is 96x40, Image_size of DL_info.csv line 3"):
        ds.load_mask(ds.records[1])
