"""GET /applications/host (codersdk.AppHostResponse: {"host": "*.apps.example.com"} or
"" without a wildcard) and coder open app's subdomain links built from it, which the
dashboard's workspace page shows too."""
from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

import requests

from tests.kit.agent import REPO, cli_config, workspace_with_agent
from tests.kit.coderd import create_another_user, create_first_user, raw
from tests.kit.provisioning import sql


def test_no_wildcard_no_host(shared_coderd, shared_owner):
    member, _ = create_another_user(shared_owner)
    resp = raw(shared_coderd, "GET", "/api/v2/applications/host", member.token)
    assert resp.status_code == 200 and resp.json() == {"host": ""}
    assert raw(shared_coderd, "GET", "/api/v2/applications/host").status_code == 401


def test_the_wildcard_host_and_a_subdomain_apps_link(coderd_factory, tmp_path):
    coderd = coderd_factory(env={"CODER_WILDCARD_ACCESS_URL": "*.apps.test"})
    owner, _ = create_first_user(coderd)
    resp = raw(coderd, "GET", "/api/v2/applications/host", owner.token)
    assert resp.status_code == 200 and resp.json() == {"host": "*.apps.test"}
    workspace, row = workspace_with_agent(owner, coderd.dsn, apps=[{"slug": "code",
                                                                   "url": "http://localhost:1/"}])
    sql(coderd.dsn, "UPDATE workspace_apps SET subdomain = true WHERE id = %s",
        (str(row.app_ids["code"]),))
    env = {k: v for k, v in os.environ.items() if k not in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run([sys.executable, "-m", "appliance.cli.main", "--global-config",
                           str(cli_config(tmp_path, owner)), "open", "app", workspace.name, "code"],
                          cwd=REPO, capture_output=True, text=True, timeout=60, env=env)
    port = urlsplit(coderd.url).port
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"http://code--main--{workspace.name}--admin.apps.test:{port}/\n"
    # The dashboard's workspace page links to the same place.
    page = requests.get(f"{coderd.url}/@admin/{workspace.name}",
                        cookies={"coder_session_token": owner.token})
    assert page.status_code == 200
    assert f'<a href="{done.stdout.strip()}" target="_blank" rel="noopener">code</a>' in page.text
