"""The deployment's own certificate authority, for a network with no public CA.

An air-gapped network still needs HTTPS: terraform only uses a provider
network mirror over HTTPS, and coderd, the registry and the mirror server
should not be reached in clear text. So the appliance carries a small two-tier
CA: a root kept offline (its key can be encrypted with a passphrase, or moved
off the machine entirely once the intermediate exists) and an intermediate,
restricted to path length 0 and optionally to DNS/IP name constraints, that
signs server certificates.

Folder layout (``CA_DIR``)::

    root.crt               root certificate (ECDSA P-256, 10 years)
    root.key               root key, 0600, optionally passphrase-encrypted;
                           only ``init`` and ``renew_intermediate`` need it
    intermediate.crt       intermediate certificate (path length 0)
    intermediate.key       intermediate key, 0600
    bundle.pem             trust bundle for clients (the root)
    issued/NAME.crt        server certificate alone
    issued/NAME.fullchain.crt  server certificate + intermediate (what servers send)
    issued/NAME.key        server key, 0600

Python API::

    ca = CertificateAuthority.init(dir, permitted_dns=["example.internal"])
    ca = CertificateAuthority(dir)                       # an existing CA
    cert = ca.issue(dns=["mirror.example.internal"], ips=["127.0.0.1"])
    cert.chain_path, cert.key_path, cert.cert_path       # pathlib.Path
    ca.bundle_path                                       # trust bundle (root)
    ca.renew("mirror.example.internal")                  # same SANs, new key
    install_trust(ca.root_cert_path, root="/tmp/sysroot", os_family="debian")

Every file is written through :func:`mirror_tools.fetch.atomic_write`; keys
are created 0600 and never leave this module except as files. Errors are
:class:`CAError` with a message naming the file or name at fault.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mirror_tools.fetch import atomic_write

ROOT_DAYS = 3650
INTERMEDIATE_DAYS = 1825
SERVER_DAYS = 397
MAX_SERVER_DAYS = 825          # the CA/Browser Forum limit clients still enforce
BACKDATE = dt.timedelta(minutes=5)  # tolerate clocks a little behind ours
TRUST_FILE_NAME = "coder-appliance-root.crt"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class CAError(Exception):
    """Bad input or state for the CA; the message names the file or name at fault."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class IssuedCert:
    """A server certificate in ``CA_DIR/issued``, as read back from its file."""

    name: str
    cert_path: Path
    chain_path: Path
    key_path: Path
    dns: tuple[str, ...]
    ips: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    serial: int

    def as_dict(self) -> dict:
        return {"name": self.name, "dns": list(self.dns), "ips": list(self.ips),
                "not_before": self.not_before.isoformat(), "not_after": self.not_after.isoformat(),
                "serial": format(self.serial, "x"), "cert": str(self.cert_path),
                "chain": str(self.chain_path), "key": str(self.key_path)}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, passphrase: bytes | None = None) -> None:
    enc = (serialization.BestAvailableEncryption(passphrase) if passphrase
           else serialization.NoEncryption())
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    with atomic_write(path, perms=0o600) as f:
        f.write(data)


def _write_pem(path: Path, *certs: x509.Certificate) -> None:
    with atomic_write(path) as f:
        f.write(b"".join(_pem(c) for c in certs))


