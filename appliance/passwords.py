"""Coder's minimum password rules, for coderd and for the CLI's prompts.

Coder (``coderd/userpassword``) refuses a password whose estimated entropy is
under 52 bits by go-password-validator v0.3.0, or that is longer than 64
bytes. The estimate is that library's, redone here so that a password Coder
takes is taken here and one it refuses is refused, with the same words:
zxcvbn (the ``zxcvbn`` PyPI port) and ``password-strength`` score differently
and would disagree with Coder on both sides.

The estimate: ``log2(base) * length``, where ``base`` counts the character
classes used (lowercase 26, uppercase 26, digits 10, ``!@$&*`` 5, ``_-.,`` and
space 5, other ASCII punctuation 22, plus 1 for each other distinct
character) and ``length`` is the UTF-8 length once runs of three or more
along a keyboard row, the alphabet or the digits (either way) and the third
and later repeats of one character are dropped.
"""
from __future__ import annotations

import math

MIN_ENTROPY_BITS = 52
MAX_BYTES = 64
RULE = (f"at least {MIN_ENTROPY_BITS} bits of estimated entropy (mix letters, numbers and "
        f"symbols, or make it longer) and at most {MAX_BYTES} bytes, as Coder")

_CLASSES = (  # (characters, the advice when none of them is used) in the library's order
    ("!@$&*", None), ("_-., ", None), ("\"#%'()+/:;<=>?[\\]^{|}~", None),
    ("abcdefghijklmnopqrstuvwxyz", "using lowercase letters"),
    ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "using uppercase letters"),
    ("0123456789", "using numbers"),
)
_SEQUENCES = ("0123456789", "qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdefghijklmnopqrstuvwxyz")


def problem(password: str) -> str:
    """Why Coder would refuse ``password`` ("" when it would take it)."""
    if entropy(password) < MIN_ENTROPY_BITS:
        used = [any(c in chars for c in password) for chars, _ in _CLASSES]
        advice = [] if all(used[:3]) else ["including more special characters"]
        advice += [tip for (_, tip), seen in zip(_CLASSES, used) if tip and not seen]
        if advice:
            return f"insecure password, try {', '.join(advice)} or using a longer password"
        return "insecure password, try using a longer password"
    if len(password.encode()) > MAX_BYTES:
        return f"password must be no more than {MAX_BYTES} characters"
    return ""


def entropy(password: str) -> float:
    """go-password-validator's estimate, in bits."""
    distinct = set(password)
    base = sum(len(chars) for chars, _ in _CLASSES if distinct & set(chars))
    base += sum(1 for c in distinct if not any(c in chars for chars, _ in _CLASSES))
    return _length(password) * math.log2(base) if base else 0.0


def _length(password: str) -> int:
    runes = list(password)
    for seq in _SEQUENCES + tuple(s[::-1] for s in _SEQUENCES):
        runes = _drop_runs(runes, seq)
    return len("".join(_drop_repeats(runes)).encode())


def _drop_runs(runes: list[str], seq: str) -> list[str]:
    """The library's walk: characters matching ``seq`` in order, past the second, go.

    Its quirks are kept (the match count carries across positions and the walk
    restarts ``seq`` at each one) since they decide which passwords pass.
    """
    runes, matches, i = list(runes), 0, 0
    while i < len(runes):
        for expected in seq:
            if i >= len(runes):
                break
            if runes[i] != expected:
                matches = 0
                continue
            matches += 1
            if matches > 2:
                del runes[i]
            else:
                i += 1
        i += 1
    return runes


def _drop_repeats(runes: list[str]) -> list[str]:
    """A character's third and later consecutive repeats go."""
    kept: list[str] = []
    for c in runes:
        if not (len(kept) >= 2 and kept[-1] == c and kept[-2] == c):
            kept.append(c)
    return kept
