"""The agent's SSH server as an SSH client sees it, over a socket pair: paramiko's client
(what ``coder ssh`` uses) and the protocol's order of messages."""
from __future__ import annotations

import contextlib
import socket
import threading

import paramiko
import pytest

from agent.ssh import SSHServer

COMMANDS = 200


def test_a_command_that_ends_at_once_is_answered_before_its_channel_closes(tmp_path):
    """The exec request's success reaches the client before the channel's close, however
    soon the command ends (paramiko's client reads a close first as "Channel closed")."""
    with connected(tmp_path) as transport:
        transport.start_client(timeout=10)
        transport.auth_none("coder")
        for _ in range(COMMANDS):
            channel = transport.open_session(timeout=10)
            channel.exec_command("true")
            assert channel.recv_exit_status() == 0
            channel.close()


@pytest.mark.parametrize("option,offered", [
    ("ciphers", "3des-cbc"), ("ciphers", "aes128-cbc"), ("ciphers", "aes256-cbc"),
    ("digests", "hmac-md5"), ("digests", "hmac-md5-96"), ("digests", "hmac-sha1-96")])
def test_weak_ciphers_and_macs_are_refused(tmp_path, option, offered):
    """Its keys are renewed at OpenSSH's limits for 16-byte blocks (``agent.ssh.REKEY_BYTES``):
    3des-cbc, whose limit is 1 GiB, is refused, and so is what OpenSSH's server no longer
    offers (CBC, MD5 and truncated MACs)."""
    with connected(tmp_path) as transport:
        setattr(transport.get_security_options(), option, (offered,))
        with pytest.raises(paramiko.SSHException, match="no acceptable (ciphers|macs)"):
            transport.start_client(timeout=10)


@contextlib.contextmanager
def connected(tmp_path):
    """A client transport (not started) to the agent's SSH server over a socket pair."""
    ours, theirs = socket.socketpair()
    server = SSHServer(paramiko.ECDSAKey.generate(), {}, str(tmp_path))
    serving = threading.Thread(target=server.serve, args=(theirs,), daemon=True)
    serving.start()
    transport = paramiko.Transport(ours)
    try:
        yield transport
    finally:
        transport.close()
        serving.join(5)
