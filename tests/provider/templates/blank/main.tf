# Only the provider requirements; tests add the resources to check.
terraform {
  required_providers {
    coder = { source = "coder/coder" }
  }
}
