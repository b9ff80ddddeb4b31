"""What the appliance offers, read from its code: command paths and API v2 endpoints."""
from __future__ import annotations

import argparse
import re
from typing import Iterator


def commands() -> dict[str, str]:
    """Every runnable command path ("templates push") mapped to how it is typed
    ("coder templates push"), for the ``coder``, ``coderd`` and ``appliance`` programs."""
    from appliance.admin import main as admin
    from appliance.cli import main as coder
    from appliance.cli.base import command_tree
    from server import cli as coderd

    trees = (("coder", command_tree("coder", coder.COMMANDS)), ("coderd", coderd.build_parser()),
             ("appliance", command_tree("appliance", admin.COMMANDS)))
    return {path: f"{prog} {path}" for prog, tree in trees for path in _leaves(tree)}


def _leaves(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[str]:
    """Paths of the parsers that run something: those without subcommands, and those with
    subcommands that also act alone (``coder stat``), unlike a group, which only prints its
    help. An alias is the same parser under a second name and is skipped."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if prefix and (not groups or parser.get_default("_action") is not None):
        yield prefix
    if not groups:
        return
    for group in groups:
        seen: set[int] = set()
        for name, child in group.choices.items():
            if id(child) not in seen:
                seen.add(id(child))
                yield from _leaves(child, f"{prefix} {name}".strip())


def api_routes() -> set[tuple[str, str]]:
    """(METHOD, /api/v2/path with ``{param}``s) of every rule coderd's app serves, whatever
    module declares it: the app is made as coderd makes it (no database is reached)."""
    from appliance import settings
    from server.app import create_app
    from server.db.pool import Pool

    app = create_app(settings.load({}, environ={}), Pool("dbname=unused"))
    return {(method, re.sub(r"<(?:[a-z]+:)?([A-Za-z_]+)>", r"{\1}", rule.rule))
            for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v2")
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def endpoints() -> dict[str, str]:
    """Every API route as ``METHOD /api/v2/path``, keyed by its shape (see ``shape``)."""
    return {shape(f"{m} {p}"): f"{m} {p}" for m, p in api_routes()}


def shape(path: str) -> str:
    """A path with its parameters' names left out: Coder's ``{fileID}`` is the appliance's
    ``{fileid}``, and only the shape is what a client sends."""
    return re.sub(r"\{[^}]*\}", "{}", path)
