"""enhance_main and its library (sgan_tf/enhance_batch.py): inputs, outputs, bad input, exit codes."""

import csv
import json
import os

import cv2
import numpy as np
import pytest

from conftest import REPO, make_deeplesion, run_module
from sgan_tf import enhance_batch
from sgan_tf.data import ct, deeplesion, sources
from sgan_tf.enhance import Enhancer
from sgan_tf.errors import UserError


def _run(input_path, out, tiny_models, variant="sgan", tile_size=256, **options):
    factory = lambda: Enhancer.for_variant(variant, tiny_models, tile_size=tile_size)  # noqa: E731
    source = {k: options.pop(k) for k in ("splits", "lesion_types", "allow_any_modality") if k in options}
    return enhance_batch.run(str(input_path), factory, enhance_batch.Options(output_dir=str(out), **options),
                             sources.SourceOptions(**source))


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
    assert whole.done == ["slice.png"]
    assert np.load(tmp_path / "whole" / "slice.png" / "enhanced.npy").shape == (150, 130)
    roi = _run(tmp_path / "slice.png", tmp_path / "roi", tiny_models,
               roi=enhance_batch.recist.RoiBox(120, 140, 20), zoom=2.0)
    side = json.loads((tmp_path / "roi" / "slice.png" / "item.json").read_text())
    assert roi.done == ["slice.png"] and side["roi_padded"] and side["zoom"] == 2.0
    og = np.load(tmp_path / "roi" / "slice.png" / "og.npy")
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
    ok = run_module("sgan_tf.cli.enhance_main", f"--input={tmp_path / 'set'}", f"--output_dir={tmp_path / 'o'}", *args)
    assert ok.returncode == 0, ok.stderr
    assert "[4/4]" in ok.stderr and "4 done, 0 skipped, 0 failed" in ok.stderr
    cv2.imwrite(str(tmp_path / "set" / "Images_png" / "000002_01_01" / "011.png"), np.zeros((9, 9), np.uint8))
    partial = run_module("sgan_tf.cli.enhance_main", f"--input={tmp_path / 'set'}",
                         f"--output_dir={tmp_path / 'o2'}", *args)
    assert partial.returncode == 4 and "011.png: expected a 16-bit HU PNG" in partial.stderr
    (tmp_path / "empty").mkdir()
    empty = run_module("sgan_tf.cli.enhance_main", f"--input={tmp_path / 'empty'}", f"--output_dir={tmp_path / 'o3'}", *args)
    assert empty.returncode == 2 and "enhance_main: error:" in empty.stderr and "empty input folder" in empty.stderr
    no_model = run_module("sgan_tf.cli.enhance_main", f"--input={tmp_path / 'set'}", f"--output_dir={tmp_path / 'o4'}",
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
    assert sorted(summary.done) == ["good_0.dcm", "good_1.dcm"]
    failed = {name[:-4]: message for name, message in summary.failed}
    assert set(failed) == {"truncated", "corrupt", "no_pixels", "mr", "odd_syntax", "inf"}
    assert "truncated.dcm" in failed["truncated"] and "no_pixels.dcm: no PixelData" in failed["no_pixels"]
    assert "modality 'MR' is not CT" in failed["mr"] and "--allow_any_modality" in failed["mr"]
    assert "unsupported transfer syntax 1.2.3.4" in failed["odd_syntax"]
    assert "NaN/inf pixels" in failed["inf"] and "corrupt.dcm" in failed["corrupt"]
    derived = [pydicom.dcmread(tmp_path / "out" / f"good_{i}.dcm" / "enhanced.dcm") for i in (0, 1)]
    source = pydicom.dcmread(folder / "good_0.dcm")
    assert derived[0].SeriesInstanceUID == derived[1].SeriesInstanceUID != source.SeriesInstanceUID
    assert derived[0].SOPInstanceUID != source.SOPInstanceUID and "DERIVED" in derived[0].ImageType
    assert str(derived[0].PatientName) == "" and str(source.PatientName) != ""
    written = dicom.read_dicom(str(tmp_path / "out" / "good_0.dcm" / "enhanced.dcm"))
    np.testing.assert_allclose(written.hu, np.load(tmp_path / "out" / "good_0.dcm" / "enhanced.npy"), atol=0.5)
    side = json.loads((tmp_path / "out" / "good_0.dcm" / "item.json").read_text())
    assert side["files"][-2:] == ["enhanced.dcm", "item.json"]
    assert side["kind"] == "dicom" and side["image_meta"]["Modality"] == "CT" and side["spacing_mm"]


def test_non_ct_is_read_when_allowed(tmp_path, tiny_models):
    folder = _dicom_folder(tmp_path / "dicom")
    summary = _run(folder / "mr.dcm", tmp_path / "out", tiny_models, allow_any_modality=True)
    assert summary.done == ["mr.dcm"]


def test_bad_flag_values_stop_before_any_work(tmp_path):
    make_deeplesion(str(tmp_path / "set"))
    for flag, message in (("--window=brain", "window 'brain'"), ("--roi=1,2", "--roi takes 3"),
                          ("--zoom=0.5", "must be >= 1")):
        proc = run_module("sgan_tf.cli.enhance_main", f"--input={tmp_path / 'set'}", f"--output_dir={tmp_path / 'o'}",
                          "--variant=og", flag)
        assert proc.returncode == 2 and message in proc.stderr, (flag, proc.stderr)
    assert not (tmp_path / "o").exists()


# -- the hostile-input probes of issue 14 ---------------------------------------------------------------


def _rewrite_rows(root, change):
    path = root / deeplesion.INFO_FILE
    rows = list(csv.DictReader(open(path, newline="")))
    change(rows)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=deeplesion.COLUMNS)
        w.writeheader()
        w.writerows(rows)


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, dirs, files in os.walk(root) for n in dirs + files)


