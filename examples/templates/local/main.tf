# A workspace that is a sandboxed process on the provisioner's own machine.
#
# The home folder is persistent: it survives stop and start, and only
# deleting the workspace removes it. The agent runs inside bubblewrap (its
# own mount, PID, IPC and UTS namespaces; the network is shared so it can
# reach coderd), started on start and stopped on stop (SIGTERM to the agent,
# so its shutdown scripts run, then SIGKILL to what is left).
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
  home      = "${var.workspaces_dir}/${data.coder_workspace_owner.me.name}/${data.coder_workspace.me.id}"
  pidfile   = "${local.home}.pid"
  tokenfile = "${local.home}.token"
  # The sandbox's systemd user unit, where the provisioner's user has a user manager.
  unit = "coder-workspace-${data.coder_workspace.me.id}.service"
  # Workspaces share the machine's network: each gets its own port for the Files app.
  files_port = 20000 + parseint(substr(data.coder_workspace.me.id, 0, 4), 16) % 10000
}

resource "coder_agent" "main" {
  os   = "linux"
  arch = data.coder_provisioner.me.arch
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
# The Files app: the home folder over HTTP, through coderd (an app to start from).
resource "coder_script" "files" {
  agent_id     = coder_agent.main.id
  display_name = "Files app"
  run_on_start = true
  script       = <<-EOT
    if command -v python3 >/dev/null 2>&1; then
      nohup python3 -m http.server --bind 127.0.0.1 --directory "$HOME" ${local.files_port} \
        >/tmp/files-app.log 2>&1 &
    elif command -v busybox >/dev/null 2>&1; then
      busybox httpd -p 127.0.0.1:${local.files_port} -h "$HOME"
    else
      echo "neither python3 nor busybox is installed: the Files app has no server" >&2
    fi
  EOT
}

resource "coder_app" "files" {
  agent_id     = coder_agent.main.id
  slug         = "files"
  display_name = "Files"
  icon         = "/icon/folder.svg"
  url          = "http://127.0.0.1:${local.files_port}/"
  share        = "owner"
  healthcheck {
    url       = "http://127.0.0.1:${local.files_port}/"
    interval  = 5
    threshold = 6
  }
}

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
    token     = coder_agent.main.token
    pidfile   = local.pidfile
    tokenfile = local.tokenfile
    unit      = local.unit
  }
  provisioner "local-exec" {
    command = "sh '${path.module}/start-agent.sh'"
    environment = {
      CODER_AGENT_TOKEN  = coder_agent.main.token
      INIT_SCRIPT        = coder_agent.main.init_script
      WORKSPACE_HOME     = local.home
      WORKSPACE_HOSTNAME = lower(data.coder_workspace.me.name)
      PIDFILE            = local.pidfile
      TOKENFILE          = local.tokenfile
      WORKSPACE_UNIT     = local.unit
    }
  }
  provisioner "local-exec" {
    when    = destroy
    command = "sh '${path.module}/stop-agent.sh' '${self.triggers.pidfile}' '${self.triggers.tokenfile}' '${self.triggers.unit}'"
  }
}
