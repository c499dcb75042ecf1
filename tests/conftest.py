"""Shared fixtures: tiny configurations and a small image folder, so tests run real code fast."""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np
import pytest

from sgan_tf.training import TrainConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("SGAN_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))
"""Reference data (../shared/data, or $SGAN_SHARED_DATA); tests that need it skip when it is absent."""

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


@pytest.fixture(autouse=True, scope="session")
def no_shipped_models(tmp_path_factory):
    """Every test sees an empty folder of shipped models ($SGAN_PRETRAINED_DIR, sgan_tf/pretrained),
    so what the package ships never changes a test; pretrained_test installs its own."""
    os.environ["SGAN_PRETRAINED_DIR"] = str(tmp_path_factory.mktemp("no_shipped_models"))


@pytest.fixture
def max_pixels():
    """Sets the pixel cap (sgan_tf/data/limits.py) for one test; the default is back after it."""
    from sgan_tf.data import limits

    yield limits.set_max_pixels
    limits.set_max_pixels(limits.DEFAULT_MAX_PIXELS)


_server: subprocess.Popen | None = None


def _binary_server() -> subprocess.Popen:
    """This test process's binary server (tests/binary_server.py), started on first use."""
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen([sys.executable, os.path.join(REPO, "tests", "binary_server.py")], cwd=REPO,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        atexit.register(_server.kill)
    return _server


def _reply(server: subprocess.Popen) -> dict:
    line = server.stdout.readline()
    if not line:
        raise RuntimeError(f"tests/binary_server.py ended (status {server.wait()})")
    return json.loads(line)


def run_module(module: str, *args: str, env: dict | None = None, timeout: int = 300, cwd: str = REPO,
               own_env: bool = False) -> subprocess.CompletedProcess:
    """Runs `python -m module args` in `cwd` (the repo root) and returns the finished process;
    its environment is this process's updated with `env`, or `env` alone with `own_env`.

    The process is forked from a server that has imported TensorFlow already (it saves ~10 s a
    run; tests/binary_server.py); an `env` that sets PYTHONPATH, which must change what is
    imported, gets a new interpreter instead."""
    full_env = {**({} if own_env else os.environ), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    argv = [sys.executable, "-m", module, *args]
    if "PYTHONPATH" in (env or {}):
        return subprocess.run(argv, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    server = _binary_server()
    with tempfile.TemporaryDirectory() as tmp:
        out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        server.stdin.write(json.dumps({"module": module, "args": list(args), "cwd": cwd, "env": full_env,
                                       "stdout": out, "stderr": err}) + "\n")
        server.stdin.flush()
        pid = _reply(server)["pid"]
        expired = threading.Event()
        timer = threading.Timer(timeout, lambda: (expired.set(), os.kill(pid, signal.SIGKILL)))
        timer.start()
        try:
            returncode = _reply(server)["returncode"]
        finally:
            timer.cancel()
        with open(out, encoding="utf-8", errors="replace") as f:
            stdout = f.read()
        with open(err, encoding="utf-8", errors="replace") as f:
            stderr = f.read()
    if expired.is_set():
        raise subprocess.TimeoutExpired(argv, timeout, stdout, stderr)
    return subprocess.CompletedProcess(argv, returncode, stdout, stderr)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """model_dirs of tiny denoise, enhance and single GANs trained for a few real steps."""
    from sgan_tf import training

    root = tmp_path_factory.mktemp("tiny_models")
    dirs = {}
    for stage in ("denoise", "enhance", "single"):
        dirs[stage] = str(root / stage)
        training.train(tiny_config(dirs[stage], stage=stage, train_steps=3, pretrain_steps=2, num_blocks=2))
    return dirs


@pytest.fixture(scope="session")
def shipped(tiny_models, tmp_path_factory) -> str:
    """A folder of shipped models ($SGAN_PRETRAINED_DIR) holding tiny G1 and G2 (version 0.9);
    no single GAN, DnCNN or HNN ships."""
    from sgan_tf import pretrained

    folder = tmp_path_factory.mktemp("shipped")
    for name in ("denoise", "enhance"):
        proc = run_module("sgan_tf.pretrained", f"--name={name}", f"--model_dir={tiny_models[name]}", "--version=0.9",
                          env={pretrained.ENV_DIR: str(folder)})
        assert proc.returncode == 0, proc.stderr[-2000:]
    return str(folder)


def edit_rows(root, change) -> None:
    """Rewrites DL_info.csv of the DeepLesion-layout set at `root` after `change(rows)` edits its
    rows (dicts by column name) in place."""
    import csv

    from sgan_tf.data import deeplesion

    path = os.path.join(root, deeplesion.INFO_FILE)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    change(rows)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=deeplesion.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def make_deeplesion(root, shapes=((96, 96),) * 4, lesion_types=(4, 5, 1, 2), border=False) -> list:
    """A small DeepLesion-layout set: one disk lesion per slice, masks/ beside Images_png/.
    With border=True the first lesion touches the image edge. Returns the LesionRecords."""
    from sgan_tf.data import ct, deeplesion, recist

    rng = np.random.default_rng(1)
    records = []
    for i, ((h, w), kind) in enumerate(zip(shapes, lesion_types)):
        hu = np.full((h, w), 40.0, np.float32) + rng.normal(0, 15, (h, w)).astype(np.float32)
        mask = np.zeros((h, w), np.uint8)
        cx, cy = (6, h // 2) if border and i == 0 else (w // 2 + i, h // 2 - i)
        cv2.ellipse(mask, (cx, cy), (9 + i, 6 + i), 20 * i, 0, 360, 1, -1)
        hu[mask > 0] -= 60.0
        name = f"{i + 1:06d}_01_01_{i + 10:03d}.png"
        rel = os.path.join(name.rsplit("_", 1)[0], name.rsplit("_", 1)[1])
        ct.write_hu_png(os.path.join(root, deeplesion.IMAGES_DIR, rel), hu)
        os.makedirs(os.path.dirname(os.path.join(root, deeplesion.MASKS_DIR, rel)), exist_ok=True)
        cv2.imwrite(os.path.join(root, deeplesion.MASKS_DIR, rel), mask * 255)
        pts = recist.recist_from_mask(mask)
        ys, xs = np.nonzero(mask)
        records.append(deeplesion.LesionRecord(
            file_name=name, patient_index=i + 1, study_index=1, series_id=1, key_slice_index=i + 10,
            recist=pts, bbox=(xs.min() - 5.0, ys.min() - 5.0, xs.max() + 5.0, ys.max() + 5.0),
            diameters=recist.axis_lengths(pts), normalized_location=(cx / w, cy / h, 0.5),
            lesion_type=kind, possibly_noisy=0, slice_range=(i + 10, i + 10), spacing=(0.8, 0.8, 5.0),
            image_size=(h, w), window=(-175.0, 275.0), gender="F", age=50.0, split=1 + i % 3,
        ))
    deeplesion.write_dl_info(os.path.join(root, deeplesion.INFO_FILE), records)
    return records
