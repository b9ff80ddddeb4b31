"""``coderd check-import``: the installer's last check, against a real coderd whose
built-in provisioner daemons run real terraform with the provider mirror.

It runs as the installer runs it: a separate process reading coderd's settings
from an EnvironmentFile, reaching the database coderd uses (the embedded
PostgreSQL coderd started, or CODER_PG_CONNECTION_URL), before any user exists.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from server.db.embedded import EmbeddedPostgres
from server.db.queries.users import SYSTEM_USER_ID

from tests.kit.coderd import create_first_user
from tests.kit.provisioning import sql

LOCAL = Path(__file__).resolve().parents[2] / "examples" / "templates" / "local"
CHECK_IMPORT = [sys.executable, "-m", "server.cli", "check-import"]
NO_CODER_ENV = {k: v for k, v in os.environ.items() if not k.startswith("CODER_")}


def check_import_command(coderd, directory: Path, *options: str, tmp_path: Path
                         ) -> tuple[list[str], dict[str, str]]:
    """``coderd check-import`` with coderd's settings in an EnvironmentFile, and no
    CODER_* variable of its own: its arguments and environment."""
    env_file = tmp_path / "coderd.env"
    env_file.write_text("# as the installer writes it\n" + "".join(
        f"{k}={v}\n" for k, v in coderd.env.items() if k.startswith("CODER_")))
    return [*CHECK_IMPORT, str(directory), "--env-file", str(env_file), *options], NO_CODER_ENV


def check_import(coderd, directory: Path, *options: str, tmp_path: Path):
    argv, env = check_import_command(coderd, directory, *options, tmp_path=tmp_path)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


def check_rows(dsn: str) -> list[tuple]:
    """The system user's versions, each with its job's status and whether its file exists."""
    return sql(dsn, """SELECT v.name, j.job_status, f.id IS NOT NULL FROM template_versions v
                       JOIN provisioner_jobs j ON j.id = v.job_id
                       LEFT JOIN files f ON f.id = j.file_id
                       WHERE v.created_by = %s ORDER BY v.created_at""", (str(SYSTEM_USER_ID),))


def system_rows(dsn: str) -> tuple[int, int, int]:
    """How many files, jobs and versions the system user has."""
    return sql(dsn, """SELECT (SELECT count(*) FROM files WHERE created_by = %(u)s),
                              (SELECT count(*) FROM provisioner_jobs WHERE initiator_id = %(u)s),
                              (SELECT count(*) FROM template_versions WHERE created_by = %(u)s)""",
               {"u": str(SYSTEM_USER_ID)})[0]


@pytest.fixture
def embedded_coderd(coderd_factory, provider_mirror):
    """The installer's coderd: the embedded PostgreSQL, built-in daemons, the mirror."""
    return coderd_factory(dsn=None, env={"CODER_PROVIDER_MIRROR_DIR": provider_mirror,
                                         "CODER_PROVISIONER_DAEMONS": "1"})


def test_check_imports_the_local_template_before_any_user(embedded_coderd, tmp_path):
    done = check_import(embedded_coderd, LOCAL, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"coderd check-import: {LOCAL} imported in ")
    assert "succeeded" in done.stderr
    # Still no user: the first one can be made, and is the only one listed.
    assert not embedded_coderd.client().has_first_user()
    owner, _ = create_first_user(embedded_coderd)
    assert [u.username for u in owner.users().users] == ["admin"]
    assert owner.templates() == []

    # Installed again: the check runs again and keeps only its newest rows.
    again = check_import(embedded_coderd, LOCAL, tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "removed 1 earlier check" in again.stderr
    dsn = EmbeddedPostgres(Path(embedded_coderd.config_dir)).running_url()
    assert check_rows(dsn) == [("install-check", "succeeded", True)]
    assert system_rows(dsn) == (1, 1, 1)


BROKEN = 'resource_of_no_kind "x" {}\n'  # terraform's words for it are the same from 1.0 to 1.11


def test_a_broken_template_fails_the_check_with_its_logs(provisioning_coderd, tmp_path):
    template = tmp_path / "broken"
    template.mkdir()
    (template / "main.tf").write_text(BROKEN)
    done = check_import(provisioning_coderd, template, tmp_path=tmp_path)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == "coderd check-import: error: the import failed: its logs are above", done.stderr
    assert 'Blocks of type "resource_of_no_kind" are not expected here' in done.stderr  # from the logs
    # Whole rows: the failed version with its job and file, nothing else, and no user.
    assert check_rows(provisioning_coderd.dsn) == [("install-check", "failed", True)]
    assert system_rows(provisioning_coderd.dsn) == (1, 1, 1)
    assert not provisioning_coderd.client().has_first_user()


def test_ctrl_c_cancels_the_job_as_the_timeout_does(coderd, tmp_path):
    """attack15: Ctrl-C while waiting printed a KeyboardInterrupt traceback and left the job
    pending, for a daemon to run later. Now the job is canceled and its rows kept for the
    next check to remove, as at the timeout; one line, and 130 as a shell says."""
    argv, env = check_import_command(coderd, LOCAL, tmp_path=tmp_path)  # no daemon takes it
    with subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True) as proc:
        said = []
        while not said or not said[-1].startswith("coderd check-import: pending"):
            said.append(proc.stderr.readline())
            assert said[-1], said  # it ended before waiting
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert (proc.wait(timeout=30), rest) == (
            130, "coderd check-import: error: interrupted: the import was canceled\n")
    assert check_rows(coderd.dsn) == [("install-check", "canceled", True)]


