"""The CA bundle a client verifies coderd with when none is named: the system's.

requests verifies with certifi's public roots by default, which know nothing of
the appliance CA that ``appliance ca install-trust`` adds to the system store;
Coder's Go clients read the system store, and so do ours (the CLI and the
agent, frozen or not). OpenSSL's ``SSL_CERT_FILE``/``SSL_CERT_DIR`` still
override it, through ``ssl.get_default_verify_paths``.
"""
from __future__ import annotations

import os
import ssl


def system_ca() -> str | bool:
    """The system's CA file (or folder) for requests' ``verify``; True (certifi) if none."""
    paths = ssl.get_default_verify_paths()
    for path in (paths.cafile, paths.capath):
        if path and os.path.exists(path):
            return path
    return True
