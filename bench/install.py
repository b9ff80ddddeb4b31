"""Benchmark: install.sh on a fresh booted Debian 12 host, a rerun, and an upgrade's downtime.

    .venv/bin/python -m bench.install [--rounds 1]

Seals two bundles of the same parts under two versions (tests/packaging/
installkit.py), boots a copy of the minimal Debian 12 root with no route
(tests/hosts.py; needs root, systemd-nspawn and strace, as the booted-host
tests do) and times, inside it:

* ``install.sh --verify-only`` (signature and every file's sha256);
* ``install.sh`` to a healthy coderd (verification, python3 from the bundle's
  apt repository, the single-node playbook, ``/healthz`` over TLS): the
  issue's target is under 60 s;
* ``install.sh`` again (nothing to change);
* the upgrade to the second version with a user in the database, while a
  client in the host asks ``/healthz`` every 100 ms: the longest span with
  no healthy answer is the downtime.

Prints a markdown table (docs/benchmarks.md, "Offline install").
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.hosts import BootedHost, minimal_debian_root
from tests.packaging.installkit import NEW, OLD, OWNER, api, bundles, install_sh, unpack

# Inside the host: ask /healthz every 100 ms until /tmp/stop-poll appears; print each
# answer's time and whether it was healthy.
POLLER = r"""
import os, ssl, time, urllib.request
ctx = ssl.create_default_context()
while not os.path.exists('/tmp/stop-poll'):
    start = time.monotonic()
    try:
        ok = urllib.request.urlopen('https://127.0.0.1/healthz', context=ctx, timeout=1).status == 200
    except Exception:
        ok = False
    print(f'{time.time():.3f} {int(ok)}', flush=True)
    time.sleep(max(0.0, 0.1 - (time.monotonic() - start)))
"""


def timed(host: BootedHost, folder: str, fingerprint: str, *options: str) -> float:
    started = time.monotonic()
    done = install_sh(host, folder, fingerprint, *options, traced=False)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"install.sh {' '.join(options)} failed:\n{done.stdout[-3000:]}{done.stderr}")
    return elapsed


def longest_outage(samples: list[tuple[float, bool]]) -> float:
    """The longest time from the last healthy answer before a failure to the next healthy one."""
    worst, last_ok, failing = 0.0, None, False
    for at, ok in samples:
        if ok:
            if failing and last_ok is not None:
                worst = max(worst, at - last_ok)
            last_ok, failing = at, False
        else:
            failing = True
    if failing:
        raise SystemExit("coderd was not healthy again when the upgrade ended")
    return worst


def one_round(fingerprint: str, tars: dict[str, Path], work: Path) -> dict[str, float]:
    # Untraced: a benchmark measures the install, not the tests' watch on the host.
    with BootedHost(minimal_debian_root(), work / "host", traced=False) as host:
        host.run(["sh", "-c", "echo '127.0.0.1 coder.appliance.test' >> /etc/hosts"])
        old = unpack(host, tars[OLD])
        new = unpack(host, tars[NEW])
        figures = {"verify": timed(host, old, fingerprint, "--verify-only"),
                   "install": timed(host, old, fingerprint),
                   "rerun": timed(host, old, fingerprint)}
        status, _ = api(host, "POST", "/api/v2/users/first", {**OWNER, "trial": False})
        assert status == 201, status
        poller = host.popen(["python3", "-c", POLLER])
        time.sleep(1)
        figures["upgrade"] = timed(host, new, fingerprint)
        time.sleep(1)
        host.run(["touch", "/tmp/stop-poll"])
        out, _ = poller.communicate(timeout=30)
        samples = [(float(t), ok == "1") for t, ok in (line.split() for line in out.splitlines())]
        figures["downtime"] = longest_outage(samples)
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="fresh hosts to install on")
    args = parser.parse_args()
    with bundles() as (fingerprint, tars):
        rounds = []
        for i in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="bench-install-", dir="/var/tmp") as work:
                rounds.append(one_round(fingerprint, tars, Path(work)))
        size = tars[OLD].stat().st_size / 1e6
    print(f"bundle: {size:.0f} MB; {args.rounds} round(s), each on a fresh booted host\n")
    print("| step | seconds (min-max) |\n|---|---|")
    for step, label in [("verify", "install.sh --verify-only"),
                        ("install", "install.sh to a healthy coderd (fresh host)"),
                        ("rerun", "install.sh again (changed=0)"),
                        ("upgrade", f"install.sh upgrade {OLD} -> {NEW}"),
                        ("downtime", "upgrade downtime (longest span without a healthy /healthz)")]:
        values = [r[step] for r in rounds]
        print(f"| {label} | {min(values):.1f}-{max(values):.1f} |")


if __name__ == "__main__":
    main()
