"""``coder config-ssh``: ``Host coder.WORKSPACE`` entries in ~/.ssh/config, as Coder writes them.

The entries live in one managed block between Coder's markers, so the command
can rewrite or remove it without touching anything else in the file. Each
entry's ProxyCommand is ``coder ssh --stdio``: OpenSSH (ssh, scp, sftp,
rsync, VS Code Remote-SSH) then works unchanged, relayed through coderd. With
``ProxyUseFdpass`` (OpenSSH 6.5 and later) the command hands ssh the
connection to coderd and exits, so ssh talks to coderd itself and no Python
process copies the session's bytes. As in Coder, host keys are not checked
(the relay authenticates the workspace). The entries ask for the ciphers the
agent's SSH server does fastest (AES-GCM).
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from appliance.sdk import relay
from .. import connect, prompt
from ..base import CommandError

START = "# ------------START-CODER-----------"
END = "# ------------END-CODER------------"
HOST_PREFIX = "coder."


def configure(p: argparse.ArgumentParser) -> None:
    p.description = ("Add a Host entry for each of your workspaces to your SSH config, so "
                     "'ssh coder.WORKSPACE' works; --remove takes them out again.")
    p.add_argument("--ssh-config-file", default=os.path.expanduser("~/.ssh/config"), metavar="FILE",
                   help="The SSH config to edit (default: ~/.ssh/config).")
    p.add_argument("--remove", action="store_true", help="Remove the coder block and exit.")
    p.add_argument("--dry-run", action="store_true", help="Print the block instead of writing it.")
    p.add_argument("--no-fdpass", dest="fdpass", action="store_false",
                   help="Leave out ProxyUseFdpass, for OpenSSH builds without it (Windows' "
                        "OpenSSH): the ProxyCommand then relays the session itself.")
    connect.add_global_options(p, leaf=True)


def self_command() -> list[str]:
    """How OpenSSH runs this CLI again: the frozen binary, or this Python with the module.

    Frozen, the path it was run by (``.../current/bin/coder``, which an upgrade
    moves to the new version) rather than ``sys.executable``, which PyInstaller
    resolves to one version's folder (``.../VERSION/bin/coder.d/coder``).
    """
    if getattr(sys, "frozen", False):
        invoked = shutil.which(sys.argv[0])
        if invoked and os.path.samefile(invoked, sys.executable):
            return [os.path.abspath(invoked)]
        return [sys.executable]
    return [sys.executable, "-m", "appliance.cli.main"]


def block(workspaces: list[str], config: str, fdpass: bool = True) -> str:
    proxy = " ".join(shlex.quote(a) for a in self_command() + ["--global-config", config])
    lines = [START]
    for name in sorted(workspaces):
        lines += [f"Host {HOST_PREFIX}{name}"]
        if fdpass:
            lines += [f"  ProxyCommand {proxy} ssh --stdio --fdpass {name}", "  ProxyUseFdpass yes"]
        else:
            lines += [f"  ProxyCommand {proxy} ssh --stdio {name}"]
        lines += ["  ConnectTimeout=0",
                  "  StrictHostKeyChecking=no",
                  "  UserKnownHostsFile=/dev/null",
                  "  LogLevel ERROR",
                  "  Ciphers " + ",".join(relay.SSH_CIPHERS)]
    lines.append(END)
    return "\n".join(lines) + "\n"


def strip_block(text: str) -> str:
    start, end = text.find(START), text.find(END)
    if start < 0:
        return text
    if end < start:
        raise CommandError("the SSH config has a START-CODER marker without its END marker",
                           hint="Fix the file by hand, then run coder config-ssh again.")
    tail = text[end + len(END):]
    return text[:start].rstrip("\n") + ("\n" if text[:start].strip() else "") + tail.lstrip("\n")


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-ssh-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def run(args: argparse.Namespace) -> int:
    path = Path(args.ssh_config_file)
    current = path.read_text() if path.exists() else ""
    rest = strip_block(current)
    if args.remove:
        if rest != current:
            write_atomic(path, rest)
            print(f"Removed the coder block from {path}")
        return 0
    client = connect.client(args)
    names = [w.name for w in client.workspaces(q="owner:me").workspaces]
    config = str(connect.config_dir(args).path)
    new = block(names, config, args.fdpass)
    if args.dry_run:
        print(new, end="")
        return 0
    if not prompt.agreed(args, f"Write {len(names)} workspace host(s) to {path}?"):
        raise CommandError("canceled")
    text = (rest.rstrip("\n") + "\n\n" if rest.strip() else "") + new
    write_atomic(path, text)
    print(f"Updated {path}: " + (", ".join(HOST_PREFIX + n for n in sorted(names)) or "no workspaces"))
    return 0
