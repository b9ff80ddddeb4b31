"""Git SSH keys: the user's own personal data (Coder's user_data), made by coderd itself
(at user creation, or first use for older users); an agent reaches its owner's through
get_workspace_agent_owner_id, as the system."""
from ..objects import user_arg
from ..policy import agent_self, check, system_only, user_change
from ..rbac import Action as A


class GitSSHKeyPolicies:
    get_git_ssh_key = check(user_arg(), A.READ_PERSONAL)
    insert_git_ssh_key = system_only()
    update_git_ssh_key = user_change(user_arg(), A.UPDATE_PERSONAL)
    get_workspace_agent_owner_id = agent_self()
