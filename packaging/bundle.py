"""Assemble the offline bundle: parts into a staging folder, a signed MANIFEST.json, one tar.

    .venv/bin/python packaging/bundle.py --manifest FILE --out DIR [--sign-key ID]
        [--gnupghome DIR] [--since OLD_MANIFEST.json] [--parts NAME,...]

(``appliance bundle build`` runs the same from a source checkout.) Each row
of ``PARTS`` writes some top-level folders of ``.cache/bundle/stage/
coder-appliance-VERSION/`` (the layout is docs/architecture.md's "The
offline bundle"): the mirror parts (providers, terraform, images) through
one incremental mirror-sync into ``.cache/bundle/mirror`` plus
terraform-provider-coder built by build_provider.py, the executables,
apt repository and Ansible runtime through the ``build()`` of their own
modules here, the templates from ``examples/templates``. Then every file is
hashed into MANIFEST.json (appliance.bundle_manifest writes its one text
form), which is signed detached with the named GnuPG key, and the folder is
packed into ``OUT/coder-appliance-VERSION-linux-amd64.tar``, written to a
temporary name and renamed.

A second build reuses what the parts cache (mirror downloads, PyInstaller
builds, .debs, wheels); the staging folder is hard links into those caches,
and a file whose size and modification time are those recorded at the last
build is not hashed again (as make and rsync decide). The tar is not
compressed: .debs, zips, OCI layers and wheels are compressed already
(docs/benchmarks.md, "Offline bundle"). With ``--since`` the tar carries
only files that are new or changed since that older MANIFEST.json (plus
install.sh and the signer's key, always), and its manifest names the old
version and the old manifest's sha256 (a delta bundle).

Run as a script (a ``packaging`` package would shadow PyPI's), or imported
with this folder on sys.path, like build_agent.py imports build_provider.py.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import hashlib
import importlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (str(REPO), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from appliance import __version__  # noqa: E402
from appliance import bundle_manifest as bm  # noqa: E402
from mirror_tools import manifest as manifest_mod  # noqa: E402

CACHE = REPO / ".cache" / "bundle"
TEMPLATES = REPO / "examples" / "templates"
ANSIBLE = REPO / "ansible"
INSTALL_SH = HERE / "install.sh"
PLATFORM = "linux-amd64"
ALWAYS_CARRIED = ("install.sh", bm.SIGNER_KEY)


class BuildError(Exception):
    """The bundle cannot be built; the message says which part and why."""


class Phases:
    """Progress: one line that updates on a terminal, one line per phase otherwise."""

    def __init__(self, stream: IO | None = None, tty: bool | None = None):
        stream = stream or sys.stderr
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.phase = ""
        self.started = 0.0
        self.times: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str):
        self.phase, self.started = phase, time.monotonic()
        self.message("")
        yield
        took = time.monotonic() - self.started
        self.times[phase] = self.times.get(phase, 0.0) + took
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(f"bundle: {phase} done in {took:.1f} s\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """What a part reports while it works (shown on a terminal only)."""
        if self.tty:
            self.stream.write(f"\rbundle: {self.phase}: {text}"[:200] + "\033[K")
            self.stream.flush()


@dataclass
class Context:
    manifest: manifest_mod.Manifest
    stage: Path
    gnupghome: Path | None
    signer: str
    phases: Phases
    cache: Path
    versions: dict = field(default_factory=dict)


def link_tree(src: Path, dest: Path) -> None:
    """``dest`` as hard links to ``src``'s files: no copy, and unchanged files keep their
    modification time, so they are not hashed again."""
    shutil.copytree(src.resolve(), dest, symlinks=True, copy_function=os.link)


def _import(module: str):
    """A part's module from packaging/, or a BuildError naming the missing file."""
    if not (HERE / f"{module}.py").is_file():
        raise BuildError(f"packaging/{module}.py is not in this checkout")
    return importlib.import_module(module)


