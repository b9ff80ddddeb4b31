"""A complete ``.terraform.lock.hcl`` for each run, from the hashes the mirror records.

Installing from a mirror, terraform can only hash the package for the platform
it runs on, so every ``init`` without a lock file warned "Incomplete lock file
information for providers". Before ``init``, the providers terraform lists for
the template get the version it would select from the mirror (the newest the
template's constraints allow) with every platform's ``h1:`` and ``zh:`` from
the mirror's ``VERSION.json``: terraform verifies its package against them and
has nothing to warn about. A template's own lock file wins, as in Coder: only
providers it leaves out are added. Whatever cannot be read (no index in the
mirror, an odd constraint) is left to terraform, which behaves as before.
Costs a ``terraform get`` and ``terraform providers`` (about 0.2 s) per run.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import requests

from appliance.sdk.trust import system_ca
from mirror_tools.providers.layout import LOCK_FILE, LOCK_HEADER, PROVIDERS, lock_block
from mirror_tools.providers.versions import ConstraintError, matching

from .terraform import MirrorConfig, Terraform

_LOCKED = re.compile(r'^provider\s+"([^"]+)"', re.MULTILINE)
NETWORK_TIMEOUT_SECONDS = 10


class MirrorIndex:
    """The network-mirror JSON of the mirrors a run installs from, first found wins (the
    order of the CLI configuration)."""

    def __init__(self, mirrors: MirrorConfig, http: requests.Session):
        self.mirrors = mirrors
        self.http = http

    def read(self, rel: str) -> dict | None:
        if self.mirrors.filesystem_mirror:
            root = Path(self.mirrors.filesystem_mirror)
            root = root / PROVIDERS if (root / PROVIDERS).is_dir() else root
            try:
                return json.loads((root / rel).read_text())
            except (OSError, ValueError):
                pass
        if self.mirrors.network_mirror_url:
            url = self.mirrors.network_mirror_url.rstrip("/") + "/" + rel
            try:
                answer = self.http.get(url, timeout=NETWORK_TIMEOUT_SECONDS)
                answer.raise_for_status()
                return answer.json()
            except (requests.RequestException, ValueError):
                pass
        return None

    def lock_block(self, source: str, constraints: list[str]) -> str:
        """The block terraform would write for ``source`` had it every platform's hashes,
        or "" when the mirror cannot tell."""
        index = self.read(f"{source}/index.json") or {}
        try:
            allowed = matching(", ".join(constraints) or ">= 0", index.get("versions") or {})
        except (ConstraintError, AttributeError):
            return ""
        if not allowed:
            return ""
        archives = (self.read(f"{source}/{allowed[0]}.json") or {}).get("archives") or {}
        hashes = [h for archive in archives.values() for h in archive.get("hashes", [])]
        return lock_block(source, allowed[0], hashes, ", ".join(constraints)) if hashes else ""


def complete(tf: Terraform, mirrors: MirrorConfig) -> None:
    """Add the mirror's lock entries for the providers the template's lock file lacks."""
    required = tf.required_providers()
    lock = tf.workdir / LOCK_FILE
    text = lock.read_text(errors="replace") if lock.is_file() else LOCK_HEADER
    present = set(_LOCKED.findall(text))
    with requests.Session() as http:  # one connection for the run's index and version reads
        http.verify = system_ca()
        index = MirrorIndex(mirrors, http)
        blocks = [index.lock_block(source, constraints)
                  for source, constraints in sorted(required.items()) if source not in present]
    if any(blocks):
        lock.write_text(text + "".join(blocks))
