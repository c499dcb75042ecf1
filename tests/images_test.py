"""Image sources: formats and depths to [0, 1] grayscale, bad files, holdout."""

import os

import cv2
import numpy as np
import pytest

from sgan_tf.data import images as im
from sgan_tf.errors import DataError


def test_folder_is_read_recursively_with_every_format(image_folder):
    files = im.list_image_files(str(image_folder))
    assert len(files) == 6 and any("sub" in f for f in files)
    loaded, kept = im.load_images(files, 32)
    assert len(loaded) == 6
    depths = {os.path.basename(p): image.dtype for p, image in zip(kept, loaded)}
    assert depths["gray16.png"] == np.uint16 and depths["gray8_0.png"] == np.uint8  # kept compact
    for image in loaded:
        unit = im.as_unit(image)
        assert unit.dtype == np.float32 and unit.ndim == 2
        assert 0.0 <= unit.min() and unit.max() <= 1.0 and unit.max() > 0.5


def to_unit_gray(image):
    return im.as_unit(im.to_gray(image))


def test_depths_map_to_unit_scale():
    np.testing.assert_allclose(to_unit_gray(np.array([[0, 255]], np.uint8)), [[0.0, 1.0]])
    np.testing.assert_allclose(to_unit_gray(np.array([[0, 65535]], np.uint16)), [[0.0, 1.0]])
    np.testing.assert_allclose(to_unit_gray(np.array([[-0.5, 0.25, 2.0]], np.float32)), [[0.0, 0.25, 1.0]])
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 2] = 255  # pure red, alpha 0
    np.testing.assert_allclose(to_unit_gray(bgra), 0.299, atol=0.01)
    assert im.to_gray(np.array([[1, 2]], np.int32)).dtype == np.float32  # other ints -> [0, 1] floats
    with pytest.raises(ValueError, match="NaN"):
        im.to_gray(np.array([[np.nan]], np.float32))


def test_bad_and_small_files_are_skipped_with_a_warning(image_folder, caplog):
    (image_folder / "broken.png").write_bytes(b"\x89PNG not really")
    cv2.imwrite(str(image_folder / "tiny.png"), np.zeros((8, 8), np.uint8))
    files = im.list_image_files(str(image_folder))
    loaded, kept = im.load_images(files, 32)
    assert len(loaded) == 6
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "broken.png" in messages and "tiny.png" in messages and "smaller than" in messages


def test_nothing_usable_is_an_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="none of the 1"):
        im.load_images(im.list_image_files(str(tmp_path)), 16)


def test_empty_and_missing_folders_are_errors(tmp_path):
    with pytest.raises(DataError, match="holds no images"):
        im.list_image_files(str(tmp_path))
    with pytest.raises(DataError, match="does not exist"):
        im.list_image_files(str(tmp_path / "nope"))


def test_holdout_is_deterministic_and_disjoint():
    paths = [f"f{i:02d}.png" for i in range(25)]
    train, val = im.split_holdout(paths)
    assert val == ["f09.png", "f19.png"]
    assert not set(train) & set(val) and len(train) + len(val) == 25
    assert im.split_holdout(["only.png"]) == (["only.png"], ["only.png"])


def test_skimage_bundled_photographs_load_offline():
    files = im.skimage_files()
    assert len(files) >= 10
    loaded, _ = im.load_images(files[:3], 32)
    assert all(i.ndim == 2 for i in loaded)
