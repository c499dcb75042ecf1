"""The models sgan-tf ships, trained by the project and used when no model folder is given.

Each shipped model is a slim run folder inside the package, `sgan_tf/pretrained/<name>/`:
the training run's `config.json`, one checkpoint holding the network alone (no discriminator,
no optimiser state), `pretrained.json` (name, version, source step, weights checksum) and a
`MODEL_CARD.md` (data, licences, steps, CPU hours, precision, the commands that reproduce it,
its figures). Because it is a run folder, everything that loads a training `--model_dir`
loads it unchanged.

A `--*_model` flag (or a Python argument) names a model in one of three ways: a run folder,
`pretrained` (the shipped model, an error if it is not shipped), or nothing (the shipped
model if there is one; see `resolve`).

The shipped models are looked up in this package's folder, or in `$SGAN_PRETRAINED_DIR` when
that is set (a folder of <name>/ run folders: a site's own models, or a test's).

Package a trained run with `python -m sgan_tf.pretrained --name=denoise --model_dir=RUN`.
"""

from __future__ import annotations

import json
import os

from sgan_tf.errors import UserError

NAMES = ("denoise", "enhance", "single", "dncnn", "hnn")
PRETRAINED = "pretrained"  # the flag value that names a shipped model
INFO_FILE = "pretrained.json"
CARD_FILE = "MODEL_CARD.md"
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
ENV_DIR = "SGAN_PRETRAINED_DIR"  # overrides PACKAGE_DIR as the folder of shipped models


def root() -> str:
    """The folder holding the shipped models: $SGAN_PRETRAINED_DIR, else this package's."""
    return os.environ.get(ENV_DIR) or PACKAGE_DIR


def folder(name: str) -> str:
    """The folder of shipped model `name` (it may not be shipped: see `is_shipped`)."""
    if name not in NAMES:
        raise UserError(f"no pretrained model is called {name!r}; shipped names: {', '.join(NAMES)}")
    return os.path.join(root(), name)


def is_shipped(name: str) -> bool:
    return os.path.isfile(os.path.join(folder(name), INFO_FILE))


def info(name: str) -> dict:
    """pretrained.json of a shipped model: name, version, step, sha256 of its weights."""
    if not is_shipped(name):
        raise UserError(f"the pretrained {name} model is not shipped with this sgan-tf "
                        f"(shipped: {', '.join(n for n in NAMES if is_shipped(n)) or 'none'})")
    with open(os.path.join(folder(name), INFO_FILE), encoding="utf-8") as f:
        return json.load(f)


def resolve(value: str | None, name: str) -> str | None:
    """The run folder a model flag names: `value` itself, the shipped folder for 'pretrained',
    and for None the shipped folder if that model ships (else None)."""
    if value == PRETRAINED:
        info(name)  # raises when not shipped
        return folder(name)
    if value is None:
        return folder(name) if is_shipped(name) else None
    return value


def describe(path: str) -> dict | None:
    """{'name', 'version'} when `path` is a shipped model's folder, else None (for sidecars)."""
    shipped = os.path.join(path, INFO_FILE)
    if not os.path.isfile(shipped):
        return None
    with open(shipped, encoding="utf-8") as f:
        data = json.load(f)
    return {"name": data["name"], "version": data["version"]}

