"""The package's API (sgan_tf/__init__.py): its names, imported lazily; the docstring examples
of the package, `load_ct` and `Enhancer` run with the shipped models."""

import doctest
import importlib
import subprocess
import sys

import numpy as np
import pytest

import sgan_tf
from conftest import REPO
from sgan_tf import enhance, pretrained
from sgan_tf.errors import UserError


@pytest.fixture
def shipped_models(monkeypatch):
    """The package's shipped models (conftest hides them from other tests)."""
    monkeypatch.setenv(pretrained.ENV_DIR, pretrained.PACKAGE_DIR)


@pytest.mark.parametrize("module", ["sgan_tf", "sgan_tf.ct_image", "sgan_tf.enhance"])
def test_docstring_examples_run(module, shipped_models):
    results = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert results.attempted > 0 and results.failed == 0, results


def test_import_is_light_and_every_name_resolves():
    script = ("import sys, sgan_tf; light = 'tensorflow' not in sys.modules; "
              "[getattr(sgan_tf, n) for n in sgan_tf.__all__]; print(light, 'tensorflow' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["True", "True"], proc.stderr[-2000:]
    assert set(sgan_tf.__all__) <= set(dir(sgan_tf))
    assert sgan_tf.Enhancer.__module__ == "sgan_tf.enhance" and sgan_tf.load_ct.__module__ == "sgan_tf.ct_image"
    with pytest.raises(AttributeError, match="no attribute 'enhance_volume'"):
        sgan_tf.enhance_volume  # noqa: B018


def test_a_volume_is_enhanced_slice_by_slice_and_a_ctimage_keeps_its_grid(shipped_models, monkeypatch):
    rng = np.random.default_rng(3)
    volume = rng.normal(40, 25, (3, 40, 36)).astype(np.float32)
    enhancer = sgan_tf.Enhancer.pretrained()  # the slices go through each generator together
    stacked = enhancer(volume, zoom=1.5)
    assert stacked.enhanced_hu.shape == (3, 60, 54) and stacked.composite.shape == (3, 60, 54, 3)
    for z in range(3):
        alone = enhancer(volume[z], zoom=1.5)
        for name in ("og_hu", "denoised_hu", "enhanced_hu", "composite"):
            np.testing.assert_allclose(getattr(stacked, name)[z], getattr(alone, name), atol=2e-3, err_msg=name)

    ct = sgan_tf.CTImage(volume, (0.7, 0.7), np.eye(4), "synthetic", "volume")
    monkeypatch.setattr(enhance, "BATCH_PIXELS", 2 * 40 * 36)  # a CTImage runs in chunks: 2 slices, then 1
    out = enhancer(ct)
    assert isinstance(out, sgan_tf.CTImage) and out.shape == ct.shape and out.affine is ct.affine
    np.testing.assert_allclose(out.hu, enhancer(volume).enhanced_hu, atol=2e-3)
    assert out.description == "sgan-tf SGAN enhanced"
    with pytest.raises(UserError, match="a CTImage is enhanced on its own grid"):
        enhancer(ct, zoom=2)
