"""Connection and traffic counters, reported to coderd as the agent's heartbeat.

The relay (``agent.relay``) counts what passes through it with ``COUNTERS``;
``report_loop`` sends and resets them every interval coderd asks for. A report
that fails is retried with backoff, so coderd hears from the agent again as
soon as it is reachable.
"""
from __future__ import annotations

import collections
import logging
import threading

from appliance.sdk.agentsdk import AgentClient, Stats

from . import retry

log = logging.getLogger(__name__)


class Counters:
    """Thread-safe totals since the last report."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.rx_bytes = self.tx_bytes = self.rx_packets = self.tx_packets = 0
        self.by_proto: collections.Counter[str] = collections.Counter()
        self.sessions: collections.Counter[str] = collections.Counter()

    def add_traffic(self, rx: int = 0, tx: int = 0) -> None:
        with self.lock:
            self.rx_bytes += rx
            self.tx_bytes += tx
            self.rx_packets += 1 if rx else 0
            self.tx_packets += 1 if tx else 0

    def add_connection(self, proto: str, session: str = "") -> None:
        """One new connection (``proto``: ssh, tcp, pty...); ``session``: ssh, vscode,
        jetbrains or reconnecting_pty, as Coder counts sessions."""
        with self.lock:
            self.by_proto[proto] += 1
            if session:
                self.sessions[session] += 1

    def take(self) -> Stats:
        with self.lock:
            stats = Stats(
                connections_by_proto=dict(self.by_proto),
                connection_count=sum(self.by_proto.values()),
                rx_packets=self.rx_packets, rx_bytes=self.rx_bytes, tx_packets=self.tx_packets,
                tx_bytes=self.tx_bytes, session_count_vscode=self.sessions["vscode"],
                session_count_jetbrains=self.sessions["jetbrains"],
                session_count_reconnecting_pty=self.sessions["reconnecting_pty"],
                session_count_ssh=self.sessions["ssh"])
            self._reset()
            return stats


COUNTERS = Counters()


def report_loop(client: AgentClient, stop: threading.Event, interval: float = 15.0) -> None:
    """Report now, then every interval coderd answers with, until ``stop``."""
    while not stop.is_set():
        stats = COUNTERS.take()
        try:
            interval = retry.call("reporting stats", lambda: client.report_stats(stats), stop) \
                or interval
        except retry.Stopped:
            return
        except Exception as exc:
            log.error("coderd refused the agent's stats: %s", exc)
        stop.wait(interval)
