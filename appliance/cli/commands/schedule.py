"""``coder schedule show|start|stop|extend``, as Coder's cli/schedule.go.

Coder's argument forms: a start time ``9:30AM``, ``09:30pm``, ``17:30``, ``1730``
or ``5pm``, then optionally days of week in cron form (``Mon-Fri``, ``1,3,5``) and
an IANA location (default: ``TZ``, else the machine's /etc/localtime, else UTC),
or ``manual``; durations as Go writes them (``8h30m``), a bare number being
minutes. Every command but show ends by printing the workspace's schedule table.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import zoneinfo

from appliance import cron, durations
from appliance.digits import is_number
from appliance.sdk import types

from .. import connect
from ..base import CommandError, write_output
from ..output import add_table_options, print_rows
from .workspaces import workspace_by_name

COLUMNS = ("workspace", "starts_at", "starts_next", "stops_after", "stops_next")
ZONEINFO_DIR = "/usr/share/zoneinfo/"
# Go's time.Parse layouts Coder tries for a start time (cli/util.go parseTime), as patterns.
TWELVE_HOUR = re.compile(r"(\d{1,2})(?::(\d{2}))?(AM|PM|am|pm)")
TWENTY_FOUR_HOUR = re.compile(r"(\d{1,2}):(\d{2})|(\d{2})(\d{2})")
BAD_TIME = "Start time must be in the format hh:mm[am|pm] or HH:MM"
BAD_FORMAT = "Schedule must be in the format Mon-Fri 09:00AM America/Chicago"
ABBREVIATION = re.compile(r"[A-Z]{3,5}")


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Schedule automated start and stop times for workspaces."
    sub = connect.add_subcommands(p)
    s = connect.leaf_parser(sub, "show", "Show workspace schedules.",
                            "Show the autostart schedule, next start, autostop duration and next "
                            "stop of a workspace, or of the workspaces --search finds.")
    s.add_argument("workspace", nargs="?", metavar="WORKSPACE")
    s.add_argument("-a", "--all", action="store_true", help="Everyone's workspaces.")
    s.add_argument("--search", default="owner:me", help="Coder's filter (default: owner:me).")
    add_table_options(s, COLUMNS, COLUMNS)
    s.set_defaults(_action=_show)
    s = connect.leaf_parser(sub, "start", "Edit workspace start schedule.",
                            "Start the workspace regularly: START-TIME [DAYS-OF-WEEK] [LOCATION], "
                            "e.g. 9:30AM Mon-Fri Europe/Dublin, or 'manual' for no autostart.")
    s.add_argument("workspace", metavar="WORKSPACE")
    s.add_argument("schedule", nargs="+", metavar="SCHEDULE")
    s.set_defaults(_action=_start)
    s = connect.leaf_parser(sub, "stop", "Edit workspace stop schedule.",
                            "Stop the workspace this long after each start (e.g. 2h30m; a bare "
                            "number is minutes), or 'manual' for no autostop.")
    s.add_argument("workspace", metavar="WORKSPACE")
    s.add_argument("duration", metavar="DURATION")
    s.set_defaults(_action=_stop)
    s = connect.leaf_parser(sub, "extend", "Extend the stop time of a currently running "
                            "workspace instance.", "Move the running workspace's stop time to "
                            "DURATION from now (at least 30 minutes).", aliases=["override-stop"])
    s.add_argument("workspace", metavar="WORKSPACE")
    s.add_argument("duration", metavar="DURATION")
    s.set_defaults(_action=_extend)


run = connect.run_group


def local_zone() -> str:
    """Coder's tz.TimezoneIANA: TZ if it names a zone, else /etc/localtime's, else UTC."""
    name = os.environ.get("TZ")
    if name == "":
        return "UTC"
    candidates = [name] if name else []
    target = os.path.realpath("/etc/localtime")
    if target.startswith(ZONEINFO_DIR):
        candidates.append(target[len(ZONEINFO_DIR):])
    for candidate in candidates:
        try:
            return cron.load_location(candidate)
        except cron.CronError:
            continue
    return "UTC"


def time_display(when: dt.datetime) -> str:
    """Coder's timeDisplay: RFC 3339 in the local zone."""
    here = when.astimezone(zoneinfo.ZoneInfo(local_zone()))
    offset = here.strftime("%z")
    return here.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if offset == "+0000"
                                                  else f"{offset[:3]}:{offset[3:]}")


