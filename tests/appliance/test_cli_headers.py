"""``coder --header`` and ``--header-command`` (Coder's cli/root.go): the headers reach
coderd on every kind of connection the CLI makes, seen by a reverse proxy in front of
a real coderd: plain requests, the websocket that follows a build's logs, and the
``Upgrade: tcp`` stream of ``coder ssh``."""
from __future__ import annotations

import pytest

from tests.kit.coderd import create_first_user
from tests.kit.recordingproxy import RecordingProxy


@pytest.fixture
def proxy(provisioning_coderd):
    proxy = RecordingProxy(provisioning_coderd.url)
    yield proxy
    proxy.stop()


def _kinds(seen) -> set[str]:
    return {s.headers.get("upgrade", "plain") for s in seen}


def test_headers_on_requests_websockets_and_upgrades(cli, provisioning_coderd, proxy, tmp_path):
    owner, _ = create_first_user(provisioning_coderd)
    c = cli.log_in_as(proxy.url, owner.token)
    (tmp_path / "main.tf").write_text("terraform {}\n")

    c.run("templates", "push", "empty", "-d", str(tmp_path), "-y",
          "--header", "X-Gateway=open sesame", "--header", "X-Team=a=b")
    assert {"plain", "websocket"} <= _kinds(proxy.seen)
    for seen in proxy.seen:
        assert seen.headers["x-gateway"] == "open sesame", seen
        assert seen.headers["x-team"] == "a=b", seen

    proxy.seen.clear()
    script = tmp_path / "headers.sh"
    script.write_text('echo "X-Gateway=from-command"\necho "X-Url=$CODER_URL"\n')
    proc = c.run("ssh", "--header-command", f"sh {script}", "nobody-here", "--", "true", expect=1)
    assert "Traceback" not in proc.stderr
    # the stream, refused (404), then the lookup that finds there is no such workspace
    assert _kinds(proxy.seen) == {"tcp", "plain"}
    assert {s.headers["x-gateway"] for s in proxy.seen} == {"from-command"}
    assert all(s.headers["x-url"] == proxy.url for s in proxy.seen)

    proxy.seen.clear()
    c.run("whoami", env={"CODER_HEADER": "X-Gateway=env,X-Other=2"})
    assert proxy.seen and all(s.headers["x-gateway"] == "env" and s.headers["x-other"] == "2"
                              for s in proxy.seen)


def test_bad_headers_refused_in_coders_words(cli):
    c = cli.log_in_as("http://127.0.0.1:9", "token")
    proc = c.run("whoami", "--header", "X-Gateway", expect=2)
    assert proc.stderr.splitlines()[0] == (
        'error: create header transport: split header "X-Gateway" had less than two parts')
    proc = c.run("whoami", "--header", "Bad Name=1", expect=2)
    assert 'invalid header field name "Bad Name"' in proc.stderr
    proc = c.run("whoami", "--header-command", "echo 'Authorization: Bearer s3cret'", expect=2)
    assert "split header on line 1 of the output had less than two parts" in proc.stderr
    assert "s3cret" not in proc.stderr
    proc = c.run("whoami", "--header-command", "exit 3", expect=1)
    assert proc.stderr.splitlines()[0] == (
        "error: create header transport: failed to run [sh -c exit 3]: exit status 3")
