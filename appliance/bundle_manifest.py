"""The offline bundle's MANIFEST.json, and checking a bundle (its tar or its folder) against it.

``install.sh`` checks a bundle with only what a minimal Debian 12 has (bash,
gpgv, sha256sum; no python3), so it reads MANIFEST.json line by line. This
module writes one text for a given content (``dumps``: one header field per
line, one file per line) and ``loads`` refuses any other text, so every
manifest accepted here has the lines install.sh reads. Both apply the same
rules (docs/architecture.md, "The offline bundle"), and report a failure as
one line starting with the same word (``KINDS``):

1. ``MANIFEST.json.sig`` verifies with gpgv against the bundle's
   ``keys/signer.gpg``, and the primary key that made it has the fingerprint
   the administrator typed: a swapped key signs, but not as that fingerprint;
2. the manifest is in its one text form; its paths are plain relative names
   (no ``.`` or ``..`` component, nothing absolute, not MANIFEST.json's own names);
   a symbolic link points, without ``..``, at a file listed in the manifest;
3. the bundle holds nothing the manifest does not list (besides
   MANIFEST.json and its signature), no other kind of entry than folders,
   files and those links, and every listed file with its size and sha256;
4. a delta bundle (``since``) lacks the files it did not change: each must be
   in the installed version's tree, whose MANIFEST.json has the sha256 the
   signed manifest names, with the same sha256.

gpgv (not python-gnupg, which drives gpg and a keyring home) is what
install.sh runs too, so one program decides what a good signature is.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from appliance import archives
from appliance.fileio import sha256_file

FORMAT = 1
NAME = "coder-appliance"
MANIFEST = "MANIFEST.json"
SIGNATURE = "MANIFEST.json.sig"
SIGNER_KEY = "keys/signer.gpg"
INSTALLED_ROOT = "/opt/coder-appliance"
HEADER = ("format", "name", "version", "built", "since", "removed", "signer", "versions")
KINDS = ("manifest", "signature", "fingerprint", "unsafe", "extra", "missing", "tampered", "base")

_COMPONENT = r"[A-Za-z0-9._+@%~:,=-]+"   # and never "." or ".." (safe_path)
SAFE_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_VERSION_RE = re.compile(r"^[0-9A-Za-z.+~-]+$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_FPR_RE = re.compile(r"^[0-9A-F]{40}$")
_MODE_RE = re.compile(r"^0[0-7]{3}$")
# A bundle is big and has many files; headers stay as small as archives allows by default.
TAR_LIMITS = archives.Limits(max_bytes=1 << 42, max_members=1_000_000)
MAX_KEPT = 256 << 20   # MANIFEST.json, its signature and the key are read into memory


class VerifyError(Exception):
    """The bundle must not be used; ``kind`` is one of KINDS, str() the one line to print."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


def normalize_fingerprint(text: str) -> str:
    """A fingerprint as typed (spaces, any case) -> 40 upper-case hex digits, or VerifyError."""
    fpr = text.replace(" ", "").upper()
    if not _FPR_RE.match(fpr):
        raise VerifyError("fingerprint", f"{text!r} is not a full 40-hex-digit key fingerprint "
                          "(as `gpg --fingerprint` prints it)")
    return fpr


def safe_path(path: str) -> bool:
    """A plain relative path: no '.' or '..' component, nothing absolute, no odd characters."""
    return bool(SAFE_PATH_RE.match(path)) and not any(c in (".", "..")
                                                     for c in path.split("/"))


def file_entry(path: str, size: int, sha256: str, mode: int) -> dict:
    return {"path": path, "size": size, "sha256": sha256, "mode": f"0{mode & 0o777:03o}"}


def link_entry(path: str, target: str) -> dict:
    return {"path": path, "link": target}


def install_choices(postgres: str, packages) -> dict:
    """``versions["bundle"]``: what the bundle manifest chose for the host, recorded for
    install.sh (its BUNDLE_RE reads this line of MANIFEST.json: keep the form): the
    PostgreSQL to set up (``embedded`` or ``debian``) and the extra Debian packages to install.
    A bundle without it installs as ``embedded`` with no extra packages."""
    return {"bundle": {"packages": list(packages), "postgres": postgres}}


