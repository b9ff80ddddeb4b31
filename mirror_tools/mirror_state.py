"""A mirror folder's record of itself, and the one way files enter it.

``mirror-state.json`` lists every file a sync put in the mirror with its
sha256 and size (and, for provider zips, the ``h1:`` hash and what it is). It
is what makes a re-sync incremental (a file already recorded and present is
not fetched again) and what ``appliance mirror verify`` rechecks.

Files reach the mirror in one order, so that a run killed at any moment
leaves the previous mirror valid and the next run finishes the job:

1. downloads land in ``.partial/`` under their sha256 (verified before they
   count), where an interrupted run's finished downloads are found again;
2. ``commit`` renames them into place (one ``rename`` each, same filesystem),
3. rewrites the derived files (JSON indexes, lock file) that changed,
4. writes the state last, atomically, then removes files that fell out of
   the manifest and the ``.partial/`` folder.

A run that fails before ``commit`` changes nothing outside ``.partial/``.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import requests

from mirror_tools.fetch import FetchError, Progress, atomic_write, download, sha256_file

STATE_NAME = "mirror-state.json"
PARTIAL = ".partial"
LOCK_NAME = ".lock"
FORMAT = 1


class MirrorError(Exception):
    """The mirror folder cannot be used or changed as asked; names the file."""


def disk_error(exc: OSError, what: str) -> FetchError:
    """Turn ENOSPC and friends into an error that names the artefact being written."""
    if exc.errno == errno.ENOSPC:
        return FetchError(f"{what}: no space left on the device holding the mirror")
    return FetchError(f"{what}: {exc.strerror or exc} ({exc.filename or 'mirror folder'})")


class MirrorDir:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.files: dict[str, dict] = {}
        self.derived: list[str] = []
        path = self.root / STATE_NAME
        if path.exists():
            try:
                state = json.loads(path.read_text())
                self.files = dict(state["files"])
                self.derived = list(state.get("derived", []))
            except (ValueError, KeyError, TypeError) as exc:
                raise MirrorError(f"{path}: not a mirror state file ({exc})") from None

    @contextlib.contextmanager
    def locked(self) -> Iterator["MirrorDir"]:
        """Hold the mirror's lock so two syncs never interleave their commits."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK_NAME, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise MirrorError(f"{self.root}: another mirror-sync is running on this "
                                  "folder") from None
            yield self

    # -- what is there ------------------------------------------------------
    def present(self, rel: str, sha256: str | None = None) -> dict | None:
        """The state entry for ``rel`` if the file is there with its recorded size."""
        entry = self.files.get(rel)
        if entry is None or (sha256 and entry["sha256"] != sha256):
            return None
        try:
            if (self.root / rel).stat().st_size != entry["size"]:
                return None
        except FileNotFoundError:
            return None
        return entry

    def staged(self, sha256: str) -> Path:
        """Where a download with this sha256 waits until commit."""
        return self.root / PARTIAL / sha256

    def reusable_stage(self, sha256: str) -> Path | None:
        """An earlier run's finished download with this hash, rechecked."""
        path = self.staged(sha256)
        if path.exists() and sha256_file(path) == sha256:
            return path
        return None

    def stage_download(self, session: requests.Session, url: str, sha256: str, *, what: str,
                       progress: Progress | None = None) -> Path:
        """Download ``url`` into ``.partial/`` checked against ``sha256`` (or reuse it)."""
        path = self.reusable_stage(sha256)
        if path is None:
            path = self.staged(sha256)
            try:
                download(session, url, path, what=what, sha256=sha256, progress=progress)
            except OSError as exc:
                raise disk_error(exc, what) from exc
        return path

    def stage_bytes(self, content: bytes, *, what: str) -> tuple[Path, str]:
        """Put a small verified document (SHA256SUMS, a signature) in ``.partial/``."""
        sha = hashlib.sha256(content).hexdigest()
        try:
            with atomic_write(self.staged(sha)) as f:
                f.write(content)
        except OSError as exc:
            raise disk_error(exc, what) from exc
        return self.staged(sha), sha

    # -- changing it ----------------------------------------------------------
    def commit(self, entries: dict[str, dict], staged: dict[str, Path],
               derived: dict[str, bytes]) -> list[str]:
        """Make ``entries`` (rel path -> state entry) the mirror's content.

        ``staged`` maps the new files' rel paths to their verified downloads;
        ``derived`` maps rel paths to generated content (JSON, lock file).
        Returns the rel paths removed because nothing produces them any more.
        """
        try:
            for rel, src in staged.items():
                _place(src, self.root / rel)
            for rel, content in derived.items():
                path = self.root / rel
                if not (path.is_file() and path.read_bytes() == content):
                    with atomic_write(path) as f:
                        f.write(content)
            state = {"format": FORMAT, "files": dict(sorted(entries.items())),
                     "derived": sorted(derived)}
            encoded = (json.dumps(state, indent=1) + "\n").encode()
            state_path = self.root / STATE_NAME
            if not (state_path.is_file() and state_path.read_bytes() == encoded):
                with atomic_write(state_path) as f:
                    f.write(encoded)
        except OSError as exc:
            raise disk_error(exc, f"mirror {self.root}") from exc
        stale = (set(self.files) | set(self.derived)) - set(entries) - set(derived)
        for folder in {(self.root / rel).parent for rel in [*entries, *derived]}:
            # Temporary names left by a run killed between write and rename.
            for tmp in folder.glob(".*.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        for rel in sorted(stale):
            with contextlib.suppress(FileNotFoundError):
                (self.root / rel).unlink()
            _remove_empty_parents(self.root / rel, self.root)
        self.files, self.derived = dict(entries), sorted(derived)
        self.clear_partial()
        return sorted(stale)

    def clear_partial(self) -> None:
        partial = self.root / PARTIAL
        if partial.is_dir():
            for p in partial.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            with contextlib.suppress(OSError):
                partial.rmdir()


def _place(src: Path, dest: Path) -> None:
    """Put a staged file at ``dest`` in one rename; the staged file stays, since
    identical bytes (one sha256) may be staged once for several paths."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, dest)


def _remove_empty_parents(path: Path, root: Path) -> None:
    parent = path.parent
    while parent != root and root in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


def hash_files(paths: list[Path], jobs: int = 0) -> dict[Path, str | OSError]:
    """sha256 of many files on several threads; an unreadable file maps to its error."""
    def one(p: Path):
        try:
            return p, sha256_file(p)
        except OSError as exc:
            return p, exc
    jobs = jobs or min(8, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(jobs) as pool:
        return dict(pool.map(one, paths))
