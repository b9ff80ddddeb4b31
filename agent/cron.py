"""Five-field cron schedules (minute hour day-of-month month day-of-week), as
``coder_script.cron`` takes them; a leading seconds field is accepted and ignored."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


class CronError(ValueError):
    pass


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if spec == "*":
            start, end = low, high
        elif "-" in spec:
            start, end = (int(x) for x in spec.split("-", 1))
        else:
            start = end = int(spec)
            if step_text:
                end = high
        if not (low <= start <= end <= high) or step < 1:
            raise CronError(f"{part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    fields: tuple[frozenset[int], ...]

    def matches(self, when: dt.datetime) -> bool:
        minute, hour, dom, month, dow = self.fields
        weekday = (when.weekday() + 1) % 7  # cron: 0 (and 7) is Sunday
        return (when.minute in minute and when.hour in hour and when.day in dom
                and when.month in month and (weekday in dow or (weekday == 0 and 7 in dow)))


def parse(text: str) -> Schedule:
    parts = text.split()
    if len(parts) == 6:
        parts = parts[1:]
    if len(parts) != 5:
        raise CronError(f"cron schedule {text!r} needs 5 fields")
    try:
        return Schedule(tuple(_field(p, lo, hi) for p, (lo, hi) in zip(parts, RANGES)))
    except ValueError as exc:
        raise CronError(f"cron schedule {text!r}: {exc}") from None
