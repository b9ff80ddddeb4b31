"""``coder version``: this build's version, as Coder's ``coder version`` prints it."""
from __future__ import annotations

import argparse

from appliance import buildinfo

from ..base import write_output

# The coder executable has no ``server`` subcommand (coderd is the server): Coder calls that slim.
SLIM = True


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Show coder version."
    p.add_argument("-o", "--output", choices=("text", "json"), default="text",
                   help="Output format (default: text).")


def text() -> str:
    """What ``coder version`` prints, and ``coder --version`` too (as Coder's root command)."""
    return buildinfo.text(SLIM)


def run(args: argparse.Namespace) -> int:
    if args.output == "json":
        write_output("json", buildinfo.info(SLIM))
    else:
        print(text())
    return 0
