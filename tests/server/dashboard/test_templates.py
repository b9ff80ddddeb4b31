"""The templates pages and the create-workspace form in a real browser, against a coderd whose
provisioner imports templates and builds workspaces with real terraform: the list, a
template's page (README sanitised, parameters, versions), a member creating a workspace with
every kind of parameter (refused values shown at their field with the template's message;
the build's parameters read back through the API), an admin uploading a folder and an
archive, watching the import and promoting it; and the attacks: a member's upload, forms
from another origin, no session, a README's script.

The appliance has no template ACLs (Coder's enterprise feature): every member of an
organization reads its templates, so no template is restricted from a member here.
"""
from __future__ import annotations

import time
import uuid

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from appliance.sdk import types

from tests.kit.browser import Browser, PageServer
from tests.kit.coderd import FIRST_USER_PASSWORD, create_another_user
from tests.kit.dashboard import PASSWORD, REPO, Dashboard, post_from_another_origin, sign_in
from tests.kit.provisioning import make_tar, push_template, sql

README = """# Rich template

<script>window.pwned = 1</script>
<img src="x" onerror="window.pwned = 2">
<img src="https://evil.example/tracker.png" alt="tracker">
![remote](https://evil.example/md.png)
[click](javascript:window.pwned=3)
<a href="javascript:window.pwned=4" onclick="window.pwned=5">html link</a>
<iframe src="https://evil.example/"></iframe>
<style>body { display: none }</style>

| Size | CPUs |
|------|------|
| small | 2 |
"""

RICH = r'''
terraform {
  required_providers {
    coder = { source = "coder/coder" }
  }
}
data "coder_parameter" "project" {
  name         = "project"
  display_name = "Project"
  description  = "The **project** to clone"
  default      = "demo"
  mutable      = false
  validation {
    regex = "^[a-z][a-z0-9-]*$"
    error = "Use lowercase letters, digits and dashes"
  }
}
data "coder_parameter" "notes" {
  name      = "notes"
  form_type = "textarea"
  mutable   = true
}
data "coder_parameter" "cpus" {
  name      = "cpus"
  type      = "number"
  form_type = "slider"
  default   = 2
  mutable   = true
  validation {
    min = 1
    max = 8
  }
}
data "coder_parameter" "disk" {
  name    = "disk"
  type    = "number"
  default = 10
  mutable = true
  validation {
    min   = 10
    max   = 100
    error = "disk must be {min} to {max} GB, not {value}"
  }
}
data "coder_parameter" "region" {
  name    = "region"
  default = "eu"
  mutable = true
  option {
    name  = "Europe"
    value = "eu"
  }
  option {
    name  = "United States"
    value = "us"
  }
}
data "coder_parameter" "size" {
  name      = "size"
  form_type = "dropdown"
  default   = "small"
  mutable   = true
  option {
    name  = "Small"
    value = "small"
  }
  option {
    name  = "Large"
    value = "large"
  }
}
data "coder_parameter" "gpu" {
  name    = "gpu"
  type    = "bool"
  default = false
  mutable = true
}
data "coder_parameter" "debug" {
  name      = "debug"
  type      = "bool"
  form_type = "switch"
  default   = true
  mutable   = true
  ephemeral = true
}
data "coder_parameter" "tools" {
  name      = "tools"
  type      = "list(string)"
  form_type = "multi-select"
  default   = jsonencode(["git"])
  mutable   = true
  option {
    name  = "Git"
    value = "git"
  }
  option {
    name  = "Make"
    value = "make"
  }
}
data "coder_parameter" "labels" {
  name    = "labels"
  type    = "list(string)"
  default = jsonencode([])
  mutable = true
}
data "coder_workspace_preset" "big" {
  name       = "Big"
  parameters = { cpus = "8", size = "large" }
}
'''


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One chromium for the module's tests (each starts by deleting its cookies)."""
    b = Browser(tmp_path_factory.mktemp("chromium") / "profile")
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="module")
def pushed(provisioning_site):
    """The rich template (imported by terraform), its icon on another host, and a member."""
    coderd, owner = provisioning_site
    template = push_template(owner, {"main.tf": RICH, "README.md": README})
    owner.update_template_meta(template.id, types.UpdateTemplateMeta(
        display_name="Rich template", icon="https://evil.example/icon.png"))
    member, user = create_another_user(owner, password=PASSWORD)
    return template, member, user


@pytest.fixture
def dashboard(provisioning_site, browser, test_output):
    browser.driver.delete_all_cookies()
    return Dashboard(browser, provisioning_site[0], test_output)


def _cells(d: Dashboard, selector: str) -> list[list[str]]:
    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in d.driver.find_elements(By.CSS_SELECTOR, selector + " tbody tr")]


