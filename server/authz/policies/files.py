"""Files: uploaded by template admins, read by them (and the provisioner, as system)."""
from ..objects import file_obj
from ..policy import check, fetch
from ..rbac import Action as A, Object, Resource as R


class FilePolicies:
    insert_file = check(lambda a: Object(R.FILE, owner_id=a["created_by"]), A.CREATE)
    get_file_by_id = fetch(A.READ, file_obj)
