"""A CA folder: creating it, issuing and renewing server certificates."""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mirror_tools.ca.pem import (CAError, new_key, read_certs, read_key, same_public_key, write_key,
                                 write_pem)
from mirror_tools.ca.profiles import (INTERMEDIATE_DAYS, MAX_CA_DAYS, MAX_SERVER_DAYS, ROOT_DAYS,
                                      SERVER_DAYS, IPAddress, check_days, constraints_of,
                                      dns_permitted, intermediate_cert, name_constraints,
                                      parse_dns_name, parse_ip, parse_network, root_cert,
                                      server_cert, utc_now)


@dataclass(frozen=True)
class IssuedCert:
    """A server certificate in ``CA_DIR/issued``, as read back from its file."""

    name: str
    cert_path: Path
    chain_path: Path
    key_path: Path
    dns: tuple[str, ...]
    ips: tuple[str, ...]
    client_auth: bool  # also a TLS client's certificate (clientAuth)
    not_before: dt.datetime
    not_after: dt.datetime
    serial: int

    def as_dict(self) -> dict:
        return {"name": self.name, "dns": list(self.dns), "ips": list(self.ips),
                "client_auth": self.client_auth, "not_before": self.not_before.isoformat(), "not_after": self.not_after.isoformat(),
                "days_left": (self.not_after - utc_now()).days,
                "serial": format(self.serial, "x"), "cert": str(self.cert_path),
                "chain": str(self.chain_path), "key": str(self.key_path)}