def test_the_list_and_a_templates_page_for_a_member(provisioning_site, pushed, dashboard):
    coderd, _ = provisioning_site
    template, _, user = pushed
    sign_in(dashboard, user.email, PASSWORD, start="/templates")
    assert dashboard.path() == "/templates"
    row = next(r for r in _cells(dashboard, "main") if r[0].startswith("Rich template"))
    assert row[1] == template_version_name(coderd, template) and row[2:4] == ["0", "Unknown"]
    assert "Templates" in dashboard.text("header nav")
    assert not dashboard.driver.find_elements(By.CSS_SELECTOR, "main img")  # the remote icon
    dashboard.check("templates")
    dashboard.driver.find_element(By.LINK_TEXT, "Rich template").click()
    assert dashboard.path() == f"/templates/{template.name}"
    # The README: rendered (its table), and nothing of the attack survives.
    readme = dashboard.driver.find_element(By.CSS_SELECTOR, ".readme")
    assert readme.find_element(By.TAG_NAME, "h1").text == "Rich template"
    assert [c.text for c in readme.find_elements(By.CSS_SELECTOR, "td")] == ["small", "2"]
    assert not readme.find_elements(By.CSS_SELECTOR, "script, style, iframe, img")
    attributes = dashboard.driver.execute_script(
        "return [...arguments[0].querySelectorAll('*')].flatMap("
        "e => [...e.attributes].map(a => a.name + '=' + a.value.toLowerCase()))", readme)
    assert not [a for a in attributes
                if a.startswith("on") or "javascript:" in a or "evil.example" in a], attributes
    assert dashboard.driver.execute_script("return window.pwned === undefined")
    assert dashboard.driver.execute_script("return getComputedStyle(document.body).display") != "none"
    params = [r[0].split()[0] for r in _cells(dashboard, "section[aria-labelledby=parameters-title]")]
    # In Coder's order: the template's (none given here), then by name.
    assert params == ["cpus", "debug", "disk", "gpu", "labels", "notes", "Project", "region", "size",
                      "tools"]
    assert "Immutable" in dashboard.text("section[aria-labelledby=parameters-title] tbody")
    assert not dashboard.driver.find_elements(By.CSS_SELECTOR, "input[type=file]")  # not offered
    dashboard.check("template-member")


def template_version_name(coderd, template) -> str:
    return sql(coderd.dsn, "SELECT name FROM template_versions WHERE id = %s",
               (str(template.active_version_id),))[0][0]


def _field_error(d: Dashboard, name: str) -> str:
    return d.text(f"#{name}-error")


