"""``--header`` and ``--header-command``: extra HTTP headers on every request, as
Coder's CLI adds them (cli/root.go's header transport), for a deployment behind
a proxy that wants its own credentials (Cloudflare Access, an SSO gateway).

Each header is ``key=value``. ``--header`` is repeatable and ``CODER_HEADER``
holds a comma-separated list; ``--header-command`` (``CODER_HEADER_COMMAND``)
is run with ``sh -c`` and ``CODER_URL`` set, and prints one ``key=value`` a
line. The same headers go on plain requests, on the ``Upgrade: tcp``
connections of ``coder ssh`` and ``port-forward``, and on websockets. Only the
standard library is imported: ``coder ssh --stdio`` uses this.
"""
from __future__ import annotations

import os
import re
import subprocess
from typing import Iterable, Mapping

from .base import USAGE, CommandError

# RFC 9110's token: what Go's net/http accepts as a header field name.
FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def add_options(group, unset) -> None:
    """The two flags, on the root parser and (``unset``: argparse.SUPPRESS) on each command."""
    group.add_argument("--header", action="append", default=unset, metavar="KEY=VALUE",
                       dest="header" if unset is None else "leaf_header",
                       help="An HTTP header added to every request, repeatable (env "
                            "CODER_HEADER, comma-separated).")
    group.add_argument("--header-command", default=unset, metavar="CMD",
                       help="A command printing HTTP headers to add to every request, one "
                            "key=value a line (env CODER_HEADER_COMMAND).")


def from_flags(args, url: str, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The headers the flags and environment ask for (a flag replaces its variable)."""
    given = (getattr(args, "header", None) or []) + (getattr(args, "leaf_header", None) or [])
    if not given and env.get("CODER_HEADER"):
        given = [h for h in env["CODER_HEADER"].split(",") if h.strip()]
    headers = parse(given, quote=True)
    command = getattr(args, "header_command", None) or env.get("CODER_HEADER_COMMAND", "")
    if command:
        lines = _run_command(command, url, env).splitlines()
        headers = merge(headers, parse([line for line in lines if line.strip()], quote=False))
    return headers


def parse(pairs: Iterable[str], *, quote: bool) -> dict[str, str]:
    """``key=value`` items to headers; a repeated key keeps both values (``a, b``), as
    Go's Header.Add sends them. ``quote``: echo a bad item (the user typed it) or not (a
    command's output may be a credential)."""
    headers: dict[str, str] = {}
    for number, pair in enumerate(pairs, 1):
        name, sep, value = pair.partition("=")
        if not sep:
            shown = f"{pair!r}".replace("'", '"') if quote else f"on line {number} of the output"
            raise CommandError(f"create header transport: split header {shown} had less than "
                               "two parts", hint="Give each header as key=value.", code=USAGE)
        name = name.strip()
        if not FIELD_NAME.fullmatch(name):
            raise CommandError(f'net/http: invalid header field name "{name[:40]}"', code=USAGE)
        if any(c in value for c in "\r\n\0"):
            raise CommandError(f'net/http: invalid header field value for "{name}"', code=USAGE)
        headers = merge(headers, {name: value})
    return headers


def merge(headers: Mapping[str, str], more: Mapping[str, str]) -> dict[str, str]:
    out = dict(headers)
    for name, value in more.items():
        same = next((k for k in out if k.lower() == name.lower()), None)
        if same is None:
            out[name] = value
        else:
            out[same] = f"{out[same]}, {value}"
    return out


def _run_command(command: str, url: str, env: Mapping[str, str]) -> str:
    """The command's output; its stderr is dropped, as Coder's CLI drops it."""
    argv = ["sh", "-c", command]
    try:
        done = subprocess.run(argv, env={**env, "CODER_URL": url}, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandError(f"create header transport: failed to run [sh -c {command}]: {exc}")
    if done.returncode:
        raise CommandError(f"create header transport: failed to run [sh -c {command}]: "
                           f"exit status {done.returncode}")
    return done.stdout.decode(errors="replace")