class CertificateAuthority:
    """An existing CA folder. Use :meth:`init` to create one."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        if not self.intermediate_cert_path.exists() or not self.intermediate_key_path.exists():
            raise CAError(f"{self.dir}: no certificate authority here "
                          "(intermediate.crt and intermediate.key missing)",
                          "run `appliance ca init` first, or pass --dir")

    root_cert_path = property(lambda self: self.dir / "root.crt")
    root_key_path = property(lambda self: self.dir / "root.key")
    intermediate_cert_path = property(lambda self: self.dir / "intermediate.crt")
    intermediate_key_path = property(lambda self: self.dir / "intermediate.key")
    bundle_path = property(lambda self: self.dir / "bundle.pem")
    issued_dir = property(lambda self: self.dir / "issued")

    # -- creation ---------------------------------------------------------

    @classmethod
    def init(cls, directory: str | os.PathLike, *, name: str = "coder-appliance",
             permitted_dns: Sequence[str] = (), permitted_ips: Sequence[str] = (),
             root_days: int = ROOT_DAYS, intermediate_days: int = INTERMEDIATE_DAYS,
             root_passphrase: bytes | None = None, force: bool = False,
             offline_root: str | os.PathLike | None = None) -> "CertificateAuthority":
        """Make a root and an intermediate in ``directory``.

        Name constraints: see :func:`profiles.name_constraints` (given only DNS
        names, IP addresses are limited to loopback, and the reverse); none
        given, the intermediate is unconstrained. With ``offline_root`` the
        root key (encrypted with ``root_passphrase``, which it then requires)
        and a copy of the root certificate go to that folder, outside
        ``directory``, which never holds the root key. An existing CA is never
        overwritten silently: without ``force`` it is an error; with ``force``
        the old files move to ``replaced-TIMESTAMP/``.
        """
        directory = Path(directory)
        offline = Path(offline_root) if offline_root is not None else None
        if offline is not None:
            _check_offline_root(directory, offline, root_passphrase)
        check_days(root_days, MAX_CA_DAYS, "root")
        check_days(intermediate_days, root_days, "intermediate")
        dns = [parse_dns_name(d) for d in permitted_dns]
        if any(d.startswith("*.") for d in dns):
            raise CAError("a name constraint is a domain, not a wildcard: "
                          + ", ".join(d for d in dns if d.startswith("*.")),
                          "`--permit-dns example.internal` already covers its subdomains")
        nets = [parse_network(n) for n in permitted_ips]
        existing = [p for p in ("root.crt", "root.key", "intermediate.crt", "intermediate.key")
                    if (directory / p).exists()]
        if existing and not force:
            raise CAError(f"{directory}: a certificate authority already exists "
                          f"({', '.join(existing)})",
                          "pass --force to replace it (the old one is kept in replaced-*/); "
                          "certificates it issued will no longer be trusted")
        root_key, int_key = new_key(), new_key()
        now = utc_now()
        root = root_cert(root_key, name, now, root_days)
        inter = intermediate_cert(int_key.public_key(), root, root_key, name, now,
                                  intermediate_days, name_constraints(dns, nets))
        if existing:
            _set_aside(directory, now)
        # A new folder is private; an existing one keeps its mode (``--dir .``
        # must not lock the user out of their working folder).
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if offline is not None:
            offline.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_key(offline / "root.key", root_key, root_passphrase)
            write_pem(offline / "root.crt", root)
        else:
            write_key(directory / "root.key", root_key, root_passphrase)
        write_key(directory / "intermediate.key", int_key)
        write_pem(directory / "root.crt", root)
        write_pem(directory / "bundle.pem", root)
        write_pem(directory / "intermediate.crt", inter)
        return cls(directory)

    # -- reading ----------------------------------------------------------

    @property
    def root_cert(self) -> x509.Certificate:
        return read_certs(self.root_cert_path)[0]

    @property
    def intermediate_cert(self) -> x509.Certificate:
        return read_certs(self.intermediate_cert_path)[0]

    def name_constraints(self) -> x509.NameConstraints | None:
        try:
            return self.intermediate_cert.extensions.get_extension_for_class(
                x509.NameConstraints).value
        except x509.ExtensionNotFound:
            return None

    def _paths(self, name: str) -> tuple[Path, Path, Path]:
        d = self.issued_dir
        return d / f"{name}.crt", d / f"{name}.fullchain.crt", d / f"{name}.key"

    def get(self, name: str) -> IssuedCert:
        cert_path, chain_path, key_path = self._paths(_check_cert_name(name))
        if not cert_path.exists():
            raise CAError(f"no issued certificate named {name!r} in {self.issued_dir}",
                          "see `appliance ca list`")
        return _issued_from(name, cert_path, chain_path, key_path)

    def list(self) -> list[IssuedCert]:
        if not self.issued_dir.is_dir():
            return []
        names = sorted(p.name[:-4] for p in self.issued_dir.glob("*.crt")
                       if not p.name.endswith(".fullchain.crt"))
        return [self.get(n) for n in names]

    # -- issuing ----------------------------------------------------------

    def issue(self, dns: Iterable[str] = (), ips: Iterable[str] = (), *, name: str | None = None,
              days: int = SERVER_DAYS, force: bool = False,
              client_auth: bool = False) -> IssuedCert:
        """A new key and server certificate for ``dns``/``ips`` (serverAuth, and clientAuth
        with ``client_auth``).

        Refuses names outside the intermediate's name constraints, a validity
        over 825 days or past the intermediate's expiry, and an existing
        ``name`` unless ``force`` (use :meth:`renew` for that).
        """
        dns_names = list(dict.fromkeys(parse_dns_name(d) for d in dns))
        ip_addrs = list(dict.fromkeys(parse_ip(i) for i in ips))
        if not dns_names and not ip_addrs:
            raise CAError("a server certificate needs at least one --dns name or --ip address")
        name = _check_cert_name(name or _default_name(dns_names, ip_addrs))
        check_days(days, MAX_SERVER_DAYS, f"certificate {name!r}")
        cert_path, chain_path, key_path = self._paths(name)
        if cert_path.exists() and not force:
            raise CAError(f"{cert_path}: a certificate named {name!r} was already issued",
                          f"`appliance ca renew {name}` renews it; --force replaces it; "
                          "--name picks another name")
        self._check_constraints(dns_names, ip_addrs)
        inter = self.intermediate_cert
        now = utc_now()
        not_after = now + dt.timedelta(days=days)
        if not_after > inter.not_valid_after_utc:
            raise CAError(f"certificate {name!r} would outlive the intermediate, which expires "
                          f"{inter.not_valid_after_utc:%Y-%m-%d}",
                          "renew the intermediate first: `appliance ca renew --intermediate`, "
                          "or ask for fewer --days")
        inter_key = read_key(self.intermediate_key_path)
        if not same_public_key(inter_key, inter):
            # Only a run killed between the two writes of renew_intermediate gets here.
            raise CAError(f"{self.intermediate_key_path} does not match {self.intermediate_cert_path}",
                          "run `appliance ca renew --intermediate` again")
        key = new_key()
        cert = server_cert(key.public_key(), inter, inter_key, dns_names, ip_addrs, now, not_after,
                           client_auth)
        write_key(key_path, key)
        write_pem(cert_path, cert)
        write_pem(chain_path, cert, inter)
        return _issued_from(name, cert_path, chain_path, key_path)

    def renew(self, name: str, days: int = SERVER_DAYS) -> IssuedCert:
        """Re-issue ``name`` with the same SANs and uses, a new key and a fresh validity."""
        old = self.get(name)
        return self.issue(old.dns, old.ips, name=name, days=days, force=True,
                          client_auth=old.client_auth)

    def renew_intermediate(self, days: int = INTERMEDIATE_DAYS,
                           root_passphrase: bytes | None = None,
                           offline_root: str | os.PathLike | None = None) -> x509.Certificate:
        """A new intermediate key and certificate with the same name constraints
        (completed as :func:`profiles.name_constraints` does: an intermediate
        made with DNS constraints only gets the loopback IP range).

        The root key is read from ``offline_root`` when given, else from the
        CA folder. Certificates already issued keep working: their fullchain
        files carry the intermediate that signed them, which stays valid until
        it expires.
        """
        root_key_path = Path(offline_root) / "root.key" if offline_root else self.root_key_path
        if not root_key_path.exists():
            raise CAError(f"{root_key_path}: the root key is not here",
                          "pass --offline-root DIR (the folder holding root.key), or bring "
                          "the root key back into the CA folder for this step")
        root = self.root_cert
        check_days(days, MAX_CA_DAYS, "intermediate")
        now = utc_now()
        if now + dt.timedelta(days=days) > root.not_valid_after_utc:
            raise CAError(f"the intermediate would outlive the root, which expires "
                          f"{root.not_valid_after_utc:%Y-%m-%d}", "ask for fewer --days")
        root_key = read_key(root_key_path, root_passphrase)
        if not same_public_key(root_key, root):
            raise CAError(f"{root_key_path} is not the key of {self.root_cert_path}",
                          "bring back the root key this CA was made with")
        old = self.intermediate_cert
        name = old.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
        key = new_key()
        inter = intermediate_cert(key.public_key(), root, root_key, str(name), now, days,
                                  name_constraints(*constraints_of(self.name_constraints())))
        write_key(self.intermediate_key_path, key)
        write_pem(self.intermediate_cert_path, inter)
        return inter

    def _check_constraints(self, dns_names: Sequence[str], ips: Sequence[IPAddress]) -> None:
        dns_trees, ip_trees = constraints_of(self.name_constraints())
        bad = [d for d in dns_names if dns_trees and not any(dns_permitted(d, t) for t in dns_trees)]
        bad += [str(i) for i in ips if ip_trees and not any(
            i.version == t.version and i in t for t in ip_trees)]
        if bad:
            allowed = ", ".join(str(t) for t in dns_trees + ip_trees)
            raise CAError(f"outside the intermediate's name constraints: {', '.join(bad)}",
                          f"this CA may only issue for: {allowed}")

    # -- trust ------------------------------------------------------------

    def bundle(self, dest: str | os.PathLike | None = None,
               with_intermediate: bool = False) -> Path:
        """Write the clients' trust bundle (the root, and the intermediate if asked)."""
        dest = Path(dest) if dest else self.bundle_path
        certs = [self.root_cert] + ([self.intermediate_cert] if with_intermediate else [])
        write_pem(dest, *certs)
        return dest


