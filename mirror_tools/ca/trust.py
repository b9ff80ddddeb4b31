"""Installing the CA's root into a Debian or RHEL system trust store."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from mirror_tools.ca.pem import CAError, read_certs, write_pem

TRUST_FILE_NAME = "coder-appliance-root.crt"


@dataclass(frozen=True)
class TrustInstall:
    """Where the root went and the store-refresh command that ran (or must run)."""

    os_family: str
    path: Path
    command: tuple[str, ...]
    ran: bool
    output: str = ""


_DEBIAN_IDS = {"debian", "ubuntu", "linuxmint", "raspbian", "devuan"}
_RHEL_IDS = {"rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn"}


def detect_os_family(root: Path) -> str:
    """``debian`` or ``rhel`` from ``ROOT/etc/os-release`` (ID, then ID_LIKE)."""
    for rel in ("etc/os-release", "usr/lib/os-release"):
        path = root / rel
        if path.exists():
            break
    else:
        raise CAError(f"{root / 'etc/os-release'}: missing, cannot tell the system's family",
                      "pass --os debian or --os rhel")
    fields = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    ids = [fields.get("ID", "")] + fields.get("ID_LIKE", "").split()
    for ident in (i.strip().strip('"').lower() for i in ids):
        if ident in _DEBIAN_IDS:
            return "debian"
        if ident in _RHEL_IDS:
            return "rhel"
    raise CAError(f"{path}: unknown system {fields.get('ID', '?')!r}",
                  "pass --os debian or --os rhel")


def install_trust(cert_path: str | os.PathLike, root: str | os.PathLike = "/",
                  os_family: str | None = None) -> TrustInstall:
    """Install one CA certificate into the system trust store under ``root``.

    Debian: ``ROOT/usr/local/share/ca-certificates/`` then
    ``update-ca-certificates``; RHEL: ``ROOT/etc/pki/ca-trust/source/anchors/``
    then ``update-ca-trust extract``. With ``root`` other than ``/`` nothing
    outside ``root`` is touched: on Debian, ``update-ca-certificates`` runs
    with every one of its folders pointed inside ``root``; on RHEL, whose tool
    has no such options, or where this machine has no ``update-ca-certificates``,
    the command is returned unrun (``ran=False``) to be run inside that system.
    """
    # Absolute: update-ca-certificates changes folder as it works, so a relative
    # root would send its links and bundle elsewhere (and report success).
    cert_path, root = Path(cert_path), Path(root).resolve()
    certs = read_certs(cert_path)
    if len(certs) != 1:
        raise CAError(f"{cert_path}: holds {len(certs)} certificates; install-trust takes the "
                      "root alone", "use CA_DIR/root.crt or a bundle written without "
                      "--with-intermediate")
    try:
        is_ca = certs[0].extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise CAError(f"{cert_path}: not a CA certificate; trust the root, not a server certificate")
    family = os_family or detect_os_family(root)
    real = root.resolve() == Path("/")
    if family == "debian":
        dest = root / "usr/local/share/ca-certificates" / TRUST_FILE_NAME
        command: tuple[str, ...] = ("update-ca-certificates",)
        # Debian's tool can be pointed at another root; RHEL's cannot.
        can_run = real or shutil.which(command[0]) is not None
    elif family == "rhel":
        dest = root / "etc/pki/ca-trust/source/anchors" / TRUST_FILE_NAME
        command = ("update-ca-trust", "extract")
        can_run = real
    else:
        raise CAError(f"unknown system family {family!r}", "pass --os debian or --os rhel")
    try:
        write_pem(dest, certs[0])
    except PermissionError:
        raise CAError(f"{dest}: permission denied", "run install-trust as root") from None
    if not can_run:
        return TrustInstall(family, dest, command, ran=False)
    if shutil.which(command[0]) is None:
        raise CAError(f"{command[0]} not found; the root is in {dest} but the store is not updated",
                      f"install the ca-certificates package, or pass --os if this is not {family}")
    if not real:
        command += _debian_dirs(root)
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CAError(f"{' '.join(command)} failed ({proc.returncode}): "
                      f"{(proc.stderr or proc.stdout).strip()}")
    return TrustInstall(family, dest, command, ran=True, output=proc.stdout.strip())


def _debian_dirs(root: Path) -> tuple[str, ...]:
    """update-ca-certificates options that keep it inside ``root``."""
    etc_certs = root / "etc/ssl/certs"
    etc_certs.mkdir(parents=True, exist_ok=True)
    conf = root / "etc/ca-certificates.conf"
    if not conf.exists():
        conf.touch()
    return ("--certsconf", str(conf), "--certsdir", str(root / "usr/share/ca-certificates"),
            "--localcertsdir", str(root / "usr/local/share/ca-certificates"),
            "--etccertsdir", str(etc_certs), "--hooksdir", str(root / "etc/ca-certificates/update.d"))
