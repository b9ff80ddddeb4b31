"""Debian 12 hosts for the tests that install the appliance as an administrator would.

The air-gapped target is a MINIMAL Debian 12: `debootstrap --variant=minbase`
plus what it takes to boot with systemd. Making one costs minutes, so it is made
once per machine under /var/tmp/appliance-hosts/ and each test works on a copy;
so is its variant with OpenSSH, for the installs from one host to another.
"""
from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable

HOSTS_DIR = Path("/var/tmp/appliance-hosts")
SOURCES = Path("/etc/apt/sources.list.d")
# The system calls that name a destination: what a trace of "leaving the host" records.
TRACED_CALLS = "trace=connect,sendto,sendmsg,sendmmsg"
ADDRESS = re.compile(r'(connect|sendto|sendmsg|sendmmsg)\(\d+, .*?sa_family=(AF_INET6?)'
                     r'.*?(?:sin6?_port=htons\((\d+)\)).*?(?:inet_addr\("([^"]+)"\)|'
                     r'inet_pton\(AF_INET6, "([^"]+)"|sin6_addr=([^,}]+))')
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _traced(log: Path, argv: list[str]) -> list[str]:
    """``argv`` run by strace, which logs to ``log`` the destination calls of it and of
    everything it starts; ``--seccomp-bpf`` stops a process only at those calls."""
    return ["strace", "-f", "-qq", "--seccomp-bpf", "-e", TRACED_CALLS, "-o", str(log), *argv]


def destinations(trace: str) -> list[tuple[str, int, str]]:
    """(address, port, syscall) of every IPv4 or IPv6 destination in an strace log."""
    found = []
    for line in trace.splitlines():
        if "AF_INET" not in line:
            continue
        m = ADDRESS.search(line)
        assert m, f"an address strace printed that the test cannot read: {line}"
        call, _, port, v4, v6, v6raw = m.groups()
        found.append((v4 or v6 or v6raw, int(port), call))
    return found


def off_host(dests: list[tuple[str, int, str]],
             network: ipaddress.IPv4Network | None = None) -> list[tuple[str, int, str]]:
    """The destinations that leave the host (or ``network``, a HostNetwork's subnet), or are
    DNS servers (wherever they listen).

    The unspecified address (0.0.0.0, ::) stays on the host: Linux takes it for the host
    itself, and glibc's getaddrinfo connects a UDP socket to each answer to sort them, as
    sshd does with its own passive address for every session (nothing is sent).
    """
    bad = []
    for address, port, call in dests:
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        inside = ip.is_loopback or ip.is_unspecified or (network is not None and ip in network)
        if not inside or port == 53:
            bad.append((address, port, call))
    return bad


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (as ../shared/fresh-debian finds it)."""
    for sources in sorted(SOURCES.glob("*.sources")):
        found = re.search(r"^URIs:\s*(\S+)", sources.read_text(), re.M)
        if found:
            return found.group(1)
    legacy = Path("/etc/apt/sources.list")
    found = legacy.exists() and re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", legacy.read_text(), re.M)
    if not found:
        raise RuntimeError(f"no Debian mirror in {SOURCES}/*.sources or {legacy}")
    return found.group(1)


def _cached_root(name: str, make: Callable[[Path], None]) -> Path:
    """HOSTS_DIR/name, made by ``make(folder)`` on first use (never modify it: copy it).

    Made in a .tmp sibling and renamed, under a file lock, so that an interrupted
    run leaves nothing that looks finished and two processes do not both make it.
    """
    HOSTS_DIR.mkdir(parents=True, exist_ok=True)
    root = HOSTS_DIR / name
    with open(HOSTS_DIR / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if root.is_dir():
            return root
        tmp = root.with_name(f"{name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        make(tmp)
        tmp.rename(root)
        return root


def _logged(cmd: list[str], log: Path) -> None:
    """Run ``cmd`` with its output in ``log``; a failure names the log."""
    with open(log, "w") as out:
        made = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if made.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({made.returncode}), see {log}")


def _debootstrap(folder: Path) -> None:
    for tool in ("debootstrap", "systemd-nspawn"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (./dev setup installs the test packages)")
    _logged(["debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv,dbus",
             "bookworm", str(folder), debian_mirror()], HOSTS_DIR / "minbase-debootstrap.log")


def minimal_debian_root() -> Path:
    """The minimal Debian 12 root file system: debootstrap's minbase that boots with systemd."""
    return _cached_root("minbase", _debootstrap)


