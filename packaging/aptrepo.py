"""Build the bundle's ``apt/`` part: a signed local apt repository holding the Debian 12
packages the offline install needs that a minimal Debian 12 lacks, with their dependencies.

    .venv/bin/python packaging/aptrepo.py --out DIR --gnupghome HOME --sign-key KEY [--package NAME]...

The closure is resolved by apt itself, never by hand, with a private apt
configuration under ``.cache/aptrepo/`` (its own package lists from this
machine's bookworm sources, its own cache, no preferences) and a synthetic
dpkg status that holds only what a minimal Debian 12 has (every ``Essential:
yes`` or ``Priority: required`` package and apt, with their dependencies, as
debootstrap's minbase installs them). ``apt-get install --download-only``
against that status fetches exactly what such a host lacks, choosing
alternatives and versions as apt will on the host; Recommends are included,
as apt's default on the host installs them too. The machine's own dpkg and
apt state, and their locks, are never touched; no root is needed.

A host left at an earlier point release may have older versions of that
baseline than a package needs; apt resolves the closure a second time against
a baseline at version 0, and the baseline packages it would upgrade there are
carried too (apt on the host uses them only when needed).

Downloaded ``.deb`` files stay in ``.cache/aptrepo/archives/`` (versions no
longer in the lists are pruned), so a second build with nothing changed
downloads nothing. The result, written atomically to ``DIR``::

    pool/main/*.deb
    dists/bookworm/{Release,InRelease,Release.gpg}
    dists/bookworm/main/binary-amd64/{Packages,Packages.gz}
    keyring.gpg      the signing key, binary, for sources' ``signed-by=``

Run as a script (see build_provider.py: a ``packaging`` package would shadow PyPI's).
"""
from __future__ import annotations

import argparse
import datetime
import email.utils
import fcntl
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

import gnupg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_provider import REPO, BuildError  # noqa: E402

CACHE = REPO / ".cache" / "aptrepo"
SUITE, COMPONENT, ARCH = "bookworm", "main", "amd64"
HOST_SOURCES = Path("/etc/apt/sources.list.d")

# What the install needs on the host, the one place this list is kept (the
# bundle manifest may add to it). The embedded PostgreSQL's binaries and the
# PyInstaller executables need only libc6 and zlib1g from the host (checked
# with ldd: PyInstaller carries every other library), both already required.
# bootstrap-python.sh (ansible/roles/appliance_files/files/: install.sh on its host, the
# role on a host over SSH) installs the first ones with apt before Ansible can run; the
# appliance_apt_repo role installs the others (its default list is the rest of
# this one, which tests/ansible/test_roles_static.py checks).
BOOTSTRAP_PACKAGES = (
    "python3",          # Ansible's modules run with the host's own python3
    "python3-apt",      # ansible.builtin.apt needs it (and would otherwise try to fetch it)
)
DEFAULT_PACKAGES = (
    *BOOTSTRAP_PACKAGES,
    "sudo",             # Ansible's become_user for the service user
    "ca-certificates", "openssl",
    "docker-registry", "podman", "runc", "bubblewrap", "skopeo",
    "uidmap", "slirp4netns", "fuse-overlayfs",
    "curl",             # an agent's init script fetches the agent from coderd with it
    "libpam-systemd",   # the service user's systemd manager, which runs the host's workspaces
)
# Debian's PostgreSQL (15): the single-node install sets it up when the manifest chooses
# it over the embedded one (`postgres: debian`), the cluster playbook under Patroni.
POSTGRESQL_PACKAGES = ("postgresql",)
# What ansible/playbooks/cluster.yml installs besides the defaults (its roles' package
# lists, which tests/ansible/test_roles_static.py checks). Carried in every bundle, so any
# bundle deploys one host or a cluster: 73 packages, 83 MB more (docs/benchmarks.md).
CLUSTER_PACKAGES = (
    *POSTGRESQL_PACKAGES,
    "patroni",                       # PostgreSQL's failover manager (its DCS: etcd)
    "etcd-server", "etcd-client",    # the DCS, and etcdctl to check it
    "haproxy",                       # in front of the coderd replicas
)

