"""packaging/aptrepo.py: the bundle's apt repository installs the default packages on a
minimal Debian 12 with no network and no other source, and apt refuses it when tampered.

Each host is a copy of tests.hosts' minimal root run with ``systemd-nspawn
--private-network`` (loopback only), whose apt reads nothing but the bundle's
repository, checked with the bundle's key (never ``trusted=yes``).
"""
from __future__ import annotations

import email.utils
import gzip
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gnupg
import pytest

from tests.hosts import minimal_debian_root
from tests.kit.tf_registry import SigningKey

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "packaging"))
import aptrepo  # noqa: E402

pytestmark = pytest.mark.slow

IN_HOST = "/opt/bundle/apt"
SOURCES = "/opt/bundle/offline.list"
# apt reads only the bundle's source: no sources.list.d, the list named here.
APT = f"-o Dir::Etc::sourcelist={SOURCES} -o Dir::Etc::sourceparts=-"


@pytest.fixture(scope="module")
def workdir():
    # /var/tmp: the repository and host copies would not fit CI's small /tmp.
    path = Path(tempfile.mkdtemp(prefix="aptrepo-test-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def keys(workdir):
    made = {name: SigningKey(workdir / f"gnupg-{name}", f"Bundle {name}") for name in ("bundle", "rogue")}
    yield made
    for key in made.values():
        key.close()


@pytest.fixture(scope="module")
def built(workdir, keys):
    """The repository of the default packages, and what build() reported."""
    dest = workdir / "apt"
    versions = aptrepo.build(dest, aptrepo.package_list(), keys["bundle"].home,
                             keys["bundle"].fingerprint)
    return dest, versions


def make_stale(root: Path) -> None:
    """Make the host's packages one version older than the build's, all of them at once
    (as on a host left at an earlier point release); the versions in relations
    follow, so the host stays consistent."""
    status = root / "var/lib/dpkg/status"
    text = re.sub(r"^(Version: .*)$", r"\1~old", status.read_text(), flags=re.M)
    status.write_text(re.sub(r"\((<<|<=|=|>=|>>) ([^)]+)\)", r"(\1 \2~old)", text))


def run_on_minimal_host(workdir: Path, repo: Path, script: str,
                        stale: bool = False) -> subprocess.CompletedProcess:
    """Run ``script`` as root on a fresh copy of the minimal Debian 12 root holding ``repo``."""
    root = Path(tempfile.mkdtemp(prefix="host-", dir=workdir)) / "root"
    try:
        subprocess.run(["cp", "-a", "--reflink=auto", str(minimal_debian_root()), str(root)], check=True)
        if stale:
            make_stale(root)
        shutil.copytree(repo, root / IN_HOST.lstrip("/"), symlinks=True)
        (root / SOURCES.lstrip("/")).write_text(
            f"deb [signed-by={IN_HOST}/keyring.gpg] file:{IN_HOST} bookworm main\n")
        return subprocess.run(
            ["systemd-nspawn", "--register=no", "--keep-unit", "-q", "--private-network",
             "-D", str(root), "--pipe", "-E", "DEBIAN_FRONTEND=noninteractive", "--",
             "sh", "-c", script],
            capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


# apt's default installs Recommends; the appliance_apt_repo role does not. A
# stale host needs some of its own packages updated (from the repository too).
@pytest.mark.booted_hosts
def test_default_packages_install_offline_with_recommends_on_a_stale_minimal_debian(workdir, built):
    """The widest closure the repository must hold: every Recommends, on a host whose own
    packages are older than bookworm's current ones. (Without Recommends on a current
    host is what the roles do: tests/packaging/test_install_host.py.)"""
    repo, versions = built
    packages = versions["packages"]
    assert set(aptrepo.DEFAULT_PACKAGES) <= set(packages)
    assert "libsystemd0" in packages, "the baseline's updates are carried"
    assert len(list((repo / "pool" / "main").glob("*.deb"))) == len(packages)
    script = f"""set -e
        test "$(ls /sys/class/net)" = lo
        apt-get {APT} update
        apt-get {APT} install -y {' '.join(aptrepo.package_list())}
        podman --version
        docker-registry --version
        python3 -c 'import ssl, apt; print(ssl.OPENSSL_VERSION)'
        dpkg-query -W -f '${{Package}}=${{Version}}\\n' {' '.join(aptrepo.DEFAULT_PACKAGES)}"""
    done = run_on_minimal_host(workdir, repo, script, stale=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "podman version" in done.stdout and "docker/distribution" in done.stdout
    assert "OpenSSL 3" in done.stdout
    installed = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert {name: installed.get(name) for name in aptrepo.DEFAULT_PACKAGES} == \
        {name: packages[name] for name in aptrepo.DEFAULT_PACKAGES}


def resign(repo: Path, key: SigningKey) -> None:
    dists = repo / "dists" / "bookworm"
    data = (dists / "Release").read_bytes()
    clear = key.gpg.sign(data, keyid=key.fingerprint + "!", clearsign=True,
                         extra_args=["--digest-algo", "SHA512"])
    (dists / "InRelease").write_bytes(clear.data)
    (dists / "Release.gpg").write_bytes(key.sign(data))


def tamper_packages(repo: Path, keys) -> None:
    """podman's entry edited in Packages (and Packages.gz), Release left as signed."""
    binary = repo / "dists" / "bookworm" / "main" / "binary-amd64"
    text = (binary / "Packages").read_text()
    text = text.replace("Package: podman\n", "Package: podman\nX-Evil: 1\n", 1)
    (binary / "Packages").write_text(text)
    (binary / "Packages.gz").write_bytes(gzip.compress(text.encode()))


def unsign(repo: Path, keys) -> None:
    for name in ("InRelease", "Release.gpg"):
        (repo / "dists" / "bookworm" / name).unlink()


def sign_with_rogue_key(repo: Path, keys) -> None:
    resign(repo, keys["rogue"])


def tamper_release(repo: Path, keys) -> None:
    """Release edited after signing (a hash replaced), old signatures kept."""
    dists = repo / "dists" / "bookworm"
    for name in ("InRelease", "Release"):
        text = (dists / name).read_text()
        (dists / name).write_text(text.replace("Origin: coder-appliance", "Origin: evil", 1))


@pytest.mark.parametrize("attack, refusal", [
    (tamper_packages, "Hash Sum mismatch|unexpected size"),
    (unsign, "is not signed"),
    (sign_with_rogue_key, "NO_PUBKEY"),
    (tamper_release, "BADSIG|invalid"),
])
@pytest.mark.booted_hosts
def test_apt_refuses_a_tampered_repository(workdir, built, keys, attack, refusal):
    repo = workdir / f"tampered-{attack.__name__}"
    shutil.copytree(built[0], repo)
    attack(repo, keys)
    done = run_on_minimal_host(workdir, repo, f"""
        apt-get {APT} update; echo "update=$?"
        apt-get {APT} install -y podman; echo "install=$?"
        command -v podman || echo "no podman" """)
    out = done.stdout + done.stderr
    assert "install=0" not in out and "no podman" in out, out[-3000:]
    assert re.search(refusal, out), out[-3000:]


def test_second_build_downloads_nothing(workdir, built, keys):
    seen = []
    versions = aptrepo.build(workdir / "again", aptrepo.package_list(), keys["bundle"].home,
                             keys["bundle"].fingerprint, progress=seen.append)
    assert versions == built[1]
    assert [m for m in seen if m.startswith("apt: ") and m.endswith(", downloading 0")], seen
    assert (workdir / "again" / "dists" / "bookworm" / "InRelease").stat().st_size
    # Dated by Debian's archive, not the build's clock: the same bytes again,
    # and not "in the future" for a host whose clock is behind this machine's.
    release = (workdir / "again" / "dists" / "bookworm" / "Release").read_bytes()
    assert release == (built[0] / "dists" / "bookworm" / "Release").read_bytes()
    date = re.search(rb"^Date: (.+)$", release, re.M).group(1).decode()
    assert email.utils.parsedate_to_datetime(date).timestamp() < time.time() - 60


def test_unknown_package_is_a_clear_error(workdir, keys):
    with pytest.raises(aptrepo.BuildError, match="no-such-package"):
        aptrepo.build(workdir / "never", ["no-such-package"], keys["bundle"].home,
                      keys["bundle"].fingerprint)
    assert not (workdir / "never").exists()


def test_a_named_key_without_its_secret_is_refused(workdir, keys):
    """gpg would sign with another secret key of the keyring; the build must not."""
    home = workdir / "gnupg-mixed"
    shutil.copytree(keys["bundle"].home, home, ignore=shutil.ignore_patterns("S.*"))
    gnupg.GPG(gnupghome=str(home)).import_keys(keys["rogue"].public_key)
    with pytest.raises(aptrepo.BuildError, match="No secret key"):
        aptrepo.build(workdir / "never", aptrepo.package_list(), home, keys["rogue"].fingerprint)
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
    assert not (workdir / "never").exists()
