# Parameters whose values the tests set through CODER_PARAMETER_<sha256>.
terraform {
  required_providers {
    coder = { source = "coder/coder" }
  }
}

data "coder_parameter" "region" {
  name    = "region"
  default = "eu"
  option {
    name  = "Europe"
    value = "eu"
  }
  option {
    name  = "United States"
    value = "us"
  }
}

data "coder_parameter" "cpus" {
  name    = "cpus"
  type    = "number"
  default = 2
  validation {
    min       = 1
    max       = 8
    monotonic = "increasing"
  }
}

data "coder_parameter" "disk" {
  name    = "disk"
  type    = "number"
  default = 10
  validation {
    min   = 10
    max   = 100
    error = "disk must be {min} to {max} GB, not {value}"
  }
}

data "coder_parameter" "project" {
  name    = "project"
  default = "demo"
  validation {
    regex = "^[a-z][a-z0-9-]*$"
    error = "lowercase letters, digits and dashes"
  }
}

data "coder_parameter" "gpu" {
  name    = "gpu"
  type    = "bool"
  default = false
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

output "values" {
  value = {
    region  = data.coder_parameter.region.value
    cpus    = data.coder_parameter.cpus.value
    disk    = data.coder_parameter.disk.value
    project = data.coder_parameter.project.value
    gpu     = data.coder_parameter.gpu.value
    tools   = data.coder_parameter.tools.value
  }
}
