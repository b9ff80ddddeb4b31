"""Ending a process a test started: asked first, killed if it does not go in time."""
from __future__ import annotations

import signal
import subprocess


def stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
    """Send ``sig`` to a running ``proc``, wait ``timeout`` seconds, then kill it; its exit
    status (None for no process)."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
