"""The example templates the appliance ships, as Coder's ``/templates/examples``: served
from its own files (``appliance.examples``), the list ``coder templates init`` uses."""
from __future__ import annotations

from flask import g

from appliance import examples
from appliance.sdk import types

from ..authz.rbac import Action, Object, Resource, authorize
from ..httpapi import write
from .organizations import organization_param
from .router import Router

router = Router("examples", "Templates")
route = router.route


def _examples() -> list[types.TemplateExample]:
    return [types.TemplateExample(id=e.id, url="", name=e.name, description=e.description,
                                  icon=e.icon, tags=list(e.tags), markdown=e.markdown)
            for e in examples.examples()]


@route("GET", "/organizations/<organization>/templates/examples",
       summary="The example templates, for those who may read the organization's templates",
       response=list[types.TemplateExample])
def organization_template_examples(organization: str):
    org = organization_param(organization)
    authorize(g.subject, Action.READ, Object(Resource.TEMPLATE, org_id=org["id"]))
    return write(200, _examples())


@route("GET", "/templates/examples", summary="The example templates",
       response=list[types.TemplateExample])
def template_examples():
    org = organization_param("default")
    authorize(g.subject, Action.READ, Object(Resource.TEMPLATE, org_id=org["id"]))
    return write(200, _examples())