# -- the parts ------------------------------------------------------------------------
def build_mirror(ctx: Context) -> None:
    """providers/, terraform/terraform, images/: one mirror-sync, then hard links."""
    from mirror_tools import fetch
    from mirror_tools.mirror_sync import sync
    progress = fetch.Progress("bundle: mirror", enabled=ctx.phases.tty)
    mirror = ctx.cache / "mirror"
    sync(ctx.manifest, mirror, progress=progress)
    build_provider = _import("build_provider")
    ctx.phases.message("terraform-provider-coder (PyInstaller, cached)")
    build_provider.build(mirror, "pyinstaller")
    link_tree(mirror / "providers", ctx.stage / "providers")
    state = json.loads((mirror / "mirror-state.json").read_text())["files"]
    ctx.versions["providers"] = sorted({f"{e['source']} {e['version']}" for e in state.values()
                                        if e.get("kind") == "provider"})
    spec = ctx.manifest.terraform
    zip_rel = f"terraform/{spec.version}/terraform_{spec.version}_linux_amd64.zip"
    binary = _terraform_binary(mirror / zip_rel, state[zip_rel]["sha256"], ctx.cache)
    (ctx.stage / "terraform").mkdir()
    os.link(binary, ctx.stage / "terraform" / "terraform")
    ctx.versions["terraform"] = spec.version
    ctx.versions["images"] = []
    if ctx.manifest.images:
        link_tree(mirror / "images", ctx.stage / "images")
        index = json.loads((ctx.stage / "images" / "index.json").read_text())
        ctx.versions["images"] = sorted(
            f"{(d.get('annotations') or {}).get('org.opencontainers.image.ref.name')}"
            f"@{d['digest']}" for d in index.get("manifests", []))


def _terraform_binary(zip_path: Path, sha256: str, cache: Path) -> Path:
    """The terraform executable out of its verified release zip, unpacked once per zip."""
    dest = cache / "terraform" / sha256 / "terraform"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path) as z, tempfile.NamedTemporaryFile(
                dir=dest.parent, delete=False) as tmp:
            with z.open("terraform") as f:
                shutil.copyfileobj(f, tmp, 1 << 20)
        os.chmod(tmp.name, 0o755)
        os.replace(tmp.name, dest)
    return dest


def build_executables(ctx: Context) -> None:
    """bin/ and agent/ (PyInstaller, packaging/executables.py)."""
    ctx.versions.update(_import("executables").build(ctx.stage, progress=ctx.phases.message))


def build_apt(ctx: Context) -> None:
    """apt/: the Debian packages a minimal Debian 12 lacks (packaging/aptrepo.py); and in
    MANIFEST.json, what install.sh sets up from them (the PostgreSQL, the extra packages)."""
    aptrepo = _import("aptrepo")
    spec = ctx.manifest.bundle
    packages = aptrepo.package_list(spec.packages)
    home = ctx.gnupghome or Path(os.environ.get("GNUPGHOME", "~/.gnupg")).expanduser()
    ctx.versions.update(aptrepo.build(ctx.stage / "apt", packages, home, ctx.signer,
                                      progress=ctx.phases.message))
    ctx.versions.update(bm.install_choices(spec.postgres, spec.packages))


def build_ansible(ctx: Context) -> None:
    """ansible/: the roles and playbooks of this checkout, and ansible-core under python/."""
    if not (ANSIBLE / "playbooks").is_dir():
        raise BuildError(f"{ANSIBLE}/playbooks is not in this checkout")
    runtime = _import("ansible_runtime")
    shutil.copytree(ANSIBLE, ctx.stage / "ansible",
                    ignore=shutil.ignore_patterns("python", "__pycache__", "*.retry"))
    ctx.versions.update(runtime.build(ctx.stage / "ansible" / "python",
                                      progress=ctx.phases.message))


