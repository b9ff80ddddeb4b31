"""The two package hashes terraform records in lock files and mirror JSON.

``zh:`` is the hex sha256 of the zip as distributed (what the registry's
SHA256SUMS lists). ``h1:`` is Go's ``dirhash.Hash1`` over the files *inside*
the zip, so it stays the same whether terraform sees the zip (network mirror)
or an unpacked folder (filesystem mirror, plugin cache): this is the hash a
lock file written from a mirror holds, and the one that must match across
every machine of the network.
"""
from __future__ import annotations

import base64
import hashlib
import os
import zipfile

from mirror_tools.fetch import CHUNK


def zh(sha256_hex: str) -> str:
    return f"zh:{sha256_hex}"


def h1_zip(path: str | os.PathLike) -> str:
    """``dirhash.HashZip(path, dirhash.Hash1)``: sha256 over sorted "HEX  NAME" lines.

    Every entry counts, folders included, exactly as Go's HashZip lists them.
    """
    lines = []
    with zipfile.ZipFile(path) as z:
        for info in sorted(z.infolist(), key=lambda i: i.filename):
            if "\n" in info.filename:
                raise ValueError(f"{path}: zip entry name {info.filename!r} contains a newline")
            h = hashlib.sha256()
            with z.open(info) as f:
                for chunk in iter(lambda: f.read(CHUNK), b""):
                    h.update(chunk)
            lines.append(f"{h.hexdigest()}  {info.filename}\n")
    summary = hashlib.sha256("".join(lines).encode()).digest()
    return "h1:" + base64.b64encode(summary).decode()
