"""Users: anyone may read those they can see; changes follow the role hierarchy."""
from ..objects import user_arg, user_obj
from ..policy import check, fetch, post_filter, system_only, user_change
from ..rbac import Action as A, Object, Resource as R


class UserPolicies:
    insert_user = check(lambda a: Object(R.USER), A.CREATE)
    get_user_by_id = fetch(A.READ, user_obj)
    get_user_by_username = fetch(A.READ, user_obj)
    get_user_by_email_or_username = system_only()
    get_user_count = system_only()
    get_users = post_filter(A.READ, user_obj)
    update_user_status = user_change(user_arg(), A.UPDATE)
    update_user_hashed_password = user_change(user_arg(), A.UPDATE_PERSONAL, A.UPDATE)
    update_user_roles = user_change(user_arg(), A.UPDATE)
    update_user_profile = user_change(user_arg(), A.UPDATE_PERSONAL, A.UPDATE)
    update_user_last_seen = system_only()
    delete_user = user_change(user_arg(), A.DELETE)
