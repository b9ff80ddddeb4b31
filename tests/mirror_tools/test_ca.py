"""The offline CA against real clients: openssl, curl, requests, Python's ssl,
Debian's update-ca-certificates, and the ``appliance ca`` command."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from mirror_tools.ca import CAError, CertificateAuthority, install_trust
from tests.kit.tools import tool
from tests.mirror_tools.cakit import REPO, appliance, forged_leaf, openssl_verify


@pytest.fixture
def ca(tmp_path) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path / "ca", permitted_dns=["example.internal"],
                                     permitted_ips=["127.0.0.0/8"])


def key_texts(ca_dir: Path) -> list[str]:
    """The base64 bodies of every private key under ``ca_dir``."""
    return ["".join(p.read_text().splitlines()[1:-1]) for p in ca_dir.rglob("*.key")]


# -- the certificates themselves --------------------------------------------

def test_openssl_verifies_issued_chain(ca):
    cert = ca.issue(dns=["mirror.example.internal"], ips=["127.0.0.1"])
    result = openssl_verify(ca.root_cert_path, ca.intermediate_cert_path, cert.cert_path,
                            "-purpose", "sslserver", "-verify_hostname", "mirror.example.internal")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")
    # The fullchain file alone carries what a server must send.
    result = openssl_verify(ca.root_cert_path, cert.chain_path, cert.cert_path,
                            "-verify_ip", "127.0.0.1")
    assert result.returncode == 0, result.stdout + result.stderr


def test_certificate_profiles(ca):
    root, inter = ca.root_cert, ca.intermediate_cert
    cert = ca.issue(dns=["coder.example.internal", "*.apps.example.internal"], ips=["127.0.0.2"])
    leaf = x509.load_pem_x509_certificate(cert.cert_path.read_bytes())
    for c in (root, inter, leaf):
        assert isinstance(c.public_key(), ec.EllipticCurvePublicKey)
        assert c.public_key().curve.name == "secp256r1"
        c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)

    def ext(c, cls):
        return c.extensions.get_extension_for_class(cls)
    assert ext(root, x509.BasicConstraints).value.ca and ext(root, x509.BasicConstraints).critical
    usage = ext(root, x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert (root.not_valid_after_utc - root.not_valid_before_utc).days >= 3650
    bc = ext(inter, x509.BasicConstraints).value
    assert bc.ca and bc.path_length == 0
    nc = ext(inter, x509.NameConstraints)
    assert nc.critical and [str(s.value) for s in nc.value.permitted_subtrees] == [
        "example.internal", "127.0.0.0/8"]
    assert not ext(leaf, x509.BasicConstraints).value.ca
    assert ext(leaf, x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH])
    assert cert.dns == ("coder.example.internal", "*.apps.example.internal")
    assert cert.ips == ("127.0.0.2",)
    assert 397 <= (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days <= 398
    assert cert.name == "coder.example.internal"


def test_name_outside_constraints_refused_and_rejected_by_openssl(ca, tmp_path):
    for dns, ips in ((["evil.example.org"], []), (["example.internal.evil.org"], []),
                     ([], ["10.0.0.1"])):
        with pytest.raises(CAError, match="outside the intermediate's name constraints"):
            ca.issue(dns=dns, ips=ips)
    assert not ca.issued_dir.exists() or not any(ca.issued_dir.iterdir())
    forged = forged_leaf(ca, tmp_path, "evil.example.org")
    result = openssl_verify(ca.root_cert_path, ca.intermediate_cert_path, forged.cert_path)
    assert result.returncode != 0
    assert "permitted subtree violation" in result.stdout + result.stderr
    # The same hand-built certificate inside the constraints passes: the
    # rejection above is the constraint, not the way the test built it.
    fine = forged_leaf(ca, tmp_path, "ok.example.internal")
    assert openssl_verify(ca.root_cert_path, ca.intermediate_cert_path, fine.cert_path).returncode == 0


def test_keys_are_0600_and_ca_folder_private(ca):
    cert = ca.issue(dns=["a.example.internal"])
    for key in (ca.root_key_path, ca.intermediate_key_path, cert.key_path):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE(ca.dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(cert.chain_path.stat().st_mode) == 0o644
    assert not list(ca.dir.rglob("*.tmp"))


def test_validity_over_825_days_refused(ca):
    with pytest.raises(CAError, match="826 days is over the maximum of 825"):
        ca.issue(dns=["long.example.internal"], days=826)
    assert not (ca.issued_dir / "long.example.internal.key").exists()
    cert = ca.issue(dns=["long.example.internal"], days=825)
    assert (cert.not_after - cert.not_before).days == 825


def test_bad_names_refused_with_the_name(ca):
    for dns, ips, message in ((["bad_name.example.internal"], [], "bad_name"),
                              (["-x.example.internal"], [], "-x.example.internal"),
                              ([], ["300.1.1.1"], "300.1.1.1"), ([], [], "at least one")):
        with pytest.raises(CAError, match=re.escape(message)):
            ca.issue(dns=dns, ips=ips)
    with pytest.raises(CAError, match="not a usable certificate name"):
        ca.issue(dns=["a.example.internal"], name="../escape")


def test_issue_refuses_an_existing_name(ca):
    first = ca.issue(dns=["dup.example.internal"])
    before = first.cert_path.read_bytes()
    with pytest.raises(CAError, match="already issued"):
        ca.issue(dns=["dup.example.internal"])
    assert first.cert_path.read_bytes() == before


def test_damaged_ca_files_named_in_errors(ca):
    ca.intermediate_cert_path.write_text("garbage\n")
    with pytest.raises(CAError, match=re.escape(str(ca.intermediate_cert_path))):
        ca.issue(dns=["x.example.internal"])
    with pytest.raises(CAError, match="no certificate authority here") as info:
        CertificateAuthority(ca.dir / "nowhere")
    assert "appliance ca init" in info.value.hint


def test_mismatched_intermediate_key_refused(ca, tmp_path):
    other = CertificateAuthority.init(tmp_path / "other")
    shutil.copy(other.intermediate_key_path, ca.intermediate_key_path)
    with pytest.raises(CAError, match="intermediate.key does not match .*intermediate.crt"):
        ca.issue(dns=["m.example.internal"])


def test_init_refuses_to_overwrite_without_force(ca):
    before = {p.name: p.read_bytes() for p in ca.dir.iterdir() if p.is_file()}
    ca.issue(dns=["kept.example.internal"])
    with pytest.raises(CAError, match="already exists"):
        CertificateAuthority.init(ca.dir)
    assert {p.name: p.read_bytes() for p in ca.dir.iterdir() if p.is_file()} == before
    new = CertificateAuthority.init(ca.dir, force=True)
    assert new.root_cert_path.read_bytes() != before["root.crt"]
    (replaced,) = ca.dir.glob("replaced-*")
    assert (replaced / "root.key").read_bytes() == before["root.key"]
    assert (replaced / "issued" / "kept.example.internal.key").exists()
    assert new.list() == []


def test_client_auth_certificates_pass_openssl_as_clients_and_renew_keeps_it(ca):
    """etcd's members and Patroni authenticate each other by certificate: with client_auth
    the certificate is a TLS client's too (openssl's sslclient purpose); without, it is not."""
    server = ca.issue(dns=["s.example.internal"])
    both = ca.issue(dns=["m.example.internal"], client_auth=True)
    assert (server.client_auth, both.client_auth) == (False, True)
    as_client = ("-purpose", "sslclient")
    assert openssl_verify(ca.root_cert_path, both.chain_path, both.cert_path, *as_client).returncode == 0
    assert openssl_verify(ca.root_cert_path, both.chain_path, both.cert_path,
                          "-purpose", "sslserver").returncode == 0
    refused = openssl_verify(ca.root_cert_path, server.chain_path, server.cert_path, *as_client)
    assert refused.returncode != 0 and "unsuitable certificate purpose" in refused.stdout + refused.stderr
    renewed = ca.renew(both.name)
    assert renewed.client_auth and renewed.serial != both.serial
    assert ca.get(server.name).as_dict()["client_auth"] is False


def test_renew_keeps_sans_with_a_new_key(ca):
    old = ca.issue(dns=["r.example.internal", "r2.example.internal"], ips=["127.0.0.9"], days=30)
    old_key = old.key_path.read_bytes()
    new = ca.renew(old.name)
    assert (new.dns, new.ips, new.name) == (old.dns, old.ips, old.name)
    assert new.serial != old.serial and new.not_after > old.not_after
    assert new.key_path.read_bytes() != old_key
    assert openssl_verify(ca.root_cert_path, new.chain_path, new.cert_path).returncode == 0
    with pytest.raises(CAError, match="no issued certificate named 'missing'"):
        ca.renew("missing")


def test_encrypted_root_key_and_intermediate_renewal(tmp_path):
    ca = CertificateAuthority.init(tmp_path / "ca", permitted_dns=["example.internal"],
                                   root_passphrase=b"correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in ca.root_key_path.read_bytes()
    plain = subprocess.run([tool("openssl"), "pkey", "-in", str(ca.root_key_path), "-passin",
                            "pass:wrong", "-noout"], capture_output=True)
    assert plain.returncode != 0
    old = ca.issue(dns=["old.example.internal"])
    old_inter = ca.intermediate_cert_path.read_bytes()
    with pytest.raises(CAError, match="encrypted and needs its passphrase"):
        ca.renew_intermediate()
    with pytest.raises(CAError, match="wrong passphrase"):
        ca.renew_intermediate(root_passphrase=b"nope")
    assert ca.intermediate_cert_path.read_bytes() == old_inter
    ca.renew_intermediate(root_passphrase=b"correct horse")
    assert ca.intermediate_cert_path.read_bytes() != old_inter
    assert [str(s.value) for s in ca.name_constraints().permitted_subtrees] == [
        "example.internal", "127.0.0.0/8", "::1/128"]
    # Certificates issued before carry the old intermediate and still verify.
    assert openssl_verify(ca.root_cert_path, old.chain_path, old.cert_path).returncode == 0
    new = ca.issue(dns=["new.example.internal"])
    assert openssl_verify(ca.root_cert_path, ca.intermediate_cert_path, new.cert_path).returncode == 0
    # A root key that is not this CA's is refused before anything is signed.
    other = CertificateAuthority.init(tmp_path / "other")
    saved = ca.root_key_path.read_bytes()
    shutil.copy(other.root_key_path, ca.root_key_path)
    with pytest.raises(CAError, match="root.key is not the key of .*root.crt"):
        ca.renew_intermediate()
    ca.root_key_path.write_bytes(saved)
    # With the root key moved offline, issuing still works; renewal says why not.
    ca.root_key_path.rename(tmp_path / "offline-root.key")
    ca.issue(dns=["more.example.internal"])
    with pytest.raises(CAError, match="root key is not here"):
        ca.renew_intermediate(root_passphrase=b"correct horse")


# -- trust stores -------------------------------------------------------------

def _os_release(root: Path, text: str) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(text)
    return root


def test_install_trust_debian_layout(ca, tmp_path):
    tool("update-ca-certificates")
    root = _os_release(tmp_path / "sysroot", 'PRETTY_NAME="Debian GNU/Linux 12"\nID=debian\n')
    result = install_trust(ca.root_cert_path, root)
    assert result.os_family == "debian" and result.ran
    assert result.path == root / "usr/local/share/ca-certificates/coder-appliance-root.crt"
    assert result.path.read_bytes() == ca.root_cert_path.read_bytes()
    store = root / "etc/ssl/certs/ca-certificates.crt"
    assert ca.root_cert_path.read_text().strip() in store.read_text()
    cert = ca.issue(dns=["d.example.internal"])
    assert openssl_verify(store, cert.chain_path, cert.cert_path).returncode == 0
    # The hashed folder works too, as OpenSSL's -CApath reads it.
    capath = subprocess.run([tool("openssl"), "verify", "-CApath", str(root / "etc/ssl/certs"),
                             "-untrusted", str(cert.chain_path), str(cert.cert_path)],
                            capture_output=True, text=True)
    assert capath.returncode == 0, capath.stdout + capath.stderr
    # Ubuntu is Debian-like.
    ubuntu = _os_release(tmp_path / "ubuntu", "ID=ubuntu\nID_LIKE=debian\n")
    assert install_trust(ca.bundle_path, ubuntu).os_family == "debian"


def test_install_trust_with_a_relative_root(ca, tmp_path):
    """``--root sysroot`` from the folder holding it fills that system's store."""
    tool("update-ca-certificates")
    root = _os_release(tmp_path / "sysroot", "ID=debian\n")
    proc = subprocess.run([sys.executable, "-m", "appliance.admin.main", "ca", "install-trust",
                           "--cert", str(ca.root_cert_path), "--root", "sysroot"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"as {root}/usr/local/share/ca-certificates/coder-appliance-root.crt" in proc.stdout
    store = root / "etc/ssl/certs/ca-certificates.crt"
    assert ca.root_cert_path.read_text().strip() in store.read_text()
    assert "1 added" in proc.stdout


def test_install_trust_debian_root_without_the_tool(ca, tmp_path, monkeypatch):
    """A machine without update-ca-certificates (say, a RHEL host preparing a
    Debian image) places the file and says what to run inside."""
    root = _os_release(tmp_path / "sysroot", "ID=debian\n")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    result = install_trust(ca.root_cert_path, root)
    assert not result.ran and result.command == ("update-ca-certificates",)
    assert result.path.read_bytes() == ca.root_cert_path.read_bytes()
    assert not (root / "etc/ssl").exists()


def test_install_trust_rhel_layout(ca, tmp_path):
    root = _os_release(tmp_path / "sysroot",
                       'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n')
    result = install_trust(ca.root_cert_path, root)
    assert result.os_family == "rhel" and not result.ran
    assert result.path == root / "etc/pki/ca-trust/source/anchors/coder-appliance-root.crt"
    assert result.command == ("update-ca-trust", "extract")
    assert result.path.read_bytes() == ca.root_cert_path.read_bytes()
    # --os wins over os-release.
    forced = install_trust(ca.root_cert_path, tmp_path / "bare", os_family="rhel")
    assert forced.path.exists()


def test_install_trust_bad_input(ca, tmp_path):
    cert = ca.issue(dns=["leaf.example.internal"])
    root = _os_release(tmp_path / "sysroot", "ID=debian\n")
    with pytest.raises(CAError, match="not a CA certificate"):
        install_trust(cert.cert_path, root)
    with pytest.raises(CAError, match="holds 2 certificates"):
        install_trust(cert.chain_path, root)
    with pytest.raises(CAError, match="cannot tell the system's family") as info:
        install_trust(ca.root_cert_path, tmp_path / "empty")
    assert "--os" in info.value.hint
    alpine = _os_release(tmp_path / "alpine", "ID=alpine\n")
    with pytest.raises(CAError, match="unknown system 'alpine'"):
        install_trust(ca.root_cert_path, alpine)
    assert not (root / "usr").exists()


# -- real TLS clients -------------------------------------------------------------

def test_tls_handshake_with_real_clients(test_ca, https_cert, https_server, tmp_path):
    (tmp_path / "hello.txt").write_text("hello over tls\n")
    bundle = str(test_ca.bundle_path)
    with https_server(tmp_path, https_cert) as url:
        assert requests.get(f"{url}/hello.txt", verify=bundle, timeout=10).text == "hello over tls\n"
        localhost = url.replace("127.0.0.1", "localhost")
        assert requests.get(f"{localhost}/hello.txt", verify=bundle, timeout=10).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{url}/hello.txt", timeout=10)  # certifi alone does not trust it
        curl = subprocess.run([tool("curl"), "-sS", "--fail", "--cacert", bundle, f"{url}/hello.txt"],
                              capture_output=True, text=True, timeout=30)
        assert curl.returncode == 0 and curl.stdout == "hello over tls\n", curl.stderr
        untrusted = subprocess.run([tool("curl"), "-sS", "--fail", f"{url}/hello.txt"],
                                   capture_output=True, text=True, timeout=30)
        assert untrusted.returncode == 60, untrusted.stderr  # SSL certificate problem
        # SSL_CERT_FILE: how terraform and Python's default context pick the bundle up.
        fetch = ("import sys, urllib.request; "
                 "print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode(), end='')")
        env = {**os.environ, "SSL_CERT_FILE": bundle}
        env.pop("SSL_CERT_DIR", None)
        py = subprocess.run([sys.executable, "-c", fetch, f"{url}/hello.txt"], env=env,
                            capture_output=True, text=True, timeout=30)
        assert py.returncode == 0 and py.stdout == "hello over tls\n", py.stderr


def test_tls_rejects_a_name_not_in_the_certificate(test_ca, https_server, tmp_path):
    cert = test_ca.issue(dns=["only.example.internal"], name="only-name")
    with https_server(tmp_path, cert) as url:
        with pytest.raises(requests.exceptions.SSLError, match="(?i)mismatch|doesn't match"):
            requests.get(url, verify=str(test_ca.bundle_path), timeout=10)


def _terraform_get_module(url: str, workdir: Path, bundle: Path | None) -> subprocess.CompletedProcess:
    """``terraform init`` of a configuration whose only module is ``url``:
    terraform's own (Go) HTTPS client fetches it."""
    workdir.mkdir()
    (workdir / "main.tf").write_text(f'module "m" {{\n  source = "{url}"\n}}\n')
    (workdir / "cli.tfrc").write_text("")
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(workdir / "cli.tfrc"), "CHECKPOINT_DISABLE": "1",
           "TF_IN_AUTOMATION": "1"}
    env.pop("SSL_CERT_DIR", None)
    if bundle:
        env["SSL_CERT_FILE"] = str(bundle)
    return subprocess.run([tool("terraform"), "init", "-backend=false", "-no-color"], cwd=workdir,
                          env=env, capture_output=True, text=True, timeout=120)


def test_terraform_trusts_the_bundle_and_enforces_constraints(ca, https_server, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    with zipfile.ZipFile(site / "mod.zip", "w") as z:
        z.writestr("main.tf", 'output "hello" { value = "hi" }\n')
    cert = ca.issue(ips=["127.0.0.1"], dns=["mirror.example.internal"])
    with https_server(site, cert) as url:
        trusted = _terraform_get_module(f"{url}/mod.zip", tmp_path / "trusted", ca.bundle_path)
        assert trusted.returncode == 0, trusted.stdout + trusted.stderr
        assert (tmp_path / "trusted/.terraform/modules/m/main.tf").exists()
        untrusted = _terraform_get_module(f"{url}/mod.zip", tmp_path / "untrusted", None)
        assert untrusted.returncode != 0
        assert "certificate signed by unknown authority" in " ".join(untrusted.stderr.split())
    # Go's verifier enforces the intermediate's name constraints as OpenSSL does.
    forged = forged_leaf(ca, tmp_path, "evil.example.org")
    with https_server(site, forged) as url:
        refused = _terraform_get_module(f"{url}/mod.zip", tmp_path / "forged", ca.bundle_path)
        assert refused.returncode != 0
        assert "not authorized to sign for this name" in " ".join(refused.stderr.split()), refused.stderr


# -- the command ------------------------------------------------------------------

def test_cli_end_to_end_never_prints_keys(tmp_path):
    d = str(tmp_path / "ca")
    outputs = []

    def ok(*args, **kw):
        proc = appliance(*args, **kw)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def fails(*args, expect: str, **kw):
        proc = appliance(*args, **kw)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert expect in proc.stderr, proc.stderr
        return proc

    assert "install-trust" in ok("--help").stdout
    fails("issue", "--dir", d, "--dns", "x.example.internal", expect="run `appliance ca init` first")
    (tmp_path / "a-file").write_text("")
    fails("init", "--dir", str(tmp_path / "a-file" / "ca"), "--permit-dns", "example.internal",
          expect="a-file")
    (tmp_path / "empty-pass").write_text("\n")
    fails("init", "--dir", d, "--root-passphrase-file", str(tmp_path / "empty-pass"),
          "--permit-dns", "example.internal", expect="the root passphrase is empty")
    info = json.loads(ok("init", "--dir", d, "--permit-dns", "example.internal",
                         "--root-passphrase-env", "CA_PASS", "-o", "json",
                         env={"CA_PASS": "s3cret"}).stdout)
    assert info["permitted"] == ["example.internal", "127.0.0.0/8", "::1/128"]
    assert info["root_key_encrypted"] is True
    fails("init", "--dir", d, "--access-url", "https://coder.example.internal", expect="already exists")
    issued = json.loads(ok("issue", "--dir", d, "--dns", "coder.example.internal", "--ip",
                           "127.0.0.1", "-o", "json").stdout)
    assert issued[0]["dns"] == ["coder.example.internal"] and issued[0]["ips"] == ["127.0.0.1"]
    assert issued[0]["days_left"] in (396, 397)
    fails("issue", "--dir", d, "--dns", "evil.org", expect="outside the intermediate's name constraints")
    fails("issue", "--dir", d, "--dns", "y.example.internal", "--days", "900", expect="maximum of 825")
    listed = ok("list", "--dir", d).stdout
    assert "coder.example.internal" in listed and "DAYS LEFT" in listed
    fails("renew", "--dir", d, "--intermediate", "--all", expect="needs its passphrase")
    renewed = json.loads(ok("renew", "--dir", d, "--intermediate", "--all", "--root-passphrase-env",
                            "CA_PASS", "-o", "json", env={"CA_PASS": "s3cret"}).stdout)
    assert renewed[0]["dns"] == ["coder.example.internal"] and renewed[0]["serial"] != issued[0]["serial"]
    bundle = tmp_path / "trust.pem"
    assert ok("bundle", "--dir", d, "--out", str(bundle)).stdout.strip() == str(bundle)
    root = _os_release(tmp_path / "sysroot", "ID=debian\n")
    assert "ran: update-ca-certificates" in ok("install-trust", "--cert", str(bundle), "--root",
                                               str(root)).stdout
    assert "update-ca-trust extract" in ok("install-trust", "--dir", d, "--root", str(root),
                                           "--os", "rhel").stdout
    chain = Path(renewed[0]["chain"])
    assert openssl_verify(bundle, chain, chain).returncode == 0
    secrets = key_texts(tmp_path / "ca") + ["s3cret"]
    for text in outputs:
        assert "PRIVATE KEY" not in text
        assert not any(s in text for s in secrets)
