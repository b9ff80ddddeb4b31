"""Autostart schedules as Coder's coderd/schedule/cron package reads them:
``[CRON_TZ=Zone ]M H * * DOW`` (day of month and month must be ``*``), with the
errors of that package and of robfig/cron/v3 underneath it, word for word, since
the API returns them and Coder's CLI prints them. Time zones come from the
system's tzdata (zoneinfo); a schedule without one is UTC, as in Coder.

Written by hand: croniter and cronsim accept what Coder refuses (six fields,
descriptors, days of month), word their errors their own way, and would be one
more package in every executable; the weekly subset Coder allows is small.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from appliance.digits import is_number

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
               "dec")
# robfig/cron's bounds per field: (low, high, names), names numbered from low.
MINUTES = (0, 59, ())
HOURS = (0, 23, ())
DAYS_OF_MONTH = (1, 31, ())
MONTHS = (1, 12, MONTH_NAMES)
DAYS_OF_WEEK = (0, 6, DAY_NAMES)
SEARCH_DAYS = 8  # a weekly schedule with any day at all fires within a week


class CronError(ValueError):
    """A schedule Coder refuses; the message is Coder's."""


@dataclass(frozen=True)
class Schedule:
    zone: str
    cron: str  # the five fields, without CRON_TZ
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_week: frozenset[int]

    @property
    def location(self) -> dt.tzinfo:
        return zoneinfo.ZoneInfo(self.zone)

    def __str__(self) -> str:
        """Coder's Schedule.String: always with its zone."""
        return f"CRON_TZ={self.zone} {self.cron}"

    def next(self, after: dt.datetime) -> dt.datetime | None:
        """The first time strictly after ``after`` (a whole minute, in UTC), or None if the
        schedule never fires (robfig's zero time)."""
        here = after.astimezone(self.location)
        for offset in range(SEARCH_DAYS):
            day = here.date() + dt.timedelta(days=offset)
            if (day.isoweekday() % 7) not in self.days_of_week:
                continue
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    when = dt.datetime(day.year, day.month, day.day, hour, minute,
                                       tzinfo=self.location)
                    if when > after:
                        return when.astimezone(dt.timezone.utc)
        return None

    def time(self) -> str:
        """Coder's Schedule.Time: ``9:30AM``, or ``cron(M H)`` when not one time a day."""
        minute, hour = self.cron.split()[:2]
        if not (is_number(minute) and is_number(hour) and len(minute) <= 2 and len(hour) <= 2
                and int(minute) < 60 and int(hour) < 24):
            return f"cron({minute} {hour})"
        h = int(hour)
        return f"{(h % 12) or 12}:{int(minute):02d}{'AM' if h < 12 else 'PM'}"

    def days(self) -> str:
        """Coder's Schedule.DaysOfWeek: ``daily``, else the field with day numbers named."""
        dow = self.cron.split()[4]
        if dow == "*":
            return "daily"
        for number, name in enumerate(DAY_NAMES):
            dow = dow.replace(str(number), name.capitalize(), 1)
        return dow

    def humanize(self) -> str:
        """Coder's Schedule.Humanize: ``9:30AM Mon-Fri (Europe/Dublin)``."""
        return f"{self.time()} {self.days()} ({self.zone})"


def weekly(raw: str) -> Schedule:
    """Coder's cron.Weekly; CronError with Coder's message when refused."""
    parts = raw.split()
    if len(parts) < 5:
        raise CronError("validate weekly schedule: expected schedule to consist of 5 fields "
                        "with an optional CRON_TZ=<timezone> prefix")
    if len(parts) == 6:
        parts = parts[1:]
    if parts[2] != "*" or parts[3] != "*":
        raise CronError("validate weekly schedule: expected day-of-month and month to be *")
    try:
        schedule = _parse(raw if raw.startswith("CRON_TZ=") else "CRON_TZ=UTC " + raw)
    except CronError as exc:
        raise CronError(f"parse schedule: {exc}") from None
    if schedule.zone == "Local":
        raise CronError("schedules scoped to time.Local are not supported")
    return schedule


def _parse(spec: str) -> Schedule:
    """robfig/cron/v3's Parser.Parse with Coder's options (five fields, no descriptors)."""
    space = spec.find(" ")
    zone = spec[spec.index("=") + 1:space if space >= 0 else len(spec)]
    location_name = load_location(zone)
    spec = spec[space:].strip() if space >= 0 else ""
    if spec.startswith("@"):
        raise CronError(f"parser does not accept descriptors: {spec}")
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    minutes, hours, _, _, dows = (_field(f, bounds) for f, bounds in
                                  zip(fields, (MINUTES, HOURS, DAYS_OF_MONTH, MONTHS,
                                               DAYS_OF_WEEK)))
    return Schedule(location_name, " ".join(fields), minutes, hours, dows)


def load_location(name: str) -> str:
    """Go's time.LoadLocation over the system's tzdata: the zone's name (``Local``, the
    machine's zone, which weekly refuses), or CronError with robfig's words."""
    if name in ("", "UTC", "Local"):
        return name or "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        bad = "time: invalid location name" if ".." in name or name[0] in "/\\" \
            else f"unknown time zone {name}"
        raise CronError(f"provided bad location {name}: {bad}") from None
    return name


def _field(field: str, bounds: tuple) -> frozenset[int]:
    """robfig's getField: comma-separated ranges, each ``*``, ``N``, ``N-M``, with ``/step``."""
    values: set[int] = set()
    for expr in (part for part in field.split(",") if part):
        values |= _range(expr, bounds)
    return frozenset(values)


def _range(expr: str, bounds: tuple) -> set[int]:
    low, high, names = bounds
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start = _int_or_name(low_and_high[0], names, low)
        if len(low_and_high) > 2:
            raise CronError(f"too many hyphens: {expr}")
        end = _int_or_name(low_and_high[1], names, low) if len(low_and_high) == 2 else start
    if len(range_and_step) > 2:
        raise CronError(f"too many slashes: {expr}")
    step = 1
    if len(range_and_step) == 2:
        step = _int(range_and_step[1])
        if len(low_and_high) == 1:
            end = high  # "N/step" means "N-high/step"
    if start < low:
        raise CronError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise CronError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step))


def _int_or_name(text: str, names: tuple, low: int) -> int:
    if text.lower() in names:
        return names.index(text.lower()) + low
    return _int(text)


def _int(text: str) -> int:
    """robfig's mustParseInt, with Go's strconv.Atoi errors."""
    body = text[1:] if text[:1] in "+-" else text
    if not is_number(body):
        raise CronError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": '
                        "invalid syntax")
    number = int(text)
    if number < 0:
        raise CronError(f"negative number ({number}) not allowed: {text}")
    return number


def next_start(raw: str | None, after: dt.datetime) -> dt.datetime | None:
    """When autostart next fires after ``after``: None without a schedule, or with one Coder
    would refuse (stored before schedules were checked as Coder checks them)."""
    try:
        return weekly(raw).next(after) if raw else None
    except CronError:
        return None
