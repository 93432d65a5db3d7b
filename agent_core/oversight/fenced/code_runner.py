"""Run one candidate program against its tests, inside the fence: `python -I code_runner.py` with
the program on stdin as one JSON object {"program": SOURCE, "nonce": TOKEN}. Standard library only.

The program runs in this process (exec, as `__main__`), so a program that ends the process early
(`os._exit(0)`, a crash, the time or memory limit) never reports a pass; `sys.exit()` and every
other exception are failures. Its own output is kept apart from the result channel (it goes to
stderr); the result is one line on the original stdout, prefixed with the nonce the parent chose:

    NONCE{"passed": true}  |  NONCE{"passed": false, "error": "AssertionError: ..."}

The parent trusts nothing else: no line with its nonce is a failure.
"""

import json
import os
import sys


def _short(exc, limit=300):
    msg = f"{type(exc).__name__}: {exc}".strip()
    return msg if len(msg) <= limit else msg[: limit - 3] + "..."


def main():
    job = json.loads(sys.stdin.read())
    program, nonce = job["program"], job["nonce"]
    job = None
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the program's prints land on stderr
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    result = {"passed": False}
    try:
        code = compile(program, "<solution>", "exec")
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
        result = {"passed": True}
    except SystemExit as exc:
        result = {"passed": False, "error": f"the program called exit({exc.code!r}) before the tests finished"}
    except BaseException as exc:  # noqa: BLE001 - every failure of the candidate is a failed test
        result = {"passed": False, "error": _short(exc)}
    out.write(nonce + json.dumps(result) + "\n")
    out.flush()
    os._exit(0)  # no atexit hook or lingering thread of the program's may add anything


if __name__ == "__main__":
    main()
