"""The real OpenSSH client (ssh, scp, sftp, rsync) through coder config-ssh, and coder ssh."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

import pytest

from appliance.sdk.agentsdk import AgentClient

from tests.kit.coderd import start_tls_coderd
from tests.kit.provisioning import sql
from tests.kit.relay import ROOT, coder
from tests.kit.tools import tool


@pytest.fixture(scope="module")
def ssh_config(workspace, agent, tmp_path_factory):
    path = tmp_path_factory.mktemp("ssh") / "config"
    path.write_text("Host other\n  HostName example.invalid\n")
    result = coder(workspace, "config-ssh", "-y", "--ssh-config-file", str(path))
    assert result.returncode == 0, result.stderr.decode()
    return path


def ssh(ssh_config, workspace, *args: str, input: bytes = b"", timeout: float = 60, env=None):
    return subprocess.run([tool("ssh"), "-F", str(ssh_config), *args], input=input,
                          capture_output=True, timeout=timeout, env=env)


def test_config_ssh_writes_and_removes_a_managed_block(ssh_config, workspace):
    text = ssh_config.read_text()
    assert text.startswith("Host other\n")
    assert "# ------------START-CODER-----------" in text and "\nHost coder.*\n" in text
    assert "ssh --stdio --fdpass --ssh-host-prefix coder. %h" in text
    assert "StrictHostKeyChecking=no" in text and workspace.name not in text
    # OpenSSH takes the cipher the agent's paramiko server does fastest.
    r = ssh(ssh_config, workspace, "-v", f"coder.{workspace.name}", "true")
    assert r.returncode == 0 and b"cipher: aes128-gcm@openssh.com" in r.stderr, r.stderr[-2000:]
    # The one wildcard entry takes every host form Coder's gives: agent, owner, both.
    owner = workspace.owner.user("me").username
    for host in (f"coder.{workspace.name}.main", f"coder.{owner}--{workspace.name}",
                 f"coder.{owner}--{workspace.name}--main"):
        r = ssh(ssh_config, workspace, host, "echo", "reached")
        assert r.returncode == 0 and r.stdout == b"reached\n", (host, r.stderr[-2000:])
    r = ssh(ssh_config, workspace, "coder.nobody-here", "true")
    assert r.returncode != 0 and b"Traceback" not in r.stderr
    copy = ssh_config.with_name("config-copy")
    copy.write_text(text)
    assert coder(workspace, "config-ssh", "--remove", "--ssh-config-file", str(copy)).returncode == 0
    assert copy.read_text() == "Host other\n  HostName example.invalid\n"


def test_exec_exit_status_stderr_and_env(ssh_config, workspace):
    host = f"coder.{workspace.name}"
    r = ssh(ssh_config, workspace, host, "echo out; echo err >&2; echo $GREETING; exit 3")
    assert r.returncode == 3, r.stderr
    assert r.stdout == b"out\nhello from the manifest\n"
    assert b"err\n" in r.stderr
    r = ssh(ssh_config, workspace, host, "kill -TERM $$")
    assert r.returncode == 128 + 15
    r = ssh(ssh_config, workspace, host, "cat", input=b"x" * 1_000_000)
    assert r.stdout == b"x" * 1_000_000


def test_pty_and_resize(ssh_config, workspace):
    r = ssh(ssh_config, workspace, "-tt", f"coder.{workspace.name}",
            "stty size; tty; printf '\\033[8;40;120t' >/dev/null; exit 0")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().split("\r\n")
    assert lines[1].startswith("/dev/pts/")


def test_forwarding_requests_refused_cleanly(ssh_config, workspace):
    r = ssh(ssh_config, workspace, "-A", "-X", "-o", "ForwardX11Trusted=no",
            f"coder.{workspace.name}", "echo still works")
    assert r.returncode == 0 and r.stdout == b"still works\n", r.stderr


def test_scp_sftp_rsync(ssh_config, workspace, tmp_path):
    host = f"coder.{workspace.name}"
    src = tmp_path / "payload.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    remote = tmp_path / "remote"
    remote.mkdir()
    r = subprocess.run([tool("scp"), "-F", str(ssh_config), str(src), f"{host}:{remote}/scp.bin"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (remote / "scp.bin").read_bytes() == src.read_bytes()
    batch = f"put {src} {remote}/sftp.bin\nmkdir {remote}/d\nget {remote}/sftp.bin {tmp_path}/back.bin\n"
    r = subprocess.run([tool("sftp"), "-F", str(ssh_config), "-b", "-", host], input=batch.encode(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes() and (remote / "d").is_dir()
    r = subprocess.run([tool("rsync"), "-a", "-e", f"ssh -F {ssh_config}", f"{src}",
                        f"{host}:{remote}/rsync.bin"], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (remote / "rsync.bin").read_bytes() == src.read_bytes()


def test_coder_ssh_command_and_stdin(workspace, agent):
    r = coder(workspace, "ssh", workspace.name, "--", "cat; echo done >&2; exit 7", input=b"piped\n")
    assert r.returncode == 7, r.stderr
    assert r.stdout == b"piped\n" and r.stderr.endswith(b"done\n")


def test_stdio_proxy_command_without_fdpass(workspace, agent, tmp_path):
    """config-ssh --no-fdpass (for OpenSSH builds without ProxyUseFdpass, and like a
    ProxyCommand written by hand): the session runs on the command's stdin and stdout."""
    plain = tmp_path / "config"
    r = coder(workspace, "config-ssh", "-y", "--no-fdpass", "--ssh-config-file", str(plain))
    assert r.returncode == 0, r.stderr.decode()
    text = plain.read_text()
    assert "ssh --stdio --ssh-host-prefix coder. %h\n" in text and "fdpass" not in text.lower()
    payload = os.urandom(3_000_000)
    r = ssh(plain, workspace, f"coder.{workspace.name}", "cat", input=payload)
    assert r.returncode == 0 and r.stdout == payload, r.stderr[-2000:]


