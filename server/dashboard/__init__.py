"""The web dashboard: server-rendered pages on ``/`` (Flask blueprint, Jinja templates).

A page shows and offers only what its viewer may do, asked of the same authorization
layer the API uses (``pages.NAV``, ``store().can``), and reads and writes through the
same code as the API (``server.api``'s functions, not copies). Every dashboard response
carries a strict Content-Security-Policy (scripts, styles, fonts and images only from
coderd itself, none inline; no framing), every form a per-session CSRF token
(``forms``), and the JavaScript (htmx, pinned by ``packaging/vendor_js.py``) is served
by coderd from ``static/`` under content-hashed names (``assets``): a browser reaches
no host but coderd. See docs/dashboard.md.
"""
from __future__ import annotations

from flask import Flask

from .assets import Assets
from .pages import blueprint


def init_app(app: Flask) -> None:
    from . import (account, audit, auth, cliauth, createworkspace, deployment,  # noqa: F401
                   templatepages, terminal, users, workspace, workspaces)  # (their views join the blueprint)

    Assets.install(app)
    app.register_blueprint(blueprint)
