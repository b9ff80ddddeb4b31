"""The agent's life: manifest, startup, what runs while it is up, shutdown.

1. Fetch the manifest, retrying until coderd answers (``retry``).
2. ``starting``; report the version and directory; start the heartbeat
   (stats), app health checks, metadata collection, cron scripts and the relay
   (``agent.relay.run(client, manifest, stop)``).
3. Run the ``run_on_start`` scripts: ``ready``, ``start_error`` or
   ``start_timeout``.
4. On SIGTERM/SIGINT: ``shutting_down``, the ``run_on_stop`` scripts, then
   ``off``, ``shutdown_error`` or ``shutdown_timeout``; logs and states are
   flushed (bounded) before exiting.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from appliance.buildinfo import version
from appliance.sdk.agentsdk import AgentClient, Manifest, PostStartupRequest, ScriptTiming

from . import gitssh, relay, retry, stats
from .apphealth import AppHealth
from .env import command_env, expanded_directory, working_directory
from .lifecycle import LifecycleReporter
from .logsender import LogSender
from .metadata import Metadata
from .scripts import ScriptRunner

log = logging.getLogger(__name__)
FLUSH_SECONDS = 10.0


@dataclass
class Options:
    url: str
    token: str
    verify: bool | str = True
    log_dir: str = "/tmp"


class Agent:
    def __init__(self, options: Options):
        self.options = options
        self.client = AgentClient(options.url, options.token, verify=options.verify, timeout=30.0)
        self.stop = threading.Event()  # set by SIGTERM/SIGINT
        self.lifecycle = LifecycleReporter(self.client)
        self.sender = LogSender(self.client)

    def run(self) -> int:
        try:
            manifest = retry.call("fetching the manifest", self.client.manifest, self.stop)
        except retry.Stopped:
            log.info("stopped before coderd answered")
            return 0
        log.info("manifest: agent %s of workspace %s/%s", manifest.agent_name,
                 manifest.owner_name, manifest.workspace_name)
        self.lifecycle.set("starting")
        self._background(lambda: self.client.post_startup(PostStartupRequest(
            version=version(), expanded_directory=expanded_directory(manifest))), "startup")
        env = command_env(manifest, self.options.url,
                          gitssh.serve(self.client.git_ssh_key, self.stop))
        runner = ScriptRunner(self.sender, env, working_directory(manifest), self.options.log_dir,
                              self._script_completed)
        self._thread(stats.report_loop, self.client, self.stop)
        AppHealth(self.client, manifest.apps, self.stop).start()
        cwd = working_directory(manifest)
        Metadata(self.client, manifest.metadata, env, cwd, self.stop).start()
        self._thread(runner.run_cron, manifest.scripts, self.stop)
        self._start_relay(manifest, env)

        outcome = runner.run_all([s for s in manifest.scripts if s.run_on_start], "start")
        if not self.stop.is_set():
            self.lifecycle.set("ready" if outcome.ok else
                               "start_timeout" if outcome.timed_out else "start_error")
        self.stop.wait()
        return self._shutdown(manifest, runner)

    def _shutdown(self, manifest: Manifest, runner: ScriptRunner) -> int:
        self.lifecycle.set("shutting_down")
        # Fresh environment and folder: the start scripts may have made the directory.
        runner.cwd = working_directory(manifest)
        outcome = runner.run_all([s for s in manifest.scripts if s.run_on_stop], "stop")
        self.lifecycle.set("off" if outcome.ok else
                           "shutdown_timeout" if outcome.timed_out else "shutdown_error")
        if not (self.sender.flush(FLUSH_SECONDS) and self.lifecycle.flush(FLUSH_SECONDS)):
            log.warning("coderd did not take every log line and state before shutdown")
        return 0

    def _script_completed(self, timing: ScriptTiming) -> None:
        """A script's run, for the build's timings: retried in the background while the agent
        is up; tried once while it shuts down (a stop script's), as its logs are."""
        def call():
            self.client.script_completed(timing)
        if not self.stop.is_set():
            return self._background(call, "a script's run")
        try:
            call()
        except Exception as exc:
            log.warning("coderd did not take a stop script's run: %s", exc)

    def _thread(self, target, *args) -> threading.Thread:
        t = threading.Thread(target=target, args=args, name=getattr(target, "__name__", "task"),
                             daemon=True)
        t.start()
        return t

    def _background(self, call, what: str) -> None:
        """One call, retried in the background until coderd takes it."""
        def run():
            try:
                retry.call(f"reporting {what}", call, self.stop)
            except retry.Stopped:
                pass
            except Exception as exc:
                log.error("coderd refused the agent's %s: %s", what, exc)
        self._thread(run)

    def _start_relay(self, manifest: Manifest, env: dict[str, str]) -> None:
        """The relay's client in its own thread, restarted with backoff if it ends
        while the agent is up; its sessions get ``env``, as the scripts do."""
        def run():
            backoff = retry.Backoff()
            while not self.stop.is_set():
                began = time.monotonic()
                try:
                    relay.run(self.client, manifest, self.stop, env=env)
                except Exception:
                    log.exception("the relay failed")
                if time.monotonic() - began > backoff.cap:  # it was up: coderd restarted
                    backoff.reset()
                self.stop.wait(backoff.next())
        self._thread(run)