def read_certs(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM file; CAError if it is missing or holds none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CAError(f"{path}: no such file") from None
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CAError(f"{path}: not a PEM certificate file ({exc})") from None
    return certs


def _read_key(path: Path, passphrase: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CAError(f"{path}: no such file") from None
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        if passphrase:
            raise CAError(f"{path}: the key is not encrypted but a passphrase was given") from None
        raise CAError(f"{path}: the key is encrypted and needs its passphrase",
                      "pass --root-passphrase-file FILE or --root-passphrase-env VAR") from None
    except ValueError:
        raise CAError(f"{path}: cannot load the key (wrong passphrase or not a PEM key)") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CAError(f"{path}: not an ECDSA key")
    return key


def _check_days(days: int, maximum: int, what: str) -> None:
    if days < 1:
        raise CAError(f"{what}: validity must be at least 1 day, not {days}")
    if days > maximum:
        raise CAError(f"{what}: validity of {days} days is over the maximum of {maximum} days",
                      "clients reject longer-lived server certificates; renew instead"
                      if maximum == MAX_SERVER_DAYS else "")


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def parse_dns_name(name: str) -> str:
    """A lower-cased DNS name (``*.`` allowed first); CAError naming it otherwise."""
    value = name.strip().lower().rstrip(".")
    labels = value.split(".")
    if labels and labels[0] == "*":
        labels = labels[1:]
    if not value or len(value) > 253 or not labels or not all(_LABEL.match(l) for l in labels):
        raise CAError(f"not a valid DNS name: {name!r}")
    return value


def parse_ip(value: str) -> IPAddress:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise CAError(f"not a valid IP address: {value!r}") from None


def _parse_network(value: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError:
        raise CAError(f"not a valid IP network (CIDR): {value!r}") from None


def _dns_permitted(name: str, subtree: str) -> bool:
    """RFC 5280 matching as OpenSSL does it: ``a.b`` covers itself and its
    subdomains, ``.a.b`` only its subdomains."""
    if subtree.startswith("."):
        return name.endswith(subtree)
    return name == subtree or name.endswith("." + subtree)


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
             root_passphrase: bytes | None = None, force: bool = False) -> "CertificateAuthority":
        """Make a root and an intermediate in ``directory``.

        An existing CA is never overwritten silently: without ``force`` it is
        an error; with ``force`` the old files move to ``replaced-TIMESTAMP/``.
        """
        directory = Path(directory)
        _check_days(root_days, 100 * 365, "root")
        _check_days(intermediate_days, root_days, "intermediate")
        dns = [parse_dns_name(d) for d in permitted_dns]
        if any(d.startswith("*.") for d in dns):
            raise CAError("a name constraint is a domain, not a wildcard: "
                          + ", ".join(d for d in dns if d.startswith("*.")),
                          "`--permit-dns example.internal` already covers its subdomains")
        nets = [_parse_network(n) for n in permitted_ips]
        existing = [p for p in ("root.crt", "root.key", "intermediate.crt", "intermediate.key")
                    if (directory / p).exists()]
        if existing and not force:
            raise CAError(f"{directory}: a certificate authority already exists "
                          f"({', '.join(existing)})",
                          "pass --force to replace it (the old one is kept in replaced-*/); "
                          "certificates it issued will no longer be trusted")
        root_key, int_key = _new_key(), _new_key()
        now = _now()
        root = _root_cert(root_key, name, now, root_days)
        inter = _intermediate_cert(int_key.public_key(), root, root_key, name, now,
                                   intermediate_days, _name_constraints(dns, nets))
        if existing:
            _set_aside(directory, now)
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        _write_key(directory / "root.key", root_key, root_passphrase)
        _write_key(directory / "intermediate.key", int_key)
        _write_pem(directory / "root.crt", root)
        _write_pem(directory / "bundle.pem", root)
        _write_pem(directory / "intermediate.crt", inter)
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
        base = self.issued_dir / name
        return (base.with_name(name + ".crt"), base.with_name(name + ".fullchain.crt"),
                base.with_name(name + ".key"))

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
              days: int = SERVER_DAYS, force: bool = False) -> IssuedCert:
        """A new key and server certificate for ``dns``/``ips`` (serverAuth).

        Refuses names outside the intermediate's name constraints, a validity
        over 825 days or past the intermediate's expiry, and an existing
        ``name`` unless ``force`` (use :meth:`renew` for that).
        """
        dns_names = list(dict.fromkeys(parse_dns_name(d) for d in dns))
        ip_addrs = list(dict.fromkeys(parse_ip(i) for i in ips))
        if not dns_names and not ip_addrs:
            raise CAError("a server certificate needs at least one --dns name or --ip address")
        name = _check_cert_name(name or _default_name(dns_names, ip_addrs))
        _check_days(days, MAX_SERVER_DAYS, f"certificate {name!r}")
        cert_path, chain_path, key_path = self._paths(name)
        if cert_path.exists() and not force:
            raise CAError(f"{cert_path}: a certificate named {name!r} was already issued",
                          f"`appliance ca renew {name}` renews it; --force replaces it; "
                          "--name picks another name")
        self._check_constraints(dns_names, ip_addrs)
        inter = self.intermediate_cert
        now = _now()
        not_after = now + dt.timedelta(days=days)
        if not_after > inter.not_valid_after_utc:
            raise CAError(f"certificate {name!r} would outlive the intermediate, which expires "
                          f"{inter.not_valid_after_utc:%Y-%m-%d}",
                          "renew the intermediate first: `appliance ca renew --intermediate`, "
                          "or ask for fewer --days")
        inter_key = _read_key(self.intermediate_key_path)
        key = _new_key()
        cert = _server_cert(key.public_key(), inter, inter_key, dns_names, ip_addrs, now, not_after)
        _write_key(key_path, key)
        _write_pem(cert_path, cert)
        _write_pem(chain_path, cert, inter)
        return _issued_from(name, cert_path, chain_path, key_path)

    def renew(self, name: str, days: int = SERVER_DAYS) -> IssuedCert:
        """Re-issue ``name`` with the same SANs, a new key and a fresh validity."""
        old = self.get(name)
        return self.issue(old.dns, old.ips, name=name, days=days, force=True)

    def renew_intermediate(self, days: int = INTERMEDIATE_DAYS,
                           root_passphrase: bytes | None = None) -> x509.Certificate:
        """A new intermediate key and certificate with the same name constraints.

        Certificates already issued keep working: their fullchain files carry
        the intermediate that signed them, which stays valid until it expires.
        """
        if not self.root_key_path.exists():
            raise CAError(f"{self.root_key_path}: the root key is not here",
                          "bring the offline root key back into the CA folder for this step")
        root = self.root_cert
        _check_days(days, ROOT_DAYS * 10, "intermediate")
        now = _now()
        if now + dt.timedelta(days=days) > root.not_valid_after_utc:
            raise CAError(f"the intermediate would outlive the root, which expires "
                          f"{root.not_valid_after_utc:%Y-%m-%d}", "ask for fewer --days")
        root_key = _read_key(self.root_key_path, root_passphrase)
        old = self.intermediate_cert
        name = old.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
        key = _new_key()
        inter = _intermediate_cert(key.public_key(), root, root_key, str(name), now, days,
                                   self.name_constraints())
        _write_key(self.intermediate_key_path, key)
        _write_pem(self.intermediate_cert_path, inter)
        return inter

    def _check_constraints(self, dns_names: Sequence[str], ips: Sequence[IPAddress]) -> None:
        nc = self.name_constraints()
        if nc is None:
            return
        subtrees = nc.permitted_subtrees or []
        dns_trees = [s.value for s in subtrees if isinstance(s, x509.DNSName)]
        ip_trees = [s.value for s in subtrees if isinstance(s, x509.IPAddress)]
        bad = [d for d in dns_names if dns_trees and not any(_dns_permitted(d, t) for t in dns_trees)]
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
        _write_pem(dest, *certs)
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
    return IssuedCert(name, cert_path, chain_path, key_path, dns, ips,
                      cert.not_valid_before_utc, cert.not_valid_after_utc, cert.serial_number)


def _set_aside(directory: Path, now: dt.datetime) -> None:
    """Move a CA being replaced into ``replaced-TIMESTAMP/``: nothing is deleted."""
    dest = directory / f"replaced-{now:%Y%m%dT%H%M%SZ}"
    dest.mkdir(mode=0o700)
    for entry in ("root.crt", "root.key", "intermediate.crt", "intermediate.key",
                  "bundle.pem", "issued"):
        if (directory / entry).exists():
            os.replace(directory / entry, dest / entry)


def _name_constraints(dns: Sequence[str], nets: Sequence[IPNetwork]) -> x509.NameConstraints | None:
    subtrees: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    subtrees += [x509.IPAddress(n) for n in nets]
    return x509.NameConstraints(permitted_subtrees=subtrees, excluded_subtrees=None) if subtrees else None


def _builder(subject: x509.Name, issuer: x509.Name, public_key, not_before: dt.datetime,
             not_after: dt.datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(not_before - BACKDATE).not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                         crl_sign=True, encipher_only=False, decipher_only=False)


def _root_cert(key: ec.EllipticCurvePrivateKey, name: str, now: dt.datetime,
               days: int) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Root CA")])
    return (_builder(subject, subject, key.public_key(), now, now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .sign(key, hashes.SHA256()))


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _intermediate_cert(public_key, root: x509.Certificate, root_key, name: str, now: dt.datetime,
                       days: int, constraints: x509.NameConstraints | None) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Intermediate CA")])
    b = (_builder(subject, root.subject, public_key, now, now + dt.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
         .add_extension(_ca_usage(), critical=True)
         .add_extension(_authority_key_id(root), critical=False))
    if constraints is not None:
        b = b.add_extension(constraints, critical=True)
    return b.sign(root_key, hashes.SHA256())


def _server_cert(public_key, inter: x509.Certificate, inter_key, dns_names: Sequence[str],
                 ips: Sequence[IPAddress], now: dt.datetime,
                 not_after: dt.datetime) -> x509.Certificate:
    # Only a DNS name goes in the CN: OpenSSL checks a CN that looks like a
    # host name (an IP address does) against DNS name constraints.
    org = inter.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    attrs = list(org) + ([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])] if dns_names else [])
    sans = [x509.DNSName(d) for d in dns_names] + [x509.IPAddress(i) for i in ips]
    return (_builder(x509.Name(attrs), inter.subject, public_key, now, not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=False, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=not dns_names)
            .add_extension(_authority_key_id(inter), critical=False)
            .sign(inter_key, hashes.SHA256()))


# -- system trust stores ------------------------------------------------------

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
    has no such options, the command is returned unrun (``ran=False``) to be
    run inside that system.
    """
    cert_path, root = Path(cert_path), Path(root)
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
        command = ("update-ca-certificates",) + (() if real else _debian_dirs(root))
        can_run = True
    elif family == "rhel":
        dest = root / "etc/pki/ca-trust/source/anchors" / TRUST_FILE_NAME
        command = ("update-ca-trust", "extract")
        can_run = real
    else:
        raise CAError(f"unknown system family {family!r}", "pass --os debian or --os rhel")
    try:
        _write_pem(dest, certs[0])
    except PermissionError:
        raise CAError(f"{dest}: permission denied", "run install-trust as root") from None
    if not can_run:
        return TrustInstall(family, dest, command, ran=False)
    if shutil.which(command[0]) is None:
        raise CAError(f"{command[0]} not found; the root is in {dest} but the store is not updated",
                      f"install the ca-certificates package, or pass --os if this is not {family}")
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
