"""The wheel: built from the checkout, installed into a fresh venv, run from outside the checkout.

The venv gets only the wheel (--no-deps); its dependencies come from the test's own environment
through a .pth line naming that environment's site-packages. A path added that way is not a
site directory, so that environment's own .pth files (the editable install's finder of
sgan_tf) are not run, and the installed wheel is the sgan_tf that imports (checked by its
__file__). The build runs on a copy of the sources, so the checkout gets no build/ or egg-info.
"""

import dataclasses
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from conftest import REPO

SHIPPED = ("sgan_tf/presets/quickstart.flags", "sgan_tf/pretrained/denoise/pretrained.json",
           "sgan_tf/pretrained/enhance/checkpoint", "sgan_tf/pretrained/denoise/MODEL_CARD.md")


def _can_build_wheels() -> bool:
    """pip and setuptools here, with a bdist_wheel (the wheel package, or setuptools >= 70.1's own)."""
    found = lambda name: importlib.util.find_spec(name) is not None  # noqa: E731
    return found("pip") and found("setuptools") and (found("wheel") or found("setuptools.command.bdist_wheel"))


@dataclasses.dataclass
class Installed:
    wheel: str
    venv: str
    cwd: str  # a folder outside the checkout
    env: dict[str, str]  # without PYTHONPATH and the tests' $SGAN_PRETRAINED_DIR

    def bin(self, name: str) -> str:
        return os.path.join(self.venv, "bin", name)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`bin(args[0]) args[1:]` in `cwd`; with `check`, exit 0 is asserted."""
        return _run(self.bin(args[0]), *args[1:], cwd=self.cwd, env=self.env, check=check)


def _run(*args: str, cwd: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 or not check, f"{args}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """A wheel built from a copy of the sources and installed alone into a fresh venv."""
    if not _can_build_wheels():
        pytest.skip("cannot build wheels here: pip, setuptools or wheel missing")
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    shutil.copytree(os.path.join(REPO, "sgan_tf"), src / "sgan_tf",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("setup.py", "README.md"):
        shutil.copy(os.path.join(REPO, name), src / name)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(root / "dist"), str(src), cwd=str(root))
    (wheel,) = (root / "dist").glob("sgan_tf-*.whl")

    venv = root / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", str(venv), cwd=str(root))
    python = str(venv / "bin" / "python")
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=str(root)).stdout.strip()
    ours = sysconfig.get_paths()
    with open(os.path.join(site, "test_dependencies.pth"), "w", encoding="utf-8") as f:
        f.write("\n".join(dict.fromkeys([ours["purelib"], ours["platlib"]])) + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", str(wheel),
         cwd=str(root))
    run_dir = root / "elsewhere"
    run_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SGAN_PRETRAINED_DIR")}
    return Installed(str(wheel), str(venv), str(run_dir), {**env, "TF_CPP_MIN_LOG_LEVEL": "2"})


def test_the_wheel_carries_the_presets_and_the_shipped_models(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert set(SHIPPED) <= names
    assert any(n.startswith("sgan_tf/pretrained/denoise/ckpt-") and n.endswith(".index") for n in names)


def test_the_installed_package_is_the_wheel_and_finds_presets_and_models(installed):
    check = ("import sgan_tf, sgan_tf.presets as p, sgan_tf.pretrained as m; "
             "print(sgan_tf.__file__); print(p.path('quickstart')); print(m.is_shipped('denoise'))")
    out = installed.run("python", "-c", check).stdout.split("\n")
    assert out[0].startswith(installed.venv) and not out[0].startswith(REPO), out
    assert out[1].startswith(installed.venv) and os.path.isfile(out[1]), out
    assert out[2] == "True", out


def test_the_installed_binaries_run_outside_the_checkout(installed):
    helped = installed.run("phantom_main", "--help").stdout
    assert "Examples:" in helped and "--preset=NAME" in helped and "quickstart" in helped
    installed.run("phantom_main", "--output_dir=set", "--num_slices=1", "--image_size=128", "--workers=1")
    assert os.path.isfile(os.path.join(installed.cwd, "set", "DL_info.csv"))
    installed.run("train_main", "--stage=denoise", "--preset=quickstart", "--model_dir=unused", "--only_check_args")
    bad = installed.run("train_main", "--preset=nope", check=False)
    assert bad.returncode == 2 and "the presets are" in bad.stderr and "quickstart" in bad.stderr


def test_the_installed_api_enhances_a_file_with_the_shipped_models(installed):
    script = """
import numpy as np, sgan_tf
from sgan_tf.data import ct
ct.write_hu_png("in.png", np.random.default_rng(0).normal(40, 25, (32, 32)))
enhancer = sgan_tf.Enhancer.pretrained()
enhancer(sgan_tf.load_ct("in.png")).save("out.png")
print(enhancer.info["denoise_model"]["model_dir"])
print(sgan_tf.load_ct("out.png").shape)
"""
    out = installed.run("python", "-c", script).stdout.split("\n")
    assert out[0].startswith(installed.venv) and out[1] == "(32, 32)", out
