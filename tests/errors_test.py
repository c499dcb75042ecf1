"""How binaries report errors (sgan_tf/errors.py)."""

import pytest

from sgan_tf import errors


def binary(exc: Exception | None, *also):
    @errors.reported("some_main", *also)
    def main(argv):
        if exc is not None:
            raise exc
        return 4

    return main


def test_exit_codes_and_one_line(capsys):
    assert binary(None)(["x"]) == 4
    assert binary(errors.DataError("no DL_info.csv"))(["x"]) == errors.EXIT_USER_ERROR
    assert capsys.readouterr().err == "some_main: error: no DL_info.csv\n"
    assert binary(errors.NonFiniteLossError("nan at step 3"))(["x"]) == errors.EXIT_NON_FINITE
    assert capsys.readouterr().err == "some_main: error: nan at step 3\n"
    assert binary(ValueError("bad split"), ValueError)(["x"]) == errors.EXIT_USER_ERROR


def test_other_errors_keep_their_traceback():
    with pytest.raises(ValueError):
        binary(ValueError("a bug"))(["x"])
