"""Provisioner jobs for tests: template versions and builds without running terraform, or
queued straight in the database for a daemon to run; and the tars they carry.

- Jobs queued with ``UNBUILT_TAGS`` match no provisioner daemon (the built-in
  ones have no such tag), so they stay pending until the test completes them
  with ``complete_job``, writing what an import would have found
  (``add_parameters``) straight into the database.
- ``Rows`` queues jobs as the API does, in the same transactions, for tests of
  the provisioning machinery on its own, and waits for a daemon to finish them.
- ``push_template`` goes through the API to a coderd's real daemons (``TEMPLATE``,
  ``SLOW_TEMPLATE`` and ``TAGGED_TEMPLATE`` are what those tests push).
"""
from __future__ import annotations

import gzip
import io
import json
import tarfile
import time
import uuid
from pathlib import Path

import psycopg2
import psycopg2.extras

from appliance.sdk import types
from appliance.sdk.client import Client

psycopg2.extras.register_uuid()  # UUIDs in and out, as coderd reads them (server.db.pool)

UNBUILT_TAGS = {"coder-appliance-test": "no-daemon"}
MAIN_TF = 'terraform {\n}\n'


def make_tar(files: dict[str, str | bytes] | None = None, *, folder: Path | None = None,
             prefix: str = "", gzipped: bool = False) -> bytes:
    """The one tar builder of the tests: regular files, ``folder``'s (named by their path in
    it) and then ``files`` (content, text or bytes, by name), each name after ``prefix``;
    gzip-compressed when ``gzipped`` (an npm tarball)."""
    found = {p.relative_to(folder).as_posix(): p.read_bytes()
             for p in sorted(folder.rglob("*")) if p.is_file()} if folder else {}
    data = {prefix + name: _bytes(content) for name, content in {**found, **(files or {})}.items()}
    tar = make_tar_of(*(tar_member(name, size=len(content)) for name, content in data.items()),
                      data=data)
    return gzip.compress(tar, mtime=0) if gzipped else tar


def _bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content


def tar_member(name: str, type=tarfile.REGTYPE, linkname: str = "", size: int = 0,
               mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size, info.mode = type, linkname, size, mode
    return info


def make_tar_of(*members: tarfile.TarInfo, data: dict[str, bytes] | None = None) -> bytes:
    """A tar of hand-made members (links, devices, odd modes), ``data`` by member name."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for m in members:
            content = (data or {}).get(m.name)
            tar.addfile(m, io.BytesIO(content) if content is not None else None)
    return out.getvalue()


def sql(dsn: str, statement: str, params=()) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def complete_job(dsn: str, job_id, error: str | None = None) -> None:
    """Finish a job as a provisioner would (succeeded, or failed with ``error``)."""
    sql(dsn, """UPDATE provisioner_jobs SET started_at = coalesce(started_at, now()),
                    completed_at = now(), updated_at = now(), error = %s WHERE id = %s""",
        (error, str(job_id)))


def add_parameters(dsn: str, version_id, params: list[dict]) -> None:
    for i, p in enumerate(params):
        row = {"type": "string", "mutable": True, "default_value": "", "options": [],
               "validation_regex": "", "validation_min": None, "validation_max": None,
               "validation_monotonic": "", "validation_error": "", "required": False,
               "ephemeral": False, **p}
        sql(dsn, """INSERT INTO template_version_parameters (template_version_id, name, type,
                        mutable, default_value, options, validation_regex, validation_min,
                        validation_max, validation_monotonic, validation_error, required, ephemeral,
                        display_order)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (str(version_id), row["name"], row["type"], row["mutable"], row["default_value"],
             json.dumps(row["options"]), row["validation_regex"], row["validation_min"],
             row["validation_max"], row["validation_monotonic"], row["validation_error"],
             row["required"],
             row["ephemeral"], i))


