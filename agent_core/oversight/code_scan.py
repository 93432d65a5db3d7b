"""Text heuristics over the agent's run_python code: what it seems to touch (the hidden split, the
harness, secret environment variables, credentials files, the network) and where in the code
(spans the approval prompt highlights). Early warnings only: the sandbox (fence.py) is the
boundary, and `[code] heuristics = false` turns these off."""

from __future__ import annotations

import ast
import re
from pathlib import Path

HARNESS_DIR = Path(__file__).resolve().parents[1]  # agent_core: the scoring and evaluation code


# -- run_python static checks -----------------------------------------------------------
_HIDDEN_REF = re.compile(r"""(?:^|[\s/\\'"(+])hidden(?=[/\\'"]|\s*[,)])""")
_HARNESS_REF = re.compile(r"agent_core[/\\.](?:training|oversight|record|daemon|ml|tasks|policy|events)|scorer\.py")
_ENV_USE = re.compile(
    r"os\.environ|os\.getenv|getenv\(|environ\[|environ\.get|/proc/[^\s'\"]*/environ|printenv|\benv\b\s*['\"]?\s*[\])]"
)
_ENV_SECRET_NAME = re.compile(r"""['"][A-Za-z0-9_]*(?:KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH)[A-Za-z0-9_]*['"]""", re.I)
_ENV_DUMP = re.compile(
    r"(?:dict|print|str|repr|list|json\.dumps)\(\s*os\.environ\s*\)|environ\.(?:items|copy|keys|values)\(|"
    r"/proc/[^\s'\"]*/environ|printenv|\[\s*['\"]env['\"]\s*\]"
)
NET_MODULES = {
    "socket": "socket",
    "ssl": "socket",
    "urllib": "urllib",
    "urllib3": "urllib",
    "requests": "requests",
    "httpx": "httpx",
    "aiohttp": "httpx",
    "http": "httpx",
    "httplib2": "httpx",
    "huggingface_hub": "hub download",
    "ftplib": "other protocols",
    "smtplib": "other protocols",
    "telnetlib": "other protocols",
    "paramiko": "other protocols",
    "websocket": "other protocols",
    "websockets": "other protocols",
    "xmlrpc": "other protocols",
}
_NET = [
    (
        "pip install",
        re.compile(r"""\bpip3?['"]?[\s,]+['"]?install|pip\.main|-m['"\s,]+pip|ensurepip|\buv['"]?[\s,]+['"]?pip"""),
    ),
    ("curl/wget", re.compile(r"\b(?:curl|wget)\b")),
    ("hub download", re.compile(r"snapshot_download|hf_hub_download|\bgit\s+clone\b")),
]
_QUOTED_MODULE = re.compile(r"""(?:__import__|import_module)\(\s*['"]([A-Za-z0-9_]+)""")


def _imported(code: str) -> set[str]:
    """Top-level modules the code imports (ast; a regex when it does not parse)."""
    mods: set[str] = {m.group(1) for m in _QUOTED_MODULE.finditer(code)}
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        mods |= set(re.findall(r"^\s*(?:import|from)\s+([A-Za-z0-9_]+)", code, re.M))
        return mods
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            mods.add(node.module.split(".")[0])
    return mods


def _network_uses(code: str) -> list[str]:
    found: list[str] = []
    for mod in sorted(_imported(code)):
        kind = NET_MODULES.get(mod)
        if kind and kind not in found:
            found.append(kind)
    for name, pat in _NET:
        if pat.search(code) and name not in found:
            found.append(name)
    return found


def code_findings(code: str, hidden_dir: Path | None = None, run_dir: Path | None = None) -> dict:
    """What a run_python snippet touches: {"eval": [...], "secrets": [...], "network": [...]}."""
    out: dict[str, list[str]] = {"eval": [], "secrets": [], "network": []}
    refs = [str(p) for p in (hidden_dir,) if p]
    if any(r and r in code for r in refs) or _HIDDEN_REF.search(code):
        out["eval"].append("the hidden split's folder")
    if str(HARNESS_DIR) in code or _HARNESS_REF.search(code):
        out["eval"].append("the scoring / harness code")
    if _ENV_USE.search(code) and (_ENV_SECRET_NAME.search(code) or _ENV_DUMP.search(code)):
        out["secrets"].append("secret environment variables")
    if _CREDENTIALS.search(code):
        out["secrets"].append("a credentials file")
    out["network"] = _network_uses(code)
    return out


