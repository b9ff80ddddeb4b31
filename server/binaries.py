"""``/bin/coder-agent-OS-ARCH``: the agent executables init scripts download.

They come from ``CODER_AGENT_BINARY_DIR`` (default ``CONFIG_DIR/agent-binaries``),
filled by the bundle install or by ``packaging/build_agent.py``. Nothing is
fetched from anywhere else: a platform with no file gets a 404 that names it
and the folder, so the init script's log says what to install.
"""
from __future__ import annotations

import re
from pathlib import Path

from flask import Flask, current_app, send_file

from .httpapi import APIError

AGENT_NAME = re.compile(r"coder-agent-(linux|darwin|windows)-(amd64|arm64|armv7)(\.exe)?")


def binary_dir() -> Path:
    settings = current_app.extensions["coderd"].settings
    return Path(settings.agent_binary_dir) if settings.agent_binary_dir \
        else settings.config_path / "agent-binaries"


def serve_binary(name: str):
    if not AGENT_NAME.fullmatch(name):
        raise APIError(404, f"No binary named {name!r}.",
                       "Agent binaries are named coder-agent-OS-ARCH, "
                       "e.g. coder-agent-linux-amd64.")
    path = binary_dir() / name
    if not path.is_file():
        os_, arch = AGENT_NAME.fullmatch(name).group(1, 2)
        raise APIError(404, f"The agent for {os_}/{arch} is not installed on this deployment.",
                       f"coderd serves agent binaries from {binary_dir()} "
                       "(CODER_AGENT_BINARY_DIR); "
                       f"it has no {name}.")
    return send_file(path, mimetype="application/octet-stream", as_attachment=True,
                     download_name=name, conditional=True, max_age=0)


def init_app(app: Flask) -> None:
    app.add_url_rule("/bin/<name>", "agent_binary", serve_binary, methods=["GET"])
