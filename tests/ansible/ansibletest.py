"""Running the repository's ansible/ with the Ansible the bundle ships (packaging/ansible_runtime.py).

The runtime is the bundle's own ``ansible/python`` tree, built from PyPI once and
cached, so the tests exercise the very ansible-core the air-gapped host runs.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO / "ansible"
ROLES = sorted(p for p in (ANSIBLE_DIR / "roles").iterdir() if p.is_dir())
RUNTIME = REPO / ".cache" / "ansible-runtime-test"


def _runtime_module():
    spec = importlib.util.spec_from_file_location(
        "ansible_runtime", REPO / "packaging" / "ansible_runtime.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ansible_python() -> Path:
    """The bundle's ansible/python tree (built once, then copied from its cache)."""
    if not (RUNTIME / "ansible").is_dir():
        _runtime_module().build(RUNTIME)
    return RUNTIME


def ansible_env(home: Path) -> dict[str, str]:
    """Environment for ansible-core: the bundle's tree, its config, its state under ``home``."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")},
            "PYTHONPATH": str(ansible_python()), "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
            "ANSIBLE_HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
            "ANSIBLE_REMOTE_TEMP": str(home / "remote-tmp"), "ANSIBLE_NOCOLOR": "1"}


def ansible(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python3 -m ansible ARGS`` from ansible/, as install.sh runs it."""
    return subprocess.run([sys.executable, "-m", "ansible", *args], cwd=ANSIBLE_DIR,
                          env=ansible_env(home), capture_output=True, text=True, timeout=timeout)


def write_coderd_env(home: Path, extra_vars: Path) -> bytes:
    """coderd.env as the single-node playbook writes it on a host with these extra vars (-e
    @FILE), without the host: the coderd role's own task and template, with its defaults, the
    play's vars and those the playbook gives the role, run here into ``home``."""
    import yaml

    play = yaml.safe_load((ANSIBLE_DIR / "playbooks" / "single-node.yml").read_text())[0]
    role = ANSIBLE_DIR / "roles" / "coderd"
    (coderd,) = [r for r in play["roles"] if r["role"] == "coderd"]
    (task,) = [t for t in yaml.safe_load((role / "tasks" / "main.yml").read_text())
               if t["name"] == "Write coderd's settings"]
    env_file = home / "coderd.env"
    task.pop("notify")
    task["ansible.builtin.template"] = {"src": str(role / "templates" / "coderd.env.j2"),
                                        "dest": str(env_file), "mode": "0600"}
    test_play = home / "write-coderd-env.yml"
    test_play.write_text(yaml.safe_dump([{
        "hosts": "all", "gather_facts": False,
        "vars": {**yaml.safe_load((role / "defaults" / "main.yml").read_text()),
                 **play["vars"], **coderd["vars"], "ansible_python_interpreter": sys.executable},
        "tasks": [task]}]))
    done = ansible(home, "playbook", "-i", "coder.test,", "-c", "local", "-e", f"@{extra_vars}",
                   str(test_play))
    assert done.returncode == 0, done.stdout + done.stderr
    return env_file.read_bytes()


def render_templates(home: Path, playbook: str, inventory: Path, extra_vars: dict) -> Path:
    """Every role template of ``playbook`` as it renders on each host of ``inventory``, without
    the hosts; written to OUT/HOST/ROLE/NAME (OUT returned). Per play: its hosts, the play's
    and the role's vars, and ``extra_vars`` for the facts earlier tasks set; the roles'
    defaults come from an inventory read before ``inventory``, so that its vars outrank them
    as Ansible ranks inventory vars over role defaults."""
    import json

    import yaml

    out, plays, defaults = home / "rendered", [], {}
    for play in yaml.safe_load((ANSIBLE_DIR / "playbooks" / playbook).read_text()):
        for entry in play.get("roles", []):  # a play of tasks only sets facts (extra_vars)
            role = ANSIBLE_DIR / "roles" / entry["role"]
            templates = sorted(p.name for p in (role / "templates").glob("*.j2"))
            defaults.update(yaml.safe_load((role / "defaults" / "main.yml").read_text()))
            if not templates:
                continue
            role_vars = role / "vars" / "main.yml"
            dest = f"{out}/{{{{ inventory_hostname }}}}/{entry['role']}"
            plays.append({"hosts": play["hosts"], "gather_facts": False, "vars": {
                **play.get("vars", {}), **entry.get("vars", {}),
                **(yaml.safe_load(role_vars.read_text()) if role_vars.exists() else {}),
                "ansible_python_interpreter": sys.executable}, "tasks": [
                {"name": "Make the folder", "ansible.builtin.file": {"path": dest, "state": "directory"}},
                {"name": "Render", "loop": templates, "ansible.builtin.template": {
                    "src": f"{role}/templates/{{{{ item }}}}",
                    "dest": f"{dest}/{{{{ item | regex_replace('.j2$', '') }}}}", "mode": "0600"}}]})
    (home / "defaults.yml").write_text(yaml.safe_dump({"all": {"vars": defaults}}))
    (home / "render.yml").write_text(yaml.safe_dump(plays))
    (home / "extra.json").write_text(json.dumps(extra_vars))
    done = ansible(home, "playbook", "-i", str(home / "defaults.yml"), "-i", str(inventory), "-c", "local",
                   "-e", f"@{home / 'extra.json'}", str(home / "render.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    return out
