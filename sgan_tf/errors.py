"""Errors that are the user's to fix (bad flags, bad data), and how binaries report them.

Exit codes of every binary: 0 done, 2 a UserError (one line on stderr, no traceback), 3 a
loss turned NaN/inf in training, 4 done but some items failed (the binary lists them).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

EXIT_USER_ERROR = 2
EXIT_NON_FINITE = 3
EXIT_SOME_FAILED = 4


class UserError(Exception):
    """A problem with the user's input or configuration, reported without a traceback."""


class DataError(UserError):
    """Input data is missing, empty or unusable."""


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stopped without saving the poisoned state."""


def reported(binary: str, *also_user_errors: type[Exception]) -> Callable:
    """Decorates a binary's main(argv) -> exit code: a UserError (or one of `also_user_errors`)
    becomes `<binary>: error: ...` on stderr and exit 2, a NonFiniteLossError exit 3."""

    def decorate(main: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
        @functools.wraps(main)
        def wrapped(argv: list[str]) -> int:
            try:
                return main(argv)
            except (UserError, *also_user_errors) as e:
                print(f"{binary}: error: {e}", file=sys.stderr)
                return EXIT_USER_ERROR
            except NonFiniteLossError as e:
                print(f"{binary}: error: {e}", file=sys.stderr)
                return EXIT_NON_FINITE

        return wrapped

    return decorate
