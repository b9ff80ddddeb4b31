"""The audit log: written by coderd, read by those who may read it (owners, auditors)."""
from ..policy import check, system_only
from ..rbac import Action as A, Object, Resource as R


class AuditPolicies:
    insert_audit_log = system_only()
    get_audit_logs = check(lambda a: Object(R.AUDIT_LOG), A.READ)