def build_templates(ctx: Context) -> None:
    """templates/NAME/ for each template the manifest names."""
    for name in ctx.manifest.bundle.templates:
        src = TEMPLATES / name
        if not src.is_dir():
            known = ", ".join(sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir()))
            raise BuildError(f"bundle.templates: no template {name!r} in {TEMPLATES} "
                             f"(there are: {known})")
        shutil.copytree(src, ctx.stage / "templates" / name,
                        ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    ctx.versions["templates"] = list(ctx.manifest.bundle.templates)


def _reported(exc: Exception) -> bool:
    """A failure a part reports in words (no traceback): ours, mirror-sync's, a part
    module's own BuildError."""
    from mirror_tools.fetch import FetchError
    from mirror_tools.mirror_state import MirrorError
    from mirror_tools.providers.sync import SyncError
    return isinstance(exc, (BuildError, FetchError, MirrorError, SyncError,
                            manifest_mod.ManifestError)) or type(exc).__name__ == "BuildError"


@dataclass(frozen=True)
class Part:
    build: Callable[[Context], None]
    folders: tuple[str, ...]


PARTS: dict[str, Part] = {
    "mirror": Part(build_mirror, ("providers", "terraform", "images")),
    "executables": Part(build_executables, ("bin", "agent")),
    "apt": Part(build_apt, ("apt",)),
    "ansible": Part(build_ansible, ("ansible",)),
    "templates": Part(build_templates, ("templates",)),
}


# -- manifest, signature, tar -----------------------------------------------------------
class Signer:
    """The GnuPG key that signs MANIFEST.json (python-gnupg, ``--gnupghome``)."""

    def __init__(self, gnupghome: Path | None, key: str | None):
        import gnupg
        self.gpg = gnupg.GPG(gnupghome=str(gnupghome) if gnupghome else None)
        keys = self.gpg.list_keys(secret=True, keys=key) if key else \
            self.gpg.list_keys(secret=True)
        where = f"in {gnupghome}" if gnupghome else "in the default GnuPG home"
        if not keys:
            raise BuildError(f"no secret key {key or ''} {where} to sign with (--sign-key, "
                             "--gnupghome)".replace("  ", " "))
        if len(keys) > 1:
            raise BuildError(f"{len(keys)} secret keys {where} match: name one with --sign-key")
        self.fingerprint = keys[0]["fingerprint"]
        self.public_key = self.gpg.export_keys(self.fingerprint, armor=False)
        if not self.public_key:
            raise BuildError(f"cannot export the public key {self.fingerprint}")

    def sign(self, data: bytes) -> bytes:
        sig = self.gpg.sign(data, keyid=self.fingerprint, detach=True, binary=True)
        if not sig.data:
            raise BuildError(f"signing with {self.fingerprint} failed: {sig.status} "
                             "(a key with a passphrase needs gpg-agent to hold it)")
        return sig.data


class HashCache:
    """sha256 by path, reused while a file's size and modification time are unchanged."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.old = json.loads(path.read_text())
        except (OSError, ValueError):
            self.old = {}
        self.new: dict[str, list] = {}
        self.hashed = 0

    def entries(self, stage: Path) -> list[dict]:
        files, todo = [], {}
        for folder, dirs, names in os.walk(stage):
            dirs.sort()
            for name in sorted(dirs + names):
                full = Path(folder, name)
                rel = full.relative_to(stage).as_posix()
                if not bm.safe_path(rel):
                    raise BuildError(f"{rel}: a bundle path must be plain (letters, digits, "
                                     "._+@%~:,=-; no '.' or '..')")
                if full.is_symlink():
                    files.append(bm.link_entry(rel, os.readlink(full)))
                elif full.is_file():
                    st = full.stat()
                    known = self.old.get(rel)
                    mode = 0o755 if st.st_mode & 0o111 else 0o644
                    if known and known[:2] == [st.st_size, st.st_mtime_ns]:
                        self.new[rel] = known
                    else:
                        todo[rel] = [st.st_size, st.st_mtime_ns, None]
                    files.append(bm.file_entry(rel, st.st_size, "", mode))
        self.hashed = len(todo)
        if todo:
            found = {rel: bm.Entry("file", v[0]) for rel, v in todo.items()}
            bm.hash_entries(stage, found, list(found))
            for rel, value in todo.items():
                self.new[rel] = [value[0], value[1], found[rel].sha256]
        for e in files:
            if "sha256" in e:
                e["sha256"] = self.new[e["path"]][2]
        files.sort(key=lambda e: e["path"])
        return files

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.new))
        os.replace(tmp, self.path)


def read_old_manifest(since: Path) -> bytes:
    """The MANIFEST.json of an older bundle: the file itself, or read out of the bundle's tar."""
    try:
        if not tarfile.is_tarfile(since):
            return since.read_bytes()
        with tarfile.open(since, "r:") as tar:
            for member in tar:
                if member.isreg() and member.name.count("/") == 1 \
                        and member.name.endswith(f"/{bm.MANIFEST}"):
                    return tar.extractfile(member).read()
    except (OSError, tarfile.TarError) as exc:
        raise BuildError(f"--since {since}: {getattr(exc, 'strerror', None) or exc}") from None
    raise BuildError(f"--since {since}: no {bm.MANIFEST} in this tar")


def delta_of(files: list[dict], since: Path) -> tuple[dict, list[str], set[str]]:
    """(since field, removed paths, paths to carry) of a delta from the manifest ``since``."""
    data = read_old_manifest(since)
    try:
        old = bm.loads(data)
    except bm.VerifyError as exc:
        raise BuildError(f"--since {since}: {exc}") from None
    known = {(e["path"], e["sha256"]) for e in old["files"] if "link" not in e}
    paths = {e["path"] for e in files}
    carried = {e["path"] for e in files
               if "link" in e or (e["path"], e["sha256"]) not in known
               or e["path"] in ALWAYS_CARRIED}
    removed = sorted({e["path"] for e in old["files"]} - paths)
    since_field = {"version": old["version"], "manifest_sha256": hashlib.sha256(data).hexdigest()}
    return since_field, removed, carried


def pack(stage: Path, dest: Path, manifest: bytes, signature: bytes, files: list[dict],
         carried: set[str] | None, mtime: int) -> None:
    """The tar (MANIFEST.json and its signature first), written to a temporary name, renamed."""
    top = stage.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w",
                                                      format=tarfile.PAX_FORMAT) as tar:
            tar.copybufsize = 4 << 20

            def info(name: str, kind: bytes, size: int = 0, mode: int = 0o755) -> tarfile.TarInfo:
                ti = tarfile.TarInfo(f"{top}/{name}" if name else top)
                ti.type, ti.size, ti.mode, ti.mtime = kind, size, mode, mtime
                return ti

            tar.addfile(info("", tarfile.DIRTYPE))
            for name, data in ((bm.MANIFEST, manifest), (bm.SIGNATURE, signature)):
                tar.addfile(info(name, tarfile.REGTYPE, len(data), 0o644), io.BytesIO(data))
            folders: set[str] = set()
            chosen = [e for e in files if carried is None or e["path"] in carried]
            chosen.sort(key=lambda e: (e["path"] != bm.SIGNER_KEY, e["path"]))
            for e in chosen:
                parts = e["path"].split("/")
                for i in range(1, len(parts)):
                    folder = "/".join(parts[:i])
                    if folder not in folders:
                        folders.add(folder)
                        tar.addfile(info(folder, tarfile.DIRTYPE))
                if "link" in e:
                    ti = info(e["path"], tarfile.SYMTYPE, 0, 0o777)
                    ti.linkname = e["link"]
                    tar.addfile(ti)
                    continue
                with open(stage / e["path"], "rb") as f:
                    tar.addfile(info(e["path"], tarfile.REGTYPE, e["size"], int(e["mode"], 8)), f)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@dataclass
