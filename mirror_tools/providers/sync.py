"""Fetch the providers a manifest names into a mirror's ``.partial/`` folder.

Three steps, so nothing is downloaded before everything is known to exist:

1. *resolve*: list each provider's versions (one request per provider) and
   pick the versions and platforms the manifest asks for; a zip the mirror
   already holds is kept as it is, which is why a re-sync with nothing
   changed downloads nothing;
2. *check*: for each missing version, ask the registry where each platform's
   zip is, fetch SHA256SUMS and its signature once, verify them against the
   registry's published key, which must be pinned for the provider's
   namespace, and take each zip's expected sha256 from the signed file;
3. *download* the zips in parallel into ``.partial/`` against those hashes and
   compute their ``h1:``.

Errors are collected per provider and reported together; the caller commits
only when there are none, so a failure leaves the mirror as it was.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import requests

from mirror_tools.fetch import FetchError, Progress
from mirror_tools.manifest import Manifest, ProviderSpec
from mirror_tools.mirror_state import MirrorDir
from mirror_tools.providers.hashes import h1_zip
from mirror_tools.providers.layout import zip_name, zip_path
from mirror_tools.providers.registry import RegistryClient
from mirror_tools.providers.signing import (SignedSums, expected_sha256, fetch_signed_sums,
                                            pinned_signers)
from mirror_tools.providers.versions import matching

SessionFactory = Callable[..., requests.Session]


class SyncError(Exception):
    """One or more artefacts could not be mirrored; ``errors`` names each."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class Fetched:
    """What a fetch step produced: state entries to commit and the staged files behind them."""
    entries: dict[str, dict]
    staged: dict[str, Path]
    downloaded: int = 0


@dataclass(frozen=True)
class _Zip:
    spec: ProviderSpec
    version: str
    platform: str

    @property
    def rel(self) -> str:
        return zip_path(self.spec.source, self.version, self.platform)

    @property
    def what(self) -> str:
        return f"provider {self.spec.source} {self.version} {self.platform}"


def fetch_providers(manifest: Manifest, mirror: MirrorDir, session_factory: SessionFactory,
                    progress: Progress, jobs: int = 4) -> Fetched:
    clients: dict[str, RegistryClient] = {}
    for spec in manifest.providers:
        if spec.host not in clients:
            access = manifest.registry(spec.host)
            clients[spec.host] = RegistryClient(session_factory(ca_bundle=access.ca_bundle), access)
    with ThreadPoolExecutor(jobs) as pool:
        resolved = list(pool.map(lambda s: _resolve(clients[s.host], s), manifest.providers))
        errors = [e for zips, e in resolved if e]
        wanted = [z for zips, _ in resolved for z in zips]
        out = Fetched({}, {})
        missing: dict[tuple[ProviderSpec, str], list[_Zip]] = {}
        for z in wanted:
            entry = mirror.present(z.rel)
            if entry and entry.get("origin") == "registry":
                out.entries[z.rel] = entry
            else:
                missing.setdefault((z.spec, z.version), []).append(z)
        if errors:
            raise SyncError(errors)
        progress.add_items(sum(len(zs) for zs in missing.values()))
        checked = list(pool.map(lambda zs: _check(clients[zs[0].spec.host], zs), missing.values()))
        errors = [e for _, e in checked if e]
        if errors:
            raise SyncError(errors)
        todo = [item for items, _ in checked for item in items]
        results = list(pool.map(lambda item: _download(mirror, clients, item, progress), todo))
    errors = [r for r in results if isinstance(r, str)]
    if errors:
        raise SyncError(errors)
    for rel, path, entry in results:
        out.entries[rel] = entry
        out.staged[rel] = path
        out.downloaded += 1
    return out


def _resolve(client: RegistryClient, spec: ProviderSpec) -> tuple[list[_Zip], str | None]:
    """The zips the manifest asks for, or an error naming the provider."""
    try:
        available = client.versions(spec.namespace, spec.type)
    except FetchError as exc:
        return [], str(exc)
    versions: list[str] = []
    for constraint in spec.versions:
        found = matching(constraint, available)
        if not found:
            listed = ", ".join(matching(">= 0.0.0", available)[:10]) or "none"
            return [], (f"provider {spec.source}: no version matches {constraint!r} "
                        f"(the registry has: {listed})")
        for v in found if spec.select == "all" else found[:1]:
            if v not in versions:
                versions.append(v)
    zips = []
    for v in versions:
        for platform in spec.platforms:
            if available[v] and platform not in available[v]:
                return [], (f"provider {spec.source} {v}: no build for {platform} "
                            f"(the registry has: {', '.join(sorted(available[v]))})")
            zips.append(_Zip(spec, v, platform))
    return zips, None


def _check(client: RegistryClient, zips: list[_Zip]) -> tuple[list[tuple[_Zip, str, str]], str | None]:
    """Verify one version's signed SHA256SUMS; return (zip, url, sha256) for its platforms."""
    out = []
    sums: dict[str, SignedSums] = {}
    try:
        for z in zips:
            info = client.download_info(z.spec.namespace, z.spec.type, z.version, z.platform)
            if info.shasums_url not in sums:
                sums[info.shasums_url] = fetch_signed_sums(
                    client.session, info.shasums_url, info.shasums_signature_url,
                    list(info.gpg_public_keys), what=f"provider {z.spec.source} {z.version}",
                    pins=pinned_signers(client.access, z.spec.namespace))
            expected = zip_name(z.spec.type, z.version, z.platform)
            if info.filename != expected:
                raise FetchError(f"{z.what}: the registry names the zip {info.filename!r}, "
                                 f"expected {expected!r}")
            sha = expected_sha256(sums[info.shasums_url], info.filename, what=z.what,
                                  claimed=info.shasum)
            out.append((z, info.download_url, sha))
    except FetchError as exc:
        return [], str(exc)
    return out, None


def _download(mirror: MirrorDir, clients: dict[str, RegistryClient],
              item: tuple[_Zip, str, str], progress: Progress):
    """Download (or reuse) one staged zip; return (rel, path, entry) or an error string."""
    z, url, sha = item
    what = f"{z.what} ({url.rsplit('/', 1)[-1]})"
    try:
        path = mirror.stage_download(clients[z.spec.host].session, url, sha, what=what,
                                     progress=progress)
        h1 = h1_zip(path)
    except FetchError as exc:
        return str(exc)
    except (OSError, ValueError) as exc:
        return f"{what}: not a usable zip: {exc}"
    progress.item_done(z.rel)
    return z.rel, path, provider_entry(z.spec.source, z.version, z.platform, sha,
                                       path.stat().st_size, h1, "registry")


def provider_entry(source: str, version: str, platform: str, sha256: str, size: int,
                   h1: str, origin: str) -> dict:
    """A provider zip's line in mirror-state.json."""
    return {"kind": "provider", "source": source, "version": version, "platform": platform,
            "sha256": sha256, "size": size, "h1": h1, "origin": origin}
