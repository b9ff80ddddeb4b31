"""Run a real coderd for tests and hand back SDK clients, like Coder's coderdtest.

Each coderd is a real ``coderd server`` process on 127.0.0.1 with its own
database cloned from a migrated template, so tests are isolated and fast.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field

import requests

from appliance.sdk import types
from appliance.sdk.client import Client

from tests.kit import process
from tests.kit.postgres import PostgresServer, free_port

FIRST_USER_PASSWORD = "SomeSecurePassword!"


@dataclass
class Coderd:
    url: str
    proc: subprocess.Popen
    dsn: str
    config_dir: str
    log_path: str
    env: dict = field(default_factory=dict)

    def client(self, token: str = "") -> Client:
        return Client(self.url, token)

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def peak_memory(self) -> int:
        """The coderd process's peak resident memory since start or the last reset, in bytes
        (VmHWM; with one worker, the process serving every request)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            line = next(line for line in f if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024

    def reset_peak_memory(self) -> None:
        with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
            f.write("5")

    def stop(self) -> None:
        process.stop(self.proc)


def start_coderd(dsn: str | None, *, env: dict | None = None, args: list[str] = (),
                 timeout: float = 60.0, module: str = "server.cli") -> Coderd:
    """``module``: the program run as ``python -m`` (``tests.kit.coderdprobe`` for a view
    into the process)."""
    port = free_port()
    config_dir = tempfile.mkdtemp(prefix="coderd-test-")
    log_path = os.path.join(config_dir, "coderd.log")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CODER_")}
    full_env.update({
        "CODER_HTTP_ADDRESS": f"127.0.0.1:{port}",
        "CODER_ACCESS_URL": f"http://127.0.0.1:{port}",
        "CODER_CONFIG_DIR": config_dir,
        "CODER_PG_CONNECTION_URL": dsn or "",
        "CODER_LOGIN_RATE_LIMIT": "1000",
        # Most tests need no provisioners; those that do ask for them.
        "CODER_PROVISIONER_DAEMONS": "0",
        **(env or {}),
    })
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", module, "server", *args],
                            env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = full_env["CODER_ACCESS_URL"]
    c = Coderd(url, proc, dsn or "", config_dir, log_path, full_env)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"coderd exited with {proc.returncode}:\n{c.log()}")
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return c
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or workers still booting
        if time.monotonic() > deadline:
            c.stop()
            raise RuntimeError(f"coderd did not become ready in {timeout}s:\n{c.log()}")
        time.sleep(0.05)


@contextlib.contextmanager
def running_coderd(pg_server: PostgresServer, pg_template: str, env: dict | None = None):
    """A coderd on a new database of its own while the block runs (for module fixtures)."""
    c = start_coderd(pg_server.dsn(pg_server.create_database(template=pg_template)), env=env)
    try:
        yield c
    finally:
        c.stop()


def start_tls_coderd(dsn: str, ca_dir, env: dict | None = None):
    """A coderd serving HTTPS on 127.0.0.1 with a certificate from a new appliance CA.

    Returns (coderd, the CA, the HTTPS base URL); trust ``ca.bundle_path``.
    """
    from mirror_tools.ca import CertificateAuthority

    ca = CertificateAuthority.init(ca_dir)
    cert = ca.issue(dns=["localhost"], ips=["127.0.0.1"], name="coderd")
    port = free_port()
    coderd = start_coderd(dsn, env={
        "CODER_TLS_ENABLE": "true", "CODER_TLS_ADDRESS": f"127.0.0.1:{port}",
        "CODER_TLS_CERT_FILE": str(cert.chain_path), "CODER_TLS_KEY_FILE": str(cert.key_path),
        **(env or {})})
    return coderd, ca, f"https://127.0.0.1:{port}"


def create_first_user(coderd: Coderd) -> tuple[Client, types.CreateFirstUserResponse]:
    client = coderd.client()
    resp = client.create_first_user(types.CreateFirstUserRequest(
        email="admin@example.com", username="admin", password=FIRST_USER_PASSWORD))
    client.token = client.login_with_password("admin@example.com", FIRST_USER_PASSWORD)
    return client, resp


def create_another_user(owner: Client, roles: list[str] = (), *, username: str = "",
                        password: str = "AnotherSecurePassword!") -> tuple[Client, types.User]:
    username = username or "user-" + uuid.uuid4().hex[:8]
    user = owner.create_user(types.CreateUserRequest(
        email=f"{username}@example.com", username=username, password=password))
    if roles:
        user = owner.update_user_roles(user.id, list(roles))
    client = Client(owner.url)
    client.token = client.login_with_password(f"{username}@example.com", password)
    return client, user


def raw(coderd, method, path, token="", **kwargs):
    """A request as any HTTP client would send it (the SDK would refuse or shape it)."""
    headers = kwargs.pop("headers", {})
    if token:
        headers["Coder-Session-Token"] = token
    return requests.request(method, coderd.url + path, headers=headers, timeout=10, **kwargs)


def start_proxy(coderd: Coderd, token: str, host: str = "127.0.0.1",
                **settings: str) -> tuple[subprocess.Popen, str]:
    """A real ``coderd wsproxy server`` on 127.0.0.1, without any database setting; its
    access URL (returned) names ``host`` (a name under ``browser.loopback_names``)."""
    port = free_port()
    url = f"http://{host}:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODER_")}
    env.update(CODER_PRIMARY_ACCESS_URL=coderd.url, CODER_PROXY_SESSION_TOKEN=token,
               CODER_HTTP_ADDRESS=f"127.0.0.1:{port}", CODER_ACCESS_URL=url)
    env.update(settings)  # they may name another address and URL (HTTPS)
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "wsproxy", "server"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, url


__all__ = ["Coderd", "PostgresServer", "start_coderd", "running_coderd", "create_first_user",
           "create_another_user", "raw", "start_proxy"]
