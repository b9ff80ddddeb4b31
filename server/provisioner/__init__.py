"""coderd's side of provisioning: handing jobs to daemons and storing their results."""
