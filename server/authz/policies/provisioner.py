"""Provisioner jobs and daemons: users reach a job through what it builds; daemons act as
the named system actor "provisionerd", which alone writes what a job made."""
from ..objects import daemon_obj, job_obj, org_obj
from ..policy import check, fetch, post_filter, system_only, via_job
from ..rbac import Action as A, Object, Resource as R


def _new_job(a: dict) -> Object:
    return job_obj({"type": a["type"], "id": None, "input": a["input"],
                    "initiator_id": a["initiator_id"], "organization_id": a["organization_id"]})


class ProvisionerPolicies:
    insert_provisioner_job = check(_new_job, A.CREATE, A.UPDATE)
    get_provisioner_job_by_id = fetch(A.READ, job_obj)
    get_provisioner_jobs_by_ids = post_filter(A.READ, job_obj)
    get_queue_position = via_job(A.READ)
    acquire_provisioner_job = system_only()
    update_provisioner_job_heartbeat = system_only()
    complete_provisioner_job = system_only()
    cancel_provisioner_job = via_job(A.UPDATE)
    fail_stale_provisioner_jobs = system_only()
    insert_provisioner_job_logs = system_only()
    get_provisioner_job_logs_after = via_job(A.READ)
    upsert_provisioner_daemon = system_only()
    update_provisioner_daemon_seen = system_only()
    get_provisioner_daemon_by_id = fetch(A.READ, daemon_obj)
    # Any user may learn whether a daemon could take their job (Coder reads them as the
    # system for it): counts only, no daemon's name or tags.
    get_matched_provisioners = check(lambda a: org_obj({"id": a["organization_id"]}), A.READ)
    # Coder's rule for these pages: the organization's jobs, for those who manage them
    # (owners and template admins), whatever the jobs build.
    get_provisioner_jobs_by_organization = check(
        lambda a: Object(R.PROVISIONER_JOB, a["organization_id"], org_id=a["organization_id"]),
        A.READ)
    get_latest_provisioner_jobs_by_workers = post_filter(A.READ, job_obj)
    get_provisioner_daemons = post_filter(A.READ, daemon_obj)
    get_version_job_context = system_only()
    get_build_job_context = system_only()
    get_job_archive = system_only()
    get_build_parameter_values = system_only()
    insert_template_version_parameters = system_only()
    insert_template_version_presets = system_only()
    insert_template_version_variables = system_only()
    insert_workspace_resources = system_only()
    update_workspace_build_state = system_only()
    mark_workspace_deleted = system_only()
