"""What the CA's certificates contain: names, validity limits and the X.509
profiles of the root, the intermediate and server certificates."""
from __future__ import annotations

import datetime as dt
import ipaddress
import re
from typing import Sequence
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mirror_tools.ca.pem import CAError

ROOT_DAYS = 3650
INTERMEDIATE_DAYS = 1825
SERVER_DAYS = 397
MAX_SERVER_DAYS = 825          # the CA/Browser Forum limit clients still enforce
MAX_CA_DAYS = 100 * 365
BACKDATE = dt.timedelta(minutes=5)  # tolerate clocks a little behind ours

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def check_days(days: int, maximum: int, what: str) -> None:
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
    if not value or len(value) > 253 or not labels or not all(_LABEL.match(part) for part in labels):
        raise CAError(f"not a valid DNS name: {name!r}")
    return value


def parse_ip(value: str) -> IPAddress:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise CAError(f"not a valid IP address: {value!r}") from None


def parse_network(value: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError:
        raise CAError(f"not a valid IP network (CIDR): {value!r}") from None


def dns_permitted(name: str, subtree: str) -> bool:
    """RFC 5280 matching as OpenSSL does it: ``a.b`` covers itself and its
    subdomains, ``.a.b`` only its subdomains."""
    if subtree.startswith("."):
        return name.endswith(subtree)
    return name == subtree or name.endswith("." + subtree)


LOOPBACK_DNS = "localhost"
LOOPBACK_NETS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def name_constraints(dns: Sequence[str], nets: Sequence[IPNetwork]) -> x509.NameConstraints | None:
    """Permitted subtrees for ``dns`` and ``nets``; None when both are empty.

    Under RFC 5280 a name type with no permitted subtree is unconstrained, so
    DNS names alone would leave every IP address open (and the reverse): the
    missing kind is limited to loopback (``127.0.0.0/8`` and ``::1``, or
    ``localhost``).
    """
    if not dns and not nets:
        return None
    dns, nets = list(dns) or [LOOPBACK_DNS], list(nets) or list(LOOPBACK_NETS)
    subtrees: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    subtrees += [x509.IPAddress(n) for n in nets]
    return x509.NameConstraints(permitted_subtrees=subtrees, excluded_subtrees=None)


def constraints_of(nc: x509.NameConstraints | None) -> tuple[list[str], list[IPNetwork]]:
    """The DNS and IP permitted subtrees of an existing constraint."""
    trees = (nc.permitted_subtrees or []) if nc else []
    return ([t.value for t in trees if isinstance(t, x509.DNSName)],
            [t.value for t in trees if isinstance(t, x509.IPAddress)])


def access_url_constraints(*urls: str) -> tuple[list[str], list[IPNetwork]]:
    """What ``appliance ca init`` permits by default: the domain of each URL
    (``coder.example.internal`` gives ``example.internal``; a name of one or
    two labels stays whole; ``*.apps.example.net`` gives ``apps.example.net``)
    or its IP address, and the loopback range."""
    dns: list[str] = []
    nets: list[IPNetwork] = []
    for url in urls:
        host = urlsplit(url if "://" in url else f"https://{url}").hostname
        if not host:
            raise CAError(f"not a URL with a host name: {url!r}")
        try:
            nets.append(ipaddress.ip_network(host))
            continue
        except ValueError:
            pass
        labels = parse_dns_name(host).split(".")
        if labels[0] == "*":                 # a wildcard's hosts are under its base
            labels = labels[1:]
        elif len(labels) > 2:
            labels = labels[1:]
        if not any(dns_permitted(".".join(labels), d) for d in dns):
            dns.append(".".join(labels))
    nets += LOOPBACK_NETS
    nets = [n for i, n in enumerate(nets) if n not in nets[:i] and not any(
        n != m and n.version == m.version and n.subnet_of(m) for m in nets)]
    return dns or [LOOPBACK_DNS], nets


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


def root_cert(key: ec.EllipticCurvePrivateKey, name: str, now: dt.datetime,
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


def intermediate_cert(public_key, root: x509.Certificate, root_key, name: str, now: dt.datetime,
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


def server_cert(public_key, inter: x509.Certificate, inter_key, dns_names: Sequence[str],
                ips: Sequence[IPAddress], now: dt.datetime,
                not_after: dt.datetime, client_auth: bool = False) -> x509.Certificate:
    """A server's certificate; with ``client_auth``, also a TLS client's (clientAuth), as
    etcd's members, which are each other's clients, and Patroni, etcd's client, need."""
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
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH]
                + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=not dns_names)
            .add_extension(_authority_key_id(inter), critical=False)
            .sign(inter_key, hashes.SHA256()))
