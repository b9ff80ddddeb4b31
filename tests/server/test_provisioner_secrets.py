"""A template admin's template reads what it can through /proc (review finding 5).

Built-in provisioners run terraform as coderd's user. The review's template
read /proc/PPID/environ (the daemon's environment, which was all of coderd's)
into a parameter default and found the database URL and the provisioner key.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.kit.coderd import create_first_user
from tests.kit.provisioning import Rows

READS_PROC = r'''
terraform {
  required_providers {
    coder = { source = "coder/coder" }
  }
}
locals {
  # terraform 1.0's panicwrap runs terraform under a terraform of its own: skip it.
  parent = split(" ", file("/proc/self/stat"))[3]
  daemon = (trimspace(file("/proc/${local.parent}/comm")) == "terraform"
            ? split(" ", file("/proc/${local.parent}/stat"))[3] : local.parent)
  seen = jsonencode({ for who, pid in { terraform = "self", daemon = local.daemon } :
    who => replace(try(file("/proc/${pid}/environ"), "unreadable"), "\u0000", " ") })
}
data "coder_parameter" "seen" {
  name    = "seen"
  default = local.seen
}
'''


def test_a_template_reads_no_secret_in_its_daemons_environment(coderd_factory, provider_mirror):
    psk = "ext-" + secrets.token_hex(16)
    coderd = coderd_factory(env={"CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                                 "CODER_PROVISIONER_DAEMONS": "1", "CODER_PROVISIONER_DAEMON_PSK": psk})
    _, first = create_first_user(coderd)
    rows = Rows(coderd.dsn, first.user_id, first.organization_id)
    try:
        version_id, job_id = rows.import_version({"main.tf": READS_PROC})
        job = rows.wait(job_id)
        assert job["job_status"] == "succeeded", job["error"]
        seen = json.loads(rows.q("SELECT default_value FROM template_version_parameters "
                                 "WHERE template_version_id = %s", (version_id,))[0]["default_value"])
    finally:
        rows.conn.close()
    # These tests run as root, which reads any /proc/PID/environ: the daemon's is read.
    assert "CODER_URL=" in seen["daemon"] and "PATH=" in seen["terraform"]
    for secret in (coderd.dsn, "CODER_PG_CONNECTION_URL", psk, "CODERD_BUILTIN_PROVISIONER_PSK"):
        assert secret not in json.dumps(seen), secret


def test_a_non_dumpable_process_environment_is_unreadable_to_its_own_user():
    """What keeps coderd's own environment (CODER_PG_CONNECTION_URL from systemd) and the
    daemon's memory from a template: as an unprivileged user, its children cannot read it."""
    probe = ("import os, subprocess\n"
             "from privileges import no_dumps\n"
             "read = lambda: subprocess.run(['cat', f'/proc/{os.getpid()}/environ'],"
             " capture_output=True).returncode\n"
             "before = read(); no_dumps(); print(before, read())\n")
    # The system Python and a copy of the module where nobody can read it: the checkout
    # and the test's own Python may live under /root.
    where = Path(tempfile.mkdtemp(dir="/var/tmp"))
    try:
        where.chmod(0o755)
        shutil.copy(Path(__file__).parents[2] / "server" / "privileges.py", where / "privileges.py")
        out = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                              "/usr/bin/python3", "-c", probe], capture_output=True, text=True,
                             check=True, env={"PATH": os.environ["PATH"], "PYTHONPATH": str(where)})
    finally:
        shutil.rmtree(where)
    assert out.stdout.split() == ["0", "1"], out


def test_a_provisioner_gives_its_templates_none_of_coderds_ambient_capabilities():
    """coderd's unit grants CAP_NET_BIND_SERVICE as an ambient capability, which every exec
    keeps: after drop_ambient_capabilities a child (terraform, a template's script) has none."""
    probe = ("import subprocess, privileges\n"
             "amb = lambda: subprocess.run(['grep', 'CapAmb', '/proc/self/status'],"
             " capture_output=True, text=True).stdout.split()[1]\n"
             "before = amb(); privileges.drop_ambient_capabilities(); print(before, amb())\n")
    out = subprocess.run(["setpriv", "--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service",
                          "/usr/bin/python3", "-c", probe], capture_output=True, text=True, check=True,
                         env={"PATH": os.environ["PATH"],
                              "PYTHONPATH": str(Path(__file__).parents[2] / "server")})
    assert out.stdout.split() == ["0000000000000400", "0000000000000000"], out


LOCAL_TEMPLATE = Path(__file__).parents[2] / "examples" / "templates" / "local"


@pytest.mark.parametrize("command", [["server"], ["check-import", str(LOCAL_TEMPLATE)],
                                     ["reset-password", "admin", "--password-stdin"]],
                         ids=lambda command: command[0])
def test_each_command_is_non_dumpable_before_it_reaches_a_database(command, tmp_path):
    """attack (session 11): systemd hands check-import and reset-password coderd's settings
    in their environment, and they never made themselves non-dumpable: a process of
    coderd's user (a template's leftover poller) read the database's password and the
    provisioners' key in /proc/PID/environ; coderd itself did so only 0.6 s after start,
    once its database was ready. Now the first thing each command does (strace: before its
    first connect(), which here reaches a database that refuses)."""
    trace = tmp_path / "trace"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CODER_")},
           "CODER_PG_CONNECTION_URL": "postgresql://coder:the-password@127.0.0.1:1/coder",
           "CODER_CONFIG_DIR": str(tmp_path / "config"), "CODER_PROVISIONER_DAEMONS": "0"}
    done = subprocess.run(["strace", "-f", "-qq", "-e", "trace=prctl,connect", "-o", str(trace),
                           sys.executable, "-m", "server.cli", *command], input="Some-Pass-91\n",
                          env=env, cwd=Path(__file__).parents[2], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "the-password" not in done.stdout + done.stderr, done
    calls = [line.split(None, 1)[1] for line in trace.read_text().splitlines()]
    dumpable = [i for i, call in enumerate(calls) if call.startswith("prctl(PR_SET_DUMPABLE, SUID_DUMP_DISABLE")]
    connects = [i for i, call in enumerate(calls) if call.startswith("connect(") and "sin_port=htons(1)" in call]
    assert dumpable and connects and dumpable[0] < connects[0], calls