def dry_run(dsn: str, version_id, initiator_id, file_id, complete: bool = True):
    """A dry run of the version started by ``initiator_id``, written as the API writes it."""
    (row,) = sql(dsn, """INSERT INTO provisioner_jobs (organization_id, initiator_id, type, input,
                                                      file_id, tags)
                         SELECT organization_id, %s, 'template_version_dry_run', %s, %s, %s
                         FROM template_versions WHERE id = %s RETURNING id""",
                 (str(initiator_id), json.dumps({"template_version_id": str(version_id)}),
                  str(file_id), json.dumps(UNBUILT_TAGS), str(version_id)))
    if complete:
        complete_job(dsn, row[0])
    return row[0]


def push_version(client: Client, *, files: dict | None = None, template_id=None,
                 name: str = "") -> types.TemplateVersion:
    file_id = client.upload_file(make_tar(files or {"main.tf": MAIN_TF}))
    return client.create_template_version("default", types.CreateTemplateVersionRequest(
        file_id=file_id, template_id=template_id, name=name, tags=UNBUILT_TAGS))


def imported_version(client: Client, dsn: str, *, params: list[dict] = (), template_id=None,
                     files: dict | None = None) -> types.TemplateVersion:
    """A version whose import 'succeeded', declaring ``params``."""
    version = push_version(client, files=files, template_id=template_id)
    add_parameters(dsn, version.id, list(params))
    complete_job(dsn, version.job.id)
    return version


def make_template(client: Client, dsn: str, *, params: list[dict] = (), name: str = "",
                  **options) -> types.Template:
    version = imported_version(client, dsn, params=params)
    return client.create_template("default", types.CreateTemplateRequest(
        name=name or "t" + uuid.uuid4().hex[:10], template_version_id=version.id, **options))


def finish_latest_build(client: Client, dsn: str, workspace_id, error: str | None = None) -> None:
    complete_job(dsn, client.workspace(workspace_id).latest_build.job.id, error)


