"""Durations as Coder reads and shows them: Go's ``time.ParseDuration`` (``90s``,
``30m``, ``1h30m``, ``1.5h``), Coder's extended form with days and years
(``30d``, ``1y``: ``coder tokens create --lifetime``), and Coder's cli/util.go
displays (``durationDisplay``: ``1d2h``, ``<1m``; ``relative``: ``in 3h``,
``2m ago``). One parser serves the CLI and coderd's ``CODER_*`` settings.

Written by hand: Python has no Go duration parser, and the error texts are
Go's own (``time: unknown unit "x" in duration "1x"``), which Coder's CLI prints.
Standard library only (``coder ssh --stdio`` starts for every ssh).
"""
from __future__ import annotations

import datetime as dt
import json

NANOSECOND = 1e-9
GO_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3,
            "s": 1.0, "m": 60.0, "h": 3600.0}
DAY = 86400.0
EXTENDED_UNITS = {**GO_UNITS, "d": DAY, "y": 365 * DAY}
MAX_SECONDS = (2 ** 63 - 1) * NANOSECOND  # Go's time.Duration is int64 nanoseconds


class DurationError(ValueError):
    """A value that is not a duration; the message is Go's (or Coder's) for it."""


def parse(text: str, units: dict[str, float] = GO_UNITS) -> float:
    """Seconds in ``text``, read as Go's time.ParseDuration reads it (with ``units``)."""
    quoted = _quote(text)
    rest = text
    sign = -1.0 if rest.startswith("-") else 1.0
    rest = rest[1:] if rest[:1] in ("-", "+") else rest
    if rest == "0":
        return 0.0
    if not rest:
        raise DurationError(f"time: invalid duration {quoted}")
    total = 0.0
    while rest:
        number, rest = _leading(rest, "0123456789.")
        if number.count(".") > 1 or number in ("", "."):
            raise DurationError(f"time: invalid duration {quoted}")
        unit, rest = _leading(rest, None)
        if not unit:
            raise DurationError(f"time: missing unit in duration {quoted}")
        if unit not in units:
            raise DurationError(f"time: unknown unit {_quote(unit)} in duration {quoted}")
        total += float(number) * units[unit]
        if total > MAX_SECONDS:
            raise DurationError(f"time: invalid duration {quoted}")
    return sign * total


def parse_extended(text: str) -> float:
    """Coder's extendedParseDuration: Go's units plus ``d`` (24h) and ``y`` (365d)."""
    return parse(text, EXTENDED_UNITS)


def _leading(text: str, allowed: str | None) -> tuple[str, str]:
    """The longest prefix made of ``allowed`` (None: of anything but digits and '.')."""
    i = 0
    while i < len(text) and ((text[i] in allowed) if allowed else text[i] not in "0123456789."):
        i += 1
    return text[:i], text[i:]


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def display(seconds: float) -> str:
    """Coder's durationDisplay: minutes at most, days past 24h, no empty parts, no sign."""
    seconds = abs(seconds)
    if seconds == 0:
        return "0s"
    if seconds < 60:
        return "<1m"
    whole = int(seconds)
    whole -= whole % 3600 if seconds > DAY else whole % 60
    days, whole = divmod(whole, int(DAY))
    text = (f"{days}d" if days else "") + _go_string(whole)
    for suffix in ("m0s", "h0m", "d0s", "d0h"):
        if text.endswith(suffix):
            text = text[:-2]
    return text


def _go_string(seconds: int) -> str:
    """Go's Duration.String for whole seconds (``1h0m0s``, ``5m0s``, ``30s``)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def relative(seconds: float) -> str:
    """Coder's relative: ``in 3h`` ahead, ``2m ago`` behind, ``now``."""
    if seconds > 0:
        return "in " + display(seconds)
    if seconds < 0:
        return display(seconds) + " ago"
    return "now"


def seconds_until(when: dt.datetime, now: dt.datetime | None = None) -> float:
    """How far ahead ``when`` is (negative: how long ago)."""
    return (when - (now or dt.datetime.now(dt.timezone.utc))).total_seconds()


def since(when: dt.datetime, now: dt.datetime | None = None) -> str:
    """How long ago (or how far ahead) ``when`` is, in Coder's words."""
    return relative(seconds_until(when, now))
