# The coder_* side of Coder's "docker" example template (examples/templates/docker
# in coder/coder): the same data sources, agent (startup script, git identity
# from the owner, `coder stat` metadata), code-server app with a health check,
# and the same wiring of the agent's init_script and token into the container.
# Only the docker_volume and docker_container resources are null_resource here,
# with their coder-facing arguments kept as triggers.
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

locals {
  username = data.coder_workspace_owner.me.name
}

data "coder_provisioner" "me" {}
data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}

resource "coder_agent" "main" {
  arch           = data.coder_provisioner.me.arch
  os             = "linux"
  startup_script = <<-EOT
    set -e

    # Prepare user home with default files on first start.
    if [ ! -f ~/.init_done ]; then
      cp -rT /etc/skel ~
      touch ~/.init_done
    fi
  EOT

  env = {
    GIT_AUTHOR_NAME     = coalesce(data.coder_workspace_owner.me.full_name, data.coder_workspace_owner.me.name)
    GIT_AUTHOR_EMAIL    = "${data.coder_workspace_owner.me.email}"
    GIT_COMMITTER_NAME  = coalesce(data.coder_workspace_owner.me.full_name, data.coder_workspace_owner.me.name)
    GIT_COMMITTER_EMAIL = "${data.coder_workspace_owner.me.email}"
  }

  metadata {
    display_name = "CPU Usage"
    key          = "0_cpu_usage"
    script       = "coder stat cpu"
    interval     = 10
    timeout      = 1
  }

  metadata {
    display_name = "RAM Usage"
    key          = "1_ram_usage"
    script       = "coder stat mem"
    interval     = 10
    timeout      = 1
  }

  metadata {
    display_name = "Home Disk"
    key          = "3_home_disk"
    script       = "coder stat disk --path $${HOME}"
    interval     = 60
    timeout      = 1
  }

  metadata {
    display_name = "Load Average (Host)"
    key          = "6_load_host"
    # get load avg scaled by number of cores
    script   = <<EOT
      echo "`cat /proc/loadavg | awk '{ print $1 }'` `nproc`" | awk '{ printf "%0.2f", $1/$2 }'
    EOT
    interval = 60
    timeout  = 1
  }
}

resource "coder_app" "code-server" {
  agent_id     = coder_agent.main.id
  slug         = "code-server"
  display_name = "code-server"
  url          = "http://localhost:13337/?folder=/home/${local.username}"
  icon         = "/icon/code.svg"
  subdomain    = false
  share        = "owner"

  healthcheck {
    url       = "http://localhost:13337/healthz"
    interval  = 5
    threshold = 6
  }
}

# docker_volume "home_volume" in the original: persistent, kept across stop.
resource "null_resource" "home_volume" {
  triggers = {
    name     = "coder-${data.coder_workspace.me.id}-home"
    owner    = data.coder_workspace_owner.me.name
    owner_id = data.coder_workspace_owner.me.id
  }
  lifecycle {
    ignore_changes = all
  }
}

# docker_container "workspace" in the original: exists only while started.
resource "null_resource" "workspace" {
  count = data.coder_workspace.me.start_count
  triggers = {
    name       = "coder-${data.coder_workspace_owner.me.name}-${lower(data.coder_workspace.me.name)}"
    hostname   = data.coder_workspace.me.name
    entrypoint = jsonencode(["sh", "-c", replace(coder_agent.main.init_script, "/localhost|127\\.0\\.0\\.1/", "host.docker.internal")])
    env        = jsonencode(["CODER_AGENT_TOKEN=${coder_agent.main.token}"])
    volume     = null_resource.home_volume.triggers.name
  }
}
