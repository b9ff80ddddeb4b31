#!/bin/sh
# Start the workspace agent in a bubblewrap sandbox, detached from terraform.
#
# Where the provisioner's user has a systemd user manager (the appliance's
# coderd service does: its workspaces must outlive a restart of coderd, whose
# service cgroup systemd ends with it), the sandbox is the transient user unit
# $WORKSPACE_UNIT; elsewhere it is a process of its own session.
#
# The sandbox gets a clean environment (not terraform's, which holds Coder's
# provisioning variables, among them the owner's session token): the agent
# reads its token from a file bound read-only at /run/coder-agent/token. The
# process id of the shell that runs bwrap goes to $PIDFILE so stop-agent.sh can
# end it. The shell waits for bwrap rather than becoming it: bwrap's
# --die-with-parent (which ends the sandbox when bwrap is killed) would also kill
# bwrap itself when setsid's short-lived parent exits after bwrap starts (seen
# for 2 starts in 300 on an idle machine, 1 in 3 on a busy one).
set -eu
command -v bwrap >/dev/null 2>&1 || { echo "bwrap is not installed (apt-get install bubblewrap)" >&2; exit 1; }
mkdir -p "$WORKSPACE_HOME"
LOG="$WORKSPACE_HOME/.coder-agent.log"
(umask 077 && printf '%s\n' "$CODER_AGENT_TOKEN" > "$TOKENFILE")
set -- bwrap --unshare-all --share-net --die-with-parent --new-session \
    --hostname "$WORKSPACE_HOSTNAME" \
    --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/sbin /sbin \
    --symlink usr/lib /lib --symlink usr/lib64 /lib64 --ro-bind /etc /etc \
    --proc /proc --dev /dev --tmpfs /tmp --tmpfs /run \
    --bind "$WORKSPACE_HOME" /home/coder --ro-bind "$TOKENFILE" /run/coder-agent/token \
    --chdir /home/coder --clearenv \
    --setenv HOME /home/coder --setenv PATH /usr/local/bin:/usr/bin:/bin \
    --setenv LANG C.UTF-8 --setenv CODER_AGENT_TOKEN_FILE /run/coder-agent/token \
    sh -c "$INIT_SCRIPT"
if [ -S "${XDG_RUNTIME_DIR:-/nonexistent}/systemd/private" ] && command -v systemd-run >/dev/null 2>&1; then
    # A sandbox left running by an earlier start would hold the same token.
    systemctl --user stop --quiet "$WORKSPACE_UNIT" 2>/dev/null || true
    systemd-run --user --quiet --collect --unit "$WORKSPACE_UNIT" \
        -p StandardInput=null -p StandardOutput="append:$LOG" -p StandardError="append:$LOG" \
        sh -c 'echo $$ > "$0"; "$@"; exit $?' "$PIDFILE" "$@"
else
    # Only the log: descriptors terraform leaves open (its own output pipes, under
    # terraform 1.0) would keep the build waiting for as long as the agent runs.
    setsid -f sh -c 'echo $$ > "$0"; "$@"; exit $?' "$PIDFILE" "$@" </dev/null >>"$LOG" 2>&1 \
        3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
fi
# The pid file appears once the detached shell runs.
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$PIDFILE" ] && exit 0; sleep 0.1; done
echo "the agent did not start: see $LOG" >&2
exit 1