def dumps(manifest: dict) -> bytes:
    """The one text of a manifest (what install.sh's line reader expects)."""
    lines = ["{"]
    lines += [f'  "{key}": {json.dumps(manifest[key], sort_keys=True)},' for key in HEADER]
    lines.append('  "files": [')
    entries = [json.dumps({k: e[k] for k in (("path", "link") if "link" in e else
                                              ("path", "size", "sha256", "mode"))})
               for e in manifest["files"]]
    if entries:
        lines.append(",\n".join(f"    {e}" for e in entries))
    lines += ["  ]", "}", ""]
    return "\n".join(lines).encode()


def loads(data: bytes) -> dict:
    """Parse and check a manifest; VerifyError("manifest", ...) when it breaks a rule."""
    def bad(message: str) -> VerifyError:
        return VerifyError("manifest", f"{MANIFEST}: {message}")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad(f"not JSON ({exc})") from None
    if not isinstance(obj, dict) or set(obj) != {*HEADER, "files"}:
        raise bad(f"expected exactly the fields {', '.join(HEADER)}, files")
    if obj["format"] != FORMAT or obj["name"] != NAME:
        raise bad(f"not a {NAME} bundle manifest of format {FORMAT}")
    for key, pattern in (("version", _VERSION_RE), ("signer", _FPR_RE)):
        if not isinstance(obj[key], str) or not pattern.match(obj[key]):
            raise bad(f"{key} {obj[key]!r} is malformed")
    since = obj["since"]
    if since is not None and not (
            isinstance(since, dict) and set(since) == {"version", "manifest_sha256"}
            and isinstance(since["version"], str) and _VERSION_RE.match(since["version"])
            and isinstance(since["manifest_sha256"], str)
            and _SHA256_RE.match(since["manifest_sha256"])):
        raise bad("since must be null or {version, manifest_sha256}")
    if not isinstance(obj["removed"], list) or not all(
            isinstance(p, str) and safe_path(p) for p in obj["removed"]):
        raise bad("removed must be a list of relative paths")
    _check_files(obj["files"], bad)
    if dumps(obj) != data:
        raise bad("not in the one text form the builder writes (reformatted or edited?)")
    return obj


def _check_files(files, bad) -> None:
    if not isinstance(files, list):
        raise bad("files must be a list")
    kinds: dict[str, str] = {}
    for e in files:
        if not isinstance(e, dict) or not isinstance(e.get("path"), str):
            raise bad(f"malformed entry {e!r}")
        path = e["path"]
        if not safe_path(path) or path in (MANIFEST, SIGNATURE):
            raise VerifyError("unsafe", f"{path!r}: not a plain relative path inside the bundle")
        if path in kinds:
            raise bad(f"{path} is listed twice")
        if set(e) == {"path", "link"} and isinstance(e["link"], str):
            if not safe_path(e["link"]):
                raise VerifyError("unsafe", f"{path}: link target {e['link']!r} may leave "
                                  "its folder")
            kinds[path] = "link"
        elif (set(e) == {"path", "size", "sha256", "mode"} and type(e["size"]) is int
              and e["size"] >= 0 and isinstance(e["sha256"], str)
              and _SHA256_RE.match(e["sha256"]) and isinstance(e["mode"], str)
              and _MODE_RE.match(e["mode"])):
            kinds[path] = "file"
        else:
            raise bad(f"malformed entry {e!r}")
    for e in files:
        parts = e["path"].split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in kinds:
                raise bad(f"{e['path']} is listed under the file {'/'.join(parts[:i])}")
        if "link" in e:
            target = "/".join([*parts[:-1], e["link"]])
            if kinds.get(target) != "file":
                raise VerifyError("unsafe", f"{e['path']}: link to {e['link']}, which is not a "
                                  "file listed in the manifest")


