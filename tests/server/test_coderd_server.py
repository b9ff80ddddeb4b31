"""``coderd server`` as an administrator runs it: settings, databases, workers, TLS, air gap."""
from __future__ import annotations

import concurrent.futures
import os
import re
import socket
import subprocess
import sys
import time

import psutil
import psycopg2
import pytest
import requests

import appliance
from appliance import buildinfo, settings as settings_mod
from appliance.sdk import types
from server.db import migrate

from tests.kit.coderd import FIRST_USER_PASSWORD, create_first_user, start_coderd, start_tls_coderd
from tests.kit.postgres import free_port


def coderd_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CODER_")}
    return subprocess.run([sys.executable, "-m", "server.cli", *args], capture_output=True,
                          text=True, timeout=60, env={**clean, **(env or {})})


def test_help_lists_every_setting():
    out = coderd_cli("server", "--help").stdout
    for s in settings_mod.SETTINGS:
        assert s.flag in out and f"${s.env}" in out, s.env
    assert "CODER_UPDATE_CHECK" in out and "CODER_TELEMETRY_ENABLE" in out


def test_air_gap_defaults():
    loaded = settings_mod.load({}, environ={})
    assert loaded.update_check is False and loaded.telemetry_enable is False
    assert loaded.http_address == "127.0.0.1:3000"
    assert loaded.effective_access_url == "http://127.0.0.1:3000"


def test_booleans_read_as_gos_parsebool():
    """One parser for boolean settings and the CLI's boolean flags: Go's strconv.ParseBool,
    as Coder reads both (``yes`` and ``on`` are refused there too); empty is unset."""
    for text, value in (("T", True), ("TRUE", True), ("1", True), ("f", False), ("", False)):
        assert settings_mod.load({}, environ={"CODER_VERBOSE": text}).verbose is value
    for text in ("yes", "on", "tRuE"):
        with pytest.raises(settings_mod.SettingsError, match="CODER_VERBOSE: invalid boolean"):
            settings_mod.load({}, environ={"CODER_VERBOSE": text})


@pytest.mark.parametrize("env,needle", [
    ({"CODER_HTTP_ADDRESS": "nonsense"}, "CODER_HTTP_ADDRESS"),
    ({"CODER_TLS_ENABLE": "maybe"}, "CODER_TLS_ENABLE"),
    ({"CODER_TLS_ENABLE": "true"}, "CODER_TLS_CERT_FILE"),
    ({"CODER_ACCESS_URL": "ftp://x"}, "CODER_ACCESS_URL"),
    ({"CODER_SESSION_DURATION": "5 parsecs"}, "CODER_SESSION_DURATION"),
])
def test_bad_settings_exit_2_naming_the_variable(env, needle):
    proc = coderd_cli("server", env=env)
    assert proc.returncode == 2
    assert needle in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", [["server"], ["migrate", "up"]])
@pytest.mark.parametrize("url,reason", [
    ("postgresql://coder:50%off-secret@127.0.0.1:1/coder", ": invalid percent-encoded token"),
    ("postgresql://coder:se%00cret@127.0.0.1:1/coder",
     ": forbidden value %00 in percent-encoded value"),
    ("postgresql://127.0.0.1:1/coder?secret=1", ": invalid URI query parameter"),
    ("http://coder:secret@127.0.0.1:1/coder", ""),  # libpq's reason quotes it mid-sentence
])
def test_a_database_url_libpq_refuses_exits_2_unechoed(command, url, reason):
    """attack15: libpq refused a password holding a stray '%' with the password in its
    message, which coderd printed in a traceback into the journal."""
    proc = coderd_cli(*command, env={"CODER_PG_CONNECTION_URL": url})
    assert proc.returncode == 2
    assert proc.stderr == f"coderd: CODER_PG_CONNECTION_URL is not a valid PostgreSQL URL{reason}\n"


@pytest.mark.parametrize("command", [["server"], ["migrate", "up"]])
def test_a_database_it_cannot_use_ends_it_with_one_line(command, pg_server):
    """No traceback in the journal at each of the service's restarts: libpq's reason, which
    names the host and user and never the password."""
    for url, reason in ((f"postgresql://coder:secret@127.0.0.1:{free_port()}/coder", "Connection refused"),
                        (pg_server.dsn("no_such_database").replace("postgres@", "postgres:secret@"),
                         'database "no_such_database" does not exist')):
        proc = coderd_cli(*command, env={"CODER_PG_CONNECTION_URL": url})
        assert proc.returncode == 1, proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("coderd: cannot use the database: ") and reason in last, proc.stderr
        assert "Traceback" not in proc.stderr and "secret" not in proc.stderr


