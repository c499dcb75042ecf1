"""The CT pair source: sources, the deterministic resumable cache, crops, and mixing with
natural-image pairs in every stage's synthesis."""

import dataclasses
import json
import os

import numpy as np
import pytest
from scipy import ndimage as ndi

from sgan_tf.data import ct_pairs, deeplesion, phantom, synthesis
from sgan_tf.data.ct import NETWORK_WINDOW
from sgan_tf.errors import DataError, UserError

from conftest import edit_rows, make_deeplesion, smooth_image

CROP = 32


@pytest.fixture(scope="module")
def sim_set(tmp_path_factory):
    """A simulated set (noise-free copies) of 10 slices of 128 px, with train, val and test rows.
    The split of a phantom slice is drawn after its simulation, whose floating point (and so
    the draws) can differ between CPUs: rows 0-2 are set to one split each, so every machine
    has all three."""
    root = str(tmp_path_factory.mktemp("sim") / "set")
    phantom.write_set(root, 10, seed=4, workers=1, size=128)

    def one_of_each(rows):
        for row, split in zip(rows, ("1", "2", "3")):
            row["Train_Val_Test"] = split

    edit_rows(root, one_of_each)
    return root


@pytest.fixture(scope="module")
def cache(sim_set, tmp_path_factory):
    config = ct_pairs.CTPairConfig(dirs=(sim_set,), copies=2, seed=3)
    cache_dir = str(tmp_path_factory.mktemp("cache"))
    return config, cache_dir, ct_pairs.build_cache(config, cache_dir, workers=1)


def test_sources_take_train_and_val_rows_only(sim_set):
    sources = ct_pairs.find_sources([sim_set])
    records = deeplesion.DeepLesionSet(sim_set).records
    expected = {ct_pairs.TRAIN: sum(r.split == 1 for r in records), ct_pairs.VAL: sum(r.split == 2 for r in records)}
    assert {s: sum(x.split == s for x in sources) for s in expected} == expected
    assert all(s.clean and deeplesion.CLEAN_DIR in s.path for s in sources)


def test_cache_holds_target_and_copies_with_their_doses(cache):
    config, _, folder = cache
    with open(os.path.join(folder, "index.json")) as f:
        entries = json.load(f)["entries"]
    for e in entries:
        stack = np.load(os.path.join(folder, "slices", f"{e['number']:06d}.npy"))
        assert stack.shape == (1 + config.copies, 128, 128) and stack.dtype == np.int16
        source = next(s for s in ct_pairs.find_sources(config.dirs) if s.path == e["path"])
        np.testing.assert_array_equal(stack[0], np.rint(source.load()[0]))  # the target is the source
        doses = [c["dose"] for c in e["copies"]]
        assert all(config.dose_range[0] <= d <= config.dose_range[1] for d in doses)
        assert all(np.abs(stack[k].astype(float) - stack[0]).mean() > 1.0 for k in (1, 2))


def test_blur_signal_copies_carry_the_kernel_blur(sim_set, cache, tmp_path):
    """With blur_signal the copies are whole reconstructions (the source blurred at edges) and
    the target is still the source; it is another cache."""
    config, _, folder = cache
    blurred = dataclasses.replace(config, blur_signal=True)
    other = ct_pairs.build_cache(blurred, str(tmp_path), workers=1)
    assert os.path.basename(other) != os.path.basename(folder)
    with open(os.path.join(other, "index.json")) as f:
        entries = json.load(f)["entries"]
    sharp_errors, blurred_errors = [], []
    for e in entries:
        plain = np.load(os.path.join(folder, "slices", f"{e['number']:06d}.npy")).astype(float)
        stack = np.load(os.path.join(other, "slices", f"{e['number']:06d}.npy")).astype(float)
        np.testing.assert_array_equal(stack[0], plain[0])
        edges = ndi.morphological_gradient(stack[0], size=3) > 200  # strong edges of the source
        sharp_errors.append(np.abs(plain[1] - plain[0])[edges].mean())
        blurred_errors.append(np.abs(stack[1] - stack[0])[edges].mean())
    assert np.mean(blurred_errors) > 1.5 * np.mean(sharp_errors)