# debootstrap's minbase installs usr-is-merged for init-system-helpers'
# "usrmerge | usr-is-merged"; apt alone would pick usrmerge (and perl).
BASELINE_EXTRA = ("apt", "usr-is-merged")

# The relations a stale baseline package is written without (see write_baseline_status).
STALE_DROPS = r"^(Pre-Depends|Depends|Breaks|Conflicts): .*\n"

Progress = Callable[[str], None] | None


def package_list(extra: Iterable[str] = ()) -> list[str]:
    """The packages to carry: the defaults, the cluster's and the manifest's."""
    wanted = [*DEFAULT_PACKAGES, *CLUSTER_PACKAGES, *extra]
    return list(dict.fromkeys(wanted))


# Read after the machine's apt.conf.d (whose proxy settings apply), it drops the
# machine's hooks, which act on the machine's own state (docker-clean, appstream,
# PackageKit...), and brings back the binary caches some images turn off: without
# them each apt call re-reads all the lists.
PRIVATE_MAIN_CONFIG = """\
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
#clear DPkg::Pre-Invoke;
#clear DPkg::Post-Invoke;
#clear DPkg::Pre-Install-Pkgs;
Dir::Cache::pkgcache "pkgcache.bin";
Dir::Cache::srcpkgcache "srcpkgcache.bin";
"""


