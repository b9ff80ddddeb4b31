"""Templates and their versions: guarded as the template, by organization."""
from ..objects import template_obj
from ..policy import check, fetch, post_filter, system_only, via_row
from ..rbac import Action as A, Object, Resource as R

_TEMPLATE = ("get_template_by_id", "template_id", template_obj)
_VERSION = ("get_template_version_by_id", "version_id", template_obj)
_VERSION_OF = ("get_template_version_by_id", "template_version_id", template_obj)


def _org_template(a: dict) -> Object:
    return Object(R.TEMPLATE, org_id=a["organization_id"])


class TemplatePolicies:
    insert_template = check(_org_template, A.CREATE)
    get_template_by_id = fetch(A.READ, template_obj)
    get_template_by_organization_and_name = fetch(A.READ, template_obj)
    get_templates = post_filter(A.READ, template_obj)
    update_template_meta = via_row(*_TEMPLATE, A.UPDATE)
    update_template_active_version = via_row(*_TEMPLATE, A.UPDATE)
    delete_template = via_row(*_TEMPLATE, A.DELETE)
    get_workspace_count_by_template_id = via_row(*_TEMPLATE, A.READ)
    get_template_build_time = via_row(*_TEMPLATE, A.READ)
    insert_template_version = check(_org_template, A.CREATE, A.UPDATE)
    get_template_version_by_id = fetch(A.READ, template_obj)
    get_template_version_by_job_id = fetch(A.READ, template_obj)
    get_template_version_by_template_and_name = fetch(A.READ, template_obj)
    get_template_versions_by_template_id = post_filter(A.READ, template_obj)
    get_previous_template_version = fetch(A.READ, template_obj)
    archive_unused_template_versions = via_row(*_TEMPLATE, A.UPDATE)
    unarchive_template_version = via_row(*_VERSION, A.UPDATE)
    update_template_version = via_row(*_VERSION, A.UPDATE)
    update_template_version_template_id = via_row(*_VERSION, A.UPDATE)
    delete_import_checks = system_only()  # coderd check-import, as system("install-check")
    get_template_version_variables = via_row(*_VERSION_OF, A.READ)
    get_template_version_presets = via_row(*_VERSION_OF, A.READ)
    get_template_version_parameters = via_row(*_VERSION_OF, A.READ)
