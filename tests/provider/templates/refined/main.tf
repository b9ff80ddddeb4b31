# Values built from each.key: unknown during `terraform validate`, and from
# terraform 1.6 on, unknowns refined with facts (msgpack extension 12), e.g.
# "not null" for lower(each.key). Every check must wait for the known value.
terraform {
  required_providers {
    coder = { source = "coder/coder" }
  }
}

locals {
  apps = { Code = "http://localhost:13337", Jupyter = "http://localhost:8888" }
}

resource "coder_agent" "main" {
  for_each = toset(["Linux"])
  os       = lower(each.key)
  arch     = "amd64"
  metadata {
    key      = lower(each.key)
    script   = "true"
    interval = 10
  }
}

resource "coder_app" "apps" {
  for_each     = local.apps
  agent_id     = coder_agent.main["Linux"].id
  slug         = lower(each.key)
  display_name = each.key
  url          = each.value
  share        = lower("OWNER")
}

resource "coder_env" "env" {
  for_each = local.apps
  agent_id = coder_agent.main["Linux"].id
  name     = upper(each.key)
  value    = each.value
}

resource "coder_script" "cron" {
  for_each     = toset(["0 0 * * * *"])
  agent_id     = coder_agent.main["Linux"].id
  display_name = "cron"
  script       = "true"
  cron         = trimspace(each.key)
}

data "coder_parameter" "choice" {
  for_each  = toset(["Region"])
  name      = lower(each.key)
  type      = lower("STRING")
  form_type = lower("DROPDOWN")
  default   = "eu"
  option {
    name  = "Europe"
    value = lower(each.key) == "region" ? "eu" : "us"
  }
}

output "slugs" {
  value = sort([for app in coder_app.apps : app.slug])
}
