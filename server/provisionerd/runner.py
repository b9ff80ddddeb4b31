"""Running one acquired job: fetch the template, run terraform, report the result.

Logs are buffered and flushed every half second; each flush is also the
job's heartbeat, and its answer says whether the job was canceled. Without a
flush for a while the heartbeat still goes out, so a long-silent ``apply``
is not mistaken for a dead daemon by coderd's reaper. The job's end (its result,
with the Terraform state, or its failure) is offered again while coderd cannot take
it (a database failover answers 503, a replica restarting refuses the connection):
dropped, the state would be lost with the resources it made.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from appliance import archives, tfvariables
from appliance.sdk.client import APIError
from appliance.sdk.provisionerd import (AcquiredJob, CompleteJobRequest, JobLog,
                                        ProvisionerDaemonClient)
from provider import contract

from . import lockfile
from . import state as tfstate
from .terraform import (Canceled, MirrorConfig, Terraform, TerraformError, cli_config,
                        var_file_text)
from .timings import Timings

log = logging.getLogger(__name__)
REQUIRED_VARIABLES_CODE = "REQUIRED_TEMPLATE_VARIABLES"  # Coder's job error code for it
FLUSH_SECONDS = 0.5
HEARTBEAT_SECONDS = 5.0
# How long a job's end is offered again, every second: longer than a database failover.
REPORT_RETRY_SECONDS = 60.0
# Passed through from the daemon's own environment; everything else is Coder's.
PASSTHROUGH_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "SSL_CERT_FILE",
                   "SSL_CERT_DIR", "XDG_RUNTIME_DIR")


class MissingVariables(Exception):
    """coderd refused the import's variables: required ones were given no value."""


@dataclass
class RunnerConfig:
    terraform: str
    mirrors: MirrorConfig
    work_root: Path
    extra_env: dict[str, str] = field(default_factory=dict)


class JobLogger:
    """Buffers log lines and ships them; learns of cancellation from the replies."""

    def __init__(self, client: ProvisionerDaemonClient, daemon_id, job_id):
        self.client, self.daemon_id, self.job_id = client, daemon_id, job_id
        self.buffer: list[JobLog] = []
        self.lock = threading.Lock()
        self.canceled = threading.Event()
        self.stopped = threading.Event()
        self.lost = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name=f"logs-{job_id}")

    def __call__(self, level: str, stage: str, output: str, source: str = "provisioner") -> None:
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        with self.lock:
            self.buffer.append(JobLog(created_at=now, level=level, stage=stage, output=output,
                                      source=source))

    def flush(self) -> None:
        with self.lock:
            batch, self.buffer = self.buffer, []
        try:
            if self.client.update_job(self.daemon_id, self.job_id, batch):
                self.canceled.set()
        except APIError as exc:
            if exc.status in (404, 409, 410):  # the job is no longer ours (reaped or canceled)
                self.lost.set()
                self.canceled.set()
            else:
                with self.lock:
                    self.buffer[:0] = batch
        except OSError:
            with self.lock:  # coderd briefly unreachable: keep the lines, retry
                self.buffer[:0] = batch

    def _loop(self) -> None:
        last = time.monotonic()
        while not self.stopped.wait(FLUSH_SECONDS):
            if self.buffer or time.monotonic() - last >= HEARTBEAT_SECONDS:
                self.flush()
                last = time.monotonic()

    def __enter__(self) -> "JobLogger":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()
        self.flush()


def terraform_env(job: AcquiredJob, cli_config_path: Path, home: Path, extra: dict[str, str],
                  transition: str) -> dict[str, str]:
    """Coder's provisioner environment, and nothing else of the daemon's."""
    m = job.metadata
    env = {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ}
    env.update(extra)
    env.update({
        "HOME": str(home), "TF_CLI_CONFIG_FILE": str(cli_config_path), "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1", "TF_INPUT": "0",
        contract.AGENT_URL: m.coder_url, contract.TRANSITION: transition,
        contract.WORKSPACE_NAME: m.workspace_name, contract.WORKSPACE_ID: m.workspace_id,
        contract.OWNER: m.workspace_owner, contract.OWNER_ID: m.workspace_owner_id,
        contract.OWNER_EMAIL: m.workspace_owner_email, contract.OWNER_NAME: m.workspace_owner_name,
        contract.OWNER_SESSION_TOKEN: m.workspace_owner_session_token,
        contract.OWNER_LOGIN_TYPE: m.workspace_owner_login_type,
        contract.OWNER_RBAC_ROLES: json.dumps([{"name": r, "org_id": ""} for r in m.workspace_owner_rbac_roles]),
        contract.OWNER_GROUPS: json.dumps(m.workspace_owner_groups),
        contract.TEMPLATE_ID: m.template_id, contract.TEMPLATE_NAME: m.template_name,
        contract.TEMPLATE_VERSION: m.template_version, contract.BUILD_ID: m.workspace_build_id,
    })
    for platform, script in job.agent_scripts.items():
        os_, arch = platform.split("_", 1)
        env[contract.agent_script(os_, arch)] = script
    for p in job.rich_parameter_values:
        env[contract.parameter(p.name)] = p.value
    for p in job.previous_parameter_values:
        env[contract.parameter_previous(p.name)] = p.value
    return env


def _write_var_file(path: Path, values) -> None:
    """The values every plan of this job is given, readable by the daemon's user alone."""
    if values:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(var_file_text(values))


