"""README.md works: every command in its fenced `sh` blocks, and its `python` block, runs in tiny
mode, in README order, in a scratch folder laid out like the checkout.

- A console script (`.venv/bin/NAME`, from setup.py) runs as `python -m` its module with
  `TINY[NAME]` appended (absl: the last value wins), so presets and paper flags shrink to a few
  steps and slices while every flag the README gives is still parsed and used.
- The README's stand-ins for a user's data exist in the scratch folder (`my_ct.nii.gz`,
  `my_series/`: a lesion where the README's --slice and --recist mark it) or are mapped to tiny
  data (`PLACEHOLDERS`: /data/DIV2K, /data/DeepLesion).
- Commands that cannot run here are checked instead: `pip install` extras against setup.py, the
  test command against .ci/run, `tensorboard --logdir` and `docker run -v` against the folders
  the earlier commands made.
- A command no rule knows fails, so a new README command cannot go untested; so do links to
  missing files or headings, `runs/...` paths the README names that its commands do not make,
  and a table of shipped models that differs from sgan_tf/pretrained/.
Shipped models are the package's own here (the README is about them), not conftest's empty folder.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import os
import re
import shlex
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO, make_deeplesion, run_module, smooth_image

README = os.path.join(REPO, "README.md")
DOCS = [README] + [os.path.join(REPO, "docs", f) for f in sorted(os.listdir(os.path.join(REPO, "docs")))
                   if f.endswith(".md")]
VENV = ".venv/bin/"
TIMEOUT = 840  # under pytest.ini's 900 s per test

_TRAIN = ["--num_blocks=3", "--filters=8", "--disc_filters=4,4,8,8,8,8,16,16", "--disc_dense_units=16",
          "--crop_size=16", "--batch_size=4", "--num_val_pairs=2", "--train_steps=2", "--pretrain_steps=1",
          "--checkpoint_every=2", "--val_every=2", "--log_every=1", "--vgg_weights=none",
          "--hnn_input_size=32", "--hnn_filters=4,4,8,8,8", "--hnn_backbone_weights=none"]
TINY = {  # appended to each binary's README command line
    "pipeline_main": _TRAIN + ["--num_slices=4", "--image_size=128", "--eval_splits=1,2,3", "--hnn_variants=og"],
    "train_main": _TRAIN,
    "eval_main": ["--splits=1,2,3"],
    "enhance_main": [],
    "segment_main": [],
    "export_main": [],
    "phantom_main": ["--num_slices=2", "--image_size=128"],
}
PLACEHOLDERS = {"/data/DIV2K": "tiny_images", "/data/DeepLesion": "tiny_deeplesion"}  # -> folders made here
SLICE_SHAPE = (128, 128)  # the tiny CT: 4 axial slices, the lesion on the README's --slice


def _setup_py() -> tuple[set[str], dict[str, str]]:
    """(the extras, console script -> module) that setup.py declares."""
    tree = ast.parse(open(os.path.join(REPO, "setup.py"), encoding="utf-8").read())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    kw = {k.arg: k.value for k in call.keywords}
    extras = {k.value for k in kw["extras_require"].keys}
    scripts = ast.literal_eval(kw["entry_points"])["console_scripts"]
    return extras, {s.split("=")[0]: s.split("=")[1].split(":")[0] for s in scripts}


EXTRAS, BINARIES = _setup_py()


def _blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w+)\n(.*?)^```", text, re.S | re.M)


def _commands() -> list[str]:
    """The README's commands in order: each line of an sh block (continuations joined, comments
    and blank lines dropped), and each python block whole (prefixed 'python:')."""
    found = []
    for lang, body in _blocks(open(README, encoding="utf-8").read()):
        if lang == "python":
            found.append("python:" + body)
        elif lang == "sh":
            found += [line.strip() for line in body.replace("\\\n", " ").splitlines()
                      if line.strip() and not line.strip().startswith("#")]
        else:
            raise AssertionError(f"README.md: a ```{lang} block: the test knows sh and python blocks only")
    return found


COMMANDS = _commands()


@dataclasses.dataclass
class Workspace:
    """The scratch checkout the README's commands run in, and what happened so far."""

    root: str
    env: dict
    done: list[str] = dataclasses.field(default_factory=list)


