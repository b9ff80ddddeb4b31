# Every coder_* resource and data source, with null_resource standing in for
# the workspace's compute (counted by start_count, as Coder's templates do).
terraform {
  required_providers {
    coder = { source = "coder/coder", version = ">= 2.0" }
    null  = { source = "hashicorp/null" }
  }
}

provider "coder" {}

data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}
data "coder_provisioner" "me" {}

data "coder_external_auth" "github" {
  id = "github"
}

data "coder_parameter" "region" {
  name         = "region"
  display_name = "Region"
  description  = "Where the workspace runs."
  default      = "eu"
  mutable      = true
  icon         = "/icon/region.svg"
  order        = 1
  option {
    name  = "Europe"
    value = "eu"
  }
  option {
    name        = "United States"
    value       = "us"
    description = "Virginia"
  }
}

data "coder_parameter" "cpus" {
  name    = "cpus"
  type    = "number"
  default = 2
  mutable = true
  validation {
    min       = 1
    max       = 8
    monotonic = "increasing"
  }
}

data "coder_parameter" "project" {
  name = "project"
  validation {
    regex = "^[a-z][a-z0-9-]*$"
    error = "lowercase letters, digits and dashes"
  }
}

data "coder_parameter" "debug" {
  name      = "debug"
  type      = "bool"
  default   = false
  mutable   = true
  ephemeral = true
}

data "coder_parameter" "tools" {
  name      = "tools"
  type      = "list(string)"
  form_type = "multi-select"
  default   = jsonencode(["git"])
  option {
    name  = "Git"
    value = "git"
  }
  option {
    name  = "Make"
    value = "make"
  }
}

resource "coder_agent" "main" {
  os                      = "linux"
  arch                    = data.coder_provisioner.me.arch
  dir                     = "/home/coder"
  startup_script          = "echo started"
  startup_script_behavior = "blocking"
  shutdown_script         = "echo stopping"
  connection_timeout      = 60
  troubleshooting_url     = "https://example.invalid/help"
  motd_file               = "/etc/motd"
  order                   = 1
  env = {
    PROJECT = data.coder_parameter.project.value
  }
  metadata {
    key          = "0_cpu"
    display_name = "CPU Usage"
    script       = "coder stat cpu"
    interval     = 10
    timeout      = 1
  }
  display_apps {
    vscode          = false
    vscode_insiders = true
  }
}

resource "coder_agent_instance" "main" {
  agent_id    = coder_agent.main.id
  instance_id = "i-0123456789"
}

resource "coder_app" "code" {
  agent_id     = coder_agent.main.id
  slug         = "code-server"
  display_name = "VS Code Web"
  url          = "http://localhost:13337/?folder=/home/coder"
  icon         = "/icon/code.svg"
  subdomain    = false
  share        = "authenticated"
  order        = 2
  group        = "editors"
  open_in      = "tab"
  healthcheck {
    url       = "http://localhost:13337/healthz"
    interval  = 5
    threshold = 6
  }
}

resource "coder_app" "shell" {
  agent_id = coder_agent.main.id
  slug     = "shell"
  command  = "bash -l"
  hidden   = true
}

resource "coder_app" "docs" {
  agent_id = coder_agent.main.id
  slug     = "docs"
  url      = "https://example.invalid/docs"
  external = true
}

resource "coder_script" "dotfiles" {
  agent_id           = coder_agent.main.id
  display_name       = "Dotfiles"
  script             = "echo dotfiles"
  run_on_start       = true
  start_blocks_login = true
  timeout            = 30
  log_path           = "dotfiles.log"
  icon               = "/icon/dotfiles.svg"
}

resource "coder_script" "backup" {
  agent_id     = coder_agent.main.id
  display_name = "Backup"
  script       = "echo backup"
  cron         = "0 0 * * * *"
}

resource "coder_env" "region" {
  agent_id = coder_agent.main.id
  name     = "REGION"
  value    = data.coder_parameter.region.value
}

resource "coder_env" "path" {
  agent_id       = coder_agent.main.id
  name           = "PATH"
  value          = "/opt/tools/bin"
  merge_strategy = "prepend"
}

resource "null_resource" "home" {}

resource "null_resource" "workspace" {
  count = data.coder_workspace.me.start_count
  triggers = {
    token       = coder_agent.main.token
    init_script = coder_agent.main.init_script
  }
}

resource "coder_metadata" "workspace" {
  count       = data.coder_workspace.me.start_count
  resource_id = null_resource.workspace[0].id
  icon        = "/icon/memory.svg"
  daily_cost  = 20
  item {
    key   = "region"
    value = data.coder_parameter.region.value
  }
  item {
    key       = "token"
    value     = "secret"
    sensitive = true
  }
  item {
    key = "unset"
  }
}

output "workspace" {
  value = {
    name        = data.coder_workspace.me.name
    start_count = data.coder_workspace.me.start_count
  }
}