class JobRunner:
    def __init__(self, client: ProvisionerDaemonClient, daemon_id, job: AcquiredJob,
                 config: RunnerConfig):
        self.client, self.daemon_id, self.job, self.config = client, daemon_id, job, config
        self.partial_state = ""  # what a failed apply left, so the next build knows it
        self.timings = Timings()  # every terraform step of the job, sent with its completion

    def run(self) -> None:
        job = self.job
        workdir = Path(tempfile.mkdtemp(prefix=f"job-{job.job_id}-", dir=self.config.work_root))
        logger = JobLogger(self.client, self.daemon_id, job.job_id)
        try:
            with logger:
                result = self._execute(workdir, logger)
            if logger.lost.is_set():
                log.warning("job %s was taken from this daemon; dropping its result", job.job_id)
                return
            self._report(lambda: self.client.complete_job(self.daemon_id, job.job_id, result))
        except Canceled:
            self._fail("The job was canceled.", "canceled")
        except MissingVariables as exc:
            self._fail(str(exc), REQUIRED_VARIABLES_CODE)
        except (TerraformError, tfstate.StateError, tfvariables.VariablesError) as exc:
            self._fail(str(exc), "terraform")
        except Exception as exc:  # report, don't leave the job running until the reaper
            log.exception("job %s failed", job.job_id)
            self._fail(f"The provisioner failed: {exc}", "internal")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _fail(self, error: str, code: str) -> None:
        try:
            self._report(lambda: self.client.fail_job(self.daemon_id, self.job.job_id, error, code,
                                                      self.partial_state))
        except (APIError, OSError) as exc:
            log.warning("could not report job %s failed: %s", self.job.job_id, exc)

    def _report(self, send: Callable[[], None]) -> None:
        """``send`` the job's end, again while coderd is briefly unable to take it."""
        deadline = time.monotonic() + REPORT_RETRY_SECONDS
        while True:
            try:
                return send()
            except (APIError, OSError) as exc:
                passing = isinstance(exc, OSError) or exc.status in (502, 503, 504)
                if not passing or time.monotonic() > deadline:
                    raise
                log.warning("reporting the end of job %s: %s; retrying", self.job.job_id, exc)
            time.sleep(1)

    def _execute(self, workdir: Path, logger: JobLogger) -> CompleteJobRequest:
        job = self.job
        logger("info", "Setting up", f"Preparing the {job.type.replace('_', ' ')}")
        source = workdir / "template"
        source.mkdir()
        try:
            archives.extract(self.client.download_archive(self.daemon_id, job.job_id), source)
        except (archives.ArchiveError, OSError) as exc:
            raise TerraformError(f"The template archive cannot be unpacked: {exc}") from None
        # Shared by this daemon's jobs: the provider keeps its TLS certificate cache there.
        home = self.config.work_root / "home"
        home.mkdir(exist_ok=True)
        cli_path = workdir / "terraform.rc"
        cli_path.write_text(cli_config(self.config.mirrors))
        var_file = workdir / "variables.tfvars"  # beside the template, not in it

        def tf(transition: str) -> Terraform:
            env = terraform_env(job, cli_path, home, self.config.extra_env, transition)
            return Terraform(self.config.terraform, source, env, logger, logger.canceled,
                             var_file if var_file.exists() else None, self.timings)

        if job.type == "template_version_import":
            return self._import(tf, source, var_file, logger)
        _write_var_file(var_file, job.variable_values)
        if job.type == "template_version_dry_run":
            return self._dry_run(tf)
        return self._build(tf, source)

    def _init(self, runner: Terraform) -> None:
        """``terraform init``, with a lock file holding every platform's hashes."""
        lockfile.complete(runner, self.config.mirrors)
        runner.init()

    def _import(self, tf, source: Path, var_file: Path, logger: JobLogger) -> CompleteJobRequest:
        self._init(tf("start"))  # first: terraform's own message for a template it cannot load
        logger("info", "Parsing template parameters", "Reading the template's variables")
        variables = tfvariables.template_variables(source)
        try:
            values = self.client.template_variables(self.daemon_id, self.job.job_id, variables)
        except APIError as exc:
            if exc.status == 400:
                raise MissingVariables(exc.message) from None
            raise
        _write_var_file(var_file, values)
        start_plan = tf("start").plan("Detecting persistent resources")
        stop_plan = tf("stop").plan("Detecting ephemeral resources")
        return CompleteJobRequest(
            rich_parameters=tfstate.convert_parameters(start_plan),
            presets=tfstate.convert_presets(start_plan),
            start_resources=tfstate.convert_resources(start_plan),
            stop_resources=tfstate.convert_resources(stop_plan), timings=self.timings.spans)

    def _dry_run(self, tf) -> CompleteJobRequest:
        """A plan only, of a new workspace: the resources it would get, as Coder's dry run."""
        runner = tf("start")
        self._init(runner)
        return CompleteJobRequest(resources=tfstate.convert_resources(
            runner.plan("Planning infrastructure")))

    def _build(self, tf, source: Path) -> CompleteJobRequest:
        job = self.job
        if job.state:
            (source / "terraform.tfstate").write_bytes(base64.b64decode(job.state))
        runner = tf(job.transition)
        self._init(runner)
        plan = runner.plan("Planning infrastructure", destroy=job.transition == "delete")
        stage = {"start": "Starting workspace", "stop": "Stopping workspace",
                 "delete": "Destroying workspace"}[job.transition]
        state_file = source / "terraform.tfstate"
        try:
            runner.apply(stage)
        finally:
            state_bytes = state_file.read_bytes() if state_file.exists() else b""
            self.partial_state = base64.b64encode(state_bytes).decode()
        resources = [] if job.transition == "delete" else \
            tfstate.convert_resources(runner.show(), config_show=plan)
        return CompleteJobRequest(state=base64.b64encode(state_bytes).decode(), resources=resources,
                                  timings=self.timings.spans)
