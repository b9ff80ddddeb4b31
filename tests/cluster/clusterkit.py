"""A cluster of booted Debian 12 hosts on a private network, deployed as an administrator
deploys one: ``install.sh --cluster`` on the controller, over SSH, from a verified bundle.

Every host is a minimal Debian 12 with OpenSSH (tests/hosts.py), booted with systemd in a
network namespace of its own, joined to the others by a bridge in another namespace
(``HostNetwork``): 10.213.0.0/24 exists only there, and no namespace has a route anywhere
else. The load balancer's host is also the controller that verifies the bundle and runs
Ansible. A user's machine is this machine's own programs (the venv's ``coder``, Python)
run with ``ip netns exec`` in one more namespace on the same network (``Client``).
"""
from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..hosts import BootedHost, HostNetwork, ssh_debian_root
from ..packaging.installkit import NEW, OLD, REPO, bundles, is_active, unpack

DOMAIN = "appliance.test"
ACCESS = f"coder.{DOMAIN}"  # resolves to the load balancer
# group -> (host, last part of its address); the load balancer's host is the controller.
LAYOUT = {
    "loadbalancer": [("lb-1", 10)],
    "coderd": [("coderd-1", 11), ("coderd-2", 12)],
    "postgres": [("pg-1", 21), ("pg-2", 22), ("pg-3", 23)],
    "provisioners": [("prov-1", 31)],
    "wsproxies": [("proxy-1", 41)],  # deployed once an owner's token exists (proxy_inventory)
}
CLIENT = 200
PROVISIONER_POOL = "external"  # prov-1's tag: jobs tagged with it run only there
KEY = "/root/.ssh/id_ed25519"
INVENTORY = "/root/cluster.yml"
CA = "/var/lib/coder-appliance/ca/root.crt"  # on the first coderd host
CURRENT = "/opt/coder-appliance/current"  # the installed version's folder, on every host
PATRONI_CONFIG = "/etc/patroni/config.yml"
# etcd's client certificate on each PostgreSQL host (the etcd role's): etcdctl needs one.
ETCD_CA, ETCD_CERT, ETCD_KEY = (f"/etc/etcd/tls/{f}" for f in ("ca.crt", "etcd.crt", "etcd.key"))


def fqdn(name: str) -> str:
    return f"{name}.{DOMAIN}"


def inventory(addresses: dict[str, str], wsproxy_admin_token: str = "") -> str:
    """The cluster's inventory, as ansible/inventory/cluster.example.yml describes it; the
    workspace proxies once an owner's token is given to make theirs with (in the vault, for
    real: a test's token is plain)."""
    lines = ["all:", "  vars:", f"    appliance_hostname: {ACCESS}", "    ansible_user: root",
             f"    ansible_ssh_private_key_file: {KEY}", "  children:"]
    for group, hosts in LAYOUT.items():
        if group == "wsproxies" and not wsproxy_admin_token:
            continue
        lines += [f"    {group}:", "      hosts:"]
        lines += [f"        {fqdn(name)}: {{ansible_host: {addresses[name]}}}" for name, _ in hosts]
        if group == "provisioners":
            lines.append(f"      vars: {{provisioners_tags: {{pool: {PROVISIONER_POOL}}}}}")
        if group == "wsproxies":
            lines.append(f"      vars: {{wsproxy_admin_token: {wsproxy_admin_token}}}")
    return "\n".join(lines) + "\n"


