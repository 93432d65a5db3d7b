"""Reading the answer out of a model's completion, for the benchmark scorers (scorers.py): the
final number (`numeric`), the chosen letter (`choice`) and the code (`code`). Pure Python.

    final_number("so 3 + 4 = 7 apples. #### 7", marker="####")  -> Fraction(7)
    final_number("The total is $1,250.00.")                      -> Fraction(1250)
    chosen_letter("The answer is (B).", "ABCD")                  -> "B"
    code_of("Here you go:\\n```python\\ndef f(): ...\\n```")        -> "def f(): ..."

Numbers are compared exactly as fractions: thousands separators, a currency sign, a percent
sign or unit after the number, a trailing period, `42.0` against `42`, negative numbers and
simple fractions (`3/4`) all read as the same value.
"""

from __future__ import annotations

import re
from fractions import Fraction

# sign, currency, digits (with thousands separators), decimals, an optional "/ denominator"
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-\u2212+]?)\s?[$\u20ac\u00a3\u00a5]?\s?(?P<sign2>[-\u2212]?)"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)?(?P<dec>\.\d+)?"
    r"(?:\s?/\s?(?P<den>\d+)(?![\d.]))?"
)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_ANSWER_IS = re.compile(r"(?i)\b(?:final answer|answer)\s*(?:is|:|=)?\s*:?")


def numbers(text: str) -> list[Fraction]:
    """Every number in `text`, in order, as exact fractions."""
    out: list[Fraction] = []
    for m in _NUMBER.finditer(text):
        whole, dec = m.group("int"), m.group("dec")
        if whole is None and dec is None:
            continue
        value = Fraction((whole or "0").replace(",", "") + (dec or ""))
        den = m.group("den")
        if den is not None:
            if int(den) == 0 or dec is not None:
                continue  # "1.5/0", "2.5/3": not a simple fraction; skip it
            value = value / int(den)
        if "-" in (m.group("sign") + m.group("sign2")) or "\u2212" in (m.group("sign") + m.group("sign2")):
            value = -value
        out.append(value)
    return out


def final_number(text: str, marker: str | None = None) -> Fraction | None:
    """The answer a completion gives as a number: the first number after the last `marker`
    ("####") when the marker is there; else the last \\boxed{...}; else the first number after the
    last "answer is" / "answer:"; else the last number in the text. None when there is none."""
    if marker and marker in text:
        found = numbers(text.rsplit(marker, 1)[1])
        return found[0] if found else None
    boxed = _BOXED.findall(text)
    if boxed:
        found = numbers(boxed[-1])
        if found:
            return found[-1]
    said = list(_ANSWER_IS.finditer(text))
    if said:
        found = numbers(text[said[-1].end() :])
        if found:
            return found[0]
    found = numbers(text)
    return found[-1] if found else None


def format_number(value: Fraction) -> str:
    """A fraction as people write it: "7", "-2.5", "1/3"."""
    if value.denominator == 1:
        return str(value.numerator)
    as_float = float(value)
    if Fraction(repr(as_float)) == value:
        return repr(as_float)
    return f"{value.numerator}/{value.denominator}"


def chosen_letter(text: str, letters: str = "ABCD") -> str | None:
    """The option a completion picks among `letters`: an explicit "answer is B" / "Answer: (B)"
    first, then a letter the completion starts with ("B", "(B)", "B) ...", "B. ..."), then the
    first parenthesized "(B)", then a letter standing alone as a word (not the article "A" before
    a lowercase word). None when it names none."""
    if not letters:
        return None
    cls = "[" + re.escape(letters) + "]"
    said = re.findall(
        r"(?i:answer|option|choice)\s*(?:is|:|=)?\s*:?\s*(?i:option\s*|choice\s*)?[\(\[]?\s*(" + cls + r")(?![\w])",
        text,
    )
    if said:
        return said[-1]
    t = text.strip()
    m = re.match(r"[\(\[]?\s*(" + cls + r")\s*(?:[\)\]\.:,]|$)", t)
    if m:
        return m.group(1)
    m = re.match(r"(" + cls + r")\s+(\S)", t)
    if m and not (m.group(1) == "A" and m.group(2).islower()):
        return m.group(1)
    if len(t) == 1 and t.upper() in letters:
        return t.upper()
    m = re.search(r"\((" + cls + r")\)", t)
    if m:
        return m.group(1)
    for m in re.finditer(r"(?<![\w'])(" + cls + r")(?![\w'])(\s+\S)?", t):
        nxt = (m.group(2) or "").strip()
        if m.group(1) == "A" and nxt[:1].islower():
            continue
        return m.group(1)
    return None


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def code_of(completion: str) -> str:
    """The code in a completion: the first fenced block marked python (or unmarked, or any block
    when no block says its language), an unclosed fence running to the end included; the whole
    completion when it has no fence."""
    blocks = _FENCE.findall(completion)
    if not blocks:
        return completion
    for lang, body in blocks:
        if lang.lower() in ("python", "py", "python3"):
            return body
    for lang, body in blocks:
        if not lang:
            return body
    return blocks[0][1]


def program_for(code_prompt: str, completion: str, test: str, entry_point: str | None) -> str:
    """The program a code problem runs: the prompt's code with the completion (a continuation of
    the prompt, or a whole new definition of `entry_point`, fenced or not), the tests, and
    `check(entry_point)` when the problem names one (HumanEval's shape)."""
    code = code_of(completion)
    defines = entry_point and re.search(r"^\s*(?:async\s+)?def\s+" + re.escape(entry_point) + r"\s*\(", code, re.M)
    if defines:
        # a whole solution: the prompt first (its imports and helpers; the stub is redefined), or
        # only its import lines when the prompt is not complete code on its own
        try:
            compile(code_prompt, "<prompt>", "exec")
            head = code_prompt
        except SyntaxError:
            head = "".join(ln for ln in code_prompt.splitlines(True) if ln.startswith(("import ", "from ")))
        body = head.rstrip("\n") + "\n\n" + code
    else:
        body = code_prompt + code
    program = body + "\n\n" + test + "\n"
    if entry_point:
        program += f"\ncheck({entry_point})\n"
    return program
