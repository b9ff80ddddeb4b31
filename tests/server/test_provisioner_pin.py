"""coderd's built-in provisioner daemons trust its certificate by its SHA-256 (issue 15).

They reach coderd on 127.0.0.1, which its certificate does not name, and trusted
anything there: whatever held the port (another local user's process, after a coderd
restart) got their key, then the jobs and their secrets. Now coderd hands them the
SHA-256 of the certificate it serves, and they send nothing to any other.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import socket
import ssl
import subprocess
import sys
import threading
import time

import psutil
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from mirror_tools.ca import CertificateAuthority
from server.cli import PIN_ENV

from tests.kit.agent import wait_for
from tests.kit.coderd import create_first_user, start_coderd, start_tls_coderd
from tests.kit.postgres import free_port
from tests.kit.provisioning import Rows


def sha256_of(pem_path) -> str:
    return x509.load_pem_x509_certificate(open(pem_path, "rb").read()).fingerprint(hashes.SHA256()).hex()


def imports_a_template(coderd) -> dict:
    """The first user's import of an empty template, run by coderd's daemons: its job row."""
    _, first = create_first_user(coderd)
    rows = Rows(coderd.dsn, first.user_id, first.organization_id)
    try:
        _, job_id = rows.import_version({"main.tf": "terraform {\n}\n"})
        return rows.wait(job_id, timeout=90)
    finally:
        rows.conn.close()


def test_the_builtin_daemons_run_a_job_over_tls_with_the_pin(pg_server, pg_template, provider_mirror,
                                                             tmp_path):
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    coderd, _, https = start_tls_coderd(dsn, tmp_path / "ca", env={
        "CODER_PROVIDER_MIRROR_DIR": provider_mirror, "CODER_PROVISIONER_DAEMONS": "1"})
    try:
        # coderd starts its daemons once it listens: wait for the one asked for.
        daemons = wait_for(lambda: [p for p in psutil.Process(coderd.proc.pid).children()
                                    if "provisionerd" in " ".join(p.cmdline())],
                           what="coderd's built-in provisioner daemon")
        env = daemons[0].environ()  # these tests run as root, who reads it
        assert env["CODER_URL"] == https  # not the plain HTTP address coderd also serves
        assert env[PIN_ENV] == sha256_of(coderd.env["CODER_TLS_CERT_FILE"])
        assert "CODER_CA_CERT" not in env  # the daemons are given no CA: the pin is the trust
        job = imports_a_template(coderd)
        assert job["job_status"] == "succeeded", job["error"]
    finally:
        coderd.stop()
        print(coderd.log()[-4000:])  # shown only when the test failed


class Recorder:
    """A server on HOST:PORT (0: any free port) that records every byte its clients send,
    after a TLS handshake with ``cert`` if given: an impostor on coderd's port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, cert=None):
        self.context = None
        if cert is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(cert.chain_path, cert.key_path)
        self.listener = socket.create_server((host, port))
        self.port = self.listener.getsockname()[1]
        self.handshakes = 0
        self.received = bytearray()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed: the test is over
            try:
                with self.context.wrap_socket(conn, server_side=True) if self.context else conn as peer:
                    self.handshakes += 1
                    peer.settimeout(5)
                    while data := peer.recv(65536):
                        self.received += data
            except OSError:
                pass  # the client went away, as a refusing one does

    def close(self) -> None:
        self.listener.close()


def test_a_server_with_another_certificate_never_gets_the_key(tmp_path):
    ca = CertificateAuthority.init(tmp_path / "ca")
    coderds = ca.issue(dns=["localhost"], ips=["127.0.0.1"], name="coderd")
    # From the same CA, for the same names: only the pin tells it apart.
    impostor = Recorder(cert=ca.issue(dns=["localhost"], ips=["127.0.0.1"], name="impostor"))
    psk = secrets.token_urlsafe(32)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CODER_")},
           "CODER_URL": f"https://127.0.0.1:{impostor.port}", "CODER_PROVIDER_MIRROR_DIR": str(tmp_path),
           "CODER_CACHE_DIRECTORY": str(tmp_path / "jobs")}
    command = [sys.executable, "-m", "server.cli", "provisionerd", "start", "--built-in", "--name", "built-in"]
    daemon = subprocess.Popen(command, env={**env, PIN_ENV: sha256_of(coderds.cert_path)},
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    daemon.stdin.write(psk.encode() + b"\n")
    daemon.stdin.close()
    try:
        deadline = time.monotonic() + 30
        while impostor.handshakes < 3 and daemon.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # it keeps trying, and refusing
    finally:
        daemon.terminate()
        daemon.wait(20)
        impostor.close()
    log = daemon.stderr.read().decode()
    assert impostor.handshakes >= 3, log
    assert impostor.received == b""  # not a request line, let alone the key
    assert "Fingerprints did not match" in log, log
    # Without a pin, a built-in daemon trusts nothing rather than anything.
    unpinned = subprocess.run(command, env=env, input=psk.encode() + b"\n", capture_output=True, timeout=60)
    assert unpinned.returncode == 2 and PIN_ENV.encode() in unpinned.stderr, unpinned.stderr


@pytest.mark.parametrize("host", ["127.0.0.2", "::1"])
def test_over_plain_http_the_builtin_daemons_reach_the_address_coderd_holds(host, pg_server, pg_template,
                                                                           provider_mirror):
    """Bound to one address, coderd leaves 127.0.0.1:PORT to whoever takes it: its daemons
    once went there, key in clear. They go where coderd listens and run its jobs."""
    port = free_port()
    squatter = Recorder("127.0.0.1", port)
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    coderd = start_coderd(dsn, env={"CODER_HTTP_ADDRESS": url.removeprefix("http://"), "CODER_ACCESS_URL": url,
                                    "CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                                    "CODER_PROVISIONER_DAEMONS": "1"})
    try:
        job = imports_a_template(coderd)
        assert job["job_status"] == "succeeded", job["error"]
    finally:
        coderd.stop()
        squatter.close()
    assert squatter.received == b""


def test_the_certificate_served_is_the_one_pinned_after_a_renewal_in_place(pg_server, pg_template,
                                                                          provider_mirror, tmp_path):
    """docs/tls-ca.md renews a certificate in place, then restarts coderd. Until the restart,
    coderd serves the certificate it started with (as Coder loads its certificates once),
    which is the one its daemons pin: renewing the files cuts nothing off."""
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    coderd, ca, https = start_tls_coderd(dsn, tmp_path / "ca", env={
        "CODER_PROVIDER_MIRROR_DIR": provider_mirror, "CODER_PROVISIONER_DAEMONS": "1"})
    try:
        pinned = sha256_of(coderd.env["CODER_TLS_CERT_FILE"])
        renewed = ca.renew("coderd")  # rewrites the files coderd was started with
        assert str(renewed.chain_path) == coderd.env["CODER_TLS_CERT_FILE"]
        assert sha256_of(renewed.chain_path) != pinned
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", int(https.rpartition(":")[2])), timeout=10) as raw, \
                context.wrap_socket(raw) as tls:
            assert hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest() == pinned
        # And the daemons still run jobs.
        assert imports_a_template(coderd)["job_status"] == "succeeded"
    finally:
        coderd.stop()