def test_cache_is_deterministic_reused_and_resumes(cache, tmp_path):
    config, cache_dir, folder = cache
    assert ct_pairs.build_cache(config, cache_dir, workers=1) == folder  # reused as is
    again = ct_pairs.build_cache(config, str(tmp_path), workers=1)
    first = sorted(os.listdir(os.path.join(folder, "slices")))
    assert sorted(os.listdir(os.path.join(again, "slices"))) == first
    victim = os.path.join(again, "slices", next(n for n in first if n.endswith(".npy")))
    reference = np.load(victim)
    os.remove(victim)
    os.remove(victim[:-4] + ".json")
    os.remove(os.path.join(again, "index.json"))  # as if interrupted
    ct_pairs.build_cache(config, str(tmp_path), workers=1)
    np.testing.assert_array_equal(np.load(victim), reference)
    other = ct_pairs.build_cache(ct_pairs.CTPairConfig(dirs=config.dirs, copies=2, seed=4), str(tmp_path), workers=1)
    assert other != again  # another seed, another cache


def test_cache_key_follows_content_not_file_times(sim_set, tmp_path):
    """A data folder copied again (new times, same bytes) keeps its cache; new bytes do not."""
    config = ct_pairs.CTPairConfig(dirs=(sim_set,))
    sources = ct_pairs.find_sources([sim_set])
    copy = tmp_path / "slice.png"
    copy.write_bytes(open(sources[0].path, "rb").read())
    sources = [dataclasses.replace(sources[0], path=str(copy))] + sources[1:]
    key = ct_pairs.cache_key(config, sources)
    os.utime(copy, (1e9, 1e9))
    assert ct_pairs.cache_key(config, sources) == key
    copy.write_bytes(copy.read_bytes() + b"\0")
    assert ct_pairs.cache_key(config, sources) != key


def test_crops_are_deterministic_windowed_and_keep_body(cache):
    _, _, folder = cache
    pairs = ct_pairs.CTPairs(folder, ct_pairs.TRAIN)
    low, target = pairs.crop(CROP, seed=1, index=5, augment=True)
    again = pairs.crop(CROP, seed=1, index=5, augment=True)
    assert low.shape == target.shape == (CROP, CROP, 1) and low.dtype == np.float32
    np.testing.assert_array_equal(low, again[0])
    for i in range(20):
        _, target = pairs.crop(CROP, seed=1, index=i, augment=False)
        assert 0.0 <= target.min() and target.max() <= 1.0
    # Up to CROP_TRIES positions are tried for one that is mostly body: nearly all crops are.
    assert np.mean([((t > 0) & (t < 1)).mean() >= ct_pairs.MIN_IN_WINDOW
                    for t in (pairs.crop(CROP, 2, i, False)[1] for i in range(20))]) > 0.8


def test_crop_keeps_the_try_with_most_body_when_none_has_enough(cache, monkeypatch):
    _, _, folder = cache
    pairs = ct_pairs.CTPairs(folder, ct_pairs.TRAIN)
    monkeypatch.setattr(ct_pairs, "MIN_IN_WINDOW", 2.0)  # no try is enough: all CROP_TRIES are made

    def shares() -> np.ndarray:
        return np.array([((t > 0) & (t < 1)).mean() for t in (pairs.crop(CROP, 3, i, False)[1] for i in range(20))])

    every_try = shares()
    monkeypatch.setattr(ct_pairs, "CROP_TRIES", 1)  # the first try only, the same position as before
    first_try = shares()
    assert np.all(every_try >= first_try) and np.any(every_try > first_try)


