"""The five PyInstaller executables do the real job on a host with no Python packages.

Everything runs under bubblewrap with this venv, the interpreter it comes from,
every ``/usr/lib/python3*`` and ``/usr/local/lib/python3*`` and this checkout
hidden behind empty tmpfs mounts, and an environment cleared to ``PATH``:
the frozen ``coderd`` starts its embedded PostgreSQL, the frozen ``coder``
creates the first user and pushes ``examples/templates/local``, the built-in
provisioner (frozen coderd started again) installs the frozen provider from
the mirror, and the frozen agent, downloaded from coderd's ``/bin/``, answers
``coder ssh``.
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
import requests

from appliance import __version__
from appliance.buildinfo import CODER_VERSION

from tests.kit.coderd import FIRST_USER_PASSWORD
from tests.kit.postgres import free_port

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "packaging"))
import build_provider  # noqa: E402
import executables  # noqa: E402

pytestmark = pytest.mark.slow


def _hidden() -> list[str]:
    """Where Python packages could come from: each becomes an empty tmpfs."""
    # The base Python's lib folders, not its prefix: on Debian that prefix is /usr itself.
    paths = {sys.prefix, str(REPO), *glob.glob(f"{sys.base_prefix}/lib/python3*"),
             *glob.glob("/usr/lib/python3*"), *glob.glob("/usr/local/lib/python3*")}
    # Deepest first would be hidden by a shallower tmpfs; bwrap mounts in order.
    return sorted(p for p in paths if os.path.isdir(p))


def isolated(args: list[str], env: dict[str, str] | None = None, **popen) -> list[str]:
    """``args`` under bwrap with no Python packages visible and the environment cleared."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        pytest.fail("bwrap is required for this test: apt-get install bubblewrap")
    cmd = [bwrap, "--dev-bind", "/", "/"]
    for path in _hidden():
        cmd += ["--tmpfs", path]
    # systemd's PATH: coderd run as root creates the embedded PostgreSQL's user (useradd).
    cmd += ["--", "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "CHECKPOINT_DISABLE=1",
            *(f"{k}={v}" for k, v in (env or {}).items()), *args]
    return cmd