def test_flags_override_environment(pg_server, pg_template):
    port = free_port()
    c = start_coderd(pg_server.dsn(pg_server.create_database(template=pg_template)),
                     env={"CODER_HTTP_ADDRESS": "127.0.0.1:1",
                          "CODER_ACCESS_URL": f"http://127.0.0.1:{port}"},
                     args=["--http-address", f"127.0.0.1:{port}"])
    try:
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).text == "OK"
    finally:
        c.stop()


def test_updatecheck_and_buildinfo_are_local(coderd):
    check = requests.get(coderd.url + "/api/v2/updatecheck", timeout=5).json()
    assert check["current"] is True and check["url"] == ""
    info = coderd.client().build_info()
    assert info.telemetry is False and info.deployment_id
    assert info.version == check["version"] == buildinfo.version()  # what `coder version` says
    assert info.appliance_version == appliance.__version__  # the appliance's own release


def test_no_connection_leaves_the_machine(pg_server, pg_template, tmp_path):
    """Every connect() coderd makes goes to loopback or a Unix socket (traced with strace)."""
    trace = tmp_path / "connect.trace"
    dsn = pg_server.dsn(pg_server.create_database(template=pg_template))
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CODER_")}
    env = {**clean, "CODER_HTTP_ADDRESS": f"127.0.0.1:{port}", "CODER_PG_CONNECTION_URL": dsn,
           "CODER_CONFIG_DIR": str(tmp_path), "CODER_ACCESS_URL": "https://coder.example.com"}
    proc = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=connect,sendto", "-o", str(trace),
                             sys.executable, "-m", "server.cli", "server"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url + "/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        from appliance.sdk.client import Client

        c = Client(url)
        c.create_first_user(types.CreateFirstUserRequest(email="a@example.com", username="a",
                                                         password=FIRST_USER_PASSWORD))
        c.token = c.login_with_password("a@example.com", FIRST_USER_PASSWORD)
        c.build_info(), c.users(), c.audit_logs(), c.create_token()
        requests.get(url + "/api/v2/updatecheck", timeout=5)
    finally:
        for child in psutil.Process(proc.pid).children():  # coderd, under strace
            child.terminate()
        proc.wait(30)
    calls = [line for line in trace.read_text().splitlines() if "connect(" in line or "sendto(" in line]
    assert any("127.0.0.1" in line for line in calls), "the trace saw no connections at all"
    for line in calls:
        inet = re.search(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', line)
        if inet:
            address = inet.group(1) or inet.group(2)
            assert address.startswith("127.") or address in ("::1", "::ffff:127.0.0.1"), line
        else:
            assert "AF_UNIX" in line or "AF_NETLINK" in line or "sa_family=AF_UNSPEC" in line \
                or "sendto(" in line, line


def test_migrations_down_and_up_and_concurrent_starts(pg_server):
    dsn = pg_server.dsn(pg_server.create_database())
    newest = migrate.available()[-1].version
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(lambda _: migrate.up(dsn), range(4)))
    assert versions == [newest] * 4
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in cur.fetchall()] == [m.version for m in migrate.available()]
    assert migrate.down(dsn) == 0
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'schema_migrations'")
        assert cur.fetchone()[0] == 0
    conn.close()
    assert migrate.up(dsn) == newest


def test_two_coderd_processes_share_one_fresh_database(pg_server):
    dsn = pg_server.dsn(pg_server.create_database())
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        servers = list(pool.map(lambda _: start_coderd(dsn), range(2)))
    try:
        owner, _ = create_first_user(servers[0])
        other = servers[1].client(owner.token)
        assert other.user("me").username == "admin"
        assert len(other.organizations()) == 1
    finally:
        for s in servers:
            s.stop()


def test_gunicorn_workers(pg_server, pg_template):
    c = start_coderd(pg_server.dsn(pg_server.create_database(template=pg_template)),
                     env={"CODER_HTTP_WORKERS": "2"})
    try:
        owner, _ = create_first_user(c)
        session = requests.Session()
        for _ in range(40):
            assert session.get(c.url + "/api/v2/users/me",
                               headers={"Coder-Session-Token": owner.token}, timeout=5).ok
        workers = psutil.Process(c.proc.pid).children()
        assert len(workers) == 2
    finally:
        c.stop()
    assert c.proc.returncode == 0


