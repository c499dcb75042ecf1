"""Flag presets: absl flag files shipped inside the package (`<name>.flags` in this folder), so
a wheel or a non-editable install carries them like the shipped models.

`--preset=NAME` (or `--preset NAME`) on any binary's command line stands for
`--flagfile=<this folder>/NAME.flags` at the same place (`expand`), so flags after it override
it, as with `--flagfile`. In a checkout the same file is `sgan_tf/presets/NAME.flags`.
"""

from __future__ import annotations

import os

from sgan_tf.errors import UserError

DIR = os.path.dirname(os.path.abspath(__file__))
SUFFIX = ".flags"
FLAG = "--preset"


def names() -> list[str]:
    """The presets' names, sorted."""
    return sorted(f[: -len(SUFFIX)] for f in os.listdir(DIR) if f.endswith(SUFFIX))


def path(name: str) -> str:
    """The flag file of preset `name`; UserError listing the presets when there is none."""
    if name not in names():
        raise UserError(f"{FLAG}={name}: no such preset; the presets are {', '.join(names())}")
    return os.path.join(DIR, name + SUFFIX)


def expand(argv: list[str]) -> list[str]:
    """`argv` with each `--preset=NAME` / `--preset NAME` (before any `--`) replaced by
    `--flagfile=` its file; UserError for an unknown name or a missing value."""
    out, args = [], iter(argv)
    for arg in args:
        if arg == "--":
            return out + [arg, *args]
        if arg == FLAG:
            arg = f"{FLAG}={next(args, '')}"
        if arg.startswith(FLAG + "="):
            arg = f"--flagfile={path(arg.split('=', 1)[1])}"
        out.append(arg)
    return out
