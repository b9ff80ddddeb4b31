"""The real ``coder`` CLI for tests: ``python -m appliance.cli.main`` run as a subprocess
with its own config folder and no inherited ``CODER_*`` variables."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pexpect

from appliance.cli.config import SESSION_FILE, URL_FILE, ConfigDir


ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CoderCLI:
    config_dir: Path
    env: dict

    def run(self, *args: str, expect: int | None = 0, input: str | bytes | None = None,
            env: dict | None = None) -> subprocess.CompletedProcess:
        """``input`` as bytes is piped as is (a tar for ``-d -``); the output is text."""
        proc = subprocess.run([sys.executable, "-m", "appliance.cli.main", *args],
                              env={**self.env, **(env or {})}, cwd=ROOT,
                              input=input.encode() if isinstance(input, str) else input,
                              stdin=None if input is not None else subprocess.DEVNULL,
                              capture_output=True, timeout=60)
        proc.stdout, proc.stderr = proc.stdout.decode(), proc.stderr.decode()
        if expect is not None:
            assert proc.returncode == expect, (
                f"coder {' '.join(args)} exited {proc.returncode}, expected {expect}\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def spawn(self, *args: str) -> pexpect.spawn:
        """The CLI on a pseudo-terminal, for the interactive prompts."""
        return pexpect.spawn(sys.executable, ["-m", "appliance.cli.main", *args], env=self.env,
                             cwd=str(ROOT), encoding="utf-8", timeout=30)

    def converse(self, args: tuple[str, ...], script: list[tuple[str, str]]) -> tuple[int, str]:
        """Run on a terminal, answering each awaited prompt; (exit status, rest of output)."""
        child = self.spawn(*args)
        for prompt, answer in script:
            child.expect(prompt)
            child.sendline(answer)
        child.expect(pexpect.EOF)
        child.close()
        return child.exitstatus, child.before

    @property
    def config(self) -> ConfigDir:
        return ConfigDir(self.config_dir)

    def log_in_as(self, url: str, token: str) -> "CoderCLI":
        """Store a session as 'coder login' would, without spending a subprocess."""
        self.config.write(URL_FILE, url)
        self.config.write(SESSION_FILE, token)
        return self


def new_cli(config_dir: Path) -> CoderCLI:
    """The CLI with its own config folder and none of this process's ``CODER_*`` settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CODER_") and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env["CODER_CONFIG_DIR"] = str(config_dir)
    env["PYTHONPATH"] = str(ROOT)
    return CoderCLI(config_dir, env)
