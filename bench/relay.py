"""Relay benchmark: SSH throughput, port-forward latency and idle agents per coderd process.

Each figure is measured against the same thing without the relay, in the same run:

- SSH throughput: ``cat`` of 256 MB (``head -c`` from /dev/zero, both directions)
  through the real OpenSSH client with ``coder config-ssh``'s entry (ProxyCommand
  with ProxyUseFdpass), with a plain ``coder ssh --stdio`` ProxyCommand, and
  through ``coder ssh`` (paramiko), against OpenSSH straight to the agent's
  SSH server (``CODER_AGENT_SSH_DIRECT_PORT``).
- Latency: 1-byte echo round trips through ``coder port-forward`` against the
  echo server reached directly (median and p99).
- Idle agents: N lightweight fake agents (one gevent process) hold the relay
  websocket, answer keepalives and report stats every interval, as real agents
  do; coderd's memory per agent and the API's p99 under wrk with and without them.

PostgreSQL (Debian's) and coderd (one process, pywsgi) run on loopback; the
workspace is built by the real provisioner with real terraform. Rerun with:

    .venv/bin/python -m bench.relay [--size-mb 256] [--agents 2000] [--round-trips 2000]

and paste the printed tables into docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# -- the fake agents (a child process of their own, under gevent) --------------------------
def fake_agents(url: str, tokens_file: str, interval: float, ramp: float) -> int:
    """Hold one relay connection per token; report stats every ``interval``; print
    ``connected N`` once all are up, then run until stdin closes."""
    from gevent import monkey

    monkey.patch_all()
    import gevent
    import requests

    import websocket

    from agent.relay import RELAY_PATH, SESSION_HEADER
    from appliance import mux, wsframes

    tokens = Path(tokens_file).read_text().split()
    ws_url = url.replace("http://", "ws://", 1) + RELAY_PATH
    up = []
    failures = []

    def one(token: str) -> None:
        try:
            ws = websocket.create_connection(ws_url, header={SESSION_HEADER: token}, timeout=60,
                                             enable_multithread=True)
            ws.settimeout(None)
        except Exception as exc:  # counted and shown: a refused agent is a result
            failures.append(str(exc))
            return
        session = mux.Session(wsframes.client_stream(ws), name="fake", keepalive=15)
        gevent.spawn(session.serve)
        up.append(token)
        http = requests.Session()
        body = {"connections_by_proto": {}, "connection_count": 0, "rx_bytes": 0, "tx_bytes": 0}
        while not session.closed:
            gevent.sleep(interval * (0.5 + hash(token) % 1000 / 1000))  # spread over the interval
            try:
                http.post(url + "/api/v2/workspaceagents/me/report-stats", json=body,
                          headers={SESSION_HEADER: token}, timeout=30)
            except requests.RequestException as exc:
                failures.append(str(exc))

    for i, token in enumerate(tokens):
        gevent.spawn(one, token)
        if i % 50 == 49:
            gevent.sleep(50 / ramp)
    while len(up) + len(failures) < len(tokens):
        gevent.sleep(0.2)
    print(f"connected {len(up)} failed {len(failures)} {failures[:1]}", flush=True)
    gevent.get_hub().threadpool.spawn(sys.stdin.read).get()
    return 0


# -- measuring --------------------------------------------------------------------------
def timed(cmd: list[str], **kwargs) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - start


def throughput(label: str, ssh: list[str], size: int, runs: int) -> list[dict]:
    """MB/s for a download (remote ``head -c`` to stdout) and an upload (``cat`` to /dev/null),
    for the whole command and for the transfer alone: the whole command's time less the
    median time of the same command running ``true`` (connecting, authenticating, and for
    the relayed paths starting ``coder ssh``)."""
    setup = statistics.median([timed([*ssh, "true"]) for _ in range(runs)])
    down = [timed([*ssh, f"head -c {size} /dev/zero"]) for _ in range(runs)]
    up = []
    for _ in range(runs):
        feeder = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdout=subprocess.PIPE)
        up.append(timed([*ssh, "cat > /dev/null"], stdin=feeder.stdout))
        feeder.wait()
    mib = size / 2**20
    return [{"path": label, "direction": direction, "setup_s": setup,
             "mbs": mib / statistics.median(times),
             "transfer_mbs": mib / max(statistics.median(times) - setup, 1e-3)}
            for direction, times in (("download", down), ("upload", up))]


def round_trips(port: int, n: int) -> list[float]:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out = []
        for _ in range(n + 50):
            start = time.perf_counter()
            s.sendall(b"x")
            assert s.recv(1) == b"x"
            out.append((time.perf_counter() - start) * 1000)
        return out[50:]  # the first ones warm up the path


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def echo_server() -> int:
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            conn, _ = server.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=lambda c=conn: [c.sendall(d) for d in iter(lambda: c.recv(65536), b"")],
                             daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def wrk_p99(url: str, token: str, seconds: int) -> dict:
    from bench.api import wrk

    return wrk(url + "/api/v2/users/me", token, seconds, 10)


def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- the run ------------------------------------------------------------------------------
def connectivity(dsn: str, mirror: str, tmp: Path, args) -> tuple[list[dict], dict]:
    from appliance.sdk.relay import SSH_CIPHERS
    from tests.kit.coderd import start_coderd
    from tests.kit.postgres import free_port
    from tests.kit.relay import AgentProcess, build_workspace, coder, wait_connected

    coderd = start_coderd(dsn, env={"CODER_PROVIDER_MIRROR_DIR": mirror, "CODER_PROVISIONER_DAEMONS": "1"})
    direct_port = free_port()
    agent = forward = None
    try:
        ws = build_workspace(coderd, tmp)
        if "connectivity" in args.skip:  # the idle-agents part only needs the workspace
            return [], {}
        agent = AgentProcess(coderd.url, ws.token, tmp, {"CODER_AGENT_SSH_DIRECT_PORT": str(direct_port)}).start()
        wait_connected(ws.owner, ws.agent_id)
        config = tmp / "ssh_config"
        config.write_text("")
        r = coder(ws, "config-ssh", "-y", "--ssh-config-file", str(config))
        assert r.returncode == 0, r.stderr
        wait_port(direct_port)
        size = args.size_mb * 2**20
        # The ciphers `coder config-ssh` asks for: both paths run the same cryptography.
        opts = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "Ciphers=" + ",".join(SSH_CIPHERS)]
        rows = throughput("OpenSSH direct to the agent's SSH server",
                          ["ssh", *opts, "-p", str(direct_port), "127.0.0.1"], size, args.runs)
        rows += throughput("OpenSSH via coder config-ssh (coder ssh --stdio --fdpass, ProxyUseFdpass)",
                           ["ssh", "-F", str(config), f"coder.{ws.name}"], size, args.runs)
        # A ProxyCommand without ProxyUseFdpass (as OpenSSH builds without it need).
        plain = tmp / "ssh_config_stdio"
        r = coder(ws, "config-ssh", "-y", "--no-fdpass", "--ssh-config-file", str(plain))
        assert r.returncode == 0, r.stderr
        rows += throughput("OpenSSH, ProxyCommand coder ssh --stdio (no fdpass)",
                           ["ssh", "-F", str(plain), f"coder.{ws.name}"], size, args.runs)
        rows += throughput("coder ssh (paramiko client)",
                           [sys.executable, "-m", "appliance.cli.main", "--global-config",
                            str(ws.config_dir), "ssh", ws.name, "--"], size, args.runs)

        echo = echo_server()
        local = free_port()
        forward = subprocess.Popen([sys.executable, "-m", "appliance.cli.main", "--global-config",
                                    str(ws.config_dir), "port-forward", ws.name, "--tcp", f"{local}:{echo}"],
                                   cwd=ROOT, stdout=subprocess.DEVNULL)
        wait_port(local)
        latency = {"direct": round_trips(echo, args.round_trips),
                   "relayed": round_trips(local, args.round_trips)}
        return rows, latency
    finally:
        if forward:
            forward.terminate()
            forward.wait()
        if agent:
            agent.stop()
        coderd.stop()
        shutil.rmtree(coderd.config_dir, ignore_errors=True)


def idle_agents(dsn: str, tmp: Path, args) -> dict:
    """N fake agents on one coderd process (the workspace's resource gets N more agents)."""
    import psycopg2

    from tests.kit.coderd import start_coderd

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    tokens = [str(uuid.uuid4()) for _ in range(args.agents)]
    with conn.cursor() as cur:
        cur.execute("""SELECT a.resource_id FROM workspace_agents a
                       JOIN workspace_resources r ON r.id = a.resource_id
                       JOIN workspace_builds b ON b.job_id = r.job_id LIMIT 1""")
        resource = cur.fetchone()[0]
        cur.executemany("""INSERT INTO workspace_agents (name, resource_id, auth_token, architecture,
                           operating_system) VALUES (%s, %s, %s, 'amd64', 'linux')""",
                        [(f"fake{i}", resource, t) for i, t in enumerate(tokens)])
    tokens_file = tmp / "tokens"
    tokens_file.write_text("\n".join(tokens))
    # Every fake agent and wrk connect from 127.0.0.1: no per-client cap (1,000 by default).
    coderd = start_coderd(dsn, env={"CODER_AGENT_STATS_REFRESH_INTERVAL": f"{args.interval}s",
                                    "CODER_HTTP_MAX_CONNECTIONS_PER_CLIENT": "0"})
    fakes = None
    try:
        from appliance.sdk.client import Client
        from tests.kit.coderd import FIRST_USER_PASSWORD

        owner = Client(coderd.url)
        owner.token = owner.login_with_password("admin@example.com", FIRST_USER_PASSWORD)
        token = owner.create_token(token_name="bench")
        wrk_p99(coderd.url, token, 3)  # warm up
        before = wrk_p99(coderd.url, token, args.wrk_seconds)
        rss_before = rss_kib(coderd.proc.pid)
        start = time.monotonic()
        fakes = subprocess.Popen([sys.executable, "-m", "bench.relay", "fake-agents", coderd.url,
                                  str(tokens_file), str(args.interval)], cwd=ROOT,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = fakes.stdout.readline()
        connect_s = time.monotonic() - start
        connected = int(line.split()[1])
        time.sleep(args.interval)  # a full heartbeat cycle
        cpu = {"coderd": cpu_seconds(coderd.proc.pid), "fakes": cpu_seconds(fakes.pid)}
        time.sleep(args.interval)
        cpu = {k: (cpu_seconds(p) - cpu[k]) / args.interval
               for k, p in (("coderd", coderd.proc.pid), ("fakes", fakes.pid))}
        rss_after = rss_kib(coderd.proc.pid)
        during = wrk_p99(coderd.url, token, args.wrk_seconds)
        with conn.cursor() as cur:
            cur.execute("""SELECT count(*) FROM workspace_agents WHERE name LIKE 'fake%%'
                           AND last_connected_at > now() - make_interval(secs => %s)
                           AND (disconnected_at IS NULL OR disconnected_at < last_connected_at)""",
                        (2 * args.interval,))
            shown = cur.fetchone()[0]
        if shown < connected:
            print(f"only {shown} of {connected} agents show connected; coderd's log ends:\n"
                  + "\n".join(coderd.log().splitlines()[-30:]), file=sys.stderr)
        return {"agents": args.agents, "connected": connected, "shown_connected": shown,
                "connect_s": connect_s, "cpu": cpu, "rss_before": rss_before, "rss_after": rss_after,
                "before": before, "during": during, "fake_line": line.strip()}
    finally:
        if fakes:
            fakes.stdin.close()
            try:
                fakes.wait(20)
            except subprocess.TimeoutExpired:
                fakes.kill()
        coderd.stop()
        shutil.rmtree(coderd.config_dir, ignore_errors=True)
        conn.close()


def main() -> int:
    if sys.argv[1:2] == ["fake-agents"]:
        url, tokens_file, interval = sys.argv[2:5]
        return fake_agents(url, tokens_file, float(interval), ramp=200)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3, help="runs per throughput figure (median)")
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=15.0,
                        help="CODER_AGENT_STATS_REFRESH_INTERVAL for the idle agents")
    parser.add_argument("--wrk-seconds", type=int, default=15)
    parser.add_argument("--skip", choices=["connectivity", "idle"], action="append", default=[])
    args = parser.parse_args()
    for tool in ("ssh", "wrk", "terraform"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed: ./dev setup --test installs it")
    from server.app import prepare_database
    from tests.kit.postgres import PostgresServer

    mirror = ROOT / ".cache" / "provider-mirror"
    subprocess.run([sys.executable, str(ROOT / "packaging" / "build_provider.py"), "--mirror", str(mirror)],
                   check=True, capture_output=True)
    pg = PostgresServer().start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    try:
        dsn = pg.dsn(pg.create_database())
        prepare_database(dsn)
        rows, latency = connectivity(dsn, str(mirror), tmp, args)
        idle = idle_agents(dsn, tmp, args) if "idle" not in args.skip else None
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report(rows, latency, idle, args)
    return 0


def report(rows: list[dict], latency: dict, idle: dict | None, args) -> None:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} cores, {cpu}, {platform.python_implementation()} "
          f"{platform.python_version()}, OpenSSH "
          f"{subprocess.run(['ssh', '-V'], capture_output=True, text=True).stderr.strip()}\n")
    if rows:
        direct = {r["direction"]: r for r in rows if r["path"].startswith("OpenSSH direct")}
        print(f"SSH throughput, {args.size_mb} MB, median of {args.runs}: the whole command, "
              "and the transfer alone (less the set-up, the median time of the same command "
              "running `true`)\n")
        print("| path | direction | whole command MB/s | vs direct | set-up s | transfer MB/s | vs direct |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for r in rows:
            d = direct[r["direction"]]
            print(f"| {r['path']} | {r['direction']} | {r['mbs']:.1f} | {r['mbs'] / d['mbs']:.2f} "
                  f"| {r['setup_s']:.2f} | {r['transfer_mbs']:.1f} "
                  f"| {r['transfer_mbs'] / d['transfer_mbs']:.2f} |")
    if latency:
        print(f"\n1-byte echo round trip, {args.round_trips} round trips, ms\n")
        print("| path | median | p99 |")
        print("|---|---:|---:|")
        for name, values in latency.items():
            print(f"| {name} | {statistics.median(values):.3f} | {percentile(values, 99):.3f} |")
        print(f"| added by the relay | {statistics.median(latency['relayed']) - statistics.median(latency['direct']):.3f}"
              f" | {percentile(latency['relayed'], 99) - percentile(latency['direct'], 99):.3f} |")
    if idle:
        per_agent = (idle["rss_after"] - idle["rss_before"]) / max(idle["connected"], 1)
        print(f"\nIdle agents on one coderd process (stats every {args.interval:g}s, keepalive 15s)\n")
        print("| agents asked | connected | shown connected | time to connect s | coderd RSS before MiB "
              "| after MiB | per agent KiB | coderd CPU (of one core) | fake agents' CPU |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| {idle['agents']} | {idle['connected']} | {idle['shown_connected']} | {idle['connect_s']:.1f} "
              f"| {idle['rss_before'] / 1024:.0f} | {idle['rss_after'] / 1024:.0f} | {per_agent:.0f} "
              f"| {idle['cpu']['coderd']:.0%} | {idle['cpu']['fakes']:.0%} |")
        print(f"\nGET /api/v2/users/me under wrk -t2 -c10 -d{args.wrk_seconds}s\n")
        print("| while | requests/s | p50 ms | p99 ms | non-2xx |")
        print("|---|---:|---:|---:|---:|")
        for label, key in (("no agents", "before"), (f"{idle['connected']} agents heartbeating", "during")):
            r = idle[key]
            print(f"| {label} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} |")


if __name__ == "__main__":
    raise SystemExit(main())
