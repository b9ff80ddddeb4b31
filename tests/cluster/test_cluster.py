"""cluster.yml on booted hosts: the layout of docs/high-availability.md, deployed offline,
and the failures it survives.

Eight minimal Debian 12 hosts on a private network with no route out (clusterkit): one
HAProxy (also the controller), two coderd replicas, three PostgreSQL hosts under Patroni
with etcd, one external provisioner host, one workspace proxy. The administrator's steps:
the bundle verified on the controller, ``install.sh --cluster --inventory``, a second run
changing nothing; then a user's client reaches coderd only through the load balancer's
name, over TLS checked with the cluster's CA, and an older bundle is refused; the next
version's bundle upgrades every host, one coderd replica at a time, while a user writes;
renewed certificates are served after a rerun.
Then, one at a time, the failures of the issue: an etcd member lost, the external provisioner's host
lost mid-build, the replica holding an agent lost under load, a switchover and the
primary's host lost. Last, the uninstall of every host, then its purge.
"""
from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import threading
import time

import pytest
import yaml

from ..packaging.installkit import NEW, exists, is_active, recaps, unpack
from .clusterkit import (ACCESS, CA, CLIENT, CURRENT, ETCD_CA, ETCD_CERT, ETCD_KEY, LAYOUT, PROVISIONER_POOL, REPO,
                         booted_cluster, fqdn, leader, leader_of, patroni_journals, patroni_members,
                         patroni_views,
                         service_states, settled, short, sql)

# Booting seven hosts and deploying them takes minutes (the bundle is built first).
pytestmark = [pytest.mark.booted_hosts, pytest.mark.timeout(2700)]

OWNER = ("--first-user-username", "admin", "--first-user-email", "admin@appliance.test",
         "--first-user-password", "Correct-Horse-Battery-9-Staple")
