"""The init scripts behind ``coder_agent.init_script``.

coderd hands one script per platform to terraform as
``CODER_AGENT_SCRIPT_<os>_<arch>``; the provider fills in ``${ACCESS_URL}``
and ``${AUTH_TYPE}``. The script downloads the agent from this coderd's
``/bin/`` (never from the internet) with curl or wget, retrying while coderd
is unreachable, and runs it.
"""
from __future__ import annotations

UNIX_SCRIPT = r"""#!/usr/bin/env sh
# coder-appliance agent bootstrap: fetch the agent from coderd and run it.
set -eu
waitonexit() {
    echo "=== The agent script exited with $?; sleeping an hour to keep its logs."
    sleep 3600
}
trap waitonexit EXIT
BINARY_DIR="${CODER_AGENT_BINARY_DIR:-$(mktemp -d -t coder.XXXXXX)}"
BINARY_URL="${ACCESS_URL}bin/coder-agent-__OS__-__ARCH__"
CA_ARGS_CURL=""
CA_ARGS_WGET=""
if [ -n "${CODER_AGENT_CA_FILE:-}" ]; then
    CA_ARGS_CURL="--cacert ${CODER_AGENT_CA_FILE}"
    CA_ARGS_WGET="--ca-certificate=${CODER_AGENT_CA_FILE}"
fi
cd "$BINARY_DIR"
while :; do
    if command -v curl >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        curl -fsSL --compressed $CA_ARGS_CURL "$BINARY_URL" -o coder-agent && break
    elif command -v wget >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        wget -q $CA_ARGS_WGET "$BINARY_URL" -O coder-agent && break
    else
        echo "error: neither curl nor wget is installed" >&2
        exit 1
    fi
    echo "warning: downloading the agent from $BINARY_URL failed; retrying in 5s" >&2
    sleep 5
done
chmod +x coder-agent
export CODER_AGENT_AUTH="${AUTH_TYPE}"
export CODER_AGENT_URL="${ACCESS_URL}"
trap - EXIT
exec ./coder-agent agent
"""

PLATFORMS = [(os_, arch) for os_ in ("linux", "darwin") for arch in ("amd64", "arm64", "armv7")
             if not (os_ == "darwin" and arch == "armv7")]


def agent_scripts() -> dict[str, str]:
    """``{"linux_amd64": script, ...}`` for every platform an agent can run on."""
    return {f"{os_}_{arch}": UNIX_SCRIPT.replace("__OS__", os_).replace("__ARCH__", arch)
            for os_, arch in PLATFORMS}
