"""enhance_main and its library (sgan_tf/enhance_batch.py): inputs, outputs, bad input, exit codes."""

import csv
import json
import os

import cv2
import numpy as np
import pytest

from conftest import make_deeplesion, run_module
from sgan_tf import enhance_batch
from sgan_tf.data import ct, deeplesion
from sgan_tf.enhance import Enhancer
from sgan_tf.errors import UserError


def _run(input_path, out, tiny_models, variant="sgan", tile_size=256, **options):
    factory = lambda: Enhancer.from_model_dirs(  # noqa: E731
        variant, tiny_models["denoise"], tiny_models["enhance"], tile_size=tile_size)
    return enhance_batch.run(str(input_path), factory, enhance_batch.Options(output_dir=str(out), **options))


def test_deeplesion_rows_become_zoomed_rois_with_every_output(tmp_path, tiny_models):
    records = make_deeplesion(str(tmp_path / "set"), border=True)
    summary = _run(tmp_path / "set", tmp_path / "out", tiny_models)
    assert summary.failed == [] and summary.skipped == []
    assert summary.done == [r.item_id for r in records]
    item = tmp_path / "out" / records[1].item_id
    names = sorted(os.listdir(item))
    assert names == sorted(["og.png", "denoised.png", "enhanced.png", "og.npy", "denoised.npy", "enhanced.npy",
                            "composite.png", "composite.npy", "figure.png", "item.json"])
    side = json.loads((item / "item.json").read_text())
    assert side["kind"] == "deeplesion" and side["variant"] == "sgan" and side["window_hu"] == [-160.0, 240.0]
    assert side["zoom"] == pytest.approx(min(64 / np.hypot(*np.subtract(*records[1].recist[:2])), 4.0))
    assert side["models"]["denoise_model"]["checkpoint"] == "ckpt-3"
    n = int(round(side["roi_box_xy_side"][2] * side["zoom"]))
    composite = cv2.imread(str(item / "composite.png"), cv2.IMREAD_UNCHANGED)
    assert composite.shape == (n, n, 3) and composite.dtype == np.uint16
    comp = np.load(item / "composite.npy")
    np.testing.assert_allclose(composite[..., ::-1] / 65535.0, comp, atol=1e-4)  # R=OG, G=denoised, B=enhanced
    np.testing.assert_allclose(ct.read_hu_png(str(item / "enhanced.png")), np.load(item / "enhanced.npy"), atol=0.5)
    assert np.asarray(side["recist_roi"]).shape == (4, 2)
    edge = json.loads((tmp_path / "out" / records[0].item_id / "item.json").read_text())
    assert edge["roi_padded"] is True and side["roi_padded"] is False
    summary_file = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert len(summary_file["done"]) == 4


def test_existing_outputs_are_kept_unless_overwrite(tmp_path, tiny_models):
    records = make_deeplesion(str(tmp_path / "set"))
    _run(tmp_path / "set", tmp_path / "out", tiny_models, splits=(1,))
    target = tmp_path / "out" / records[0].item_id / "enhanced.npy"
    np.save(target, np.zeros(3))
    again = _run(tmp_path / "set", tmp_path / "out", tiny_models, splits=(1,))
    train = [r.item_id for r in records if r.split == 1]
    assert len(train) == 2
    assert again.done == [] and [i for i, _ in again.skipped] == train
    assert np.load(target).shape == (3,)
    forced = _run(tmp_path / "set", tmp_path / "out", tiny_models, splits=(1,), overwrite=True)
    assert forced.done == train and np.load(target).ndim == 2