UNITS = {"loadbalancer": "haproxy", "coderd": "coderd", "postgres": "patroni",
         "provisioners": "provisionerd"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with booted_cluster(tmp_path_factory.mktemp("cluster")) as made:
        made.deploy()
        yield made


def test_cluster_yml_deploys_the_layout_and_a_rerun_changes_nothing(cluster):
    assert f"is running at https://{ACCESS}" in cluster.deployments[0]
    for group, unit in UNITS.items():
        assert service_states(cluster, group, unit) == ["active"] * len(LAYOUT[group]), unit
    assert service_states(cluster, "postgres", "etcd") == ["active"] * 3
    members = patroni_members(cluster.group("postgres")[0])
    assert sorted(m["Role"] for m in members) == ["Leader", "Replica", "Replica"], members
    assert all(m["State"] in ("running", "streaming") for m in members), members

    # The settings files, with the database's password and the provisioners' key, are root's
    # alone: the templates the daemons run (as the daemons' users) cannot read them.
    for name, settings in (("prov-1", "provisionerd.env"), ("coderd-1", "coderd.env"),
                           ("coderd-2", "coderd.env")):
        mode = cluster.hosts[name].run(["stat", "-c", "%a %U %G", f"/etc/coder-appliance/{settings}"])
        assert mode.stdout.split() == ["600", "root", "root"], (name, mode.stdout)

    # No host has a route beyond the cluster's network.
    for name, host in cluster.hosts.items():
        routes = host.run(["cat", "/proc/net/route"]).stdout.splitlines()[1:]
        destinations = [str(ipaddress.ip_address(bytes.fromhex(r.split()[1])[::-1])) for r in routes]
        assert destinations == [str(cluster.net.subnet.network_address)], (name, routes)

    client = cluster.client
    client.ca_file.write_bytes((cluster.group("coderd")[0].root / CA.lstrip("/")).read_bytes())
    client.coder("login", f"https://{ACCESS}", *OWNER)
    assert "admin" in client.coder("whoami").stdout
    one_client_storming_leaves_the_others_login_working(cluster)

    again = cluster.deploy()
    changed = {host: counts["changed"] for host, counts in recaps(again.stdout).items()}
    assert set(changed.values()) == {0}, changed

    # A host already on a newer version than the bundle's: the run is refused before any
    # host is changed (an older coderd would meet a database migrated past it).
    host = cluster.hosts["coderd-2"]
    installed = host.run(["readlink", CURRENT]).stdout.strip()
    host.run(["ln", "-sfn", installed.rsplit("/", 1)[0] + "/999.0.0", CURRENT])
    try:
        refused = cluster.install_sh()
    finally:
        host.run(["ln", "-sfn", installed, CURRENT])
    assert refused.returncode != 0, refused.stdout[-3000:]
    assert f"is older than what runs on {fqdn('coderd-2')} (999.0.0)" in refused.stderr, \
        refused.stderr
    assert "PLAY [" not in refused.stdout


# Bad logins from a host, with Python's standard library only, until ten in a row are
# refused with 429 (each replica allows CODER_LOGIN_RATE_LIMIT, 60, a minute per client).
STORM = """
import json, ssl, sys, urllib.error, urllib.request
url, ca, email = sys.argv[1:]
context, statuses = ssl.create_default_context(cafile=ca), []
while statuses[-10:] != [429] * 10 and len(statuses) < 400:
    request = urllib.request.Request(url + "/api/v2/users/login", method="POST", headers={
        "Content-Type": "application/json"}, data=json.dumps({"email": email, "password": "guess"}).encode())
    try:
        statuses.append(urllib.request.urlopen(request, context=context, timeout=30).status)
    except urllib.error.HTTPError as error:
        statuses.append(error.code)
print(json.dumps(statuses))
"""
# A login with the owner's password, then what the audit log says of every login.
LOGINS = """
import json, sys
from appliance.sdk.client import Client
url, ca, email, password = sys.argv[1:]
client = Client(url, "", verify=ca)
client.token = client.login_with_password(email, password)
logs = client.audit_logs(q="action:login", limit=1000).audit_logs
print(json.dumps(sorted({(log.ip, log.status_code) for log in logs})))
"""


def one_client_storming_leaves_the_others_login_working(cluster):
    """HAProxy passes TCP through, so without more every client is its address: one
    client's bad logins (here the provisioner's host) would rate-limit every user's login.
    HAProxy names each client in a PROXY protocol header, which the replicas read."""
    done = cluster.hosts["prov-1"].run(["python3", "-c", STORM, f"https://{ACCESS}",
                                        "/etc/coder-appliance/cluster-tls/ca.crt", OWNER[3]])
    statuses = json.loads(done.stdout)
    assert statuses[-10:] == [429] * 10 and set(statuses) == {401, 429}, statuses
    client = cluster.client  # another client: its login is not limited
    logins = json.loads(client.python(LOGINS, f"https://{ACCESS}", str(client.ca_file),
                                      OWNER[3], OWNER[5]))
    client_address = str(cluster.net.subnet.network_address + CLIENT)
    assert {ip for ip, status in logins if status == 401} == {cluster.addresses["prov-1"]}, logins
    assert [client_address, 201] in logins, logins
    assert cluster.addresses["lb-1"] not in {ip for ip, _ in logins}, logins


def test_a_workspace_proxy_joins_with_an_owners_token_and_serves_its_region(cluster):
    """The administrator adds the proxy to the inventory with an owner's token: the run makes
    the proxy's token on the first coderd host, the proxy registers, coderd lists its region
    healthy, it serves HTTPS on its own name with the cluster's CA, and a run after changes
    nothing (the token is made once)."""
    client = cluster.client
    owner = client.coder("login", "token").stdout.strip()
    cluster.write_inventory(wsproxy_admin_token=owner)
    cluster.deploy()
    proxy = cluster.hosts["proxy-1"]
    assert is_active(proxy, "coder-wsproxy") == "active", cluster.journals()
    deadline = time.monotonic() + 60
    while not (regions := json.loads(client.python(REGIONS, f"https://{ACCESS}",
                                                   str(client.ca_file), owner)))["proxy-1"]:
        assert time.monotonic() < deadline, regions
        time.sleep(2)
    assert regions == {"primary": True, "proxy-1": True}, regions
    latency = client.python(FETCH, f"https://{fqdn('proxy-1')}/latency-check", str(client.ca_file))
    assert latency.startswith("200"), latency
    again = cluster.deploy()
    changed = {host: counts["changed"] for host, counts in recaps(again.stdout).items()}
    assert set(changed.values()) == {0}, changed


def test_a_rolling_upgrade_serves_throughout(cluster):
    """The next version's bundle run as the first (``install.sh --cluster`` from the
    controller) while a user writes: every host moves to it, the coderd replicas restart one
    at a time behind HAProxy, and writes are refused for no longer than a replica's checks
    take; every acknowledged write is kept."""
    token = cluster.client.coder("login", "token").stdout.strip()
    pids = {h.hostname: h.run(["systemctl", "show", "-P", "MainPID", "coderd"]).stdout.strip()
            for h in cluster.group("coderd")}
    cluster.bundle_dir = unpack(cluster.controller, cluster.tars[NEW])
    upgrade: dict = {}

    def run() -> None:
        upgrade["done"] = cluster.install_sh()

    def start() -> None:
        upgrade["thread"] = threading.Thread(target=run, daemon=True)
        upgrade["thread"].start()

    attempts = writes_during(cluster, token, "upgrade", 900, start,
                             until=lambda: "done" in upgrade)
    upgrade["thread"].join(60)
    done = upgrade["done"]
    assert done.returncode == 0, f"{done.stdout[-8000:]}\n{done.stderr[-3000:]}\n{cluster.journals()}"
    assert f"upgrading to {NEW}: " in done.stdout, done.stdout[:3000]
    for name, host in cluster.hosts.items():
        assert host.run(["readlink", CURRENT]).stdout.strip().rsplit("/", 1)[-1] == NEW, name
    for host in cluster.group("coderd"):
        assert is_active(host, "coderd") == "active"
        restarted = host.run(["systemctl", "show", "-P", "MainPID", "coderd"]).stdout.strip()
        assert restarted != pids[host.hostname], f"{host.hostname}'s coderd did not restart"
    assert outage(attempts) < 15, attempts
    print(f"rolling upgrade: {len(attempts)} writes, longest gap {outage(attempts):.1f} s")
    acknowledged_writes_kept(cluster, token, attempts)


# Every TLS endpoint of the cluster: host, port, and openssl s_client's options for it
# (etcd wants a client's certificate from the CA; PostgreSQL starts TLS in its protocol).
ENDPOINTS = [("coderd-1", 443, []), ("coderd-2", 443, []), ("proxy-1", 443, []),
             *((pg, port, options) for pg in ("pg-1", "pg-2", "pg-3")
               for port, options in ((2379, ["-cert", ETCD_CERT, "-key", ETCD_KEY]), (8008, []),
                                     (5432, ["-starttls", "postgres"])))]


def served_serials(cluster) -> dict[str, str]:
    """The serial number of the certificate each endpoint presents, asked on its own host."""
    serials = {}
    for name, port, options in ENDPOINTS:
        argv = ["openssl", "s_client", "-connect", f"{fqdn(name)}:{port}", "-servername",
                fqdn(name), *options]
        shown = cluster.hosts[name].run(
            ["sh", "-c", " ".join(argv) + " </dev/null 2>/dev/null | openssl x509 -noout -serial"],
            check=False).stdout
        serials[f"{name}:{port}"] = shown.strip()
    return serials


def test_renewed_certificates_are_served_after_a_rerun(cluster):
    """The administrator renews every certificate on the CA's host (``appliance ca renew
    --all``) and runs ``install.sh --cluster`` again: every service presents its new
    certificate (coderd and the proxy restarted, Patroni and PostgreSQL reloaded, etcd
    reading it at each connection), and the primary stays where it was."""
    before = served_serials(cluster)
    assert all(s.startswith("serial=") for s in before.values()), before
    primary = leader(cluster)
    ca_host = cluster.group("coderd")[0]
    ca_host.run([f"{CURRENT}/bin/appliance", "ca", "renew", "--dir", CA.rsplit("/", 1)[0], "--all"])
    cluster.deploy()
    after = served_serials(cluster)
    unchanged = [endpoint for endpoint in before if after[endpoint] == before[endpoint]]
    assert unchanged == [], f"still the old certificate: {unchanged}\n{after}"
    assert all(s.startswith("serial=") for s in after.values()), after
    assert leader(cluster) == primary, patroni_views(cluster)


REGIONS = """
import json, sys
from appliance.sdk.client import Client
url, ca, token = sys.argv[1:]
print(json.dumps({r.name: r.healthy for r in Client(url, token, verify=ca).regions().regions}))
"""
FETCH = """
import sys, requests
answer = requests.get(sys.argv[1], verify=sys.argv[2], timeout=10)
print(answer.status_code, answer.text[:200])
"""


def writes_during(cluster, owner_token: str, prefix: str, seconds: float, fault,
                  until=None) -> list[dict]:
    """The client's stream of user creations (tests/cluster/writer.py) for ``seconds``, with
    ``fault()`` run once the first writes were acknowledged, or sooner ended once
    ``until()`` is true; every attempt, in order."""
    client = cluster.client
    writer = subprocess.Popen(
        cluster.net.exec(client.namespace, [sys.executable, "-m", "tests.cluster.writer",
                                            f"https://{ACCESS}", str(client.ca_file),
                                            owner_token, prefix, str(seconds)]),
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    attempts, ended = [], False
    for line in writer.stdout:
        attempts.append(json.loads(line))
        if len(attempts) == 5:
            assert [a["status"] for a in attempts] == [201] * 5, attempts
            fault()
        if until is not None and not ended and until():
            writer.terminate()
            ended = True
    assert writer.wait(30) == 0 or ended
    return attempts


def outage(attempts: list[dict]) -> float:
    """The longest time between two acknowledged writes."""
    done = [a["t"] for a in attempts if a["status"] == 201]
    return max(b - a for a, b in zip(done, done[1:]))


def acknowledged_writes_kept(cluster, token: str, attempts: list[dict], why=lambda: "") -> None:
    """Every user whose creation coderd acknowledged in ``attempts`` (one prefix) is listed
    by coderd now; ``why()``: more to say when one is missing."""
    wanted = {a["user"] for a in attempts if a["status"] == 201}
    prefix = attempts[0]["user"].rstrip("0123456789")
    listed = set(json.loads(cluster.client.python(
        USERS_LISTING, f"https://{ACCESS}", str(cluster.client.ca_file), token, prefix)))
    missing = sorted(wanted - listed, key=lambda u: int(u[len(prefix):]))
    assert not missing, (f"{len(missing)} of {len(wanted)} acknowledged writes missing "
                         f"({len(listed)} listed): {missing[:5]}...{missing[-5:]}\n{why()}")


USERS_LISTING = """
import json, sys
from appliance.sdk.client import Client
url, ca, token, prefix = sys.argv[1:]
print(json.dumps([u.username for u in Client(url, token, verify=ca).users(q=prefix).users]))
"""


def test_losing_one_etcd_member_is_invisible(cluster):
    """etcd stopped on the primary's own host (Patroni's nearest member): every write is
    acknowledged meanwhile and the primary stays; the member rejoins when started."""
    settled(cluster)
    token = cluster.client.coder("login", "token").stdout.strip()
    primary = short(leader(cluster))
    host = cluster.hosts[primary]
    attempts = writes_during(cluster, token, "etcd", 25,
                             lambda: host.run(["systemctl", "stop", "etcd"]))
    assert [a for a in attempts if a["status"] != 201] == []
    assert short(leader(cluster)) == primary
    host.run(["systemctl", "start", "etcd"])
    health = host.run(["etcdctl", "--cacert", ETCD_CA, "--cert", ETCD_CERT, "--key", ETCD_KEY,
                       f"--endpoints=https://{fqdn(primary)}:2379",
                       "endpoint", "health", "--cluster", "-w", "json"])
    assert [m["health"] for m in json.loads(health.stdout)] == [True] * 3
    # Without a certificate from the cluster's CA, etcd answers nobody.
    refused = host.run(["etcdctl", "--cacert", ETCD_CA,
                        f"--endpoints=https://{fqdn(primary)}:2379", "--dial-timeout=3s",
                        "get", "--prefix", "/service"], check=False)
    assert refused.returncode != 0, refused.stdout


# Templates on the bundle's mirror, which holds coder/coder alone.
CODER_ONLY = """
terraform {
  required_providers {
    coder = { source = "coder/coder" }
  }
}
data "coder_workspace" "me" {}
"""
# terraform's built-in terraform_data waits.
SLOW_TEMPLATE = CODER_ONLY + """
resource "terraform_data" "slow" {
  count            = data.coder_workspace.me.start_count
  triggers_replace = [data.coder_workspace.me.id]
  provisioner "local-exec" { command = "sleep 20" }
}
"""


def workspace_job(client, name: str) -> dict:
    listed = json.loads(client.coder("list", "-o", "json").stdout)
    return next(w for w in listed if w["name"] == name)["latest_build"]["job"]


def test_a_provisioner_host_lost_mid_build_is_reaped_and_the_workspace_rebuilds(cluster, tmp_path):
    """The external provisioner's host unplugged while it runs a build that only it may take
    (the template's provisioner tag): coderd fails the job once its daemon is stale, with a
    message; plugged back, the daemon serves again and the workspace builds."""
    client = cluster.client
    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "main.tf").write_text(SLOW_TEMPLATE)
    client.coder("templates", "push", "slow", "-d", str(tmp_path / "slow"),
                 "--provisioner-tag", f"pool={PROVISIONER_POOL}", "-y")
    create = subprocess.Popen(cluster.net.exec(client.namespace, client.coder_argv(
        "create", "lost-build", "--template", "slow", "-y")), cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        job = workspace_job(client, "lost-build") if "lost-build" in client.coder("list").stdout else {}
        if job.get("status") == "running":
            break
        assert time.monotonic() < deadline, job
        time.sleep(1)
    prov = cluster.namespaces["prov-1"]
    cluster.net.unplug(prov)
    try:
        deadline = time.monotonic() + 120
        while (job := workspace_job(client, "lost-build"))["status"] == "running":
            assert time.monotonic() < deadline, job
            time.sleep(2)
        assert job["status"] == "failed" and job["error"], job
    finally:
        cluster.net.plug(prov)
        try:
            create.wait(60)
        except subprocess.TimeoutExpired:  # not the test's failure: the one above, if any
            create.kill()
            create.wait()
    client.coder("start", "lost-build", "-y", timeout=300)
    assert workspace_job(client, "lost-build")["status"] == "succeeded"


# An agent belongs to the resource that uses its token (as in Coder): the test runs it.
AGENT_TEMPLATE = CODER_ONLY + """
resource "coder_agent" "main" {
  count = data.coder_workspace.me.start_count
  arch  = "amd64"
  os    = "linux"
}
resource "terraform_data" "host" {
  count = data.coder_workspace.me.start_count
  input = coder_agent.main[0].token
}
"""


def holder(cluster) -> str:
    """The coderd replica whose relay holds the one agent's connection (its host name)."""
    rows = sql(cluster, "SELECT p.address FROM relay_agents a JOIN relay_processes p "
                        "ON p.id = a.process_id WHERE p.heartbeat_at > now() - interval '30 seconds'")
    return short(rows[0].rsplit(":", 1)[0]) if rows else ""


def test_a_replica_lost_under_load(cluster, tmp_path):
    """The replica holding a workspace's agent is unplugged while users write and SSH
    sessions run (HAProxy gives each a replica: through the lost one, or forwarded to it by
    the other): HAProxy takes it out within its checks, the agent reconnects to the other
    replica within 10 s, every session ends (an error, no traceback) within 45 s, a new one
    works at once, and writes are refused for no longer than the checks take."""
    client = cluster.client
    (tmp_path / "sim").mkdir()
    (tmp_path / "sim" / "main.tf").write_text(AGENT_TEMPLATE)
    client.coder("templates", "push", "sim", "-d", str(tmp_path / "sim"), "-y")
    client.coder("create", "sim", "--template", "sim", "-y")
    token = sql(cluster, "SELECT auth_token FROM workspace_agents ORDER BY created_at DESC LIMIT 1")[0]
    home = tmp_path / "agent-home"
    home.mkdir()
    agent = subprocess.Popen(
        cluster.net.exec(client.namespace, ["env", f"HOME={home}", f"CODER_AGENT_URL=https://{ACCESS}",
                                            f"CODER_AGENT_TOKEN={token}",
                                            f"CODER_AGENT_CA_FILE={client.ca_file}",
                                            sys.executable, "-m", "agent"]),
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "agent.log", "w"))
    lost, sessions = "", []
    try:
        client.coder("ssh", "sim", "--", "true", timeout=120)  # waits for the agent
        lost = holder(cluster)
        assert lost in ("coderd-1", "coderd-2")
        for i in range(2):
            sessions.append(subprocess.Popen(
                cluster.net.exec(client.namespace, client.coder_argv("ssh", "sim", "--", "sleep", "600")),
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"session-{i}.err", "w")))
        time.sleep(3)
        assert all(s.poll() is None for s in sessions)
        owner = client.coder("login", "token").stdout.strip()
        moved: dict[str, float] = {}

        def watch_agent() -> None:
            while time.monotonic() - moved["at"] < 60:
                if holder(cluster) not in ("", lost):
                    moved["after"] = time.monotonic() - moved["at"]
                    return
                time.sleep(0.5)

        watcher = threading.Thread(target=watch_agent, daemon=True)

        def unplug():
            moved["at"] = time.monotonic()
            cluster.net.unplug(cluster.namespaces[lost])
            watcher.start()

        attempts = writes_during(cluster, owner, "replica", 30, unplug)
        watcher.join(60)
        assert moved.get("after", 60) < 10, f"the agent did not reconnect within 10 s: {moved}"
        assert outage(attempts) < 15, attempts
        assert client.coder("ssh", "sim", "--", "echo", "again", timeout=60).stdout.strip() == "again"
        while any(s.poll() is None for s in sessions):
            assert time.monotonic() - moved["at"] < 45, "a session did not end with its replica"
            time.sleep(1)
        ended = time.monotonic() - moved["at"]
        for i, session in enumerate(sessions):
            assert session.returncode != 0
            assert "Traceback" not in (tmp_path / f"session-{i}.err").read_text()
        print(f"agent moved in {moved['after']:.1f} s; sessions ended within {ended:.1f} s; "
              f"longest write gap {outage(attempts):.1f} s")
    finally:
        if lost:
            cluster.net.plug(cluster.namespaces[lost])
        for proc in [agent, *sessions]:
            proc.kill()
            proc.wait()


