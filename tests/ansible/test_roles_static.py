"""The roles follow Ansible's conventions and nothing in them downloads (no host needed)."""
from __future__ import annotations

import re
import sys

import pytest
import yaml

from .ansibletest import ANSIBLE_DIR, REPO, ROLES, ansible

sys.path.insert(0, str(REPO / "packaging"))
import aptrepo  # noqa: E402  (packaging/aptrepo.py, run as a script there)

# Task keywords (Ansible's playbook keywords) used in these roles; any other key is the module.
KEYWORDS = {"name", "when", "loop", "loop_control", "register", "notify", "environment", "delegate_to",
            "changed_when", "failed_when", "until", "retries", "delay", "no_log", "become",
            "become_user", "tags", "vars", "listen", "args", "check_mode", "run_once"}
# Modules that fetch from elsewhere, and keys that name a remote address.
DOWNLOADERS = {"ansible.builtin.get_url", "ansible.builtin.pip", "ansible.builtin.git",
               "ansible.builtin.apt_repository", "ansible.builtin.apt_key",
               "ansible.builtin.deb822_repository", "ansible.builtin.yum_repository",
               "ansible.builtin.subversion", "ansible.builtin.include_role"}
REMOTE = re.compile(r"\b(?:https?|ftp)://(?!127\.0\.0\.1|localhost|\{\{)", re.I)


def task_files():
    return sorted(p for role in ROLES for kind in ("tasks", "handlers")
                  for p in (role / kind).glob("*.yml"))


def tasks(path):
    """Every task in a tasks or handlers file, blocks opened."""
    todo = list(yaml.safe_load(path.read_text()) or [])
    while todo:
        task = todo.pop()
        for key in ("block", "rescue", "always"):
            todo.extend(task.get(key, []))
        if not {"block", "rescue", "always"} & task.keys():
            yield task


def module(task) -> str:
    (name,) = [k for k in task if k not in KEYWORDS]
    return name


def test_every_task_is_named_and_uses_a_fully_qualified_module():
    seen = 0
    for path in task_files():
        for task in tasks(path):
            seen += 1
            assert task.get("name"), f"{path}: a task without a name: {task}"
            assert module(task).startswith("ansible.builtin."), \
                f"{path}: {task['name']!r} uses {module(task)!r}, not ansible.builtin.*"
    assert seen > 20


def test_the_fqcn_check_sees_a_short_module_name():
    assert module({"name": "x", "copy": {"src": "a"}, "when": "y"}) == "copy"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_every_role_documents_each_default_in_its_argument_spec(role):
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    entries = spec["argument_specs"]
    assert all(entry["short_description"] for entry in entries.values())
    assert sorted(entries) == sorted(p.stem for p in (role / "tasks").glob("*.yml")), \
        f"{role.name}: an entry point per tasks file"
    options = {name: option for entry in entries.values()
               for name, option in entry.get("options", {}).items()}
    prefix = role.name + "_"
    assert all(name.startswith(prefix) for name in defaults), \
        f"{role.name}: defaults not prefixed with {prefix}: {sorted(defaults)}"
    documented = {k: v for k, v in options.items() if k.startswith(prefix)}
    assert sorted(documented) == sorted(defaults)
    for name, value in defaults.items():
        assert documented[name]["default"] == value, f"{role.name}: {name}'s documented default"
        assert documented[name].get("description"), f"{role.name}: {name} has no description"