def test_csv_paths_leaving_the_set_are_refused_by_row_and_nothing_is_written_outside(tmp_path, tiny_models):
    root = tmp_path / "a" / "b" / "set"
    records = make_deeplesion(str(root))
    outside = tmp_path / "a" / "b" / "x" / "1.png"  # where ../../x_1.png leads from Images_png/<series>/
    outside.parent.mkdir(parents=True)
    ct.write_hu_png(str(outside), np.zeros((96, 96)))
    absolute = tmp_path / "abs_010.png"
    ct.write_hu_png(str(absolute), np.zeros((96, 96)))

    def change(rows):
        rows[1]["File_name"] = "../../x_1.png"
        rows[2]["File_name"] = str(absolute)
    _rewrite_rows(root, change)
    before = _tree(tmp_path)
    summary = _run(root, tmp_path / "out", tiny_models)
    assert summary.done == [records[0].item_id, records[3].item_id]
    failed = dict(summary.failed)
    assert len(failed) == 2 and all("is not <series>_<slice>.png" in m for m in failed.values())
    assert [k.rsplit(" ", 2)[-2:] for k in failed] == [["line", "3"], ["line", "4"]]
    assert [p for p in _tree(tmp_path) if p not in before and not p.startswith("out")] == []


def test_symlinks_in_the_output_folder_are_never_written_through(tmp_path, tiny_models):
    records = make_deeplesion(str(tmp_path / "set"))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "out").mkdir()
    os.symlink(victim, tmp_path / "out" / "summary.json")
    with pytest.raises(UserError, match="summary.json is a symlink"):
        _run(tmp_path / "set", tmp_path / "out", tiny_models)
    os.remove(tmp_path / "out" / "summary.json")
    (tmp_path / "out" / "summary.json").mkdir()  # cannot be read nor replaced: refused before any work
    with pytest.raises(UserError, match="summary.json: cannot read the earlier run's summary"):
        _run(tmp_path / "set", tmp_path / "out", tiny_models)
    os.rmdir(tmp_path / "out" / "summary.json")
    _run(tmp_path / "set", tmp_path / "out", tiny_models, splits=(1,))
    item = tmp_path / "out" / records[0].item_id
    os.remove(item / "og.npy")
    os.symlink(victim, item / "og.npy")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, tmp_path / "out" / records[1].item_id)  # a planted item folder
    summary = _run(tmp_path / "set", tmp_path / "out", tiny_models, overwrite=True)
    failed = dict(summary.failed)
    assert set(failed) == {records[0].item_id, records[1].item_id}
    assert "og.npy is a symlink; refusing to write through it" in failed[records[0].item_id]
    assert f"{records[1].item_id} is a symlink" in failed[records[1].item_id]
    assert victim.read_text() == "keep me" and os.listdir(elsewhere) == []
    assert not (item / "item.json").exists()  # the redone item is not finished


