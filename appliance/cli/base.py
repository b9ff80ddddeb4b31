"""What the ``coder`` and ``appliance`` CLIs share: a lazy command registry,
exit codes, error reporting and ``-o table|json`` output.

Commands are imported only when chosen, so ``--help`` and the PyInstaller
binaries start fast (pip's ``commands/__init__.py`` does the same).
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from dataclasses import dataclass
from typing import Any, Callable, Container, Iterable, Sequence

from appliance import durations
from appliance.settings import SettingsError, parse_bool

SUCCESS = 0
ERROR = 1
USAGE = 2


class CommandError(Exception):
    """A failure to report as one line plus an optional hint, without a traceback."""

    def __init__(self, message: str, hint: str = "", code: int = ERROR):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


class VersionAction(argparse.Action):
    """``--version``: prints what the ``version`` callable returns, computed only when asked
    (a checkout's revision costs a git run), then exits 0 as argparse's own action does."""

    def __init__(self, option_strings: Sequence[str], version: Callable[[], str], dest: str,
                 help: str = "Show the version and exit."):
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                         nargs=0, help=help)
        self.version = version

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(self.version())
        parser.exit()


class CommandParser(argparse.ArgumentParser):
    """A parser (and, through ``add_subparsers``, every command's parser) that refuses
    what it does not know itself: an unknown flag is reported with the usage line of the
    command it was given to (``coder users list --bogus``), not the root's, exit 2."""

    def parse_known_args(self, args=None, namespace=None):
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


@dataclass(frozen=True)
class CommandInfo:
    module: str
    summary: str
    aliases: tuple[str, ...] = ()  # Coder's (``ls`` for ``list``): they run as the command


def make_parser(prog: str, description: str, commands: dict[str, CommandInfo],
                configured: Container[str], global_options: Callable[[argparse.ArgumentParser],
                                                                     None] | None = None,
                version: Callable[[], str] | None = None) -> argparse.ArgumentParser:
    """The parser, with the options of the ``configured`` commands (whose modules it
    imports); the others are listed by name and summary only."""
    parser = CommandParser(prog=prog, description=description)
    parser.add_argument("-v", "--verbose", action="store_true", help="Show debug output.")
    if version:
        parser.add_argument("--version", action=VersionAction, version=version)
    if global_options:
        global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, info in commands.items():
        p = sub.add_parser(name, aliases=list(info.aliases), help=info.summary,
                           description=info.summary)
        if name in configured:
            module = importlib.import_module(info.module)
            module.configure(p)
            p.set_defaults(_run=module.run)
    return parser


def build_parser(prog: str, description: str, commands: dict[str, CommandInfo],
                 argv: Sequence[str], global_options: Callable[[argparse.ArgumentParser], None]
                 | None = None, version: Callable[[], str] | None = None,
                 ) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """Parse argv, importing only the chosen command's module to add its options."""
    names = {said: name for name, info in commands.items() for said in (name, *info.aliases)}
    chosen = next((names[a] for a in argv if a in names), None)
    parser = make_parser(prog, description, commands, {chosen}, global_options, version)
    args = parser.parse_args(argv)
    if isinstance(args.command, str):  # not a command's own `command` argument (ssh's)
        args.command = names.get(args.command, args.command)
    return parser, args


def command_tree(prog: str, commands: dict[str, CommandInfo]) -> argparse.ArgumentParser:
    """A parser with every command's options and subcommands: what the command line offers,
    for tools that describe it (docs/compatibility.md), at the cost of importing them all."""
    return make_parser(prog, "", commands, commands)


def main(prog: str, description: str, commands: dict[str, CommandInfo],
         argv: Sequence[str] | None = None, *,
         global_options: Callable[[argparse.ArgumentParser], None] | None = None,
         translate: Callable[[Exception], CommandError] | None = None,
         version: Callable[[], str] | None = None) -> int:
    """Run the chosen command and turn failures into exit codes.

    ``global_options`` adds flags every command takes (``coder --url``);
    ``translate`` turns other exceptions (API errors, network failures) into a
    CommandError, whose traceback is logged only with ``-v``; ``version`` is what
    ``--version`` prints. A command gets the program's whole parser (every command
    with its options, for ``completion``) as ``args.whole_parser()``, so that no
    command imports the program it is part of.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, args = build_parser(prog, description, commands, argv, global_options, version)
    args.whole_parser = lambda: make_parser(prog, description, commands, commands,
                                            global_options, version)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "_run", None)
    if run is None:
        # A command group without a subcommand prints its own help.
        parser.print_help()
        return USAGE
    try:
        return run(args) or SUCCESS
    except CommandError as exc:
        return _report(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if translate is None:
            raise
        logging.getLogger(prog).debug("%s failed", prog, exc_info=True)
        return _report(translate(exc))


def _report(exc: CommandError) -> int:
    print(f"error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)
    return exc.code


def duration(parse: Callable[[str], float] = durations.parse) -> Callable[[str], float]:
    """An argparse ``type`` for a duration flag: seconds, or a usage error in Go's words
    (``argument --stop-after: time: unknown unit "x" in duration "1x"``)."""
    def seconds(text: str) -> float:
        try:
            return parse(text)
        except durations.DurationError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return seconds


def boolean(text: str) -> bool:
    """An argparse ``type`` for a boolean flag's value, read as the settings read theirs
    (Go's strconv.ParseBool, as Coder's CLI): a usage error otherwise."""
    try:
        return parse_bool(text)
    except SettingsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table",
                        help="Output format (default: table).")


def write_output(fmt: str, rows: Iterable[dict[str, Any]] | dict[str, Any],
                 columns: Sequence[str] = ()) -> None:
    """Print rows as an aligned table or as JSON (what ``coder ... -o json`` prints)."""
    if fmt == "json":
        print(json.dumps(rows, indent=2, default=str))
        return
    if isinstance(rows, dict):
        rows = [rows]
    rows = list(rows)
    columns = list(columns) or (list(rows[0]) if rows else [])
    table = [[c.upper().replace("_", " ") for c in columns]]
    table += [["" if r.get(c) is None else _cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
