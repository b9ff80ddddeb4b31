"""``coder version``, ``coder --version``, ``coderd --version`` and ``appliance --version``:
one version, Coder's text and JSON, the commit of the checkout they run from."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timezone

from appliance import __version__, buildinfo

from tests.kit.cli import ROOT


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


# semver.org's expression, with Go's leading "v" (golang.org/x/mod/semver wants it)
SEMVER = re.compile(r"v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
                    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?")


def _expected_version() -> str:
    """Run from a git checkout (as here), a development build of the Coder release it
    follows, with its commit, as Coder's untagged builds are."""
    if not (ROOT / ".git").exists():
        return f"v{buildinfo.CODER_VERSION}"
    return f"v{buildinfo.CODER_VERSION}-devel+{_git('rev-parse', 'HEAD')[:7]}"


def coder_versions_match(client: str, server: str) -> bool:
    """Coder's buildinfo.VersionsMatch, which its CLI runs against /buildinfo's version:
    a -devel build on either side matches; otherwise major.minor must."""
    if "-devel" in client or "-devel" in server:
        return True
    return SEMVER.fullmatch(server).group(1, 2) == SEMVER.fullmatch(client).group(1, 2)


def test_the_version_is_coders_form_and_coders_clients_do_not_warn(monkeypatch):
    assert SEMVER.fullmatch(buildinfo.version()), buildinfo.version()
    follows = f"v{buildinfo.CODER_VERSION}"
    for client in (follows, follows.rsplit(".", 1)[0] + ".9", "v0.0.0-devel+abc1234"):
        assert coder_versions_match(client, buildinfo.version())
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    buildinfo._revision.cache_clear()
    try:  # a release: Coder's CLI of the same minor release takes it without a warning
        release = buildinfo.version()
        assert SEMVER.fullmatch(release) and release == follows
        assert coder_versions_match(follows.rsplit(".", 1)[0] + ".3", release)
        assert not coder_versions_match("v2.1.0", release)  # as Coder's own server would
    finally:
        buildinfo._revision.cache_clear()


def test_coder_version_says_version_commit_and_offline_build(cli):
    out = cli.run("version").stdout
    header, blank, slim, appliance, offline = out.splitlines()
    assert appliance == f"coder-appliance {__version__}, following Coder v{buildinfo.CODER_VERSION}."
    assert header.startswith(f"Coder (AGPL) {_expected_version()}")
    if buildinfo.build_time():
        assert header.endswith(buildinfo.build_time().strftime(" %H:%M:%S UTC %Y"))
    assert blank == ""
    assert slim.startswith("Slim build of Coder, does not support the server subcommand")
    assert offline.startswith("coder-appliance, offline build: update checks and telemetry are off")


def test_coder_version_json_has_coders_fields(cli):
    info = json.loads(cli.run("version", "-o", "json").stdout)
    assert list(info) == ["version", "build_time", "external_url", "slim", "agpl", "boring_crypto",
                          "appliance_version"]  # Coder's, then the appliance's own release
    assert info["appliance_version"] == __version__
    assert info["version"] == _expected_version()
    if (ROOT / ".git").exists():  # the build time is the commit's, in Go's UTC form
        commit_time = datetime.fromtimestamp(int(_git("show", "-s", "--format=%ct", "HEAD")),
                                             timezone.utc)
        assert info["build_time"] == commit_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (info["slim"], info["agpl"], info["boring_crypto"]) == (True, True, False)


def test_root_version_flag_prints_what_version_prints(cli):
    assert cli.run("--version").stdout == cli.run("version").stdout


def test_unknown_output_format_is_a_usage_error(cli):
    done = cli.run("version", "-o", "yaml", expect=2)
    assert "invalid choice: 'yaml' (choose from 'text', 'json')" in done.stderr
    assert done.stdout == ""


def test_coderd_and_appliance_say_the_same_version(cli):
    def version_of(module: str) -> str:
        return subprocess.run([sys.executable, "-m", module, "--version"], env=cli.env, cwd=ROOT,
                              capture_output=True, text=True, check=True, timeout=60).stdout
    coderd = version_of("server.cli")
    assert coderd.splitlines()[0] == cli.run("version").stdout.splitlines()[0]
    assert "Full build of Coder, supports the server subcommand." in coderd
    assert version_of("appliance.admin.main").startswith(
        f"appliance (coder-appliance {__version__}) {buildinfo.version()} ")


def test_a_frozen_build_says_only_the_number(monkeypatch):
    """No checkout inside a frozen executable: no commit and no build time, never an error."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    buildinfo._revision.cache_clear()
    try:
        assert buildinfo.version() == f"v{buildinfo.CODER_VERSION}"
        assert buildinfo.info(slim=True)["build_time"] == "0001-01-01T00:00:00Z"
        assert buildinfo.text(slim=True).splitlines()[0] == \
            f"Coder (AGPL) v{buildinfo.CODER_VERSION}"
    finally:
        buildinfo._revision.cache_clear()