def _write_user_data(root: str, rows: int, cols: int) -> None:
    """my_ct.nii.gz and my_series/ (4 axial slices, fat with a soft-tissue lesion on the README's
    --slice at its --recist marks), tiny_images/ and tiny_deeplesion/."""
    import nibabel as nib
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    slice_k, marks = _readme_lesion()
    rng = np.random.default_rng(0)
    hu = rng.normal(-100.0, 10.0, (4, rows, cols)).astype(np.float32)
    (x1, y1), (x2, y2), (x3, y3), (x4, y4) = marks
    centre = (round((x1 + x2) / 2), round((y1 + y2) / 2))
    axes = (round(np.hypot(x2 - x1, y2 - y1) / 2), round(np.hypot(x4 - x3, y4 - y3) / 2))
    lesion = np.zeros((rows, cols), np.uint8)
    cv2.ellipse(lesion, centre, axes, float(np.degrees(np.arctan2(y2 - y1, x2 - x1))), 0, 360, 1, -1)
    hu[slice_k][lesion > 0] += 140.0
    affine = np.diag([-0.7, -0.7, 2.5, 1.0])  # RAS: columns right -> left, rows anterior -> posterior
    nib.save(nib.Nifti1Image(np.rint(hu).astype(np.int16).T, affine), os.path.join(root, "my_ct.nii.gz"))
    series, uid = os.path.join(root, "my_series"), generate_uid()
    os.makedirs(series)
    for z in range(hu.shape[0]):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
        ds.Rows, ds.Columns = rows, cols
        ds.PixelData = (np.rint(hu[z]) + 1024).astype(np.int16).tobytes()  # its RescaleIntercept is -1024
        ds.SeriesInstanceUID, ds.SOPInstanceUID = uid, generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber, ds.ImagePositionPatient = z + 1, [-40.0, -40.0, 2.5 * z]
        ds.save_as(os.path.join(series, f"IM{z}.dcm"))
    images = os.path.join(root, PLACEHOLDERS["/data/DIV2K"])
    os.makedirs(images)
    for i in range(3):
        cv2.imwrite(os.path.join(images, f"{i}.png"), (smooth_image(rng, 40, 48) * 255).astype(np.uint8))
    make_deeplesion(os.path.join(root, PLACEHOLDERS["/data/DeepLesion"]))


def _readme_lesion() -> tuple[int, np.ndarray]:
    """The --slice and --recist the README's segment_main commands give (all the same)."""
    found = {(re.search(r"--slice=(\d+)", c).group(1), re.search(r"--recist=([\d,.]+)", c).group(1))
             for c in COMMANDS if "segment_main" in c and "--recist=" in c}
    assert len(found) == 1, f"README.md: the segment_main --recist examples should mark one lesion, got {found}"
    (slice_k, marks), = found
    return int(slice_k), np.array([float(v) for v in marks.split(",")]).reshape(4, 2)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    root = str(tmp_path_factory.mktemp("readme"))
    for name in os.listdir(REPO):  # the checkout's files, read-only use; outputs land beside them
        if not name.startswith(".") and name not in ("runs", "serving"):
            os.symlink(os.path.join(REPO, name), os.path.join(root, name))
    _write_user_data(root, *SLICE_SHAPE)
    env = {k: v for k, v in os.environ.items() if k != "SGAN_PRETRAINED_DIR"}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    return Workspace(root, env)


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    assert proc.returncode == 0, f"README command failed ({proc.returncode}): {what}\n{proc.stderr[-3000:]}"


def _run(ws: Workspace, argv: list[str], what: str) -> None:
    _check(subprocess.run(argv, cwd=ws.root, env=ws.env, capture_output=True, text=True, timeout=TIMEOUT), what)


def _run_binary(ws: Workspace, module: str, args: list[str], what: str) -> None:
    """`python -m module args` in the workspace (conftest.run_module: forked with TensorFlow
    imported; the package comes from the workspace's link to it, so PYTHONPATH is not needed)."""
    env = {k: v for k, v in ws.env.items() if k != "PYTHONPATH"}
    _check(run_module(module, *args, env=env, own_env=True, cwd=ws.root, timeout=TIMEOUT), what)


def _check_install(part: list[str], line: str) -> None:
    assert part[:2] == [VENV + "pip", "install"], f"README: unknown pip use: {line}"
    options, target = part[2:-1], part[-1]
    assert set(options) <= {"-q", "-e"}, f"README: pip options {options} in {line}"
    match = re.fullmatch(r"\.\[([\w,]+)\]", target)
    assert match, f"README: pip installs {target!r}, not this checkout with extras: {line}"
    unknown = set(match.group(1).split(",")) - EXTRAS
    assert not unknown, f"README: extras {sorted(unknown)} are not in setup.py ({sorted(EXTRAS)}): {line}"


