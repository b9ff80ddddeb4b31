"""Where provider files live in a mirror, and the files derived from them.

One tree serves both of terraform's mirror kinds, as ``terraform providers
mirror`` writes it: the zips in the *packed* filesystem-mirror layout
(``HOST/NAMESPACE/TYPE/terraform-provider-TYPE_VERSION_OS_ARCH.zip``), and
beside them the network-mirror protocol's ``index.json`` and ``VERSION.json``
whose archive URLs are relative, so the folder can be served as it is.
The ``.terraform.lock.hcl`` written at the top pins the newest mirrored
version of each provider with ``h1:`` for every platform (what a lock file
made from a mirror needs) and the ``zh:`` of each zip.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict

from mirror_tools.providers.versions import Version

PROVIDERS = "providers"
LOCK_FILE = ".terraform.lock.hcl"
ZIP_RE = re.compile(r"^terraform-provider-(?P<type>[0-9a-z_-]+?)_(?P<version>\d[^_]*)_"
                    r"(?P<os>[a-z0-9]+)_(?P<arch>[a-z0-9]+)\.zip$")


def zip_name(ptype: str, version: str, platform: str) -> str:
    return f"terraform-provider-{ptype}_{version}_{platform}.zip"


def zip_path(source: str, version: str, platform: str) -> str:
    """The zip's path relative to the mirror root."""
    ptype = source.rsplit("/", 1)[1]
    return f"{PROVIDERS}/{source}/{zip_name(ptype, version, platform)}"


def provider_entries(files: dict[str, dict]) -> dict[str, dict[str, dict[str, tuple[str, dict]]]]:
    """Group state entries: source -> version -> platform -> (rel path, entry)."""
    out: dict = defaultdict(lambda: defaultdict(dict))
    for rel, e in files.items():
        if e.get("kind") == "provider":
            out[e["source"]][e["version"]][e["platform"]] = (rel, e)
    return out


def derived_files(files: dict[str, dict]) -> dict[str, bytes]:
    """Network-mirror JSON for every provider, plus the lock file (rel path -> content)."""
    out: dict[str, bytes] = {}
    grouped = provider_entries(files)
    for source, versions in grouped.items():
        base = f"{PROVIDERS}/{source}"
        out[f"{base}/index.json"] = _json({"versions": {v: {} for v in _sorted(versions)}})
        for version, platforms in versions.items():
            archives = {p: {"url": rel.rsplit("/", 1)[1], "hashes": [e["h1"], f"zh:{e['sha256']}"]}
                        for p, (rel, e) in sorted(platforms.items())}
            out[f"{base}/{version}.json"] = _json({"archives": archives})
    if grouped:
        out[LOCK_FILE] = lock_file(grouped).encode()
    return out


LOCK_HEADER = ('# This file is maintained automatically by "terraform init".\n'
               "# Manual edits may be lost in future updates.\n")


def lock_file(grouped: dict) -> str:
    """``.terraform.lock.hcl`` in terraform's own formatting, newest version per provider."""
    parts = [LOCK_HEADER]
    for source in sorted(grouped):
        versions = grouped[source]
        newest = _sorted(versions)[-1]
        parts.append(lock_block(source, newest,
                                [h for _, e in versions[newest].values()
                                 for h in (e["h1"], f"zh:{e['sha256']}")]))
    return "".join(parts)


def lock_block(source: str, version: str, hashes, constraints: str = "") -> str:
    """One provider's block of a lock file, as terraform formats it."""
    lines = "".join(f'    "{h}",\n' for h in sorted(set(hashes)))
    pinned = (f'  version     = "{version}"\n  constraints = "{constraints}"\n' if constraints
              else f'  version = "{version}"\n')
    return f'\nprovider "{source}" {{\n{pinned}  hashes = [\n{lines}  ]\n}}\n'


def _sorted(versions) -> list[str]:
    return sorted(versions, key=Version.parse)


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()
