"""Reading what terraform planned or built: resources, agents, apps, parameters.

Works on ``terraform show -json`` output, of a plan (imports) or of the state
after apply (builds). As in Coder, ``coder_agent`` is attached to the
computational resource that references it (its token, id or init script) in
the configuration; ``coder_app``, ``coder_script`` and ``coder_env`` attach to
an agent by ``agent_id``; ``coder_metadata`` to a resource by ``resource_id``.
``coder_*`` resources are not themselves shown as workspace resources.
An agent no resource references is not shown either.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from appliance.sdk.provisionerd import (Agent, AgentMetadata, App, Preset, Resource,
                                        ResourceMetadataItem, RichParameter, Script)
from appliance.sdk.types import TemplateVersionParameterOption, WorkspaceBuildParameter

HIDDEN_TYPES = {"coder_agent", "coder_app", "coder_script", "coder_env", "coder_metadata",
                "coder_agent_instance", "coder_ai_task", "coder_devcontainer"}
DEFAULT_DISPLAY_APPS = ("vscode", "vscode_insiders", "web_terminal", "ssh_helper",
                        "port_forwarding_helper")


class StateError(Exception):
    """The template's coder_* resources don't fit together (a bad template)."""


@dataclass
class TFResource:
    address: str
    mode: str
    type: str
    name: str
    module_path: str
    values: dict[str, Any]

    @property
    def config_address(self) -> str:
        """The address without count/for_each keys, as the configuration names it."""
        return re.sub(r"\[[^\]]*\]", "", self.address)


def _walk_module(module: dict, path: str = "") -> Iterator[TFResource]:
    for r in module.get("resources", ()):
        yield TFResource(r["address"], r.get("mode", "managed"), r["type"], r["name"], path,
                         r.get("values") or {})
    for child in module.get("child_modules", ()):
        yield from _walk_module(child, child.get("address", path))


def resources_of(show: dict) -> list[TFResource]:
    """Managed resources and data sources; a plan's planned values or a state's values."""
    values = show.get("planned_values") or show.get("values") or {}
    found = {r.address: r for r in _walk_module(values.get("root_module", {}))}
    # Data sources a plan read live in its prior state.
    prior = (show.get("prior_state") or {}).get("values", {}).get("root_module", {})
    for r in _walk_module(prior):
        found.setdefault(r.address, r)
    return sorted(found.values(), key=lambda r: r.address)


def _references(expr: Any) -> Iterator[str]:
    if isinstance(expr, dict):
        for key, value in expr.items():
            if key == "references" and isinstance(value, list):
                yield from (v for v in value if isinstance(v, str))
            else:
                yield from _references(value)
    elif isinstance(expr, list):
        for item in expr:
            yield from _references(item)


def configuration_references(show: dict) -> dict[str, set[str]]:
    """Config address of each resource -> addresses it references (modules included)."""
    out: dict[str, set[str]] = {}

    def walk(module: dict, prefix: str) -> None:
        for r in module.get("resources", ()):
            refs = {prefix + ref for ref in _references(r.get("expressions", {}))}
            out[prefix + r["address"]] = refs
        for name, call in (module.get("module_calls") or {}).items():
            walk(call.get("module", {}), f"{prefix}module.{name}.")

    walk((show.get("configuration") or {}).get("root_module", {}), "")
    return out


def _agent_of_reference(ref: str, agents: dict[str, TFResource]) -> str | None:
    for address in agents:
        base = agents[address].config_address
        if ref == base or ref.startswith(base + "."):
            return address
    return None


def _as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _agent(r: TFResource) -> Agent:
    v = r.values
    display = (v.get("display_apps") or [None])[0]
    display_apps = [name for name in DEFAULT_DISPLAY_APPS
                    if (display or {}).get(name, name != "vscode_insiders")]
    return Agent(
        name=r.name, auth_token=v.get("token") or "", operating_system=v.get("os") or "linux",
        architecture=v.get("arch") or "amd64", directory=v.get("dir") or "",
        env=dict(v.get("env") or {}),
        connection_timeout_seconds=_as_int(v.get("connection_timeout"), 120),
        troubleshooting_url=v.get("troubleshooting_url") or "", motd_file=v.get("motd_file") or "",
        display_apps=display_apps, order=_as_int(v.get("order")),
        metadata=[AgentMetadata(key=m["key"], display_name=m.get("display_name") or m["key"],
                                script=m["script"], interval=_as_int(m.get("interval"), 10),
                                timeout=_as_int(m.get("timeout"), 10), order=_as_int(m.get("order")))
                  for m in v.get("metadata") or ()],
        scripts=[Script(display_name="Startup Script", script=v["startup_script"], run_on_start=True,
                        start_blocks_login=v.get("startup_script_behavior") == "blocking")]
        if v.get("startup_script") else [])


def _app(r: TFResource) -> App:
    v = r.values
    health = (v.get("healthcheck") or [None])[0] or {}
    return App(
        slug=v.get("slug") or r.name, display_name=v.get("display_name") or v.get("name") or "",
        url=v.get("url") or "", command=v.get("command") or "", icon=v.get("icon") or "",
        external=bool(v.get("external")), subdomain=bool(v.get("subdomain")),
        sharing_level=v.get("share") or "owner", healthcheck_url=health.get("url") or "",
        healthcheck_interval=_as_int(health.get("interval")),
        healthcheck_threshold=_as_int(health.get("threshold")), order=_as_int(v.get("order")),
        hidden=bool(v.get("hidden")), open_in=v.get("open_in") or "slim-window")


def _script(r: TFResource) -> Script:
    v = r.values
    return Script(display_name=v.get("display_name") or r.name, script=v.get("script") or "",
                  icon=v.get("icon") or "", cron=v.get("cron") or "", log_path=v.get("log_path") or "",
                  run_on_start=bool(v.get("run_on_start")), run_on_stop=bool(v.get("run_on_stop")),
                  start_blocks_login=bool(v.get("start_blocks_login")),
                  timeout_seconds=_as_int(v.get("timeout")))


def convert_resources(show: dict, config_show: dict | None = None) -> list[Resource]:
    """Workspace resources with their agents, apps, scripts and metadata.

    ``config_show`` is the plan whose configuration gives the references (a
    state's show output carries none); it defaults to ``show`` itself.
    """
    all_resources = [r for r in resources_of(show) if r.mode == "managed"]
    refs = configuration_references(config_show or show)
    agents = {r.address: r for r in all_resources if r.type == "coder_agent"}
    agent_models = {address: _agent(r) for address, r in agents.items()}
    by_agent_id = {r.values.get("id"): agent_models[a] for a, r in agents.items() if r.values.get("id")}

    def attach(kind: str, add) -> None:
        for r in all_resources:
            if r.type != kind:
                continue
            agent = by_agent_id.get(r.values.get("agent_id"))
            if agent is None:
                # In a plan, ids are unknown: fall back to the reference in the configuration.
                target = next((a for ref in refs.get(r.config_address, ())
                               if (a := _agent_of_reference(ref, agents))), None)
                agent = agent_models.get(target) if target else None
            if agent is None:
                raise StateError(f"{r.address}: agent_id does not name a coder_agent of this template")
            add(agent, r)

    attach("coder_app", lambda agent, r: agent.apps.append(_app(r)))
    attach("coder_script", lambda agent, r: agent.scripts.append(_script(r)))
    attach("coder_env", lambda agent, r: agent.env.__setitem__(r.values.get("name") or "",
                                                               r.values.get("value") or ""))
    for agent in agent_models.values():
        slugs = [a.slug for a in agent.apps]
        duplicate = next((s for s in slugs if slugs.count(s) > 1), None)
        if duplicate:
            raise StateError(f"duplicate app slug {duplicate!r} on agent {agent.name!r}: "
                             "app slugs must be unique per agent")

    shown = [r for r in all_resources if r.type not in HIDDEN_TYPES]
    models = {r.address: Resource(name=r.name, type=r.type, module_path=r.module_path) for r in shown}
    # An agent belongs to the resource that references it. One nothing references
    # (a stopped workspace's, say) runs nowhere and is left out, as in Coder.
    placed: set[str] = set()
    for r in shown:
        for ref in refs.get(r.config_address, ()):
            agent_address = _agent_of_reference(ref, agents)
            if agent_address and agent_address not in placed:
                models[r.address].agents.append(agent_models[agent_address])
                placed.add(agent_address)

    by_resource_id = {r.values.get("id"): models[r.address] for r in shown if r.values.get("id")}
    for r in all_resources:
        if r.type != "coder_metadata":
            continue
        target = by_resource_id.get(r.values.get("resource_id"))
        if target is None:
            target = next((models[a] for ref in refs.get(r.config_address, ())
                           for a, m in models.items() if ref.startswith(re.sub(r"\[[^\]]*\]", "", a))), None)
        if target is None:
            continue
        target.hide = bool(r.values.get("hide"))
        target.icon = r.values.get("icon") or target.icon
        target.daily_cost = _as_int(r.values.get("daily_cost"))
        target.metadata.extend(
            ResourceMetadataItem(key=i["key"], value=None if i.get("is_null") else i.get("value"),
                                 sensitive=bool(i.get("sensitive")))
            for i in r.values.get("item") or ())
    for m in models.values():
        m.agents.sort(key=lambda a: (a.order, a.name))
    return list(models.values())


def _refuse_repeats(names: list[str], message: str) -> None:
    """A bad template: ``message`` (with ``{!r}``) names the first name given twice."""
    repeated = next((n for n in names if names.count(n) > 1), None)
    if repeated:
        raise StateError(message.format(repeated))


def convert_parameters(show: dict) -> list[RichParameter]:
    """``coder_parameter`` data sources, in the order Coder shows them."""
    params = []
    for r in resources_of(show):
        if r.mode != "data" or r.type != "coder_parameter":
            continue
        v = r.values
        rule = (v.get("validation") or [None])[0] or {}
        default = v.get("default")
        params.append(RichParameter(
            name=v.get("name") or r.name, type=v.get("type") or "string",
            display_name=v.get("display_name") or "", description=v.get("description") or "",
            mutable=bool(v.get("mutable")), default_value="" if default is None else str(default),
            icon=v.get("icon") or "",
            options=[TemplateVersionParameterOption(name=o["name"], value=str(o["value"]),
                                                    description=o.get("description") or "",
                                                    icon=o.get("icon") or "")
                     for o in v.get("option") or ()],
            validation_regex=rule.get("regex") or "", validation_error=rule.get("error") or "",
            validation_min=None if rule.get("min_disabled", rule.get("min") is None) else _as_int(rule.get("min")),
            validation_max=None if rule.get("max_disabled", rule.get("max") is None) else _as_int(rule.get("max")),
            validation_monotonic=rule.get("monotonic") or "",
            required=default is None, ephemeral=bool(v.get("ephemeral")),
            order=_as_int(v.get("order")), form_type=v.get("form_type") or ""))
    _refuse_repeats([p.name for p in params], "coder_parameter name {!r} is used more than once")
    params.sort(key=lambda p: (p.order, p.name))
    return params


def convert_presets(show: dict) -> list[Preset]:
    """``coder_workspace_preset`` data sources (the import's plan read them), by name."""
    presets = []
    for r in resources_of(show):
        if r.mode != "data" or r.type != "coder_workspace_preset":
            continue
        v = r.values
        prebuild = (v.get("prebuilds") or [None])[0] or {}
        presets.append(Preset(
            name=v.get("name") or r.name, default=bool(v.get("default")),
            description=v.get("description") or "", icon=v.get("icon") or "",
            parameters=[WorkspaceBuildParameter(k, str(val)) for k, val in sorted((v.get("parameters") or {}).items())],
            desired_instances=None if prebuild.get("instances") is None else _as_int(prebuild["instances"])))
    _refuse_repeats([p.name for p in presets],
                    "coder_workspace_preset names must be unique but {!r} appears more than once")
    defaults = [p.name for p in presets if p.default]
    if len(defaults) > 1:
        raise StateError(f"a maximum of 1 coder_workspace_preset can be marked as default, but "
                         f"{len(defaults)} are set")
    return sorted(presets, key=lambda p: p.name)
