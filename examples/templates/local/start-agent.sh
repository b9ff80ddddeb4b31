#!/bin/sh
# Start the workspace agent in a bubblewrap sandbox, detached from terraform.
# Its process group id goes to $PIDFILE so stopping the workspace can end it.
set -eu
mkdir -p "$WORKSPACE_HOME"
LOG="$WORKSPACE_HOME/.coder-agent.log"
if command -v bwrap >/dev/null 2>&1; then
    SANDBOX="bwrap --unshare-all --share-net --die-with-parent --new-session \
        --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/sbin /sbin \
        --symlink usr/lib /lib --symlink usr/lib64 /lib64 --ro-bind /etc /etc \
        --proc /proc --dev /dev --tmpfs /tmp --tmpfs /run \
        --bind $WORKSPACE_HOME /home/coder --chdir /home/coder --setenv HOME /home/coder"
else
    echo "bwrap is not installed: falling back to unshare" >&2
    SANDBOX="unshare --mount --pid --ipc --uts --fork --mount-proc"
fi
export CODER_AGENT_TOKEN INIT_SCRIPT
# shellcheck disable=SC2086
setsid -f sh -c 'echo $$ > "$0"; exec "$@" sh -c "$INIT_SCRIPT"' "$PIDFILE" $SANDBOX \
    </dev/null >>"$LOG" 2>&1
# The pid file appears once the detached shell runs.
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$PIDFILE" ] && exit 0; sleep 0.1; done
echo "the agent did not start: see $LOG" >&2
exit 1
