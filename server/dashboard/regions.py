"""The region menu every signed-in page carries (Coder's "Workspace proxy" selector):
coderd's regions from the API's own ``region_list`` (the primary, then each workspace
proxy coderd registered, with its health). ``static/regions.js`` times each healthy
region's ``/latency-check``, shows the figures, picks the fastest unless the viewer chose
one (kept in localStorage), and builds the page's path app and port links on the chosen
region's URL; the terminal page opens its websocket there (``static/terminal.js``, with a
token coderd signs for that proxy: ``server.api.workspaceproxies``).

The page's Content-Security-Policy lets it connect to coderd and to the origins of the
healthy regions listed here, and to nothing else: a region's URL is never one the page
made up, and a check that redirects elsewhere is refused by the browser (and by the
script, which does not follow redirects). See docs/dashboard.md, "Regions".
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g

from ..api.deployment import region_list
from ..csrf import origin_of


@dataclass(frozen=True)
class RegionChoice:
    name: str
    display_name: str
    url: str  # "" for an unhealthy region: not measured, not offered
    healthy: bool


def menu() -> list[RegionChoice]:
    """The regions, as the menu offers them."""
    choices = []
    for region in region_list():
        usable = region.healthy and origin_of(region.path_app_url) is not None
        choices.append(RegionChoice(region.name, region.display_name,
                                    region.path_app_url.rstrip("/") if usable else "", usable))
    # The page's policy lets it connect to these too (pages._security_headers): the check,
    # and the terminal's websocket.
    origins = {origin_of(c.url) for c in choices[1:] if c.url}
    g.region_origins = sorted(origins | {o.replace("http", "ws", 1) for o in origins})
    return choices


def region_path(link: str) -> str:
    """A path app's or a port's link as its path under coderd's access URL (every region
    serves the same paths), or "" for a link that is not one (subdomain, external); the
    workspace page's ``region_path`` filter."""
    base = current_app.extensions["coderd"].settings.effective_access_url.rstrip("/")
    return link[len(base):] if link.startswith(base + "/@") else ""
