"""Git over SSH with the workspace owner's key: ``GIT_SSH_COMMAND`` runs ``gitssh``.

As Coder's agent, this one sets ``GIT_SSH_COMMAND`` to its own executable's
``gitssh --`` for everything it starts; ``gitssh`` gets the owner's key
(``GET /workspaceagents/me/gitsshkey``), writes it to a private temporary file and
runs ``ssh -i`` with it after the user's own identity files (``ssh -G`` says
which), so a key configured for a host keeps precedence.

Unlike Coder's, the agent token is not handed to the workspace's processes
(docs/agent.md): the agent fetches the key itself and hands it over a Unix
socket in a folder only the agent's user can enter; ``gitssh`` reads it there
(``CODER_AGENT_GITSSH_SOCKET``). What the socket gives is what the token would
give those processes for git, and nothing more.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from typing import Callable, Sequence

log = logging.getLogger(__name__)
SOCKET_ENV = "CODER_AGENT_GITSSH_SOCKET"
# What ssh tries when a host names no identity file (Coder's list, from ssh's defaults).
DEFAULT_IDENTITIES = ("~/.ssh/id_rsa", "~/.ssh/id_dsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk",
                      "~/.ssh/id_ed25519", "~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss")
SSH_FAILED = 255  # ssh's own exit status when it could not connect or authenticate


# --- the agent's side -------------------------------------------------------------------

def self_command() -> list[str]:
    """How to run this executable again: the frozen agent (or coder) itself, else the
    interpreter with the agent package."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "agent"]


def serve(fetch_key: Callable[[], object], stop: threading.Event) -> dict[str, str]:
    """Answer ``gitssh`` on a new socket until ``stop``; the environment that points git at it."""
    folder = tempfile.mkdtemp(prefix="coder-agent-")  # 0700: only this user enters
    path = os.path.join(folder, "gitssh.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed at stop
                return
            threading.Thread(target=_answer, args=(conn, fetch_key), daemon=True).start()

    def close() -> None:
        stop.wait()
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)
    threading.Thread(target=accept, name="gitssh", daemon=True).start()
    threading.Thread(target=close, daemon=True).start()
    return {"GIT_SSH_COMMAND": shlex.join([*self_command(), "gitssh", "--"]), SOCKET_ENV: path}


def _answer(conn: socket.socket, fetch_key: Callable[[], object]) -> None:
    with conn:
        try:
            key = fetch_key()
            answer = {"public_key": key.public_key, "private_key": key.private_key}
        except Exception as exc:  # coderd unreachable or refusing: gitssh says so
            log.warning("gitssh: cannot fetch the git SSH key: %s", exc)
            answer = {"error": f"the agent cannot fetch the git SSH key from coderd: {exc}"}
        conn.sendall(json.dumps(answer).encode())


# --- the gitssh command -------------------------------------------------------------------

class GitSSHError(Exception):
    pass


def configure(p: argparse.ArgumentParser) -> None:
    p.description = ('Wraps the "ssh" command and uses the coder gitssh key for authentication '
                     "(git's GIT_SSH_COMMAND in a workspace).")
    p.add_argument("ssh_args", nargs=argparse.REMAINDER, help="ssh's arguments, after --")


def run(args: argparse.Namespace) -> int:
    ssh_args = args.ssh_args[1:] if args.ssh_args[:1] == ["--"] else args.ssh_args
    try:
        return gitssh(ssh_args)
    except GitSSHError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str]) -> int:
    """``coder-agent gitssh -- SSH_ARGS``."""
    parser = argparse.ArgumentParser(prog="coder-agent gitssh")
    configure(parser)
    return run(parser.parse_args(argv))


def gitssh(ssh_args: list[str]) -> int:
    identities = identity_files(ssh_args)  # first: a bad command line fails before any fetch
    key = fetch_key()
    fd, key_file = tempfile.mkstemp(prefix="coder-gitsshkey-")  # 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(key["private_key"])
        ids = [a for path in [*identities, key_file] for a in ("-i", path)]
        status = subprocess.run(["ssh", *ids, *ssh_args]).returncode
    finally:
        os.unlink(key_file)
    if status == SSH_FAILED:
        print("\nCoder authenticates with git using the public key below. All clones with SSH "
              f"are authenticated automatically 🪄.\n\n{key['public_key'].strip()}\n\n"
              "Add it to your git server's SSH keys (coder publickey shows it too).\n",
              file=sys.stderr)
    return status


def fetch_key() -> dict:
    path = os.environ.get(SOCKET_ENV)
    if not path:
        raise GitSSHError(f"{SOCKET_ENV} is not set: gitssh runs in a workspace, started by "
                          "its agent (as git's GIT_SSH_COMMAND)")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(path)
            data = b"".join(iter(lambda: conn.recv(65536), b""))
    except OSError as exc:
        raise GitSSHError(f"cannot reach the workspace agent at {path}: {exc.strerror}") from None
    answer = json.loads(data or b"{}")
    if "private_key" not in answer:
        raise GitSSHError(answer.get("error", "the workspace agent gave no key"))
    return answer


def identity_files(ssh_args: list[str]) -> list[str]:
    """The identity files ssh would use for this host that exist: passing ``-i`` turns off
    ssh's defaults, so they are passed too, before the Coder key."""
    done = subprocess.run(["ssh", "-G", *ssh_args], capture_output=True, text=True)
    if done.returncode == 0:
        named = [line.split(" ", 1)[1] for line in done.stdout.splitlines()
                 if line.startswith("identityfile ")]
    else:  # an ssh without -G: its defaults
        named = list(DEFAULT_IDENTITIES)
    paths = [os.path.expanduser(p) for p in named]
    return [p for p in paths if os.path.isfile(p)]