@pytest.fixture(scope="module")
def bundle():
    """bin/ and agent/ as the bundle has them, and a provider mirror of the frozen provider.

    Under /var/tmp, not pytest's 0700 folder: the embedded PostgreSQL runs unprivileged
    and must reach its binaries inside coderd's folder.
    """
    root = Path(f"/var/tmp/executables-test-{uuid.uuid4().hex[:8]}")
    try:
        executables.build(root)
        build_provider.build(root / "providers", "pyinstaller")
        # terraform as the bundle carries it: the one ./dev installed may live in the venv,
        # which the isolated runs hide.
        found = shutil.which("terraform")
        if found is None:
            pytest.fail("terraform is required: ./dev setup installs it")
        (root / "terraform").mkdir()
        shutil.copy2(os.path.realpath(found), root / "terraform" / "terraform")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(bundle: Path, name: str, *args: str, env: dict | None = None, timeout: float = 120,
        check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(isolated([str(bundle / "bin" / name), *args], env), timeout=timeout,
                          capture_output=True, text=True, cwd="/")
    assert done.returncode == 0 or not check, f"{name} {args}:\n{done.stdout}\n{done.stderr}"
    return done


def test_an_unchanged_executable_is_not_rebuilt(bundle, tmp_path):
    messages = []
    executables.build(tmp_path / "again", ["coder-agent", "coder"], progress=messages.append)
    assert messages == []  # "building ..." is said before each PyInstaller run
    assert (tmp_path / "again" / "bin" / "coder-agent").read_bytes() == \
        (bundle / "bin" / "coder-agent").read_bytes()
    assert os.readlink(tmp_path / "again" / "bin" / "coder") == "coder.d/coder"


def test_the_isolation_hides_python():
    """A test that cannot fail is no test: the venv's Python must not run inside."""
    done = subprocess.run(isolated([sys.executable, "-c", "import requests"]),
                          capture_output=True, text=True)
    assert done.returncode != 0


def test_every_executable_answers_help(bundle):
    for name in ("coderd", "coder", "appliance", "coder-agent"):
        done = run(bundle, name, "--help")
        assert "usage" in done.stdout.lower(), (name, done.stdout)
    assert "Start coderd" in run(bundle, "coderd", "--help").stdout
    assert "provisionerd" in run(bundle, "coderd", "provisionerd", "start", "--help").stdout
    assert "templates" in run(bundle, "coder", "--help").stdout
    assert "ca" in run(bundle, "appliance", "ca", "--help").stdout
    assert (bundle / "agent" / executables.AGENT_NAME).read_bytes() == \
        (bundle / "bin" / "coder-agent").read_bytes()
    for name in executables.ALL:
        assert os.access(bundle / "bin" / name, os.X_OK), name


def test_every_executable_says_the_same_version(bundle):
    """The Coder release followed and appliance.__version__ travel with the code: no installed
    distribution, no git, so a release build's version (no -devel, no commit)."""
    expected = f"v{CODER_VERSION}"
    text = run(bundle, "coder", "version").stdout
    assert text.startswith(f"Coder (AGPL) {expected}\n"), text
    assert f"coder-appliance {__version__}, following Coder {expected}." in text
    assert run(bundle, "coder", "--version").stdout == text
    assert json.loads(run(bundle, "coder", "version", "-o", "json").stdout) == {
        "version": expected, "build_time": "0001-01-01T00:00:00Z", "external_url": "",
        "slim": True, "agpl": True, "boring_crypto": False, "appliance_version": __version__}
    assert run(bundle, "coderd", "--version").stdout.startswith(f"Coder (AGPL) {expected}\n")
    assert run(bundle, "appliance", "--version").stdout == \
        f"appliance (coder-appliance {__version__}) {expected}\n"


def test_coder_templates_init_copies_the_bundled_example(bundle, tmp_path):
    run(bundle, "coder", "templates", "init", "--id", "local", str(tmp_path / "t"),
        env={"HOME": str(tmp_path)})
    assert (tmp_path / "t" / "main.tf").read_bytes() == \
        (REPO / "examples" / "templates" / "local" / "main.tf").read_bytes()


def test_appliance_ca_init_writes_a_ca(bundle, tmp_path):
    ca = tmp_path / "ca"
    run(bundle, "appliance", "ca", "init", "--dir", str(ca), "--access-url", "https://coder.example")
    done = subprocess.run(["openssl", "x509", "-noout", "-subject", "-in",
                           str(ca / "intermediate.crt")], capture_output=True, text=True)
    assert done.returncode == 0 and "coder-appliance" in done.stdout, (done.stdout, done.stderr,
                                                                      sorted(os.listdir(ca)))


def test_the_provider_handshakes(bundle):
    env = {"TF_PLUGIN_MAGIC_COOKIE": "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991"
                                     "ca9872b2", "PLUGIN_PROTOCOL_VERSIONS": "6", "HOME": "/tmp"}
    proc = subprocess.Popen(isolated([str(bundle / "bin" / "terraform-provider-coder")], env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        line = proc.stdout.readline()
    finally:
        _stop(proc)  # the provider itself: terminating bwrap left it serving, orphaned
    assert line.startswith(b"1|6|unix|"), (line, proc.stderr.read())


@contextlib.contextmanager
def frozen_coderd(bundle: Path, log_path: Path, **env: str):
    """The frozen ``coderd server`` on its embedded PostgreSQL; yields its URL.

    On leaving: SIGTERM to coderd, which must exit 0 and have stopped its PostgreSQL.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = bundle / f"coderd-{port}"
    env = {"HOME": str(bundle), "CODER_CONFIG_DIR": str(config),
           "CODER_HTTP_ADDRESS": f"127.0.0.1:{port}", "CODER_ACCESS_URL": url, **env}
    with open(log_path, "wb") as log:
        coderd = subprocess.Popen(isolated([str(bundle / "bin" / "coderd"), "server"], env),
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_healthy(url, coderd, log_path)
        yield url
    finally:
        _stop(coderd)
    # bwrap exits with its command's status.
    assert coderd.returncode == 0, log_path.read_text()[-3000:]
    assert not [p for p in psutil.process_iter(["name", "cmdline"]) if p.info["name"] == "postgres"
                and str(config) in " ".join(p.info["cmdline"] or [])]


def login(bundle: Path, url: str, cli_env: dict) -> None:
    """The first user, created and logged in by the frozen coder."""
    run(bundle, "coder", "login", url, "--first-user-username", "admin", "--first-user-email",
        "admin@example.com", "--first-user-password", FIRST_USER_PASSWORD, env=cli_env)
    assert "admin" in run(bundle, "coder", "whoami", env=cli_env).stdout


def test_frozen_coderd_serves_with_gunicorn_workers(bundle, tmp_path):
    """Several workers: gunicorn imports the worker class by name, psycopg2 runs green."""
    cli_env = {"HOME": str(tmp_path), "CODER_CONFIG_DIR": str(tmp_path / "cli")}
    with frozen_coderd(bundle, tmp_path / "coderd.log", CODER_HTTP_WORKERS="2",
                       CODER_PROVISIONER_DAEMONS="0") as url:
        login(bundle, url, cli_env)
        assert "admin" in run(bundle, "coder", "users", "list", env=cli_env).stdout
        info = requests.get(url + "/api/v2/buildinfo", timeout=10).json()
        # a shipped build: Coder's release it follows, untagged; the appliance's own beside it
        assert (info["version"], info["appliance_version"]) == (f"v{CODER_VERSION}", __version__)
    assert "Booting worker" in (tmp_path / "coderd.log").read_text()


def local_template(bundle: Path, tmp_path: Path) -> Path:
    """examples/templates/local, with the workspaces' homes in the test's folder."""
    template = tmp_path / "local"
    shutil.copytree(REPO / "examples" / "templates" / "local", template)
    main_tf = template / "main.tf"
    default = '"/var/lib/coder-appliance/workspaces"'
    assert default in main_tf.read_text()
    main_tf.write_text(main_tf.read_text().replace(default, f'"{bundle / "workspaces"}"'))
    return template


def test_frozen_external_provisioner_daemon_imports_a_template(bundle, tmp_path):
    """`coderd provisionerd start` on its own, with the pre-shared key, runs the import job."""
    cli_env = {"HOME": str(tmp_path), "CODER_CONFIG_DIR": str(tmp_path / "cli")}
    template = local_template(bundle, tmp_path)
    psk = uuid.uuid4().hex
    with frozen_coderd(bundle, tmp_path / "coderd.log", CODER_PROVISIONER_DAEMONS="0",
                       CODER_PROVISIONER_DAEMON_PSK=psk) as url:
        daemon_log = tmp_path / "provisionerd.log"
        with open(daemon_log, "wb") as log:
            daemon = subprocess.Popen(isolated([
                str(bundle / "bin" / "coderd"), "provisionerd", "start", "--url", url, "--psk", psk,
                "--provider-mirror-dir", str(bundle / "providers"), "--terraform-path", str(bundle / "terraform" / "terraform"),
                "--cache-dir", str(tmp_path / "provisionerd")], {"HOME": str(tmp_path)}),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            login(bundle, url, cli_env)
            run(bundle, "coder", "templates", "push", "local", "-d", str(template), "-y",
                env=cli_env)
        finally:
            _stop(daemon)
        assert "running template_version_import job" in daemon_log.read_text()
        # The dashboard renders its README with markdown_it and sanitises it with nh3, both
        # taken by the build.
        token = (tmp_path / "cli" / "session").read_text().strip()
        page = requests.get(url + "/templates/local", cookies={"coder_session_token": token},
                            timeout=30)
        assert page.status_code == 200 and "<h1>Local workspaces</h1>" in page.text


def test_frozen_coderd_coder_provider_and_agent_build_a_workspace(bundle, tmp_path):
    cli_env = {"HOME": str(tmp_path), "CODER_CONFIG_DIR": str(tmp_path / "cli")}
    template = local_template(bundle, tmp_path)

    def coder(*args: str, check: bool = True, timeout: float = 300):
        return run(bundle, "coder", *args, env=cli_env, check=check, timeout=timeout)

    with frozen_coderd(bundle, tmp_path / "coderd.log", CODER_PROVISIONER_DAEMONS="1",
                       CODER_TERRAFORM_PATH=str(bundle / "terraform" / "terraform"),
                       CODER_PROVIDER_MIRROR_DIR=str(bundle / "providers"),
                       CODER_AGENT_BINARY_DIR=str(bundle / "agent")) as url:
        login(bundle, url, cli_env)
        coder("templates", "push", "local", "-d", str(template), "-y")
        coder("create", "frozen", "-t", "local", "-y")
        try:
            deadline = time.monotonic() + 180
            while True:  # the build is done; the agent connects once the sandbox has fetched it
                ssh = coder("ssh", "frozen", "--", "echo", "agent-is-connected", check=False,
                            timeout=60)
                if ssh.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(2)
            assert ssh.stdout.strip() == "agent-is-connected", ssh.stderr
            # OpenSSH runs coder again by the path it was run by (bin/coder, which an
            # upgrade moves), not the resolved bin/coder.d/coder of one version.
            block = coder("config-ssh", "--dry-run").stdout
            assert f"ProxyCommand {bundle / 'bin' / 'coder'} " in block, block
        finally:  # the sandboxed agent and its Files app end with the workspace, pass or fail
            deleted = coder("delete", "frozen", "-y", check=False)
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr


def _stop(sandbox: subprocess.Popen) -> None:
    """SIGTERM to the command bwrap runs (not bwrap, which would just die), then wait for it."""
    with contextlib.suppress(psutil.NoSuchProcess):
        for child in psutil.Process(sandbox.pid).children():
            child.terminate()
    try:
        sandbox.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(sandbox.pid, signal.SIGKILL)
        sandbox.wait()


def _wait_healthy(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, log_path.read_text()[-3000:]
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        assert time.monotonic() < deadline, "no /healthz in 180 s:\n" + log_path.read_text()[-3000:]
        time.sleep(0.2)