def _with_tiny_data(arg: str) -> str:
    """`arg` with a PLACEHOLDERS path as its value replaced by the tiny data's folder."""
    flag, eq, value = arg.partition("=")
    return f"{flag}={PLACEHOLDERS[value]}" if eq and value in PLACEHOLDERS else arg


def _step(ws: Workspace, part: list[str], line: str) -> None:
    """Runs or checks one command of a README line (module docstring)."""
    program = part[0]
    if part[:3] == ["python3", "-m", "venv"]:
        assert part[3:] == [".venv"], f"README: the venv is .venv: {line}"
    elif program == VENV + "pip":
        _check_install(part, line)
    elif part == [VENV + "python", "-m", "pytest", "tests"]:
        assert line in open(os.path.join(REPO, ".ci", "run"), encoding="utf-8").read(), \
            f"README's test command is not the one .ci/run runs: {line}"
    elif program == VENV + "tensorboard":
        assert part[1] == "--logdir" and importlib.util.find_spec("tensorboard"), line
        assert os.path.isdir(os.path.join(ws.root, part[2])), f"README: {part[2]} does not exist when {line} runs"
    elif program == "docker":
        mount = part[part.index("-v") + 1]
        host = mount.split(":")[0].replace("$PWD", ws.root)
        assert os.path.isfile(os.path.join(host, "models.config")), f"README: nothing to serve at {host}: {line}"
    elif program == VENV + "python" and part[1].endswith(".py"):
        assert os.path.isfile(os.path.join(REPO, part[1])), f"README: no {part[1]}"
        _run(ws, [sys.executable, *part[1:]], line)
    elif program.startswith(VENV) and program[len(VENV):] in BINARIES:
        name = program[len(VENV):]
        _run_binary(ws, BINARIES[name], [*map(_with_tiny_data, part[1:]), *TINY[name]], line)
    else:
        raise AssertionError(f"README command with no rule in tests/readme_test.py to run or check it: {line}")


@pytest.mark.parametrize("command", COMMANDS, ids=[c.split("\n")[0][:60] for c in COMMANDS])
def test_readme_command_runs_in_tiny_mode(workspace, command):
    if command.startswith("python:"):
        _run(workspace, [sys.executable, "-c", command[len("python:"):]], command)
    else:
        for part in command.split(" && "):
            _step(workspace, shlex.split(part), command)
    workspace.done.append(command)


def test_paths_the_readme_names_are_made_by_its_commands(workspace):
    """Every `runs/...` path in README's prose exists once its commands ran (the stale-path check)."""
    if len(workspace.done) < len(COMMANDS):
        pytest.skip("runs after the README's commands, when all of them passed (run the whole file)")
    prose = re.sub(r"^```.*?^```", "", open(README, encoding="utf-8").read(), flags=re.S | re.M)
    named = set(re.findall(r"`(runs/[^`<>*\s]+)`", prose))
    assert named, "the README names no output path"
    missing = sorted(p for p in named if not os.path.exists(os.path.join(workspace.root, p)))
    assert not missing, f"README.md names paths its commands do not make: {missing}"


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: str) -> set[str]:
    text = re.sub(r"^```.*?^```", "", open(path, encoding="utf-8").read(), flags=re.S | re.M)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=[os.path.relpath(d, REPO) for d in DOCS])
def test_links_lead_to_files_and_headings_that_exist(doc):
    text = re.sub(r"^```.*?^```", "", open(doc, encoding="utf-8").read(), flags=re.S | re.M)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"\w+://", target):
            continue
        path, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
        if not os.path.exists(full) or (anchor and full.endswith(".md") and anchor not in _anchors(full)):
            broken.append(target)
    assert not broken, f"{os.path.relpath(doc, REPO)}: links to nothing: {broken}"


def test_the_table_of_shipped_models_is_what_ships():
    from sgan_tf import pretrained

    text = open(README, encoding="utf-8").read()
    section = text[text.index("## What ships"):]
    section = section[: section.index("\n## ", 1)]
    listed = set(re.findall(r"^\| `(\w+)` \|", section, re.M))
    shipped = {n for n in pretrained.NAMES
               if os.path.isfile(os.path.join(pretrained.PACKAGE_DIR, n, pretrained.INFO_FILE))}
    assert listed == shipped, f"README's shipped models {sorted(listed)} are not sgan_tf/pretrained's {sorted(shipped)}"