class Result:
    path: Path
    fingerprint: str
    manifest: dict
    sizes: dict[str, tuple[int, int]]   # top-level folder -> (files, bytes) in the tar
    tar_size: int
    times: dict[str, float]
    hashed: int   # files hashed (the others' size and time were those of the last build)


def build(manifest_path: str | os.PathLike, out: str | os.PathLike, *, sign_key: str | None = None,
          gnupghome: str | os.PathLike | None = None, since: str | os.PathLike | None = None,
          parts: list[str] | None = None, phases: Phases | None = None,
          cache: Path = CACHE) -> Result:
    """Build the bundle the manifest describes into ``out``; return where and what.

    ``cache`` holds the staging folder, the mirror and the hash record (the
    parts keep their own caches under .cache/)."""
    phases = phases or Phases()
    names = list(PARTS) if parts is None else parts
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        raise BuildError(f"unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")
    manifest = manifest_mod.load(manifest_path, bundle=True)
    manifest.check_files()
    gnupghome = Path(gnupghome) if gnupghome else None
    signer = Signer(gnupghome, sign_key)
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # one build at a time uses the staging folder
        stage = cache / "stage" / bm.bundle_folder(__version__)
        shutil.rmtree(stage.parent, ignore_errors=True)
        stage.mkdir(parents=True)
        ctx = Context(manifest, stage, gnupghome, signer.fingerprint, phases, cache)
        for name in names:
            with phases(name):
                try:
                    PARTS[name].build(ctx)
                except Exception as exc:
                    if not _reported(exc):
                        raise
                    raise BuildError(f"{name}: {exc}") from exc
        return seal(stage, out, signer, versions=ctx.versions, since=since, phases=phases,
                    hash_cache=cache / "hashes.json")



