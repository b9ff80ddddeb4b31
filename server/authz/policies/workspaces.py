"""Workspaces and their builds: members reach only their own."""
from ..objects import build_obj, resource_obj, user_arg, workspace_obj
from ..policy import check, fetch, post_filter, scoped, system_only, via_row
from ..rbac import Action as A, Object, Resource as R

_WORKSPACE = ("get_workspace_by_id", "workspace_id", workspace_obj)


def _build_action(a: dict) -> A:
    """Deleting a workspace takes the delete permission; starting and stopping, update."""
    return A.DELETE if a["transition"] == "delete" else A.UPDATE


class WorkspacePolicies:
    insert_workspace = check(lambda a: Object(R.WORKSPACE, owner_id=a["owner_id"],
                                              org_id=a["organization_id"]), A.CREATE)
    get_workspace_by_id = fetch(A.READ, workspace_obj)
    get_workspace_by_owner_and_name = fetch(A.READ, workspace_obj)
    get_workspaces = scoped(A.READ, R.WORKSPACE)
    update_workspace_ttl = via_row(*_WORKSPACE, A.UPDATE)
    update_workspace_name = via_row(*_WORKSPACE, A.UPDATE)
    update_workspace_autostart = via_row(*_WORKSPACE, A.UPDATE)
    update_workspace_next_start_at = via_row(*_WORKSPACE, A.UPDATE)
    update_workspace_favorite = via_row(*_WORKSPACE, A.UPDATE)
    get_workspace_port_shares = via_row(*_WORKSPACE, A.READ)
    upsert_workspace_port_share = via_row(*_WORKSPACE, A.UPDATE)
    delete_workspace_port_share = via_row(*_WORKSPACE, A.UPDATE)
    update_workspace_last_used = via_row(*_WORKSPACE, A.UPDATE)
    update_workspace_automatic_updates = via_row(*_WORKSPACE, A.UPDATE)
    update_workspace_build_deadline = via_row(*_WORKSPACE, A.UPDATE)
    get_workspaces_to_autostart = system_only()
    get_workspaces_to_autostop = system_only()
    insert_workspace_build = via_row(*_WORKSPACE, A.UPDATE, action_of=_build_action)
    get_workspace_build_by_id = fetch(A.READ, build_obj)
    get_workspace_build_by_job_id = fetch(A.READ, build_obj)
    get_workspace_build_by_number = fetch(A.READ, build_obj)
    # Terraform state holds the workspace's secrets: template admins only, as Coder, who
    # check the template before reading it as the system.
    get_workspace_build_state = system_only()
    get_workspace_builds_by_workspace_id = post_filter(A.READ, build_obj)
    get_latest_workspace_builds_by_workspace_ids = post_filter(A.READ, build_obj)
    get_workspace_build_parameters = post_filter(A.READ, build_obj)
    # Autofill values are the user's own personal data (Coder: read_personal on the user).
    get_user_workspace_build_parameters = check(user_arg("owner_id"), A.READ_PERSONAL)
    get_workspace_resources_by_job_ids = post_filter(A.READ, resource_obj)
