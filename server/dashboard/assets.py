"""The dashboard's static files, served by coderd under names that carry their content's hash.

``static/app.css`` is served as ``/static/app.1f2e3d4c5b6a7980.css``: a browser may keep
it for a year without asking again (``immutable``), and a new coderd with a changed file
names it anew. The files are read once, at start-up (they ship inside coderd, and are
small), and only names in that table are served: no path from a request reaches the
file system. Text files (scripts, styles, SVG) are also gzipped once, then: a browser
that accepts gzip (every one) gets that, a quarter of the bytes for xterm.js.
"""
from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app, request

from ..httpapi import not_found

FOLDER = Path(__file__).resolve().parent / "static"
EXTENSION = "dashboard_assets"
FOREVER = 365 * 24 * 3600


@dataclass(frozen=True)
class Asset:
    url: str
    body: bytes
    mimetype: str
    etag: str
    gzipped: bytes | None  # the body gzipped, where that is smaller


def gzipped(body: bytes, mimetype: str) -> bytes | None:
    """``body`` gzipped, for text that shrinks by it (not for images already compressed)."""
    if not (mimetype.startswith("text/") or "javascript" in mimetype or "svg" in mimetype):
        return None
    packed = gzip.compress(body, compresslevel=9, mtime=0)
    return packed if len(packed) < len(body) else None


def hashed_name(relative: str, digest: str) -> str:
    """``vendor/htmx/htmx.min.js`` -> ``vendor/htmx/htmx.min.DIGEST.js`` (``LICENSE.DIGEST``)."""
    folder, _, name = relative.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    hashed = f"{stem}.{digest}.{suffix}" if dot else f"{name}.{digest}"
    return f"{folder}/{hashed}" if folder else hashed


class Assets:
    """Every file under ``static/``: by its own name (for templates) and by its hashed one."""

    def __init__(self, folder: Path = FOLDER):
        self.by_name: dict[str, Asset] = {}
        self.by_url: dict[str, Asset] = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder).as_posix()
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:16]
            mimetype = mimetypes.guess_type(path.name)[0] or "text/plain"
            if mimetype.startswith("text/") or mimetype.endswith("javascript"):
                mimetype += "; charset=utf-8"
            asset = Asset("/static/" + hashed_name(relative, digest), body, mimetype, digest,
                          gzipped(body, mimetype))
            self.by_name[relative] = asset
            self.by_url[asset.url[len("/static/"):]] = asset

    @classmethod
    def install(cls, app: Flask) -> None:
        assets = app.extensions[EXTENSION] = cls()
        app.jinja_env.globals["asset_url"] = lambda name: assets.by_name[name].url

    def serve(self, hashed: str):
        asset = self.by_url.get(hashed)
        if asset is None:
            raise not_found("File")
        packed = asset.gzipped is not None and request.accept_encodings["gzip"] > 0
        resp = current_app.response_class(asset.gzipped if packed else asset.body,
                                          content_type=asset.mimetype)
        resp.headers["Cache-Control"] = f"public, max-age={FOREVER}, immutable"
        if asset.gzipped is not None:
            resp.vary.add("Accept-Encoding")
        if packed:
            resp.headers["Content-Encoding"] = "gzip"
        resp.set_etag(asset.etag + ("-gzip" if packed else ""))
        return resp
