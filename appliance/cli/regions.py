"""Which region a workspace connection goes through: ``--region NAME|primary|auto``.

Coder's dashboard times each healthy region's ``/latency-check`` and takes the fastest
(``useProxyLatency.ts``); ``coder ssh``, ``port-forward`` and ``ping`` do the same here. The
regions are the ones coderd lists (``/api/v2/regions``: the primary, then each workspace
proxy it registered, with its health); each one coderd calls healthy is timed in parallel
(a second GET on the same connection, so the TCP and TLS set-up are left out, as the
browser leaves them out with ``Timing-Allow-Origin``), with a short timeout, and the
figures are kept in the config folder for ``CACHE_SECONDS``.

A region is only ever reached at the URL coderd registered for it: redirects are not
followed, and the latency check sends no session. One whose URL fails TLS verification
(with ``--ca-cert``'s trust, as every connection of the CLI), answers anything but 200 or
does not answer in time is unhealthy: never used by ``auto``, and refused by name.
The primary is reached at the URL the CLI is logged in to, with ``--header``'s headers as
every request to it (a gateway in front of coderd may want them); a proxy gets none.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import ssl
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from .base import USAGE, CommandError
from .config import ConfigDir

AUTO, PRIMARY = "auto", "primary"
CACHE_FILE = "regions.json"
CACHE_SECONDS = 300.0
MEASURE_TIMEOUT = 3.0
LATENCY_PATH = "/latency-check"


@dataclass
class Region:
    """A region as the CLI sees it: where it is, and how fast it answered (or why not)."""
    name: str
    display_name: str
    url: str
    latency: float | None = None  # seconds; None: unhealthy
    problem: str = ""

    @property
    def healthy(self) -> bool:
        return self.latency is not None

    @property
    def proxy_url(self) -> str:
        """The workspace proxy's URL to connect through; "" for coderd itself."""
        return "" if self.name == PRIMARY else self.url


def add_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region", default=os.environ.get("CODER_REGION", AUTO), metavar="NAME|primary|auto",
        help="Region to connect through (env CODER_REGION): a workspace proxy's name, "
             "'primary' (coderd itself), or 'auto' (default): the healthy region with the "
             f"lowest measured latency, measured at most every {CACHE_SECONDS / 60:.0f} "
             "minutes ('coder ping' shows which).")


def choose(args: argparse.Namespace, url: str, token: str) -> Region:
    """The region ``--region`` names, measured (or its figures from the cache)."""
    from appliance.sdk.errors import APIError

    conf = _config(args)
    regions = _cached(conf, url)
    if regions is None:
        try:
            regions = measure_all(args, url, token)
        except APIError as exc:  # a token that may not list them: coderd's answer says why
            if args.region not in (AUTO, PRIMARY):
                raise
            return Region(PRIMARY, "Default", url, problem=f"regions not listed: {exc.message}")
        _save(conf, url, regions)
    return pick(regions, args.region)


def pick(regions: list[Region], wanted: str) -> Region:
    """The named region if it is healthy; for ``auto`` the fastest healthy one (the primary
    when none answered: its own failure then says why)."""
    if wanted == AUTO:
        healthy = [r for r in regions if r.healthy]
        return min(healthy, key=lambda r: r.latency) if healthy else regions[0]
    names = ", ".join([AUTO] + [r.name for r in regions])
    found = [r for r in regions if r.name == wanted]
    if not found:
        raise CommandError(f"unknown region {wanted!r}", hint=f"Choose one of: {names}.",
                           code=USAGE)
    if not found[0].healthy and wanted != PRIMARY:  # coderd's own failure says why
        raise CommandError(f"region {wanted!r} is unhealthy: {found[0].problem}",
                           hint=f"Choose another with --region ({names}).")
    return found[0]


def measure_all(args: argparse.Namespace, url: str, token: str) -> list[Region]:
    """coderd's regions, each it calls healthy timed in parallel."""
    from .connect import ca_bundle, new_client
    from .headers import from_flags

    listed = new_client(args, url, token).regions().regions
    regions = [Region(r.name, r.display_name, url if r.name == PRIMARY else r.path_app_url)
               for r in listed]
    context = _tls_context(ca_bundle(args))
    deployment_headers = from_flags(args, url)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(regions))) as pool:
        for region, healthy in zip(regions, (r.healthy for r in listed)):
            if healthy:
                pool.submit(_measure, region, context,
                            deployment_headers if region.name == PRIMARY else {})
            else:
                region.problem = "coderd reports it unhealthy (not registered, or its " \
                                 "heartbeats stopped)"
    return regions


def _measure(region: Region, context: ssl.SSLContext, headers: dict[str, str]) -> None:
    """The time of one ``/latency-check`` on a connection already made, or the problem."""
    parts = urlsplit(region.url)
    try:
        conn = _connection(parts, context)
    except ValueError as exc:
        region.problem = f"its URL {region.url!r} is not usable: {exc}"
        return
    path = parts.path.rstrip("/") + LATENCY_PATH
    try:
        for attempt in range(2):
            began = time.monotonic()
            conn.request("GET", path, headers={**headers, "User-Agent": "coder-appliance-cli"})
            answer = conn.getresponse()
            answer.read()
            if answer.status != 200:  # a redirect too: never followed
                region.problem = f"{LATENCY_PATH} answered {answer.status}"
                return
        region.latency = time.monotonic() - began
    except ssl.SSLError as exc:
        region.problem = f"TLS verification failed: {getattr(exc, 'verify_message', '') or exc}"
    except (OSError, http.client.HTTPException) as exc:
        region.problem = f"{LATENCY_PATH} failed: {exc or type(exc).__name__}"
    finally:
        conn.close()


def _connection(parts, context: ssl.SSLContext) -> http.client.HTTPConnection:
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL")
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=MEASURE_TIMEOUT,
                                           context=context)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=MEASURE_TIMEOUT)


def _tls_context(verify: bool | str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)


def _config(args: argparse.Namespace) -> ConfigDir:
    from .connect import config_dir

    return config_dir(args)


def _cached(conf: ConfigDir, url: str) -> list[Region] | None:
    """The figures measured for this deployment in the last ``CACHE_SECONDS``, if any."""
    try:
        saved = json.loads(conf.read(CACHE_FILE) or "{}")
        if saved.get("url") != url or not 0 <= time.time() - saved["measured_at"] < CACHE_SECONDS:
            return None
        return [Region(**r) for r in saved["regions"]] or None
    except (ValueError, KeyError, TypeError):  # an unreadable cache is measured again
        return None


def _save(conf: ConfigDir, url: str, regions: list[Region]) -> None:
    try:
        conf.write(CACHE_FILE, json.dumps({"url": url, "measured_at": time.time(),
                                           "regions": [asdict(r) for r in regions]}))
    except OSError:  # a read-only config folder: measured again next time
        pass
