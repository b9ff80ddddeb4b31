"""The cluster playbook's settings as they render for the example inventory (no hosts: each
role's templates with the play's variables, the secrets standing in for the fact
cluster_secrets makes): etcd, Patroni, coderd's replicas, HAProxy and the provisioners; and
cluster-uninstall.yml against it (each play undone, each role's TLS folder purged)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jinja2
import psycopg2.extensions
import pytest
import yaml

from .ansibletest import ANSIBLE_DIR, ansible, render_templates

INVENTORY = ANSIBLE_DIR / "inventory" / "cluster.example.yml"
# A vault may give any secret: one with the characters a URL must quote.
SECRETS = {"postgres_superuser": "super-secret", "postgres_replication": "repl-secret",
           "postgres_rewind": "rewind-secret",
           "postgres_coderd": "co/de:r@d%#?", "patroni_rest": "rest-secret", "provisioner_psk": "the-psk"}
PG = [f"pg-{n}.example.internal" for n in (1, 2, 3)]
CODERD = ["coderd-1.example.internal", "coderd-2.example.internal"]
PROXY = "proxy-eu.example.internal"
APPLIANCE = str(Path(sys.executable).with_name("appliance"))
# Each host name's addresses, as the hosts resolve them (the inventory's ansible_host; one
# PostgreSQL host also has an IPv6 address).
ADDRESSES = {name: [host["ansible_host"]] + (["fd00::23"] if name == PG[2] else [])
             for group in yaml.safe_load(INVENTORY.read_text())["all"]["children"].values()
             for name, host in group["hosts"].items()}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = render_templates(tmp_path_factory.mktemp("render"), "cluster.yml", INVENTORY,
                           {"cluster_secrets": SECRETS, "coderd_user_made": {"uid": 999},
                            "wsproxy_token_made": "proxy-id:proxy-secret",
                            "cluster_addresses": ADDRESSES})
    return lambda host, role, name: (out / host / role / name).read_text()


def env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_the_example_inventory_has_the_groups_the_playbook_names():
    groups = yaml.safe_load(INVENTORY.read_text())["all"]["children"]
    assert len(groups["coderd"]["hosts"]) >= 2 and len(groups["postgres"]["hosts"]) == 3
    assert {"loadbalancer", "provisioners", "wsproxies"} <= groups.keys()


def test_etcd_members_form_one_cluster_over_tls(rendered):
    members = [env(rendered(host, "etcd", "etcd.env")) for host in PG]
    assert {m["ETCD_INITIAL_CLUSTER"] for m in members} == {
        ",".join(f"{h}=https://{h}:2380" for h in PG)}
    for host, member in zip(PG, members):
        assert member["ETCD_NAME"] == host
        assert member["ETCD_ADVERTISE_CLIENT_URLS"] == f"https://{host}:2379"
        assert member["ETCD_LISTEN_PEER_URLS"].startswith("https://")
        assert member["ETCD_PEER_TRUSTED_CA_FILE"] == member["ETCD_TRUSTED_CA_FILE"] == "/etc/etcd/tls/ca.crt"
        assert member["ETCD_DATA_DIR"] != "/var/lib/etcd/default"  # not the package's own cluster
        # Only holders of a certificate from the cluster's CA may be a peer or a client.
        assert member["ETCD_CLIENT_CERT_AUTH"] == member["ETCD_PEER_CLIENT_CERT_AUTH"] == "true"
        # A member back from isolation does not make the healthy leader step down.
        assert member["ETCD_PRE_VOTE"] == "true"
        assert member["ETCD_ENABLE_V2"] == "true"  # Patroni's keys (see the patroni role)


def test_patroni_runs_postgresql_with_tls_and_the_secrets(rendered):
    for host in PG:
        config = yaml.safe_load(rendered(host, "patroni", "config.yml"))
        assert config["name"] == host and config["scope"] == "coder-appliance"
        # etcd's v2 API, whose leader key renewal compares (Patroni 3.0.2's etcd3 does not).
        assert "etcd3" not in config
        assert config["etcd"]["hosts"] == [f"{h}:2379" for h in PG]
        assert config["etcd"]["protocol"] == "https"
        assert (config["etcd"]["cert"], config["etcd"]["key"]) == (
            "/etc/patroni/tls/patroni.crt", "/etc/patroni/tls/patroni.key")
        dcs = config["bootstrap"]["dcs"]
        assert dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"] <= 20
        assert config["restapi"]["certfile"] == "/etc/patroni/tls/patroni.crt"
        assert config["restapi"]["authentication"]["password"] == SECRETS["patroni_rest"]
        pg = config["postgresql"]
        assert pg["bin_dir"] == "/usr/lib/postgresql/15/bin"
        assert pg["authentication"]["superuser"]["password"] == SECRETS["postgres_superuser"]
        assert pg["authentication"]["replication"] == {
            "username": "replicator", "password": SECRETS["postgres_replication"],
            "sslmode": "verify-full", "sslrootcert": "/etc/patroni/tls/ca.crt"}
        assert pg["parameters"]["ssl"] == "on"
        # Over the network: only the cluster's hosts, each to what it needs, over TLS with
        # a password; never the superuser (its connections are Patroni's, over the socket).
        network = [line for line in pg["pg_hba"] if not line.startswith("local ")]
        hosts = ["10.0.0.11/32", "10.0.0.12/32", "10.0.0.21/32", "10.0.0.22/32", "10.0.0.23/32",
                 "fd00::23/128"]
        assert network == [line for address in hosts for line in (
            f"hostssl replication replicator {address} scram-sha-256",
            f"hostssl postgres rewinder {address} scram-sha-256",
            f"hostssl coder_appliance coder_appliance {address} scram-sha-256")]
        assert pg["authentication"]["rewind"]["username"] == "rewinder"
        assert pg["authentication"]["rewind"]["password"] == SECRETS["postgres_rewind"]
        # The REST API's changing requests: from the members and the host only.
        assert config["restapi"]["allowlist"] == ["127.0.0.1", "::1"]
        assert config["restapi"]["allowlist_include_members"] is True
        # Patroni's own connections, replication included, through the socket (not TLS to
        # "localhost", which no certificate names).
        assert pg["use_unix_socket"] is pg["use_unix_socket_repl"] is True
        assert "local replication replicator scram-sha-256" in pg["pg_hba"]
        assert dcs["check_timeline"] is True


def test_each_coderd_replica_reaches_the_primary_over_verified_tls(rendered):
    for host in CODERD:
        settings = env(rendered(host, "coderd", "coderd.env"))
        dsn = psycopg2.extensions.parse_dsn(settings["CODER_PG_CONNECTION_URL"])
        assert dsn == {"user": "coder_appliance", "password": SECRETS["postgres_coderd"],
                       "host": ",".join(PG), "port": "5432,5432,5432", "dbname": "coder_appliance",
                       "sslmode": "verify-full", "sslrootcert": "/etc/coder-appliance/cluster-tls/ca.crt",
                       "target_session_attrs": "read-write"}
        assert settings["CODER_ACCESS_URL"] == "https://coder.example.internal"
        assert settings["CODER_RELAY_ADDRESS"] == host
        assert settings["CODER_RELAY_TLS_CA_FILE"] == "/etc/coder-appliance/cluster-tls/ca.crt"
        assert settings["CODER_PROVISIONER_DAEMON_PSK"] == SECRETS["provisioner_psk"]
        assert settings["CODER_UPDATE_CHECK"] == "false" and settings["CODER_TELEMETRY_ENABLE"] == "false"
        # Clients come through HAProxy, which names each in a PROXY protocol header: coderd
        # believes one from the balancer's address only, and caps each client's connections.
        assert settings["CODER_PROXY_PROTOCOL_ORIGINS"] == "10.0.0.10"
        assert "CODER_HTTP_MAX_CONNECTIONS_PER_CLIENT" not in settings


def test_haproxy_passes_tcp_to_healthy_replicas_without_stickiness(rendered):
    config = rendered("lb-1.example.internal", "haproxy", "haproxy.cfg")
    assert "    mode tcp\n" in config and "    balance leastconn\n" in config
    assert re.findall(r"^    server (\S+) (\S+)$", config, re.M) == [(h, f"{h}:443") for h in CODERD]
    assert "uri /healthz" in config and "http-check expect status 200" in config
    assert "check-ssl verify required ca-file /etc/haproxy/tls/ca.crt" in config
    assert "verifyhost coder.example.internal" in config
    assert "    option redispatch\n" in config  # a refused connection goes to another replica
    assert "default-server send-proxy-v2 check-send-proxy " in config
    assert not re.search(r"^\s*(cookie|stick|hash-type)\b", config, re.M)


def test_provisioners_carry_the_psk_their_tags_and_the_ca(rendered):
    tags = {}
    for host in ("prov-1.example.internal", "prov-2.example.internal"):
        settings = env(rendered(host, "provisioners", "provisionerd.env"))
        assert settings["CODER_URL"] == "https://coder.example.internal"
        assert settings["CODER_PROVISIONER_DAEMON_PSK"] == SECRETS["provisioner_psk"]
        assert settings["CODER_CA_CERT"] == "/etc/coder-appliance/cluster-tls/ca.crt"
        tags[host] = settings["CODER_PROVISIONERD_TAGS"]
    assert tags == {"prov-1.example.internal": "", "prov-2.example.internal": "pool=gpu"}
    unit = rendered("prov-1.example.internal", "provisioners", "provisionerd.service")
    assert "ExecStart=/opt/coder-appliance/current/bin/coderd provisionerd start\n" in unit


def test_the_workspace_proxy_serves_https_from_the_ca_and_registers_with_coderd(rendered):
    """Its token made on the first coderd host (the fact the role sets), HTTPS with the
    certificate cluster_cert installs, coderd and the relay verified with the CA; the key
    handed over by systemd, never in the settings, and no database setting at all."""
    settings = env(rendered(PROXY, "wsproxy", "wsproxy.env"))
    assert settings == {
        "CODER_PRIMARY_ACCESS_URL": "https://coder.example.internal",
        "CODER_PROXY_SESSION_TOKEN": "proxy-id:proxy-secret",
        "CODER_ACCESS_URL": f"https://{PROXY}", "CODER_TLS_ADDRESS": "0.0.0.0:443",
        "CODER_TLS_CERT_FILE": "/etc/coder-appliance/wsproxy-tls/wsproxy.crt",
        "CODER_CA_CERT": "/etc/coder-appliance/wsproxy-tls/ca.crt",
        "CODER_RELAY_TLS_CA_FILE": "/etc/coder-appliance/wsproxy-tls/ca.crt"}
    unit = rendered(PROXY, "wsproxy", "wsproxy.service")
    assert "ExecStart=/opt/coder-appliance/current/bin/coderd wsproxy server\n" in unit
    assert "Description=coder-appliance workspace proxy (proxy-eu)\n" in unit
    assert "LoadCredential=wsproxy.key:/etc/coder-appliance/wsproxy-tls/wsproxy.key\n" in unit
    assert "Environment=CODER_TLS_KEY_FILE=%d/wsproxy.key\n" in unit
    assert "User=coder-wsproxy\n" in unit and "AmbientCapabilities=CAP_NET_BIND_SERVICE\n" in unit
    last = yaml.safe_load((ANSIBLE_DIR / "playbooks" / "cluster.yml").read_text())[-1]
    assert last["hosts"] == "wsproxies" and [r["role"] for r in last["roles"]] == \
        ["cluster_cert", "wsproxy"]


def test_the_ca_issues_every_certificate_the_playbook_asks_for(tmp_path):
    """The names cluster_cert asks the CA for, per play and host of the example inventory, lie
    inside the name constraints of the CA appliance_ca makes for the access URL: the bundle's
    own `appliance ca` issues each one."""
    inventory = yaml.safe_load(INVENTORY.read_text())["all"]
    role = ANSIBLE_DIR / "roles" / "cluster_cert"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    ca = tmp_path / "ca"
    init = subprocess.run([APPLIANCE, "ca", "init", "--dir", str(ca), "--access-url",
                           f"https://{inventory['vars']['appliance_hostname']}"], capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    issued = []
    for play in yaml.safe_load((ANSIBLE_DIR / "playbooks" / "cluster.yml").read_text()):
        for entry in (e for e in play.get("roles", []) if e["role"] == "cluster_cert"):
            for host in inventory["children"][play["hosts"]]["hosts"]:
                values = {**inventory["vars"], "inventory_hostname": host}
                asked = {**defaults, **entry.get("vars", {})}
                cert = {k: yaml.safe_load(jinja2.Template(yaml.safe_dump(asked[f"cluster_cert_{k}"]))
                                          .render(values)) for k in ("name", "dns", "ips")}
                if not cert["dns"]:
                    continue
                done = subprocess.run([APPLIANCE, "ca", "issue", "--dir", str(ca), "--name", cert["name"],
                                       *(f"--dns={d}" for d in cert["dns"]), *(f"--ip={i}" for i in cert["ips"])],
                                      capture_output=True, text=True)
                assert done.returncode == 0, f"{cert}: {done.stderr}"
                issued.append(cert["name"])
    assert sorted(issued) == sorted([f"{h}-etcd" for h in PG] + [f"{h}-postgres" for h in PG]
                                    + [f"{h}-coderd" for h in CODERD] + [f"{PROXY}-wsproxy"])
    outside = subprocess.run([APPLIANCE, "ca", "issue", "--dir", str(ca), "--dns=db.elsewhere.test"],
                             capture_output=True, text=True)
    assert outside.returncode != 0  # the constraints this test relies on are there


def plays(name: str) -> list[dict]:
    return yaml.safe_load((ANSIBLE_DIR / "playbooks" / name).read_text())


def role_defaults(role: str) -> dict:
    return yaml.safe_load((ANSIBLE_DIR / "roles" / role / "defaults" / "main.yml").read_text())


def test_the_cluster_uninstall_undoes_cluster_yml_in_reverse():
    """Every role of cluster.yml that has an uninstall runs it on the hosts it ran on, in the
    reverse order, its purge given by appliance_purge; the bundle's own roles last, in the
    playbook the single node's uninstall imports too. Never the single node's
    appliance_postgresql uninstall: its purge starts Debian's postgresql, which Patroni's hosts
    keep stopped."""
    installed = [(play["hosts"], entry["role"]) for play in plays("cluster.yml")
                 for entry in play.get("roles", [])
                 if (ANSIBLE_DIR / "roles" / entry["role"] / "tasks" / "uninstall.yml").exists()]
    bundle_roles = ("appliance_files", "appliance_apt_repo")
    removed, imported = [], []
    for play in plays("cluster-uninstall.yml"):
        if "ansible.builtin.import_playbook" in play:
            imported.append(play["ansible.builtin.import_playbook"])
            continue
        for task in play["tasks"]:
            role = task["ansible.builtin.import_role"]
            assert role["tasks_from"] == "uninstall", task
            removed.append((play["hosts"], role["name"]))
            purge = f"{role['name']}_purge"
            assert purge in role_defaults(role["name"]), purge
            assert task["vars"] == {purge: "{{ appliance_purge }}"}, task
    assert removed == [(hosts, role) for hosts, role in reversed(installed)
                       if role not in bundle_roles]
    assert imported == ["uninstall-bundle.yml"]
    assert [p["ansible.builtin.import_playbook"] for p in plays("uninstall.yml")[1:]] == imported
    (tail,) = plays("uninstall-bundle.yml")
    assert tail["hosts"] == "all"
    assert [t["ansible.builtin.import_role"]["name"] for t in tail["tasks"]
            if "ansible.builtin.import_role" in t] == list(bundle_roles)
    assert "appliance_postgresql" not in [role for _, role in removed]


def test_each_purge_removes_the_tls_files_cluster_cert_installed_for_its_role():
    """cluster_cert copies a host's certificate, its key and the CA's root into the folder the
    play names for the next role; that role's purge removes the same folder (coderd's lies in
    its configuration folder, which its purge removes whole)."""
    cert_defaults = role_defaults("cluster_cert")
    checked = []
    for play in plays("cluster.yml"):
        roles = play.get("roles", [])
        for cert, entry in zip(roles, roles[1:]):
            if cert["role"] != "cluster_cert":
                continue
            asked = {**cert_defaults, **cert.get("vars", {})}["cluster_cert_dest_dir"]
            dest = jinja2.Template(asked).render(play.get("vars", {}))
            role, defaults = entry["role"], role_defaults(entry["role"])
            if role == "coderd":
                assert dest.startswith(defaults["coderd_config_dir"] + "/"), dest
            else:
                assert defaults[f"{role}_tls_dir"] == dest, role
            checked.append(role)
    assert sorted(checked) == ["coderd", "etcd", "haproxy", "patroni", "provisioners", "wsproxy"]


def run_play(home: Path, name: str, groups: dict[str, list[str]], tasks: list[dict] = (),
             **inventory_vars) -> subprocess.CompletedProcess:
    """cluster.yml's play ``name``, with ``tasks`` after its own, run here for each host of
    ``groups`` (local connections)."""
    home.mkdir(exist_ok=True)
    (play,) = [p for p in yaml.safe_load((ANSIBLE_DIR / "playbooks" / "cluster.yml").read_text())
               if p["name"] == name]
    play["tasks"] = play.get("tasks", []) + list(tasks)
    (home / "inventory.yml").write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **inventory_vars},
        "children": {group: {"hosts": {host: None for host in hosts}} for group, hosts in groups.items()}}}))
    (home / "play.yml").write_text(yaml.safe_dump([play]))
    return ansible(home, "playbook", "-i", str(home / "inventory.yml"), str(home / "play.yml"))


def resolve(home: Path, loadbalancer: str, coderd: str = "192.0.2.12",
            **inventory_vars) -> tuple[subprocess.CompletedProcess, dict]:
    """cluster.yml's play that resolves the hosts' names, for hosts named by addresses (which
    resolve without DNS) but the given load balancer and second coderd host, and the
    addresses the first coderd host kept."""
    done = run_play(home, "Resolve the cluster's host names on the hosts that admit them",
                    {"loadbalancer": [loadbalancer], "coderd": ["192.0.2.11", coderd],
                     "postgres": ["192.0.2.21"]},
                    [{"name": "Write what was kept", "ansible.builtin.copy": {
                        "content": "{{ cluster_addresses | to_json }}",
                        "dest": f"{home}/{{{{ inventory_hostname }}}}.json"}}], **inventory_vars)
    kept = home / "192.0.2.11.json"
    return done, json.loads(kept.read_text()) if kept.exists() else {}


def test_each_host_keeps_the_addresses_the_others_names_resolve_to(tmp_path):
    done, kept = resolve(tmp_path, "192.0.2.10")
    assert done.returncode == 0, done.stdout
    assert kept == {name: [name] for name in ("192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.21")}


def test_a_name_resolving_to_loopback_or_an_address_list_not_a_list_stops_the_run(tmp_path):
    """attack (session 11): a Debian host's /etc/hosts names itself 127.0.1.1; another
    host's name resolving to loopback would let every local process (a template's) send a
    PROXY header naming any client, or reach PostgreSQL as that host. And an address given
    as a string was read a character at a time."""
    done, _ = resolve(tmp_path / "loopback", "localhost")
    assert done.returncode != 0
    assert re.search(r"localhost resolves to [0-9a-f:., ]+ on 192\.0\.2\.11: give every host its own address",
                     " ".join(done.stdout.split())), done.stdout
    # A coderd host's own name: its relay would listen on loopback, out of the others' reach.
    done, _ = resolve(tmp_path / "own", "192.0.2.10", coderd="localhost")
    assert done.returncode != 0
    assert re.search(r"localhost resolves to [0-9a-f:., ]+ on localhost: give every host its own address",
                     " ".join(done.stdout.split())), done.stdout
    done, _ = resolve(tmp_path / "string", "192.0.2.10", cluster_loadbalancer_addresses="192.0.2.10")
    assert done.returncode != 0
    assert "cluster_loadbalancer_addresses and cluster_database_networks are lists" in done.stdout, done.stdout


def test_a_first_run_leaves_the_workspace_proxies_for_a_rerun_with_a_token(tmp_path):
    """A new user's first run of the example inventory (review, session 11): a proxy's
    token needs an owner, who exists only after that run; the proxies' play failed it."""
    done = run_play(tmp_path, "Run the workspace proxies", {"wsproxies": ["proxy-eu.example.internal"]})
    assert done.returncode == 0, done.stdout
    assert "proxy-eu.example.internal is not deployed yet: once the first user exists, give " \
           "wsproxy_admin_token" in " ".join(done.stdout.split()), done.stdout
    assert "TASK [cluster_cert" not in done.stdout and "TASK [wsproxy" not in done.stdout
    # With a token the proxy is deployed (its certificate first: no CA here, so it stops there).
    given = run_play(tmp_path / "token", "Run the workspace proxies",
                     {"wsproxies": ["proxy-eu.example.internal"]}, wsproxy_admin_token="owner-token")
    assert "is not deployed yet" not in given.stdout and "TASK [cluster_cert" in given.stdout, given.stdout
