"""Pull the manifest's images into ``OUT/images``, an OCI image layout.

Two phases, so a bad image costs nothing: first every reference is resolved
(manifests fetched and verified, platforms chosen), and only when all of them
resolve are the missing blobs downloaded, in parallel, each verified against
its digest. ``index.json`` is rewritten last. A missing tag, a 500 or a digest
mismatch therefore leaves the previous layout exactly as it was (blobs fetched
before a failure stay, unreferenced, and are reused by the next run).

Platforms: for an index (or Docker manifest list) the requested platforms'
manifests are kept. When they are all of the index's platforms (or none is
named), the index itself is stored under the reference, byte for byte, so the
multi-arch digest survives. One platform is stored as that platform's
manifest. Several but not all give a filtered index (a new digest, recorded
with the source index's digest in the ``io.coder-appliance.source-digest``
annotation): a registry refuses an index whose manifests it doesn't hold.
"""
from __future__ import annotations

import json
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence

import requests

from mirror_tools import fetch
from mirror_tools.images.oci_layout import (REF_NAME, SOURCE_DIGEST, Image, Layout,
                                            parse_manifest)
from mirror_tools.images.registry import (Manifest, RegistryClient,
                                          RegistryError, _media_type_of, parse_reference,
                                          sha256_digest)


class ImageLike(Protocol):
    """What sync needs of ``mirror_tools.manifest.ImageSpec``."""

    ref: str
    platforms: Sequence[str]
    registry: Any  # mirror_tools.manifest.RegistryAccess | None


@dataclass
class _Resolved:
    name: str
    repository: str
    client: RegistryClient
    stored: Manifest
    descriptor_extra: dict
    manifests: list[Manifest]
    blobs: dict[str, int]
    platforms: list[str]


@dataclass
class SyncResult:
    images: list[dict] = field(default_factory=list)
    downloaded: int = 0
    reused: int = 0
    bytes: int = 0


def sync_images(images: Iterable[ImageLike], out_dir, *,
                session_factory: Callable[..., requests.Session] = fetch.session,
                progress: fetch.Progress | None = None, jobs: int = 4) -> SyncResult:
    """Bring ``out_dir/images`` up to date with ``images``; returns what was done.

    ``session_factory(ca_bundle=...)`` makes one session per registry host;
    ``progress`` is advanced per blob and left for the caller to finish.
    """
    images = list(images)
    names = [str(parse_reference(spec.ref)) for spec in images]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise RegistryError(f"{name}: listed twice (as {images[names.index(name)].ref!r} "
                                f"and {images[i].ref!r}); merge the entries")
    layout = Layout(Path(out_dir) / "images")
    layout.images()  # an unreadable index.json fails now, before any download
    clients = _Clients(session_factory)
    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        resolved = _all(pool, lambda spec: _resolve(spec, clients, layout), images)
        todo: dict[str, tuple[_Resolved, int]] = {}
        reused = set()
        for r in resolved:
            for digest, size in r.blobs.items():
                if layout.has_blob(digest, size):
                    reused.add(digest)
                else:
                    todo.setdefault(digest, (r, size))
        if progress:
            progress.add_items(len(todo))

        def pull(item):
            digest, (r, _) = item
            r.client.download_blob(r.repository, digest, layout.blob_path(digest),
                                   f"{r.name}: blob {digest}", progress)
            if progress:
                progress.item_done(digest)

        _all(pool, pull, list(todo.items()))
    for r in resolved:
        for m in r.manifests:
            layout.write_blob(m.data, m.digest)
    layout.write_index(Image(r.name, {"mediaType": r.stored.media_type,
                                      "digest": r.stored.digest,
                                      "size": len(r.stored.data),
                                      **r.descriptor_extra})
                       for r in resolved)
    layout.prune()
    return SyncResult(
        images=[{"ref": r.name, "digest": r.stored.digest, "media_type": r.stored.media_type,
                 "platforms": r.platforms, "blobs": len(r.blobs)} for r in resolved],
        downloaded=len(todo), reused=len(reused),
        bytes=sum(size for _, size in todo.values()))


def _all(pool: ThreadPoolExecutor, fn, items: list) -> list:
    """Run ``fn`` over ``items`` in the pool; stop at the first failure and raise it."""
    futures = [pool.submit(fn, item) for item in items]
    done, pending = wait(futures, return_when=FIRST_EXCEPTION)
    for f in pending:
        f.cancel()
    for f in futures:
        if f.done() and not f.cancelled() and f.exception():
            raise f.exception()
    return [f.result() for f in futures]


