"""``coder support bundle [WORKSPACE [AGENT]]``: a zip of what troubleshooting a workspace
needs, as Coder's, with what the appliance has.

Coder's file names where the appliance has the thing: the deployment's build info,
settings (owners only; coderd never shows its secrets), stats and workspaces; the
workspace, its parameters, template, version, build logs and the template's files
(template admins only); the agent (its environment's values redacted, as Coder does),
its listening ports and startup logs. Coder's tailnet diagnostics (netcheck, DERP,
magicsock) have no counterpart: ``network/checks.json`` times a request to coderd and
one through coderd's relay to the agent instead. What the caller may not read, or what
fails, is said in ``logs.txt`` rather than stopping the bundle. The zip is written
under a temporary name and renamed when complete.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import zipfile
from dataclasses import replace
from typing import Any, Callable

import requests

from appliance.sdk import model, types
from appliance.sdk.client import APIError, Client
from appliance.sdk.relay import listening_ports

from .. import connect, prompt
from ..base import CommandError
from .workspaces import workspace_by_name

REDACTED = "***REDACTED***"  # Coder's word for a sanitized value
BLURB = ("This will collect the following information:\n"
         "  - Coder deployment version\n"
         "  - Coder deployment configuration (sanitized) and stats\n"
         "  - Workspace list accessible to the user\n"
         "  - Workspace configuration, parameters, and build logs\n"
         "  - Template version and source code for the given workspace\n"
         "  - Agent details (with environment variables sanitized)\n"
         "  - Agent logs, and round trips to coderd and through its relay to the agent\n"
         "Note: While we try to sanitize sensitive data from support bundles, we cannot "
         "guarantee that they do not contain information that you or your organization may "
         "consider sensitive.\nPlease confirm that you will:\n"
         "  - Review the support bundle before distribution\n"
         "  - Only distribute it via trusted channels\nContinue?")


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Commands for troubleshooting issues with a Coder deployment."
    sub = connect.add_subcommands(p)
    s = connect.leaf_parser(sub, "bundle", "Generate a support bundle to troubleshoot issues "
                            "connecting to a workspace.",
                            "Generate a zip of troubleshooting information about the deployment "
                            "and a workspace's connections. Name one workspace (and optionally "
                            "its agent).")
    s.add_argument("workspace", nargs="?", metavar="WORKSPACE")
    s.add_argument("agent", nargs="?", metavar="AGENT")
    s.add_argument("-O", "--output-file", metavar="FILE",
                   default=os.environ.get("CODER_SUPPORT_BUNDLE_OUTPUT_FILE", ""),
                   help="File path for writing the generated support bundle. Defaults to "
                        "coder-support-$(date +%%s).zip.")
    s.add_argument("--workspaces-total-cap", type=int, metavar="N",
                   default=int(os.environ.get("CODER_SUPPORT_BUNDLE_WORKSPACES_TOTAL_CAP", 10)),
                   help="Maximum number of workspaces to include (0 or less: no cap; "
                        "default 10).")
    s.set_defaults(_action=_bundle)


run = connect.run_group


class Bundle:
    """The files of the zip, and a line in logs.txt for each part that could not be had."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.logs: list[str] = []

    def add(self, name: str, fetch: Callable[[], Any]) -> Any:
        """``fetch()``'s value as the file ``name`` (JSON, or text as it is); None, logged,
        when the deployment refuses or cannot answer."""
        try:
            value = fetch()
        except (APIError, requests.RequestException) as exc:
            self.logs.append(f"{name}: {connect.translate(exc).message}")
            return None
        self.files[name] = value if isinstance(value, bytes) else \
            value.encode() if isinstance(value, str) else model.dumps(value)
        return value

    def zip(self) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in sorted({**self.files,
                                      "logs.txt": "\n".join(self.logs).encode()}.items()):
                z.writestr(name, data)
        return out.getvalue()


