# A workspace that is a sandboxed process on the provisioner's own machine.
#
# The home folder is persistent: it survives stop and start, and only
# deleting the workspace removes it. The agent runs inside bubblewrap (its
# own mount, PID, IPC and UTS namespaces; the network is shared so it can
# reach coderd), started on start and killed on stop.
terraform {
  required_providers {
    coder = {
      source = "coder/coder"
    }
    null = {
      source = "hashicorp/null"
    }
  }
}

variable "workspaces_dir" {
  type        = string
  description = "Folder on the provisioner's machine that holds the workspaces' home folders."
  default     = "/var/lib/coder-appliance/workspaces"
}

data "coder_provisioner" "me" {}
data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}

locals {
  home    = "${var.workspaces_dir}/${data.coder_workspace_owner.me.name}/${data.coder_workspace.me.id}"
  pidfile = "${local.home}.pid"
}

resource "coder_agent" "main" {
  os   = "linux"
  arch = data.coder_provisioner.me.arch
  dir  = "/home/coder"
  env = {
    GIT_AUTHOR_NAME  = coalesce(data.coder_workspace_owner.me.full_name, data.coder_workspace_owner.me.name)
    GIT_AUTHOR_EMAIL = data.coder_workspace_owner.me.email
  }
  startup_script = <<-EOT
    set -e
    echo "Welcome to ${data.coder_workspace.me.name}."
  EOT

  metadata {
    display_name = "Load average"
    key          = "load"
    script       = "cut -d' ' -f1 /proc/loadavg"
    interval     = 30
    timeout      = 1
  }
}

# Persistent: the home folder.
resource "null_resource" "home" {
  triggers = {
    path = local.home
  }
  provisioner "local-exec" {
    command = "mkdir -p '${self.triggers.path}'"
  }
  provisioner "local-exec" {
    when    = destroy
    command = "rm -rf '${self.triggers.path}'"
  }
}

# Ephemeral: the sandboxed agent process, only while the workspace runs.
resource "null_resource" "agent" {
  count      = data.coder_workspace.me.start_count
  depends_on = [null_resource.home]
  triggers = {
    token   = coder_agent.main.token
    pidfile = local.pidfile
  }
  provisioner "local-exec" {
    command = "sh '${path.module}/start-agent.sh'"
    environment = {
      CODER_AGENT_TOKEN = coder_agent.main.token
      INIT_SCRIPT       = coder_agent.main.init_script
      WORKSPACE_HOME    = local.home
      PIDFILE           = local.pidfile
    }
  }
  provisioner "local-exec" {
    when    = destroy
    command = "sh -c 'if [ -f \"$0\" ]; then kill -TERM -\"$(cat \"$0\")\" 2>/dev/null || true; rm -f \"$0\"; fi' '${self.triggers.pidfile}'"
  }
}