def test_a_member_creates_a_workspace_with_every_kind_of_parameter(provisioning_site, pushed,
                                                                  dashboard):
    coderd, owner = provisioning_site
    template, member, user = pushed
    sign_in(dashboard, user.email, PASSWORD, start=f"/templates/{template.name}/workspace")
    d, driver = dashboard, dashboard.driver
    assert d.path() == f"/templates/{template.name}/workspace"
    # Defaults filled in, each control as its form type says.
    assert driver.find_element(By.NAME, "param.disk").get_attribute("value") == "10"
    assert driver.find_element(By.NAME, "param.cpus").get_attribute("type") == "range"
    assert d.text("output[for=param-cpus]") == "2"
    assert driver.find_element(By.NAME, "param.notes").tag_name == "textarea"
    assert driver.find_element(By.CSS_SELECTOR, "input[name='param.region'][value=eu]").is_selected()
    assert Select(driver.find_element(By.NAME, "param.size")).first_selected_option.text == "Small"
    assert driver.find_element(By.CSS_SELECTOR, "input[name='param.tools'][value=git]").is_selected()
    assert driver.find_element(By.ID, "param-debug").is_selected()
    badges = " ".join(d.text(f"[data-parameter={n}]") for n in ("debug", "project", "notes"))
    assert "Ephemeral" in badges and "Immutable" in badges and "Required" in badges
    d.check("create-workspace")
    name = "w" + uuid.uuid4().hex[:8]
    # A value the template's regex refuses: the server's message, at that field.
    d.fill(name=name, **{"param.project": "Not Valid", "param.notes": "x"})
    d.submit("main form.create")
    assert _field_error(d, "project") == "Use lowercase letters, digits and dashes"
    assert driver.find_element(By.NAME, "param.project").get_attribute("aria-invalid") == "true"
    assert driver.find_element(By.NAME, "name").get_attribute("value") == name
    d.check("create-workspace-error")
    # The browser's own check of the bounds says the template's message (create_workspace.js);
    # past it, the server's says the same.
    d.fill(**{"param.project": "demo-1", "param.disk": "200"})
    disk = driver.find_element(By.NAME, "param.disk")
    assert disk.get_attribute("validationMessage") == "disk must be 10 to 100 GB, not 200"
    driver.execute_script("document.querySelector('form.create').noValidate = true")
    d.fill(**{"param.project": "demo-1", "param.disk": "200"})
    d.submit("main form.create")
    assert _field_error(d, "disk") == "disk must be 10 to 100 GB, not 200"
    # Every kind filled in.
    d.fill(**{"param.disk": "20", "param.notes": "line one\nline two", "param.labels": "a\nb"})
    driver.execute_script("const s = document.getElementsByName('param.cpus')[0]; s.value = 6;")
    driver.find_element(By.CSS_SELECTOR, "input[name='param.region'][value=us]").click()
    Select(driver.find_element(By.NAME, "param.size")).select_by_visible_text("Large")
    driver.find_element(By.ID, "param-gpu").click()
    driver.find_element(By.ID, "param-debug").click()
    driver.find_element(By.CSS_SELECTOR, "input[name='param.tools'][value=make]").click()
    d.submit("main form.create")
    assert d.path() == f"/@{user.username}/{name}"
    assert _build_parameters(coderd, member, user.username, name) == {
        "project": "demo-1", "notes": "line one\nline two", "cpus": "6", "disk": "20",
        "region": "us", "size": "large", "gpu": "true", "debug": "false",
        "tools": '["git", "make"]', "labels": '["a", "b"]'}
    # A preset: the script fills in its values; the server applies them.
    d.open(f"/templates/{template.name}/workspace")
    Select(driver.find_element(By.NAME, "preset")).select_by_visible_text("Big")
    assert driver.find_element(By.NAME, "param.cpus").get_attribute("value") == "8"
    assert d.text("output[for=param-cpus]") == "8"  # the slider shows its value
    other = "w" + uuid.uuid4().hex[:8]
    d.fill(name=other, **{"param.project": "demo-2", "param.notes": "big"})
    d.submit("main form.create")
    values = _build_parameters(coderd, member, user.username, other)
    assert values["cpus"] == "8" and values["size"] == "large" and values["project"] == "demo-2"


def _build_parameters(coderd, client, username: str, name: str) -> dict[str, str]:
    """The workspace's build parameters as Coder's API sends them (codersdk.WorkspaceBuildParameter
    list), once its build (real terraform) succeeded."""
    headers = {"Coder-Session-Token": client.token}
    ws = requests.get(f"{coderd.url}/api/v2/users/{username}/workspace/{name}", headers=headers).json()
    deadline = time.monotonic() + 120
    while ws["latest_build"]["job"]["status"] in ("pending", "running"):
        assert time.monotonic() < deadline, "the build did not finish"
        time.sleep(0.3)
        ws = requests.get(f"{coderd.url}/api/v2/workspaces/{ws['id']}", headers=headers).json()
    assert ws["latest_build"]["job"]["status"] == "succeeded", ws["latest_build"]["job"]["error"]
    body = requests.get(f"{coderd.url}/api/v2/workspacebuilds/{ws['latest_build']['id']}/parameters",
                        headers=headers).json()
    assert all(set(p) == {"name", "value"} for p in body)
    return {p["name"]: p["value"] for p in body}