def _bundle(args: argparse.Namespace) -> int:
    if not prompt.agreed(args, BLURB):
        return 1
    client = connect.client(args)
    ws = None
    if args.workspace:
        try:
            ws = workspace_by_name(client, args.workspace)
        except APIError as exc:
            raise CommandError(f"invalid workspace: {connect.translate(exc).message}") from None
    else:
        print("warning: No workspace specified. This will result in incomplete information.",
              file=sys.stderr)
    path = os.path.abspath(args.output_file or f"coder-support-{int(time.time())}.zip")
    bundle = Bundle()
    checks = {"access_url": client.url,
              "coderd": _timed(bundle, "deployment/buildinfo.json", client.build_info)}
    bundle.add("deployment/config.json", client.deployment_config)
    bundle.add("deployment/stats.json", client.deployment_stats)
    cap = max(args.workspaces_total_cap, 0)
    bundle.add("deployment/workspaces.json",
               lambda: [_sanitized(w) for w in client.workspaces(limit=cap).workspaces])
    agent = _workspace(bundle, client, ws, args.agent or "") if ws is not None else None
    if agent is not None:  # the smallest request an agent serves, through coderd's relay
        checks["agent_relay"] = _timed(bundle, "agent/listening_ports.json",
                                       lambda: listening_ports(client, agent.id))
    bundle.add("network/checks.json", lambda: checks)
    _write_whole(path, bundle.zip())
    print(f"Wrote support bundle to {path}", file=sys.stderr)
    return 0


def _workspace(bundle: Bundle, client: Client, ws: types.Workspace,
               agent_name: str) -> types.WorkspaceAgent | None:
    build = ws.latest_build
    bundle.add("workspace/workspace.json", lambda: _sanitized(ws))
    bundle.add("workspace/parameters.json", lambda: client.workspace_build_parameters(build.id))
    bundle.add("workspace/template.json", lambda: client.template(ws.template_id))
    version = bundle.add("workspace/template_version.json",
                         lambda: client.template_version(build.template_version_id))
    if version is not None:
        bundle.add("workspace/template_file.tar", lambda: client.download_file(version.job.file_id))
    bundle.add("workspace/build_logs.txt", lambda: "".join(
        f"{_when(log.created_at)}\t[{log.log_level}]\t{log.log_source}\t{log.stage}\t"
        f"{log.output}\n" for log in client.workspace_build_logs(build.id)))
    agents = [a for r in build.resources for a in r.agents if a.name == agent_name or not agent_name]
    if not agents:
        bundle.logs.append(f"agent: no agent {agent_name!r} in workspace {ws.name!r}"
                           if agent_name else f"agent: workspace {ws.name!r} has no agent")
        return None
    agent = agents[0]
    bundle.add("agent/agent.json", lambda: _sanitized_agent(agent))
    bundle.add("agent/startup_logs.txt", lambda: "".join(
        f"{_when(log.created_at)}\t[{log.level}]\t{log.output}\n"
        for log in client.workspace_agent_logs(agent.id)))
    return agent


def _sanitized_agent(agent: types.WorkspaceAgent) -> types.WorkspaceAgent:
    """The agent with its environment's values redacted (its names kept), as Coder's."""
    return replace(agent, environment_variables={name: REDACTED
                                                 for name in agent.environment_variables})


def _sanitized(ws: types.Workspace) -> types.Workspace:
    """The workspace with each of its agents sanitized."""
    resources = [replace(r, agents=[_sanitized_agent(a) for a in r.agents])
                 for r in ws.latest_build.resources]
    return replace(ws, latest_build=replace(ws.latest_build, resources=resources))


def _timed(bundle: Bundle, name: str, fetch: Callable[[], Any]) -> dict[str, Any]:
    """``bundle.add``, timed: the round trip for network/checks.json."""
    began = time.monotonic()
    if bundle.add(name, fetch) is None:
        return {"ok": False, "error": bundle.logs[-1]}
    return {"ok": True, "elapsed_ms": round((time.monotonic() - began) * 1000, 1)}


def _when(moment) -> str:
    """Coder's time format in its bundles' logs (slog's: milliseconds, no zone)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _write_whole(path: str, data: bytes) -> None:
    """All or nothing: a temporary file beside ``path``, renamed over it once written."""
    folder = os.path.dirname(path)
    try:
        fd, partial = tempfile.mkstemp(prefix=".coder-support-", dir=folder)
    except OSError as exc:
        raise CommandError(f"create output file: {exc.strerror}: {folder}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(partial, path)
    except OSError as exc:
        os.unlink(partial)
        raise CommandError(f"write support bundle to {path}: {exc.strerror}") from None
