"""Retrying calls to coderd: capped, jittered exponential backoff.

The agent never exits on a transient error: coderd restarting, the network
dropping or a 5xx are retried quickly at first, then every ``cap`` seconds. A
401 (wrong or revoked token) is logged once as an error that says what to
check, and retried with a slower backoff, from 1 s up to every
``UNAUTHORIZED_RETRY`` seconds: an init script often starts the agent while
its build is still running, before coderd knows the token, and the agent
must then be ready within seconds of the build's end.
"""
from __future__ import annotations

import logging
import random
import threading
from typing import Callable, TypeVar

import requests

from appliance.sdk.client import APIError

T = TypeVar("T")
log = logging.getLogger(__name__)
UNAUTHORIZED_RETRY = 30.0


class Stopped(Exception):
    """The agent is shutting down while a call was being retried."""


class Backoff:
    def __init__(self, initial: float = 0.25, cap: float = 10.0):
        self.initial = initial
        self.cap = cap
        self.attempt = 0

    def next(self) -> float:
        """The next delay: doubling from ``initial`` up to ``cap``, with full jitter on half."""
        base = min(self.cap, self.initial * (2 ** self.attempt))
        self.attempt += 1
        return base / 2 + random.uniform(0, base / 2)

    def reset(self) -> None:
        self.attempt = 0


def transient(exc: BaseException) -> bool:
    """Worth retrying: no answer, or an answer that says 'not now'."""
    if isinstance(exc, requests.RequestException):
        return True
    return isinstance(exc, APIError) and (exc.status >= 500 or exc.status in (401, 408, 429))


def call(what: str, fn: Callable[[], T], stop: threading.Event,
         backoff: Backoff | None = None) -> T:
    """``fn()`` until it succeeds; raises ``Stopped`` once ``stop`` is set, and any
    non-transient error (a 4xx other than 401) at once."""
    backoff = backoff or Backoff()
    unauthorized = Backoff(initial=1.0, cap=UNAUTHORIZED_RETRY)
    unauthorized_logged = False
    while True:
        if stop.is_set():
            raise Stopped(what)
        try:
            result = fn()
            if unauthorized_logged:
                log.info("%s: coderd accepts the agent token again", what)
            return result
        except Exception as exc:
            if not transient(exc):
                raise
            if isinstance(exc, APIError) and exc.status == 401:
                if not unauthorized_logged:
                    log.error("%s: coderd refused the agent token (401: %s). Check "
                              "CODER_AGENT_TOKEN: it must be the token of this workspace's "
                              "current build. Retrying, at most every %.0fs.", what,
                              exc.message, UNAUTHORIZED_RETRY)
                    unauthorized_logged = True
                delay = unauthorized.next()
            else:
                delay = backoff.next()
                log.warning("%s failed (%s); retrying in %.1fs", what, _short(exc), delay)
        stop.wait(delay)


def _short(exc: BaseException) -> str:
    if isinstance(exc, APIError):
        return f"{exc.status}: {exc.message}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"
