"""The deployment's own certificate authority, for a network with no public CA.

An air-gapped network still needs HTTPS: terraform only uses a provider
network mirror over HTTPS, and coderd, the registry and the mirror server
should not be reached in clear text. So the appliance carries a small two-tier
CA: a root kept offline (its key encrypted with a passphrase and, with
``offline_root``, written to another folder from the start, so the online
folder never holds it) and an intermediate, restricted to path length 0 and
to DNS/IP name constraints (``appliance ca init`` derives them from the
access URL unless told otherwise; a constraint on one kind of name limits the
other kind to loopback), that signs server certificates.

Folder layout (``CA_DIR``)::

    root.crt               root certificate (ECDSA P-256, 10 years)
    root.key               root key, 0600, optionally passphrase-encrypted;
                           only ``init`` and ``renew_intermediate`` need it;
                           absent when made with ``offline_root`` (then in
                           OFFLINE/root.key, encrypted, beside OFFLINE/root.crt)
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

Modules: ``profiles`` (what the certificates contain), ``pem`` (files, keys
0600, atomic writes), ``authority`` (the CA folder), ``trust`` (system
stores). Keys never leave the package except as files. Errors are
:class:`CAError` with a message naming the file or name at fault, and a hint.
"""
from mirror_tools.ca.authority import CertificateAuthority, IssuedCert
from mirror_tools.ca.pem import CAError, key_is_encrypted, read_certs
from mirror_tools.ca.profiles import (INTERMEDIATE_DAYS, MAX_SERVER_DAYS, ROOT_DAYS, SERVER_DAYS,
                                      access_url_constraints, parse_dns_name, parse_ip)
from mirror_tools.ca.trust import TRUST_FILE_NAME, TrustInstall, detect_os_family, install_trust

__all__ = ["CAError", "CertificateAuthority", "INTERMEDIATE_DAYS", "IssuedCert", "MAX_SERVER_DAYS",
           "access_url_constraints", "key_is_encrypted",
           "ROOT_DAYS", "SERVER_DAYS", "TRUST_FILE_NAME", "TrustInstall", "detect_os_family",
           "install_trust", "parse_dns_name", "parse_ip", "read_certs"]