def test_bad_arguments_are_one_line_before_the_database(tmp_path):
    """attack15: an env file that is not UTF-8 was a UnicodeDecodeError traceback, a negative
    --timeout was taken, and a file given as DIR was reported as a database error. No
    database is configured here: each is said before one would be looked for."""
    def run(*args: str):
        return subprocess.run([*CHECK_IMPORT, *args], env=NO_CODER_ENV, capture_output=True,
                              text=True, timeout=60)

    latin1 = tmp_path / "coderd.env"
    latin1.write_bytes("CODER_PG_CONNECTION_URL=postgresql://coder:s\xe9cr\xe9t@127.0.0.1/c\n"
                       .encode("latin-1"))
    done = run(str(LOCAL), "--env-file", str(latin1))
    assert (done.returncode, done.stderr) == (
        1, f"coderd check-import: error: {latin1} is not UTF-8 text\n")
    done = run(str(latin1))
    assert (done.returncode, done.stderr) == (
        1, f"coderd check-import: error: {latin1} is not a folder\n")
    for bad in ("-5", "0", "nan", "inf", "soon"):
        done = run(str(LOCAL), "--timeout", bad)
        assert done.returncode == 2, done.stderr
        assert done.stderr.splitlines()[-1].endswith(
            f"argument --timeout: {bad!r} is not a number of seconds above 0"), done.stderr


def test_what_cannot_be_checked_writes_nothing(coderd, tmp_path):
    """A folder with no template, and a coderd with no daemon to take the job."""
    empty = tmp_path / "empty"
    empty.mkdir()
    done = check_import(coderd, empty, tmp_path=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == f"coderd check-import: error: {empty} holds no .tf file. " \
                                  "Push a Terraform template folder."
    assert system_rows(coderd.dsn) == (0, 0, 0)

    waited = check_import(coderd, LOCAL, "--timeout", "1", tmp_path=tmp_path)
    assert waited.returncode == 1
    assert waited.stderr.strip().endswith(
        "error: no provisioner daemon took the job in 1 s: is coderd running, with "
        "CODER_PROVISIONER_DAEMONS above 0?")
    assert check_rows(coderd.dsn) == [("install-check", "canceled", True)]


def test_a_database_url_it_cannot_parse_is_not_printed(tmp_path):
    """attack15: the installer runs check-import under Ansible, which prints its stderr when it
    fails. A password with a '%' that is no percent-encoding made libpq refuse the URL with
    the password in its message, and check-import printed it whole:
    'error: invalid dsn: invalid percent-encoded token: "50%off-secret"'."""
    env_file = tmp_path / "coderd.env"
    env_file.write_text("CODER_PG_CONNECTION_URL=postgresql://coder:50%off-secret@127.0.0.1:1/coder\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODER_")}
    done = subprocess.run([sys.executable, "-m", "server.cli", "check-import", str(LOCAL),
                           "--env-file", str(env_file)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == ("coderd check-import: error: CODER_PG_CONNECTION_URL is not a valid "
                           "PostgreSQL URL: invalid percent-encoded token\n")


def test_variable_values_reach_the_import_as_push_gives_them(provisioning_coderd, tmp_path):
    """``--variable`` and ``--variables-file`` as ``coder templates push`` takes them (one
    piece of code reads both): a template whose variable has no default imports with them,
    and is refused without."""
    template = tmp_path / "needs"
    template.mkdir()
    (template / "main.tf").write_text('variable "region" {\n  type = string\n}\n'
                                      'output "region" {\n  value = var.region\n}\n')
    done = check_import(provisioning_coderd, template, tmp_path=tmp_path)
    assert done.returncode == 1 and "region" in done.stderr, done.stderr
    done = check_import(provisioning_coderd, template, "--variable", "region=eu-west",
                        tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    stored = sql(provisioning_coderd.dsn, """SELECT tv.name, tv.value FROM template_version_variables tv
                 JOIN template_versions v ON v.id = tv.template_version_id
                 WHERE v.created_by = %s""", (str(SYSTEM_USER_ID),))
    assert stored == [("region", "eu-west")]
    values = tmp_path / "values.yaml"
    values.write_text("region: us-east\n")
    done = check_import(provisioning_coderd, template, "--variables-file", str(values),
                        tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    done = check_import(provisioning_coderd, template, "--variable", "region", tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith(
        "argument --variable/--var: format key=value expected, but got region"), done.stderr
