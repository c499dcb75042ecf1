"""The segmentation experiment, segment_main and eval_main on a small set with true masks."""

import dataclasses
import json
import os

import cv2
import numpy as np
import pytest

from conftest import edit_rows, make_deeplesion, run_module
from sgan_tf.evaluation import experiment
from sgan_tf import pretrained, variants
from sgan_tf.data.deeplesion import DeepLesionSet
from sgan_tf.data.sources import DeepLesionSource
from sgan_tf.enhance import Enhancer
from sgan_tf.errors import UserError
from sgan_tf.segment import inputs, segmenters


@pytest.fixture
def lesion_set(tmp_path):
    root = tmp_path / "set"
    make_deeplesion(str(root), shapes=((96, 96),) * 6, lesion_types=(4, 5, 1, 2, 4, -1))
    return root


def test_variants_follow_the_given_models():
    assert variants.available({}) == ["og", "bm3d"]
    full = {"denoise": "d", "enhance": "e", "single": "s", "dncnn": "n"}
    assert variants.available(full) == list(variants.NAMES)
    assert "sgan" not in variants.available({"denoise": "d"})


def test_roi_inputs_align_truth_recist_and_composite(lesion_set, tiny_models):
    source = DeepLesionSource(str(lesion_set))
    enh = Enhancer.for_variant("sgan", tiny_models)
    rois = list(inputs.roi_inputs(source.lesions(), enh))
    assert len(rois) == 6
    for roi in rois:
        h, w, c = roi.composite.shape
        assert c == 3 and roi.truth.shape == (h, w)
        x, y = np.rint(roi.recist.mean(axis=0)).astype(int)
        assert roi.truth[y, x] == 1  # RECIST centre lies on the (zoomed) lesion
        back = roi.to_slice_mask(roi.truth)  # zoomed and back, pixel-centre aligned both ways
        np.testing.assert_array_equal(back, roi.item.truth())


def test_experiment_writes_tables_and_figures(lesion_set, tiny_models, tmp_path):
    config = experiment.ExperimentConfig(
        input=str(lesion_set), output_dir=str(tmp_path / "eval"),
        models=dict(tiny_models),
        splits=(1, 2, 3))
    result = experiment.run_experiment(config)
    rows = [r["Input"] for r in result["table1"]]
    assert rows[0] == "OG" and rows[-1] == "OG+SGAN" and ("OG+BM3D" in rows or "OG+NLM" in rows)
    assert "OG+GAN" in rows and "OG+GAN1" in rows and "OG+DnCNN" not in rows
    og = result["table1"][0]
    assert og["GrabCut n"] == 6 and og["HNN n"] == 0
    assert 0.5 < og["GrabCut dice"][0] <= 1.0  # a clear lesion on a flat background
    t2 = next(r for r in result["table2"] if r["Input"] == "OG")
    assert not np.isnan(t2["unlabelled"][0]) and t2["n"] == 6
    for name in ("table1", "table2"):
        for ext in ("md", "csv", "json"):
            assert os.path.isfile(result["paths"][name][ext])
    assert cv2.imread(result["paths"]["fig1"]) is not None and cv2.imread(result["paths"]["fig3"]) is not None
    saved = json.load(open(tmp_path / "eval" / "config.json"))
    assert saved["lesions"] == 6 and "grabcut_ms_per_roi" in saved["timing"]["og"]


def test_experiment_needs_masks_and_lesions(lesion_set, tmp_path):
    config = experiment.ExperimentConfig(input=str(lesion_set), output_dir=str(tmp_path / "e"),
                                         splits=(7,))
    with pytest.raises(UserError, match="no lesions"):
        experiment.run_experiment(config)
    import shutil
    shutil.rmtree(lesion_set / "masks")
    with pytest.raises(UserError, match="no masks"):
        experiment.run_experiment(config)