# The roles each group's hosts run services of; their units are the roles' defaults.
SERVICE_ROLES = {"loadbalancer": ["haproxy"], "coderd": ["coderd"], "postgres": ["patroni", "etcd"],
                 "provisioners": ["provisioners"], "wsproxies": ["wsproxy"]}
PATRONI_DATA = "/var/lib/postgresql/15/patroni"  # the patroni role's patroni_data_dir
ETCD_DATA = "/var/lib/etcd/coder-appliance"  # the etcd role's etcd_data_dir


def role_unit(role: str) -> str:
    defaults = yaml.safe_load((REPO / "ansible" / "roles" / role / "defaults" / "main.yml").read_text())
    return defaults[f"{role}_service"]


def test_a_switchover_and_an_unclean_failover_lose_no_acknowledged_write(cluster):
    """Patroni moves the primary (a switchover), then the new primary's host is lost (no
    hand-over): coderd finds the new primary through libpq's target_session_attrs=read-write
    and serves writes again within 30 s each time. The lost host plugged back rejoins as a
    replica while the users write on, and every write coderd acknowledged is there after."""
    token = cluster.client.coder("login", "token").stdout.strip()
    pg = {short(h.hostname): h for h in cluster.group("postgres")}
    first = short(leader(cluster))
    candidate = next(name for name in pg if name != first)

    def switchover():
        pg[first].run(["patronictl", "-c", "/etc/patroni/config.yml", "switchover", "--force",
                       "--leader", fqdn(first), "--candidate", fqdn(candidate)])

    attempts = writes_during(cluster, token, "sw", 40, switchover)
    assert short(leader(cluster)) == candidate, f"{patroni_views(cluster)}\n{patroni_journals(cluster)}"
    assert outage(attempts) < 30, attempts
    print(f"switchover: longest gap between acknowledged writes {outage(attempts):.1f} s")
    acknowledged_writes_kept(cluster, token, attempts)

    def crash():  # the primary's host unplugged: as lost with its power, to the others
        cluster.net.unplug(cluster.namespaces[candidate])

    def plug():
        cluster.net.plug(cluster.namespaces[candidate])

    try:
        lost = writes_during(cluster, token, "lost", 60, crash)
        assert outage(lost) < 30, f"{lost}\n{patroni_views(cluster)}"
        print(f"primary's host lost: longest gap between acknowledged writes {outage(lost):.1f} s")
        survivor = next(h for name, h in pg.items() if name != candidate)
        assert short(leader_of(survivor)) != candidate
        seen: list[str] = []
        watcher = threading.Thread(target=watch_databases, args=(cluster, seen, 70), daemon=True)
        watcher.start()
        back = writes_during(cluster, token, "back", 60, plug)
        watcher.join(30)
    finally:  # a later test must not find a host of the cluster cut off
        plug()

    def why() -> str:
        return (f"{patroni_views(cluster)}\n{databases(cluster)}\nwhile it came back:\n"
                + "\n".join(seen) + f"\n{patroni_journals(cluster, 400)}")

    assert outage(back) < 30, f"{back}\n{why()}"
    print(f"lost host back: longest gap between acknowledged writes {outage(back):.1f} s")
    for phase in (lost, back):
        acknowledged_writes_kept(cluster, token, phase, why)
    settled(cluster)  # the lost host rewound, a replica of the new primary's timeline
    assert short(leader(cluster)) != candidate, why()
    for phase in (lost, back):
        acknowledged_writes_kept(cluster, token, phase, why)