@dataclass
class Client:
    """A user's machine on the cluster's network: this machine's venv, in a namespace."""
    net: HostNetwork
    namespace: str
    home: Path
    ca_file: Path

    def run(self, cmd: list[str], check: bool = True, timeout: float = 300,
            **kwargs) -> subprocess.CompletedProcess:
        done = subprocess.run(self.net.exec(self.namespace, cmd), capture_output=True, text=True,
                              timeout=timeout, cwd=REPO, **kwargs)
        if check and done.returncode != 0:
            raise AssertionError(f"{cmd} failed on the client ({done.returncode}):\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def coder_argv(self, *args: str) -> list[str]:
        """The real ``coder`` CLI, trusting the cluster's CA, its session in ``home``."""
        return [sys.executable, "-m", "appliance.cli.main", "--global-config", str(self.home),
                "--ca-cert", str(self.ca_file), *args]

    def coder(self, *args: str, check: bool = True, timeout: float = 300):
        return self.run(self.coder_argv(*args), check=check, timeout=timeout)

    def python(self, script: str, *args: str, timeout: float = 300) -> str:
        """A Python script's output (this venv: the project's SDK, requests) on the client."""
        return self.run([sys.executable, "-c", script, *args], timeout=timeout).stdout


@dataclass
class Cluster:
    net: HostNetwork
    hosts: dict[str, BootedHost]
    addresses: dict[str, str]
    namespaces: dict[str, str]
    fingerprint: str
    tars: dict[str, Path]  # the bundle of each version (installkit's OLD and NEW)
    bundle_dir: str = ""  # the one extracted on the controller that install_sh runs
    client: Client | None = None
    deployments: list[str] = field(default_factory=list)

    @property
    def controller(self) -> BootedHost:
        return self.hosts[LAYOUT["loadbalancer"][0][0]]

    def group(self, name: str) -> list[BootedHost]:
        return [self.hosts[host] for host, _ in LAYOUT[name]]

    def install_sh(self, *extra: str) -> subprocess.CompletedProcess:
        """``install.sh --cluster`` on the controller, as the administrator runs it (with
        ``extra`` options, e.g. ``--uninstall``)."""
        return self.controller.run([f"{self.bundle_dir}/install.sh", "--fingerprint",
                                    self.fingerprint, "--cluster", "--inventory", INVENTORY, *extra],
                                   check=False, timeout=1800)

    def deploy(self) -> subprocess.CompletedProcess:
        """``install_sh()``, which must succeed."""
        done = self.install_sh()
        self.deployments.append(done.stdout)
        assert done.returncode == 0, (f"install.sh --cluster failed:\n{done.stdout[-8000:]}\n"
                                      f"{done.stderr[-3000:]}\n{self.journals()}")
        return done

    def write_inventory(self, wsproxy_admin_token: str = "") -> None:
        self.controller.run(["sh", "-c", f"umask 077; cat > {INVENTORY}"],
                            input=inventory(self.addresses, wsproxy_admin_token))

    def journals(self, lines: int = 40) -> str:
        """The last lines each host's own services logged, for a failure's message."""
        units = {"loadbalancer": ["haproxy"], "coderd": ["coderd"], "postgres": ["etcd", "patroni"],
                 "provisioners": ["provisionerd"], "wsproxies": ["coder-wsproxy"]}
        texts = []
        for group, names in units.items():
            for host in self.group(group):
                for unit in names:
                    log = host.run(["journalctl", "-u", unit, "--no-pager", "-n", str(lines)],
                                   check=False).stdout
                    texts.append(f"--- {host.hostname}: {unit} ---\n{log}")
        return "\n".join(texts)


def _hosts_file(addresses: dict[str, str]) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{address}\t{fqdn(name)} {name}" for name, address in addresses.items()]
    lines.append(f"{addresses['lb-1']}\t{ACCESS}")
    return "\n".join(lines) + "\n"


def _serve_ssh(controller: BootedHost, hosts: dict[str, BootedHost],
               addresses: dict[str, str]) -> None:
    """Every host's sshd, root's login by the controller's new key; every host key in the
    controller's known_hosts under its name and address (nothing accepted blindly)."""
    controller.run(["sh", "-c", f"umask 077; mkdir -p /root/.ssh; ssh-keygen -q -t ed25519 -N '' -f {KEY}"])
    public = (controller.root / KEY.lstrip("/")).with_suffix(".pub").read_text()
    known = []
    for name, host in hosts.items():
        host.run(["sh", "-c", "umask 077; mkdir -p /root/.ssh; cat > /root/.ssh/authorized_keys"],
                 input=public)
        host.run(["systemctl", "start", "ssh"])
        key = (host.root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2]
        known.append(f"{fqdn(name)},{addresses[name]} {' '.join(key)}")
    controller.run(["sh", "-c", "cat > /root/.ssh/known_hosts"], input="\n".join(known) + "\n")


@contextlib.contextmanager
def booted_cluster(workdir: Path) -> Iterator[Cluster]:
    """The hosts of LAYOUT booted on their network, SSH ready, the OLD bundle unpacked on the
    controller with the inventory beside it (NEW's is kept for an upgrade); nothing deployed
    yet. A client namespace too."""
    indexes = {name: index for hosts in LAYOUT.values() for name, index in hosts}
    with bundles() as (fingerprint, tars), HostNetwork() as net, \
            contextlib.ExitStack() as stack:
        addresses = {}
        namespaces = {}
        for name, index in indexes.items():
            namespaces[name], addresses[name] = net.add(index)
        hosts_file = _hosts_file(addresses)
        client_ns, _ = net.add(CLIENT, hosts=hosts_file)
        hosts = {}
        for name in indexes:
            hosts[name] = stack.enter_context(BootedHost(
                ssh_debian_root(), workdir / name, netns=namespaces[name], hostname=fqdn(name),
                traced=False))
            hosts[name].run(["sh", "-c", "cat > /etc/hosts"], input=hosts_file)
        cluster = Cluster(net, hosts, addresses, namespaces, fingerprint,
                          {version: tars[version] for version in (OLD, NEW)})
        _serve_ssh(cluster.controller, hosts, addresses)
        cluster.write_inventory()
        cluster.bundle_dir = unpack(cluster.controller, tars[OLD])
        home = workdir / "client"
        home.mkdir(parents=True)
        cluster.client = Client(net, client_ns, home / "coder", home / "ca.crt")
        yield cluster


def service_states(cluster: Cluster, group: str, unit: str) -> list[str]:
    return [is_active(host, unit) for host in cluster.group(group)]


def patroni_members(host: BootedHost) -> list[dict]:
    """``patronictl list`` as JSON: each member's Member, Role, State, Lag..."""
    done = host.run(["patronictl", "-c", PATRONI_CONFIG, "list", "-f", "json"])
    return json.loads(done.stdout)


def settled(cluster: Cluster, within: float = 180) -> None:
    """Wait until every PostgreSQL host is a member again, one the leader and the others
    replicas on its timeline (a replica that cannot follow, a lost primary back but not
    rewound, shows none): a failure test starts from a whole cluster, not from the previous
    test's host still rejoining."""
    deadline = time.monotonic() + within
    while True:
        try:
            members = patroni_members(cluster.group("postgres")[0])
        except AssertionError:  # patronictl failed: that host may be the one rejoining
            members = []
        roles = sorted(m["Role"] for m in members)
        if roles == ["Leader", "Replica", "Replica"] and \
                all(m["State"] in ("running", "streaming") for m in members) and \
                len({m.get("TL") for m in members}) == 1:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the PostgreSQL hosts did not settle in {within:.0f} s:\n"
                                 f"{patroni_views(cluster)}\n{patroni_journals(cluster)}")
        time.sleep(2)


