#!/bin/bash
# bootstrap-python.sh REPO [PROG]: python3 and python3-apt, which Ansible needs on the host it
# manages, from the bundle's apt repository REPO (a bundle's apt/ folder) and nothing else.
#
# Ansible cannot install the Python it runs its modules with, so this runs without it: install.sh
# runs it on its own host before Ansible starts, and the appliance_files role on a host reached
# over SSH (with ansible.builtin.script, which needs no Python there) once the verified bundle
# is on that host. Errors are one line, `PROG: error: apt: what` (PROG: this script's name).
set -euo pipefail
REPO=$1 PROG=${2:-bootstrap-python.sh}
APT_KEYRING=/etc/apt/keyrings/coder-appliance.gpg
APT_STATE=/var/lib/coder-appliance-apt

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

if python3 -c 'import apt' 2>/dev/null; then exit 0; fi
((EUID == 0)) || die "usage: python3 and python3-apt are missing: run as root to install them"
echo "$PROG: installing python3 from the bundle's apt repository"
list=$APT_STATE/bootstrap.list
mkdir -p "$APT_STATE/lists/partial"
echo "deb [signed-by=$APT_KEYRING] file:$REPO bookworm main" >"$list"
install -D -m 0644 -- "$REPO/keyring.gpg" "$APT_KEYRING"
apt=(apt-get -q -o "Dir::Etc::SourceList=$list" -o Dir::Etc::SourceParts=-
    -o "Dir::State::Lists=$APT_STATE/lists" -o Acquire::Languages=none)
"${apt[@]}" update >/dev/null || die "apt: the bundle's repository could not be read"
DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends python3 python3-apt \
    >/dev/null || die "apt: python3 could not be installed from the bundle's repository"
