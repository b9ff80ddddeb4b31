"""The OCI image layout on disk: ``oci-layout``, ``index.json``, ``blobs/sha256/``.

Blobs are stored under their digest exactly as the registry served them, so a
blob shared by several images is stored once and every digest survives the
trip. Each blob is written to a temporary name, verified and renamed;
``index.json`` is written last and atomically, so a run killed at any moment
leaves the previous layout readable (extra blobs are harmless and reused).
Images are named by the ``org.opencontainers.image.ref.name`` annotation,
holding the full reference (``docker.io/library/alpine:3.19``), which is what
``skopeo ... oci:DIR:docker.io/library/alpine:3.19`` looks up.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from appliance.fileio import atomic_write
from mirror_tools.images.registry import (INDEX_TYPES, MANIFEST_TYPES, Manifest,
                                          RegistryError, _DIGEST, sha256_digest)

REF_NAME = "org.opencontainers.image.ref.name"
SOURCE_DIGEST = "io.coder-appliance.source-digest"
LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}


class LayoutError(Exception):
    """The layout on disk is unreadable or inconsistent; names the file."""


@dataclass(frozen=True)
class Image:
    """One named entry of ``index.json``."""

    name: str
    descriptor: dict

    @property
    def digest(self) -> str:
        return self.descriptor["digest"]

    @property
    def media_type(self) -> str:
        return self.descriptor["mediaType"]


class Layout:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def blob_path(self, digest: str) -> Path:
        if not _DIGEST.match(digest):
            raise LayoutError(f"{self.root}: unsupported digest {digest!r}")
        return self.root / "blobs" / "sha256" / digest.split(":", 1)[1]

    def has_blob(self, digest: str, size: int | None = None) -> bool:
        """Present with the right size (blobs are only ever renamed in verified)."""
        try:
            st = self.blob_path(digest).stat()
        except FileNotFoundError:
            return False
        return size is None or st.st_size == size

    def write_blob(self, data: bytes, digest: str | None = None) -> str:
        actual = sha256_digest(data)
        if digest and digest != actual:
            raise LayoutError(f"blob {digest}: content hashes to {actual}")
        if not self.has_blob(actual, len(data)):
            with atomic_write(self.blob_path(actual)) as f:
                f.write(data)
        return actual

    def read_blob(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError as exc:
            raise LayoutError(f"{self.root}: blob {digest} is missing") from exc

    def read_manifest(self, descriptor: dict) -> Manifest:
        data = self.read_blob(descriptor["digest"])
        return Manifest(data, descriptor["mediaType"], descriptor["digest"])

    def images(self) -> list[Image]:
        """The named images, in ``index.json`` order ([] for a new layout)."""
        path = self.root / "index.json"
        try:
            index = json.loads(path.read_bytes())
            entries = index["manifests"]
        except FileNotFoundError:
            return []
        except (ValueError, KeyError, TypeError) as exc:
            raise LayoutError(f"{path}: not an OCI image index: {exc}") from exc
        images = []
        for d in entries:
            name = (d.get("annotations") or {}).get(REF_NAME)
            if name and d.get("mediaType") in MANIFEST_TYPES:
                images.append(Image(name, d))
        return images

    def write_index(self, images: Iterable[Image]) -> None:
        """Make ``images`` the layout's content; ``index.json`` goes last, atomically."""
        marker = self.root / "oci-layout"
        if not marker.exists():
            with atomic_write(marker) as f:
                f.write(json.dumps(LAYOUT_VERSION).encode())
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [img.descriptor for img in images]}
        data = json.dumps(index, indent=2).encode() + b"\n"
        path = self.root / "index.json"
        if path.exists() and path.read_bytes() == data:
            return  # a no-op sync leaves the layout untouched
        with atomic_write(path) as f:
            f.write(data)

    def referenced(self, manifest: Manifest) -> Iterator[tuple[str, dict]]:
        """Every (kind, descriptor) a manifest points at, children of indexes included."""
        doc = parse_manifest(manifest)
        if manifest.media_type in INDEX_TYPES:
            for child in doc.get("manifests", []):
                if self.has_blob(child["digest"]):
                    yield "manifest", child
                    yield from self.referenced(self.read_manifest(child))
            return
        yield "blob", doc["config"]
        for layer in doc.get("layers", []):
            yield "blob", layer

    def describe(self, img: Image) -> dict:
        """A row for ``appliance images list``: platforms and the size of its blobs."""
        top = self.read_manifest(img.descriptor)
        platforms, sizes = [], {}
        manifests = [top] if top.media_type not in INDEX_TYPES else []
        for kind, d in self.referenced(top):
            sizes[d["digest"]] = d.get("size", 0)
            if kind == "manifest":
                manifests.append(self.read_manifest(d))
        for m in manifests:
            config = json.loads(self.read_blob(parse_manifest(m)["config"]["digest"]))
            platform = "/".join(filter(None, (config.get("os"), config.get("architecture"),
                                              config.get("variant"))))
            platforms.append(platform or "?")
        return {"name": img.name, "digest": img.digest, "media_type": img.media_type,
                "platforms": platforms, "size": sum(sizes.values())}

    def prune(self) -> int:
        """Delete blobs no named image reaches, and leftovers of killed runs."""
        keep = set()
        for img in self.images():
            keep.add(img.digest)
            keep.update(d["digest"] for _, d in self.referenced(self.read_manifest(img.descriptor)))
        removed = 0
        folder = self.root / "blobs" / "sha256"
        for path in folder.iterdir() if folder.is_dir() else ():
            if path.name.startswith(".") or f"sha256:{path.name}" not in keep:
                path.unlink()
                removed += 1
        return removed


def parse_manifest(manifest: Manifest) -> dict:
    try:
        doc = json.loads(manifest.data)
    except ValueError as exc:
        raise RegistryError(f"manifest {manifest.digest} is not JSON") from exc
    if not isinstance(doc, dict):
        raise RegistryError(f"manifest {manifest.digest} is not a JSON object")
    return doc
