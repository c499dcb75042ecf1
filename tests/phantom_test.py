"""Simulated low-dose CT lesion set: projector vs skimage, scan physics, lesions, RECIST, layout,
determinism, and phantom_main as users run it."""

import filecmp
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from skimage.data import shepp_logan_phantom
from skimage.transform import iradon, radon, resize

from sgan_tf.data import deeplesion, phantom, projector, recist
from sgan_tf.data.ct import read_hu_png
from sgan_tf.errors import UserError

from conftest import REPO, run_module

SIZE = 256  # small slices keep the tests fast; the field of view in mm is that of 512 px
SEED = 11


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """16 slices (two of each lesion type) written by two worker processes."""
    root = str(tmp_path_factory.mktemp("set") / "phantom")
    records = phantom.write_set(root, 16, SEED, workers=2, size=SIZE)
    return root, records


@pytest.fixture(scope="module")
def slices():
    return [phantom.make_slice(i, SEED, size=SIZE) for i in range(16)]


def _files(root: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def _shepp_logan(n: int) -> np.ndarray:
    image = resize(shepp_logan_phantom(), (n, n)).astype(np.float32)
    yy, xx = np.ogrid[:n, :n]
    image[(yy - n // 2) ** 2 + (xx - n // 2) ** 2 > (n // 2) ** 2] = 0
    return image


def test_radon_matches_skimage():
    image = _shepp_logan(96)
    for views in (2, 36, 180):
        ours = projector.radon(image, views)
        theirs = radon(image, projector.projection_angles(views), circle=True)
        assert ours.shape == theirs.shape == (96, views)
        assert np.linalg.norm(ours - theirs) / np.linalg.norm(theirs) < 1e-4, views


@pytest.mark.parametrize("filter_name", ["ramp", "hann"])
def test_fbp_matches_skimage(filter_name):
    image = _shepp_logan(96)
    angles = projector.projection_angles(180)
    sinogram = radon(image, angles, circle=True)
    ours = projector.fbp(sinogram.astype(np.float32), filter_name)
    theirs = iradon(sinogram, angles, circle=True, filter_name=filter_name)
    assert np.linalg.norm(ours - theirs) / np.linalg.norm(theirs) < 0.02
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.999
    pair = projector.fbp(np.stack([sinogram, 2 * sinogram]).astype(np.float32), filter_name)
    np.testing.assert_allclose(pair[0], ours, atol=1e-6)
    np.testing.assert_allclose(pair[1], 2 * ours, atol=2e-6)


def test_views_must_be_even():
    with pytest.raises(ValueError, match="even"):
        projector.radon(np.zeros((32, 32), np.float32), 7)


def test_clean_scan_reproduces_the_phantom(slices):
    for sl in slices[:4]:
        k = np.ones((5, 5), np.uint8)
        interior = cv2.erode(sl.body.astype(np.uint8), k).astype(bool)
        flat = interior & (cv2.dilate(sl.phantom, k) - cv2.erode(sl.phantom, k) < 25)
        error = np.abs(sl.clean - sl.phantom)[flat]
        assert error.mean() < 3.0 and np.percentile(error, 99) < 15.0, (sl.index, error.mean())


def test_noise_is_poisson_ct_noise():
    """noisy - clean: std within the low-dose range, shrinking as 1/sqrt(I0), near zero mean,
    and spatially correlated like FBP noise (not white)."""
    stds = []
    for photons in (2.5e4, 1e5):
        sl = phantom.make_slice(1, SEED, size=SIZE, photons=(photons, photons))
        assert sl.photons == photons
        k = np.ones((5, 5), np.uint8)
        soft = cv2.erode((sl.body & (np.abs(sl.phantom - 40) < 120)).astype(np.uint8), k).astype(bool)
        noise = sl.noisy - sl.clean
        pairs = soft[:, :-1] & soft[:, 1:]
        neighbours = np.corrcoef(noise[:, :-1][pairs], noise[:, 1:][pairs])[0, 1]
        assert neighbours > 0.4, neighbours
        assert abs(noise[soft].mean()) < 0.1 * noise[soft].std()
        stds.append(noise[soft].std())
    # At 256 px the noise is ~0.7x that of 512 px (pixels 2x wider, half the views).
    assert 25 < stds[0] < 60 and 12 < stds[1] < 30, stds
    assert stds[0] / stds[1] == pytest.approx(2.0, rel=0.15)


def test_noise_at_512_in_the_low_dose_range():
    sl = phantom.make_slice(0, SEED, photons=(5e4, 5e4))
    assert sl.noisy.shape == (512, 512)
    soft = cv2.erode((sl.body & (np.abs(sl.phantom - 40) < 120)).astype(np.uint8), np.ones((5, 5), np.uint8))
    assert 20 < (sl.noisy - sl.clean)[soft.astype(bool)].std() < 60


def test_lesions_are_typical_and_inside_image_and_body(slices):
    for sl in slices:
        site = phantom.LESION_SITES[sl.lesion.lesion_type]
        assert sl.level in site.levels and sl.lesion.host in site.hosts, sl.index
        mask = sl.mask
        assert mask.any() and not (mask & ~sl.body).any(), sl.index
        np.testing.assert_array_equal(mask, sl.profile >= 0.5)  # the true region: soft profile >= 0.5
        near = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)  # edge ramps <= 5 px
        assert not sl.profile[~near].any(), sl.index
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
        ys, xs = np.nonzero(sl.body)
        c = SIZE // 2
        assert ((ys - c) ** 2 + (xs - c) ** 2).max() < c * c, "body leaves the reconstruction circle"
        long_mm = recist.axis_lengths(recist.recist_from_mask(mask))[0] * sl.spacing
        assert 3.0 < long_mm < 75.0, (sl.index, long_mm)
        contrast = abs(sl.lesion.hu - sl.lesion.host_hu)
        if sl.lesion.lesion_type == 5:
            assert contrast > 150, (sl.index, contrast)
        assert contrast > 5, (sl.index, contrast)


def test_all_types_appear_balanced(dataset):
    _, records = dataset
    counts = np.bincount([r.lesion_type for r in records], minlength=9)[1:]
    assert counts.tolist() == [2] * 8
    assert {r.window for r in records if r.lesion_type == 5} == {(-1350.0, 150.0)}
    assert {r.window for r in records if r.lesion_type == 1} == {(-500.0, 1300.0)}


def test_layout_matches_dl_info(dataset):
    root, records = dataset
    dl = deeplesion.DeepLesionSet(root)
    assert not dl.problems and len(dl.records) == len(records) == 16
    assert dl.has_masks
    for rec, written in zip(dl.records, records):
        assert rec.file_name == written.file_name
        series, key = rec.file_name[:-8], int(rec.file_name[-7:-4])
        assert series == f"{rec.patient_index:06d}_{rec.study_index:02d}_{rec.series_id:02d}"
        assert key == rec.key_slice_index and rec.slice_range == (key, key)
        assert rec.image_size == (SIZE, SIZE) and rec.spacing[2] == phantom.SLICE_MM
        assert 0.7 * 2 <= rec.spacing[0] == rec.spacing[1] <= 0.9 * 2
        assert rec.split in (1, 2, 3) and rec.gender in ("M", "F") and rec.possibly_noisy == 0
        assert all(0 <= v <= 1 for v in rec.normalized_location)
        for path in (dl.image_path(rec), dl.clean_path(rec), dl.mask_path(rec)):
            assert os.path.isfile(path), path
        stored = cv2.imread(dl.image_path(rec), cv2.IMREAD_UNCHANGED)
        assert stored.dtype == np.uint16 and stored.shape == (SIZE, SIZE)
        assert read_hu_png(dl.clean_path(rec)).min() >= -1100
        mask = cv2.imread(dl.mask_path(rec), cv2.IMREAD_UNCHANGED)
        assert mask.dtype == np.uint8 and set(np.unique(mask).tolist()) == {0, 255}
        np.testing.assert_array_equal(dl.load_mask(rec), mask > 0)
    assert sorted(os.listdir(root)) == sorted([deeplesion.IMAGES_DIR, deeplesion.CLEAN_DIR, deeplesion.MASKS_DIR,
                                               deeplesion.INFO_FILE])


def _max_feret(mask: np.ndarray) -> float:
    ys, xs = np.nonzero(mask)
    p = np.stack([xs, ys], 1).astype(np.float64)
    return float(np.sqrt(((p[:, None] - p[None]) ** 2).sum(-1)).max())


def test_recist_and_boxes_follow_the_masks(dataset):
    root, _ = dataset
    dl = deeplesion.DeepLesionSet(root)
    for rec in dl.records:
        mask = dl.load_mask(rec).astype(bool)
        points = np.asarray(rec.recist)
        ys, xs = np.nonzero(mask)
        for x, y in points:  # endpoints on the mask (CSV rounding: within a pixel)
            assert np.min(np.hypot(xs - x, ys - y)) <= 1.0, rec.file_name
        long_d, short_d = recist.axis_lengths(points)
        assert abs(long_d - _max_feret(mask)) <= 1.5, rec.file_name
        assert 0 < short_d <= long_d
        u, v = points[1] - points[0], points[3] - points[2]
        cos = abs(u @ v) / (np.linalg.norm(u) * np.linalg.norm(v))
        assert np.degrees(np.arccos(min(cos, 1.0))) > 87, rec.file_name
        assert rec.diameters == pytest.approx((long_d, short_d), abs=1e-3)
        box = (max(xs.min() - 5, 0), max(ys.min() - 5, 0), min(xs.max() + 5, SIZE - 1), min(ys.max() + 5, SIZE - 1))
        assert rec.bbox == box
        assert rec.normalized_location[:2] == pytest.approx((xs.mean() / SIZE, ys.mean() / SIZE), abs=1e-5)


def test_deterministic_per_slice(dataset, tmp_path):
    """Same seed: same bytes, whatever the set size or worker count; another seed differs."""
    root, records = dataset
    small = str(tmp_path / "small")
    phantom.write_set(small, 3, SEED, workers=1, size=SIZE)
    for name in _files(small):
        if name != deeplesion.INFO_FILE:
            assert filecmp.cmp(os.path.join(small, name), os.path.join(root, name), shallow=False), name
    with open(os.path.join(small, deeplesion.INFO_FILE)) as f, open(os.path.join(root, deeplesion.INFO_FILE)) as g:
        assert f.read().splitlines() == g.read().splitlines()[:4]
    other = str(tmp_path / "other")
    phantom.write_set(other, 3, SEED + 1, workers=1, size=SIZE)
    first = deeplesion.read_dl_info(os.path.join(other, deeplesion.INFO_FILE))[0][0]
    theirs = read_hu_png(os.path.join(other, deeplesion.IMAGES_DIR, first.relative_path))
    ours = read_hu_png(os.path.join(root, deeplesion.IMAGES_DIR, records[0].relative_path))
    assert np.abs(theirs - ours).mean() > 10


def test_set_arguments_are_checked(tmp_path):
    with pytest.raises(UserError, match="slices"):
        phantom.write_set(str(tmp_path / "a"), 0, 0)
    with pytest.raises(UserError, match="even"):
        phantom.write_set(str(tmp_path / "b"), 1, 0, views=9)
    with pytest.raises(UserError, match="workers"):
        phantom.write_set(str(tmp_path / "c"), 1, 0, workers=0)
    assert phantom.parse_photons("5e4") == (5e4, 5e4)
    assert phantom.parse_photons("1e4, 2e4") == (1e4, 2e4)
    for bad in ("x", "2e4,1e4", "0", "1,2,3"):
        with pytest.raises(UserError, match="photons"):
            phantom.parse_photons(bad)


def phantom_main(*args):
    return run_module("sgan_tf.cli.phantom_main", *args, timeout=120)


def assert_clean_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("phantom_main: error:")]
    assert len(errors) == 1, proc.stderr[-2000:]
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_binary_writes_a_set_then_refuses_to_overwrite_it(tmp_path):
    out = tmp_path / "set"
    args = [f"--output_dir={out}", "--num_slices=3", "--seed=5", "--image_size=128", "--photons=3e4,6e4"]
    done = phantom_main(*args, "--workers=2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3/3 slices" in done.stderr and f"Wrote 3 slices to {out}" in done.stderr
    records, problems = deeplesion.read_dl_info(str(out / deeplesion.INFO_FILE))
    assert len(records) == 3 and not problems
    assert len(os.listdir(out / deeplesion.IMAGES_DIR)) == 3

    assert_clean_error(phantom_main(*args), str(out), "not empty", "--overwrite")
    (out / "notes.txt").write_text("kept")
    again = phantom_main(*args[:1], "--num_slices=1", *args[2:], "--workers=1", "--overwrite")
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(os.listdir(out / deeplesion.IMAGES_DIR)) == 1  # the earlier set is gone
    assert (out / "notes.txt").read_text() == "kept"


def test_binary_unwritable_output_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_clean_error(phantom_main(f"--output_dir={blocker}/set", "--num_slices=1"), str(blocker), "not writable")
    assert_clean_error(phantom_main(f"--output_dir={blocker}", "--num_slices=1"), "is a file")
    if os.geteuid() != 0:  # root writes through permission bits
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert_clean_error(phantom_main(f"--output_dir={locked}/set", "--num_slices=1"), "not writable")


def test_binary_bad_flags(tmp_path):
    assert_clean_error(phantom_main(f"--output_dir={tmp_path}/a", "--num_slices=1", "--photons=lots"), "photons")
    assert_clean_error(phantom_main(f"--output_dir={tmp_path}/b", "--num_slices=0"), "slices")
    proc = phantom_main("--num_slices=1")
    assert proc.returncode == 1 and "output_dir" in proc.stderr


def test_binary_does_not_import_tensorflow():
    code = "import sys, sgan_tf.cli.phantom_main; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-2000:]