def _add_openssh(folder: Path) -> None:
    """The minimal root plus openssh-server (and so openssh-client) from this machine's Debian
    mirror (debootstrap's sources.list), its service disabled: a test starts it where it wants
    it. Recommends are left out: they would bring python3, which the minimal host lacks."""
    subprocess.run(["cp", "-a", "--reflink=auto", "--", str(minimal_debian_root()), str(folder)],
                   check=True)
    _logged(["systemd-nspawn", "-q", "--register=no", "--keep-unit", "--as-pid2", "-D", str(folder),
             "sh", "-c", "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get -q update; "
             "apt-get -q install -y --no-install-recommends openssh-server; "
             "systemctl disable ssh.service; apt-get clean; rm -rf /var/lib/apt/lists/*"],
            HOSTS_DIR / "minbase-ssh.log")


def ssh_debian_root() -> Path:
    """The minimal Debian 12 root with OpenSSH's server and client, sshd not started at boot."""
    return _cached_root("minbase-ssh", _add_openssh)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


class HostNetwork:
    """A private IPv4 network for booted hosts, made only of namespaces this test makes.

    One network namespace holds a Linux bridge; each host gets a namespace of its own whose
    ``eth0`` is one end of a veth pair, the other end a port of that bridge. The addresses
    (``subnet``) exist only inside these namespaces, and none of them has a default route:
    nothing sent on this network can reach this machine's or anyone's. ``add`` gives a
    namespace for a host (BootedHost's ``netns``) or for a client the test runs with
    ``ip netns exec`` (which reads /etc/netns/NAME/hosts as its /etc/hosts).
    """

    def __init__(self, subnet: str = "10.213.0.0/24"):
        self.subnet = ipaddress.ip_network(subnet)
        self.tag = uuid.uuid4().hex[:6]
        self.bridge = f"ca{self.tag}-br"
        self._namespaces: list[str] = []

    def __enter__(self) -> "HostNetwork":
        if shutil.which("ip") is None:
            raise RuntimeError("ip is not installed (./dev setup --test installs iproute2)")
        self._namespace(self.bridge)
        try:
            _ip("-n", self.bridge, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.bridge, "link", "set", "br0", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def _namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self._namespaces.append(name)

    def add(self, index: int, hosts: str = "") -> tuple[str, str]:
        """(namespace name, address) for member ``index`` (its address's last part, 1-254);
        ``hosts``: the /etc/hosts ``ip netns exec`` gives commands run in it."""
        name = f"ca{self.tag}-{index}"
        self._namespace(name)
        port = f"p{index}"
        _ip("-n", self.bridge, "link", "add", port, "type", "veth", "peer", "name", "eth0",
            "netns", name)
        _ip("-n", self.bridge, "link", "set", port, "master", "br0", "up")
        address = str(self.subnet.network_address + index)
        _ip("-n", name, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        for link in ("lo", "eth0"):
            _ip("-n", name, "link", "set", link, "up")
        if hosts:
            folder = Path("/etc/netns") / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "hosts").write_text(hosts)
        return name, address

    def unplug(self, namespace: str) -> None:
        """Cut ``namespace`` off the network, as a pulled cable or a host lost with its power
        is to the others: what they send goes unanswered (no reset, no refusal)."""
        _ip("-n", self.bridge, "link", "set", f"p{namespace.rsplit('-', 1)[1]}", "down")

    def plug(self, namespace: str) -> None:
        _ip("-n", self.bridge, "link", "set", f"p{namespace.rsplit('-', 1)[1]}", "up")

    def exec(self, namespace: str, cmd: list[str]) -> list[str]:
        """``cmd`` as a command line run in ``namespace`` (this machine's files and programs)."""
        return ["ip", "netns", "exec", namespace, *cmd]

    def __exit__(self, *exc) -> None:
        """Removing a namespace removes its veth end, and so its pair."""
        for name in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)
        self._namespaces.clear()


def _descendants(pid: int, depth: int) -> list[int]:
    """``pid``'s children and theirs, ``depth`` generations down."""
    found = []
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:  # it ended meanwhile
        return found
    for child in children:
        found.append(child)
        if depth > 1:
            found += _descendants(child, depth - 1)
    return found