def schedule_row(ws: types.Workspace, now: dt.datetime) -> dict:
    """Coder's scheduleListRowFromWorkspace."""
    row = dict.fromkeys(COLUMNS, "")
    row["workspace"] = f"{ws.owner_name}/{ws.name}"
    if ws.autostart_schedule:
        try:
            schedule = cron.weekly(ws.autostart_schedule)
        except cron.CronError:
            schedule = None
        nxt = schedule.next(now) if schedule else None
        if schedule:
            row["starts_at"] = schedule.humanize()
            row["starts_next"] = time_display(nxt) if nxt else ""
    if ws.ttl_ms:
        row["stops_after"] = durations.display(ws.ttl_ms / 1000)
        build = ws.latest_build
        if build.deadline and build.transition == "start":
            row["stops_next"] = time_display(build.deadline)
    return row


def parse_start_time(text: str) -> tuple[int, int]:
    """(hour, minute) from Coder's start-time layouts (Go's time.Parse rules)."""
    m = TWELVE_HOUR.fullmatch(text)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        if hour <= 12 and minute < 60:
            return hour % 12 + (12 if m.group(3).lower() == "pm" else 0), minute
    m = TWENTY_FOUR_HOUR.fullmatch(text)
    if m:
        hour, minute = (int(g) for g in (m.group(1, 2) if m.group(1) else m.group(3, 4)))
        if hour < 24 and minute < 60:
            return hour, minute
    raise CommandError(BAD_TIME)


def parse_cli_schedule(parts: list[str]) -> cron.Schedule:
    """Coder's parseCLISchedule: START-TIME [DAYS-OF-WEEK] [LOCATION], also quoted as one."""
    if len(parts) == 1:
        parts = parts[0].split()
    if not parts or len(parts) > 3:
        raise CommandError(BAD_FORMAT)
    hour, minute = parse_start_time(parts[0])
    days, zone = "*", None
    if len(parts) == 3:
        days = parts[1]
        try:
            zone = cron.load_location(parts[2])
        except cron.CronError:
            if ABBREVIATION.fullmatch(parts[2]):
                raise CommandError("The location you provided looks like a timezone. Check "
                                   "https://ipinfo.io for your location.") from None
            raise CommandError(f'Invalid timezone "{parts[2]}" specified: a valid IANA timezone '
                               "is required") from None
    elif len(parts) == 2:
        try:
            zone = cron.load_location(parts[1])
        except cron.CronError:
            days = parts[1]
    try:
        return cron.weekly(f"CRON_TZ={zone or local_zone()} {minute} {hour} * * {days}")
    except cron.CronError as exc:
        raise CommandError(f"Invalid schedule: {exc}") from None


def parse_duration(text: str) -> float:
    """Coder's parseDuration: Go's, with a bare number taken as minutes; seconds."""
    try:
        return durations.parse(text + "m" if is_number(text) else text)
    except durations.DurationError as exc:
        raise CommandError(str(exc)) from None


def _display(args: argparse.Namespace, client) -> int:
    """Coder's displaySchedule: the workspace's row, as a table."""
    ws = workspace_by_name(client, args.workspace)
    write_output("table", [schedule_row(ws, dt.datetime.now(dt.timezone.utc))], COLUMNS)
    return 0


def _show(args: argparse.Namespace) -> int:
    client = connect.client(args)
    if args.workspace:
        _, slash, name = args.workspace.rpartition("/")
        q = f"name:{name}" if slash else f"owner:me name:{name}"
    else:
        q = "" if args.all else args.search
    found = client.workspaces(q=q).workspaces
    now = dt.datetime.now(dt.timezone.utc)
    rows = [schedule_row(ws, now) for ws in found]
    print_rows(args, rows, rows)
    return 0


def _start(args: argparse.Namespace) -> int:
    client = connect.client(args)
    ws = workspace_by_name(client, args.workspace)
    schedule = None if args.schedule[0] == "manual" else str(parse_cli_schedule(args.schedule))
    client.update_workspace_autostart(ws.id, schedule)
    return _display(args, client)


def _stop(args: argparse.Namespace) -> int:
    client = connect.client(args)
    ws = workspace_by_name(client, args.workspace)
    ttl_ms = None if args.duration == "manual" else int(parse_duration(args.duration) * 1000)
    client.update_workspace_ttl(ws.id, ttl_ms)
    return _display(args, client)


def _extend(args: argparse.Namespace) -> int:
    client = connect.client(args)
    seconds = parse_duration(args.duration)
    ws = workspace_by_name(client, args.workspace)
    if seconds < 29 * 60:
        print("Please specify a duration of at least 30 minutes.")
        return 0
    client.extend_workspace(ws.id, dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds))
    return _display(args, client)
