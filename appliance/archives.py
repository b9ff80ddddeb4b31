"""Tar archives from people who may be hostile: checked member by member, written by our own code.

Template uploads, and later offline bundles, are tars (plain, gzip, bzip2 or
xz) that coderd and the provisioners unpack. The rules, the same on every
Python the appliance runs on:

- a member's name is relative, has no ``..`` and no NUL, and fits the file
  system (255 bytes a component, 4096 in all); links stay inside the folder,
  also when followed through each other (checked once the archive is read,
  since a link may point through one that comes later); devices, fifos,
  sparse and other special files are refused, and so are impossible sizes
  and times;
- the archive may not decompress past ``Limits.max_bytes`` (counted on the
  decompressed stream, so a bomb stops there, not after), hold more than
  ``max_members`` members, or carry a long-name or pax header over
  ``max_header`` bytes (tarfile reads such a header whole into memory); a
  pax header must be well-formed records, at most ``max_pax_records`` of
  them, checked in linear time before tarfile parses it (Python 3.11.7's
  parser is quadratic on malformed ones, CVE-2024-6232); names and link
  targets are at most ``max_depth`` folders deep, each checked in time linear
  in its length; an xz stream decodes within ``max_xz_memory``;
- extraction writes only below the destination: no path component may be a
  symlink on disk, files are created fresh with ``O_NOFOLLOW``, modes lose
  setuid, setgid, sticky and group/other write, and nothing is chowned.

Why by hand: tarfile's extraction filters (``filter="data"``) arrived in
Python 3.11.4 and Debian 12's Python is 3.11.2, where ``extractall(filter=)``
is a TypeError and plain ``extractall`` trusts the archive. tarfile still
parses the headers (GNU, pax, ustar), which it does well; every check and
every byte written to disk is here. libarchive bindings would add a C
dependency to the agent-side packaging for the same result.
"""
from __future__ import annotations

import bz2
import gzip
import io
import logging
import lzma
import os
import posixpath
import stat
import tarfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import BinaryIO, Callable, Iterable, Iterator

CHUNK = 64 * 1024
_XZ_MAGIC = b"\xfd7zXZ\x00"
_MAGIC = ((b"\x1f\x8b", gzip.GzipFile), (b"BZh", bz2.BZ2File))
_DECOMPRESS_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)


_PAX_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
MAX_NAME = 4096
MAX_COMPONENT = 255
# Times a file system takes: from 1970 to 2^33 seconds (year 2242).
MAX_MTIME = 2 ** 33


class ArchiveError(ValueError):
    """The archive is refused; the message names the member when there is one."""


# coderd's limit on one upload (server.files.MAX_FILE_SIZE), as Coder's: a template is
# Terraform files, not data. A template's tar stops as soon as it passes it.
UPLOAD_LIMIT = 10 * 1024 * 1024
# The one hidden file a template's tar keeps: terraform's provider lock file.
LOCK_FILE = ".terraform.lock.hcl"
TEMPLATE_LEFT_OUT_HELP = (
    "Left out of the upload, as Coder leaves them out: hidden files and folders (.git, "
    f".terraform, .env, ...) but {LOCK_FILE}, terraform state (any name with .tfstate) and "
    "variable values (terraform.tfvars, terraform.tfvars.json, *.auto.tfvars, "
    "*.auto.tfvars.json).")
log = logging.getLogger(__name__)


class TemplateFolderError(ValueError):
    """The folder cannot be packed as a template; ``hint`` says what is wanted."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def template_left_out(rel: str) -> str:
    """Why a template's tar leaves out ``rel`` (a path below the folder, with '/'), as
    Coder's provisionersdk.Tar does: "hidden", "state" or "variables"; "" when it is packed.

    State holds every secret of the resources a local terraform run made, and
    every template administrator can download an upload (GET /files/{id});
    terraform would read the root's tfvars as the template's own values.
    """
    name = posixpath.basename(rel)
    if name.startswith(".") and name != LOCK_FILE:
        return "hidden"
    if ".tfstate" in name:
        return "state"
    if rel in ("terraform.tfvars", "terraform.tfvars.json") or name.endswith(
            (".auto.tfvars", ".auto.tfvars.json")):
        return "variables"
    return ""


class _TooBig(Exception):
    """The archive being written passed its limit."""


class _CappedBuffer(io.BytesIO):
    """An archive written in memory that refuses to grow past ``limit`` bytes."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def write(self, data) -> int:
        if self.tell() + len(data) > self.limit:
            raise _TooBig
        return super().write(data)