def databases(cluster) -> str:
    """Each PostgreSQL host's own view, asked over its socket: in recovery or not, its
    timeline, and how many users of the failure test it holds."""
    lines = []
    for host in cluster.group("postgres"):
        done = host.run(["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d", "coder_appliance",
                         "-c", "SELECT pg_is_in_recovery(), (pg_control_checkpoint()).timeline_id, "
                               "(SELECT count(*) FROM users WHERE username LIKE 'lost%'), "
                               "(SELECT count(*) FROM users WHERE username LIKE 'back%')"],
                        check=False)
        lines.append(f"{short(host.hostname)}: in_recovery|timeline|lost|back = "
                     f"{done.stdout.strip() or done.stderr.strip()[:200]}")
    return "\n".join(lines)


def watch_databases(cluster, seen: list[str], seconds: float) -> None:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        seen.append(f"{time.monotonic() - start:5.1f} s " + databases(cluster).replace("\n", " ; "))
        time.sleep(3)


def test_uninstall_removes_every_service_and_a_purge_every_trace(cluster):
    """Last (it ends the cluster): ``install.sh --cluster --uninstall`` stops and disables
    every service of the appliance on every host and removes the installed versions, keeping
    the data (PostgreSQL's under Patroni, etcd's, the CA, the secrets); a second run has
    nothing to do; ``--purge`` then removes the data and configuration too. The Debian
    packages stay, and Debian's own postgresql is never started on Patroni's hosts."""
    units = [role_unit(role) for roles in SERVICE_ROLES.values() for role in roles]
    assert sorted(units) == ["coder-wsproxy", "coderd", "etcd", "haproxy", "patroni", "provisionerd"]

    def no_service_left(host) -> None:
        for unit in [*units, "postgresql"]:
            assert is_active(host, unit) != "active", (host.hostname, unit)
            enabled = host.run(["systemctl", "is-enabled", unit], check=False)
            assert enabled.returncode != 0, (host.hostname, unit, enabled.stdout)  # not found, or disabled

    def packages_stay() -> None:
        for group, packages in (("postgres", ["postgresql", "patroni", "etcd-server"]),
                                ("loadbalancer", ["haproxy"])):
            for host in cluster.group(group):
                status = host.run(["dpkg-query", "-W", "-f", "${db:Status-Status}\n", *packages],
                                  check=False).stdout
                assert status.split() == ["installed"] * len(packages), (host.hostname, status)

    done = cluster.install_sh("--uninstall")
    assert done.returncode == 0, f"{done.stdout[-8000:]}\n{done.stderr[-3000:]}"
    assert "its data and configuration are kept" in done.stdout, done.stdout[-2000:]
    for host in cluster.hosts.values():
        no_service_left(host)
        assert exists(host, "/opt/coder-appliance", "/var/lib/coder-appliance-apt") == [], host.hostname
    kept = [PATRONI_DATA + "/PG_VERSION", ETCD_DATA + "/member", "/etc/patroni/config.yml",
            "/etc/etcd/tls/etcd.key"]
    for host in cluster.group("postgres"):
        assert exists(host, *kept) == kept, host.hostname
    packages_stay()
    assert exists(cluster.group("postgres")[0], "/var/lib/coder-appliance/secrets/postgres_coderd")
    assert exists(cluster.group("coderd")[0], CA, "/etc/coder-appliance/coderd.env") == \
        [CA, "/etc/coder-appliance/coderd.env"]

    again = cluster.install_sh("--uninstall")
    assert again.returncode == 0, f"{again.stdout[-8000:]}\n{again.stderr[-3000:]}"
    changed = {host: counts["changed"] for host, counts in recaps(again.stdout).items()}
    assert changed and set(changed.values()) == {0}, changed

    purged = cluster.install_sh("--uninstall", "--purge")
    assert purged.returncode == 0, f"{purged.stdout[-8000:]}\n{purged.stderr[-3000:]}"
    assert "removed coder-appliance, its data and its configuration" in purged.stdout
    traces = ["/opt/coder-appliance", "/var/lib/coder-appliance", "/var/lib/coder-appliance-apt",
              "/etc/coder-appliance", "/usr/local/share/ca-certificates/coder-appliance-root.crt",
              "/etc/apt/keyrings/coder-appliance.gpg", PATRONI_DATA, ETCD_DATA, "/etc/patroni/config.yml",
              "/etc/patroni/tls", "/var/lib/postgresql/.pgpass_patroni", "/etc/etcd/tls", "/etc/haproxy/tls"]
    for host in cluster.hosts.values():
        no_service_left(host)
        assert exists(host, *traces) == [], host.hostname
        users = host.run(["getent", "passwd", "coder-appliance", "coder-provisioner", "coder-wsproxy"],
                         check=False).stdout
        assert users == "", (host.hostname, users)
    packages_stay()