def test_bad_rows_and_bad_slices_fail_by_name_and_the_batch_goes_on(tmp_path, tiny_models):
    records = make_deeplesion(str(tmp_path / "set"))
    path = tmp_path / "set" / deeplesion.INFO_FILE
    rows = list(csv.DictReader(open(path, newline="")))
    rows[1]["Measurement_coordinates"] = "10, x, 30, 10, 20, 5, 20, 15"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=deeplesion.COLUMNS)
        w.writeheader()
        w.writerows(rows)
    slice_2 = tmp_path / "set" / deeplesion.IMAGES_DIR / records[2].relative_path
    cv2.imwrite(str(slice_2), np.zeros((96, 96), np.uint8))
    summary = _run(tmp_path / "set", tmp_path / "out", tiny_models)
    assert summary.done == [records[0].item_id, records[3].item_id]
    messages = " | ".join(m for _, m in summary.failed)
    assert "DL_info.csv line 3: could not convert" in messages
    assert f"{records[2].slice_file}: expected a 16-bit HU PNG" in messages
    assert len(summary.failed) == 2


def test_png_slice_whole_tiled_and_roi(tmp_path, tiny_models):
    hu = np.random.default_rng(0).normal(40, 30, (150, 130)).astype(np.float32)
    ct.write_hu_png(str(tmp_path / "slice.png"), hu)
    whole = _run(tmp_path / "slice.png", tmp_path / "whole", tiny_models, tile_size=64)
    assert whole.done == ["slice"]
    assert np.load(tmp_path / "whole" / "slice" / "enhanced.npy").shape == (150, 130)
    roi = _run(tmp_path / "slice.png", tmp_path / "roi", tiny_models,
               roi=enhance_batch.recist.RoiBox(120, 140, 20), zoom=2.0)
    side = json.loads((tmp_path / "roi" / "slice" / "item.json").read_text())
    assert roi.done == ["slice"] and side["roi_padded"] and side["zoom"] == 2.0
    og = np.load(tmp_path / "roi" / "slice" / "og.npy")
    assert og.shape == (40, 40) and og[-4:, -4:].max() < -900  # padded with air beyond the slice


def test_empty_folder_and_unwritable_output_are_user_errors(tmp_path, tiny_models):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty input folder"):
        _run(tmp_path / "empty", tmp_path / "out", tiny_models)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(UserError, match="not writable"):
        _run(tmp_path / "empty", tmp_path / "a_file" / "out", tiny_models)
    with pytest.raises(UserError, match="no such file"):
        _run(tmp_path / "missing", tmp_path / "out", tiny_models)


def test_binary_exit_codes(tmp_path, tiny_models):
    make_deeplesion(str(tmp_path / "set"))
    args = [f"--denoise_model={tiny_models['denoise']}", f"--enhance_model={tiny_models['enhance']}"]
    ok = run_module("sgan_tf.enhance_main", f"--input={tmp_path / 'set'}", f"--output_dir={tmp_path / 'o'}", *args)
    assert ok.returncode == 0, ok.stderr
    assert "[4/4]" in ok.stderr and "4 done, 0 skipped, 0 failed" in ok.stderr
    cv2.imwrite(str(tmp_path / "set" / "Images_png" / "000002_01_01" / "011.png"), np.zeros((9, 9), np.uint8))
    partial = run_module("sgan_tf.enhance_main", f"--input={tmp_path / 'set'}",
                         f"--output_dir={tmp_path / 'o2'}", *args)
    assert partial.returncode == 4 and "011.png: expected a 16-bit HU PNG" in partial.stderr
    (tmp_path / "empty").mkdir()
    empty = run_module("sgan_tf.enhance_main", f"--input={tmp_path / 'empty'}", f"--output_dir={tmp_path / 'o3'}", *args)
    assert empty.returncode == 2 and "enhance_main: error:" in empty.stderr and "empty input folder" in empty.stderr
    no_model = run_module("sgan_tf.enhance_main", f"--input={tmp_path / 'set'}", f"--output_dir={tmp_path / 'o4'}",
                          f"--denoise_model={tiny_models['denoise']}")
    assert no_model.returncode == 2 and "needs --enhance_model" in no_model.stderr


