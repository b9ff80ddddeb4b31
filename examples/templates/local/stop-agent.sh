#!/bin/sh
# Stop the sandbox start-agent.sh started: SIGTERM to the agent first, so it
# runs the run_on_stop scripts and reports "off", then, once the sandbox has
# ended or after GRACE seconds, SIGKILL to whatever is left (in start-agent.sh's
# user unit UNIT too, where it made one).
#
#   stop-agent.sh PIDFILE TOKENFILE UNIT [GRACE]
set -u
PIDFILE=$1 TOKENFILE=$2 UNIT=$3 GRACE=${4:-30}
# Alive and not a zombie (whoever adopted the detached sandbox may be slow to reap).
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat"; }
children() { cat "/proc/$1/task/$1/children" 2>/dev/null || true; }
# The topmost coder-agent below $1 (the shell, bwrap, then its init in the new PID namespace).
agent_below() {
    for child in $(children "$1"); do
        if [ "$(cat "/proc/$child/comm" 2>/dev/null)" = coder-agent ]; then echo "$child"; return; fi
        agent_below "$child"
    done
}
if [ -s "$PIDFILE" ]; then
    pid=$(cat "$PIDFILE")
    agent=$(agent_below "$pid")
    [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null
    ticks=0
    while alive "$pid" && [ "$ticks" -lt $((GRACE * 10)) ]; do sleep 0.1; ticks=$((ticks + 1)); done
    kill -KILL -"$pid" 2>/dev/null
fi
if [ -S "${XDG_RUNTIME_DIR:-/nonexistent}/systemd/private" ]; then
    systemctl --user kill --quiet --signal=SIGKILL "$UNIT" 2>/dev/null
fi
rm -f "$PIDFILE" "$TOKENFILE"
exit 0