def template_tar(directory: Path, left_out: list[tuple[str, str]] | None = None) -> bytes:
    """A template folder as the uncompressed tar ``coder templates push`` uploads (and
    ``coderd check-import`` imports): sorted, without what ``template_left_out`` names
    (each ``(path, why)`` appended to ``left_out`` and logged at debug level, as Coder
    logs it; a folder is left out whole). Written through UPLOAD_LIMIT, so a large file
    stops it there rather than filling memory. TemplateFolderError when it is not a
    folder, holds no .tf file, cannot be read or passes the limit."""
    if not directory.is_dir():
        raise TemplateFolderError(f"{directory} is not a folder")
    if not any(directory.glob("*.tf")):
        raise TemplateFolderError(f"{directory} holds no .tf file",
                                  hint="Push a Terraform template folder.")
    try:
        return _capped_tar((rel, lambda tar, path=path, rel=rel: tar.add(
            path, arcname=rel, recursive=False)) for path, rel in _template_files(directory, left_out))
    except OSError as exc:
        raise TemplateFolderError(f"cannot read {exc.filename or directory}: "
                                  f"{exc.strerror or exc}") from None


def uploaded_template_tar(files: list[tuple[str, bytes]],
                          left_out: list[tuple[str, str]] | None = None) -> bytes:
    """A template folder a browser sent file by file (a folder input: each file named by its
    path from the chosen folder, ``mytemplate/main.tf``) as ``template_tar`` packs one from
    disk: the chosen folder's own name dropped, each path checked as an archive member's,
    the same files left out, the same limit. TemplateFolderError when it cannot be."""
    named = [(check_name(name.replace("\\", "/")), data) for name, data in files]
    tops = {name.split("/", 1)[0] for name, _ in named}
    if len(tops) == 1 and all("/" in name for name, _ in named):
        named = [(name.split("/", 1)[1], data) for name, data in named]
    if len({name for name, _ in named}) < len(named):
        raise TemplateFolderError("the upload names a file twice")
    if not any("/" not in name and name.endswith(".tf") for name, _ in named):
        raise TemplateFolderError("the folder holds no .tf file",
                                  hint="Upload a Terraform template folder.")
    kept = []
    for name, data in sorted(named):
        parts = name.split("/")
        why = next(filter(None, (template_left_out("/".join(parts[:i + 1]))
                                 for i in range(len(parts)))), "")
        if why:
            log.debug("left out %s (%s)", name, why)
            if left_out is not None:
                left_out.append((name, why))
        else:
            kept.append((name, lambda tar, name=name, data=data: _add_bytes(tar, name, data)))
    return _capped_tar(kept)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _capped_tar(members: Iterable[tuple[str, Callable[[tarfile.TarFile], None]]]) -> bytes:
    """A tar of ``members`` (each a path and what adds it), refused past UPLOAD_LIMIT."""
    out, rel = _CappedBuffer(UPLOAD_LIMIT), ""
    try:
        with tarfile.open(fileobj=out, mode="w") as tar:
            for rel, add in members:
                add(tar)
    except _TooBig:
        raise TemplateFolderError(f"Archive too big. Must be <= {UPLOAD_LIMIT} bytes",
                                  hint=f"{rel or 'The folder'} takes it past coderd's upload "
                                       "limit: keep large files out of the template "
                                       "folder.") from None
    return out.getvalue()


def _template_files(directory: Path, left_out: list[tuple[str, str]] | None
                    ) -> Iterator[tuple[Path, str]]:
    """The files to pack, sorted, each with its path in the tar; what is left out told."""
    def packed(path: PurePath) -> bool:
        rel = path.as_posix()
        why = template_left_out(rel)
        if why:
            log.debug("left out %s (%s)", rel, why)
            if left_out is not None:
                left_out.append((rel, why))
        return not why

    for root, dirs, files in os.walk(directory, onerror=_raise):
        here = Path(root).relative_to(directory)
        dirs[:] = [d for d in sorted(dirs) if packed(here / d)]
        for name in sorted(files):
            if packed(here / name):
                yield Path(root) / name, (here / name).as_posix()


def _raise(exc: OSError):
    """os.walk's onerror: an unreadable folder stops the tar rather than vanish from it."""
    raise exc


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 100 * 1024 * 1024
    max_members: int = 10_000
    max_header: int = 64 * 1024
    max_pax_records: int = 64
    # Folders deep (a member's name and a link's target): every check of a name is
    # linear in its length, and extraction walks each component, so depth bounds both.
    max_depth: int = 64
    # An xz decoder's memory, mostly its dictionary, filled as it decodes: xz -8's
    # 32 MiB fits, -9's 64 MiB would pass the peak memory docs/security.md promises.
    max_xz_memory: int = 40 * 1024 * 1024


