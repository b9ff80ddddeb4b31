# A workspace that is a podman container, from an image in the network's own registry.
#
# The home folder is a podman volume: it survives stop and start, and only
# deleting the workspace removes it. The container runs the agent's init
# script and is removed on stop. Podman runs with runc, cgroupfs and the host
# network (its bridge network rewrites the host firewall), so the agent
# reaches coderd as the provisioner's machine does: the podman service of the
# provisioner's user where it has one (podman.sh), podman itself otherwise.
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

variable "podman_options" {
  type        = string
  description = "Global podman options for the provisioner's machine (unused where its user runs a podman service)."
  default     = "--runtime runc --cgroup-manager cgroupfs --storage-driver vfs"
}

data "coder_provisioner" "me" {}
data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}

data "coder_parameter" "image" {
  name         = "image"
  display_name = "Image"
  description  = "Container image, from the registry inside this network."
  default      = "registry.internal:5000/coder/base:latest"
  mutable      = true
}

locals {
  name   = "coder-${data.coder_workspace.me.id}"
  volume = "coder-${data.coder_workspace.me.id}-home"
  # podman.sh: the user's podman service where there is one, podman itself otherwise.
  podman = "PODMAN_OPTIONS='${var.podman_options}' sh '${path.module}/podman.sh'"
  # Registries on this machine's loopback are plain HTTP; the rest need TLS
  # (trust the appliance CA under /etc/containers/certs.d/HOST:PORT/ca.crt).
  tls_verify = length(regexall("^(127\\.|localhost[:/])", data.coder_parameter.image.value)) == 0
  # Containers share the machine's network: each gets its own port for the Files app.
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
    echo "Welcome to ${data.coder_workspace.me.name}."
  EOT
}

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

# Persistent: the home volume.
resource "null_resource" "home" {
  triggers = {
    volume = local.volume
    podman = local.podman
  }
  provisioner "local-exec" {
    command = "${self.triggers.podman} volume exists ${self.triggers.volume} || ${self.triggers.podman} volume create ${self.triggers.volume}"
  }
  provisioner "local-exec" {
    when    = destroy
    command = "${self.triggers.podman} volume rm -f ${self.triggers.volume}"
  }
}

# Ephemeral: the container, only while the workspace runs.
resource "null_resource" "container" {
  count      = data.coder_workspace.me.start_count
  depends_on = [null_resource.home]
  triggers = {
    token  = coder_agent.main.token
    image  = data.coder_parameter.image.value
    name   = local.name
    podman = local.podman
  }
  provisioner "local-exec" {
    command = <<-EOT
      ${local.podman} rm -f ${local.name} >/dev/null 2>&1 || true
      # The container trusts what this machine trusts (the network's own CA, which coderd's
      # certificate comes from): its trust store, read-only, for the agent's TLS.
      TRUST=""
      if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        TRUST="-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro -e SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
      fi
      ${local.podman} run -d --name ${local.name} --hostname ${lower(data.coder_workspace.me.name)} \
        --network host --tls-verify=${local.tls_verify} \
        --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
        --label coder.workspace_id=${data.coder_workspace.me.id} \
        -e CODER_AGENT_TOKEN -e HOME=/home/coder -v ${local.volume}:/home/coder $TRUST \
        ${data.coder_parameter.image.value} sh -c "$INIT_SCRIPT"
    EOT
    environment = {
      CODER_AGENT_TOKEN = coder_agent.main.token
      INIT_SCRIPT       = coder_agent.main.init_script
    }
  }
  provisioner "local-exec" {
    when    = destroy
    command = "${self.triggers.podman} rm -f -t 10 ${self.triggers.name}"
  }
}

resource "coder_metadata" "container" {
  count       = data.coder_workspace.me.start_count
  resource_id = null_resource.container[0].id
  item {
    key   = "image"
    value = data.coder_parameter.image.value
  }
}