def test_an_admin_uploads_a_folder_and_an_archive_and_promotes(provisioning_site, pushed, dashboard,
                                                               tmp_path):
    coderd, owner = provisioning_site
    template, _, _ = pushed
    local = push_template(owner, {p.name: p.read_text() for p in
                                  (REPO / "examples" / "templates" / "local").iterdir()})
    sign_in(dashboard, "admin@example.com", FIRST_USER_PASSWORD, start=f"/templates/{template.name}")
    d, driver = dashboard, dashboard.driver
    d.check("template-admin")
    # A folder, with what a template's tar leaves out.
    folder = tmp_path / "rich"
    (folder / ".git").mkdir(parents=True)
    (folder / ".git" / "config").write_text("secret")
    (folder / "terraform.tfstate").write_text("{}")
    (folder / "main.tf").write_text(RICH)
    (folder / "README.md").write_text("# Version two\n")
    driver.find_element(By.ID, "folder").send_keys(str(folder))
    d.fill(name="two")
    d.submit("main section.card form")
    assert d.path() == f"/templates/{template.name}/versions/two"
    WebDriverWait(driver, 120).until(lambda _: "Succeeded" in d.text("#version-status"))
    assert d.text(".readme h1") == "Version two"
    assert sorted(r[0] for r in _cells(d, "section[aria-labelledby=files-title]")) == \
        ["README.md", "main.tf"]
    d.check("template-version")
    d.submit("main form")  # promote
    assert d.path() == f"/templates/{template.name}"
    active = sql(coderd.dsn, "SELECT v.name FROM templates t JOIN template_versions v "
                             "ON v.id = t.active_version_id WHERE t.id = %s", (str(template.id),))
    assert active == [("two",)]
    # An archive of Coder's example template, with a value for its variable.
    archive = tmp_path / "local.tar"
    archive.write_bytes(make_tar(folder=REPO / "examples" / "templates" / "local"))
    d.open(f"/templates/{local.name}")
    driver.find_element(By.ID, "archive").send_keys(str(archive))
    d.fill(**{"var.workspaces_dir": "/srv/workspaces"})
    d.submit("main section.card form")
    version = d.path().rsplit("/", 1)[1]
    WebDriverWait(driver, 120).until(lambda _: "Succeeded" in d.text("#version-status"))
    assert "main.tf" in [r[0] for r in _cells(d, "section[aria-labelledby=files-title]")]
    version_id = sql(coderd.dsn, "SELECT id FROM template_versions WHERE template_id = %s AND name = %s",
                     (str(local.id), version))[0][0]
    variables = requests.get(f"{coderd.url}/api/v2/templateversions/{version_id}/variables",
                             headers={"Coder-Session-Token": owner.token}).json()
    assert {v["name"]: v["value"] for v in variables} == {"workspaces_dir": "/srv/workspaces"}
    # A bad upload: its reason at the file field, nothing stored.
    files_before = sql(coderd.dsn, "SELECT count(*) FROM files")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no terraform here")
    d.open(f"/templates/{local.name}")
    driver.find_element(By.ID, "folder").send_keys(str(empty))
    d.submit("main section.card form")
    assert "no .tf file" in d.text("#file-error")
    d.check("template-upload-error")
    escaping = tmp_path / "escaping.tar"
    escaping.write_bytes(make_tar({"main.tf": "terraform {}", "../outside.tf": "x"}))
    driver.find_element(By.ID, "archive").send_keys(str(escaping))
    d.submit("main section.card form")
    assert "outside the archive" in d.text("#file-error")
    assert sql(coderd.dsn, "SELECT count(*) FROM files") == files_before


def test_attacks_on_the_templates_pages(provisioning_site, pushed, dashboard):
    coderd, owner = provisioning_site
    template, member, user = pushed
    counts = "SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM template_versions), " \
             "(SELECT count(*) FROM workspaces)"
    before = sql(coderd.dsn, counts)
    # Without a session: the login page, nothing made.
    with requests.Session() as anonymous:
        for path in ("/templates", f"/templates/{template.name}",
                     f"/templates/{template.name}/workspace"):
            resp = anonymous.get(coderd.url + path, allow_redirects=False)
            assert resp.status_code == 303 and resp.headers["Location"].startswith("/login"), path
        resp = anonymous.post(f"{coderd.url}/templates/{template.name}/workspace",
                              data={"name": "anon"}, headers={"Origin": coderd.url},
                              allow_redirects=False)
        assert resp.status_code == 303 and resp.headers["Location"].startswith("/login")
    # A member posting an upload from coderd's own page, with their own valid token: refused
    # (404, as the API's upload), before the body is stored.
    sign_in(dashboard, user.email, PASSWORD, start=f"/templates/{template.name}")
    status = dashboard.browser.run(
        "const form = new FormData();"
        "form.append('csrf_token', document.querySelector('input[name=csrf_token]').value);"
        "form.append('archive', new Blob(['terraform {}']), 'main.tar');"
        "const r = await fetch(arguments[0], {method: 'POST', body: form});"
        "return r.status;", f"/templates/{template.name}/versions")
    assert status == 404
    version = template_version_name(coderd, template)
    for path in (f"/templates/{template.name}/versions/{version}/promote",):
        status = dashboard.browser.run(
            "const body = new URLSearchParams({csrf_token: "
            "document.querySelector('input[name=csrf_token]').value});"
            "const r = await fetch(arguments[0], {method: 'POST', body}); return r.status;", path)
        assert status == 404, path
    # Another origin (a sibling host) posting the create-workspace and promote forms.
    with PageServer() as evil:
        assert post_from_another_origin(dashboard, evil, f"/templates/{template.name}/workspace", {
            "name": "evil", "param.project": "evil"}) == [403]
    dashboard.driver.delete_all_cookies()
    sign_in(dashboard, "admin@example.com", FIRST_USER_PASSWORD)
    with PageServer() as evil:
        assert post_from_another_origin(
            dashboard, evil, f"/templates/{template.name}/versions/{version}/promote", {}) == [403]
    assert sql(coderd.dsn, counts) == before