class _Clients:
    """One registry client (and session) per host, made on first use."""

    def __init__(self, session_factory):
        self.session_factory = session_factory
        self.clients: dict[str, RegistryClient] = {}
        self.lock = threading.Lock()

    def get(self, host: str, access) -> RegistryClient:
        with self.lock:
            if host not in self.clients:
                ca = getattr(access, "ca_bundle", None)
                self.clients[host] = RegistryClient(
                    host, self.session_factory(ca_bundle=ca),
                    base_url=getattr(access, "url", None),
                    username=getattr(access, "username", None),
                    password=access.password() if access else None,
                    insecure=getattr(access, "insecure", False),
                    auth_hosts=getattr(access, "auth_hosts", ()))
            return self.clients[host]


def _manifest(client: RegistryClient, layout: Layout, repository: str, pin: str,
              what: str) -> Manifest:
    """A manifest by digest from the layout when already there, else from the registry."""
    if pin.startswith("sha256:") and layout.has_blob(pin):
        data = layout.read_blob(pin)
        if sha256_digest(data) == pin:
            return Manifest(data, _media_type_of(data, what), pin)
    return client.get_manifest(repository, pin, what)


def _resolve(spec: ImageLike, clients: _Clients, layout: Layout) -> _Resolved:
    ref = parse_reference(spec.ref)
    name = str(ref)
    client = clients.get(ref.registry, spec.registry)
    top = _manifest(client, layout, ref.repository, ref.pin, name)
    extra: dict = {"annotations": {REF_NAME: name}}
    if not top.is_index:
        children, stored, manifests = [top], top, [top]
        platforms = list(spec.platforms)
    else:
        entries = parse_manifest(top).get("manifests") or []
        chosen = _choose(entries, spec.platforms, name)
        platforms = [_platform_text(e.get("platform") or {}) for e in chosen]
        children = [_manifest(client, layout, ref.repository, e["digest"], f"{name} ({p})")
                    for e, p in zip(chosen, platforms)]
        for child, p in zip(children, platforms):
            if child.is_index:
                raise RegistryError(f"{name} ({p}): nested image indexes are not supported")
        if len(chosen) == len(entries):
            stored = top
        elif len(chosen) == 1:
            stored = children[0]
            extra["platform"] = chosen[0]["platform"]
            extra["annotations"][SOURCE_DIGEST] = top.digest
        else:
            doc = {**parse_manifest(top), "manifests": chosen}
            data = json.dumps(doc, indent=2).encode()
            stored = Manifest(data, top.media_type, sha256_digest(data))
            extra["annotations"][SOURCE_DIGEST] = top.digest
        manifests = [stored, *children] if stored is not children[0] else children
    blobs: dict[str, int] = {}
    for child in children:
        blobs.update(_blobs_of(child, name))
    return _Resolved(name, ref.repository, client, stored, extra, manifests, blobs, platforms)


def _blobs_of(manifest: Manifest, what: str) -> dict[str, int]:
    doc = parse_manifest(manifest)
    try:
        return {d["digest"]: int(d["size"]) for d in [doc["config"], *doc.get("layers", [])]}
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryError(f"{what}: manifest {manifest.digest} is malformed "
                            f"(missing or bad config/layers: {exc})") from exc


def _platform_text(p: dict) -> str:
    parts = [p.get("os", "?"), p.get("architecture", "?")]
    if p.get("variant"):
        parts.append(p["variant"])
    return "/".join(parts)


def _choose(entries: list[dict], platforms: Sequence[str], what: str) -> list[dict]:
    """The index entries matching ``platforms`` (all entries when none is named)."""
    if not platforms:
        return list(entries)
    chosen = []
    for wanted in platforms:
        os_, arch, *variant = wanted.split("/")
        match = [e for e in entries
                 if (e.get("platform") or {}).get("os") == os_
                 and e["platform"].get("architecture") == arch
                 and (not variant or e["platform"].get("variant") == variant[0])]
        if not match:
            have = ", ".join(_platform_text(e.get("platform") or {}) for e in entries)
            raise RegistryError(f"{what}: no manifest for platform {wanted} "
                                f"(the index has: {have or 'none'})")
        if match[0] not in chosen:
            chosen.append(match[0])
    return sorted(chosen, key=entries.index)
