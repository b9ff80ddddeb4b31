"""Carry the terraform binary, laid out as HashiCorp's releases site lays it out.

``RELEASES/terraform/VERSION/`` holds ``terraform_VERSION_OS_ARCH.zip``,
``terraform_VERSION_SHA256SUMS`` and its detached signature
``terraform_VERSION_SHA256SUMS.sig``. The mirror keeps the same three files
under ``terraform/VERSION/``, so the offline side checks them exactly as one
would online, and a mirror can itself be the ``releases_url`` of another.
SHA256SUMS must be signed by the key the manifest names (HashiCorp's release
key in production, the test fixture's key in tests).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import requests

from mirror_tools.fetch import FetchError, Progress
from mirror_tools.manifest import TerraformSpec
from mirror_tools.mirror_state import MirrorDir
from mirror_tools.providers.signing import expected_sha256, fetch_signed_sums
from mirror_tools.providers.sync import Fetched, SyncError

TERRAFORM = "terraform"


def release_files(version: str) -> tuple[str, str]:
    """The SHA256SUMS and signature file names of a release."""
    sums = f"terraform_{version}_SHA256SUMS"
    return sums, f"{sums}.sig"


def zip_name(version: str, platform: str) -> str:
    return f"terraform_{version}_{platform}.zip"


def fetch_terraform(spec: TerraformSpec, mirror: MirrorDir,
                    session_factory: Callable[..., requests.Session],
                    progress: Progress) -> Fetched:
    base = f"{TERRAFORM}/{spec.version}"
    sums_name, sig_name = release_files(spec.version)
    zips = {f"{base}/{zip_name(spec.version, p)}": p for p in spec.platforms}
    wanted = [f"{base}/{sums_name}", f"{base}/{sig_name}", *zips]
    present = {rel: mirror.present(rel) for rel in wanted}
    if all(present.values()):
        return Fetched(dict(present), {})
    what = f"terraform {spec.version}"
    url = f"{spec.releases_url}/{TERRAFORM}/{spec.version}"
    session = session_factory(ca_bundle=spec.ca_bundle)
    keys = [Path(spec.signing_keys).read_text()]
    try:
        signed = fetch_signed_sums(session, f"{url}/{sums_name}", f"{url}/{sig_name}", keys,
                                   what=what)
        out = Fetched({}, {})
        for rel, content, kind in ((f"{base}/{sums_name}", signed.content, "terraform-sums"),
                                   (f"{base}/{sig_name}", signed.signature, "terraform-sig")):
            path, sha = mirror.stage_bytes(content, what=f"{what} {rel.rsplit('/', 1)[1]}")
            out.entries[rel] = {"kind": kind, "version": spec.version, "sha256": sha,
                                "size": len(content)}
            out.staged[rel] = path
        progress.add_items(sum(1 for rel in zips if not present[rel]))
        for rel, platform in zips.items():
            name = rel.rsplit("/", 1)[1]
            sha = expected_sha256(signed, name, what=f"{what} {platform}")
            if present[rel] and present[rel]["sha256"] == sha:
                out.entries[rel] = present[rel]
                continue
            path = mirror.stage_download(session, f"{url}/{name}", sha,
                                         what=f"{what} {platform} ({name})", progress=progress)
            out.entries[rel] = {"kind": "terraform", "version": spec.version,
                                "platform": platform, "sha256": sha, "size": path.stat().st_size}
            out.staged[rel] = path
            out.downloaded += 1
            progress.item_done(rel)
    except FetchError as exc:
        raise SyncError([str(exc)]) from exc
    return out
