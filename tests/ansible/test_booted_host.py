"""The booted test hosts themselves: systemd up, only loopback, commands and files in, connects traced."""
from __future__ import annotations

import pytest

from ..hosts import off_host

pytestmark = pytest.mark.booted_hosts


def test_a_booted_minimal_host_has_only_loopback_and_its_connects_are_traced(minimal_host, tmp_path):
    host = minimal_host
    assert host.run(["cat", "/proc/1/comm"]).stdout.strip() == "systemd"
    assert host.run(["ls", "/sys/class/net"]).stdout.split() == ["lo"]
    (tmp_path / "hello").write_text("from outside\n")
    host.copy_in(tmp_path / "hello", "/root/hello")
    assert host.run(["cat", "/root/hello"]).stdout == "from outside\n"
    # A try to leave fails (no route) and is seen, from a command and from a service.
    left = host.run(["bash", "-c", "echo > /dev/tcp/192.0.2.7/80"], check=False, traced=True)
    assert left.returncode != 0
    host.run(["systemd-run", "--wait", "bash", "-c", "echo > /dev/tcp/198.51.100.9/443 || true"])
    gone = off_host(host.connects())
    assert ("192.0.2.7", 80, "connect") in gone and ("198.51.100.9", 443, "connect") in gone
