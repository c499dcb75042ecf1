"""Denoising tables: the natural-image protocol, the MetaImage reader, and the LCD-CT table."""

import os

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi

from sgan_tf import baselines
from sgan_tf.evaluation import denoise as ed
from sgan_tf.evaluation import tables
from sgan_tf.data.ct import NETWORK_WINDOW, WINDOWS
from sgan_tf.errors import DataError

from conftest import SHARED_DATA, smooth_image

SHARED_LCD = os.path.join(SHARED_DATA, "lcd_ct")


def blur(x):
    return ndi.gaussian_filter(x, 1.0)


@pytest.fixture
def gray_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(40, 48), (48, 40), (44, 44)]):
        cv2.imwrite(str(tmp_path / f"im{i}.png"), np.round(smooth_image(rng, h, w) * 255).astype(np.uint8))
    return str(tmp_path)


def test_natural_table_rows_and_protocol(gray_folder):
    rows = ed.natural_table(gray_folder, {"blur": blur, "nlm": baselines.NLMStage()}, sigmas=(15, 50))
    assert [(r["sigma"], r["method"]) for r in rows] == [
        (s, m) for s in (15, 50) for m in ("noisy", "blur", "nlm")]
    assert all(r["images"] == 3 and r["dataset"] == os.path.basename(gray_folder) for r in rows)
    by = {(r["sigma"], r["method"]): r for r in rows}
    # The noisy row scores the unclipped input: PSNR ~ 20 log10(255 / sigma).
    for s in (15, 50):
        assert by[s, "noisy"]["PSNR"][0] == pytest.approx(20 * np.log10(255 / s), abs=0.3)
        assert by[s, "nlm"]["PSNR"][0] > by[s, "noisy"]["PSNR"][0] + 2
        assert by[s, "nlm"]["SSIM"][0] > by[s, "noisy"]["SSIM"][0]
    assert ed.natural_table(gray_folder, {}, sigmas=(15,)) == [rows[0]]  # fixed seed: same noise


def test_noise_draw_is_the_learning_benchmark_one():
    clean = [np.zeros((3, 4), np.float32), np.ones((2, 2), np.float32)]
    rng = np.random.default_rng(0)
    expected = [c + rng.normal(0, 25 / 255, c.shape).astype(np.float32) for c in clean]
    for a, b in zip(ed.noisy_images(clean, 25, seed=0), expected):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def write_mhd(folder, name, array, element_type, big_endian=False, per_slice=False):
    os.makedirs(folder, exist_ok=True)
    dtype = np.dtype({"MET_USHORT": "u2", "MET_SHORT": "i2", "MET_FLOAT": "f4"}[element_type])
    dtype = dtype.newbyteorder(">" if big_endian else "<")
    dims = " ".join(str(d) for d in reversed(array.shape))
    if per_slice:
        data_file = f"{name}_%03d.raw 1 {array.shape[0]} 1"
        for i, s in enumerate(array, 1):
            s.astype(dtype).tofile(os.path.join(folder, f"{name}_{i:03d}.raw"))
    else:
        data_file = f"{name}.raw"
        array.astype(dtype).tofile(os.path.join(folder, data_file))
    header = (f"ObjectType = Image\nNDims = {array.ndim}\nDimSize = {dims}\nElementType = {element_type}\n"
              f"BinaryDataByteOrderMSB = {big_endian}\nElementDataFile = {data_file}\n")
    path = os.path.join(folder, f"{name}.mhd")
    with open(path, "w") as f:
        f.write(header)
    return path


@pytest.mark.parametrize("element_type,big_endian,per_slice", [
    ("MET_USHORT", False, False), ("MET_SHORT", False, True), ("MET_FLOAT", True, False)])
def test_metaimage_round_trip(tmp_path, element_type, big_endian, per_slice):
    array = np.arange(3 * 5 * 7).reshape(3, 5, 7) - (0 if element_type == "MET_USHORT" else 50)
    path = write_mhd(str(tmp_path), "vol", array, element_type, big_endian, per_slice)
    out = ed.read_metaimage(path)
    assert out.shape == (3, 5, 7) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_metaimage_errors(tmp_path):
    path = write_mhd(str(tmp_path), "im", np.zeros((4, 6)), "MET_USHORT")
    np.zeros(5, "<u2").tofile(str(tmp_path / "im.raw"))
    with pytest.raises(DataError, match="expected 24"):
        ed.read_metaimage(path)
    with open(path, "a") as f:
        f.write("CompressedData = True\n")
    with pytest.raises(DataError, match="compressed"):
        ed.read_metaimage(path)
    with pytest.raises(DataError, match="not found"):
        ed.read_metaimage(str(tmp_path / "absent.mhd"))


