"""Keeping coderd's built-in provisioner daemons running.

They live in one child process so Terraform work stays out of the web
workers. If that process dies (killed, out of memory), its running jobs are
failed by the reaper and the process is started again, with a growing delay
if it keeps dying.
"""
from __future__ import annotations

import logging
import subprocess
import threading
import time

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self, argv: list[str], env: dict[str, str], stdin: bytes = b"",
                 max_delay: float = 30.0):
        self.argv, self.env, self.stdin, self.max_delay = argv, env, stdin, max_delay
        self.proc: subprocess.Popen | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="builtin-provisioners", daemon=True)

    def start(self) -> "Supervisor":
        self.proc = self._spawn()
        self.thread.start()
        return self

    def _watch(self) -> None:
        delay = 1.0
        while not self.stopping.is_set():
            started = time.monotonic()
            code = self.proc.wait()
            if self.stopping.is_set():
                return
            if time.monotonic() - started > 60:
                delay = 1.0  # it ran a good while: not a crash loop
            log.warning("built-in provisioner daemons exited with %s; restarting in %.0fs", code, delay)
            if self.stopping.wait(delay):
                return
            delay = min(delay * 2, self.max_delay)
            self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen:
        """The daemons' process, given ``stdin`` (its key: never in an environment)."""
        proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.PIPE)
        try:
            proc.stdin.write(self.stdin)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # it died at once; the watch loop starts it again
        return proc

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping.set()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
