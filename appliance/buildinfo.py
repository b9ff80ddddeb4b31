"""What this build is, said one way by ``coder version``, every executable's
``--version`` and coderd's ``/api/v2/buildinfo`` (Coder's ``buildinfo``).

The version is in Coder's format and names the Coder release whose API and CLI
this follows (``CODER_VERSION``), because Coder's CLI and other clients compare
it with their own (``buildinfo.VersionsMatch``: same major.minor, or either a
``-devel`` build) and warn on a mismatch. A frozen (released) executable says
``v2.27.0``; a build from a git checkout is a development build, as a Coder
build without a release tag is: ``v2.27.0-devel+55f7ea0``, which no client
warns about, with the commit's time as its build time. The appliance's own
release, ``appliance.__version__`` (a literal in the source: a frozen executable
carries it as it carries the code), is said beside it: ``appliance_version`` in
the JSON, a line of ``coder version``'s text, and ``appliance --version``.
"""
from __future__ import annotations

import functools
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from appliance import __version__

# The Coder release this appliance's API and CLI follow (docs/cli.md#version).
CODER_VERSION = "2.27.0"
CHECKOUT = Path(__file__).resolve().parents[1]
ZERO_TIME = "0001-01-01T00:00:00Z"  # how Go encodes an unknown time.Time, as Coder's JSON has it
OFFLINE = ("coder-appliance, offline build: update checks and telemetry are off, "
           "nothing contacts the internet.")


@functools.cache
def _revision() -> tuple[str, datetime] | None:
    """The checkout's commit and commit time, or None (frozen, installed, or no git)."""
    if getattr(sys, "frozen", False) or not (CHECKOUT / ".git").exists():
        return None
    import subprocess  # here: coderd imports this module before gevent patches subprocess

    try:
        done = subprocess.run(["git", "-C", str(CHECKOUT), "show", "-s", "--format=%H%n%cI", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True)
        commit, when = done.stdout.split()
        return commit, datetime.fromisoformat(when).astimezone(timezone.utc)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def version() -> str:
    """Coder's form: ``vCODER_VERSION``, and ``-devel+`` the short commit from a checkout."""
    revision = _revision()
    return f"v{CODER_VERSION}" + (f"-devel+{revision[0][:7]}" if revision else "")


def build_time() -> datetime | None:
    revision = _revision()
    return revision[1] if revision else None


def info(slim: bool) -> dict[str, Any]:
    """``coder version -o json``: Coder's fields. ``slim``: this executable has no ``server``
    subcommand. Licensed AGPL-3.0; Python's cryptography links OpenSSL, not BoringCrypto."""
    when = build_time()
    return {"version": version(),
            "build_time": when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else ZERO_TIME,
            "external_url": "", "slim": slim, "agpl": True, "boring_crypto": False,
            "appliance_version": __version__}


def _stamp() -> str:
    """The build time as Go's time.UnixDate writes it ("Mon Jan _2 15:04:05 MST 2006")."""
    when = build_time()
    return f" {when:%a %b} {when.day:2d} {when:%H:%M:%S} UTC {when.year}" if when else ""


def text(slim: bool) -> str:
    """``coder version`` and ``coder --version``: Coder's text, and what this build is."""
    build = ("Slim build of Coder, does not support the server subcommand (coderd serves)."
             if slim else "Full build of Coder, supports the server subcommand.")
    return f"Coder (AGPL) {version()}{_stamp()}\n\n{build}\n{appliance()}\n{OFFLINE}"


def appliance() -> str:
    """Which appliance release this is, and which Coder release it follows."""
    return f"coder-appliance {__version__}, following Coder v{CODER_VERSION}."


def program(name: str) -> str:
    """``--version`` of an executable that is not Coder's: ``appliance``."""
    return f"{name} (coder-appliance {__version__}) {version()}{_stamp()}"
