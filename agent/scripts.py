"""Runs the template's ``coder_script``s, streaming their output as agent logs.

As Coder's agent: every ``run_on_start`` script starts at once when the agent
starts, and the agent is ``ready`` when all have exited 0, ``start_error`` if
one failed, ``start_timeout`` if one ran past its timeout (it is then killed,
with its process group). ``run_on_stop`` scripts run the same way on shutdown.
Scripts with a ``cron`` schedule also run at each matching minute while the
agent runs. Output goes to coderd under the script's log source and to
``CODER_AGENT_LOG_DIR/coder-script-<log source>.log``. Each run is reported
(``report``) with its start, end, exit code, stage and status, as Coder's agent
reports ``ScriptCompleted``, for the build's timings.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from appliance.sdk.agentsdk import ScriptTiming
from appliance.sdk.types import WorkspaceAgentScript

from . import cron
from .env import user_shell
from .logsender import LogSender

log = logging.getLogger(__name__)
KILL_GRACE = 3.0


@dataclass
class Outcome:
    ok: bool = True
    timed_out: bool = False


def status_of(code: int, timed_out: bool, pipes_left_open: bool) -> str:
    """Coder's script timing status, in the order its agent decides it."""
    if pipes_left_open:
        return "pipes_left_open"
    if timed_out:
        return "timed_out"
    return "exit_failure" if code != 0 else "ok"


class ScriptRunner:
    def __init__(self, sender: LogSender, env: dict[str, str], cwd: str, log_dir: str,
                 report: Callable[[ScriptTiming], None] = lambda timing: None):
        self.sender = sender
        self.env = env
        self.cwd = cwd
        self.log_dir = Path(log_dir)
        self.report = report

    def run_all(self, scripts: list[WorkspaceAgentScript], stage: str) -> Outcome:
        """Run ``scripts`` concurrently; the combined outcome once all have ended."""
        results: list[Outcome] = [Outcome() for _ in scripts]
        threads = [threading.Thread(target=lambda i=i, s=s: results.__setitem__(i, self.run(s, stage)),
                                    name=f"script-{s.display_name or i}", daemon=True)
                   for i, s in enumerate(scripts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return Outcome(ok=all(r.ok for r in results), timed_out=any(r.timed_out for r in results))

    def run(self, script: WorkspaceAgentScript, stage: str) -> Outcome:
        """Run one script (``stage``: start, stop or cron), then report how it went."""
        began = dt.datetime.now(dt.timezone.utc)
        code, timed_out, pipes_left_open = self._execute(script)
        self.report(ScriptTiming(script_id=script.id, start=began,
                                 end=dt.datetime.now(dt.timezone.utc), exit_code=code, stage=stage,
                                 status=status_of(code, timed_out, pipes_left_open)))
        return Outcome(ok=code == 0 and not timed_out, timed_out=timed_out)

    def _execute(self, script: WorkspaceAgentScript) -> tuple[int, bool, bool]:
        """(exit code, -1 if signalled or not started as Go's; timed out; output still open)."""
        name = script.display_name or "script"
        source = script.log_source_id
        timeout = script.timeout / 1e9 or None
        started = time.monotonic()
        log_file = self.log_dir / f"coder-script-{source}.log"
        try:
            proc = subprocess.Popen([user_shell(), "-c", script.script], cwd=self.cwd, env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            self.sender.enqueue(source, f"{name}: could not start: {exc}", "error")
            return -1, False, False
        reader = threading.Thread(target=self._pump, args=(proc, source, log_file), daemon=True)
        reader.start()
        timed_out = False
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._kill(proc)
            code = proc.wait()
        reader.join(KILL_GRACE)
        took = time.monotonic() - started
        if timed_out:
            self.sender.enqueue(source, f"{name}: timed out after {timeout:.0f}s; killed", "error")
        elif code != 0:
            self.sender.enqueue(source, f"{name}: exited with status {code} after {took:.1f}s",
                                "error")
        log.info("script %r ended: %s in %.1fs", name,
                 "timeout" if timed_out else f"exit {code}", took)
        return max(code, -1), timed_out, reader.is_alive()

    def _pump(self, proc: subprocess.Popen, source, log_file: Path) -> None:
        """Each output line to coderd and the script's log file."""
        try:
            out = open(log_file, "ab")
        except OSError as exc:
            log.warning("cannot write %s: %s", log_file, exc)
            out = None
        try:
            for raw in proc.stdout:
                if out is not None:
                    out.write(raw)
                    out.flush()
                self.sender.enqueue(source, raw.decode("utf-8", "replace").rstrip("\r\n"))
        finally:
            if out is not None:
                out.close()

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(KILL_GRACE)
                return
            except subprocess.TimeoutExpired:
                continue

    def run_cron(self, scripts: list[WorkspaceAgentScript], stop: threading.Event) -> None:
        """Run each scheduled script at every minute its cron matches, until ``stop``."""
        schedules = []
        for script in (s for s in scripts if s.cron):
            try:
                schedules.append((script, cron.parse(script.cron)))
            except cron.CronError as exc:
                self.sender.enqueue(script.log_source_id, f"not scheduled: {exc}", "error")
        if not schedules:
            return
        while not stop.wait(60 - time.time() % 60):
            now = dt.datetime.now()
            for script, schedule in schedules:
                if schedule.matches(now):
                    threading.Thread(target=self.run, args=(script, "cron"), daemon=True).start()
