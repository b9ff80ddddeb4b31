"""What a process coderd starts for templates must not hold: readable memory, capabilities.

Templates run as coderd's user (terraform, its providers, local-exec).

``no_dumps``: without it they read coderd's environment
(``CODER_PG_CONNECTION_URL`` from a systemd EnvironmentFile) or a daemon's key
in its memory through /proc. The flag lasts until exec, so terraform and its
children are not covered and hold nothing secret (``runner.terraform_env``).
Costs: no core dumps, and debuggers or /proc/PID/clear_refs need root.

``drop_ambient_capabilities``: coderd's unit gives it CAP_NET_BIND_SERVICE as
an ambient capability (to serve on port 443 as its own user); ambient
capabilities pass through every exec, so without this each template's
processes would hold it too, and bubblewrap, which the ``local`` template
runs workspaces in, refuses to start with capabilities it was not given.

Standard library only (prctl through ctypes), so a test can run it alone
under an unprivileged user with Debian's bare python3.
"""
from __future__ import annotations

import ctypes
import logging
import os

PR_SET_DUMPABLE = 4
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4


def _prctl(*args: int) -> str | None:
    """prctl(2); the error's text, or None."""
    if ctypes.CDLL(None, use_errno=True).prctl(*args, *[0] * (5 - len(args))) != 0:
        return os.strerror(ctypes.get_errno())
    return None


def no_dumps() -> None:
    error = _prctl(PR_SET_DUMPABLE, 0)
    if error:
        logging.getLogger("coderd").warning("could not make coderd non-dumpable: %s", error)


def drop_ambient_capabilities() -> None:
    error = _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    if error:
        logging.getLogger("coderd").warning("could not drop ambient capabilities: %s", error)