def test_an_unfinished_item_is_redone_and_its_failure_kept_until_then(tmp_path, tiny_models):
    records = make_deeplesion(str(tmp_path / "set"))
    out = tmp_path / "out"
    first = _run(tmp_path / "set", out, tiny_models, splits=(1,))
    assert len(first.done) == 2
    # A disk-full failure left only og.png / og.npy in the first item's folder.
    item = out / records[0].item_id
    for name in os.listdir(item):
        if name not in ("og.png", "og.npy"):
            os.remove(item / name)
    # figure.png of the second cannot be written (a folder is in the way): the item fails.
    second = out / records[3].item_id
    for name in ("item.json", "figure.png"):
        os.remove(second / name)
    (second / "figure.png").mkdir()
    again = _run(tmp_path / "set", out, tiny_models, splits=(1,))
    assert again.done == [records[0].item_id] and again.skipped == []
    assert dict(again.failed)[records[3].item_id].endswith("figure.png: is a folder, not a file")
    assert not (second / "item.json").exists()
    # A run on other items keeps that failure in summary.json until the item is redone.
    _run(tmp_path / "set", out, tiny_models, splits=(2,))
    saved = json.loads((out / "summary.json").read_text())
    assert saved["done"] == [records[1].item_id]
    assert [e["item"] for e in saved["earlier"]["failed"]] == [records[3].item_id]
    assert saved["earlier"]["done"] == [records[0].item_id]
    os.rmdir(second / "figure.png")
    _rewrite_rows(tmp_path / "set", lambda rows: rows[2].update(Patient_index="inf"))
    last = _run(tmp_path / "set", out, tiny_models, splits=(1,))
    assert last.done == [records[3].item_id] and [i for i, _ in last.skipped] == [records[0].item_id]
    assert json.loads((out / "summary.json").read_text())["earlier"]["failed"] == []
    assert [i.rsplit(" ", 1)[1] for i, _ in last.failed] == ["4"]  # the bad row, line 4
    _rewrite_rows(tmp_path / "set", lambda rows: rows[2].update(Patient_index="3"))
    _run(tmp_path / "set", out, tiny_models, splits=(2,))  # the row is good again: its failure goes
    saved = json.loads((out / "summary.json").read_text())
    assert saved["failed"] == [] and saved["earlier"]["failed"] == []


def test_a_failed_derived_dicom_leaves_the_item_unfinished(tmp_path, tiny_models):
    folder = _dicom_folder(tmp_path / "dicom")
    blocked = tmp_path / "out" / "good_0.dcm" / "enhanced.dcm"
    blocked.mkdir(parents=True)
    first = _run(folder / "good_0.dcm", tmp_path / "out", tiny_models, write_dicom=True)
    assert first.done == [] and "enhanced.dcm: is a folder, not a file" in dict(first.failed)["good_0.dcm"]
    blocked.rmdir()
    again = _run(folder / "good_0.dcm", tmp_path / "out", tiny_models, write_dicom=True)
    assert again.done == ["good_0.dcm"] and again.skipped == []
    assert (tmp_path / "out" / "good_0.dcm" / "enhanced.dcm").is_file()


def test_item_names_are_unique_and_give_the_path_back(tmp_path, tiny_models):
    from urllib.parse import unquote

    import pydicom
    from pydicom.data import get_testdata_file

    source = get_testdata_file("CT_small.dcm", download=False)
    for rel in ("s1/a.dcm", "s1__a.dcm", "s1%2Fa.dcm", ".hidden.dcm"):
        (tmp_path / "dicom" / rel).parent.mkdir(parents=True, exist_ok=True)
        pydicom.dcmread(source).save_as(tmp_path / "dicom" / rel)
    summary = _run(tmp_path / "dicom", tmp_path / "out", tiny_models, variant="og")
    assert sorted(summary.done) == sorted(["s1%2Fa.dcm", "s1__a.dcm", "s1%252Fa.dcm", "%2Ehidden.dcm"])
    assert sorted(unquote(n) for n in summary.done) == [".hidden.dcm", "s1%2Fa.dcm", "s1/a.dcm", "s1__a.dcm"]
    for name in summary.done:
        assert json.loads((tmp_path / "out" / name / "item.json").read_text())["source"].endswith(unquote(name))
    assert sources.item_name("summary.json") != "summary.json"


