"""Terraform provider mirrors: registry client, verification, hashes, layouts."""
