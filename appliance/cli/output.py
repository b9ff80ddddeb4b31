"""Tables and JSON for the ``coder`` list commands: ``-o table|json`` and
``-c/--column`` as in Coder's ``cliui`` output formatter.

JSON is the SDK type encoded with Coder's field names, so scripts written
against Coder's ``-o json`` keep working; tables show chosen columns, with
roles as names, times relative to now as Coder's CLI shows them (``2m ago``,
``in 29d``) and never-set times as ``never``; ``-o json`` keeps RFC 3339.
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
from typing import Any, Mapping, Sequence

from appliance import durations
from appliance.sdk import model

from .base import USAGE, CommandError, add_output_option, write_output

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def add_table_options(parser: argparse.ArgumentParser, columns: Sequence[str],
                      default: Sequence[str]) -> None:
    add_output_option(parser)
    parser.add_argument("-c", "--column", action="append", metavar="COLUMNS",
                        help="Table columns, comma-separated, repeatable; from: "
                             f"{', '.join(columns)} (default: {', '.join(default)}).")
    parser.set_defaults(_columns=tuple(columns), _default_columns=tuple(default))


def print_objects(args: argparse.Namespace, objects: Any,
                  rename: Mapping[str, str] | None = None) -> None:
    """Print SDK objects (one or a list) as JSON or as a table of the chosen columns."""
    data = model.encode(objects)
    if args.output == "json":
        write_output("json", data)
        return
    columns = _columns(args)
    items = data if isinstance(data, list) else [data]
    rows = [{(rename or {}).get(k, k): _plain(v) for k, v in item.items()} for item in items]
    write_output("table", rows, columns)


def _columns(args: argparse.Namespace) -> list[str]:
    if not args.column:
        return list(args._default_columns)
    chosen = [c.strip().replace(" ", "_").replace("-", "_").lower()
              for spec in args.column for c in spec.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in args._columns]
    if unknown:
        raise CommandError(f"unknown column {unknown[0]!r}",
                           hint=f"Choose from: {', '.join(args._columns)}.", code=USAGE)
    return chosen


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [v["name"] if isinstance(v, dict) and "name" in v else v for v in value]
    if isinstance(value, str) and TIMESTAMP.match(value):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return "never" if value.year == 1 else durations.since(value)
    return value


def print_rows(args: argparse.Namespace, objects: Any, rows: list[dict[str, Any]]) -> None:
    """``-o json``: the SDK objects; a table: ``rows`` derived from them (for columns that
    are not plain fields, like a workspace's status or a template's active version)."""
    if args.output == "json":
        write_output("json", model.encode(objects))
        return
    write_output("table", [{k: _plain(v) for k, v in r.items()} for r in rows], _columns(args))