def make_lcd(root, size=64, realisations=3):
    """A water disk (0 HU) in air with one +14 HU insert, noisy scans at two doses (HU + 1000)."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    gt = np.where(r < size * 0.42, 0.0, -1000.0)
    gt[np.hypot(yy - size / 2, xx - size / 2 - 8) < 5] = 14.0
    write_mhd(str(root), "ground_truth", gt + 1000, "MET_USHORT")
    rng = np.random.default_rng(3)
    for dose, sigma in (("dose_010", 60.0), ("dose_100", 20.0)):
        scans = gt + rng.normal(0, sigma, (realisations, size, size))
        write_mhd(str(root / dose / "signal_present"), "signal_present", np.round(scans + 1000), "MET_SHORT",
                  per_slice=True)
    return gt


def test_lcd_regions_keep_the_interior_and_its_flat_part(tmp_path):
    gt = make_lcd(tmp_path)
    interior, flat = ed.lcd_regions(gt)
    assert interior.sum() > 0.3 * gt.size and np.all(gt[interior] > -500)
    assert not interior[0, 0] and not interior[32, int(32 + 0.42 * 64) - 1]  # air, edge
    assert flat.sum() < interior.sum() and not flat[32, 40 - 5]  # insert border is not flat


def test_ct_table_on_a_fake_phantom(tmp_path):
    make_lcd(tmp_path)
    rows = ed.ct_table(str(tmp_path), {"blur": blur}, doses=("dose_010", "dose_100"))
    assert [(r["dose"], r["method"]) for r in rows] == [
        ("10%", "noisy"), ("10%", ed.NOISE_FREE), ("10%", "blur"),
        ("100%", "noisy"), ("100%", ed.NOISE_FREE), ("100%", "blur")]
    by = {(r["dose"], r["method"]): r for r in rows}
    # The scans are the ground truth plus noise: their noise-free scan is the ground truth.
    for dose in ("10%", "100%"):
        assert by[dose, ed.NOISE_FREE]["RMSE -160..240 (HU)"][0] < 0.25 * by[dose, "noisy"]["RMSE -160..240 (HU)"][0]
    assert "| 10% | noise-free scan | " in tables.to_markdown(rows)
    assert by["10%", "noisy"]["noise std (HU)"][0] == pytest.approx(60, rel=0.1)
    assert by["100%", "noisy"]["RMSE interior (HU)"][0] == pytest.approx(20, rel=0.1)
    for dose in ("10%", "100%"):
        assert by[dose, "blur"]["noise std (HU)"][0] < 0.5 * by[dose, "noisy"]["noise std (HU)"][0]
        assert by[dose, "noisy"]["realisations"] == 3
    assert by["10%", "blur"]["PSNR"][0] > by["10%", "noisy"]["PSNR"][0]  # whole image: the edge blur costs too


def test_noise_free_rmse_sees_the_blur_through_the_noise():
    rng = np.random.default_rng(0)
    truth = np.where(np.arange(64) < 32, 0.0, 100.0)[None, :].repeat(16, axis=0)
    blurred = ndi.uniform_filter1d(truth, 5, axis=1)
    scans = blurred + rng.normal(0, 40.0, (20, *truth.shape))
    expected = np.sqrt(np.mean((blurred - truth) ** 2))
    assert ed.noise_free_rmse(scans, truth) == pytest.approx(expected, rel=0.15)
    naive = np.sqrt(np.mean((scans.mean(axis=0) - truth) ** 2))  # the mean keeps noise / sqrt(20)
    assert naive > 1.2 * expected
    window = WINDOWS["soft_tissue"]  # -160..240: air below it is clipped, the noise share dropped
    air = np.full_like(truth, -1000.0)
    assert ed.noise_free_rmse(air + rng.normal(0, 40.0, (20, *truth.shape)), air, clip=window) == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        ed.noise_free_rmse(scans[:1], truth)


def test_ct_table_refuses_a_missing_tree(tmp_path):
    with pytest.raises(DataError, match="not found"):
        ed.ct_table(str(tmp_path), {})


@pytest.mark.skipif(not os.path.isdir(SHARED_LCD), reason="reference data lcd_ct not present")
def test_real_lcd_ct_noise_falls_with_dose():
    rows = ed.ct_table(SHARED_LCD, {}, window=NETWORK_WINDOW)
    noisy = [r for r in rows if r["method"] == "noisy"]
    stds = [r["noise std (HU)"][0] for r in noisy]
    assert [r["dose"] for r in noisy] == ["10%", "55%", "100%"] and stds[0] > stds[1] > stds[2] > 10
    # The noise-free scan's error is the reconstruction's, not the dose's: about equal at every dose.
    floors = [r["RMSE -160..240 (HU)"][0] for r in rows if r["method"] == ed.NOISE_FREE]
    assert len(floors) == 3 and max(floors) - min(floors) < 0.5
    assert all(f < r["RMSE -160..240 (HU)"][0] for f, r in zip(floors, noisy))