class BootedHost:
    """A copy of a Debian 12 root booted with systemd under systemd-nspawn, with only loopback.

    ``with BootedHost(root, workdir) as host:`` copies ``root`` (never changed)
    under /var/tmp/appliance-hosts/booted/, boots it (``--private-network``: no
    route anywhere) and waits until systemd says the system is up; at the end it
    powers off, kills what is left of the container and removes the copy
    (``workdir`` keeps the console log and the traces). With ``network_of=other``
    it joins that booted host's network namespace instead: the two share one
    loopback and reach nothing else (leave it before the other); with ``netns`` (a
    HostNetwork's namespace) it boots in that one, named ``hostname``. Everything a test needs goes through
    ``run`` (a command in all of the host's namespaces, via nsenter) and
    ``copy_in`` (the file system is shared). From boot on, every process the host's
    systemd starts is under strace, and so is each command ``run`` with ``traced``, so
    ``connects()`` lists each destination any of them connected or sent to (unless
    ``traced`` is False for the host). strace starts nspawn itself, with
    ``--seccomp-bpf``: the kernel stops a process only at the calls traced, where
    attaching to a booted host's processes stopped them at every call (three times
    slower, too slow for a cluster's services).
    """

    def __init__(self, root: Path, workdir: Path, boot_timeout: float = 120,
                 network_of: "BootedHost | None" = None, netns: str = "", hostname: str = "",
                 traced: bool = True):
        self.source, self.workdir, self.boot_timeout = root, workdir, boot_timeout
        self.traced = traced
        self.network_of, self.netns, self.hostname = network_of, netns, hostname
        self.machine = f"h{uuid.uuid4().hex[:10]}"
        # Beside the minimal root (/var/tmp): a small /tmp would not hold the copy.
        self.root = HOSTS_DIR / "booted" / self.machine
        self.console_log = workdir / "console.log"
        self._nspawn: subprocess.Popen | None = None  # nspawn, or strace running it
        self.pid = 0

    def __enter__(self) -> "BootedHost":
        for tool in ("systemd-nspawn", "nsenter", "strace"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not installed (./dev setup --test installs it)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.root.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", "--reflink=auto", "--", str(self.source), str(self.root)],
                       check=True)
        self._write_hosts_file()
        try:
            self._boot()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _write_hosts_file(self) -> None:
        """/etc/hosts as Debian's installer writes it; debootstrap writes none, and then
        every lookup of localhost or the host's own name would go to the DNS server."""
        hosts = self.root / "etc" / "hosts"
        if self.hostname:
            (self.root / "etc" / "hostname").write_text(self.hostname.split(".")[0] + "\n")
        if not hosts.exists():
            name = (self.root / "etc" / "hostname").read_text().strip()
            hosts.write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n"
                             "::1\tlocalhost ip6-localhost ip6-loopback\n")

    def _own_cgroups(self) -> list[Path]:
        """A cgroup of this host's own in each hierarchy systemd uses (cgroup v2 alone, or the
        hybrid layout's name=systemd and unified): nspawn with --keep-unit puts the
        container's tree under the cgroup it starts in, and two hosts started in the same
        one would share their services' cgroups (one host's systemd stopping etcd.service
        killed another's)."""
        base = Path("/sys/fs/cgroup")
        roots = [base] if (base / "cgroup.procs").exists() else \
            [base / name for name in ("systemd", "unified") if (base / name / "cgroup.procs").exists()]
        return [root / "appliance-hosts" / self.machine for root in roots]

    def _boot(self) -> None:
        cgroups = self._own_cgroups()
        for cgroup in cgroups:
            cgroup.mkdir(parents=True, exist_ok=True)

        def enter_cgroups() -> None:  # in the child, before nspawn runs
            for cgroup in cgroups:
                (cgroup / "cgroup.procs").write_text("0")

        nspawn = ["systemd-nspawn", "-q", "-b", self._network(), "--register=no",
                  *([f"--hostname={self.hostname}"] if self.hostname else []),
                  "--keep-unit", f"--machine={self.machine}", "-D", str(self.root)]
        if self.traced:
            nspawn = _traced(self.workdir / "connect-boot.trace", nspawn)
        with open(self.console_log, "wb") as console:
            self._nspawn = subprocess.Popen(
                nspawn, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=enter_cgroups)
        self.pid = self._container_init()
        deadline = time.monotonic() + self.boot_timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.run(["systemctl", "is-system-running"], check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.5)
        journal = self.run(["journalctl", "-b", "--no-pager", "-n", "60"], check=False)
        raise RuntimeError(f"the host did not finish booting in {self.boot_timeout:.0f} s "
                           f"(systemctl is-system-running: {state!r}); journal:\n{journal.stdout}")

    def _network(self) -> str:
        """nspawn's network: only loopback, its own or (``network_of``) the other host's, or
        (``netns``) a HostNetwork's namespace."""
        if self.netns:
            return f"--network-namespace-path=/run/netns/{self.netns}"
        if self.network_of is None:
            return "--private-network"
        return f"--network-namespace-path=/proc/{self.network_of.pid}/ns/net"

    def _container_init(self) -> int:
        """The PID (here) of the container's systemd: nspawn's child (strace's grandchild)
        in a new PID namespace."""
        ours = os.readlink("/proc/self/ns/pid")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._nspawn.poll() is not None:
                raise RuntimeError(f"systemd-nspawn ended ({self._nspawn.returncode}):\n"
                                   f"{self.console_log.read_text()[-3000:]}")
            for pid in _descendants(self._nspawn.pid, depth=2):
                try:
                    if os.readlink(f"/proc/{pid}/ns/pid") != ours and \
                            Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                        return pid
                except OSError:  # it ended meanwhile
                    continue
            time.sleep(0.05)
        raise RuntimeError("systemd-nspawn started no systemd in 30 s")

    def enter(self, cmd: list[str]) -> list[str]:
        """``cmd`` as a command line that runs it inside the host as root."""
        return ["nsenter", "-t", str(self.pid), "-a", "--", "env", "-i", f"PATH={HOST_PATH}",
                "HOME=/root", "LANG=C.UTF-8", *cmd]

    def run(self, cmd: list[str], check: bool = True, timeout: float = 600,
            traced: bool = False, **kwargs) -> subprocess.CompletedProcess:
        """Run ``cmd`` inside the host (under strace when ``traced``, for ``connects()``)."""
        argv = self.enter(cmd)
        if traced:
            argv = _traced(self.workdir / f"connect-run-{uuid.uuid4().hex[:8]}.trace", argv)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
        if check and done.returncode != 0:
            raise AssertionError(f"{cmd} failed in the host ({done.returncode}):\n"
                                 f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        return done

    def popen(self, cmd: list[str]) -> subprocess.Popen:
        """Start ``cmd`` inside the host, its output a text pipe (the caller waits for it)."""
        return subprocess.Popen(self.enter(cmd), stdout=subprocess.PIPE, text=True)

    def copy_in(self, src: Path, dest: str) -> Path:
        """Copy the file or folder ``src`` to ``dest`` (absolute, in the host); return it as seen here."""
        target = self.root / dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if Path(src).is_dir():
            shutil.copytree(src, target, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(src, target)
        return target

    def connects(self) -> list[tuple[str, int, str]]:
        """(address, port, syscall) of every destination the host's processes used so far."""
        return [dest for log in sorted(self.workdir.glob("connect-*.trace"))
                for dest in destinations(log.read_text(errors="replace"))]

    def __exit__(self, *exc) -> None:
        try:
            if self._nspawn is not None and self._nspawn.poll() is None:
                # nspawn asks systemd to power off; strace, running it in their own process
                # group, ignores the signal (it blocks fatal ones) and ends with it.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._nspawn.pid, signal.SIGTERM)
                try:
                    self._nspawn.wait(60)
                except subprocess.TimeoutExpired:
                    if self.pid:  # killing a PID namespace's init kills all of it
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(self.pid, signal.SIGKILL)
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self._nspawn.pid, signal.SIGKILL)
                    self._nspawn.wait(30)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            for cgroup in self._own_cgroups():  # empty now: its folders, deepest first
                for folder, _, _ in sorted(os.walk(cgroup), key=lambda w: -len(w[0])):
                    with contextlib.suppress(OSError):
                        os.rmdir(folder)
