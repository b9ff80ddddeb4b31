"""Merge provider zips built locally (the appliance's own terraform-provider-coder)
into a mirror, beside the ones synced from registries.

The zip is named as a registry would name it
(``terraform-provider-TYPE_VERSION_OS_ARCH.zip``), hashed (``zh:``, ``h1:``)
and committed through the same path as a sync, so the network-mirror JSON and
the lock file include it. It is recorded with ``origin: local``, which keeps it
across later syncs of a manifest that does not name it.
"""
from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

from appliance.fileio import sha256_file
from mirror_tools.fetch import FetchError
from mirror_tools.manifest import parse_provider_source
from mirror_tools.mirror_state import MirrorDir, disk_error
from mirror_tools.providers.hashes import h1_zip
from mirror_tools.providers.layout import ZIP_RE, derived_files, zip_path
from mirror_tools.providers.sync import provider_entry


def add_zip(root: str | os.PathLike, zip_file: str | os.PathLike, source: str) -> str:
    """Add ``zip_file`` as provider ``source``; return its path in the mirror."""
    zip_file = Path(zip_file)
    what = f"provider zip {zip_file}"
    try:
        host, namespace, ptype = parse_provider_source(source)
    except ValueError as exc:
        raise FetchError(f"{what}: {exc}") from None
    m = ZIP_RE.match(zip_file.name)
    if not m or m["type"] != ptype:
        raise FetchError(f"{what}: name it terraform-provider-{ptype}_VERSION_OS_ARCH.zip")
    try:
        with zipfile.ZipFile(zip_file) as z:
            if not any(i.external_attr >> 16 & 0o111 for i in z.infolist()):
                raise FetchError(f"{what}: no entry is executable; terraform could not run "
                                 "the provider (zip it with its executable bit)")
        h1 = h1_zip(zip_file)
    except (OSError, zipfile.BadZipFile) as exc:
        raise FetchError(f"{what}: not a readable zip: {exc}") from None
    sha = sha256_file(zip_file)
    source = f"{host}/{namespace}/{ptype}"
    rel = zip_path(source, m["version"], f"{m['os']}_{m['arch']}")
    with MirrorDir.locked(root) as mirror:
        staged = mirror.staged(sha)
        try:
            staged.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(zip_file, staged)
        except OSError as exc:
            raise disk_error(exc, what) from exc
        entries = dict(mirror.files)
        entries[rel] = provider_entry(source, m["version"], f"{m['os']}_{m['arch']}", sha,
                                      staged.stat().st_size, h1, "local")
        mirror.commit(entries, {rel: staged}, derived_files(entries))
    return rel