class _Budget(io.RawIOBase):
    """The decompressed stream, refusing to go past ``max_bytes`` or read a header too big.

    Member data is read in CHUNK-sized pieces by ``members``; a single read
    larger than ``max_header`` can only be tarfile loading a long-name or pax
    header, which it would otherwise hold whole in memory.
    """

    def __init__(self, stream: BinaryIO, limits: Limits):
        self.stream, self.limits, self.pos = stream, limits, 0
        self.header_next = False  # the next 512-byte read is a member's header block
        self.extension = b""  # the type of the pax or long-name header whose data comes next

    def expect_header(self) -> None:
        self.header_next = True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def _reserve(self, end: int) -> None:
        if end > self.limits.max_bytes:
            raise ArchiveError(f"the archive expands past {self.limits.max_bytes} bytes")

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > max(self.limits.max_header, CHUNK):
            raise ArchiveError(f"a header of {size} bytes (long name or pax) is over the limit "
                               f"of {self.limits.max_header}")
        self._reserve(self.pos + size)
        data = self.stream.read(size)
        self.pos += len(data)
        if self.extension:
            kind, self.extension = self.extension, b""
            if kind in _PAX_TYPES:
                _check_pax(data, self.limits.max_pax_records)
        elif self.header_next and size == tarfile.BLOCKSIZE:
            self.header_next = False
            self._announce(data)
        return data

    def _announce(self, block: bytes) -> None:
        """Read a header block's type before tarfile does: what must be checked comes next."""
        kind = block[156:157]
        if kind == tarfile.GNUTYPE_SPARSE:
            raise ArchiveError("the archive holds a sparse file; sparse files are refused")
        if kind in _PAX_TYPES or kind in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
            self.extension = kind

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self.pos + offset
        if whence == io.SEEK_END or target < self.pos:
            raise ArchiveError("the archive is read once, front to back")
        self._reserve(target)
        while self.pos < target:  # skipping is decompressing too: it counts
            data = self.stream.read(min(CHUNK, target - self.pos))
            if not data:
                break
            self.pos += len(data)
        return self.pos


def _check_pax(data: bytes, max_records: int) -> None:
    """Refuse a pax header that is not ``LENGTH KEY=VALUE\\n`` records, in one linear pass."""
    pos, count, end = 0, 0, len(data)
    while pos < end and data[pos] != 0:  # NULs pad the last block
        space = data.find(b" ", pos, pos + 12)
        digits = data[pos:space] if space > pos else b""
        if not digits.isdigit():
            raise ArchiveError("a pax header is malformed (a record without a length)")
        length = int(digits)
        record = data[pos:pos + length]
        if length < 5 or len(record) != length or not record.endswith(b"\n") \
                or b"=" not in record[len(digits) + 2:]:
            raise ArchiveError("a pax header is malformed (a record's length or form is wrong)")
        count += 1
        if count > max_records:
            raise ArchiveError(f"a pax header holds more than {max_records} records")
        pos += length


class _AnnouncedInfo(tarfile.TarInfo):
    """tarfile's member, telling the budget reader a header comes (``fromtarfile`` is public API)."""

    @classmethod
    def fromtarfile(cls, tar):
        tar.fileobj.expect_header()
        return super().fromtarfile(tar)


class _LimitedXz(io.RawIOBase):
    """An xz stream decoded within a memory limit: ``LZMAFile`` has none, and a header
    may claim a 1.5 GiB dictionary, which the decoder would allocate."""

    def __init__(self, raw: BinaryIO, memlimit: int):
        self.raw, self.memlimit, self.pending = raw, memlimit, b""
        self.decoder = self._decoder()

    def _decoder(self) -> lzma.LZMADecompressor:
        return lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=self.memlimit)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while True:
            if self.decoder.eof:  # concatenated streams continue, as LZMAFile reads them
                self.pending = self.decoder.unused_data or self.raw.read(CHUNK)
                if not self.pending:
                    return 0
                self.decoder = self._decoder()
            chunk = b""
            if self.decoder.needs_input:
                chunk, self.pending = self.pending or self.raw.read(CHUNK), b""
                if not chunk:
                    raise EOFError("the xz stream ends before its end marker")
            try:
                data = self.decoder.decompress(chunk, max_length=len(b))
            except lzma.LZMAError as exc:
                if "memory" not in str(exc).lower():
                    raise
                raise ArchiveError(f"the xz stream needs more than {self.memlimit} bytes of "
                                   "memory to decompress (its dictionary is too large)") from None
            if data:
                b[:len(data)] = data
                return len(data)