class RouteObjects:
    """What the route-by-role matrix (tests/server/test_authz.py) acts on for the template
    and workspace routes: shared objects for reads, fresh ones for each changing call."""

    def __init__(self, owner: Client, dsn: str):
        self.owner, self.dsn = owner, dsn
        self.file_id = owner.upload_file(make_tar({"main.tf": MAIN_TF}))
        self.template = make_template(owner, dsn)
        self.version_id = self.template.active_version_id

    def _workspace(self, target, complete: bool) -> types.Workspace:
        ws = self.owner.create_workspace(types.CreateWorkspaceRequest(
            name="w" + uuid.uuid4().hex[:10], template_id=self.template.id), user=target.id)
        if complete:
            complete_job(self.dsn, ws.latest_build.job.id)
        return ws

    def _terminal_at_proxy(self, target) -> dict:
        """A terminal of the target's agent at a proxy the owner made and registered."""
        from appliance.sdk.wsproxysdk import ProxyClient

        from tests.kit.agent import add_agent

        made = self.owner.create_workspace_proxy(types.CreateWorkspaceProxyRequest(
            name="p" + uuid.uuid4().hex[:10]))
        proxy_url = f"http://{made.proxy.name}.proxy.test"
        ProxyClient(self.owner.url, made.proxy_token).register(
            types.RegisterWorkspaceProxyRequest(access_url=proxy_url))
        ws = self._workspace(target, complete=True)
        agent = add_agent(self.dsn, ws.latest_build.job.id).id
        return {"agentID": str(agent), "url": f"ws://{made.proxy.name}.proxy.test/api/v2/"
                f"workspaceagents/{agent}/pty?reconnect={uuid.uuid4()}"}

    def prepare(self, route: tuple[str, str], url: str, body, target) -> tuple[str, object, dict]:
        """(url with its placeholders filled, JSON body, extra requests arguments)."""
        method, path = route
        extra: dict = {}
        template_id, version_id = self.template.id, self.version_id
        if route == ("POST", "/files"):
            extra = {"data": make_tar({"main.tf": f"# {uuid.uuid4()}\n"}),
                     "headers": {"Content-Type": "application/x-tar"}}
        elif route == ("POST", "/organizations/<organization>/templateversions"):
            body = {"file_id": str(self.file_id), "tags": UNBUILT_TAGS}
        elif route == ("POST", "/organizations/<organization>/templates"):
            body = {"name": "t" + uuid.uuid4().hex[:10],
                    "template_version_id": str(imported_version(self.owner, self.dsn).id)}
        elif route == ("PATCH", "/templates/<template>"):
            body = {"description": "updated"}
        elif route == ("DELETE", "/templates/<template>"):
            template_id = make_template(self.owner, self.dsn).id
        elif route == ("PATCH", "/templates/<template>/versions"):
            template_id = make_template(self.owner, self.dsn).id
            body = {"id": str(imported_version(self.owner, self.dsn, template_id=template_id).id)}
        elif path == "/templateversions/<templateversion>/cancel":
            version_id = push_version(self.owner).id
        elif path.endswith("/workspaces") and method == "POST":
            body = {"name": "w" + uuid.uuid4().hex[:10], "template_id": str(self.template.id)}
        elif route == ("PUT", "/workspaces/<workspace>/ttl"):
            body = {"ttl_ms": 3_600_000}
        elif route == ("POST", "/workspaces/<workspace>/builds"):
            body = {"transition": "stop"}
        elif route == ("PATCH", "/workspaces/<workspace>"):
            body = {"name": "r" + uuid.uuid4().hex[:10]}
        elif route == ("PUT", "/workspacebuilds/<workspacebuild>/state"):
            body = {"state": "e30="}  # Go's []byte of b"{}"
        elif path.endswith("/autofill-parameters"):
            url += f"?template_id={self.template.id}"
        if "<templateversionname>" in path or path.endswith(("/archive", "/unarchive")):
            # a fresh version of the shared template, made after its first: unused, with a
            # previous one; archived first when it is to be unarchived
            fresh = imported_version(self.owner, self.dsn, template_id=template_id)
            version_id = fresh.id
            url = url.replace("<templateversionname>", fresh.name)
            if path.endswith("/unarchive"):
                sql(self.dsn, "UPDATE template_versions SET archived = true WHERE id = %s",
                    (str(fresh.id),))
            if path.endswith("/versions/archive"):
                body = {"all": True}
        if "<jobID>" in path:  # the target's own dry run, done unless it is to be canceled
            url = url.replace("<jobID>", str(dry_run(self.dsn, version_id, target.id, self.file_id,
                                                     complete=not path.endswith("/cancel"))))
        elif path.endswith("/dry-run"):
            body = {"workspace_name": "preview"}
        if "<workspaceproxy>" in path:  # a fresh proxy of the owner's for each call
            made = self.owner.create_workspace_proxy(types.CreateWorkspaceProxyRequest(
                name="p" + uuid.uuid4().hex[:10]))
            url = url.replace("<workspaceproxy>", str(made.proxy.id))
            if method == "PATCH":
                body = {"id": str(made.proxy.id), "name": "r" + uuid.uuid4().hex[:10],
                        "display_name": "Renamed", "icon": "", "regenerate_token": True}
        elif "<workspace" in path or "<jobid>" in path:
            ws = self._workspace(target, complete=not path.endswith("/cancel"))
            url = (url.replace("<workspacename>", ws.name).replace("<workspace>", str(ws.id))
                   .replace("<workspacebuild>", str(ws.latest_build.id))
                   .replace("<buildnumber>", "1")
                   .replace("<jobid>", str(ws.latest_build.job.id)))
        extra["stream"] = path.endswith("/watch")  # server-sent events never end
        if "<workspaceagent>" in path or path.endswith("/connect"):
            from tests.kit.agent import add_agent  # which builds on this module

            url = url.replace("<workspaceagent>", str(add_agent(self.dsn, ws.latest_build.job.id).id))
            extra["stream"] = path.endswith("/watch-metadata")  # server-sent events never end
        if route == ("POST", "/applications/reconnecting-pty-signed-token"):
            body = self._terminal_at_proxy(target)
        if path.endswith("/connect"):  # a stream: coderd's Upgrade: tcp
            extra["headers"] = {"Connection": "Upgrade", "Upgrade": "tcp"}
        url = (url.replace("<fileid>", str(self.file_id)).replace("<template>", str(template_id))
               .replace("<templatename>", self.template.name)
               .replace("<organizationname>", "coder")
               .replace("<templateversion>", str(version_id)))
        return url, body, extra


