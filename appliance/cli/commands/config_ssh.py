"""``coder config-ssh``: one wildcard ``Host coder.*`` entry in ~/.ssh/config, as Coder
writes it now, so that every workspace, including one made later, is reachable as
``ssh coder.WORKSPACE`` (or ``coder.WORKSPACE.AGENT``, ``coder.OWNER--WORKSPACE``).

The entry lives in one managed block between Coder's markers, rewritten where it
stands (a block written by an older version, one ``Host`` per workspace, included)
or removed with ``--remove``, without touching anything else in the file. Its
ProxyCommand is ``coder ssh --stdio --ssh-host-prefix coder. %h``: OpenSSH (ssh,
scp, sftp, rsync, VS Code Remote-SSH) then works unchanged, relayed through
coderd, and ``coder ssh`` turns the host name back into the workspace. With
``ProxyUseFdpass`` (OpenSSH 6.5 and later) the command hands ssh the connection
to coderd and exits, so no Python process copies the session's bytes. As in
Coder, host keys are not checked (the relay authenticates the workspace). The
entry asks for the ciphers the agent's SSH server does fastest (AES-GCM).
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

from appliance.sdk import relay

from .. import connect, managed, prompt
from ..base import CommandError
from . import ssh

START = "# ------------START-CODER-----------"
END = "# ------------END-CODER------------"
HOST_PREFIX = relay.SSH_HOST_PREFIX
# What a prefix or suffix may hold: it goes into a Host line and the ProxyCommand, where a
# line break, a space, a pattern character or ssh's % tokens would change the entry.
HOST_PART = re.compile(r"[A-Za-z0-9._-]*")


def configure(p: argparse.ArgumentParser) -> None:
    p.description = ("Add one wildcard Host entry for your workspaces to your SSH config, so "
                     "'ssh coder.WORKSPACE' works for every workspace, new ones included; "
                     "--remove takes it out again.")
    p.add_argument("--ssh-config-file", default=os.path.expanduser("~/.ssh/config"), metavar="FILE",
                   help="The SSH config to edit (env CODER_SSH_CONFIG_FILE; default: "
                        "~/.ssh/config).")
    p.add_argument("-o", "--ssh-option", action="append", default=[], metavar="OPTION",
                   help="An SSH option for the entry, e.g. 'ForwardAgent=yes' (repeatable; env "
                        "CODER_SSH_CONFIG_OPTS).")
    p.add_argument("--ssh-host-prefix", default=os.environ.get("CODER_CONFIGSSH_SSH_HOST_PREFIX",
                                                               HOST_PREFIX),
                   metavar="PREFIX", help=f"The prefix of the host names (default: {HOST_PREFIX}).")
    p.add_argument("--hostname-suffix", default=os.environ.get("CODER_CONFIGSSH_HOSTNAME_SUFFIX", ""),
                   metavar="SUFFIX", help="Also an entry for host names ending in .SUFFIX "
                                          "(WORKSPACE.SUFFIX, AGENT.WORKSPACE.OWNER.SUFFIX).")
    p.add_argument("--wait", choices=ssh.WAIT_CHOICES,
                   default=os.environ.get("CODER_CONFIGSSH_WAIT", "auto"),
                   help="Passed to 'coder ssh --wait': whether to wait for the workspace's "
                        "startup scripts (default: auto).")
    p.add_argument("--remove", action="store_true", help="Remove the coder block and exit.")
    p.add_argument("-n", "--dry-run", action="store_true",
                   help="Print the block instead of writing it.")
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


def block(config: str, *, prefix: str = HOST_PREFIX, suffix: str = "", options: list[str] = (),
          wait: str = "auto", fdpass: bool = True) -> str:
    """The managed block: a ``Host PREFIX*`` entry, and a ``Host *.SUFFIX`` one if asked."""
    coder = [*self_command(), "--global-config", config, "ssh", "--stdio"]
    if fdpass:
        coder.append("--fdpass")
    if wait != "auto":
        coder.append(f"--wait={wait}")
    lines = [START, "# This section is managed by coder. Do not edit.", "#",
             "# You should not hand-edit this section unless you are removing it, all",
             "# changes will be lost when running \"coder config-ssh\".", "#"]
    hosts = [(f"{prefix}*", ["--ssh-host-prefix", prefix])] if prefix else []
    if suffix:
        hosts.append((f"*.{suffix}", ["--hostname-suffix", suffix]))
    for pattern, flags in hosts:
        proxy = " ".join(shlex.quote(a) for a in coder + flags)
        lines += [f"Host {pattern}", *(f"  {o}" for o in options),
                  "  ConnectTimeout=0",
                  "  StrictHostKeyChecking=no",
                  "  UserKnownHostsFile=/dev/null",
                  "  LogLevel ERROR",
                  "  Ciphers " + ",".join(relay.SSH_CIPHERS),
                  f"  ProxyCommand {proxy} %h"]
        if fdpass:
            lines.append("  ProxyUseFdpass yes")
    lines.append(END)
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    path = Path(os.environ.get("CODER_SSH_CONFIG_FILE") or args.ssh_config_file)
    current = path.read_text() if path.exists() else ""
    if args.remove:
        rest = managed.replace_block(current, "", START, END)
        if rest != current:
            managed.write_atomic(path, rest)
            print(f"Removed the coder block from {path}")
        return 0
    connect.credentials(args)  # logged in (or told how to)
    options = args.ssh_option or [o for o in os.environ.get("CODER_SSH_CONFIG_OPTS", "").split(",")
                                  if o.strip()]
    if any("\n" in o or "\r" in o for o in options):
        raise CommandError("an --ssh-option holds a line break", code=2)
    for flag, value in (("--ssh-host-prefix", args.ssh_host_prefix),
                        ("--hostname-suffix", args.hostname_suffix)):
        if not HOST_PART.fullmatch(value):
            raise CommandError(f"{flag} may hold only letters, digits, '.', '_' and '-'", code=2)
    new = block(str(connect.config_dir(args).path), prefix=args.ssh_host_prefix,
                suffix=args.hostname_suffix.strip("."), options=options, wait=args.wait,
                fdpass=args.fdpass)
    if args.dry_run:
        print(new, end="")
        return 0
    updated = managed.replace_block(current, new, START, END)
    if updated == current:
        print("No changes to make.")
        return 0
    if not prompt.agreed(args, f"Update SSH config {path}?", default=True):
        raise CommandError("canceled")
    managed.write_atomic(path, updated)
    example = f"{args.ssh_host_prefix}<workspace>" if args.ssh_host_prefix else \
        f"<workspace>.{args.hostname_suffix}"
    print(f"Updated \"{path}\"\n\nYou should now be able to ssh into your workspace.\n"
          f"For example, try running:\n\n\t$ ssh {example}")
    return 0