def _decompressed(raw: BinaryIO, limits: Limits) -> BinaryIO:
    head = raw.read(6)
    raw.seek(-len(head), io.SEEK_CUR)
    if head.startswith(_XZ_MAGIC):
        return io.BufferedReader(_LimitedXz(raw, limits.max_xz_memory), CHUNK)
    for magic, opener in _MAGIC:
        if head.startswith(magic):
            return opener(fileobj=raw) if opener is gzip.GzipFile else opener(raw)
    return raw


def check_name(name: str) -> str:
    """A member's normalized relative path, or ArchiveError."""
    if not name or "\x00" in name:
        raise ArchiveError(f"member {name!r} has an empty or invalid name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"member {name!r} has an absolute path")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise ArchiveError(f"member {name!r} points outside the archive (..)")
    if len(name.encode()) > MAX_NAME or max(len(p.encode()) for p in parts) > MAX_COMPONENT:
        raise ArchiveError(f"member {name[:80]!r}... has a name too long for a file system")
    return posixpath.normpath(name)


def _check_link(name: str, target: str, hard: bool) -> str:
    """The link's target relative to the archive's root, or ArchiveError."""
    kind = "hard link" if hard else "symlink"
    if not target or target.startswith("/") or "\x00" in target:
        raise ArchiveError(f"member {name!r} is a {kind} to an absolute path {target!r}")
    base = "" if hard else posixpath.dirname(name)
    resolved = posixpath.normpath(posixpath.join(base, target))
    if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
        raise ArchiveError(f"member {name!r} is a {kind} pointing outside the archive ({target!r})")
    return resolved


def members(data: bytes | BinaryIO, limits: Limits = Limits()
            ) -> Iterator[tuple[tarfile.TarInfo, str, BinaryIO | None]]:
    """Each member checked, with its normalized path and, for a file, a reader of its bytes.

    The archive is read once, front to back; a member's reader is valid only
    until the next member is asked for. Raises ArchiveError, at the latest
    after the last member (links are checked against each other there).
    """
    raw = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    count, last = 0, ""
    seen = _Seen()
    try:
        stream = _Budget(_decompressed(raw, limits), limits)
        with tarfile.open(fileobj=stream, mode="r:", tarinfo=_AnnouncedInfo) as tar:
            while (member := tar.next()) is not None:
                count += 1
                if count > limits.max_members:
                    raise ArchiveError(f"member {member.name!r} is past the limit of "
                                       f"{limits.max_members} members")
                path = _check_member(member, limits)
                seen.add(member, path)
                last = member.name
                yield member, path, tar.extractfile(member) if member.isreg() else None
    except ArchiveError:
        raise
    except _DECOMPRESS_ERRORS + (ValueError, OverflowError) as exc:
        after = f" after member {last!r}" if last else ""
        raise ArchiveError(f"corrupt or unreadable tar archive{after}: {exc}") from None
    resolver = _LinkResolver(seen.links)
    for path in seen.links:
        if resolver.escapes(path):
            raise ArchiveError(f"member {path!r} is a symlink that resolves outside the archive "
                               "through other links")


class _Seen:
    """What the members so far made of each path: what extraction will find there."""

    def __init__(self):
        self.kinds: dict[str, str] = {}
        self.links: dict[str, str] = {}

    def add(self, member: tarfile.TarInfo, path: str) -> None:
        # Up from the parent to the first folder known: that folder's own ancestors were
        # checked when it was recorded, and a folder is never replaced, so each check is
        # linear in the name (checking every ancestor of every member was quadratic).
        parent, implied = posixpath.dirname(path), []
        while parent and (kind := self.kinds.get(parent)) != "dir":
            if kind == "link":
                raise ArchiveError(f"member {path!r} would be written through the symlink "
                                   f"{parent!r}")
            if kind == "file":
                raise ArchiveError(f"member {path!r} would be written under the file {parent!r}")
            implied.append(parent)
            parent = posixpath.dirname(parent)
        self.kinds.update(dict.fromkeys(implied, "dir"))  # extraction makes them folders
        kind = "dir" if member.isdir() else "link" if member.issym() else "file"
        if self.kinds.get(path) == "dir" and kind != "dir":
            raise ArchiveError(f"member {path!r} would replace a folder")
        if member.islnk():
            target = posixpath.normpath(member.linkname)
            if self.kinds.get(target) != "file":
                raise ArchiveError(f"member {path!r} is a hard link to {member.linkname!r}, "
                                   "which is not a file that comes before it")
        self.kinds[path] = kind
        if kind == "link":
            self.links[path] = member.linkname
        else:
            self.links.pop(path, None)


def _check_member(member: tarfile.TarInfo, limits: Limits) -> str:
    """One member's header checked; its normalized path."""
    path = check_name(member.name)
    _check_depth(member.name, path, limits)
    if member.issparse() or not (member.isreg() or member.isdir() or member.issym()
                                 or member.islnk()):
        raise ArchiveError(f"member {member.name!r} is a device, fifo, sparse or special file")
    if not 0 <= member.size <= limits.max_bytes:
        raise ArchiveError(f"member {member.name!r} declares a size of {member.size} bytes")
    if not (isinstance(member.mtime, (int, float)) and 0 <= member.mtime < MAX_MTIME):
        raise ArchiveError(f"member {member.name!r} has an impossible time {member.mtime!r}")
    if member.issym() or member.islnk():
        if len(member.linkname.encode()) > MAX_NAME:
            raise ArchiveError(f"member {member.name!r} is a link whose target is too long")
        _check_depth(member.name, member.linkname, limits)
        _check_link(path, member.linkname, member.islnk())
    return path


def _check_depth(name: str, path: str, limits: Limits) -> None:
    if path.count("/") >= limits.max_depth:
        raise ArchiveError(f"member {name[:80]!r}... is more than {limits.max_depth} "
                           "folders deep")


class _LinkResolver:
    """Where paths lead once the archive's symlinks are followed, each link resolved once.

    Following every link through all the others again, per link, cost seconds
    for a few thousand links chained through deep folders. A link's own place
    is resolved first, so what it leads to does not depend on how it was reached.
    """

    MAX_NESTING = 40  # as the kernel's limit on symlinks followed

    def __init__(self, links: dict[str, str]):
        self.links = links
        self.leads_to: dict[str, tuple[str, ...] | None] = {}  # a link's resolved path
        self.following: set[str] = set()

    def escapes(self, path: str) -> bool:
        """Whether ``path`` leaves the archive's root (a loop counts)."""
        return self._walk((), path, 0) is None

    def _walk(self, start: tuple[str, ...], path: str, nesting: int) -> tuple[str, ...] | None:
        """``path`` followed from the folder ``start``, as the prefixes of the place it
        reaches (each folder's whole path, so none is joined again); None when outside."""
        prefixes = list(start)
        for part in path.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not prefixes:
                    return None
                prefixes.pop()
                continue
            here = f"{prefixes[-1]}/{part}" if prefixes else part
            if here in self.links:
                reached = self._follow(here, tuple(prefixes), nesting)
                if reached is None:
                    return None
                prefixes = list(reached)
            else:
                prefixes.append(here)
        return tuple(prefixes)

    def _follow(self, link: str, parent: tuple[str, ...], nesting: int) -> tuple[str, ...] | None:
        if link not in self.leads_to:
            target = self.links[link]
            if link in self.following or nesting >= self.MAX_NESTING or target.startswith("/"):
                return None
            self.following.add(link)
            self.leads_to[link] = self._walk(parent, target, nesting + 1)
            self.following.discard(link)
        return self.leads_to[link]


def _read_member(member: tarfile.TarInfo, reader: BinaryIO, sink=None) -> None:
    """Read a member's bytes in chunks (into ``sink``), refusing a short one."""
    left = member.size
    while left:
        try:
            chunk = reader.read(min(CHUNK, left))
        except _DECOMPRESS_ERRORS as exc:
            raise ArchiveError(f"member {member.name!r} is truncated or corrupt: {exc}") from None
        if not chunk:
            raise ArchiveError(f"member {member.name!r} is truncated")
        if sink is not None:
            sink(chunk)
        left -= len(chunk)


def check(data: bytes | BinaryIO, limits: Limits = Limits()) -> list[str]:
    """The paths of every member of a tar, checked and read to the end; ArchiveError otherwise."""
    seen = []
    for member, path, reader in members(data, limits):
        if reader is not None:
            _read_member(member, reader)
        seen.append(path)
    return seen


def read_file(data: bytes, name: str, limits: Limits = Limits()) -> bytes | None:
    """The bytes of the regular file ``name`` in the archive, or None."""
    want = posixpath.normpath(name)
    for member, path, reader in members(data, limits):
        if reader is not None and path == want:
            parts: list[bytes] = []
            _read_member(member, reader, parts.append)
            return b"".join(parts)
    return None


def _file_mode(mode: int) -> int:
    """Owner read/write always; no setuid, setgid, sticky, group or other write."""
    return (mode & 0o755) | 0o600


class _Tree:
    """A destination folder that only ever grows below itself."""

    def __init__(self, root: Path):
        self.root = root

    def parent(self, path: str) -> Path:
        """The member's parent folder, made as needed; a symlink on the way is refused."""
        here = self.root
        for part in posixpath.dirname(path).split("/"):
            if part in ("", "."):
                continue
            here = here / part
            try:
                st = os.lstat(here)
            except FileNotFoundError:
                os.mkdir(here, 0o755)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise ArchiveError(f"member {path!r} would be written through {part!r}, "
                                   "which is not a folder")
        return here

    def clear(self, target: Path, path: str) -> None:
        """Make room for a member: a file or link there is replaced, a folder is not."""
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise ArchiveError(f"member {path!r} would replace a folder")
        os.unlink(target)

    def inside(self, target: Path, path: str) -> None:
        real = os.path.realpath(target)
        root = os.path.realpath(self.root)
        if real != root and not real.startswith(root + os.sep):
            raise ArchiveError(f"member {path!r} is a link that resolves outside the folder")


def zip_from_tar(data: bytes, limits: Limits = Limits()) -> bytes:
    """The tar's folders, files and symlinks as a zip, modes kept (``templates pull --zip``,
    as Coder's CreateZipFromTar); a hard link becomes a copy of its file."""
    out = io.BytesIO()
    contents: dict[str, bytes] = {}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for member, path, reader in members(data, limits):
            if path == ".":
                continue
            info = zipfile.ZipInfo(path + ("/" if member.isdir() else ""),
                                   time.gmtime(max(member.mtime, 315532800))[:6])
            kind = (stat.S_IFDIR if member.isdir() else
                    stat.S_IFLNK if member.issym() else stat.S_IFREG)
            info.external_attr = (kind | _file_mode(member.mode)) << 16
            if member.isdir():
                z.writestr(info, b"")
            elif member.issym():
                z.writestr(info, member.linkname.encode())
            else:
                body = (contents.get(_check_link(path, member.linkname, hard=True))
                        if member.islnk() else None)
                if body is None:
                    chunks: list[bytes] = []
                    _read_member(member, reader, chunks.append)
                    body = contents[path] = b"".join(chunks)
                z.writestr(info, body, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def extract(data: bytes | BinaryIO, dest: str | Path, limits: Limits = Limits()) -> list[str]:
    """Unpack a checked tar into ``dest`` (an existing folder); return the members' paths.

    Checks happen as the archive is read, so a refused archive may leave part
    of itself in ``dest``: extract into a fresh folder and discard it on error.
    Symlinks are made last, once the whole archive has passed, so none that
    points outside is ever left behind.
    """
    tree = _Tree(Path(dest))
    written: list[str] = []
    symlinks: dict[Path, tuple[str, str]] = {}
    for member, path, reader in members(data, limits):
        if path == ".":
            continue
        parent = tree.parent(path)
        target = parent / posixpath.basename(path)
        symlinks.pop(target, None)
        if member.isdir():
            if not os.path.isdir(target) or os.path.islink(target):
                tree.clear(target, path)
                os.mkdir(target, 0o755)
        elif member.issym():
            tree.clear(target, path)
            symlinks[target] = (path, member.linkname)
        elif member.islnk():
            source = tree.root / _check_link(path, member.linkname, hard=True)
            if not source.is_file() or source.is_symlink():
                raise ArchiveError(f"member {path!r} is a hard link to {member.linkname!r}, "
                                   "which is not a file extracted before it")
            tree.inside(source, path)
            tree.clear(target, path)
            os.link(source, target, follow_symlinks=False)
        else:
            tree.clear(target, path)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                         _file_mode(member.mode))
            with os.fdopen(fd, "wb") as out:
                _read_member(member, reader, out.write)
            os.chmod(target, _file_mode(member.mode))  # the umask does not decide an exec bit
            os.utime(target, (member.mtime, member.mtime))
        written.append(path)
    for target, (path, linkname) in symlinks.items():
        os.symlink(linkname, target)
        tree.inside(target, path)
    return written
