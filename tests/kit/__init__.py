"""What tests start and drive, in one place (like Coder's coderdtest): a real PostgreSQL
(``postgres``), coderd (``coderd``, ``coderdprobe``), the ``coder`` CLI (``cli``), agents
(``agent``, and ``relay`` for a workspace built by terraform, ``apps`` for its apps as a
browser meets them), provisioner jobs and their tars (``provisioning``), terraform on the
provider (``provider``), the ``local`` example template (``localtemplate``), a Terraform
registry and its GnuPG keys (``tf_registry``), OCI images and container registries
(``imagekit``), the browser and the dashboard's checks (``browser``, ``dashboard``), ending
processes (``process``), and the raw-HTTP, proxy, websocket and transport tools the attack
tests use. Test modules import from here, never from each other."""