def _png_claiming(width, height) -> bytes:
    """A 68-byte PNG whose IHDR claims width x height 16-bit gray pixels (the data is a stub)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 8)) + chunk(b"IEND", b"")


def test_decompression_bombs_and_bad_rows_fail_alone(tmp_path, tiny_models):
    folder = tmp_path / "pngs"
    folder.mkdir()
    (folder / "bomb.png").write_bytes(_png_claiming(60000, 60000))
    assert len((folder / "bomb.png").read_bytes()) < 100
    ct.write_hu_png(str(folder / "good.png"), np.zeros((40, 40)))
    summary = _run(folder, tmp_path / "out", tiny_models, variant="og")
    assert summary.done == ["good.png"]
    assert "60000x60000 = 3,600,000,000 pixels is over the --max_pixels" in dict(summary.failed)["bomb.png"]
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["done"] == ["good.png"]
    # DL_info.csv: inf, 1e999 and a byte that is not UTF-8 each cost their own row.
    records = make_deeplesion(str(tmp_path / "set"))

    def change(rows):
        rows[0]["Patient_index"] = "inf"
        rows[1]["Key_slice_index"] = "1e999"
    _rewrite_rows(tmp_path / "set", change)
    path = tmp_path / "set" / deeplesion.INFO_FILE
    lines = path.read_bytes().split(b"\r\n")
    lines[3] = lines[3].replace(b",F,", b",\xe9,")
    path.write_bytes(b"\r\n".join(lines))
    summary = _run(tmp_path / "set", tmp_path / "out2", tiny_models, variant="og")
    assert summary.done == [records[3].item_id]
    assert [m.split(": ", 1)[1] for _, m in summary.failed] == [
        "Patient_index has non-finite numbers: 'inf'", "Key_slice_index has non-finite numbers: '1e999'",
        "Patient_gender is not UTF-8 text (byte 0xe9)"]


def test_header_only_csv_and_empty_selection_are_user_errors(tmp_path, tiny_models):
    make_deeplesion(str(tmp_path / "set"))
    with pytest.raises(UserError, match=r"none of its 4 lesion rows is in --splits=\[7\]"):
        _run(tmp_path / "set", tmp_path / "out", tiny_models, variant="og", splits=(7,))
    _rewrite_rows(tmp_path / "set", lambda rows: rows.clear())
    with pytest.raises(UserError, match="DL_info.csv has no lesion rows"):
        _run(tmp_path / "set", tmp_path / "out", tiny_models, variant="og")
    assert not (tmp_path / "out" / "summary.json").exists()


def test_a_summary_that_cannot_be_written_after_the_batch_is_a_one_line_error(tmp_path):
    make_deeplesion(str(tmp_path / "set"))
    out = tmp_path / "out"

    def factory():  # runs after the earlier summary was read: the disk "fills up" during the batch
        (out / "summary.json").mkdir()
        return Enhancer.for_variant("og")
    with pytest.raises(UserError, match=r"summary.json: is a folder, not a file \(this run: 4 done, 0 "
                                        r"skipped, 0 failed; each item is in the log\)"):
        enhance_batch.run(str(tmp_path / "set"), factory, enhance_batch.Options(output_dir=str(out)))
    assert len([p for p in out.glob("*/item.json")]) == 4


@pytest.mark.parametrize("flag, message", [
    ("--zoom=1e4", "--zoom=10000 is over --max_zoom=4"),
    ("--zoom=nan", "must be >= 1 and finite"),
    ("--zoom=inf", "must be >= 1 and finite"),
    ("--max_zoom=inf", "must be >= 1 and finite"),
    ("--target_lesion_px=nan", "--target_lesion_px=nan must be a positive number"),
    ("--roi=0,0,1000000", "--roi side 1000000: 1000000x1000000 = 1,000,000,000,000 pixels is over the --max_pixels"),
    ("--roi=0,0,8000", "--roi side 8000 at --zoom=2: 16000x16000 = 256,000,000 pixels is over"),
])
def test_caps_on_zoom_and_roi_are_checked_before_any_work(tmp_path, flag, message):
    """Bad caps stop with one line before any work, and before TensorFlow loads (an importable
    `tensorflow` that raises stands in for it here: a bad value costs no import)."""
    make_deeplesion(str(tmp_path / "set"))
    (tmp_path / "blocked" / "tensorflow").mkdir(parents=True)
    (tmp_path / "blocked" / "tensorflow" / "__init__.py").write_text("raise ImportError('blocked by the test')\n")
    proc = run_module("sgan_tf.cli.enhance_main", f"--input={tmp_path / 'set'}", f"--output_dir={tmp_path / 'o'}",
                      "--variant=og", "--max_zoom=4", *(["--zoom=2"] if "8000" in flag else []), flag,
                      env={"PYTHONPATH": os.pathsep.join([str(tmp_path / "blocked"), REPO])})
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "o").exists()


def test_max_pixels_flag_and_a_full_disk_in_the_binary(tmp_path):
    """--max_pixels refuses a row by name; with files limited to 20 kB (a full disk for the
    .npy files) every item fails by name, summary.json is written, and a rerun redoes them."""
    import resource
    import signal
    import subprocess
    import sys

    from conftest import REPO

    make_deeplesion(str(tmp_path / "set"))
    args = [f"--input={tmp_path / 'set'}", f"--output_dir={tmp_path / 'o'}", "--variant=og"]
    capped = run_module("sgan_tf.cli.enhance_main", *args, "--max_pixels=9000")
    assert capped.returncode == 4, capped.stderr[-2000:]
    assert "line 2: Image_size '96, 96': 96x96 = 9,216 pixels is over the --max_pixels=9,000 cap" in capped.stderr

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    full = subprocess.run([sys.executable, "-m", "sgan_tf.cli.enhance_main", *args, "--overwrite"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, preexec_fn=small_files,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert full.returncode == 4 and "Traceback" not in full.stderr, full.stderr[-2000:]
    assert "0 done, 0 skipped, 4 failed" in full.stderr and "could not write: File too large" in full.stderr
    saved = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert len(saved["failed"]) == 4 and saved["done"] == []
    again = run_module("sgan_tf.cli.enhance_main", *args)
    assert again.returncode == 0 and "4 done, 0 skipped, 0 failed" in again.stderr, again.stderr[-2000:]


# -- volumes (NIfTI / MetaImage) and derived DICOM geometry ------------------------------------------

def _volumes(root):
    """ct.nii.gz (disk axes P, I, R: permuted, not the axial order), ct.mha (LPS), and a
    truncated broken.nii.gz, each 3 slices of 20 x 24 pixels."""
    import gzip

    import nibabel as nib

    from sgan_tf.data import metaimage

    root.mkdir()
    rng = np.random.default_rng(3)
    data = rng.normal(40, 30, (24, 3, 20)).astype(np.int16)  # (i, j, k) on disk: P, I, R
    affine = np.array([[0, 0, 0.7, 10.0], [-0.8, 0, 0, -20.0], [0, -2.5, 0, 30.0], [0, 0, 0, 1]])
    image = nib.Nifti1Image(data, affine)
    image.header.set_sform(affine, code=2)
    nib.save(image, str(root / "ct.nii.gz"))
    header = metaimage.Header((0.7, 0.8, 2.5), (1.0, 2.0, 3.0), ((1, 0, 0), (0, 1, 0), (0, 0, 1)))
    metaimage.write(str(root / "ct.mha"), rng.normal(40, 30, (3, 24, 20)).astype(np.int16), header)
    (root / "broken.nii.gz").write_bytes(gzip.compress((root / "ct.nii.gz").read_bytes())[:300])
    return root


def test_volumes_come_back_in_their_format_and_geometry_and_a_broken_one_fails_by_name(tmp_path, tiny_models):
    import nibabel as nib

    from sgan_tf.data import volumes

    folder = _volumes(tmp_path / "vols")
    out = tmp_path / "out"
    summary = _run(folder, out, tiny_models, tile_size=64)
    slices = [f"ct.{ext}%23{z}" for ext in ("mha", "nii.gz") for z in range(3)]
    assert summary.done == slices[:3] + ["ct.mha"] + slices[3:] + ["ct.nii.gz"]
    assert [name for name, _ in summary.failed] == [str(folder / "broken.nii.gz")]
    assert "broken.nii.gz: " in summary.failed[0][1]
    for name in ("ct.nii.gz", "ct.mha"):
        source = volumes.read_volume(str(folder / name))
        assert sorted(os.listdir(out / name)) == sorted([f"denoised.{name[3:]}", f"enhanced.{name[3:]}", "volume.json"])
        for channel in ("denoised", "enhanced"):
            written = volumes.read_volume(str(out / name / f"{channel}.{name[3:]}"))
            np.testing.assert_allclose(written.affine, source.affine, atol=1e-6)
            slices_hu = np.stack([np.load(out / f"{name}%23{z}" / f"{channel}.npy") for z in range(3)])
            np.testing.assert_allclose(written.hu, slices_hu, atol=0.5)
        assert not np.allclose(written.hu, source.hu)  # the enhancement, not a copy of the source
        side = json.loads((out / name / "volume.json").read_text())
        assert side["slices"] == 3 and side["variant"] == "sgan" and side["files"][-1] == "volume.json"
    on_disk, original = nib.load(str(out / "ct.nii.gz" / "enhanced.nii.gz")), nib.load(str(folder / "ct.nii.gz"))
    assert on_disk.shape == original.shape and np.allclose(on_disk.affine, original.affine)
    assert int(on_disk.header["sform_code"]) == 2  # the source header's codes
    assert json.loads((out / "summary.json").read_text())["done"][-1] == "ct.nii.gz"


def test_a_volume_is_written_once_all_its_slices_are_done_and_never_overwritten(tmp_path, tiny_models):
    folder = _volumes(tmp_path / "vols")
    (folder / "broken.nii.gz").unlink()
    (folder / "ct.mha").unlink()
    out = tmp_path / "out"
    (out / "ct.nii.gz%231" / "enhanced.npy").mkdir(parents=True)  # slice 1 cannot be written
    first = _run(folder, out, tiny_models, variant="og")
    assert first.done == ["ct.nii.gz%230", "ct.nii.gz%232"]
    failed = dict(first.failed)
    assert "enhanced.npy: is a folder" in failed["ct.nii.gz%231"]
    assert "volume not written: slice(s) 1 not done" in failed["ct.nii.gz"] and not (out / "ct.nii.gz").exists()
    (out / "ct.nii.gz%231" / "enhanced.npy").rmdir()
    second = _run(folder, out, tiny_models, variant="og")
    assert second.done == ["ct.nii.gz%231", "ct.nii.gz"] and len(second.skipped) == 2
    written = out / "ct.nii.gz" / "enhanced.nii.gz"
    before = written.read_bytes()
    third = _run(folder, out, tiny_models, variant="og")
    assert third.done == [] and dict(third.skipped)["ct.nii.gz"] == "volume outputs exist (use --overwrite)"
    assert written.read_bytes() == before
    assert json.loads((out / "summary.json").read_text())["earlier"]["failed"] == []  # the failures were redone


def test_roi_or_zoom_on_a_volume_gives_slices_only_and_mixed_runs_are_refused(tmp_path, tiny_models):
    folder = _volumes(tmp_path / "vols")
    (folder / "broken.nii.gz").unlink()
    (folder / "ct.mha").unlink()
    out = tmp_path / "out"
    zoomed = _run(folder, out, tiny_models, variant="og", zoom=2.0)
    assert zoomed.done == [f"ct.nii.gz%23{z}" for z in range(3)] and not (out / "ct.nii.gz").exists()
    whole = _run(folder, out, tiny_models, variant="og")  # the slices are done, but zoomed
    assert "slice 0 was not enhanced whole at zoom 1" in dict(whole.failed)["ct.nii.gz"]
    redone = _run(folder, out, tiny_models, variant="og", overwrite=True)
    assert redone.done[-1] == "ct.nii.gz" and redone.failed == []


def test_derived_dicom_of_a_zoomed_roi_and_a_zoomed_slice_is_placed_on_the_source(tmp_path, tiny_models):
    import pydicom

    from sgan_tf.data import dicom, recist

    folder = _dicom_folder(tmp_path / "dicom")
    source = pydicom.dcmread(folder / "good_0.dcm")
    spacing = [float(v) for v in source.PixelSpacing]
    for name, box, zoom in (("roi", recist.RoiBox(30, 40, 24), 2.0), ("slice", None, 1.5)):
        summary = _run(folder / "good_0.dcm", tmp_path / name, tiny_models, roi=box, zoom=zoom, write_dicom=True)
        assert summary.done == ["good_0.dcm"], summary.failed
        item = tmp_path / name / "good_0.dcm"
        ds = pydicom.dcmread(item / "enhanced.dcm")
        side = box.side if box else 128
        size = int(round(side * zoom))
        assert (ds.Rows, ds.Columns) == (size, size) and ds.SOPInstanceUID != source.SOPInstanceUID
        assert [float(v) for v in ds.PixelSpacing] == pytest.approx([s * side / size for s in spacing])
        first = recist.to_slice(np.zeros((1, 2)), box or recist.RoiBox(0, 0, 128), size / side)[0]  # (x, y)
        expected = [float(v) for v in source.ImagePositionPatient] + np.array(
            [first[0] * spacing[1], first[1] * spacing[0], 0.0])  # CT_small is axial: rows along y
        np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], expected, atol=1e-3)
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID and ds.FrameOfReferenceUID == source.FrameOfReferenceUID
        np.testing.assert_allclose(dicom.read_dicom(str(item / "enhanced.dcm")).hu, np.load(item / "enhanced.npy"),
                                   atol=0.5)
