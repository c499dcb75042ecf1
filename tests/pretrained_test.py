"""Shipped models: packaging a run, and every --*_model flag's three meanings (a run folder,
`pretrained`, nothing: the shipped model when one ships), with the version in the sidecars."""

import json
import os

import numpy as np
import pytest

from conftest import make_deeplesion, run_module
from sgan_tf import pretrained
from sgan_tf.enhance import Enhancer
from sgan_tf.errors import UserError


def test_packaged_models_load_by_default_and_by_name(shipped, monkeypatch, tiny_models):
    monkeypatch.setenv(pretrained.ENV_DIR, shipped)
    assert pretrained.is_shipped("denoise") and not pretrained.is_shipped("single")
    assert os.stat(pretrained.folder("denoise")).st_mode & 0o777 == 0o755  # readable by every user
    info = pretrained.info("denoise")
    assert info["version"] == "0.9" and info["step"] == 3 and len(info["weights_sha256"]) == 64
    default = Enhancer.for_variant("sgan")  # no model given: the shipped ones
    named = Enhancer.pretrained("sgan")
    own = Enhancer.for_variant("sgan", tiny_models)
    hu = np.random.default_rng(0).normal(40, 20, (24, 24)).astype(np.float32)
    np.testing.assert_allclose(default(hu, 1.5).composite, own(hu, 1.5).composite, atol=1e-5)
    np.testing.assert_allclose(named(hu, 1.5).composite, own(hu, 1.5).composite, atol=1e-5)
    assert default.info["denoise_model"]["pretrained"] == {"name": "denoise", "version": "0.9"}
    assert "pretrained" not in own.info["denoise_model"]
    with pytest.raises(UserError, match="the pretrained single model is not shipped with this sgan-tf "
                                        r"\(shipped: denoise, enhance\)"):
        Enhancer.pretrained("gan")
    with pytest.raises(UserError, match="variant gan needs --single_model"):
        Enhancer.for_variant("gan")


def test_binaries_use_the_shipped_models_and_record_their_version(shipped, tmp_path):
    make_deeplesion(str(tmp_path / "set"))
    env = {pretrained.ENV_DIR: shipped}
    for args in ([], ["--denoise_model=pretrained", "--enhance_model=pretrained"]):
        out = tmp_path / f"out{len(args)}"
        proc = run_module("sgan_tf.cli.enhance_main", f"--input={tmp_path / 'set'}", f"--output_dir={out}",
                          "--splits=1", *args, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        sidecars = [json.loads(p.read_text()) for p in out.glob("*/item.json")]
        assert len(sidecars) == 2  # the two lesions of split 1
        for sidecar in sidecars:
            assert sidecar["models"]["enhance_model"]["pretrained"] == {"name": "enhance", "version": "0.9"}
    missing = run_module("sgan_tf.cli.enhance_main", f"--input={tmp_path / 'set'}", f"--output_dir={tmp_path / 'x'}",
                         "--variant=gan", "--single_model=pretrained", env=env)
    assert missing.returncode == 2 and "the pretrained single model is not shipped" in missing.stderr
