"""The ``coder`` config folder and flag precedence, in-process (no coderd)."""
from __future__ import annotations

import argparse
import stat

import pytest

from appliance.cli import connect
from appliance.cli.base import CommandError
from appliance.cli.config import ConfigDir, default_dir


def test_default_dir_follows_coder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_dir({}) == tmp_path / ".config" / "coderv2"
    assert default_dir({"XDG_CONFIG_HOME": "/xdg"}) == tmp_path.__class__("/xdg/coderv2")
    assert str(default_dir({"XDG_CONFIG_HOME": "/xdg", "CODER_CONFIG_DIR": "/c"})) == "/c"
    args = argparse.Namespace(global_config=str(tmp_path / "flag"))
    assert connect.config_dir(args, {"CODER_CONFIG_DIR": "/c"}).path == tmp_path / "flag"


def test_config_files_are_private_and_whole(tmp_path):
    conf = ConfigDir(tmp_path / "coderv2")
    assert conf.read("session") == ""
    conf.write("session", "abc-def")
    conf.write("session", "ghi-jkl")
    assert conf.read("session") == "ghi-jkl"
    assert (tmp_path / "coderv2" / "session").read_text() == "ghi-jkl"  # no newline, like Coder
    assert stat.S_IMODE((tmp_path / "coderv2" / "session").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "coderv2").stat().st_mode) == 0o700
    assert [p.name for p in (tmp_path / "coderv2").iterdir()] == ["session"]  # no temp files
    assert conf.delete("session") and not conf.delete("session")


@pytest.mark.parametrize("raw,url", [
    ("coder.example.com", "https://coder.example.com"),
    ("localhost:3000/", "http://localhost:3000"),
    ("127.0.0.1:3000", "http://127.0.0.1:3000"),
    ("http://coder.internal:8080/", "http://coder.internal:8080"),
])
def test_normalize_url(raw, url):
    assert connect.normalize_url(raw) == url


def test_normalize_url_rejects_other_schemes():
    with pytest.raises(CommandError) as err:
        connect.normalize_url("ftp://coder.example.com")
    assert err.value.code == 2


def test_flags_beat_environment_beats_stored(tmp_path, cli):
    conf = ConfigDir(tmp_path / "other")
    conf.write("url", "http://stored.invalid")
    conf.write("session", "stored-token")
    env_args = argparse.Namespace(url=None, token=None, global_config=str(conf.path), ca_cert=None)
    assert connect.flag_url(env_args, {"CODER_URL": "http://env"}) == "http://env"
    env_args.url = "http://flag"
    assert connect.flag_url(env_args, {"CODER_URL": "http://env"}) == "http://flag"
    client = connect.client(argparse.Namespace(url=None, token=None, global_config=str(conf.path),
                                               ca_cert=None))
    assert (client.url, client.token) == ("http://stored.invalid", "stored-token")
    # --global-config works before and after the command, in the real CLI.
    for argv in (("--global-config", str(conf.path), "whoami"),
                 ("whoami", "--global-config", str(conf.path))):
        proc = cli.run(*argv, expect=1)
        assert "Could not reach Coder at http://stored.invalid" in proc.stderr


def test_unexpected_failures_exit_2_with_a_hint():
    err = connect.translate(ValueError("boom"))
    assert (err.code, err.message) == (2, "unexpected error: ValueError: boom")
    assert "-v" in err.hint
    err = connect.translate(PermissionError(13, "Permission denied", "/cfg/session"))
    assert (err.code, err.message) == (1, "/cfg/session: Permission denied")