def patroni_journals(cluster: Cluster, lines: int = 120) -> str:
    """What Patroni logged last on each PostgreSQL host, for a failure's message."""
    return "\n".join(f"--- {host.hostname}: patroni ---\n" + host.run(
        ["journalctl", "-u", "patroni", "--no-pager", "-n", str(lines)], check=False).stdout
        for host in cluster.group("postgres"))


def patroni_views(cluster: Cluster) -> str:
    """What each PostgreSQL host's Patroni and etcd member say of the cluster, for a
    failure's message."""
    texts = []
    for host in cluster.group("postgres"):
        for argv in (["patronictl", "-c", PATRONI_CONFIG, "list"],
                     ["etcdctl", "--cacert", ETCD_CA, "--cert", ETCD_CERT, "--key", ETCD_KEY,
                      "--endpoints", f"https://{host.hostname}:2379", "endpoint", "status",
                      "--cluster", "-w", "table"]):
            done = host.run(argv, check=False)
            texts.append(f"--- {host.hostname}: {argv[0]} ---\n{done.stdout}{done.stderr}")
    return "\n".join(texts)


def leader(cluster: Cluster) -> str:
    """The Patroni member that is primary now (its inventory name)."""
    return leader_of(cluster.group("postgres")[0])


def leader_of(host: BootedHost) -> str:
    """The primary, as ``host``'s Patroni sees it."""
    members = patroni_members(host)
    return next(m["Member"] for m in members if m["Role"] == "Leader")


def short(name: str) -> str:
    return name.split(".")[0]


def sql(cluster: Cluster, query: str) -> list[str]:
    """``query``'s rows on the primary, as PostgreSQL's superuser over its socket."""
    primary = cluster.hosts[short(leader(cluster))]
    done = primary.run(["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
                        "-d", "coder_appliance", "-c", query])
    return done.stdout.splitlines()
