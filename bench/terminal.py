"""Web terminal benchmark: keystroke echo latency in the browser through the relay, beside
the same echo through ``coder ssh``, in the same run, on the same workspace.

A workspace of the ``local`` example template (the shipped agent in a bubblewrap sandbox)
runs on this machine behind one coderd on loopback. In headless chromium, on the
dashboard's terminal page, each key is sent with DevTools' ``Input.dispatchKeyEvent``;
the page itself timestamps (``performance.now``) the key's arrival (``keydown``), the
first websocket message after it (the echo received: the relay, the agent's PTY and
back), and the first change of the page after that message (xterm.js has written it to
its buffer and drawn it: at most a frame later). ``coder ssh`` runs on a pseudo-terminal
(pexpect): a key written, the first bytes read back. Keys alternate ``a`` and Backspace
at the shell's prompt, so the line stays short, with 50 ms between keys (the previous
echo's last bytes are not taken for the next's). And the terminal page's cold load, as
``bench.dashboard`` counts it. Rerun with:

    .venv/bin/python -m bench.terminal [--keys 200]

and paste the printed table into docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pexpect

from bench.dashboard import cold_load_bytes
from bench.relay import percentile

ROOT = Path(__file__).resolve().parents[1]
# In every page: when a key arrives, when the next websocket message does, when the page
# next changes after it.
ECHO_PROBE = """(() => {
  const echo = window.__echo = {down: 0, received: 0, drawn: 0};
  document.addEventListener("keydown", () => {
    echo.down = performance.now(); echo.received = 0; echo.drawn = 0;
  }, true);
  const Real = window.WebSocket;
  window.WebSocket = class extends Real {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", () => {
        if (echo.down && !echo.received) echo.received = performance.now();
      });
    }
  };
  new MutationObserver(() => {
    if (echo.received && !echo.drawn) echo.drawn = performance.now();
  }).observe(document, {childList: true, subtree: true, characterData: true});
})();"""
WAIT_ECHO = """const e = window.__echo;
    while (!e.drawn) await new Promise((r) => setTimeout(r, 1));
    return [e.received - e.down, e.drawn - e.down];"""
KEYS = ({"type": "keyDown", "key": "a", "code": "KeyA", "text": "a", "windowsVirtualKeyCode": 65},
        {"type": "rawKeyDown", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8})
PROMPT = r"[#$] $"
# Between keys: the previous echo's last bytes (readline may send a Backspace's in two
# writes) must not pass for the next key's.
SETTLE_SECONDS = 0.05


def browser_echoes(coderd, name: str, keys: int, tmp: Path) -> tuple[list[float], list[float]]:
    """Milliseconds from each key to its echo received, and to its echo drawn."""
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.kit.browser import Browser
    from tests.kit.coderd import FIRST_USER_PASSWORD
    from tests.kit.dashboard import Dashboard

    browser = Browser(tmp / "chromium")
    try:
        browser.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ECHO_PROBE})
        d = Dashboard(browser, coderd, tmp)
        d.open("/login")
        d.fill(email="admin@example.com", password=FIRST_USER_PASSWORD)
        d.submit()
        d.open(f"/@admin/{name}/terminal")
        WebDriverWait(d.driver, 30).until(lambda _: re.search(PROMPT, d.driver.execute_script(
            "return document.querySelector('.xterm-rows').textContent").replace("\xa0", " ").rstrip() + " "))
        received, drawn = [], []
        for i in range(keys):
            time.sleep(SETTLE_SECONDS)
            key = KEYS[i % 2]
            d.driver.execute_cdp_cmd("Input.dispatchKeyEvent", key)
            d.driver.execute_cdp_cmd("Input.dispatchKeyEvent", {**key, "type": "keyUp"})
            got, shown = browser.run(WAIT_ECHO)
            received.append(got)
            drawn.append(shown)
        return received, drawn
    finally:
        browser.stop()


def cli_echoes(cli, name: str, keys: int) -> list[float]:
    """Milliseconds from each key written to ``coder ssh`` to the first bytes back."""
    cli.env["TERM"] = "xterm-256color"  # as the web terminal's
    child = cli.spawn("ssh", name)
    child.delaybeforesend = None  # pexpect sleeps 50 ms before each send unless told not to
    try:
        child.expect(PROMPT, timeout=60)
        times = []
        for i in range(keys):
            time.sleep(SETTLE_SECONDS)
            with contextlib.suppress(pexpect.TIMEOUT):
                while True:
                    child.read_nonblocking(4096, timeout=0)
            start = time.perf_counter()
            child.send("a" if i % 2 == 0 else "\x7f")
            child.read_nonblocking(4096, timeout=10)
            times.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        child.close(force=True)


def run(args, tmp: Path) -> tuple[int, dict[str, list[float]]]:
    """The terminal page's cold load in bytes, and each path's echo times."""
    from server.app import prepare_database
    from tests.kit.cli import new_cli
    from tests.kit.localtemplate import build_shipped_agent, local_template_coderd, local_workspaces
    from tests.kit.postgres import PostgresServer

    mirror = ROOT / ".cache" / "provider-mirror"
    subprocess.run([sys.executable, str(ROOT / "packaging" / "build_provider.py"), "--mirror", str(mirror)],
                   check=True, capture_output=True)
    pg = PostgresServer().start()
    try:
        dsn = pg.dsn(pg.create_database())
        prepare_database(dsn)
        with local_template_coderd(dsn, str(mirror), build_shipped_agent(tmp / "agent")) as (coderd, owner):
            cli = new_cli(tmp / "coderv2").log_in_as(coderd.url, owner.token)
            name = "bench" + uuid.uuid4().hex[:6]
            with local_workspaces(cli, owner, [(owner, name)]):
                page_bytes = cold_load_bytes(f"{coderd.url}/@admin/{name}/terminal",
                                             {"coder_session_token": owner.token})
                received, drawn = browser_echoes(coderd, name, args.keys, tmp)
                ssh = cli_echoes(cli, name, args.keys)
    finally:
        pg.stop()
    return page_bytes, {"browser, echo received (websocket message)": received,
                        "browser, echo drawn by xterm.js": drawn, "coder ssh (pexpect)": ssh}


def report(page_bytes: int, results: dict[str, list[float]], keys: int) -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} cores, {cpu}, {platform.python_implementation()} "
          f"{platform.python_version()}; {keys} keys, a and Backspace in turn\n")
    print("| path | p50 | p99 | max |")
    print("|---|---|---|---|")
    for label, times in results.items():
        print(f"| {label} | {statistics.median(times):.1f} ms | {percentile(times, 99):.1f} ms "
              f"| {max(times):.1f} ms |")
    print(f"\ncold load of the terminal page: {page_bytes / 1024:.1f} KB on the wire")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200)
    args = parser.parse_args()
    for tool in ("bwrap", "terraform", "chromium"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed: ./dev setup --test installs it")
    tmp = Path(tempfile.mkdtemp(prefix="bench-terminal-"))
    try:
        report(*run(args, tmp), args.keys)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