def test_tls_and_redirect_to_access_url(pg_server, pg_template, tmp_path):
    c, ca, https = start_tls_coderd(pg_server.dsn(pg_server.create_database(template=pg_template)),
                                    tmp_path / "ca", env={"CODER_REDIRECT_TO_ACCESS_URL": "true",
                                                          "CODER_WILDCARD_ACCESS_URL": "*.apps.test"})
    try:
        info = requests.get(https + "/api/v2/buildinfo", verify=str(ca.bundle_path), timeout=5)
        assert info.status_code == 200
        # Plain HTTP on another host name is sent to the access URL.
        redirect = requests.get(c.url.replace("127.0.0.1", "localhost") + "/api/v2/buildinfo",
                                allow_redirects=False, timeout=5)
        assert redirect.status_code == 307
        assert redirect.headers["Location"] == c.url + "/api/v2/buildinfo"
        # A subdomain app's host is served there (as Coder does), not sent to the access URL:
        # here an unknown app, so coderd's own answer about it.
        app = requests.get(c.url + "/some/path", headers={"Host": "8080--main--ws--alice.apps.test"},
                           allow_redirects=False, timeout=5)
        assert app.status_code != 307, app.headers.get("Location")
        assert "/some/path" not in app.headers.get("Location", "")
    finally:
        c.stop()


def _embedded_postgres(config_dir: str) -> list:
    return [p for p in psutil.process_iter(["name", "username", "cmdline"])
            if p.info["name"] == "postgres" and config_dir in " ".join(p.info["cmdline"] or [])]


def _reset_password(config_dir: str, password: str) -> None:
    """``coderd reset-password admin`` with coderd's embedded database (its config folder)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CODER_")},
           "CODER_CONFIG_DIR": config_dir}
    done = subprocess.run([sys.executable, "-m", "server.cli", "reset-password", "admin",
                           "--password-stdin"], input=password + "\n", env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "Password has been reset for user admin!" in done.stdout, \
        done.stderr


def test_embedded_postgres_survives_restart(tmp_path):
    """No CODER_PG_CONNECTION_URL: coderd runs PostgreSQL itself, unprivileged, and stops it.
    ``coderd reset-password`` reaches it there, coderd stopped (starting and stopping it) or
    running (leaving it to coderd)."""
    c = start_coderd(None, timeout=180)
    config_dir = c.config_dir
    try:
        create_first_user(c)
        postgres = _embedded_postgres(config_dir)
        assert postgres, "no embedded postgres process found"
        if os.geteuid() == 0:
            assert all(p.info["username"] != "root" for p in postgres)
    finally:
        c.stop()
    assert c.proc.returncode == 0
    time.sleep(0.5)
    assert not _embedded_postgres(config_dir)
    _reset_password(config_dir, "While-Stopped-Pass-31")
    assert not _embedded_postgres(config_dir)
    again = start_coderd(None, env={"CODER_CONFIG_DIR": config_dir}, timeout=180)
    try:
        assert again.client().has_first_user()
        again.client().login_with_password("admin@example.com", "While-Stopped-Pass-31")
        _reset_password(config_dir, "While-Running-Pass-32")
        again.client().login_with_password("admin@example.com", "While-Running-Pass-32")
    finally:
        again.stop()


def _raw_request(url: str, head: bytes) -> bytes:
    """Send ``head`` (request line and headers, without the blank line) on a new
    connection; the status line of the answer."""
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + b"\r\n\r\n")
        return sock.makefile("rb").readline().rstrip()


def test_request_headers_as_rfc_9112_reads_them(shared_coderd, shared_owner):
    token = shared_owner.token.encode()
    me = b"GET /api/v2/users/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    # Names are case-insensitive; a folded line (obsolete) is refused, as RFC 9112 allows.
    assert _raw_request(shared_coderd.url, me + b"coder-SESSION-token: " + token) == b"HTTP/1.1 200 OK"
    assert _raw_request(shared_coderd.url, me + b"Coder-Session-Token:\r\n " + token) \
        .startswith(b"HTTP/1.1 400")
    assert _raw_request(shared_coderd.url, me).startswith(b"HTTP/1.1 401 ")
    for bad in (b"Coder-Session-Token : " + token, b"No colon here", b"Bad\x01Name: 1",
                b"\r\n".join(b"X-Header-%d: 1" % i for i in range(101))):
        assert _raw_request(shared_coderd.url, me + bad).startswith(b"HTTP/1.1 400"), bad[:40]
    # A head over 64 KiB is too large, whatever its lines.
    assert _raw_request(shared_coderd.url, me + b"X-Long: " + b"a" * 70_000).startswith(b"HTTP/1.1 431")
    # Headers on a line of their own before the first one cannot be folded into anything.
    assert _raw_request(shared_coderd.url, b"GET /healthz HTTP/1.1\r\n folded: 1") \
        .startswith(b"HTTP/1.1 400")
