"""A mirror folder's record of itself, and the one way its content changes.

``mirror-state.json`` lists every file a sync put in the mirror with its
sha256 and size (and, for provider zips, the ``h1:`` hash and what it is). It
is what makes a re-sync incremental (a file already recorded and present is
not fetched again) and what ``appliance mirror verify`` checks the folder
against: every file recorded must be there with its hash, and every file a
reader can see must be recorded.

The content lives in *generations*; readers go through fixed links and one
pointer, so a commit changes what they see in one ``rename``::

    OUT/providers            -> .current/providers          (fixed links, made once)
    OUT/terraform            -> .current/terraform
    OUT/mirror-state.json    -> .current/mirror-state.json
    OUT/.terraform.lock.hcl  -> .current/.terraform.lock.hcl
    OUT/.current             -> .generations/N              (the pointer)
    OUT/.generations/N/      a whole mirror: the state, the lock file, providers/, terraform/

Terraform's ``filesystem_mirror`` (``path = "OUT/providers"``), ``appliance
mirror serve OUT`` and coderd read through the links, so each of them sees
one generation or the next, never a mix. A commit:

1. downloads land in ``.partial/`` under their sha256 (verified before they
   count), where an interrupted run's finished downloads are found again;
2. removes the generations before the current one (the previous one was kept
   for readers still in it) and any a killed run left half-built;
3. builds generation N+1: unchanged files are hard links to generation N's
   (never downloaded or copied again), new ones hard links to their staged
   downloads, derived files (JSON indexes, lock file) written, the state last;
4. adds the fixed link of any top-level name the new generation brings
   (pointing at nothing until step 5);
5. renames a new ``.current`` over the old one: the only visible change;
6. removes fixed links that now point at nothing, and ``.partial/``.

A run that fails or is killed before step 5 leaves the visible mirror as it
was; after it, the new one is complete. A mirror written before generations
(real folders at the top) is converted by its next commit without a visible
change: a first generation of hard links to the same files, then each
top-level name exchanged for its link in one ``renameat2(RENAME_EXCHANGE)``.

Everything that changes the folder (``mirror-sync``, ``mirror add-zip``)
goes through ``MirrorDir.locked(root)``, which reads ``.current`` and the
state only once it holds ``OUT/.lock``. A view read before the lock could
predate another run's commit: step 2 would then remove the generation that
run made current, and a commit finding nothing to change would leave
``.current`` pointing at nothing. ``commit`` refuses to run without the lock.

Test-only hooks, read from the environment; nothing but the tests sets them:

* ``APPLIANCE_MIRROR_TEST_KILL_AT=STEP`` (one of ``COMMIT_STEPS``) makes the
  process SIGKILL itself at that step of a commit, so tests can check the
  guarantee above at every step;
* ``APPLIANCE_MIRROR_TEST_PAUSE_AT=STEP:FILE`` (``STEP`` one of
  ``PAUSE_STEPS``) makes it create ``FILE.paused`` at that step and wait
  there until ``FILE`` exists, so a test can run another process at exactly
  that moment (another sync while this one waits for the lock).
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import requests

from appliance.fileio import atomic_write, sha256_file
from mirror_tools.fetch import FetchError, Progress, download

STATE_NAME = "mirror-state.json"
PARTIAL = ".partial"
LOCK_NAME = ".lock"
GENERATIONS = ".generations"
CURRENT = ".current"
IMAGES = "images"   # an OCI layout beside the mirror, committed by mirror_tools.images
FORMAT = 1

KILL_AT_ENV = "APPLIANCE_MIRROR_TEST_KILL_AT"
COMMIT_STEPS = (
    # converting a mirror written before generations
    "legacy-linked", "legacy-pointed", "legacy-exchanged",
    # every commit
    "generations-pruned", "first-file-linked", "generation-built", "links-added",
    "switched", "links-pruned",
)
PAUSE_AT_ENV = "APPLIANCE_MIRROR_TEST_PAUSE_AT"
PAUSE_STEPS = ("before-lock", *COMMIT_STEPS)


class MirrorError(Exception):
    """The mirror folder cannot be used or changed as asked; names the file."""


def disk_error(exc: OSError, what: str) -> FetchError:
    """Turn ENOSPC and friends into an error that names the artefact being written."""
    if exc.errno == errno.ENOSPC:
        return FetchError(f"{what}: no space left on the device holding the mirror")
    return FetchError(f"{what}: {exc.strerror or exc} ({exc.filename or 'mirror folder'})")


class MirrorDir:
    """A mirror folder as its state records it: ``MirrorDir(root)`` to read it,
    ``MirrorDir.locked(root)`` to change it."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.holds_lock = False
        self.content = self._current() or self.root
        self.files: dict[str, dict] = {}
        self.derived: list[str] = []
        path = self.content / STATE_NAME
        self.has_state = path.is_file()
        if self.has_state:
            try:
                state = json.loads(path.read_bytes())
                self.files = dict(state["files"])
                self.derived = list(state.get("derived", []))
            except (ValueError, KeyError, TypeError) as exc:
                raise MirrorError(f"{self.root / STATE_NAME}: not a mirror state file "
                                  f"({exc})") from None

    def _current(self) -> Path | None:
        """The generation ``.current`` points at (None: a mirror without generations)."""
        try:
            return self.root / os.readlink(self.root / CURRENT)
        except OSError:
            return None

    @property
    def generational(self) -> bool:
        return self.content != self.root

    @classmethod
    @contextlib.contextmanager
    def locked(cls, root: str | os.PathLike) -> Iterator["MirrorDir"]:
        """Hold the mirror's lock and read the mirror under it (see the module
        docstring), so two runs never interleave and each one works from the
        state the one before it committed."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        _step("before-lock")
        with open(root / LOCK_NAME, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise MirrorError(f"{root}: another mirror-sync is running on this "
                                  "folder") from None
            mirror = cls(root)
            mirror.holds_lock = True
            try:
                yield mirror
            finally:
                mirror.holds_lock = False

    # -- what is there ------------------------------------------------------
    def path(self, rel: str) -> Path:
        """Where a recorded file is (in the current generation)."""
        return self.content / rel

    def known(self) -> set[str]:
        """Every path the state accounts for: its files, the derived files, itself."""
        return {*self.files, *self.derived, *([STATE_NAME] if self.has_state else [])}

    def present(self, rel: str, sha256: str | None = None) -> dict | None:
        """The state entry for ``rel`` if the file is there with its recorded size."""
        entry = self.files.get(rel)
        if entry is None or (sha256 and entry["sha256"] != sha256):
            return None
        try:
            if self.path(rel).stat().st_size != entry["size"]:
                return None
        except FileNotFoundError:
            return None
        return entry

    def survey(self) -> tuple[dict[str, Path], list[str]]:
        """What readers see, against the state.

        Returns every file a reader of the folder finds (rel path -> the file,
        through the links; top-level hidden names other than the state's are
        work areas and other tools' files, ``images/`` is its own layout), and
        one line per file the state does not record and per recorded file
        that is missing.
        """
        known = self.known()
        tops = {rel.split("/", 1)[0] for rel in known}
        seen: dict[str, Path] = {}
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for name in sorted(os.listdir(self.root)):
                if name not in tops and (name.startswith(".") or name == IMAGES):
                    continue
                seen.update(_files(self.content if self._links(name) else self.root, name))
        problems = [f"{rel}: not recorded in {STATE_NAME}" for rel in sorted(set(seen) - known)]
        problems += [f"{rel}: missing (recorded in {STATE_NAME})"
                     for rel in sorted(known - set(seen))]
        return seen, problems

    def _links(self, name: str) -> bool:
        """Whether top-level ``name`` is the fixed link into the current generation."""
        try:
            return os.readlink(self.root / name) == f"{CURRENT}/{name}"
        except OSError:
            return False

    # -- staging --------------------------------------------------------------
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
        """Make ``entries`` (rel path -> state entry) the mirror's content, in one step.

        ``staged`` maps the new files' rel paths to their verified downloads;
        ``derived`` maps rel paths to generated content (JSON, lock file).
        Returns the rel paths dropped because nothing produces them any more.
        """
        if not self.holds_lock:
            raise RuntimeError(f"{self.root}: commit outside MirrorDir.locked()")
        state = {"format": FORMAT, "files": dict(sorted(entries.items())),
                 "derived": sorted(derived)}
        encoded = (json.dumps(state, indent=1) + "\n").encode()
        try:
            self._convert()
            self._prune_generations()
            _step("generations-pruned")
            if staged or not self._shows(encoded, derived):
                self._switch(entries, staged, derived, encoded)
        except OSError as exc:
            raise disk_error(exc, f"mirror {self.root}") from exc
        stale = (set(self.files) | set(self.derived)) - set(entries) - set(derived)
        self.files, self.derived, self.has_state = dict(entries), sorted(derived), True
        self.clear_partial()
        return sorted(stale)

    def _shows(self, encoded: bytes, derived: dict[str, bytes]) -> bool:
        """Whether the visible mirror is already exactly this state and these files."""
        if not self.generational or _read(self.path(STATE_NAME)) != encoded:
            return False
        if any(_read(self.path(rel)) != content for rel, content in derived.items()):
            return False
        tops = {rel.split("/", 1)[0] for rel in self.known()}
        return all(self._links(name) for name in tops) and not self.survey()[1]

    def _switch(self, entries: dict[str, dict], staged: dict[str, Path],
                derived: dict[str, bytes], encoded: bytes) -> None:
        """Steps 3 to 6: build the next generation, point at it, tidy the links."""
        gen = self._new_generation()
        for i, rel in enumerate(sorted(entries)):
            _link(staged.get(rel) or self.path(rel), gen / rel)
            if i == 0:
                _step("first-file-linked")
        for rel, content in derived.items():
            with atomic_write(gen / rel) as f:
                f.write(content)
        with atomic_write(gen / STATE_NAME) as f:
            f.write(encoded)
        _step("generation-built")
        for name in sorted({rel.split("/", 1)[0] for rel in [*entries, *derived, STATE_NAME]}):
            self._make_link(name)
        _step("links-added")
        _symlink(self.root / CURRENT, f"{GENERATIONS}/{gen.name}")
        self.content = gen
        _step("switched")
        for name in os.listdir(self.root):
            if self._links(name) and not (self.root / name).exists():
                (self.root / name).unlink()
        _step("links-pruned")

    def _convert(self) -> None:
        """Give a mirror written before generations its first one, invisibly."""
        if self.generational or not self.has_state:
            return
        self._prune_generations()
        gen = self._new_generation()
        for rel in sorted(self.known()):
            with contextlib.suppress(FileNotFoundError):   # verify reports it missing
                _link(self.root / rel, gen / rel)
        _step("legacy-linked")
        _symlink(self.root / CURRENT, f"{GENERATIONS}/{gen.name}")
        self.content = gen
        _step("legacy-pointed")
        for name in sorted({rel.split("/", 1)[0] for rel in self.known()}):
            self._make_link(name)
            _step("legacy-exchanged")

    def _prune_generations(self) -> None:
        """Remove every generation but the current one, and what killed runs left there."""
        for tmp in self.root.glob(".*.tmp"):
            if tmp.is_symlink():   # a link made but not yet renamed into place
                tmp.unlink()
        folder = self.root / GENERATIONS
        if folder.is_dir():
            for entry in os.scandir(folder):
                if Path(entry.path) != self.content:
                    _remove(Path(entry.path))

    def _new_generation(self) -> Path:
        number = int(self.content.name) + 1 if self.generational else 1
        gen = self.root / GENERATIONS / str(number)
        gen.mkdir(parents=True)
        return gen

    def _make_link(self, name: str) -> None:
        """Make top-level ``name`` the fixed link ``.current/NAME`` (exchanging what is there)."""
        if self._links(name):
            return
        path = self.root / name
        if not path.is_dir() or path.is_symlink():
            _symlink(path, f"{CURRENT}/{name}")
            return
        # A real folder (a mirror from before generations): swap it for the link.
        old = self.root / GENERATIONS / f"replaced-{name}"
        _remove(old)
        os.symlink(f"{CURRENT}/{name}", old)
        _exchange(old, path)
        _remove(old)

    def clear_partial(self) -> None:
        partial = self.root / PARTIAL
        if partial.is_dir():
            for p in partial.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            with contextlib.suppress(OSError):
                partial.rmdir()


def _step(name: str) -> None:
    """Test-only kill and pause points (see the module docstring)."""
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    step, _, resume = os.environ.get(PAUSE_AT_ENV, "").partition(":")
    if step == name and resume:
        Path(f"{resume}.paused").write_text(f"{os.getpid()}\n")
        deadline = time.monotonic() + 300   # a test that died must not leave us waiting
        while not os.path.exists(resume) and time.monotonic() < deadline:
            time.sleep(0.01)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _files(base: Path, name: str) -> dict[str, Path]:
    """Files under ``base/name`` by rel path (``name/...``); symlinks inside count as files."""
    top = base / name
    if top.is_symlink() or not top.is_dir():
        return {name: top} if os.path.lexists(top) else {}
    out = {}
    for folder, dirs, files in os.walk(top):
        rel = Path(name, os.path.relpath(folder, top)).as_posix()
        for f in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            out[f"{rel}/{f}"] = Path(folder, f)
    return out


def _link(src: Path, dest: Path) -> None:
    """Put ``src``'s bytes at ``dest``: a hard link, a copy only where links fail."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copy2(src, dest)
    os.chmod(dest, 0o644)


def _symlink(path: Path, target: str) -> None:
    """Make ``path`` a symlink to ``target`` in one rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> None:
    """Swap two paths in one step: Linux's ``renameat2(RENAME_EXCHANGE)``, which
    Python's ``os`` does not offer (called through ctypes). Where the kernel or
    filesystem lacks it, two renames (``b`` is absent for an instant)."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(err, os.strerror(err), str(b))
    aside = b.with_name(f".{b.name}.{os.getpid()}.aside")
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)


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
