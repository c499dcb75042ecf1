"""Runs `python -m <module> args` for the tests without paying TensorFlow's import each time.

Started once per test process (conftest.run_module); it imports TensorFlow and Keras (about 10 s
on the CI machine, the larger part of a tiny binary run), then serves requests read as JSON
lines on stdin: each one is run in a child forked from this process, with the request's
argv, working folder, environment, stdout and stderr files, exactly as `runpy` runs
`python -m` (module as __main__, sys.argv[0] its file). The child starts with no binary
module imported and absl's flags undefined, as a new process does. Replies on stdout:
{"pid": ...} when the child starts, then {"returncode": ...} when it ends.

Only imports that read no environment at import time are made here: a request whose
environment must change an import (PYTHONPATH) is run as a plain subprocess by the caller.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402,F401  (the point of this process)
import tensorflow  # noqa: E402,F401


def _exit_code(e: SystemExit) -> int:
    """What the interpreter makes of SystemExit(e.code) at exit (a message goes to stderr)."""
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=sys.stderr)
    return 1


def _child(request: dict) -> int:
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # the requests stay the server's
    sys.stdin = open(os.devnull, encoding="utf-8")
    sys.path[0] = os.getcwd()  # as `python -m` sets it
    sys.argv = [request["module"], *request["args"]]
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException:  # noqa: BLE001  (as the interpreter: traceback, status 1)
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def main() -> None:
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing but replies on the reply channel
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(request)
            finally:
                os._exit(code)
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