def _check_cert_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or name.endswith(".fullchain"):
        raise CAError(f"not a usable certificate name: {name!r}",
                      "use letters, digits, '.', '_' and '-'")
    return name


def _default_name(dns_names: Sequence[str], ips: Sequence[IPAddress]) -> str:
    if dns_names:
        return dns_names[0].replace("*", "wildcard")
    return str(ips[0]).replace(":", "-")


def _issued_from(name: str, cert_path: Path, chain_path: Path, key_path: Path) -> IssuedCert:
    cert = read_certs(cert_path)[0]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(i) for i in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    try:
        uses = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        uses = []
    return IssuedCert(name, cert_path, chain_path, key_path, dns, ips,
                      ExtendedKeyUsageOID.CLIENT_AUTH in uses,
                      cert.not_valid_before_utc, cert.not_valid_after_utc, cert.serial_number)


def _check_offline_root(directory: Path, offline: Path, passphrase: bytes | None) -> None:
    """The offline root folder must be elsewhere, new, and its key encrypted."""
    if not passphrase:
        raise CAError("the offline root key is always encrypted: a root passphrase is needed",
                      "pass --root-passphrase-file FILE, or answer the prompt on a terminal")
    inside = offline.resolve()
    if inside == directory.resolve() or directory.resolve() in inside.parents:
        raise CAError(f"{offline}: the offline root folder is inside the CA folder {directory}",
                      "name a folder elsewhere, e.g. on a removable disk")
    if (offline / "root.key").exists():
        raise CAError(f"{offline / 'root.key'}: a root key is already there",
                      "move it away first (it may be another CA's only root key)")


def _set_aside(directory: Path, now: dt.datetime) -> None:
    """Move a CA being replaced into ``replaced-TIMESTAMP/``: nothing is deleted."""
    dest = directory / f"replaced-{now:%Y%m%dT%H%M%SZ}"
    dest.mkdir(mode=0o700)
    for entry in ("root.crt", "root.key", "intermediate.crt", "intermediate.key",
                  "bundle.pem", "issued"):
        if (directory / entry).exists():
            os.replace(directory / entry, dest / entry)
