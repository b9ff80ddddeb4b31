"""Durations as Coder's CLI takes and shows them: Go's time.ParseDuration (and Coder's
extended days and years) for every duration flag, Coder's durationDisplay and relative
times in tables, RFC 3339 in ``-o json``."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from appliance import durations

from tests.kit.coderd import create_first_user

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("text,seconds", [
    ("8h", 8 * 3600), ("30m", 1800), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400),
    ("0", 0), ("-1h", -3600), ("+5m", 300), ("300ms", 0.3), ("2h45m10s", 9910)])
def test_go_durations(text, seconds):
    assert durations.parse(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text,error", [  # Go's own words for each
    ("1", 'time: missing unit in duration "1"'),
    ("1h1", 'time: missing unit in duration "1h1"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("soon", 'time: invalid duration "soon"'),
    ("", 'time: invalid duration ""'),
    ("1..5h", 'time: invalid duration "1..5h"'),
    ("3000000h", 'time: invalid duration "3000000h"')])
def test_go_duration_refusals(text, error):
    with pytest.raises(durations.DurationError) as err:
        durations.parse(text)
    assert str(err.value) == error


def test_extended_days_and_years():
    assert durations.parse_extended("30d") == 30 * 86400
    assert durations.parse_extended("1y2d3h") == (365 + 2) * 86400 + 3 * 3600
    with pytest.raises(durations.DurationError):
        durations.parse_extended("1w")


@pytest.mark.parametrize("seconds,shown", [  # Coder's durationDisplay, as cli/util.go does it
    (0, "0s"), (59, "<1m"), (60, "1m"), (119, "1m"), (3600, "1h"), (5400, "1h30m"),
    (86400, "1d"), (90000, "1d1h"), (2 * 86400 + 3600 + 59 * 60, "2d1h"), (30 * 86400, "30d")])
def test_display(seconds, shown):
    assert durations.display(seconds) == shown


def test_relative():
    assert durations.since(NOW - dt.timedelta(minutes=2, seconds=5), NOW) == "2m ago"
    assert durations.since(NOW + dt.timedelta(hours=3), NOW) == "in 3h"
    assert durations.since(NOW, NOW) == "now"


def test_flags_take_go_durations_and_tables_show_relative_times(cli, provisioning_coderd,
                                                                 tmp_path):
    owner, _ = create_first_user(provisioning_coderd)
    c = cli.log_in_as(provisioning_coderd.url, owner.token)
    proc = c.run("create", "box", "-t", "empty", "--stop-after", "90", expect=2)
    assert 'argument --stop-after: time: missing unit in duration "90"' in proc.stderr
    proc = c.run("tokens", "create", "--lifetime", "1w", expect=2)
    assert 'argument --lifetime: time: unknown unit "w" in duration "1w"' in proc.stderr

    (tmp_path / "main.tf").write_text("terraform {}\n")
    c.run("templates", "push", "empty", "-d", str(tmp_path), "-y")
    c.run("create", "box", "-t", "empty", "--stop-after", "1h30m")
    listed = json.loads(c.run("list", "-o", "json").stdout)
    assert listed[0]["ttl_ms"] == 5400 * 1000
    assert dt.datetime.fromisoformat(listed[0]["latest_build"]["created_at"])  # RFC 3339
    header, row = c.run("list", "-c", "workspace,last built,stops after").stdout.splitlines()
    assert row.split() == ["admin/box", "<1m", "1h30m"]

    c.run("tokens", "create", "--name", "ci", "--lifetime", "30d")
    row = c.run("tokens", "list", "-c", "name,expires_at,created_at").stdout.splitlines()[1]
    assert row.split() == ["ci", "in", "29d23h", "<1m", "ago"]
    tokens = json.loads(c.run("tokens", "list", "-o", "json").stdout)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)", tokens[0]["expires_at"])