def check_signature(manifest: bytes, signature: bytes, key: bytes, fingerprint: str) -> None:
    """gpgv checks ``signature`` with ``key`` alone; its primary key must be ``fingerprint``."""
    fingerprint = normalize_fingerprint(fingerprint)
    with tempfile.TemporaryDirectory(prefix="bundle-verify-") as tmp:
        paths = {}
        for name, data in (("keyring.gpg", key), ("manifest", manifest), ("sig", signature)):
            paths[name] = os.path.join(tmp, name)
            with open(paths[name], "wb") as f:
                f.write(data)
        try:
            done = subprocess.run(["gpgv", "--homedir", tmp, "--status-fd", "1",
                                   "--keyring", paths["keyring.gpg"], paths["sig"],
                                   paths["manifest"]],
                                  capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise VerifyError("signature", "gpgv is not installed (Debian package gpgv)") from None
    signers = [line.split()[-1] for line in done.stdout.splitlines()
               if line.startswith("[GNUPG:] VALIDSIG ")]
    if done.returncode != 0 or not signers:
        raise VerifyError("signature", f"{SIGNATURE} is not a good signature of {MANIFEST} "
                          f"by the bundle's {SIGNER_KEY}")
    if fingerprint not in signers:
        raise VerifyError("fingerprint", f"{MANIFEST} is signed by {', '.join(signers)}, "
                          f"not by {fingerprint}")


@dataclass
class Entry:
    """What the bundle holds at one path: ``kind`` file/link/dir/other."""
    kind: str
    size: int = 0
    sha256: str = ""
    link: str = ""


@dataclass
class Report:
    manifest: dict
    files: int
    bytes: int
    from_base: int = 0


def _hash_member(member, reader, keep: list | None) -> str:
    """sha256 of a tar member read to its end (its bytes kept too when ``keep`` is a list)."""
    h = hashlib.sha256()
    left = member.size
    if keep is not None and left > MAX_KEPT:
        raise VerifyError("unsafe", f"{member.name}: {left} bytes, too big for what it is")
    while left:
        chunk = reader.read(min(archives.CHUNK, left))
        if not chunk:
            raise VerifyError("tampered", f"{member.name}: cut short")
        h.update(chunk)
        if keep is not None:
            keep.append(chunk)
        left -= len(chunk)
    return h.hexdigest()


def walk_dir(root: Path) -> dict[str, Entry]:
    """Every entry under ``root`` (links not followed), regular files hashed in parallel."""
    out: dict[str, Entry] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            st = os.lstat(full)
            if os.path.islink(full):
                out[rel] = Entry("link", link=os.readlink(full))
            elif os.path.isdir(full):
                out[rel] = Entry("dir")
            elif os.path.isfile(full):
                out[rel] = Entry("file", st.st_size)
            else:
                out[rel] = Entry("other")
    return out


def hash_entries(root: Path, entries: dict[str, Entry], paths: list[str]) -> None:
    """Fill in ``sha256`` of the listed files, biggest first, on a few threads."""
    paths = sorted(paths, key=lambda p: -entries[p].size)
    with ThreadPoolExecutor(max(2, min(4, os.cpu_count() or 1))) as pool:
        for path, digest in zip(paths, pool.map(lambda p: sha256_file(root / p), paths)):
            entries[path].sha256 = digest


def verify_dir(root: str | os.PathLike, fingerprint: str,
               installed: str | os.PathLike | None = None) -> Report:
    """Check an extracted bundle folder (read only)."""
    root = Path(root)
    try:
        manifest = (root / MANIFEST).read_bytes()
        signature = (root / SIGNATURE).read_bytes()
        key = (root / SIGNER_KEY).read_bytes()
    except OSError as exc:
        raise VerifyError("missing", f"{exc.filename}: {exc.strerror}") from None
    check_signature(manifest, signature, key, fingerprint)
    obj = loads(manifest)
    entries = walk_dir(root)
    listed = _check_tree(obj, entries, top="")
    hash_entries(root, entries, [p for p in listed if p in entries])
    return _compare(obj, entries, listed, installed)


def verify_tar(path: str | os.PathLike, fingerprint: str,
               installed: str | os.PathLike | None = None) -> Report:
    """Check a bundle tar as it streams by, without writing any of it.

    The tar is read through appliance.archives, which refuses what a hostile
    one can do to tarfile itself (oversized or malformed pax headers, sparse
    members, links out through each other) before the rules here apply."""
    entries: dict[str, Entry] = {}
    small: dict[str, bytes] = {}
    top = None
    try:
        with open(path, "rb") as raw:
            for member, name, reader in archives.members(raw, TAR_LIMITS):
                first, _, rel = name.partition("/")
                top = top or first
                if first != top or (rel and not safe_path(rel)):
                    raise VerifyError("unsafe", f"{member.name}: outside the bundle's one folder")
                if not rel:
                    continue
                if rel in entries:
                    raise VerifyError("unsafe", f"{rel}: twice in the tar")
                if reader is not None:
                    keep = [] if rel in (MANIFEST, SIGNATURE, SIGNER_KEY) else None
                    entries[rel] = Entry("file", member.size,
                                         _hash_member(member, reader, keep))
                    if keep is not None:
                        small[rel] = b"".join(keep)
                elif member.issym():
                    entries[rel] = Entry("link", link=member.linkname)
                elif member.isdir():
                    entries[rel] = Entry("dir")
                else:
                    entries[rel] = Entry("other")
    except archives.ArchiveError as exc:
        raise VerifyError("unsafe", f"{path}: {exc}") from None
    except OSError as exc:
        raise VerifyError("missing", f"{path}: {exc.strerror}") from None
    for name in (MANIFEST, SIGNATURE, SIGNER_KEY):
        if name not in small:
            raise VerifyError("missing", f"{name}: not in the bundle")
    check_signature(small[MANIFEST], small[SIGNATURE], small[SIGNER_KEY], fingerprint)
    obj = loads(small[MANIFEST])
    if top != bundle_folder(obj["version"]):
        raise VerifyError("unsafe", f"{top}: the tar's folder is not "
                          f"{bundle_folder(obj['version'])}")
    listed = _check_tree(obj, entries, top=f"{top}/")
    return _compare(obj, entries, listed, installed)


def bundle_folder(version: str) -> str:
    return f"{NAME}-{version}"


def _check_tree(obj: dict, entries: dict[str, Entry], top: str) -> dict[str, dict]:
    """Rules 2-3 but the hashes: nothing extra, no other kind of entry, links as listed."""
    listed = {e["path"]: e for e in obj["files"]}
    folders = {"/".join(p.split("/")[:i]) for p in listed for i in range(1, p.count("/") + 1)}
    for path, entry in sorted(entries.items()):
        e = listed.get(path)
        if path in (MANIFEST, SIGNATURE) and entry.kind == "file":
            continue
        if entry.kind == "dir" and path in folders:
            continue
        if e is None:
            raise VerifyError("extra", f"{top}{path}: not listed in {MANIFEST}")
        if "link" in e:
            if entry.kind != "link" or entry.link != e["link"]:
                raise VerifyError("unsafe", f"{top}{path}: expected a link to {e['link']}")
        elif entry.kind != "file":
            raise VerifyError("unsafe", f"{top}{path}: expected a regular file, found a "
                              f"{entry.kind}")
    return listed


def _compare(obj: dict, entries: dict[str, Entry], listed: dict[str, dict],
             installed: str | os.PathLike | None) -> Report:
    """Rules 3-4: every listed file present with its hash, or (delta) in the installed tree."""
    absent = [p for p in listed if p not in entries]
    base = _base(obj, installed) if absent and obj["since"] else None
    for path in absent:
        e = listed[path]
        if base is None or "link" in e or base[1].get(path) != e["sha256"]:
            raise VerifyError("missing", f"{path}: listed in {MANIFEST} but not in the bundle")
    size = 0
    for path, e in listed.items():
        if path in entries and "link" not in e:
            found = entries[path]
            if found.size != e["size"] or found.sha256 != e["sha256"]:
                raise VerifyError("tampered", f"{path}: its sha256 is not the one in {MANIFEST}")
            size += e["size"]
    if base:
        root = base[0]
        for path in absent:
            if not (root / path).is_file() or (root / path).is_symlink() \
                    or sha256_file(root / path) != listed[path]["sha256"]:
                raise VerifyError("base", f"{root / path}: the installed file differs from "
                                  "the one this delta was built against")
    return Report(obj, len(listed), size, len(absent))


def _base(obj: dict, installed: str | os.PathLike | None) -> tuple[Path, dict[str, str]]:
    """The installed version this delta applies to: its folder and path -> sha256."""
    since = obj["since"]
    root = Path(installed) if installed else Path(INSTALLED_ROOT) / since["version"]
    try:
        data = (root / MANIFEST).read_bytes()
    except OSError as exc:
        raise VerifyError("base", f"this is a delta from {since['version']}, whose "
                          f"{root / MANIFEST} cannot be read ({exc.strerror})") from None
    if hashlib.sha256(data).hexdigest() != since["manifest_sha256"]:
        raise VerifyError("base", f"this is a delta from another build of {since['version']} "
                          f"than the one in {root} (its {MANIFEST}'s sha256 differs)")
    old = loads(data)
    return root, {e["path"]: e["sha256"] for e in old["files"] if "link" not in e}