def test_segment_main_then_eval_main_scores_the_folder(lesion_set, tmp_path):
    pred = tmp_path / "pred"
    seg = run_module("sgan_tf.cli.segment_main", "--method=grabcut", "--variant=og", f"--input={lesion_set}",
                     f"--output_dir={pred}")
    assert seg.returncode == 0, seg.stderr
    ds = DeepLesionSet(str(lesion_set))
    assert sorted(os.listdir(pred)) == sorted(r.file_name for r in ds.records)
    mask = cv2.imread(str(pred / ds.records[0].file_name), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (96, 96) and set(np.unique(mask)) == {0, 255}
    scored = run_module("sgan_tf.cli.eval_main", f"--input={lesion_set}", f"--pred_dir={pred}")
    assert scored.returncode == 0, scored.stderr
    assert "6 lesions scored, 0 without a prediction" in scored.stdout and "dice:" in scored.stdout
    os.remove(pred / ds.records[0].file_name)
    partial = run_module("sgan_tf.cli.eval_main", f"--input={lesion_set}", f"--pred_dir={pred}")
    assert partial.returncode == 4 and "1 without a prediction" in partial.stdout
    # A rerun skips the slices whose masks exist, before any work, and writes the missing ones.
    kept = pred / ds.records[1].file_name
    kept.write_bytes(b"not touched")
    os.remove(pred / ds.records[2].file_name)
    again = run_module("sgan_tf.cli.segment_main", "--method=grabcut", f"--input={lesion_set}", f"--output_dir={pred}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "2 lesions segmented into 2 mask files" in again.stderr and "4 skipped (masks exist); 0 failed" in again.stderr
    assert f"{ds.records[1].item_id}: skipped, {ds.records[1].file_name} exists (use --overwrite)" in again.stderr
    assert kept.read_bytes() == b"not touched" and sorted(os.listdir(pred)) == sorted(r.file_name for r in ds.records)
    no_hnn = run_module("sgan_tf.cli.segment_main", "--method=hnn", f"--input={lesion_set}", f"--output_dir={tmp_path / 'x'}")
    assert no_hnn.returncode == 2 and "needs --hnn_model" in no_hnn.stderr


def test_predictions_of_a_slice_with_two_lesions_are_labels(lesion_set, tmp_path):
    items = DeepLesionSource(str(lesion_set)).lesions()
    item = items[0]
    a = np.zeros((96, 96), np.uint8)
    a[10:20, 10:20] = 1
    written, failed = segmenters.write_masks(str(tmp_path / "p"), items, {item.item_id: a}, overwrite=False)
    assert len(written) == 1 and failed == []
    assert segmenters.write_masks(str(tmp_path / "p"), items, {item.item_id: a}, overwrite=False)[1] == [
        f"{written[0]} exists (use --overwrite)"]
    np.testing.assert_array_equal(segmenters.read_prediction(str(tmp_path / "p"), item), a)


def test_eval_main_denoising_table_on_a_folder(image_folder, tiny_models, tmp_path):
    out = tmp_path / "den"
    proc = run_module("sgan_tf.cli.eval_main", f"--output_dir={out}", f"--natural_dir={image_folder}", "--sigmas=25",
                      f"--denoise_model={tiny_models['denoise']}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.load(open(out / "denoise_natural.json"))["rows"]
    assert [r["method"] for r in rows][0] == "noisy" and "g1" in [r["method"] for r in rows]
    methods = {r["method"] for r in rows}
    assert {"bm3d (σ estimated)", "nlm (σ estimated)"} & methods and "nlm (σ told)" in methods
    assert all(r["sigma"] == 25 for r in rows) and "PSNR mean" in rows[0]
    assert "Denoising on images" in proc.stdout
    nothing = run_module("sgan_tf.cli.eval_main", f"--output_dir={out}")
    assert nothing.returncode == 2 and "give --input" in nothing.stderr


def test_hnn_folder_skips_runs_without_a_checkpoint(tmp_path):
    for variant, with_ckpt in (("og", True), ("bm3d", False)):
        run = tmp_path / "hnn" / variant
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"stage": "hnn", "variant": variant}))
        if with_ckpt:
            (run / "checkpoint").write_text(f'model_checkpoint_path: "{run}/ckpt-1"\n')
            (run / "ckpt-1.index").write_bytes(b"")
    assert segmenters.hnn_models(str(tmp_path / "hnn")) == {"og": str(tmp_path / "hnn" / "og")}
    with pytest.raises(UserError, match="neither"):
        segmenters.hnn_models(str(tmp_path))


# -- the hostile-input probes of issue 14 ---------------------------------------------------------------


def test_segment_main_bad_rows_bombs_and_symlinks_fail_alone(lesion_set, tmp_path):
    from enhance_main_test import _png_claiming

    ds = DeepLesionSet(str(lesion_set))
    victim = tmp_path / "victim_1.png"
    victim.write_bytes(b"unrelated")
    (tmp_path / "1.png").write_bytes(b"x")  # what ../victim_1.png's slice would resolve to

    def change(rows):
        rows[0]["File_name"] = "../victim_1.png"  # pred/../victim_1.png is the unrelated file
        rows[1]["Patient_index"] = "inf"
    edit_rows(lesion_set, change)
    path = lesion_set / "DL_info.csv"
    lines = path.read_bytes().split(b"\r\n")
    lines[3] = lines[3].replace(b",F,", b",\xff,")
    path.write_bytes(b"\r\n".join(lines))
    (lesion_set / "Images_png" / ds.records[3].relative_path).write_bytes(_png_claiming(60000, 60000))
    pred = tmp_path / "pred"
    pred.mkdir()
    os.symlink(tmp_path / "created_by_a_write", pred / ds.records[4].file_name)  # dangling
    proc = run_module("sgan_tf.cli.segment_main", "--method=grabcut", f"--input={lesion_set}", f"--output_dir={pred}",
                      "--overwrite")
    assert proc.returncode == 4 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "line 2: File_name '../victim_1.png' is not <series>_<slice>.png" in proc.stderr
    assert "line 3: Patient_index has non-finite numbers" in proc.stderr
    assert "line 4: Patient_gender is not UTF-8 text (byte 0xff)" in proc.stderr
    assert "60000x60000 = 3,600,000,000 pixels is over the --max_pixels" in proc.stderr
    assert f"{ds.records[4].file_name} is a symlink; refusing to write through it" in proc.stderr
    assert "2 lesions segmented into 1 mask files" in proc.stderr and "5 failed" in proc.stderr
    assert victim.read_bytes() == b"unrelated" and not (tmp_path / "created_by_a_write").exists()
    assert sorted(os.listdir(pred)) == sorted([ds.records[4].file_name, ds.records[5].file_name])


