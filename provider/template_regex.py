"""A template's ``validation.regex``, run with RE2 semantics as Coder's Go regexp runs it.

Python's backtracking ``re`` takes exponential time on patterns such as
``^(a+)+$``: one template regex and one member's value could freeze coderd.
RE2 matches in time linear in the value and refuses what it cannot do so
(backreferences, lookaround), as Go's ``regexp.Compile`` refuses them.
"""
from __future__ import annotations

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the caller reports the error; RE2 would also print it to stderr


class TemplateRegexError(ValueError):
    """The pattern is not valid RE2 syntax; the message says why."""


def compile_regex(pattern: str):
    """The compiled pattern, or TemplateRegexError with RE2's reason."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        raise TemplateRegexError(reason.decode(errors="replace") if isinstance(reason, bytes)
                                 else str(reason)) from None
