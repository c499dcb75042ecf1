"""Shared fixtures: tiny configurations and a small image folder, so tests run real code fast."""

from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np
import pytest

from sgan_tf.training import TrainConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY_MODEL = dict(
    num_blocks=1,
    filters=8,
    disc_filters=(4, 4, 8, 8, 8, 8, 16, 16),
    disc_dense_units=16,
    crop_size=16,
    batch_size=4,
    num_val_pairs=4,
    vgg_weight=0.0,
    log_every=1,
)


def tiny_config(model_dir: str, **overrides) -> TrainConfig:
    fields = {**TINY_MODEL, "stage": "denoise", "model_dir": str(model_dir), "train_steps": 4, "pretrain_steps": 2}
    fields.update(overrides)
    return TrainConfig(**fields)


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A natural-looking test image on [0, 1]: blurred noise plus a gradient."""
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 3)
    grad = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    image = 0.6 * (noise - noise.min()) / (np.ptp(noise) + 1e-6) + 0.4 * grad
    return np.clip(image, 0, 1)


@pytest.fixture
def image_folder(tmp_path):
    """Six images of mixed formats/depths, one in a sub-folder."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(root / f"gray8_{i}.png"), (smooth_image(rng, 48, 56) * 255).astype(np.uint8))
    cv2.imwrite(str(root / "sub" / "gray16.png"), (smooth_image(rng, 40, 40) * 65535).astype(np.uint16))
    colour = np.stack([smooth_image(rng, 50, 44) for _ in range(3)], axis=-1)
    cv2.imwrite(str(root / "colour.jpg"), (colour * 255).astype(np.uint8))
    return root


def run_module(module: str, *args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Runs `python -m module args` from the repo root and returns the finished process."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout
    )
