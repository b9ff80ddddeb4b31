"""Files written whole or not at all, and hashed at disk speed.

Shared by what writes state a crash must not cut in half (the CLI's session
token, mirrors, the CA's keys) and what checks files by sha256 (bundle
manifests, mirrors). No ``requests`` here: commands that only write a file
do not pay for importing it.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

HASH_BUFFER = 4 * 1024 * 1024


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", perms: int = 0o644) -> Iterator[IO]:
    """Write to a temporary file beside ``path``; rename over it only on success.

    The temporary file is created 0600 and given ``perms`` just before the
    rename, so a private key (``perms=0o600``) is never readable by others.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, perms)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sha256_file(path: str | os.PathLike, buffer: int = HASH_BUFFER) -> str:
    """sha256 with big reads into one reused buffer: hashlib drops the GIL for
    them, so several threads hash several files at disk speed."""
    h = hashlib.sha256()
    buf = bytearray(buffer)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()
