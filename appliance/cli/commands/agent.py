"""``coder agent`` and ``coder gitssh``: the workspace agent's commands in the user's CLI.

As in Coder (its ``cli/agent.go`` imports the agent package), the ``coder`` CLI sits
above the agent: this is where it imports ``agent``, and nothing under ``agent/``
imports the CLI (docs/architecture.md, "Import rule").
"""
from __future__ import annotations

import argparse

from agent import cli, gitssh

_MODULES = {"agent": cli, "gitssh": gitssh}


def configure(p: argparse.ArgumentParser) -> None:
    _MODULES[p.prog.rsplit(" ", 1)[-1]].configure(p)


def run(args: argparse.Namespace) -> int:
    return _MODULES[args.command].run(args)
