"""API keys: their owner's (and, by the role hierarchy, those who may change the owner);
authentication and use are coderd's own."""
from ..objects import api_key_obj, owned
from ..policy import fetch, key_change, post_filter, system_only, user_change
from ..rbac import Action as A, Resource as R


class APIKeyPolicies:
    insert_api_key = user_change(owned(R.API_KEY), A.CREATE)
    get_api_key_by_id = fetch(A.READ, api_key_obj)
    get_api_key_by_name = fetch(A.READ, api_key_obj)
    get_api_keys_by_user = post_filter(A.READ, api_key_obj)
    get_api_keys_by_login_type = post_filter(A.READ, api_key_obj)
    get_authentication = system_only()
    update_api_key_used = system_only()
    expire_api_key = key_change(A.UPDATE)  # as Coder's UpdateAPIKeyByID
    delete_api_key = key_change(A.DELETE)
    delete_api_keys_by_user = user_change(owned(R.API_KEY), A.DELETE)
