"""The GRPO reward loop, run inside the fence: `python -I reward_runner.py REL NAMES_JSON` with the
frozen reward bundle as its read-only working folder. Standard library only.

Protocol (one JSON object per line; the reward's own prints go to stderr, never this channel):
    out  {"ready": true} | {"bad": "why"}                       once, after importing REL
    in   {"score": NAME, "items": [[prompt, completion, {fields}], ...]}
    out  {"ok": float} | {"err": "message", "tb": "traceback"}  one per item, then {"done": true}
End of input ends the process. Nothing here is trusted by the parent: it parses what it reads.
"""

import importlib.util
import json
import math
import os
import sys
import traceback


def _short(exc, limit=300):
    msg = f"{type(exc).__name__}: {exc}".strip()
    if isinstance(exc, SyntaxError) and exc.lineno:
        msg = f"SyntaxError: {exc.msg} (line {exc.lineno})"
    return msg if len(msg) <= limit else msg[: limit - 3] + "..."


def _as_score(value):
    if isinstance(value, bool):
        return float(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        value = value.item()
    if not isinstance(value, (int, float)):
        raise TypeError(f"reward returned {type(value).__name__}, not a number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"reward returned {value}")
    return value


def main():
    rel, names = sys.argv[1], json.loads(sys.argv[2])
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # the reward's prints land on stderr

    def send(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    path = os.path.abspath(rel)
    try:
        spec = importlib.util.spec_from_file_location("_reward_" + os.path.splitext(os.path.basename(rel))[0], path)
        if spec is None or spec.loader is None:
            raise ValueError(f"{rel}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, os.path.dirname(path))  # helpers next to the reward file can be imported
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - a SyntaxError or anything at import time
        send({"bad": f"{rel} does not import: {_short(exc)}"})
        return
    funcs = {}
    for name in names:
        fn = getattr(module, name, None)
        if fn is None or not callable(fn):
            send(
                {
                    "bad": f"{rel} defines no function {name!r} "
                    f"(it must define reward(prompt, completion, **fields) -> float)"
                }
            )
            return
        funcs[name] = fn
    send({"ready": True})
    for line in sys.stdin:
        try:
            msg = json.loads(line)
            fn, items = funcs[msg["score"]], msg["items"]
        except (ValueError, KeyError, TypeError):
            return
        for prompt, completion, fields in items:
            try:
                send({"ok": _as_score(fn(prompt, completion, **fields))})
            except BaseException as exc:  # noqa: BLE001 - SystemExit too: it scores 0, the loop lives
                send({"err": _short(exc), "tb": traceback.format_exc(limit=4)})
        send({"done": True})


if __name__ == "__main__":
    main()
