"""Push an OCI layout's images into the offline registry (``appliance images push``).

Each image keeps its repository path and tag on the target registry:
``docker.io/library/alpine:3.19`` becomes ``REGISTRY/library/alpine:3.19``
(``ghcr.io/coder/coder:v2`` becomes ``REGISTRY/coder/coder:v2``), and its
digest is unchanged since blobs and manifests are pushed byte for byte.

Work is skipped wherever the registry already has it: an image whose tag
already points at the same digest is left alone, a blob the repository has
(HEAD) is not sent, a blob pushed into another repository in this run is
mounted rather than uploaded. Chunked uploads record their upload location
in a small journal after every chunk, so an interrupted push resumes from the
registry's recorded offset next time instead of starting the blob again.
"""
from __future__ import annotations

import json
import os
import re
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import requests

from appliance.fileio import atomic_write
from mirror_tools import fetch
from mirror_tools.images.oci_layout import Image, Layout, LayoutError
from mirror_tools.images.registry import CHUNK_SIZE, Manifest, RegistryClient, parse_reference
from mirror_tools.images.sync import _all, _blobs_of


def target_path(name: str) -> tuple[str, str]:
    """(repository, tag or digest) an image keeps on the target registry."""
    ref = parse_reference(name)
    return ref.repository, ref.tag or ref.digest


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "coder-appliance" / "image-push"


class UploadJournal:
    """Upload locations of unfinished blob uploads, saved after every chunk."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        try:
            self.entries: dict[str, str] = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            self.entries = {}

    def get(self, key: str) -> str | None:
        with self.lock:
            return self.entries.get(key)

    def set(self, key: str, location: str | None) -> None:
        with self.lock:
            if location is None and key not in self.entries:
                return
            if location is None:
                del self.entries[key]
            else:
                self.entries[key] = location
            with atomic_write(self.path, perms=0o600) as f:
                f.write(json.dumps(self.entries, indent=1).encode())


@dataclass
class PushResult:
    images: list[dict] = field(default_factory=list)
    uploaded: int = 0
    mounted: int = 0
    present: int = 0
    bytes: int = 0


def push_layout(layout_dir: str | os.PathLike, registry: str, *,
                session: requests.Session | None = None, plain_http: bool = False,
                username: str | None = None, password: str | None = None,
                auth_hosts: Sequence[str] = (),
                only: Sequence[str] = (), state_dir: Path | None = None, jobs: int = 4,
                chunk_size: int = CHUNK_SIZE, progress: fetch.Progress | None = None,
                on_bytes: Callable[[int], None] | None = None) -> PushResult:
    """Push every image of the layout (or those named in ``only``) to ``registry``.

    ``plain_http`` is the explicit choice of a registry without TLS (the login
    then travels in clear, to that host only); ``auth_hosts`` are other hosts
    whose token endpoint may receive the login. ``on_bytes`` is called with
    each uploaded amount (progress; tests use it to interrupt a push midway).
    """
    layout = Layout(layout_dir)
    images = _select(layout, only)
    # Which repositories of the layout hold each blob: an earlier push of one
    # of them lets the registry mount the blob instead of receiving it again
    # (a refused mount costs nothing: the registry opens an upload instead).
    holders: dict[str, list[str]] = defaultdict(list)
    for img in layout.images():
        for _, blob_digest in _blob_sizes(layout, img):
            holders[blob_digest].append(target_path(img.name)[0])
    client = RegistryClient(registry, session or fetch.session(),
                            base_url=f"http://{registry}" if plain_http else None,
                            username=username, password=password, insecure=plain_http,
                            auth_hosts=auth_hosts)
    client.ping()
    journal = UploadJournal((state_dir or default_state_dir())
                            / (re.sub(r"[^\w.-]", "_", registry) + ".json"))
    result = PushResult()
    lock = threading.Lock()
    plans = []
    for img in images:
        repository, tag = target_path(img.name)
        what = f"{img.name} -> {registry}/{repository}:{tag}"
        if client.manifest_digest(repository, tag, what) == img.digest:
            result.images.append(_row(img, registry, repository, tag, "present"))
            continue
        plans.append((img, repository, tag, what, _manifests(layout, img)))
    # digest -> [(repository, size, what)], so a blob shared by several
    # repositories is uploaded once and mounted into the others.
    wanted: dict[str, list] = defaultdict(list)
    for img, repository, _, what, _ in plans:
        for size, digest in _blob_sizes(layout, img):
            if all(repo != repository for repo, _, _ in wanted[digest]):
                wanted[digest].append((repository, size, what))
    if progress:
        progress.add_items(len(wanted))

    def count(n: int) -> None:
        with lock:
            result.bytes += n
        if progress:
            progress.advance(n)
        if on_bytes:
            on_bytes(n)

    def push_blob(item) -> None:
        digest, targets = item
        source = None
        for repository, size, what in targets:
            outcome = "present"
            if not client.blob_exists(repository, digest, what):
                key = f"{repository}@{digest}"
                source = source or next((r for r in holders[digest] if r != repository), None)
                outcome = client.upload_blob(
                    repository, digest, layout.blob_path(digest), f"{what}: blob {digest}",
                    mount_from=source, resume=journal.get(key),
                    on_location=lambda loc, key=key: journal.set(key, loc),
                    on_bytes=count, chunk_size=chunk_size)
            source = repository
            with lock:
                setattr(result, outcome, getattr(result, outcome) + 1)
        if progress:
            progress.item_done(digest)

    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        _all(pool, push_blob, list(wanted.items()))
    if progress:
        progress.finish()
    for img, repository, tag, what, manifests in plans:
        for m in reversed(manifests):  # children before the index naming them
            client.put_manifest(repository, tag if m.digest == img.digest else m.digest, m, what)
        result.images.append(_row(img, registry, repository, tag, "pushed"))
    return result


def _select(layout: Layout, only: Sequence[str]) -> list[Image]:
    images = layout.images()
    if not images:
        raise LayoutError(f"{layout.root}: no images (is it an OCI layout written by "
                          f"mirror-sync? expected index.json with named images)")
    if only:
        names = {str(parse_reference(n)): n for n in only}
        missing = [n for key, n in names.items() if key not in {i.name for i in images}]
        if missing:
            raise LayoutError(f"{layout.root}: no image named {', '.join(missing)}")
        images = [i for i in images if i.name in names]
    targets: dict[tuple[str, str], Image] = {}
    for img in images:
        other = targets.setdefault(target_path(img.name), img)
        if other.digest != img.digest:
            raise LayoutError(f"{img.name} and {other.name} would both be pushed as "
                              f"{':'.join(target_path(img.name))} with different digests; "
                              f"push them separately with --image")
    return images


def _blob_sizes(layout: Layout, img: Image) -> list[tuple[int, str]]:
    """(size, digest) of every config and layer of an image (all its platforms)."""
    return [(size, digest) for m in _manifests(layout, img) if not m.is_index
            for digest, size in _blobs_of(m, img.name).items()]


def _manifests(layout: Layout, img: Image) -> list[Manifest]:
    """The image's manifest, then the children of an index that the layout holds."""
    top = layout.read_manifest(img.descriptor)
    out = [top]
    for kind, d in layout.referenced(top):
        if kind == "manifest":
            out.append(layout.read_manifest(d))
    return out


def _row(img: Image, registry: str, repository: str, tag: str, status: str) -> dict:
    sep = "@" if tag.startswith("sha256:") else ":"
    return {"image": img.name, "target": f"{registry}/{repository}{sep}{tag}",
            "digest": img.digest, "status": status}
