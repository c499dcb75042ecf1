"""A training run folder (--model_dir): its config.json, its lock, and its checkpoints ckpt-<step>.

This module is the only code that reads or writes a run's config.json, checks a resumed run
against it, and finds and loads its checkpoints. A shipped model (sgan_tf/pretrained) is a
slim run folder, so everything here serves it unchanged.

**config.json** is the run's configuration dataclass as JSON (`write_config`, `read_config`).
A resumed run must agree with it on the fields that fix the model (`check_compatible`: a
UserError naming them); the data fields may change, with a warning each.

**Lock.** The chief holds an exclusive `flock` on model_dir/.lock (the file names its pid and
host) from before it reads the folder until its run ends; the kernel drops it when the process
exits, even on kill -9. A second run on the folder is a UserError naming the holder.

**Checkpoints** are found by their ckpt-<step>.index files, newest step first, so a missing,
empty or damaged `checkpoint` state file loses nothing; `restore_newest` tries them in turn and
warns about each one that cannot be restored. `write_state` rewrites the state file (for
tf.train.latest_checkpoint and TensorBoard) after each save. `set_aside` moves an earlier
run's checkpoints and logs into a folder of their own (--restart): nothing is deleted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import glob
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import keras
import tensorflow as tf
from absl import logging

from sgan_tf import outputs, pretrained
from sgan_tf.errors import DataError, UserError

CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"
STATE_FILE = "checkpoint"
PREFIX = "ckpt"
LOGS = "logs"
_STEP = re.compile(rf"{PREFIX}-(\d+)$")
_FILES = re.compile(rf"{PREFIX}-\d+\.(index|data-\d+-of-\d+)$")

T = TypeVar("T")


def config_dict(config: Any) -> dict:
    """A configuration dataclass as config.json holds it (tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config), sort_keys=True))


def write_config(model_dir: str, config: Any) -> None:
    """model_dir/config.json from a configuration dataclass (outputs.write_file)."""
    outputs.write_json(os.path.join(model_dir, CONFIG_FILE), config_dict(config))


def read_config(model_dir: str) -> dict | None:
    """model_dir's config.json, or None without one; UserError if it cannot be read."""
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise UserError(f"{path} is not valid JSON (truncated?): {e}") from e
    except OSError as e:
        raise UserError(f"{path}: cannot read: {e.strerror or e}") from e
    if not isinstance(saved, dict):
        raise UserError(f"{path} is not a training configuration (a JSON object)")
    return saved


def check_compatible(config: Any, saved: dict, fixed: Sequence[str], data: Sequence[str], what: str) -> list[str]:
    """UserError when `saved` (config.json) differs from `config` on a `fixed` field (the
    model; `what` names it, e.g. "an HNN"); the `data` fields that differ, for the caller to
    warn about."""
    current = config_dict(config)
    diff = lambda keys: [f"{k}={saved.get(k)!r} there, {current[k]!r} now" for k in keys if saved.get(k) != current[k]]
    if (stage := saved.get("stage")) != current["stage"] and "stage" in fixed:
        raise UserError(f"--model_dir={config.model_dir} holds a {stage!r} run, not {what}; use a new --model_dir")
    if changed := diff(fixed):
        raise UserError(f"--model_dir={config.model_dir} holds {what} of other settings ({'; '.join(changed)}); "
                        "use a new --model_dir or the same flags")
    return diff(data)


def model_info(model_dir: str, checkpoint: str, **extra) -> dict:
    """What sidecars record of a loaded model: its folder, checkpoint and, for a shipped model,
    its name and version (`pretrained.describe`)."""
    info = {"model_dir": os.path.abspath(model_dir), "checkpoint": os.path.basename(checkpoint), **extra}
    if shipped := pretrained.describe(model_dir):
        info["pretrained"] = shipped
    return info