def test_mixing_ratio_and_stage_inputs(cache):
    _, _, folder = cache
    rng = np.random.default_rng(0)
    natural = [(smooth_image(rng, 64, 64) * 255).astype(np.uint8) for _ in range(3)]
    rate = np.mean([synthesis.is_ct_example(7, i, 0.3) for i in range(2000)])
    assert rate == pytest.approx(0.3, abs=0.03)
    pairs = ct_pairs.CTPairs(folder, ct_pairs.TRAIN)
    indices = list(range(40))
    for stage in ("denoise", "enhance", "single"):
        config = synthesis.SynthesisConfig.for_stage(stage, crop_size=CROP)
        mixed = list(synthesis.pair_dataset(natural, config, 7, indices, ct=pairs, ct_fraction=0.5))
        plain = list(synthesis.pair_dataset(natural, config, 7, indices))
        for i, ((x, y), (px, py)) in enumerate(zip(mixed, plain)):
            if synthesis.is_ct_example(7, i, 0.5):
                low, target = pairs.crop(CROP, 7, i, True)
                np.testing.assert_array_equal(y.numpy(), target)
                if stage == "denoise":
                    np.testing.assert_array_equal(x.numpy(), low)
                assert 0.0 <= x.numpy().min() and x.numpy().max() <= 1.0  # CT inputs stay in the window
            else:  # natural examples keep the crops they have without CT
                np.testing.assert_array_equal(y.numpy(), py.numpy())
                np.testing.assert_allclose(x.numpy(), px.numpy(), atol=1e-6)


def test_enhance_stage_can_keep_a_share_of_ct_noise(cache):
    _, _, folder = cache
    pairs = ct_pairs.CTPairs(folder, ct_pairs.TRAIN)
    plain = synthesis.SynthesisConfig.for_stage("enhance", crop_size=CROP)
    noisy = synthesis.SynthesisConfig.for_stage("enhance", crop_size=CROP, ct_residual_noise=1.0)
    a = [x.numpy() for x, _ in synthesis.pair_dataset([], plain, 1, range(6), ct=pairs, ct_fraction=1.0)]
    b = [x.numpy() for x, _ in synthesis.pair_dataset([], noisy, 1, range(6), ct=pairs, ct_fraction=1.0)]
    assert all(np.abs(u - v).max() > 0 for u, v in zip(a, b))


def test_noisy_sources_get_extra_noise_only(tmp_path):
    """A set without noise-free copies: the target is the scan itself, copies are noisier."""
    root = str(tmp_path / "dl")
    make_deeplesion(root, shapes=((96, 96),) * 3, lesion_types=(4, 4, 4))
    config = ct_pairs.CTPairConfig(dirs=(root,), copies=1, source_photons=1e5)
    sources = ct_pairs.find_sources([root])
    assert sources and not any(s.clean for s in sources)
    stack, record = ct_pairs.simulate_slice(config, sources[0], 0)
    np.testing.assert_array_equal(stack[0], np.rint(sources[0].load()[0]))
    assert record["copies"][0]["dose"] <= ct_pairs.NOISY_SOURCE_MAX_DOSE
    assert (stack[1].astype(float) - stack[0]).std() > 1.0
    with pytest.raises(DataError, match="noise-free"):
        ct_pairs.CTPairs(ct_pairs.build_cache(config, str(tmp_path / "c"), workers=1), ct_pairs.TRAIN, clean_only=True)


def test_bad_configurations_and_test_sets_are_refused(tmp_path, sim_set):
    with pytest.raises(UserError, match="dose_range"):
        ct_pairs.CTPairConfig(dirs=(sim_set,), dose_range=(0.5, 2.0)).check()
    test_set = tmp_path / "BSD68"
    test_set.mkdir()
    with pytest.raises(UserError, match="test set"):
        ct_pairs.CTPairConfig(dirs=(str(test_set),)).check()
    with pytest.raises(DataError, match="not a folder"):
        ct_pairs.find_sources([str(tmp_path / "missing")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="DICOM"):
        ct_pairs.find_sources([str(empty)])


def test_network_window_is_the_crop_scale(cache):
    _, _, folder = cache
    pairs = ct_pairs.CTPairs(folder, ct_pairs.VAL)
    assert pairs.window == NETWORK_WINDOW
