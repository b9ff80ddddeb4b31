#!/bin/sh
# podman, for this template's commands.
#
# Where the provisioner's user has a podman service in its systemd user
# manager (the appliance's installer starts one for coderd's user), ask it
# (podman --remote): the containers are then that service's, outside the
# provisioner's own service sandbox, and keep running while coderd restarts
# or is upgraded. Elsewhere, podman itself with $PODMAN_OPTIONS (the
# template's podman_options).
socket="${XDG_RUNTIME_DIR:-/nonexistent}/podman/podman.sock"
if [ -S "$socket" ]; then
    exec podman --remote --url "unix://$socket" "$@"
fi
# shellcheck disable=SC2086  # the options are separate words
exec podman $PODMAN_OPTIONS "$@"
