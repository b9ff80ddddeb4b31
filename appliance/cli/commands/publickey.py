"""``coder publickey`` (alias ``pubkey``): the public half of the user's git SSH key, the
one to register with a git server; ``--reset`` makes a new key, as Coder's."""
from __future__ import annotations

import argparse

from .. import connect, prompt

RESET_QUESTION = ("Confirm regenerate a new sshkey for your workspaces? This will require updating "
                  "the key on any services it is registered with. This action cannot be reverted.")


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Output your Coder public key used for Git operations."
    p.add_argument("--reset", action="store_true",
                   help="Regenerate your public key. This will require updating the key on any "
                        "services it's registered with.")
    connect.add_global_options(p, leaf=True)


def run(args: argparse.Namespace) -> int:
    client = connect.client(args)
    if args.reset:
        if not prompt.agreed(args, RESET_QUESTION):
            print("Your key was not changed.")
            return 0
        key = client.regenerate_git_ssh_key("me")
    else:
        key = client.git_ssh_key("me")
    print("This is your public key for using git in Coder. All clones with SSH will be "
          "authenticated automatically 🪄.\n")
    print(key.public_key.strip() + "\n")
    # Coder links GitHub's and GitLab's key pages: an air-gapped network has its own server.
    print("Add it to your git server (your GitLab, Gitea or Gerrit account's SSH keys).")
    return 0
