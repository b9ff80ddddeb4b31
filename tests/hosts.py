"""Debian 12 hosts for the tests that install the appliance as an administrator would.

The air-gapped target is a MINIMAL Debian 12: `debootstrap --variant=minbase`
plus what it takes to boot with systemd. Making one costs minutes, so it is made
once per machine under /var/tmp/appliance-hosts/ and each test works on a copy.
"""
from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
from pathlib import Path

HOSTS_DIR = Path("/var/tmp/appliance-hosts")
MINBASE = HOSTS_DIR / "minbase"
SOURCES = Path("/etc/apt/sources.list.d")


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (as ../shared/fresh-debian finds it)."""
    for sources in sorted(SOURCES.glob("*.sources")):
        found = re.search(r"^URIs:\s*(\S+)", sources.read_text(), re.M)
        if found:
            return found.group(1)
    legacy = Path("/etc/apt/sources.list")
    found = legacy.exists() and re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", legacy.read_text(), re.M)
    if not found:
        raise RuntimeError(f"no Debian mirror in {SOURCES}/*.sources or {legacy}")
    return found.group(1)


def minimal_debian_root() -> Path:
    """The minimal Debian 12 root file system, made on first use (never modify it: copy it).

    Made in a .tmp sibling and renamed, under a file lock, so that an interrupted
    run leaves nothing that looks finished and two processes do not both make it.
    """
    HOSTS_DIR.mkdir(parents=True, exist_ok=True)
    with open(HOSTS_DIR / "minbase.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if MINBASE.is_dir():
            return MINBASE
        for tool in ("debootstrap", "systemd-nspawn"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not installed (./dev setup installs the test packages)")
        tmp = MINBASE.with_name("minbase.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        log = HOSTS_DIR / "minbase-debootstrap.log"
        with open(log, "w") as out:
            made = subprocess.run(
                ["debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv,dbus",
                 "bookworm", str(tmp), debian_mirror()],
                stdout=out, stderr=subprocess.STDOUT)
        if made.returncode != 0:
            raise RuntimeError(f"debootstrap failed ({made.returncode}), see {log}")
        tmp.rename(MINBASE)
        return MINBASE
