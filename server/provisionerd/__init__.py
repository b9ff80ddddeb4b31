"""Provisioner daemons: take jobs from coderd over HTTP(S) and run terraform."""
