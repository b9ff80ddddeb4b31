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


def endpoints() -> dict[str, str]:
    """Every declared API route as ``METHOD /api/v2/path``, keyed by its shape (see ``shape``)."""
    # the modules that declare API routes: server.api's routers, and the relay's app sign-in
    import server.api  # noqa: F401
    import server.relay.appauth  # noqa: F401
    from server.api.router import ROUTES

    return {shape(f"{s.method} {s.openapi_path}"): f"{s.method} {s.openapi_path}" for s in ROUTES}


def shape(path: str) -> str:
    """A path with its parameters' names left out: Coder's ``{fileID}`` is the appliance's
    ``{fileid}``, and only the shape is what a client sends."""
    return re.sub(r"\{[^}]*\}", "{}", path)