def seal(stage: Path, out: str | os.PathLike, signer: Signer, *, versions: dict,
         since: str | os.PathLike | None = None, phases: Phases | None = None,
         hash_cache: Path = CACHE / "hashes.json") -> Result:
    """Add install.sh and the signer's key to a staged folder, write and sign its
    MANIFEST.json, pack the tar. ``stage`` is named coder-appliance-VERSION."""
    phases = phases or Phases()
    version = stage.name.removeprefix(f"{bm.NAME}-")
    shutil.copy2(INSTALL_SH, stage / "install.sh")
    os.chmod(stage / "install.sh", 0o755)
    (stage / "keys").mkdir(exist_ok=True)
    (stage / bm.SIGNER_KEY).write_bytes(signer.public_key)
    with phases("hash"):
        cache = HashCache(hash_cache)
        files = cache.entries(stage)
    built = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    since_field, removed, carried = delta_of(files, Path(since)) if since else (None, [], None)
    obj = {"format": bm.FORMAT, "name": bm.NAME, "version": version,
           "built": built.isoformat().replace("+00:00", "Z"), "since": since_field,
           "removed": removed, "signer": signer.fingerprint,
           "versions": {"coderd": version, **versions}, "files": files}
    text = bm.dumps(obj)
    try:
        bm.loads(text)   # what install.sh and verify will read: refuse to write anything else
    except bm.VerifyError as exc:
        raise BuildError(f"the staged bundle breaks a rule: {exc}") from None
    with phases("sign"):
        signature = signer.sign(text)
    suffix = f"-delta-from-{since_field['version']}" if since_field else ""
    dest = Path(out) / f"{bm.NAME}-{version}{suffix}-{PLATFORM}.tar"
    with phases("pack"):
        pack(stage, dest, text, signature, files, carried, int(built.timestamp()))
    cache.save()
    sizes: dict[str, tuple[int, int]] = {}
    for e in files:
        if "link" not in e and (carried is None or e["path"] in carried):
            top = e["path"].split("/", 1)[0]
            count, size = sizes.get(top, (0, 0))
            sizes[top] = (count + 1, size + e["size"])
    return Result(dest, signer.fingerprint, obj, sizes, dest.stat().st_size, phases.times,
                  cache.hashed)


def print_summary(result: Result, stream: IO | None = None) -> None:
    """The size breakdown by part, the tar and the fingerprint to give the installer."""
    stream = stream or sys.stdout
    rows = sorted(result.sizes.items(), key=lambda kv: -kv[1][1])
    width = max([len(k) for k in result.sizes] + [6])
    print(f"{'FOLDER'.ljust(width)}  {'FILES':>6}  {'MB':>9}", file=stream)
    for name, (count, size) in rows:
        print(f"{name.ljust(width)}  {count:>6}  {size / 1e6:>9.1f}", file=stream)
    print(f"{'total'.ljust(width)}  {sum(c for c, _ in result.sizes.values()):>6}  "
          f"{result.tar_size / 1e6:>9.1f}  (the tar)", file=stream)
    print(f"bundle: {result.path}", file=stream)
    print(f"signed by: {result.fingerprint}", file=stream)
    print(f"install with: install.sh --fingerprint {result.fingerprint}", file=stream)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``appliance bundle build`` and of this script."""
    parser.add_argument("--manifest", required=True, metavar="FILE",
                        help="The bundle manifest (YAML; docs/examples/bundle-manifest.yaml).")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="Folder to write coder-appliance-VERSION-linux-amd64.tar into.")
    parser.add_argument("--sign-key", metavar="ID",
                        help="The GnuPG key to sign MANIFEST.json with (fingerprint, ID or "
                        "user ID; default: the only secret key in the GnuPG home).")
    parser.add_argument("--gnupghome", metavar="DIR",
                        help="The GnuPG home holding that key (default: GnuPG's own).")
    parser.add_argument("--since", metavar="OLD_MANIFEST.json",
                        help="Build a delta bundle: only files new or changed since that "
                        "bundle's MANIFEST.json, or since that bundle's tar (it installs onto "
                        "that exact version only).")
    parser.add_argument("--parts", metavar="NAME,...",
                        help=f"Build only these parts (default: all: {','.join(PARTS)}); "
                        "a bundle without all of them does not install.")


def parse_parts(text: str | None) -> list[str] | None:
    return [p.strip() for p in text.split(",") if p.strip()] if text else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        result = build(args.manifest, args.out, sign_key=args.sign_key,
                       gnupghome=args.gnupghome, since=args.since, parts=parse_parts(args.parts))
    except (BuildError, manifest_mod.ManifestError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_summary(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
