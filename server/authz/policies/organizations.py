"""Organizations and their members; a change to a member follows the role hierarchy."""
from ..objects import member_obj, org_obj
from ..policy import check, fetch, post_filter, user_change
from ..rbac import Action as A, Object, Resource as R


def _member_arg(a: dict) -> Object:
    return Object(R.ORGANIZATION_MEMBER, a["user_id"], owner_id=a["user_id"],
                  org_id=a["organization_id"])


class OrganizationPolicies:
    insert_organization = check(lambda a: Object(R.ORGANIZATION), A.CREATE)
    get_default_organization = fetch(A.READ, org_obj)
    get_organization_by_id = fetch(A.READ, org_obj)
    get_organization_by_name = fetch(A.READ, org_obj)
    get_organizations = post_filter(A.READ, org_obj)
    get_organizations_by_user = post_filter(A.READ, org_obj)
    insert_organization_member = user_change(_member_arg, A.CREATE)
    get_organization_member = fetch(A.READ, member_obj)
    get_organization_members = post_filter(A.READ, member_obj)
    update_organization_member_roles = user_change(_member_arg, A.UPDATE)
    delete_organization_member = user_change(_member_arg, A.DELETE)
