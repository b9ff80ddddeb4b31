"""The ``coder`` CLI's config folder, laid out as Coder's CLI lays it out.

Coder keeps one small file per value in ``~/.config/coderv2`` (or
``$XDG_CONFIG_HOME/coderv2``, or ``$CODER_CONFIG_DIR``, or ``--global-config``):
``url`` holds the deployment's URL and ``session`` the session token, with no
trailing newline. Using the same folder and files means a machine that already
has Coder's CLI configured works with this one, and the other way round.

The session file is a credential: it is written 0600 through a temporary file
and a rename, so it is never readable by others nor left half-written.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from appliance.fileio import atomic_write

URL_FILE = "url"
SESSION_FILE = "session"


def default_dir(env: Mapping[str, str] = os.environ) -> Path:
    """``$CODER_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/coderv2``, else ``~/.config/coderv2``."""
    if env.get("CODER_CONFIG_DIR"):
        return Path(env["CODER_CONFIG_DIR"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "coderv2"


class ConfigDir:
    """One value per file; a missing file reads as ``""``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def read(self, name: str) -> str:
        try:
            return (self.path / name).read_text().strip()
        except FileNotFoundError:
            return ""

    def write(self, name: str, value: str) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with atomic_write(self.path / name, "w", perms=0o600) as f:
            f.write(value)

    def delete(self, name: str) -> bool:
        """Remove a value; False if it was not there."""
        try:
            (self.path / name).unlink()
            return True
        except FileNotFoundError:
            return False
