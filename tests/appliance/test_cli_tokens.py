"""``coder tokens`` against a real coderd, through the real CLI."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from appliance.sdk.client import APIError, Client
from appliance.sdk.model import parse_time


def test_create_list_remove(owner_cli, shared_coderd):
    token = owner_cli.run("tokens", "create", "--name", "ci", "--lifetime", "7d").stdout.strip()
    assert "\n" not in token and "-" in token  # the token alone, for scripts
    assert Client(shared_coderd.url, token).user("me").username == "admin"

    tokens = json.loads(owner_cli.run("tokens", "list", "-o", "json").stdout)
    ci = next(t for t in tokens if t["token_name"] == "ci")
    assert ci["lifetime_seconds"] == 7 * 86400
    expires = parse_time(ci["expires_at"]) - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=6, hours=23) < expires <= dt.timedelta(days=7)
    assert token.startswith(ci["id"])

    table = owner_cli.run("tokens", "ls").stdout.splitlines()
    assert table[0].split()[:2] == ["ID", "NAME"]
    assert any(line.split()[:2] == [ci["id"], "ci"] for line in table)
    assert "OWNER" in owner_cli.run("tokens", "list", "--all").stdout.splitlines()[0]

    assert "Token has been deleted." in owner_cli.run("tokens", "remove", "ci").stdout
    with pytest.raises(APIError) as err:
        Client(shared_coderd.url, token).user("me")
    assert err.value.status == 401
    proc = owner_cli.run("tokens", "rm", "ci", expect=1)
    assert "No token named or with ID 'ci'." in proc.stderr


def test_remove_by_id_and_generated_name(owner_cli, shared_coderd):
    token = owner_cli.run("tokens", "create").stdout.strip()
    key_id = token.split("-")[0]
    tokens = json.loads(owner_cli.run("tokens", "list", "-o", "json").stdout)
    assert next(t for t in tokens if t["id"] == key_id)["token_name"]  # a generated name
    owner_cli.run("tokens", "delete", key_id)
    with pytest.raises(APIError):
        Client(shared_coderd.url, token).user("me")


def test_bad_token_requests(owner_cli):
    owner_cli.run("tokens", "create", "--name", "dup")
    proc = owner_cli.run("tokens", "create", "--name", "dup", expect=1)
    assert "already exists" in proc.stderr
    proc = owner_cli.run("tokens", "create", "--lifetime", "soon", expect=2)
    assert "--lifetime" in proc.stderr
    proc = owner_cli.run("tokens", "create", "--lifetime", "100000d", expect=1)
    assert "lifetime" in proc.stderr.lower()
    proc = owner_cli.run("tokens", "create", "--name", "has space", expect=1)
    assert "token_name" in proc.stderr


def test_token_from_environment(cli, shared_coderd, shared_owner):
    token = shared_owner.create_token(token_name="env-token")
    env = {"CODER_URL": shared_coderd.url, "CODER_SESSION_TOKEN": token}
    tokens = json.loads(cli.run("tokens", "list", "-o", "json", env=env).stdout)
    assert "env-token" in {t["token_name"] for t in tokens}
    assert not cli.config_dir.exists()  # nothing stored without 'coder login'

