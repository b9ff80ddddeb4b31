"""The terraform runner's output pump: lines as they come, and no wait for a pipe a background process holds."""
from __future__ import annotations

import subprocess
import time

from server.provisionerd.terraform import pump_lines


def test_pump_stops_when_the_process_exits_though_a_child_holds_the_pipes():
    # What a template's local-exec does under terraform 1.0: it detaches a
    # long-lived process that inherits terraform's output pipes.
    proc = subprocess.Popen(["sh", "-c", "echo one; echo two >&2; sleep 60 & printf 'last'"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    out, err = [], []
    start = time.monotonic()
    try:
        pump_lines(proc, {proc.stdout: out.append, proc.stderr: err.append})
        elapsed = time.monotonic() - start
    finally:
        subprocess.run(["pkill", "-g", str(proc.pid), "sleep"], check=False)
    assert proc.wait(5) == 0
    assert out == ["one", "last"] and err == ["two"]
    assert elapsed < 5, f"the pump waited {elapsed:.1f}s for a pipe the child held"


def test_pump_reads_everything_a_chatty_process_writes():
    script = "i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done"
    proc = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out: list[str] = []
    pump_lines(proc, {proc.stdout: out.append, proc.stderr: out.append})
    assert proc.wait(5) == 0
    assert out == [f"line-{i}" for i in range(20000)]
