"""The agent's SSH server as an SSH client sees it, over a socket pair: paramiko's client
(what ``coder ssh`` uses) and the protocol's order of messages."""
from __future__ import annotations

import socket
import threading

import paramiko

from agent.ssh import SSHServer

COMMANDS = 200


def test_a_command_that_ends_at_once_is_answered_before_its_channel_closes(tmp_path):
    """The exec request's success reaches the client before the channel's close, however
    soon the command ends (paramiko's client reads a close first as "Channel closed")."""
    ours, theirs = socket.socketpair()
    server = SSHServer(paramiko.ECDSAKey.generate(), {}, str(tmp_path))
    serving = threading.Thread(target=server.serve, args=(theirs,), daemon=True)
    serving.start()
    transport = paramiko.Transport(ours)
    try:
        transport.start_client(timeout=10)
        transport.auth_none("coder")
        for _ in range(COMMANDS):
            channel = transport.open_session(timeout=10)
            channel.exec_command("true")
            assert channel.recv_exit_status() == 0
            channel.close()
    finally:
        transport.close()
        serving.join(5)