def test_ssh_over_https(workspace, agent, tmp_path):
    """Over HTTPS the TLS session lives in the coder process: with ProxyUseFdpass a forked
    child relays it, and ``coder ssh`` (paramiko) speaks over it. The HTTPS coderd is a
    second process on the same database, so the streams are forwarded as well."""
    coderd, ca, url = start_tls_coderd(workspace.coderd.dsn, tmp_path / "ca")
    try:
        conf = tmp_path / "coder"
        conf.mkdir()
        (conf / "url").write_text(url)
        (conf / "session").write_text(workspace.owner.token)
        cli = [sys.executable, "-m", "appliance.cli.main", "--global-config", str(conf)]
        untrusted = subprocess.run([*cli, "ssh", workspace.name, "--", "true"], cwd=ROOT,
                                   capture_output=True, timeout=60)
        # Refused at the first request: the agent lookup of --wait=auto, or the stream.
        assert untrusted.returncode != 0 and b"TLS verification" in untrusted.stderr
        assert b"CODER_CA_CERT" in untrusted.stderr and b"Traceback" not in untrusted.stderr
        env = {**os.environ, "CODER_CA_CERT": str(ca.bundle_path)}
        r = subprocess.run([*cli, "ssh", workspace.name, "--", "echo over $GREETING"], cwd=ROOT,
                           capture_output=True, timeout=60, env=env)
        assert r.returncode == 0 and r.stdout == b"over hello from the manifest\n", r.stderr
        config = tmp_path / "ssh_config"
        r = subprocess.run([*cli, "config-ssh", "-y", "--ssh-config-file", str(config)], cwd=ROOT,
                           capture_output=True, timeout=60, env=env)
        assert r.returncode == 0, r.stderr
        payload = os.urandom(2_000_000)
        r = ssh(config, workspace, f"coder.{workspace.name}", "cat", input=payload, env=env)
        assert r.returncode == 0 and r.stdout == payload, r.stderr[-2000:]
        deadline = time.monotonic() + 10  # the relaying child ends with the session
        while subprocess.run(["pgrep", "-f", f"--global-config {conf} ssh"]).returncode == 0:
            assert time.monotonic() < deadline, "the TLS relay child outlived the session"
            time.sleep(0.1)
    finally:
        coderd.stop()


def coder_ssh(workspace, *args: str) -> list[str]:
    return [sys.executable, "-m", "appliance.cli.main", "--global-config",
            str(workspace.config_dir), "ssh", *args, workspace.name, "--", "echo", "in"]


def waits_for_startup(workspace, command: list[str]) -> None:
    """``command`` (its agent reported starting) runs only once the agent reports ready,
    saying it waits; the agent here reports by hand."""
    reporter = AgentClient(workspace.coderd.url, workspace.token)
    reporter.post_lifecycle("starting", dt.datetime.now(dt.timezone.utc))
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(3)
        reporter.post_lifecycle("ready", dt.datetime.now(dt.timezone.utc))
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0 and out == b"in\n", err
    assert b"Waiting for the workspace's startup scripts" in err


def test_ssh_wait_yes_waits_for_the_startup_scripts(workspace, agent):
    """``coder ssh --wait=yes`` (what config-ssh --wait yes writes) connects only once the
    agent reports its startup scripts done, as Coder's."""
    waits_for_startup(workspace, coder_ssh(workspace, "--wait", "yes"))


def test_ssh_wait_auto_waits_only_for_a_script_that_blocks_login(workspace, agent):
    """``--wait=auto`` (the default), as Coder's: no wait while the agent's scripts do not
    block login; once one does (``start_blocks_login``), the same wait as ``--wait=yes``."""
    reporter = AgentClient(workspace.coderd.url, workspace.token)
    reporter.post_lifecycle("starting", dt.datetime.now(dt.timezone.utc))
    try:
        quick = subprocess.run(coder_ssh(workspace), cwd=ROOT, capture_output=True, timeout=60)
        assert quick.returncode == 0 and quick.stdout == b"in\n", quick.stderr
        assert b"startup scripts" not in quick.stderr
        sql(workspace.coderd.dsn, """INSERT INTO workspace_agent_scripts (workspace_agent_id,
                display_name, script, run_on_start, start_blocks_login)
                VALUES (%s, 'blocks', 'true', true, true)""", (str(workspace.agent_id),))
        waits_for_startup(workspace, coder_ssh(workspace))
    finally:
        sql(workspace.coderd.dsn, "DELETE FROM workspace_agent_scripts WHERE "
            "workspace_agent_id = %s AND display_name = 'blocks'", (str(workspace.agent_id),))
        reporter.post_lifecycle("ready", dt.datetime.now(dt.timezone.utc))


def test_ssh_reports_the_workspaces_use(workspace, agent):
    """As Coder's ssh: a session marks the workspace used (POST .../usage, app "ssh"), and
    the hidden ``--usage-app=disable`` does not."""
    def last_used():
        return workspace.owner.workspace_by_owner_and_name("me", workspace.name).last_used_at

    before = last_used()
    quiet = subprocess.run(coder_ssh(workspace, "--usage-app", "disable"), cwd=ROOT,
                           capture_output=True, timeout=60)
    assert quiet.returncode == 0 and quiet.stdout == b"in\n", quiet.stderr
    assert last_used() == before
    used = subprocess.run(coder_ssh(workspace), cwd=ROOT, capture_output=True, timeout=60)
    assert used.returncode == 0 and used.stdout == b"in\n", used.stderr
    assert last_used() > before
