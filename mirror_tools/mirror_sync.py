"""Bring a mirror folder up to date with a manifest: providers, terraform, images.

Providers and terraform are fetched into ``.partial/`` first and committed in
one step only when every one of them checked out, so a bad signature or a
missing provider leaves the mirror exactly as it was. Zips merged locally
(``appliance mirror add-zip``) are not in the manifest and are kept. Images
go to ``OUT/images/`` (an OCI image layout) through ``mirror_tools.images``,
which commits its own layout atomically; it runs after every provider checked
out and before they are committed, so a failing image changes nothing either.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from mirror_tools import fetch
from mirror_tools.manifest import Manifest
from mirror_tools.mirror_state import IMAGES, MirrorDir, disk_error
from mirror_tools.providers.layout import derived_files
from mirror_tools.providers.sync import Fetched, SyncError, fetch_providers
from mirror_tools.terraform_release import fetch_terraform

@dataclass
class SyncReport:
    downloaded: int = 0
    kept: int = 0
    removed: list[str] = field(default_factory=list)
    images: int = 0


def sync(manifest: Manifest, out: str | os.PathLike, *, jobs: int = 4, retries: int = 4,
         progress: fetch.Progress | None = None) -> SyncReport:
    """Fetch, verify and commit everything the manifest names; raise SyncError if anything fails."""
    manifest.check_files()
    progress = progress or fetch.Progress("mirror-sync")
    session_factory = functools.partial(fetch.session, retries=retries)
    report = SyncReport()
    with MirrorDir.locked(out) as mirror:
        fetched = [fetch_providers(manifest, mirror, session_factory, progress, jobs)]
        if manifest.terraform:
            fetched.append(fetch_terraform(manifest.terraform, mirror, session_factory, progress))
        fetched.append(Fetched({rel: e for rel, e in mirror.files.items()
                                if e.get("origin") == "local" and mirror.present(rel)}, {}))
        if manifest.images:
            # Before the provider commit: a failed image leaves both parts as they were.
            result = _sync_images(manifest, Path(out), session_factory, progress, jobs)
            report.images = len(result.images)
            report.downloaded += result.downloaded
        entries = {rel: e for f in fetched for rel, e in f.entries.items()}
        staged = {rel: p for f in fetched for rel, p in f.staged.items()}
        report.removed = mirror.commit(entries, staged, derived_files(entries))
        report.downloaded += sum(f.downloaded for f in fetched)
        report.kept = len(entries) - len(staged)
    progress.finish()
    return report


def _sync_images(manifest: Manifest, out: Path, session_factory, progress, jobs: int):
    """Images go to ``OUT/images`` through mirror_tools.images (its own atomic layout)."""
    try:
        from mirror_tools.images.oci_layout import LayoutError
        from mirror_tools.images.registry import RegistryError
        from mirror_tools.images.sync import sync_images
    except ImportError as exc:
        raise SyncError([f"images: this build cannot sync container images ({exc})"]) from exc
    try:
        return sync_images(list(manifest.images), out, session_factory=session_factory,
                           progress=progress, jobs=jobs)
    except (RegistryError, LayoutError, fetch.FetchError) as exc:
        raise SyncError([f"images: {exc}"]) from exc
    except OSError as exc:
        raise SyncError([str(disk_error(exc, f"images in {out / IMAGES}"))]) from exc
