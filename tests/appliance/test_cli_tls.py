"""``coder`` against an HTTPS coderd whose certificate comes from the
appliance's own CA: refused until the CA is trusted, with a hint saying how."""
from __future__ import annotations

from mirror_tools.ca import CertificateAuthority

from tests.kit.coderd import free_port

PASSWORD = "CorrectHorseBattery1!"


def test_private_ca_trust(coderd_factory, cli, tmp_path):
    ca = CertificateAuthority.init(tmp_path / "ca", permitted_dns=["localhost"],
                                   permitted_ips=["127.0.0.0/8"])
    cert = ca.issue(dns=["localhost"], ips=["127.0.0.1"])
    port = free_port()
    coderd_factory(env={"CODER_TLS_ENABLE": "true", "CODER_TLS_ADDRESS": f"127.0.0.1:{port}",
                        "CODER_TLS_CERT_FILE": str(cert.chain_path),
                        "CODER_TLS_KEY_FILE": str(cert.key_path)})
    url = f"https://127.0.0.1:{port}"
    first_user = ("--first-user-username", "alice", "--first-user-email", "alice@example.com",
                  "--first-user-password", PASSWORD)

    proc = cli.run("login", url, *first_user, expect=1)
    assert f"error: TLS verification of {url} failed" in proc.stderr
    assert "--ca-cert" in proc.stderr and "Traceback" not in proc.stderr

    cli.run("login", url, *first_user, "--ca-cert", str(ca.bundle_path))
    assert cli.config.read("url") == url
    # Every later command needs the trust too: by the environment variable ...
    assert "alice" in cli.run("whoami", env={"CODER_CA_CERT": str(ca.bundle_path)}).stdout
    # ... or through SSL_CERT_FILE, which the system trust store default honours.
    assert "alice" in cli.run("whoami", env={"SSL_CERT_FILE": str(ca.bundle_path)}).stdout
    cli.run("whoami", expect=1)
    proc = cli.run("whoami", "--ca-cert", str(tmp_path / "missing.pem"), expect=2)
    assert "missing.pem does not exist" in proc.stderr
