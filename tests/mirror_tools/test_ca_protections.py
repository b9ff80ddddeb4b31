"""What a stolen intermediate key, or a copy of the online CA folder, is worth.

Name constraints are on by default and constrain both kinds of names, so a
certificate the intermediate's key signs for another name is rejected by real
``openssl verify``; the root key can be kept out of the online folder from
the start, and issuing works without it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pexpect
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mirror_tools.ca import CAError, CertificateAuthority
from mirror_tools.ca.profiles import intermediate_cert
from tests.kit.tools import tool
from tests.mirror_tools.cakit import REPO, appliance, forged_leaf, openssl_verify

ACCESS_URL = "https://coder.example.internal"
LOOPBACK = ["127.0.0.0/8", "::1/128"]


def verifies(ca_dir, leaf) -> subprocess.CompletedProcess:
    return openssl_verify(ca_dir / "root.crt", ca_dir / "intermediate.crt", leaf.cert_path)


def permitted(ca_dir) -> list[str]:
    return [str(s.value) for s in CertificateAuthority(ca_dir).name_constraints().permitted_subtrees]


def test_dns_only_constraints_also_constrain_ip_addresses(tmp_path):
    """With DNS constraints alone, RFC 5280 leaves IP addresses open: a stolen
    intermediate key could sign any address. The loopback range closes it."""
    ca = CertificateAuthority.init(tmp_path / "ca", permitted_dns=["example.internal"])
    outside = forged_leaf(ca, tmp_path, "ok.example.internal", ip="10.0.0.1")
    result = verifies(ca.dir, outside)
    assert result.returncode != 0 and "permitted subtree violation" in result.stdout + result.stderr
    assert permitted(ca.dir) == ["example.internal", *LOOPBACK]
    assert verifies(ca.dir, forged_leaf(ca, tmp_path, "lo.example.internal", ip="127.0.0.1")
                    ).returncode == 0
    with pytest.raises(CAError, match="outside the intermediate's name constraints: 10.0.0.1"):
        ca.issue(dns=["ok.example.internal"], ips=["10.0.0.1"])


def test_ip_only_constraints_also_constrain_dns_names(tmp_path):
    ca = CertificateAuthority.init(tmp_path / "ca", permitted_ips=["10.20.0.0/16"])
    result = verifies(ca.dir, forged_leaf(ca, tmp_path, "evil.example.org", ip="10.20.0.5"))
    assert result.returncode != 0 and "permitted subtree violation" in result.stdout + result.stderr
    assert permitted(ca.dir) == ["localhost", "10.20.0.0/16"]
    assert verifies(ca.dir, forged_leaf(ca, tmp_path, "localhost", ip="10.20.0.5")).returncode == 0


def test_init_constrains_names_to_the_access_url_by_default(tmp_path):
    d = tmp_path / "ca"
    proc = appliance("init", "--dir", str(d), "-o", "json", env={"CODER_ACCESS_URL": ACCESS_URL})
    assert proc.returncode == 0, proc.stderr
    ca = CertificateAuthority(d)
    result = verifies(d, forged_leaf(ca, tmp_path, "evil.example.org"))
    assert result.returncode != 0 and "permitted subtree violation" in result.stdout + result.stderr
    assert json.loads(proc.stdout)["permitted"] == ["example.internal", *LOOPBACK]
    cert = ca.issue(dns=["coder.example.internal", "*.apps.example.internal"], ips=["127.0.0.1"])
    assert openssl_verify(ca.root_cert_path, cert.chain_path, cert.cert_path).returncode == 0
    # An IP access URL and a wildcard on another domain.
    other = tmp_path / "ca2"
    proc = appliance("init", "--dir", str(other), "--access-url", "https://10.9.0.5:8443", "-o",
                     "json", env={"CODER_WILDCARD_ACCESS_URL": "*.apps.example-apps.net"})
    assert json.loads(proc.stdout)["permitted"] == ["apps.example-apps.net", "10.9.0.5/32",
                                                    *LOOPBACK], proc.stderr
    # No access URL and no names: refused, saying how to choose; opting out is explicit.
    proc = appliance("init", "--dir", str(tmp_path / "ca3"))
    assert proc.returncode == 1 and "name constraints are on by default" in proc.stderr
    assert "--no-name-constraints" in proc.stderr and not (tmp_path / "ca3").exists()
    proc = appliance("init", "--dir", str(tmp_path / "ca3"), "--no-name-constraints")
    assert proc.returncode == 0 and "has no name constraints" in proc.stderr
    assert CertificateAuthority(tmp_path / "ca3").name_constraints() is None


def test_renewal_gives_an_old_dns_only_intermediate_ip_constraints(tmp_path):
    """An intermediate made before the change (DNS constraints only) is
    completed by ``renew --intermediate``."""
    ca = CertificateAuthority.init(tmp_path / "ca", permitted_dns=["example.internal"])
    root_key = serialization.load_pem_private_key(ca.root_key_path.read_bytes(), None)
    inter_key = serialization.load_pem_private_key(ca.intermediate_key_path.read_bytes(), None)
    old = intermediate_cert(inter_key.public_key(), ca.root_cert, root_key, "coder-appliance",
                            ca.root_cert.not_valid_before_utc, 30, x509.NameConstraints(
                                [x509.DNSName("example.internal")], None))
    ca.intermediate_cert_path.write_bytes(old.public_bytes(serialization.Encoding.PEM))
    assert permitted(ca.dir) == ["example.internal"]
    ca.renew_intermediate()
    assert permitted(ca.dir) == ["example.internal", *LOOPBACK]


def test_offline_root_keeps_the_root_key_out_of_the_online_folder(tmp_path):
    online, offline = tmp_path / "ca", tmp_path / "usb" / "root"
    passfile = tmp_path / "pass"
    passfile.write_text("correct horse battery\n")
    proc = appliance("init", "--dir", str(online), "--offline-root", str(offline),
                     "--root-passphrase-file", str(passfile), "--access-url", ACCESS_URL,
                     "-o", "json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["root_key"] == str(offline / "root.key") and info["root_key_encrypted"]
    assert "warning" not in proc.stderr
    # Nothing in the online folder is the root key, in any file.
    root_public = CertificateAuthority(online).root_cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for path in online.rglob("*"):
        if path.is_file() and b"PRIVATE KEY" in path.read_bytes():
            key = serialization.load_pem_private_key(path.read_bytes(), None)
            assert key.public_key().public_bytes(
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo) != root_public, path
    assert not (online / "root.key").exists()
    # The offline key is encrypted: openssl refuses it without the passphrase.
    assert (offline / "root.crt").read_bytes() == (online / "root.crt").read_bytes()
    for passin, code in (("pass:wrong", 1), (f"file:{passfile}", 0)):
        pkey = subprocess.run([tool("openssl"), "pkey", "-in", str(offline / "root.key"),
                               "-passin", passin, "-pubout"], capture_output=True)
        assert (pkey.returncode != 0) == bool(code)
    # Issuing needs the online folder only.
    issued = json.loads(appliance("issue", "--dir", str(online), "--dns", "coder.example.internal",
                                  "--ip", "127.0.0.1", "-o", "json").stdout)[0]
    assert openssl_verify(online / "root.crt", issued["chain"], issued["cert"],
                          "-verify_hostname", "coder.example.internal").returncode == 0
    # Renewing the intermediate needs the offline folder and its passphrase.
    proc = appliance("renew", "--dir", str(online), "--intermediate")
    assert proc.returncode == 1 and "the root key is not here" in proc.stderr
    assert "--offline-root" in proc.stderr
    proc = appliance("renew", "--dir", str(online), "--intermediate", "--offline-root", str(offline))
    assert proc.returncode == 1 and "needs its passphrase" in proc.stderr
    proc = appliance("renew", "--dir", str(online), "--intermediate", "--all", "--offline-root",
                     str(offline), "--root-passphrase-file", str(passfile), "-o", "json")
    assert proc.returncode == 0, proc.stderr
    renewed = json.loads(proc.stdout)[0]
    assert openssl_verify(online / "root.crt", renewed["chain"], renewed["cert"]).returncode == 0


def test_offline_root_refusals(tmp_path):
    passfile = tmp_path / "pass"
    passfile.write_text("pw\n")
    common = ("--access-url", ACCESS_URL)
    proc = appliance("init", "--dir", str(tmp_path / "ca"), "--offline-root", str(tmp_path / "o"),
                     *common)
    assert proc.returncode == 1 and "needs its passphrase" in proc.stderr
    proc = appliance("init", "--dir", str(tmp_path / "ca"), "--offline-root",
                     str(tmp_path / "ca" / "offline"), "--root-passphrase-file", str(passfile),
                     *common)
    assert proc.returncode == 1 and "inside the CA folder" in proc.stderr
    assert not (tmp_path / "ca").exists()
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "root.key").write_text("another CA's root key\n")
    proc = appliance("init", "--dir", str(tmp_path / "ca"), "--offline-root", str(tmp_path / "o"),
                     "--root-passphrase-file", str(passfile), *common)
    assert proc.returncode == 1 and "a root key is already there" in proc.stderr
    assert (tmp_path / "o" / "root.key").read_text() == "another CA's root key\n"
    # Kept in the online folder, the root key is pointed out.
    proc = appliance("init", "--dir", str(tmp_path / "ca"), *common)
    assert proc.returncode == 0 and "warning: the root key is in the online CA folder" in proc.stderr


def test_offline_root_passphrase_asked_on_the_terminal(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODER_")}
    child = pexpect.spawn(sys.executable, ["-m", "appliance.admin.main", "ca", "init", "--dir",
                                           str(tmp_path / "ca"), "--offline-root",
                                           str(tmp_path / "o"), "--access-url", ACCESS_URL],
                          cwd=str(REPO), env={**env, "PYTHONPATH": str(REPO)}, timeout=60)
    try:
        child.expect("root key passphrase: ")
        child.sendline("typed secret")
        child.expect("the same passphrase again: ")
        child.sendline("typed secret")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    assert b"typed secret" not in child.before
    key = (tmp_path / "o" / "root.key").read_bytes()
    serialization.load_pem_private_key(key, b"typed secret")
    assert not (tmp_path / "ca" / "root.key").exists()
