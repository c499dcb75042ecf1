"""The flags several binaries share, defined once, and what every binary does around its main.

- `define_window`, `define_models`, `define_overwrite`, `define_max_pixels`: a binary calls the
  ones it takes at import; each flag is defined the first time only, so binaries that share a
  flag module (train_main, pipeline_main) define it once.
- `--<name>_model` (name in `pretrained.NAMES`) says which model: a training run folder,
  `pretrained` (the shipped model; an error if it is not shipped), or nothing (the shipped
  model when one ships). `models()` gives them to `Enhancer.for_variant`, with
  `--inference_precision` (their compute dtype).
- `ints`, `floats`: list flags parsed one way, with a UserError naming the flag.
- `from_flags`: a configuration dataclass from the flags named like its fields.
- `run(main, doc)` (`entry_point` for setup.py): `--preset=NAME` becomes the preset's
  `--flagfile` (sgan_tf/presets; an unknown name exits 2 listing the presets), `--help` prints
  the binary's docstring and its own flags (exit 0; absl's --helpfull stays), then
  `app.run(main)`; errors are reported by `errors.reported`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging as std_logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from absl import app, flags

from sgan_tf import precision, presets, pretrained, variants
from sgan_tf.data import ct, limits
from sgan_tf.errors import EXIT_USER_ERROR, UserError

FLAGS = flags.FLAGS
HELP_ARGS = ("--help", "-h", "-?", "--helpshort", "-help")
MODEL_HELP = {  # what each model flag names; the variants that use it come from sgan_tf/variants.py
    "denoise": "a denoise (G1) run",
    "enhance": "an enhance (G2) run",
    "single": "a single-GAN run",
    "dncnn": "a DnCNN run",
    "hnn": "an HNN run (or a folder of HNN runs, one per variant)",
}
T = TypeVar("T")


def _undefined(name: str) -> bool:
    return name not in FLAGS


def define_window(help_more: str = "") -> None:
    """--window: the HU window of the network scale (sgan_tf/data/ct.py)."""
    if _undefined("window"):
        flags.DEFINE_string("window", ct.DEFAULT_WINDOW,
                            f"HU window mapped to the network scale: {ct.WINDOW_HELP}.{help_more}")


def window() -> ct.WindowChoice:
    """--window parsed once (UserError for a bad value, before any model loads)."""
    return ct.WindowChoice.parse(FLAGS.window)


def define_models(*names: str, inference_precision: str = precision.INFERENCE_DEFAULT) -> None:
    """--<name>_model for each of `names` (pretrained.NAMES), and --inference_precision, the
    compute dtype of those models (default `inference_precision`)."""
    if _undefined("inference_precision"):
        flags.DEFINE_enum("inference_precision", inference_precision, list(precision.INFERENCE_PRECISIONS),
                          "Compute dtype of the models: 'auto' is bfloat16 where it runs natively (a GPU, or a CPU "
                          "with AVX512_BF16/AMX), else float32 (sgan_tf/precision.py states the HU tolerance).")
    for name in names:
        if _undefined(f"{name}_model"):
            users = [v.name for v in variants.VARIANTS.values() if name in v.needs]
            used_by = f" (variant{'s' if len(users) > 1 else ''} {', '.join(users)})" if users else ""
            flags.DEFINE_string(f"{name}_model", None, f"{MODEL_HELP[name]}{used_by}: its training --model_dir, "
                                f"'{pretrained.PRETRAINED}' (the shipped model), or unset: the shipped model if "
                                "one ships.")


def models() -> dict[str, str | None]:
    """What each defined --<name>_model flag says, by name (None: unset)."""
    return {n: FLAGS[f"{n}_model"].value for n in pretrained.NAMES if f"{n}_model" in FLAGS}


def define_overwrite(what: str, otherwise: str = "keep them and skip their work") -> None:
    """--overwrite: replace `what` (default: `otherwise`)."""
    if _undefined("overwrite"):
        flags.DEFINE_boolean("overwrite", False, f"Replace {what} (default: {otherwise}).")


def define_max_pixels() -> None:
    """--max_pixels: the readers' pixel cap (sgan_tf/data/limits.py); `run` applies it."""
    if _undefined("max_pixels"):
        flags.DEFINE_integer("max_pixels", limits.DEFAULT_MAX_PIXELS,
                             "Largest image (pixels: width x height) read or made: larger files are refused by name "
                             "before decoding, a larger zoomed image before it is made. Bounds memory.", lower_bound=1)


