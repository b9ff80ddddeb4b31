"""The dashboard's reads: appearance and preferences are the user's own (read_personal /
update_personal, the role hierarchy for others'); timings are read as the job they belong
to; only the provisioner writes a job's, and only the agent its own scripts'."""
from ..objects import user_arg
from ..policy import agent_self, check, system_only, user_change, via_job
from ..rbac import Action as A


class DashboardPolicies:
    get_user_appearance = check(user_arg(), A.READ_PERSONAL)
    update_user_appearance = user_change(user_arg(), A.UPDATE_PERSONAL, A.UPDATE)
    get_user_preferences = check(user_arg(), A.READ_PERSONAL)
    update_user_preferences = user_change(user_arg(), A.UPDATE_PERSONAL, A.UPDATE)
    get_deployment_stats = system_only()
    insert_provisioner_job_timings = system_only()
    get_provisioner_job_timings = via_job(A.READ)
    insert_workspace_agent_script_timing = agent_self()
    get_workspace_agent_script_timings = via_job(A.READ)
    get_workspace_agent_connection_timings = via_job(A.READ)
