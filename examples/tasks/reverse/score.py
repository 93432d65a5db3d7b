"""Scorer of the `reverse` example task: partial credit per character.

score(prompt, completion, expected) -> float in [0, 1]: the fraction of the expected word's
characters that the completion has in the same position (an exact answer scores 1.0; a
completion of the wrong length loses the positions it misses or adds).
"""


def score(prompt: str, completion: str, expected: str) -> float:
    got, want = completion.strip(), expected.strip()
    if not want:
        return float(got == want)
    same = sum(1 for a, b in zip(got, want) if a == b)
    return same / max(len(got), len(want))
