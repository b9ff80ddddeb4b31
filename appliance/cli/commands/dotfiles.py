"""``coder dotfiles REPO``: check out a dotfiles repository and install it, as Coder's.

The repository goes to ``dotfiles`` in the config folder (``~/.config/coderv2``;
``--repo-dir`` names another folder there): cloned the first time, pulled
(``--ff-only``) after that, and moved aside to ``dotfiles_backup_TIME`` when the
URL changed. Then the first install script found runs, in Coder's order; with
none, every ``.name`` file (but ``.git*``) is symlinked into the home folder
(``--symlink-dir``), a regular file already there kept as ``NAME.bak``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from .. import connect, prompt
from ..base import USAGE, CommandError

# Coder's install script candidates, in the order it looks for them.
INSTALL_SCRIPTS = ("install.sh", "install", "bootstrap.sh", "bootstrap", "setup.sh", "setup",
                   "script/install.sh", "script/install", "script/bootstrap.sh",
                   "script/bootstrap", "script/setup.sh", "script/setup")
URL_FILE = "dotfilesurl"  # Coder's: the repository last checked out, to see it change


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Personalize your workspace by applying a canonical dotfiles repository."
    p.add_argument("repo", metavar="GIT_REPO_URL", help="The dotfiles repository to check out.")
    env = os.environ.get
    p.add_argument("--symlink-dir", default=env("CODER_SYMLINK_DIR", ""),
                   help="Specifies the directory for the dotfiles symlink destinations. If empty, "
                        "will use $HOME. [$CODER_SYMLINK_DIR]")
    p.add_argument("-b", "--branch", default=env("CODER_DOTFILES_BRANCH", ""),
                   help="Specifies which branch to clone. If empty, will default to cloning the "
                        "default branch or using the existing branch in the cloned repo on disk. "
                        "[$CODER_DOTFILES_BRANCH]")
    p.add_argument("--repo-dir", default=env("CODER_DOTFILES_REPO_DIR", "dotfiles"),
                   help="Specifies the directory for the dotfiles repository, relative to "
                        "global config directory. [$CODER_DOTFILES_REPO_DIR]")
    connect.add_global_options(p, leaf=True)


def run(args: argparse.Namespace) -> int:
    for what, value in (("the repository URL", args.repo), ("--branch", args.branch)):
        if value.startswith("-"):  # git would read it as an option (--upload-pack runs one)
            raise CommandError(f"{what} cannot start with '-'", code=USAGE)
    conf = connect.config_dir(args)
    repo_dir = conf.path / args.repo_dir
    print("Checking if dotfiles repository already exists...")
    if repo_dir.exists() and not repo_dir.is_dir():
        raise CommandError(f"{repo_dir} exists but is not a directory")
    exists = repo_dir.is_dir()
    previous = conf.read(URL_FILE)
    if exists and previous != args.repo:
        backup = Path(f"{repo_dir}_backup_{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}")
        _confirm(args, f'The dotfiles URL has changed from "{previous}" to "{args.repo}".\n'
                       f"  Coder will backup the existing repo to {backup}.\n\n  Continue?")
        repo_dir.rename(backup)
        print("Done backup up dotfiles.")
        exists = False
    _update(args, repo_dir, exists)
    conf.write(URL_FILE, args.repo)
    _install(args, repo_dir)
    return 0


def _update(args: argparse.Namespace, repo_dir: Path, exists: bool) -> None:
    """Clone, or pull and check out ``--branch``; a failed pull only warns, as Coder's."""
    if exists:
        print(f"Found dotfiles repository at {repo_dir}")
        _confirm(args, f"Pulling latest from {args.repo} into directory {repo_dir}.\n  Continue?")
        ok = _git(repo_dir, "pull", "--ff-only")
        if ok and args.branch:
            ok = _git(repo_dir, "checkout", args.branch)
        if not ok:
            print("Failed to update repo, continuing...")
        return
    print(f"Did not find dotfiles repository at {repo_dir}")
    _confirm(args, f"Cloning {args.repo} into directory {repo_dir}.\n\n  Continue?")
    repo_dir.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    branch = ["--branch", args.branch] if args.branch else []
    if not _git(repo_dir.parent, "clone", *branch, "--", args.repo, repo_dir.name):
        raise CommandError(f"git could not clone {args.repo}")


def _git(cwd: Path, *git_args: str) -> bool:
    """git, with a host never seen before accepted as Coder's does (its own GIT_SSH_COMMAND,
    usually the agent's gitssh, wrapped)."""
    ssh = os.environ.get("GIT_SSH_COMMAND") or "ssh"
    env = {**os.environ,
           "GIT_SSH_COMMAND": f"{ssh} -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no"}
    try:
        return subprocess.run(["git", *git_args], cwd=cwd, env=env).returncode == 0
    except FileNotFoundError:
        raise CommandError("git is not installed", hint="Install git in the workspace.") from None


def _install(args: argparse.Namespace, repo_dir: Path) -> None:
    script = next((s for s in INSTALL_SCRIPTS if (repo_dir / s).is_file()), None)
    if script is not None:
        _confirm(args, f"Running install script {script}.\n\n  Continue?")
        print(f"Running {script}...")
        path = repo_dir / script
        command = [str(path)] if os.access(path, os.X_OK) else ["sh", str(path)]
        status = subprocess.run(command, cwd=repo_dir).returncode
        if status != 0:
            raise CommandError(f"running {script}: exit status {status}")
        print("Dotfiles installation complete.")
        return
    dotfiles = sorted(p.name for p in repo_dir.iterdir()
                      if p.name.startswith(".") and not p.name.startswith(".git"))
    if not dotfiles:
        print("No install scripts or dotfiles found, nothing to do.")
        return
    _confirm(args, "No install scripts found, symlinking dotfiles to home directory.\n\n  Continue?")
    target = Path(args.symlink_dir or os.path.expanduser("~"))
    target.mkdir(parents=True, exist_ok=True)
    for name in dotfiles:
        _symlink(repo_dir / name, target / name)
    print("Dotfiles installation complete.")


def _symlink(source: Path, link: Path) -> None:
    """``link`` to ``source``; what is there already is kept as ``.bak`` unless it is that link."""
    if link.is_symlink() and os.readlink(link) == str(source):
        return
    print(f"Symlinking {source} to {link}...")
    if link.exists() or link.is_symlink():
        backup = link.with_name(link.name + ".bak")
        print(f"Moving {link} to {backup}...")
        link.rename(backup)
    link.symlink_to(source)


def _confirm(args: argparse.Namespace, text: str) -> None:
    """Coder's confirmations: -y says yes to all; no answer on a terminal cancels."""
    if not prompt.agreed(args, text):
        raise CommandError("canceled")