def test_eval_main_needs_ground_truth_and_lesion_rows(lesion_set, tmp_path):
    ds = DeepLesionSet(str(lesion_set))
    pred = tmp_path / "pred"
    pred.mkdir()
    for rec in ds.records:
        cv2.imwrite(str(pred / rec.file_name), ds.load_mask(rec) * 255)
    # masks/ exists, but none of its files belongs to a row.
    os.rename(lesion_set / "masks", tmp_path / "masks_aside")
    (lesion_set / "masks" / "other").mkdir(parents=True)
    scored = run_module("sgan_tf.cli.eval_main", f"--input={lesion_set}", f"--pred_dir={pred}")
    assert scored.returncode == 2 and "none of the 6 selected lesions has a ground-truth mask" in scored.stderr
    config = experiment.ExperimentConfig(input=str(lesion_set), output_dir=str(tmp_path / "e"),
                                         splits=(1, 2, 3))
    with pytest.raises(UserError, match="none of the 6 selected lesions has a ground-truth mask"):
        experiment.run_experiment(config)
    # Some lesions without a mask, two bad rows: each is a failure, the rest is scored.
    os.rmdir(lesion_set / "masks" / "other")
    os.rmdir(lesion_set / "masks")
    os.rename(tmp_path / "masks_aside", lesion_set / "masks")
    os.remove(lesion_set / "masks" / ds.records[5].relative_path)
    edit_rows(lesion_set, lambda rows: rows[0].update(Key_slice_index="1e999"))
    path = lesion_set / "DL_info.csv"
    path.write_bytes(path.read_bytes().replace(b",F,", b",\xfe,", 2))  # the first two rows
    scored = run_module("sgan_tf.cli.eval_main", f"--input={lesion_set}", f"--pred_dir={pred}")
    assert scored.returncode == 4 and "Traceback" not in scored.stderr, scored.stderr[-2000:]
    assert "3 lesions scored, 0 without a prediction, 3 failed" in scored.stdout
    assert "dice: 1.0000" in scored.stdout and "line 3: Patient_gender is not UTF-8" in scored.stderr
    result = experiment.run_experiment(config)
    assert result["table1"][0]["GrabCut n"] == 3
    assert [f["item"] for f in result["failures"]][-1] == ds.records[5].item_id
    assert "no ground-truth mask" in result["failures"][-1]["error"] and len(result["failures"]) == 3
    empty = run_module("sgan_tf.cli.segment_main", f"--input={lesion_set}", f"--output_dir={tmp_path / 'p2'}", "--splits=7")
    assert empty.returncode == 2 and "no lesion rows in --splits=[7]" in empty.stderr, empty.stderr[-2000:]
    # A header-only DL_info.csv is refused by every binary that reads sets.
    path.write_bytes(path.read_bytes().split(b"\r\n")[0] + b"\r\n")
    for module, args in (("sgan_tf.cli.eval_main", [f"--pred_dir={pred}"]),
                         ("sgan_tf.cli.segment_main", [f"--output_dir={tmp_path / 'p2'}"])):
        proc = run_module(module, f"--input={lesion_set}", *args)
        assert proc.returncode == 2 and "no lesion rows" in proc.stderr, (module, proc.stderr[-2000:])


def test_variants_choose_the_rows(lesion_set, tiny_models, tmp_path, monkeypatch):
    config = experiment.ExperimentConfig(input=str(lesion_set), output_dir=str(tmp_path / "v"),
                                         models=dict(tiny_models), splits=(3,), variants=("gan1", "og"))
    assert [r["Input"] for r in experiment.run_experiment(config)["table1"]] == ["OG", "OG+GAN1"]
    monkeypatch.setenv(pretrained.ENV_DIR, str(tmp_path / "nothing_ships"))
    for asked, message in ((("og", "sharp"), "unknown sharp"), (("dncnn",), "dncnn need models")):
        with pytest.raises(UserError, match=message):
            experiment.run_experiment(dataclasses.replace(config, variants=asked, models={}))
