"""``coder stat [cpu|mem|disk]``: the workspace's CPU, memory and disk use, as Coder's (clistat).

Host figures come from ``/proc/stat`` (two samples 100 ms apart, in cores),
``/proc/meminfo`` (used = total - available) and ``statvfs`` (the home folder;
``stat disk --path``); container figures from the cgroup the command runs in
(v2: ``cpu.max``, ``cpu.stat``, ``memory.max``, ``memory.current`` less
inactive file pages; v1: the ``cpu``/``cpuacct`` and ``memory`` controllers),
shown only in a container, as Coder does. Each figure is Coder's result:
``used``, ``total`` (null when unlimited) and ``unit`` (``cores``, or ``B``:
bytes); the text is ``used/total unit (percent)``, bytes scaled by ``--prefix``
(``Gi`` by default: ``2.7/23.5 GiB (11%)``).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ..base import write_output

SAMPLE_SECONDS = 0.1
PREFIXES = {"Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}
CGROUP = Path("/sys/fs/cgroup")
COLUMNS = ("host_cpu", "host_memory", "home_disk", "container_cpu", "container_memory")


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Show resource usage for the current workspace."
    _output_option(p, ("table", "json"))
    p.add_argument("-c", "--column", action="append", choices=COLUMNS,
                   help="Columns to display in table output (repeat; default: all).")
    p.set_defaults(_action=_all)
    sub = p.add_subparsers(metavar="SUBCOMMAND", title="subcommands")
    s = sub.add_parser("cpu", help="Show CPU usage, in cores.")
    s.add_argument("--host", action="store_true", help="Force host CPU measurement.")
    _output_option(s, ("text", "json"))
    s.set_defaults(_action=_cpu)
    s = sub.add_parser("mem", help="Show memory usage, in gigabytes.")
    s.add_argument("--host", action="store_true", help="Force host memory measurement.")
    _prefix_option(s)
    _output_option(s, ("text", "json"))
    s.set_defaults(_action=_mem)
    s = sub.add_parser("disk", help="Show disk usage, in gigabytes.")
    s.add_argument("--path", default="/", help="Path for which to check disk usage (default: /).")
    _prefix_option(s)
    _output_option(s, ("text", "json"))
    s.set_defaults(_action=_disk)


def _output_option(p: argparse.ArgumentParser, formats: tuple[str, str]) -> None:
    p.add_argument("-o", "--output", choices=formats, default=formats[0],
                   help=f"Output format (default: {formats[0]}).")


def _prefix_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prefix", choices=tuple(PREFIXES), default="Gi",
                   help="SI prefix for the figures (default: Gi).")


def run(args: argparse.Namespace) -> int:
    return args._action(args)


def _all(args: argparse.Namespace) -> int:
    in_container = containerized()
    row = {"host_cpu": host_cpu(), "host_memory": host_memory(),
           "home_disk": disk(os.path.expanduser("~")),
           "container_cpu": container_cpu() if in_container else None,
           "container_memory": container_memory() if in_container else None}
    if args.output == "json":
        write_output("json", [row])
    else:
        write_output("table", [{k: text(v) for k, v in row.items()}], args.column or COLUMNS)
    return 0


def _one(args: argparse.Namespace, figure: dict | None) -> int:
    if args.output == "json":
        write_output("json", figure)
    else:
        print(text(figure, getattr(args, "prefix", "Gi")))
    return 0


def _cpu(args: argparse.Namespace) -> int:
    return _one(args, host_cpu() if args.host or not containerized() else container_cpu())


def _mem(args: argparse.Namespace) -> int:
    return _one(args, host_memory() if args.host or not containerized() else container_memory())


def _disk(args: argparse.Namespace) -> int:
    return _one(args, disk(args.path))


def result(used: float, total: float | None, unit: str) -> dict:
    return {"total": total, "unit": unit, "used": used}


def _number(value: float) -> str:
    """One decimal, trailing zeros dropped (Go's humanize.FtoaWithDigits(v, 1))."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def text(r: dict | None, prefix: str = "Gi") -> str:
    """Coder's form: ``1.2/8 cores (15%)``, ``2.7/23.5 GiB (11%)``; ``-`` for a figure not
    taken."""
    if r is None:
        return "-"
    scale, unit = (PREFIXES[prefix], prefix + "B") if r["unit"] == "B" else (1, r["unit"])
    out = _number(r["used"] / scale)
    if r["total"] is not None:
        out += "/" + _number(r["total"] / scale)
    out += f" {unit}"
    if r["total"]:
        out += f" ({r['used'] / r['total'] * 100:.0f}%)"
    return out


def host_cpu() -> dict:
    """Cores busy over the sample: busy jiffies over all jiffies, times the core count."""
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle
    total1, idle1 = sample()
    time.sleep(SAMPLE_SECONDS)
    total2, idle2 = sample()
    cores = os.cpu_count() or 1
    elapsed = total2 - total1
    busy = (elapsed - (idle2 - idle1)) / elapsed * cores if elapsed else 0.0
    return result(busy, float(cores), "cores")


def host_memory() -> dict:
    info = {line.split(":")[0]: int(line.split()[1]) * 1024
            for line in Path("/proc/meminfo").read_text().splitlines() if line.endswith("kB")}
    total = info["MemTotal"]
    return result(float(total - info.get("MemAvailable", info.get("MemFree", 0))), float(total), "B")


def disk(path: str) -> dict:
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    return result(float(total - st.f_bfree * st.f_frsize), float(total), "B")


def containerized() -> bool:
    """As Coder's check: a container runtime's marker, or PID 1 in a container's cgroup."""
    if Path("/.dockerenv").exists() or Path("/run/.containerenv").exists():
        return True
    try:
        cgroups = Path("/proc/1/cgroup").read_text()
    except OSError:
        return False
    return any(word in cgroups for word in ("docker", "containerd", "kubepods", "libpod", "lxc"))


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def container_cpu() -> dict | None:
    """Cores used by this cgroup over the sample; total from its quota, else the host's cores."""
    v2 = (CGROUP / "cpu.stat").exists()

    def usage_seconds() -> float:
        if v2:
            line = next(l for l in _read(CGROUP / "cpu.stat").splitlines() if l.startswith("usage_usec"))
            return int(line.split()[1]) / 1e6
        return int(_read(CGROUP / "cpuacct" / "cpuacct.usage") or 0) / 1e9
    if not v2 and not (CGROUP / "cpuacct" / "cpuacct.usage").exists():
        return None
    first = usage_seconds()
    time.sleep(SAMPLE_SECONDS)
    used = (usage_seconds() - first) / SAMPLE_SECONDS
    if v2:
        quota, _, period = (_read(CGROUP / "cpu.max") or "max 100000").partition(" ")
    else:
        quota = _read(CGROUP / "cpu" / "cpu.cfs_quota_us")
        period = _read(CGROUP / "cpu" / "cpu.cfs_period_us")
    limited = quota not in ("max", "-1", "") and period
    total = int(quota) / int(period) if limited else float(os.cpu_count() or 1)
    return result(used, total, "cores")


def container_memory() -> dict | None:
    if (CGROUP / "memory.current").exists():
        stat = dict(l.split() for l in _read(CGROUP / "memory.stat").splitlines() if l)
        used = int(_read(CGROUP / "memory.current")) - int(stat.get("inactive_file", 0))
        limit = _read(CGROUP / "memory.max")
    elif (CGROUP / "memory" / "memory.usage_in_bytes").exists():
        stat = dict(l.split() for l in _read(CGROUP / "memory" / "memory.stat").splitlines() if l)
        used = int(_read(CGROUP / "memory" / "memory.usage_in_bytes")) - int(
            stat.get("total_inactive_file", 0))
        limit = _read(CGROUP / "memory" / "memory.limit_in_bytes")
    else:
        return None
    # An unlimited v1 cgroup says a huge number rather than "max".
    total = float(limit) if limit.isdigit() and int(limit) < 1 << 62 else None
    return result(float(max(used, 0)), total, "B")
