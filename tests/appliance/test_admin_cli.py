"""The ``appliance`` admin CLI as a whole: every argument of every command says what it is."""
from __future__ import annotations

import argparse
import importlib

import pytest

from appliance.admin.main import COMMANDS


def _arguments(parser: argparse.ArgumentParser, path: str):
    """(command path, action) for every argument of ``parser`` and its subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", helps.get(name)
                yield from _arguments(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield f"{path} {'/'.join(action.option_strings) or action.metavar or action.dest}", \
                action.help


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_argument_has_help(command):
    parser = argparse.ArgumentParser(prog=f"appliance {command}")
    importlib.import_module(COMMANDS[command].module).configure(parser)
    arguments = list(_arguments(parser, command))
    assert len(arguments) > 2
    missing = [name for name, text in arguments if not text or text == argparse.SUPPRESS]
    assert not missing, f"arguments without help: {missing}"
