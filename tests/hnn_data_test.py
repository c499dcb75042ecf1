"""hnn_data's ROI cache: what its key follows, and that a stale or damaged cache is rebuilt."""

import types

import numpy as np

from sgan_tf.data.ct import DEFAULT_CHOICE
from sgan_tf.segment import hnn_data

ITEMS = [types.SimpleNamespace(item_id=f"item_{i}") for i in range(3)]


def shipped(folder: str, version: str = "1.1") -> dict:
    return {"model_dir": folder, "checkpoint": "ckpt-2000", "compute_dtype": "bfloat16",
            "pretrained": {"name": "denoise", "version": version}}


def key(info: dict, items=ITEMS, size: int = 96) -> str:
    enhancer = types.SimpleNamespace(variant="gan1", info=info)
    return hnn_data.cache_key("/data/sim", items, enhancer, size, DEFAULT_CHOICE, 5)


def test_key_names_a_shipped_model_by_version_and_a_trained_one_by_folder():
    base = key({"denoise_model": shipped("/venv_a/sgan_tf/pretrained/denoise")})
    assert key({"denoise_model": shipped("/venv_b/sgan_tf/pretrained/denoise")}) == base  # reinstalled
    assert key({"denoise_model": shipped("/venv_a/sgan_tf/pretrained/denoise", version="1.2")}) != base
    run = {"model_dir": "/runs/a", "checkpoint": "ckpt-2000", "compute_dtype": "bfloat16"}
    assert key({"denoise_model": run}) != key({"denoise_model": {**run, "model_dir": "/runs/b"}})
    assert key({"denoise_model": shipped("/x")}, items=ITEMS[:2]) != base
    assert key({"denoise_model": shipped("/x")}, size=64) != base


def test_cache_round_trip_and_stale_or_damaged_files_are_rebuilt(tmp_path):
    rois = hnn_data.RoiSet(np.zeros((2, 8, 8, 3), np.uint8), np.ones((2, 8, 8), np.uint8),
                           np.ones((2, 8, 8), np.uint8), np.array([True, False]), np.array(["a", "b"]))
    path = str(tmp_path / "hnn_rois_train.npz")
    assert hnn_data.load_cached(path, "k") is None  # no file yet
    hnn_data.save_cached(path, "k", rois)
    loaded = hnn_data.load_cached(path, "k")
    np.testing.assert_array_equal(loaded.labels, rois.labels)
    np.testing.assert_array_equal(loaded.item_ids, rois.item_ids)
    assert hnn_data.load_cached(path, "other") is None
    with open(path, "wb") as f:
        f.write(b"not an npz")
    assert hnn_data.load_cached(path, "k") is None
