"""coderd serves the provider mirror under /terraform-mirror/ and real terraform installs from it."""
from __future__ import annotations

import os
import socket
import subprocess
import time

import requests

from tests.kit import rawhttp
from tests.kit.coderd import start_tls_coderd

TEMPLATE = '''
terraform {
  required_providers {
    null  = { source = "hashicorp/null" }
    coder = { source = "coder/coder" }
  }
}
'''


def test_terraform_init_from_coderds_network_mirror(pg_server, pg_template, provider_mirror, tmp_path):
    c, ca, https = start_tls_coderd(pg_server.dsn(pg_server.create_database(template=pg_template)),
                                    tmp_path / "ca", env={"CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                                                          "CODER_PROVIDER_MIRROR_SERVE": "true"})
    mirror_url = f"{https}/terraform-mirror/"
    try:
        index = requests.get(mirror_url + "registry.terraform.io/hashicorp/null/index.json",
                             verify=str(ca.bundle_path), timeout=10)
        assert index.status_code == 200 and "versions" in index.json()
        version = next(iter(index.json()["versions"]))
        archives = requests.get(f"{mirror_url}registry.terraform.io/hashicorp/null/{version}.json",
                                verify=str(ca.bundle_path), timeout=10).json()["archives"]
        zip_url = mirror_url + "registry.terraform.io/hashicorp/null/" + archives["linux_amd64"]["url"]
        head = requests.head(zip_url, verify=str(ca.bundle_path), timeout=10)
        assert head.status_code == 200 and head.headers["Content-Type"] == "application/zip"
        for hidden in (".lock", "../mirror-state.json", "%2e%2e/mirror-state.json", "registry.terraform.io"):
            assert requests.get(mirror_url + hidden, verify=str(ca.bundle_path), timeout=10).status_code == 404

        work = tmp_path / "work"
        work.mkdir()
        (work / "main.tf").write_text(TEMPLATE)
        rc = tmp_path / "terraform.rc"
        rc.write_text(f'provider_installation {{\n  network_mirror {{\n    url = "{mirror_url}"\n  }}\n}}\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "CODER_"))}
        env.update(TF_CLI_CONFIG_FILE=str(rc), CHECKPOINT_DISABLE="1", SSL_CERT_FILE=str(ca.bundle_path),
                   HOME=str(tmp_path))
        proc = subprocess.run(["terraform", "init", "-no-color", "-input=false"], cwd=work, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        lock = (work / ".terraform.lock.hcl").read_text()
        assert 'provider "registry.terraform.io/hashicorp/null"' in lock
        assert 'provider "registry.terraform.io/coder/coder"' in lock
    finally:
        c.stop()


def test_mirror_is_not_served_unless_asked(coderd):
    assert requests.get(coderd.url + "/terraform-mirror/registry.terraform.io/hashicorp/null/index.json",
                        timeout=5).status_code == 404


def test_a_mirror_client_that_stops_reading_is_dropped(coderd_factory, tmp_path):
    """coderd's connection rules hold for the mirror it serves: a client that stops
    reading a zip holds its connection no longer than CODER_HTTP_READ_TIMEOUT."""
    mirror = tmp_path / "mirror"
    (mirror / "registry.terraform.io").mkdir(parents=True)
    (mirror / "registry.terraform.io" / "big.zip").write_bytes(b"\0" * (64 << 20))
    coderd = coderd_factory(env={"CODER_PROVIDER_MIRROR_DIR": str(mirror), "CODER_PROVIDER_MIRROR_SERVE": "true",
                                 "CODER_HTTP_READ_TIMEOUT": "2s"})
    with rawhttp.connect(coderd.url) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(rawhttp.request("GET", "/terraform-mirror/registry.terraform.io/big.zip"))
        time.sleep(4)  # read nothing meanwhile: coderd's write times out
        answer = rawhttp.answers(sock, 10)
    assert answer.closed and len(answer.data) < 64 << 20
    assert "Traceback" not in coderd.log()
