# A stand-in for registry.terraform.io's terraform-google-modules/container-vm/google 3.0.0
# (gcp-vm-container calls it): the input and outputs the template uses, values shaped alike.
variable "container" {
  type = any
}

output "container" {
  value = var.container
}

output "source_image" {
  value = "projects/cos-cloud/global/images/cos-stable"
}

output "metadata_value" {
  value = jsonencode({ spec = { containers = [var.container] } })
}

output "vm_container_label" {
  value = "cos-stable"
}