class PrivateApt:
    """apt-get and apt-cache with their own state, cache, sources and hooks under ``root``."""

    def __init__(self, root: Path, variant: str = ""):
        self.root = root
        self.status = root / "state" / f"status{variant}"
        self.archives = root / "archives"
        cache = root / f"cache{variant}"   # apt's binary caches are per status file
        etc = root / "etc"
        for folder in (root / "state" / "lists" / "partial", cache,
                       self.archives / "partial", etc / "sources.list.d", etc / "preferences.d",
                       root / "log"):
            folder.mkdir(parents=True, exist_ok=True)
        deb822, one_line = bookworm_sources()
        host_main = Path("/etc/apt/apt.conf")
        include = f'#include "{host_main}";\n' if host_main.exists() else ""
        for path, text in {etc / "sources.list.d" / "bookworm.sources": deb822,
                           etc / "sources.list": one_line,
                           etc / "apt.conf": include + PRIVATE_MAIN_CONFIG,
                           # APT_CONFIG is read before apt.conf.d, Dir::Etc::main after it.
                           etc / "apt-config": f'Dir::Etc::main "{etc / "apt.conf"}";\n'}.items():
            # Rewritten only when changed: a newer sources file makes apt re-read every list.
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
        self.env = {**os.environ, "APT_CONFIG": str(etc / "apt-config"),
                    "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
        if not self.status.exists():
            self.status.write_text("")
        self.options = [f"-o{key}={value}" for key, value in {
            "Dir::State": root / "state", "Dir::State::status": self.status,
            "Dir::Cache": cache, "Dir::Cache::archives": self.archives,
            "Dir::Etc::sourcelist": etc / "sources.list", "Dir::Etc::sourceparts": etc / "sources.list.d",
            "Dir::Etc::preferences": etc / "preferences", "Dir::Etc::preferencesparts": etc / "preferences.d",
            "Dir::Log": root / "log", "APT::Architecture": ARCH, "APT::Architectures::": ARCH,
            "Acquire::Languages": "none", "APT::Get::Assume-Yes": "true",
        }.items()]

    def run(self, tool: str, *args: str) -> str:
        done = subprocess.run([tool, *self.options, *args], capture_output=True, text=True, env=self.env)
        if done.returncode != 0:
            errors = [line for line in done.stderr.splitlines() if line.startswith("E:")]
            raise BuildError(f"{tool} {' '.join(args[:2])} failed: "
                             + "; ".join(errors or done.stderr.strip().splitlines()[-3:]))
        return done.stdout

    def simulate(self, packages: list[str], *options: str) -> dict[str, tuple[str, str]]:
        """name -> (version, architecture) of what ``apt-get install`` would install."""
        out = self.run("apt-get", "--simulate", *options, "install", *packages)
        return {m[1]: (m[2], m[3])
                for m in re.finditer(r"^Inst (\S+) (?:\[\S+\] )?\((\S+) .*\[(\S+)\]\)", out, re.M)}


def bookworm_sources() -> tuple[str, str]:
    """This machine's bookworm sources: its deb822 stanzas and its one-line entries."""
    deb822 = [stanza.strip() for sources in sorted(HOST_SOURCES.glob("*.sources"))
              for stanza in re.split(r"\n\s*\n", sources.read_text())
              if re.search(r"^Suites:.*\bbookworm", stanza, re.M | re.I)
              and re.search(r"^Types:.*\bdeb\b", stanza, re.M | re.I)]
    one_line = [line.strip() for sources in [HOST_SOURCES.with_name("sources.list"),
                                             *sorted(HOST_SOURCES.glob("*.list"))]
                if sources.exists() for line in sources.read_text().splitlines()
                if re.match(r"\s*deb\s.*\sbookworm", line)]
    if not deb822 and not one_line:
        raise BuildError(f"no Debian bookworm source in {HOST_SOURCES.parent}/sources.list(.d)")
    return "\n\n".join(deb822) + "\n", "\n".join(one_line) + "\n"


def parse_stanzas(text: str) -> dict[str, str]:
    """Package name -> its stanza, from ``apt-cache dumpavail`` (one candidate per package)."""
    stanzas = {}
    for stanza in text.split("\n\n"):
        found = re.search(r"^Package: (\S+)", stanza, re.M)
        if found:
            stanzas[found.group(1)] = stanza.strip("\n")
    return stanzas


def write_baseline_status(apt: PrivateApt, stale: PrivateApt) -> int:
    """Write the dpkg status of a minimal Debian 12 as ``apt``'s, and that of one
    at its release's oldest state as ``stale``'s; return the baseline's size.

    The stale one holds every baseline package at version 0 and without
    dependencies or conflicts (which would be unmet), so apt upgrades there whatever a package needs newer than a
    host left at any earlier point release has (an old libsystemd0 for the
    systemd that libpam-systemd wants, say); carrying those too lets the
    repository install on such a host, where the newer ones are used only when needed.
    Both depend only on the package lists (named by their signed Release files),
    so they are made again only when those change: making them costs most of a cached build.
    """
    releases = sorted((apt.root / "state" / "lists").glob("*Release"))
    stamp = hashlib.sha256(repr((BASELINE_EXTRA, STALE_DROPS)).encode())
    for release in releases:
        stamp.update(release.name.encode() + b"\0" + release.read_bytes())
    stamp_file = apt.status.with_name("status.stamp")
    if stamp_file.exists() and stamp_file.read_text() == stamp.hexdigest():
        return apt.status.read_text().count("\nStatus: install ok installed")
    stamp_file.unlink(missing_ok=True)
    apt.status.write_text("")
    available = parse_stanzas(apt.run("apt-cache", "dumpavail"))
    seeds = [name for name, stanza in available.items()
             if re.search(r"^(Essential: yes|Priority: required)$", stanza, re.M)]
    baseline = apt.simulate([*seeds, *BASELINE_EXTRA], "--no-install-recommends")
    installed = [re.sub(r"^Package: .*$", lambda m: m[0] + "\nStatus: install ok installed",
                        available[name], count=1, flags=re.M) for name in sorted(baseline)]
    old = [re.sub(r"^Version: .*$", "Version: 0", re.sub(STALE_DROPS, "", stanza, flags=re.M),
                  count=1, flags=re.M) for stanza in installed]
    for target, stanzas in ((apt.status, installed), (stale.status, old)):
        tmp = target.with_suffix(".tmp")
        tmp.write_text("\n\n".join(stanzas) + "\n")
        os.replace(tmp, target)
    stamp_file.write_text(stamp.hexdigest())
    return len(installed)


def cached_deb(name: str, version: str, arch: str) -> str:
    """The file name apt gives a downloaded package (an epoch's ':' quoted, lower case)."""
    return f"{name}_{version.replace(':', '%3a')}_{arch}.deb"


def pool_deb(name: str, version: str, arch: str) -> str:
    """The file name in the pool: Debian's own, without the epoch (no '%' in a file: URI)."""
    return f"{name}_{version.split(':', 1)[-1]}_{arch}.deb"


def ftparchive(*args: str, cwd: Path) -> bytes:
    done = subprocess.run(["apt-ftparchive", *args], cwd=cwd, capture_output=True)
    if done.returncode != 0:
        raise BuildError(f"apt-ftparchive {args[0]} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def archive_date(apt: PrivateApt) -> str:
    """The Date of the newest Debian Release the packages come from.

    It dates our Release: apt refuses one dated after the host's clock, and an
    air-gapped host's clock is often behind the machine that built the bundle.
    """
    dates = [re.search(r"^Date: (.+)$", release.read_text(errors="replace"), re.M)
             for release in (apt.root / "state" / "lists").glob("*Release")]
    stamps = [email.utils.parsedate_to_datetime(date.group(1)) for date in dates if date]
    if not stamps:
        raise BuildError("the package lists have no dated Release file")
    return email.utils.format_datetime(max(stamps).astimezone(datetime.timezone.utc), usegmt=True)


def write_index(repo: Path, date: str) -> None:
    """Packages(.gz) and an unsigned Release dated ``date``, with SHA256/SHA512 hashes
    (no MD5, no SHA1)."""
    binary = repo / "dists" / SUITE / COMPONENT / f"binary-{ARCH}"
    binary.mkdir(parents=True)
    packages = ftparchive("packages", "pool", cwd=repo)
    (binary / "Packages").write_bytes(packages)
    (binary / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
    fields = {"Origin": "coder-appliance", "Label": "coder-appliance offline packages",
              "Suite": SUITE, "Codename": SUITE, "Components": COMPONENT, "Architectures": ARCH,
              "Date": date, "MD5": "false", "SHA1": "false"}
    options = [f"-oAPT::FTPArchive::Release::{key}={value}" for key, value in fields.items()]
    dists = repo / "dists" / SUITE
    (dists / "Release").write_bytes(ftparchive(*options, "release", ".", cwd=dists))


def sign_release(repo: Path, gnupghome: Path, sign_key: str) -> None:
    """InRelease, Release.gpg and keyring.gpg with the bundle's key, checked as apt will."""
    gpg = gnupg.GPG(gnupghome=str(gnupghome))
    public = gpg.export_keys(sign_key.rstrip("!"), armor=False)
    if not public:
        raise BuildError(f"no public key {sign_key} in {gnupghome}")
    (repo / "keyring.gpg").write_bytes(public)
    dists = repo / "dists" / SUITE
    release = dists / "Release"
    # --local-user, not python-gnupg's keyid (--default-key): gpg falls back to
    # another secret key when the default one is missing. apt refuses SHA-1.
    extra = ["--local-user", sign_key, "--digest-algo", "SHA512"]
    for name, kind in (("InRelease", {"clearsign": True}), ("Release.gpg", {"detach": True})):
        with open(release, "rb") as data:
            signed = gpg.sign_file(data, output=str(dists / name), extra_args=extra, **kind)
        if signed.returncode != 0 or not (dists / name).stat().st_size:
            raise BuildError(f"signing {name} with key {sign_key} in {gnupghome} failed: "
                             f"{(signed.stderr or '').strip().splitlines()[-1:]}")
    for signature in (["InRelease"], ["Release.gpg", "Release"]):
        checked = subprocess.run(["gpgv", "--keyring", str(repo / "keyring.gpg"), *signature],
                                 cwd=dists, capture_output=True, text=True)
        if checked.returncode != 0:
            raise BuildError(f"{signature[0]} does not verify with key {sign_key}: "
                             f"{checked.stderr.strip().splitlines()[-1:]}")


def replace_dir(built: Path, dest: Path) -> None:
    """Put ``built`` at ``dest``; a previous ``dest`` is moved aside first, then removed."""
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        os.replace(dest, old)
    os.replace(built, dest)
    shutil.rmtree(old, ignore_errors=True)


def fetch_closure(apt: PrivateApt, stale: PrivateApt, packages: list[str],
                  say) -> dict[str, tuple[str, str]]:
    """Download what a minimal Debian 12 lacks for ``packages``, at this point release
    or an earlier one; name -> (version, arch)."""
    say("apt: updating package lists (bookworm)")
    apt.run("apt-get", "update")
    say(f"apt: minimal Debian 12 baseline: {write_baseline_status(apt, stale)} packages")
    closure = apt.simulate(packages)
    if not closure:
        raise BuildError(f"a minimal Debian 12 already has all of: {' '.join(packages)}")
    upgrades = {name: found for name, found in stale.simulate(packages).items() if name not in closure}
    missing = [name for name, (version, arch) in {**closure, **upgrades}.items()
               if not (apt.archives / cached_deb(name, version, arch)).exists()]
    say(f"apt: {len(closure)} packages and {len(upgrades)} baseline updates, "
        f"downloading {len(missing)}")
    if missing:
        for each in (apt, stale):
            each.run("apt-get", "--download-only", "install", *packages)
        apt.run("apt-get", "autoclean")
    return {**closure, **upgrades}


def write_repository(repo: Path, apt: PrivateApt, closure: dict[str, tuple[str, str]],
                     gnupghome: Path, sign_key: str) -> None:
    pool = repo / "pool" / COMPONENT
    pool.mkdir(parents=True)
    for name, (version, arch) in closure.items():
        deb = apt.archives / cached_deb(name, version, arch)
        if not deb.exists():
            raise BuildError(f"apt did not download {deb.name}")
        shutil.copy2(deb, pool / pool_deb(name, version, arch))
    write_index(repo, archive_date(apt))
    sign_release(repo, gnupghome, sign_key)


def build(dest: Path, packages: list[str], gnupghome: Path, sign_key: str,
          progress: Progress = None) -> dict:
    """Write the signed repository of ``packages`` and their closure to ``dest``;
    return ``{"packages": {name: version}}`` for MANIFEST.json's versions."""
    say = progress or (lambda message: None)
    for tool, package in (("apt-get", "apt"), ("apt-ftparchive", "apt-utils")):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} is not installed (Debian package {package})")
    CACHE.mkdir(parents=True, exist_ok=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # One build at a time: apt's own locks would fail a second one, and its
    # autoclean could remove a .deb the other is copying.
    with open(CACHE / "build.lock", "w") as lock, \
            tempfile.TemporaryDirectory(prefix=f".{dest.name}-", dir=dest.parent) as tmp:
        fcntl.flock(lock, fcntl.LOCK_EX)
        apt = PrivateApt(CACHE)
        closure = fetch_closure(apt, PrivateApt(CACHE, "-stale"), packages, say)
        say("apt: indexing and signing the repository")
        write_repository(Path(tmp) / "apt", apt, closure, gnupghome, sign_key)
        replace_dir(Path(tmp) / "apt", dest)
    return {"packages": {name: version for name, (version, _) in sorted(closure.items())}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("--out", type=Path, required=True, help="The repository folder to write.")
    parser.add_argument("--gnupghome", type=Path, required=True, help="GnuPG home holding the signing key.")
    parser.add_argument("--sign-key", required=True, help="Fingerprint of the key that signs Release.")
    parser.add_argument("--package", action="append", default=[], metavar="NAME",
                        help="A package to carry besides the defaults (repeatable).")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        versions = build(args.out, package_list(args.package),
                         args.gnupghome, args.sign_key, progress=print)
    except (BuildError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"{args.out}: {len(versions['packages'])} packages, {size / 1e6:.1f} MB, "
          f"{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