@contextlib.contextmanager
def locked(model_dir: str, chief: bool = True) -> Iterator[None]:
    """Holds model_dir's lock (created with the folder) while the block runs; only the chief
    locks, the other workers of a multi-worker run share the chief's folder."""
    if not chief:
        yield
        return
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise UserError(f"--model_dir={model_dir} is a file, not a folder")
    path = os.path.join(model_dir, LOCK_FILE)
    try:
        os.makedirs(model_dir, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        raise UserError(f"--model_dir={model_dir}: cannot create {LOCK_FILE}: {e.strerror or e}") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise UserError(f"--model_dir={model_dir} is in use by a training run ({holder}); wait for it to "
                            "finish or use another --model_dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def checkpoint_step(path: str) -> int | None:
    """The step of a ckpt-<step> path, None for other names."""
    match = _STEP.search(os.path.basename(path))
    return int(match.group(1)) if match else None


def checkpoints(model_dir: str) -> list[str]:
    """Paths (prefixes) of model_dir's checkpoints, newest step first, by their .index files."""
    found = {}
    for index in glob.glob(os.path.join(glob.escape(model_dir), f"{PREFIX}-*.index")):
        path = index[: -len(".index")]
        if (step := checkpoint_step(path)) is not None and os.path.isfile(index):
            found[step] = path
    return [found[step] for step in sorted(found, reverse=True)]


def leftovers(model_dir: str) -> list[str]:
    """Names of checkpoint files in model_dir (the state file, ckpt-<step>.index and .data-*),
    whether readable or not."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(n for n in os.listdir(model_dir) if n == STATE_FILE or _FILES.match(n))


def brief(error: Exception, limit: int = 300) -> str:
    """An error's message on one line, without TensorFlow's '{{function_node ...}}' prefix."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", getattr(error, "message", None) or str(error))
    text = " ".join(line.strip() for line in text.splitlines() if line.strip()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reason(error: Exception) -> str:
    if isinstance(error, AssertionError):
        return f"does not match this model ({brief(error)})"
    if isinstance(error, UserError):
        return str(error)
    return f"is damaged or unreadable ({type(error).__name__}: {brief(error)})"


def restore_newest(model_dir: str, restore: Callable[[str], T], advice: str) -> tuple[T, str] | None:
    """`restore(path)` on model_dir's checkpoints, newest first, until one succeeds: (its result,
    its path); None without checkpoints. Each failure is a warning; UserError (with `advice`)
    when every checkpoint fails."""
    failures = []
    for path in checkpoints(model_dir):
        try:
            return restore(path), path
        except (AssertionError, ValueError, IndexError, KeyError, UserError, tf.errors.OpError) as e:
            failures.append(f"{os.path.basename(path)} {_reason(e)}")
            logging.warning("Cannot restore %s: it %s; trying the previous checkpoint", path, _reason(e))
    if failures:
        raise UserError(f"no checkpoint in {model_dir} can be restored: {'; '.join(failures)}; {advice}")
    return None


def load_newest(model_dir: str, load: Callable[[str], T], advice: str) -> tuple[T, str]:
    """`restore_newest` for loading a trained model: UserError without any checkpoint."""
    found = restore_newest(model_dir, load, advice)
    if found is None:
        raise UserError(f"{model_dir} holds no checkpoint yet")
    return found


def checkpoint_path(model_dir: str, checkpoint: str) -> str:
    """`checkpoint` as a path: a name such as ckpt-2000 is found in model_dir when it is there;
    anything else (an absolute path, a path from the working directory) is taken as given."""
    inside = os.path.join(model_dir, checkpoint)
    return inside if not os.path.isabs(checkpoint) and os.path.exists(inside + ".index") else checkpoint


def load_generator(model_dir: str, checkpoint: str | None = None) -> tuple[keras.Model, int, str]:
    """(generator, global step, checkpoint path) of a GAN or DnCNN run: from `checkpoint` (a name
    in model_dir or a path, `checkpoint_path`), or else from the newest checkpoint that can be
    restored (older ones are tried in turn, with a warning)."""
    from sgan_tf.training.config import TrainConfig, build_generator

    saved = read_config(model_dir)
    if saved is None:
        raise UserError(f"{model_dir} is not a training model_dir (no {CONFIG_FILE})")

    def restore(path: str) -> tuple[keras.Model, int]:
        generator = build_generator(TrainConfig(**saved))
        generator(tf.zeros([1, 16, 16, 1]))
        step = tf.Variable(0, dtype=tf.int64)
        try:
            status = tf.train.Checkpoint(generator=generator, global_step=step).read(path)
            status.assert_existing_objects_matched().expect_partial()
        except (AssertionError, ValueError, IndexError, tf.errors.OpError) as e:
            raise UserError(f"{path} does not hold the generator described in {CONFIG_FILE}: {e}") from e
        return generator, int(step.numpy())

    if checkpoint is not None:
        checkpoint = checkpoint_path(model_dir, checkpoint)
        return (*restore(checkpoint), checkpoint)
    (generator, step), path = load_newest(model_dir, restore, "retrain it")
    return generator, step, path


def write_state(model_dir: str, latest: str) -> None:
    """model_dir's `checkpoint` state file: `latest` and every checkpoint in the folder."""
    names = [os.path.basename(p) for p in reversed(checkpoints(model_dir))]
    lines = [f'model_checkpoint_path: "{os.path.basename(latest)}"']
    lines += [f'all_model_checkpoint_paths: "{name}"' for name in names]
    try:
        outputs.write_file(os.path.join(model_dir, STATE_FILE), "\n".join(lines) + "\n")
    except DataError as e:
        raise UserError(f"{e}; training stopped") from e


def copy_config(source: str, dest: str) -> None:
    """Copies run `source`'s config.json into folder `dest` (a copy of the run)."""
    shutil.copy2(os.path.join(source, CONFIG_FILE), os.path.join(dest, CONFIG_FILE))


def copy_checkpoint(path: str, dest: str) -> None:
    """Copies checkpoint `path` (its .index and .data-* files) into folder `dest` and makes it
    dest's latest."""
    for name in glob.glob(glob.escape(path) + ".*"):
        shutil.copy2(name, dest)
    write_state(dest, path)


def delete_checkpoint(path: str) -> None:
    """Removes the files of one checkpoint (its .index and .data-* shards)."""
    for name in glob.glob(glob.escape(path) + ".*"):
        os.remove(name)


def set_aside(model_dir: str, also: tuple[str, ...] = ()) -> str | None:
    """Moves the checkpoint files, logs and the files named in `also` of earlier runs into
    model_dir/before_restart_<time>_<random>/ (--restart); returns that folder, or None when
    there was nothing to move."""
    names = leftovers(model_dir) + [n for n in (LOGS, *also) if os.path.lexists(os.path.join(model_dir, n))]
    if not names:
        return None
    aside = tempfile.mkdtemp(prefix=time.strftime("before_restart_%Y%m%d-%H%M%S_"), dir=model_dir)
    for name in names:
        os.rename(os.path.join(model_dir, name), os.path.join(aside, name))
    return aside