def test_the_apt_role_installs_what_the_bundle_carries_for_it():
    """The role's packages are the bundle's defaults (top-level names on both sides: the
    repository holds their closure) but the ones bootstrap-python.sh installs before Ansible;
    Debian's PostgreSQL is what the bundle carries for `postgres: debian`."""
    role = yaml.safe_load((ANSIBLE_DIR / "roles" / "appliance_apt_repo" / "defaults" / "main.yml")
                          .read_text())["appliance_apt_repo_packages"]
    expected = [p for p in aptrepo.DEFAULT_PACKAGES if p not in aptrepo.BOOTSTRAP_PACKAGES]
    assert sorted(role) == sorted(expected)
    bootstrap = (ANSIBLE_DIR / "roles" / "appliance_files" / "files" / "bootstrap-python.sh").read_text()
    assert f"install -y --no-install-recommends {' '.join(aptrepo.BOOTSTRAP_PACKAGES)}" in bootstrap
    postgresql = yaml.safe_load((ANSIBLE_DIR / "roles" / "appliance_postgresql" / "defaults" /
                                 "main.yml").read_text())["appliance_postgresql_packages"]
    assert sorted(postgresql) == sorted(aptrepo.POSTGRESQL_PACKAGES)
    cluster = yaml.safe_load((ANSIBLE_DIR / "playbooks" / "cluster.yml").read_text())
    by_group = cluster[0]["vars"]["cluster_group_packages"]
    assert sorted(p for packages in by_group.values() for p in packages) == sorted(aptrepo.CLUSTER_PACKAGES)


def test_no_task_downloads_anything():
    for path in task_files():
        text = path.read_text()
        assert not REMOTE.search(text), f"{path}: names a remote URL"
        for task in tasks(path):
            name, args = module(task), task[module(task)]
            assert name not in DOWNLOADERS, f"{path}: {task['name']!r} uses {name}"
            if name == "ansible.builtin.uri":  # only coderd's own health check, on loopback
                assert args["url"] == "{{ coderd_health_url }}", f"{path}: {task['name']!r}"
            if name == "ansible.builtin.unarchive":
                assert args.get("remote_src") and "://" not in str(args["src"]), path
            if name == "ansible.builtin.apt":
                assert "APT_CONFIG" in task.get("environment", {}), \
                    f"{path}: apt without the bundle's repository as its only source"
    for role in ROLES:  # the values a task's URL may come from stay on this host
        for line in (role / "defaults" / "main.yml").read_text().splitlines():
            assert not REMOTE.search(line) or "127.0.0.1" in line, f"{role.name}: {line}"
    health = yaml.safe_load((ANSIBLE_DIR / "roles/coderd/defaults/main.yml").read_text())
    assert health["coderd_health_url"].startswith("https://127.0.0.1:")


def test_the_download_check_sees_a_remote_url():
    assert REMOTE.search("url: https://deb.debian.org/debian")
    assert not REMOTE.search("url: https://127.0.0.1:443/healthz")


# Every playbook, with the inventories it is run with (uninstall-bundle.yml: by both uninstalls).
PLAYBOOK_INVENTORIES = [("single-node", "inventory.example.yml"),
                        ("uninstall", "inventory.example.yml"),
                        ("uninstall-bundle", "inventory.example.yml"),
                        ("uninstall-bundle", "inventory/cluster.example.yml"),
                        ("cluster", "inventory/cluster.example.yml"),
                        ("cluster-uninstall", "inventory/cluster.example.yml")]


@pytest.mark.parametrize("play, inventory", PLAYBOOK_INVENTORIES)
def test_the_playbooks_pass_ansible_syntax_check(tmp_path, play, inventory):
    done = ansible(tmp_path, "playbook", "--syntax-check", "-i", inventory, f"playbooks/{play}.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[WARNING]" not in done.stderr, done.stderr  # e.g. a play whose hosts match no group


def test_the_syntax_check_covers_every_playbook():
    assert sorted({play for play, _ in PLAYBOOK_INVENTORIES}) == \
        sorted(p.stem for p in (ANSIBLE_DIR / "playbooks").glob("*.yml"))


def test_the_syntax_check_fails_a_broken_play(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("- hosts: all\n  tasks:\n    - ansible.builtin.no_such_module: {}\n")
    done = ansible(tmp_path, "playbook", "--syntax-check", str(broken))
    assert done.returncode != 0
