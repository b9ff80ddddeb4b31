"""Scale test: N simulated agents and M users on one coderd, then on two replicas, in one run.

What Coder's ``coder exp scaletest`` does against a deployment, on one machine:

- **Workspaces**: N workspaces of M users are created through the API; their
  builds are completed straight in the database (what the provisioner would
  write, as tests/kit/agent.py does: a resource, an agent with an app and a
  metadata item), so no terraform runs and the figure is coderd's own.
- **Agents**: one gevent process runs N agents, each with its real token and
  the agent's own code: ``AgentClient`` (manifest, lifecycle, stats and
  metadata reports, whose answer is the heartbeat) and the relay websocket
  served by ``agent.relay``'s ``StreamServer`` (one shared by all), which
  forwards ``tcp:`` streams to an echo server and an HTTP app in that process.
- **Users**: another gevent process runs M users, each signed in with a
  password: one API call every ``--api-interval`` in turn (list their
  workspaces, get one, its builds, its app through the path-app proxy), and
  one stream through the relay (``relay.dial``, as ``coder ssh`` and
  ``port-forward``) writing ``--bytes-per-tick`` every ``--tick`` and reading
  the echo, as Coder's ``workspace-traffic`` (40 KB/s per connection by default).
- **Topologies**: one coderd process, then two coderd processes (replicas) on
  the same PostgreSQL. User ``j`` connects to replica ``j % R`` and the agent
  of its ``k``-th workspace to replica ``(j + k) % R``, so the agents spread
  evenly and a user's workspaces alternate between the replicas, as behind a
  load balancer; about half the users stream to an agent the other replica
  holds (through the replicas' relay; users need two workspaces, N >= 2M).

Reported per topology: agents connected and per replica, coderd RSS before
and after the agents (per agent = delta / N), coderd CPU while users work,
API p50/p99 per call, relay throughput (echoed bytes/s) and tick round trips.
Rerun with:

    .venv/bin/python -m bench.scaletest [--agents 20] [--users 4] [--duration 20]

and paste the printed tables into docs/benchmarks.md ("Scale test").
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.relay import cpu_seconds, percentile, rss_kib

ROOT = Path(__file__).resolve().parents[1]
AGENT_NAME = "main"
APP_SLUG = "echo"
PASSWORD = "ScaleTestPassword!1"


# -- the simulated agents (a gevent process) ----------------------------------------------
def run_agents(plan: dict) -> int:
    """Run every agent of ``plan``; print ``connected N failed F`` once all have tried, then
    run until stdin closes and print the reports sent and refused (JSON)."""
    from gevent import monkey

    monkey.patch_all()
    import datetime as dt

    import gevent
    from gevent.pywsgi import WSGIServer
    from gevent.server import StreamServer as TCPServer

    from agent import relay as agent_relay
    from appliance import wsframes
    from appliance.sdk.agentsdk import AgentClient, MetadataResult, Stats

    def echo(sock, _addr):
        for data in iter(lambda: sock.recv(65536), b""):
            sock.sendall(data)

    def app(_environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    TCPServer(("127.0.0.1", plan["echo_port"]), echo).start()
    WSGIServer(("127.0.0.1", plan["app_port"]), app, log=None).start()
    server = agent_relay.StreamServer(host_key_path=Path(plan["tmp"]) / "host_key", env={})
    up, failures, refused = [], [], []
    reports = [0]

    def one(url: str, token: str) -> None:
        now = lambda: dt.datetime.now(dt.timezone.utc)  # noqa: E731
        try:
            client = AgentClient(url, token, timeout=60)
            manifest = client.manifest()
            client.post_lifecycle("ready", now())
            session = agent_relay.serve_session(
                wsframes.client_stream(agent_relay.connect(url, token, timeout=60)), server)
        except Exception as exc:  # counted and shown: a refused agent is a result
            failures.append(f"{type(exc).__name__}: {exc}")
            return
        gevent.spawn(session.serve)
        up.append(token)
        while not session.closed:
            try:
                interval = client.report_stats(Stats())
                client.post_metadata([MetadataResult(key=m.key, collected_at=now(), value="0.5")
                                      for m in manifest.metadata])
                reports[0] += 1
            except Exception as exc:
                refused.append(f"{type(exc).__name__}: {exc}"[:300])
                interval = plan["interval"]
            gevent.sleep(interval * (0.5 + hash(token) % 1000 / 1000))  # spread over the interval

    for i, (url, token) in enumerate(plan["agents"]):
        gevent.spawn(one, url, token)
        if i % 50 == 49:
            gevent.sleep(0.25)  # a ramp, as agents of a fleet start over time
    while len(up) + len(failures) < len(plan["agents"]):
        gevent.sleep(0.2)
    print(f"connected {len(up)} failed {len(failures)} {failures[:1]}", flush=True)
    gevent.get_hub().threadpool.spawn(sys.stdin.read).get()
    print(json.dumps({"reports": reports[0], "refused": len(refused), "first_refused": refused[:1]}),
          flush=True)
    return 0


# -- the simulated users (a gevent process) -----------------------------------------------
def run_users(plan: dict) -> int:
    """Run every user of ``plan`` for ``duration`` seconds; print the measurements as JSON."""
    from gevent import monkey

    monkey.patch_all()
    import gevent

    from appliance.sdk import relay
    from appliance.sdk.client import SESSION_HEADER, Client

    deadline = time.monotonic() + plan["duration"]
    calls: dict[str, list[float]] = {}
    errors: list[str] = []
    ticks: list[float] = []
    echoed = [0]

    def timed(kind: str, fn) -> None:
        start = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # an error is a result: counted, the first few shown
            errors.append(f"{kind}: {type(exc).__name__}: {exc}"[:300])
            return
        calls.setdefault(kind, []).append((time.perf_counter() - start) * 1000)

    def app_get(client: Client, user: dict, ws: dict) -> None:
        url = relay.app_url(client.url, "", _Named(ws["name"], user["username"]), AGENT_NAME, APP_SLUG)
        r = client.http.get(url, headers={SESSION_HEADER: client.token}, timeout=60)
        if r.status_code != 200 or r.content != b"ok":
            raise RuntimeError(f"app answered {r.status_code}")

    def api(client: Client, user: dict) -> None:
        workspaces = user["workspaces"]
        kinds = [("list workspaces", lambda ws: client.workspaces(q="owner:me")),
                 ("get workspace", lambda ws: client.workspace(ws["id"])),
                 ("workspace builds", lambda ws: client.workspace_builds(ws["id"])),
                 ("app (path proxy)", lambda ws: app_get(client, user, ws))]
        i = 0
        gevent.sleep(plan["api_interval"] * (hash(user["username"]) % 1000 / 1000))
        while time.monotonic() < deadline:
            kind, call = kinds[i % len(kinds)]
            ws = workspaces[(i // len(kinds)) % len(workspaces)]
            timed(kind, lambda: call(ws))
            i += 1
            gevent.sleep(plan["api_interval"])

    def stream(client: Client, user: dict) -> None:
        payload = os.urandom(plan["bytes_per_tick"])
        agent_id = user["stream_agent"]
        try:
            conn = relay.dial(client, agent_id, f"tcp:{plan['echo_port']}")
        except Exception as exc:
            errors.append(f"dial: {type(exc).__name__}: {exc}"[:300])
            return
        try:
            while time.monotonic() < deadline:
                start = time.perf_counter()
                conn.sendall(payload)
                got = 0
                while got < len(payload):
                    chunk = conn.recv(65536)
                    if not chunk:
                        raise ConnectionError(f"stream ended after {got} bytes")
                    got += len(chunk)
                elapsed = time.perf_counter() - start
                ticks.append(elapsed * 1000)
                echoed[0] += got
                gevent.sleep(max(0.0, plan["tick"] - elapsed))
        except Exception as exc:
            errors.append(f"stream: {type(exc).__name__}: {exc}"[:300])
        finally:
            conn.close()

    greenlets = []
    for user in plan["users"]:
        client = Client(user["url"], user["token"], timeout=60)
        greenlets += [gevent.spawn(api, client, user), gevent.spawn(stream, client, user)]
    gevent.joinall(greenlets)
    print(json.dumps({"calls": calls, "errors": errors, "ticks": ticks, "echoed": echoed[0]}))
    return 0


class _Named:
    """What ``relay.app_url`` reads of a workspace."""

    def __init__(self, name: str, owner_name: str):
        self.name, self.owner_name = name, owner_name


# -- setting up the deployment ------------------------------------------------------------
def create_fleet(coderd, args) -> tuple[list[dict], list[dict], float]:
    """M users, N workspaces (workspace ``i`` owned by user ``i % M``) with one agent each:
    (users, agents, the seconds the N workspaces took to create through the API)."""
    from appliance.sdk import types
    from tests.kit.agent import add_agent
    from tests.kit.coderd import create_first_user
    from tests.kit.provisioning import complete_job, make_template

    owner, _ = create_first_user(coderd)
    template = make_template(owner, coderd.dsn)
    users = []
    for j in range(args.users):
        name = f"scaletest-{j}"
        user = owner.create_user(types.CreateUserRequest(email=f"{name}@example.com", username=name,
                                                         password=PASSWORD))
        token = coderd.client().login_with_password(f"{name}@example.com", PASSWORD)
        users.append({"id": str(user.id), "username": name, "token": token, "workspaces": []})
    agents = []
    start = time.monotonic()
    for i in range(args.agents):
        user = users[i % args.users]
        ws = owner.create_workspace(types.CreateWorkspaceRequest(
            name=f"ws{i}", template_id=template.id), user=user["id"])
        complete_job(coderd.dsn, ws.latest_build.job.id)
        row = add_agent(coderd.dsn, ws.latest_build.job.id, name=AGENT_NAME,
                        apps=[{"slug": APP_SLUG, "url": f"http://127.0.0.1:{args.app_port}"}],
                        metadata=[{"key": "load", "script": "true", "interval": args.interval}])
        user["workspaces"].append({"id": str(ws.id), "name": ws.name, "agent_id": str(row.id),
                                   "index": i})
        agents.append({"token": str(row.token), "index": i})
    return users, agents, time.monotonic() - start


# -- one topology -------------------------------------------------------------------------
def child(kind: str, plan: dict, tmp: Path) -> subprocess.Popen:
    """``python -m bench.scaletest KIND PLAN_FILE``: the agents or the users, in a process of
    their own so that their CPU is not coderd's."""
    plan_file = tmp / f"{kind}-{uuid.uuid4().hex[:8]}.json"
    plan_file.write_text(json.dumps(plan))
    return subprocess.Popen([sys.executable, "-m", "bench.scaletest", kind, str(plan_file)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def agents_status(dsn: str, interval: float) -> tuple[int, list[int]]:
    """(agents shown connected, agents held by each live coderd process, most first)."""
    from tests.kit.provisioning import sql

    (shown,), = sql(dsn, """SELECT count(*) FROM workspace_agents WHERE last_connected_at >
                             now() - make_interval(secs => %s) AND (disconnected_at IS NULL
                             OR disconnected_at < last_connected_at)""", (2 * interval,))
    held = sql(dsn, """SELECT count(*) FROM relay_agents a JOIN relay_processes p ON p.id = a.process_id
                       WHERE p.heartbeat_at > now() - interval '15 seconds'
                       GROUP BY p.id ORDER BY 1 DESC""")
    return shown, [n for n, in held]


def run_topology(dsn: str, replicas: int, users: list[dict], agents: list[dict], args,
                 tmp: Path) -> dict:
    """Start ``replicas`` coderd processes, connect the agents, run the users; the figures."""
    from tests.kit.coderd import start_coderd

    coderds, procs = [], []
    try:
        for _ in range(replicas):
            coderds.append(start_coderd(dsn, env=coderd_env(args)))
        urls = [c.url for c in coderds]
        rss_before = sum(rss_kib(c.proc.pid) for c in coderds)
        start = time.monotonic()
        procs.append(child("agents", {
            "agents": [(urls[replica_of(a["index"], args, replicas)], a["token"]) for a in agents],
            "interval": args.interval, "tmp": str(tmp), "echo_port": args.echo_port,
            "app_port": args.app_port}, tmp))
        line = procs[0].stdout.readline()
        if not line.startswith("connected "):
            sys.exit(f"the agents' process ended before its agents connected (exit {procs[0].wait()})")
        figures = {"agents_line": line.strip(), "connected": int(line.split()[1]),
                   "connect_s": time.monotonic() - start}
        time.sleep(args.interval)  # a whole heartbeat cycle
        figures["shown"], figures["held"] = agents_status(dsn, args.interval)
        figures.update(rss_before=rss_before, rss_after=sum(rss_kib(c.proc.pid) for c in coderds))
        plan = users_plan(users, urls, args)
        cpu = [cpu_seconds(c.proc.pid) for c in coderds]
        start = time.monotonic()
        procs.append(child("users", plan, tmp))
        out, _ = procs[1].communicate(timeout=args.duration + 300)
        elapsed = time.monotonic() - start
        figures["cpu"] = [(cpu_seconds(c.proc.pid) - before) / elapsed for c, before in zip(coderds, cpu)]
        procs[0].stdin.close()
        figures.update(json.loads(procs[0].stdout.readline()))
        show_tracebacks(coderds)
        return {"replicas": replicas, "across": plan["across"], "elapsed": elapsed, **figures,
                **json.loads(out)}
    finally:
        for p in procs:
            if p.stdin and not p.stdin.closed:
                p.stdin.close()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        for c in coderds:
            c.stop()
            shutil.rmtree(c.config_dir, ignore_errors=True)


def users_plan(users: list[dict], urls: list[str], args) -> dict:
    """What the users' process runs: each user on its replica, with the agent it streams to;
    ``across``: how many of those streams the other replica's agents serve."""
    replicas = len(urls)
    planned = [{**u, "url": urls[j % replicas], "stream_agent": stream_agent(j, u, args, replicas)}
               for j, u in enumerate(users)]
    held_by = {ws["agent_id"]: replica_of(ws["index"], args, replicas)
               for u in users for ws in u["workspaces"]}
    across = sum(held_by[u["stream_agent"]] != j % replicas for j, u in enumerate(planned))
    return {"users": planned, "across": across, "duration": args.duration,
            "api_interval": args.api_interval, "tick": args.tick,
            "bytes_per_tick": args.bytes_per_tick, "echo_port": args.echo_port}


def show_tracebacks(coderds) -> None:
    """A coderd's unhandled error is a result too: its first traceback, on stderr."""
    for c in coderds:
        log = c.log()
        if "Traceback" in log:
            at = log.rfind("\n", 0, log.index("Traceback") - 300) + 1
            print(f"coderd {c.url} logged a traceback:\n{log[at:at + 3000]}", file=sys.stderr)


def replica_of(index: int, args, replicas: int) -> int:
    """The replica agent ``index`` connects to: its owner's (``index % M``) for the owner's
    first workspace, and in turn the others' for the next ones; the agents spread evenly."""
    return (index % args.users + index // args.users) % replicas


def stream_agent(j: int, user: dict, args, replicas: int) -> str:
    """The agent user ``j`` streams to: with replicas, about half the users' (users 1 and 2
    of every 4 with two replicas: one connected to each) are held by another replica than
    the user's, so the stream crosses the replicas' relay; the rest by the same."""
    across = replicas > 1 and (j // replicas + j) % 2 == 1
    for ws in user["workspaces"]:
        if (replica_of(ws["index"], args, replicas) != j % replicas) == across:
            return ws["agent_id"]
    return user["workspaces"][0]["agent_id"]


def coderd_env(args) -> dict:
    """Every simulated agent and user connects from 127.0.0.1: no per-client cap."""
    return {"CODER_AGENT_STATS_REFRESH_INTERVAL": f"{args.interval:g}s",
            "CODER_HTTP_MAX_CONNECTIONS_PER_CLIENT": "0"}


# -- the run ------------------------------------------------------------------------------
def main() -> int:
    if sys.argv[1:2] in (["agents"], ["users"]):
        plan = json.loads(Path(sys.argv[2]).read_text())
        return (run_agents if sys.argv[1] == "agents" else run_users)(plan)
    args = parse_args()
    from server.app import prepare_database
    from tests.kit.coderd import start_coderd
    from tests.kit.postgres import PostgresServer, free_port

    pg = PostgresServer().start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-scaletest-"))
    try:
        dsn = pg.dsn(pg.create_database())
        prepare_database(dsn)
        args.echo_port, args.app_port = free_port(), free_port()
        setup = start_coderd(dsn, env=coderd_env(args))
        try:
            users, agents, create_s = create_fleet(setup, args)
        finally:
            setup.stop()
            shutil.rmtree(setup.config_dir, ignore_errors=True)
        results = [run_topology(dsn, r, users, agents, args, tmp) for r in args.replicas]
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report(results, create_s, args)
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20, help="workspaces, one simulated agent each")
    parser.add_argument("--users", type=int, default=4, help="users owning them, each making calls")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds the users work")
    parser.add_argument("--interval", type=float, default=15.0,
                        help="CODER_AGENT_STATS_REFRESH_INTERVAL: the agents' report interval")
    parser.add_argument("--api-interval", type=float, default=1.0, help="seconds between a user's calls")
    parser.add_argument("--tick", type=float, default=0.1, help="seconds between a stream's writes")
    parser.add_argument("--bytes-per-tick", type=int, default=4096,
                        help="bytes per write (4096 every 0.1 s: Coder's 40 KB/s per connection)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2],
                        help="the topologies, in coderd processes on the one PostgreSQL")
    args = parser.parse_args()
    if args.users < 1 or args.agents < args.users:
        parser.error("--users must be at least 1 and at most --agents (each user owns a workspace)")
    if min(args.replicas) < 1 or min(args.duration, args.interval, args.api_interval, args.tick) <= 0:
        parser.error("--replicas must be at least 1, and the durations and intervals positive")
    return args


def report(results: list[dict], create_s: float, args) -> None:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} cores, {cpu}, {platform.python_implementation()} "
          f"{platform.python_version()}")
    print(f"{args.agents} workspaces of {args.users} users created through the API in {create_s:.1f} s "
          f"({args.agents / create_s:.1f}/s); agents report every {args.interval:g} s; each user makes "
          f"a call every {args.api_interval:g} s and echoes {args.bytes_per_tick} bytes every "
          f"{args.tick:g} s for {args.duration:g} s\n")
    print("| replicas | agents connected / shown connected | held per replica | time to connect s "
          "| coderd RSS before → after MiB | per agent KiB | coderd CPU per replica (of one core) "
          "| stats + metadata reports |")
    print("|---:|---|---|---:|---|---:|---|---:|")
    for r in results:
        per_agent = (r["rss_after"] - r["rss_before"]) / max(r["connected"], 1)
        print(f"| {r['replicas']} | {r['connected']} / {r['shown']} | {' + '.join(map(str, r['held']))} "
              f"| {r['connect_s']:.1f} | {r['rss_before'] / 1024:.0f} → {r['rss_after'] / 1024:.0f} "
              f"| {per_agent:.0f} | {', '.join(f'{c:.0%}' for c in r['cpu'])} | {r['reports']} |")
    print("\n| replicas | call | calls | p50 ms | p99 ms |")
    print("|---:|---|---:|---:|---:|")
    for r in results:
        everything = [ms for values in r["calls"].values() for ms in values]
        for kind, values in [*sorted(r["calls"].items()), ("all", everything)]:
            print(f"| {r['replicas']} | {kind} | {len(values)} | {statistics.median(values):.1f} "
                  f"| {percentile(values, 99):.1f} |")
    print("\n| replicas | streams (across replicas) | echoed MB/s (each byte crosses coderd twice) "
          "| round trip p50 ms | p99 ms | errors |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ticks = r["ticks"] or [float("nan")]
        print(f"| {r['replicas']} | {args.users} ({r['across']}) | {r['echoed'] / r['elapsed'] / 1e6:.2f} "
              f"| {statistics.median(ticks):.1f} | {percentile(ticks, 99):.1f} | {len(r['errors'])} |")
    for r in results:
        if r["errors"] or r["refused"] or r["connected"] < args.agents:
            print(f"\n{r['replicas']} replica(s): {r['agents_line']}; first errors: {r['errors'][:3]}; "
                  f"reports refused: {r['refused']} {r['first_refused']}")


if __name__ == "__main__":
    raise SystemExit(main())