def _dicom_folder(root):
    """CT_small twice (a 2-slice series) plus one file for each bad DICOM input."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import UID

    source = get_testdata_file("CT_small.dcm", download=False)
    root.mkdir()
    for i, z in enumerate((5.0, 0.0)):
        ds = pydicom.dcmread(source)
        ds.ImagePositionPatient = [0.0, 0.0, z]
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{i}"
        ds.save_as(root / f"good_{i}.dcm")
    data = open(source, "rb").read()
    (root / "truncated.dcm").write_bytes(data[: len(data) // 2])
    (root / "corrupt.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 64)
    ds = pydicom.dcmread(source)
    del ds.PixelData
    ds.save_as(root / "no_pixels.dcm")
    ds = pydicom.dcmread(source)
    ds.Modality = "MR"
    ds.save_as(root / "mr.dcm")
    ds = pydicom.dcmread(source)
    ds.file_meta.TransferSyntaxUID = UID("1.2.3.4")
    ds.save_as(root / "odd_syntax.dcm", enforce_file_format=True)
    ds = pydicom.dcmread(source)
    ds.RescaleSlope = "1e38"
    ds.save_as(root / "inf.dcm")
    return root


def test_dicom_folder_bad_files_fail_by_name_good_ones_get_a_derived_series(tmp_path, tiny_models):
    import pydicom
    from sgan_tf.data import dicom

    folder = _dicom_folder(tmp_path / "dicom")
    summary = _run(folder, tmp_path / "out", tiny_models, write_dicom=True, deidentify=True)
    assert sorted(summary.done) == ["good_0", "good_1"]
    failed = dict(summary.failed)
    assert set(failed) == {"truncated", "corrupt", "no_pixels", "mr", "odd_syntax", "inf"}
    assert "truncated.dcm" in failed["truncated"] and "no_pixels.dcm: no PixelData" in failed["no_pixels"]
    assert "modality 'MR' is not CT" in failed["mr"] and "--allow_any_modality" in failed["mr"]
    assert "unsupported transfer syntax 1.2.3.4" in failed["odd_syntax"]
    assert "NaN/inf pixels" in failed["inf"] and "corrupt.dcm" in failed["corrupt"]
    derived = [pydicom.dcmread(tmp_path / "out" / f"good_{i}" / "enhanced.dcm") for i in (0, 1)]
    source = pydicom.dcmread(folder / "good_0.dcm")
    assert derived[0].SeriesInstanceUID == derived[1].SeriesInstanceUID != source.SeriesInstanceUID
    assert derived[0].SOPInstanceUID != source.SOPInstanceUID and "DERIVED" in derived[0].ImageType
    assert str(derived[0].PatientName) == "" and str(source.PatientName) != ""
    written = dicom.read_dicom(str(tmp_path / "out" / "good_0" / "enhanced.dcm"))
    np.testing.assert_allclose(written.hu, np.load(tmp_path / "out" / "good_0" / "enhanced.npy"), atol=0.5)
    side = json.loads((tmp_path / "out" / "good_0" / "item.json").read_text())
    assert side["kind"] == "dicom" and side["image_meta"]["Modality"] == "CT" and side["spacing_mm"]


def test_non_ct_is_read_when_allowed(tmp_path, tiny_models):
    folder = _dicom_folder(tmp_path / "dicom")
    summary = _run(folder / "mr.dcm", tmp_path / "out", tiny_models, allow_any_modality=True)
    assert summary.done == ["mr"]


def test_bad_flag_values_stop_before_any_work(tmp_path):
    make_deeplesion(str(tmp_path / "set"))
    for flag, message in (("--window=brain", "window 'brain'"), ("--roi=1,2", "--roi takes 3"),
                          ("--zoom=0.5", "must be >= 1")):
        proc = run_module("sgan_tf.enhance_main", f"--input={tmp_path / 'set'}", f"--output_dir={tmp_path / 'o'}",
                          "--variant=og", flag)
        assert proc.returncode == 2 and message in proc.stderr, (flag, proc.stderr)
    assert not (tmp_path / "o").exists()
