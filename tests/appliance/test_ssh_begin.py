"""``coder ssh`` begins SSH again over a new stream when the one it had ends before SSH has
begun (the agent's relay connection replaced meanwhile, as when coderd restarts), a few
times; then one line says so. The agent's real SSH server, over socket pairs."""
from __future__ import annotations

import socket
import threading

import paramiko
import pytest

from agent.ssh import SSHServer
from appliance.cli.base import CommandError
from appliance.cli.commands.ssh import _ssh_transport


def _ended(banner: bytes = b"") -> socket.socket:
    """A stream whose far end closed at once, or once it had sent its SSH banner (paramiko
    then meets the end in the key exchange: EOFError, not its banner error)."""
    ours, theirs = socket.socketpair()
    theirs.sendall(banner)
    theirs.close()
    return ours


def _agent(tmp_path) -> socket.socket:
    ours, theirs = socket.socketpair()
    server = SSHServer(paramiko.ECDSAKey.generate(), {}, str(tmp_path))
    threading.Thread(target=server.serve, args=(theirs,), daemon=True).start()
    return ours


@pytest.mark.parametrize("banner", [b"", b"SSH-2.0-ended\r\n"])
def test_a_stream_ended_before_ssh_began_is_opened_again(tmp_path, banner):
    opened = []

    def reconnect() -> socket.socket:
        opened.append(1)
        return _agent(tmp_path) if len(opened) == 2 else _ended(banner)

    transport = _ssh_transport(_ended(banner), reconnect)
    try:
        channel = transport.open_session(timeout=10)
        channel.exec_command("echo begun")
        assert channel.makefile().read() == b"begun\n"
        assert len(opened) == 2
    finally:
        transport.close()


def test_streams_that_keep_ending_are_said_in_one_line(tmp_path):
    opened = []

    def reconnect() -> socket.socket:
        opened.append(1)
        return _ended()

    with pytest.raises(CommandError, match=r"closed the connection before SSH began \(3 tries\)"):
        _ssh_transport(_ended(), reconnect)
    assert len(opened) == 2


def test_an_agent_silent_before_ssh_is_said_at_once_not_tried_again():
    """A stream held open with nothing said (review, session 10): paramiko's banner timeout
    was taken for an ended stream and tried twice more, tripling the wait."""
    ours, theirs = socket.socketpair()
    opened = []

    def reconnect() -> socket.socket:
        opened.append(1)
        return socket.socketpair()[0]

    try:
        with pytest.raises(CommandError, match=r"the agent did not begin SSH within 0\.5 s"):
            _ssh_transport(ours, reconnect, banner_timeout=0.5)
        assert opened == []
    finally:
        theirs.close()