_CREDENTIALS = re.compile(r"""['"/](?:\.env|\.netrc|\.git-credentials|id_rsa|credentials(?:\.json)?)['"]""")


def _net_import_spans(code: str) -> list[tuple[int, int, str]]:
    """(start, end, label) of every import of a network module, found in the syntax tree, so
    `import os, socket` or an import split over lines is located too (the regexes of
    code_spans only see `import socket` / `from socket`)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    # the lines as Python reads them (not str.splitlines: \x0c or \u2028 in a string is no line
    # break), with the character offset of each (ast columns are UTF-8 byte offsets)
    lines = [m.group() for m in re.finditer(r"[^\r\n]*(?:\r\n|\r|\n|$)", code)]
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(lineno: int, col: int) -> int:
        text = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
        return starts[lineno - 1] + len(text.encode("utf-8")[:col].decode("utf-8", "replace"))

    out: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                kind = NET_MODULES.get(alias.name.split(".")[0])
                if kind and getattr(alias, "end_lineno", None):
                    out.append(
                        (
                            offset(alias.lineno, alias.col_offset),
                            offset(alias.end_lineno, alias.end_col_offset),
                            f"network: {kind}",
                        )
                    )
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            kind = NET_MODULES.get(node.module.split(".")[0])
            if kind and node.end_lineno:
                start, end = offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset)
                m = re.match(r"from\s+(?:\\\s*)*[\w.]+", code[start:end])  # `from x.y`, not the names
                out.append((start, start + m.end() if m else end, f"network: {kind}"))
    return out


def code_spans(code: str, found: dict, hidden_dir: Path | None = None) -> list[list]:
    """[[start, end, label], ...]: where in `code` each finding of code_findings() is (label e.g.
    "network: socket", "eval: hidden folder", "secrets: environment"), sorted by start, overlapping
    spans merged, so the approval prompt can highlight them wherever they sit in the code."""
    pats: list[tuple[str, re.Pattern]] = []
    for what in found.get("eval") or []:
        if "hidden" in what:
            pats += [("eval: hidden folder", _HIDDEN_REF)]
            pats += [("eval: hidden folder", re.compile(re.escape(str(hidden_dir))))] if hidden_dir else []
        else:
            pats += [
                ("eval: harness code", _HARNESS_REF),
                ("eval: harness code", re.compile(re.escape(str(HARNESS_DIR)))),
            ]
    for what in found.get("secrets") or []:
        if "environment" in what:
            pats += [("secrets: environment", p) for p in (_ENV_USE, _ENV_SECRET_NAME, _ENV_DUMP)]
        else:
            pats += [("secrets: credentials file", _CREDENTIALS)]
    for use in found.get("network") or []:
        mods = [m for m, kind in NET_MODULES.items() if kind == use]
        if mods:
            alt = "|".join(re.escape(m) for m in mods)
            pats.append(
                (
                    f"network: {use}",
                    re.compile(rf"(?:\bimport\s+|\bfrom\s+|__import__\(\s*['\"]|import_module\(\s*['\"])(?:{alt})\b"),
                )
            )
        pats += [(f"network: {use}", pat) for name, pat in _NET if name == use]
    found_spans = {
        (m.start(), m.end(), label) for label, pat in pats for m in pat.finditer(code) if m.end() > m.start()
    }
    if found.get("network"):
        uses = {f"network: {use}" for use in found["network"]}
        found_spans |= {s for s in _net_import_spans(code) if s[2] in uses and s[1] > s[0]}
    merged: list[list] = []
    for start, end, label in sorted(found_spans):
        if merged and start < merged[-1][1]:  # overlaps the previous one: one span, both labels
            last = merged[-1]
            last[1] = max(last[1], end)
            if label not in last[2].split(", "):
                last[2] += f", {label}"
        else:
            merged.append([start, end, label])
    return merged
