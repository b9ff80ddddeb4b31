"""git in a workspace clones over SSH with its owner's key: the real agent sets
GIT_SSH_COMMAND to its own gitssh, which gets the key through the agent; the git
server is a real sshd on 127.0.0.1 that accepts only that key."""
from __future__ import annotations

import getpass
import os
import subprocess

import pytest

from tests.kit.agent import (bare_repo, cli_config, coder_cli as coder, start_agent, wait_for,
                         workspace_with_agent)
from tests.kit.postgres import free_port
from tests.kit.tools import tool


@pytest.fixture
def git_server(tmp_path):
    """A bare repository with one commit, served by sshd; its ``authorized_keys`` is empty
    until the test writes the key it accepts."""
    bare = bare_repo(tmp_path / "repo.git", {"README": "cloned over ssh\n"})
    subprocess.run([tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f",
                    str(tmp_path / "host_key")], check=True)
    authorized = tmp_path / "authorized_keys"
    authorized.write_text("")
    port = free_port()
    config = tmp_path / "sshd_config"
    config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {tmp_path}/host_key
PidFile {tmp_path}/sshd.pid
AuthorizedKeysFile {authorized}
AuthorizedKeysCommand none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers {getpass.getuser()}
""")
    if os.getuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    sshd = subprocess.Popen([tool("sshd"), "-D", "-e", "-f", str(config)],
                            stderr=open(tmp_path / "sshd.log", "wb"))
    wait_for(lambda: sshd.poll() is not None or _listening(port), what="sshd listening")
    assert sshd.poll() is None, (tmp_path / "sshd.log").read_text()
    yield f"ssh://{getpass.getuser()}@127.0.0.1:{port}{bare}", authorized
    sshd.terminate()
    sshd.wait(10)


def _listening(port: int) -> bool:
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_git_clones_over_ssh_with_the_owners_key_and_not_after_a_reset(agent_coderd, agent_owner,
                                                                      git_server, tmp_path):
    url, authorized = git_server
    workspace, row = workspace_with_agent(agent_owner, agent_coderd.dsn)
    agent = start_agent(agent_coderd.url, row.token, HOME=str(tmp_path))
    try:
        config = cli_config(tmp_path, agent_owner)
        shown = coder(config, "publickey")
        assert shown.returncode == 0, shown.stderr
        public_key = agent_owner.git_ssh_key().public_key
        assert public_key.strip() in shown.stdout.splitlines()
        authorized.write_text(public_key)  # the git server knows this user's key, nothing else

        # The workspace's own GIT_SSH_COMMAND, with options for a host this test just made.
        clone = ('echo "$GIT_SSH_COMMAND"; GIT_SSH_COMMAND="$GIT_SSH_COMMAND '
                 f'-o StrictHostKeyChecking=no -o UserKnownHostsFile={tmp_path}/known_hosts" '
                 f'git clone -q {url} {tmp_path}/{{dest}} && cat {tmp_path}/{{dest}}/README')
        wait_for(lambda: agent_owner.workspace_agent(row.id).lifecycle_state == "ready",
                 what="agent ready")
        done = coder(config, "ssh", workspace.name, "--", clone.format(dest="first"))
        assert done.returncode == 0, done.stderr + agent.log()
        command, readme = done.stdout.splitlines()
        assert command.endswith(" gitssh --") and readme == "cloned over ssh"

        reset = coder(config, "publickey", "--reset", "-y")
        assert reset.returncode == 0 and public_key.strip() not in reset.stdout, reset.stderr
        done = coder(config, "ssh", workspace.name, "--", clone.format(dest="second"))
        assert done.returncode != 0 and not (tmp_path / "second").exists()
        assert "Coder authenticates with git using the public key below" in done.stderr
        assert agent_owner.git_ssh_key().public_key.strip() in done.stderr
    finally:
        agent.stop()
