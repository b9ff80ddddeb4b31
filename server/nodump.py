"""Make a process non-dumpable: its /proc/PID/environ and mem become root's.

Templates run as coderd's user (terraform, its providers, local-exec): without
this they read coderd's environment (``CODER_PG_CONNECTION_URL`` from a
systemd EnvironmentFile) or a daemon's key in its memory through /proc. The
flag lasts until exec, so terraform and its children are not covered and hold
nothing secret (``runner.terraform_env``). Costs: no core dumps, and debuggers
or /proc/PID/clear_refs need root. Standard library only, so a test can run it
alone under an unprivileged user.
"""
from __future__ import annotations

import ctypes
import logging
import os

PR_SET_DUMPABLE = 4


def no_dumps() -> None:
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        logging.getLogger("coderd").warning("could not make coderd non-dumpable: %s",
                                            os.strerror(ctypes.get_errno()))