class Rows:
    """Queue jobs as the API does, straight in the database."""

    def __init__(self, dsn: str, owner_id: uuid.UUID, org_id: uuid.UUID):
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True
        self.owner_id, self.org_id = owner_id, org_id

    def q(self, sql, params=()):
        with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None

    def import_version(self, files: dict[str, str]) -> tuple[uuid.UUID, uuid.UUID]:
        data = make_tar(files)
        file_id = self.q("INSERT INTO files (hash, created_by, mimetype, data) VALUES (%s, %s, "
                         "'application/x-tar', %s) RETURNING id",
                         (uuid.uuid4().hex, self.owner_id, data))[0]["id"]
        version_id = uuid.uuid4()
        with self.conn:
            job_id = self.q(
                "INSERT INTO provisioner_jobs (organization_id, initiator_id, type, input, file_id) "
                "VALUES (%s, %s, 'template_version_import', %s, %s) RETURNING id",
                (self.org_id, self.owner_id, json.dumps({"template_version_id": str(version_id)}),
                 file_id))[0]["id"]
            self.q("INSERT INTO template_versions (id, organization_id, name, job_id, created_by) "
                   "VALUES (%s, %s, %s, %s, %s)", (version_id, self.org_id, "v" + version_id.hex[:6],
                                                    job_id, self.owner_id))
            self.q("SELECT pg_notify('provisioner_job_posted', %s)", (str(job_id),))
        return version_id, job_id

    def template(self, version_id: uuid.UUID) -> uuid.UUID:
        with self.conn:
            template_id = self.q(
                "INSERT INTO templates (organization_id, name, active_version_id, created_by) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (self.org_id, "t" + uuid.uuid4().hex[:6], version_id, self.owner_id))[0]["id"]
            self.q("UPDATE template_versions SET template_id = %s WHERE id = %s", (template_id, version_id))
        return template_id

    def workspace(self, template_id: uuid.UUID) -> uuid.UUID:
        return self.q("INSERT INTO workspaces (owner_id, organization_id, template_id, name) "
                      "VALUES (%s, %s, %s, %s) RETURNING id",
                      (self.owner_id, self.org_id, template_id, "ws" + uuid.uuid4().hex[:6]))[0]["id"]

    def build(self, workspace_id, version_id, transition: str, params: dict[str, str] = {}):
        file_id = self.q("SELECT j.file_id FROM template_versions v JOIN provisioner_jobs j "
                         "ON j.id = v.job_id WHERE v.id = %s", (version_id,))[0]["file_id"]
        number = self.q("SELECT coalesce(max(build_number), 0) + 1 AS n FROM workspace_builds "
                        "WHERE workspace_id = %s", (workspace_id,))[0]["n"]
        build_id = uuid.uuid4()
        with self.conn:
            job_id = self.q(
                "INSERT INTO provisioner_jobs (organization_id, initiator_id, type, input, file_id) "
                "VALUES (%s, %s, 'workspace_build', %s, %s) RETURNING id",
                (self.org_id, self.owner_id, json.dumps({"workspace_build_id": str(build_id),
                                                         "workspace_owner_id": str(self.owner_id)}),
                 file_id))[0]["id"]
            self.q("INSERT INTO workspace_builds (id, workspace_id, template_version_id, build_number, "
                   "transition, initiator_id, job_id) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                   (build_id, workspace_id, version_id, number, transition, self.owner_id, job_id))
            for name, value in params.items():
                self.q("INSERT INTO workspace_build_parameters VALUES (%s, %s, %s)", (build_id, name, value))
            self.q("SELECT pg_notify('provisioner_job_posted', %s)", (str(job_id),))
        return build_id, job_id

    def wait(self, job_id, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.q("SELECT * FROM provisioner_jobs WHERE id = %s", (job_id,))[0]
            if job["completed_at"] is not None:
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['job_status']}"
            time.sleep(0.2)

    def logs(self, job_id) -> list[dict]:
        return self.q("SELECT * FROM provisioner_job_logs WHERE job_id = %s ORDER BY id", (job_id,))

    def resources(self, job_id) -> list[dict]:
        return self.q("""SELECT r.type, r.name, r.transition, a.name AS agent, a.auth_token,
                                a.environment_variables AS env, a.directory,
                                (SELECT array_agg(slug) FROM workspace_apps WHERE agent_id = a.id) AS apps
                         FROM workspace_resources r LEFT JOIN workspace_agents a ON a.resource_id = r.id
                         WHERE r.job_id = %s ORDER BY r.transition, r.name""", (job_id,))


# Parameters, an agent, an app and an env: a template for real daemons and the provider mirror.
TEMPLATE = r'''
terraform {
  required_providers {
    coder = { source = "coder/coder" }
    null  = { source = "hashicorp/null" }
  }
}
data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}
data "coder_parameter" "size" {
  name    = "size"
  type    = "number"
  default = 3
  mutable = true
  validation {
    min = 1
    max = 9
  }
}
data "coder_parameter" "region" {
  name = "region"
  option {
    name  = "Here"
    value = "here"
  }
  option {
    name  = "There"
    value = "there"
  }
}
resource "coder_agent" "main" {
  os   = "linux"
  arch = "amd64"
  dir  = "/home/coder"
  startup_script = "echo hello"
  metadata {
    key          = "load"
    display_name = "Load"
    script       = "cat /proc/loadavg"
    interval     = 10
  }
}
resource "coder_app" "web" {
  agent_id = coder_agent.main.id
  slug     = "web"
  url      = "http://localhost:8080"
  healthcheck {
    url       = "http://localhost:8080/healthz"
    interval  = 5
    threshold = 3
  }
}
resource "coder_env" "greeting" {
  agent_id = coder_agent.main.id
  name     = "GREETING"
  value    = "hi ${data.coder_workspace_owner.me.name}"
}
resource "null_resource" "home" {}
resource "null_resource" "box" {
  count = data.coder_workspace.me.start_count
  triggers = {
    token  = coder_agent.main.token
    size   = data.coder_parameter.size.value
    region = data.coder_parameter.region.value
    owner  = data.coder_workspace_owner.me.name
    session = data.coder_workspace_owner.me.session_token
  }
}
resource "coder_metadata" "box" {
  count       = data.coder_workspace.me.start_count
  resource_id = null_resource.box[0].id
  item {
    key   = "size"
    value = data.coder_parameter.size.value
  }
}
'''


# A build that runs for a minute unless canceled or killed.
SLOW_TEMPLATE = r'''
terraform {
  required_providers {
    null = { source = "hashicorp/null" }
  }
}
resource "null_resource" "slow" {
  provisioner "local-exec" {
    command = "sleep 60"
  }
}
'''


def wait_started(rows: Rows, job_id, timeout: float = 60) -> None:
    """Until a daemon has taken the job."""
    deadline = time.monotonic() + timeout
    while rows.q("SELECT started_at FROM provisioner_jobs WHERE id = %s", (job_id,))[0]["started_at"] is None:
        assert time.monotonic() < deadline, f"job {job_id} not started"
        time.sleep(0.2)


def wait_imported(client, version_id, timeout: float = 120) -> types.TemplateVersion:
    deadline = time.monotonic() + timeout
    while (version := client.template_version(version_id)).job.completed_at is None:
        assert time.monotonic() < deadline, "the import did not finish"
        time.sleep(0.3)
    return version


def push_template(client, files: dict[str, str]) -> types.Template:
    """Upload, import and make a template of ``files``, as coder templates push does."""
    version = client.create_template_version("default", types.CreateTemplateVersionRequest(
        file_id=client.upload_file(make_tar(files))))
    job = wait_imported(client, version.id).job
    assert job.status == "succeeded", job.error
    return client.create_template("default", types.CreateTemplateRequest(
        name="t" + uuid.uuid4().hex[:8], template_version_id=version.id))


# Workspace tags from a parameter and a variable: the daemon a version goes to.
TAGGED_TEMPLATE = r'''
terraform {
  required_providers {
    coder = { source = "coder/coder" }
  }
}
variable "team" {
  default = "core"
}
data "coder_parameter" "region" {
  name    = "region"
  default = "us"
  mutable = true
}
data "coder_workspace_tags" "placement" {
  tags = {
    cluster = data.coder_parameter.region.value
    team    = var.team
  }
}
'''
