"""Users' git SSH keys: made as Coder's default (ed25519, the private key in OpenSSH's
format, the public key as an authorized_keys line), and found or made for a user."""
from __future__ import annotations

import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def generate() -> tuple[str, str]:
    """A new key pair: (private key, public key)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return private, public + "\n"


def create(store, user_id: uuid.UUID) -> dict:
    """Give ``user_id`` a key (at creation; or at first use, for users made before keys were)."""
    return store.as_system("git-ssh-key-of-user").insert_git_ssh_key(user_id, *generate())


def of_user(store, user_id: uuid.UUID) -> dict:
    """``user_id``'s key, as ``store`` may read it; made first if the user has none."""
    return store.get_git_ssh_key(user_id) or create(store, user_id)
