"""Downloading for mirrors: retries, atomic files, verified hashes, progress.

Every mirror file is written to a temporary name in its final folder, flushed
and renamed (``appliance.fileio``), so a run killed at any moment leaves either the old file or the
new one, never half of one. Retries with backoff cover 5xx answers and
connection resets, which is what a flaky proxy in front of a registry gives.
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys
import threading
import time
from typing import IO, Callable

import requests

from appliance.fileio import atomic_write
from appliance.sdk import httpsession

CHUNK = 1024 * 1024
USER_AGENT = "coder-appliance-mirror-sync"
# The shared session (retries, a CA bundle that holds), named as the mirror tools.
session = functools.partial(httpsession.session, user_agent=USER_AGENT)


class FetchError(Exception):
    """A download failed; the message names the artefact and the URL."""


def get_bytes(s: requests.Session, url: str, *, what: str, limit: int = 16 * CHUNK) -> bytes:
    """GET a small document (JSON, SHA256SUMS, a signature) whole, naming ``what`` on failure.

    Retries are the session's (5xx, resets); a 404 is reported as "not found".
    """
    try:
        resp = s.get(url, timeout=(10, 60))
    except requests.RequestException as exc:
        raise FetchError(f"{what}: cannot reach {url}: {exc}") from exc
    if resp.status_code == 404:
        raise FetchError(f"{what}: not found ({url} answered 404)")
    if resp.status_code != 200:
        raise FetchError(f"{what}: {url} answered {resp.status_code}")
    if len(resp.content) > limit:
        raise FetchError(f"{what}: {url} answered more than {limit} bytes")
    return resp.content


def download(s: requests.Session, url: str, dest: str | os.PathLike, *, what: str,
             sha256: str | None = None, progress: "Progress | None" = None) -> str:
    """Stream ``url`` into ``dest`` atomically; verify ``sha256`` when given.

    Returns the hex sha256 of what was written. A truncated body, a reset in
    the middle of the stream or a hash mismatch leaves ``dest`` untouched.
    urllib3 retries only until the headers arrive, so a body cut off midway
    is fetched again here, as many times as the session retries (``--retries``).
    """
    retries, backoff = getattr(s, "retries", 2), getattr(s, "backoff", 0.5)
    for attempt in range(retries + 1):
        try:
            return _download_once(s, url, dest, what, sha256, progress)
        except (requests.ConnectionError, requests.Timeout, _Truncated) as exc:
            last = exc
            if attempt < retries:
                time.sleep(backoff * 2 ** attempt)
    raise FetchError(f"{what}: download from {url} failed after {retries + 1} "
                     f"attempt(s): {last}")


class _Truncated(Exception):
    pass


def _download_once(s, url, dest, what, sha256, progress) -> str:
    with s.get(url, stream=True, timeout=(10, 60)) as resp:
        if resp.status_code != 200:
            raise FetchError(f"{what}: {url} answered {resp.status_code}")
        expected_len = resp.headers.get("Content-Length")
        h = hashlib.sha256()
        written = 0
        with atomic_write(dest) as f:
            cut = False
            try:
                for chunk in resp.iter_content(CHUNK):
                    f.write(chunk)
                    h.update(chunk)
                    written += len(chunk)
                    if progress:
                        progress.advance(len(chunk))
            except requests.exceptions.ChunkedEncodingError:   # the connection dropped
                cut = True
            if cut or expected_len is not None and written != int(expected_len):
                raise _Truncated(f"the body stopped after {written} of {expected_len or '?'} bytes")
            digest = h.hexdigest()
            if sha256 and digest != sha256.lower():
                raise FetchError(f"{what}: checksum mismatch: expected sha256 {sha256}, got "
                                 f"{digest} from {url}")
    return digest


class Progress:
    """One status line on stderr for many parallel downloads (quiet when not a TTY)."""

    def __init__(self, label: str, stream: IO = sys.stderr, enabled: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.label = label
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.clock = clock
        self.lock = threading.Lock()
        self.bytes = 0
        self.done = 0
        self.total = 0
        self._last = 0.0

    def add_items(self, n: int) -> None:
        with self.lock:
            self.total += n

    def advance(self, nbytes: int) -> None:
        with self.lock:
            self.bytes += nbytes
            self._draw()

    def item_done(self, name: str = "") -> None:
        with self.lock:
            self.done += 1
            self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        self.stream.write(f"\r{self.label}: {self.done}/{self.total} "
                          f"({self.bytes / 1e6:.1f} MB)\033[K")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
