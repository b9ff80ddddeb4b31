"""The provider process: the ``coder`` provider on top of PyPI's ``tf`` gRPC server.

``tf`` brings the go-plugin handshake, TLS and the tfplugin6 service. Its
generic planning does not fit Coder's resources (it never plans a new object
through the resource, keeps nested-block outputs null and ignores blocks when
deciding on a replacement), so planning and applying are done here, driven by
each resource's ``Spec``: a new object gets its defaults and unknown outputs;
an existing one is kept as it is while its inputs are unchanged and replaced
otherwise, since every input of a Coder resource forces a new object.
"""
from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

from tf.gen import tfplugin_pb2 as pb
from tf.iface import Provider
from tf.schema import Attribute, Schema
from tf.types import String
from tf.utils import Diagnostics, read_dynamic_value, to_dynamic_value

from provider import agent, app, contract, metadata, parameter, preset, script, task, tf_adapt, workspace
from provider.objects import Resource

SOURCE = "registry.terraform.io/coder/coder"


class CoderProvider(Provider):
    """Provider-level configuration: the URL of coderd (``url``, else ``CODER_AGENT_URL``)."""

    def __init__(self):
        self.url = os.environ.get(contract.AGENT_URL) or contract.DEFAULT_URL

    def get_model_prefix(self) -> str:
        return "coder_"

    def full_name(self) -> str:
        return SOURCE

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return Schema(attributes=[Attribute(
            "url", String(), optional=True,
            description="The URL to access Coder. Defaults to `CODER_AGENT_URL`.")])

    def validate_config(self, diags: Diagnostics, config: dict) -> None:
        url = config.get("url")
        if isinstance(url, str) and url and not urlsplit(url).scheme:
            diags.add_error(f"parse {url!r}: not an absolute URL", path=["url"])

    def configure_provider(self, diags: Diagnostics, config: dict) -> None:
        url = config.get("url")
        if url is None:
            url = os.environ.get(contract.AGENT_URL) or contract.DEFAULT_URL
        if url == "":
            diags.add_error('CODER_AGENT_URL must not be empty; got ""')
        self.url = url

    def get_resources(self) -> list:
        return [agent.Agent, agent.AgentInstance, app.App, script.Script, script.Env,
                metadata.Metadata, task.AITask, agent.Devcontainer, agent.ExternalAgent]

    def get_data_sources(self) -> list:
        return [workspace.Workspace, workspace.WorkspaceOwner, workspace.Provisioner,
                workspace.ExternalAuth, parameter.Parameter, preset.WorkspacePreset,
                preset.WorkspaceTags, task.Task, workspace.Secret]


class CoderServicer(tf_adapt.Servicer):
    """``tf``'s servicer with planning and applying done from each resource's ``Spec``."""

    def _resource(self, type_name: str) -> Resource:
        return self.app.new_resource(self.resource_class(type_name))

    def PlanResourceChange(self, request, context):
        diags = Diagnostics()
        proposed = read_dynamic_value(request.proposed_new_state)
        if proposed is None:  # destroy: nothing to plan
            return pb.PlanResourceChange.Response(planned_state=request.proposed_new_state)
        resource = self._resource(request.type_name)
        prior = read_dynamic_value(request.prior_state)
        planned = resource.plan_new(diags, read_dynamic_value(request.config))
        replace = []
        if prior is not None:
            changed = resource.SPEC.changed_inputs(prior, planned)
            if changed:
                replace = [tf_adapt.attribute_path([name]) for name in changed]
            else:
                planned = prior
        return pb.PlanResourceChange.Response(planned_state=to_dynamic_value(planned),
                                              requires_replace=replace,
                                              diagnostics=diags.to_pb())

    def UpgradeResourceState(self, request, context):
        """Reshape a stored object to the current schema (one this provider's older or newer
        builds, or Coder's Go provider, wrote); terraform refuses any other shape."""
        diags = Diagnostics()
        try:
            stored = json.loads(request.raw_state.json)
        except ValueError as exc:
            diags.add_error(f"{request.type_name}: unreadable stored state: {exc}")
            return pb.UpgradeResourceState.Response(diagnostics=diags.to_pb())
        state = self.resource_class(request.type_name).SPEC.conform(stored)
        return pb.UpgradeResourceState.Response(upgraded_state=to_dynamic_value(state),
                                                diagnostics=diags.to_pb())

    def ApplyResourceChange(self, request, context):
        diags = Diagnostics()
        planned = read_dynamic_value(request.planned_state)
        if planned is None:  # destroy: the object only ever lived in the state
            return pb.ApplyResourceChange.Response(new_state=request.planned_state)
        state = self._resource(request.type_name).create(diags, planned)
        return pb.ApplyResourceChange.Response(new_state=to_dynamic_value(state),
                                               diagnostics=diags.to_pb())


def serve(argv: list[str] | None = None) -> None:
    """Run the provider as terraform starts it (go-plugin handshake on stdout)."""
    tf_adapt.serve(CoderProvider(), CoderServicer, argv)