def _numbers(name: str, cast: Callable[[str], T], kind: str, length: int | None) -> tuple[T, ...] | None:
    values = FLAGS[name].value
    if values is None:
        return None
    try:
        out = tuple(cast(v) for v in values)
    except ValueError as e:
        raise UserError(f"--{name}: {e}") from e
    if length is not None and len(out) != length:
        raise UserError(f"--{name} takes {length} comma-separated {kind}, got {len(out)}")
    return out


def ints(name: str, length: int | None = None) -> tuple[int, ...] | None:
    """A list flag as integers (None when unset); UserError naming the flag."""
    return _numbers(name, int, "integers", length)


def floats(name: str, length: int | None = None) -> tuple[float, ...] | None:
    """A list flag as numbers (None when unset); UserError naming the flag."""
    return _numbers(name, float, "numbers", length)


def from_flags(cls: type[T], renamed: Mapping[str, str] | None = None, lengths: Mapping[str, int] | None = None,
               **values: Any) -> T:
    """A `cls` dataclass whose fields take the flag of the same name (or `renamed[field]`); list
    flags are parsed as the field's default tuple (`lengths[field]` items when given);
    `values` set fields directly."""
    renamed, lengths = renamed or {}, lengths or {}
    for field in dataclasses.fields(cls):
        flag = renamed.get(field.name, field.name)
        if field.name in values or flag not in FLAGS:
            continue
        value = FLAGS[flag].value
        if isinstance(FLAGS[flag], flags.MultiFlag) or isinstance(value, list):
            default = field.default if field.default is not dataclasses.MISSING else ()
            cast = type(default[0]) if default else str
            value = _numbers(flag, cast, "numbers", lengths.get(field.name)) if cast in (int, float) else tuple(value)
        values[field.name] = value
    return cls(**values)


def own_help(doc: str) -> str:
    """The binary's docstring and the flags its modules define (not absl's, not TensorFlow's)."""
    by_module = FLAGS.flags_by_module_dict()
    parts = [doc.strip(), "", "Flags:"]
    for module in sorted(m for m in by_module if not m.startswith("absl")):
        for flag in sorted(by_module[module], key=lambda f: f.name):
            default = "" if flag.default is None else f" (default: {flag.default_as_str})"
            parts.append(f"  --{flag.name}: {flag.help}{default}")
    parts += ["", f"--preset=NAME: a shipped flag file (sgan_tf/presets), one of {', '.join(presets.names())}; "
              "flags after it override it.",
              "absl's flags: --flagfile=FILE, --verbosity=N (1 and above also show TensorFlow's log), "
              "--helpfull (every flag)."]
    return "\n".join(parts)


def _quiet_libraries() -> None:
    """TensorFlow's Python warnings only with --verbosity >= 1 (its C++ log: sgan_tf/cli)."""
    if FLAGS.verbosity < 1:
        std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)


def run(main: Callable[[list[str]], int], doc: str | None) -> None:
    """A binary's entry point: presets expanded, --help (module docstring), then absl's
    app.run(main) with the pixel cap and log levels applied before main."""
    try:
        sys.argv = argv = sys.argv[:1] + presets.expand(sys.argv[1:])
    except UserError as e:
        print(f"{os.path.splitext(os.path.basename(sys.argv[0]))[0]}: error: {e}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    if any(arg in HELP_ARGS for arg in argv[1: argv.index("--") if "--" in argv else None]):
        print(own_help(doc or ""))
        sys.exit(0)

    def wrapped(args: list[str]) -> int:
        if len(args) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(args[1:])}")
        if "max_pixels" in FLAGS:
            limits.set_max_pixels(FLAGS.max_pixels)
        _quiet_libraries()
        return main(args)

    app.run(wrapped)


def entry_point(main: Callable[[list[str]], int], doc: str | None) -> Callable[[], None]:
    """A binary's console-script entry point (setup.py): `run(main, doc)`."""
    return functools.partial(run, main, doc)
