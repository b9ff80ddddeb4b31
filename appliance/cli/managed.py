"""A block of lines this CLI owns in a user's file (``~/.ssh/config`` for config-ssh,
a shell's startup file for completion), between two marker lines: written, replaced
where it stands or removed without touching the rest, through a temporary file and a
rename, so the file is never left half-written."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .base import CommandError


def replace_block(text: str, new: str, start_marker: str, end_marker: str) -> str:
    """``text`` with its managed block replaced by ``new`` where it stands (``new`` empty:
    removed), or ``new`` appended when there is none; nothing else changes."""
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0:
        if not new:
            return text
        return (text.rstrip("\n") + "\n\n" if text.strip() else "") + new
    if end < start:
        raise CommandError(f"the file has a {start_marker!r} line without its "
                           f"{end_marker!r} line", hint="Fix the file by hand, then run the "
                                                        "command again.")
    head, tail = text[:start], text[end + len(end_marker):].lstrip("\n")
    if not new:
        return head.rstrip("\n") + ("\n" if head.strip() else "") + tail
    return head + new + ("\n" + tail if tail else "")


def write_atomic(path: Path, text: str) -> None:
    """``text`` as ``path``'s whole content; the file keeps its mode (a new one is 0600)."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o600
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
