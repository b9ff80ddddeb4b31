"""``coder-agent [agent]`` and ``coder agent``: start the workspace agent.

Settings come from flags or Coder's variables: ``CODER_AGENT_URL``,
``CODER_AGENT_TOKEN`` (or ``CODER_AGENT_TOKEN_FILE``), ``CODER_AGENT_AUTH``
(only ``token``), ``CODER_AGENT_CA_FILE`` (else ``SSL_CERT_FILE``, else the
system's roots) and ``CODER_AGENT_LOG_DIR``. Missing or unusable settings
exit 1 at once; everything after that is retried, never fatal.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Sequence

from appliance.sdk.trust import system_ca


def configure(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    p.add_argument("--url", dest="agent_url", metavar="URL",
                   default=env("CODER_AGENT_URL", ""),
                   help="coderd's access URL [$CODER_AGENT_URL]")
    p.add_argument("--auth", dest="agent_auth", metavar="METHOD",
                   default=env("CODER_AGENT_AUTH", "token"),
                   help="How the agent authenticates; only 'token' [$CODER_AGENT_AUTH]")
    p.add_argument("--token-file", dest="agent_token_file", metavar="FILE",
                   default=env("CODER_AGENT_TOKEN_FILE", ""),
                   help="File holding the agent token [$CODER_AGENT_TOKEN_FILE]")
    p.add_argument("--ca-file", dest="agent_ca_file", metavar="FILE",
                   default=env("CODER_AGENT_CA_FILE") or env("SSL_CERT_FILE", ""),
                   help="CA bundle to trust for an HTTPS coderd [$CODER_AGENT_CA_FILE, "
                        "$SSL_CERT_FILE]")
    p.add_argument("--log-dir", dest="agent_log_dir", metavar="DIR",
                   default=env("CODER_AGENT_LOG_DIR", "/tmp"),
                   help="Folder of coder-agent.log and the scripts' logs [$CODER_AGENT_LOG_DIR]")
    p.add_argument("--verbose", "-v", dest="agent_verbose", action="store_true",
                   default=env("CODER_AGENT_VERBOSE", "") in ("1", "true"),
                   help="Log at debug level [$CODER_AGENT_VERBOSE]")


class UsageError(Exception):
    pass


def options(args: argparse.Namespace):
    from .agent import Options

    if not args.agent_url.startswith(("http://", "https://")):
        raise UsageError("CODER_AGENT_URL must be coderd's http:// or https:// URL"
                         + (f", not {args.agent_url!r}" if args.agent_url else " (it is not set)"))
    if args.agent_auth != "token":
        raise UsageError(f"CODER_AGENT_AUTH={args.agent_auth!r} is not supported: use 'token'")
    token = os.environ.get("CODER_AGENT_TOKEN", "")
    if args.agent_token_file:
        try:
            token = Path(args.agent_token_file).read_text().strip()
        except OSError as exc:
            raise UsageError(f"cannot read the agent token file {args.agent_token_file}: "
                             f"{exc.strerror}") from None
    if not token:
        raise UsageError("CODER_AGENT_TOKEN is not set (the template passes "
                         "coder_agent.token to the workspace)")
    verify = system_ca()  # where the appliance CA's root is, not requests' own roots
    if args.agent_ca_file:
        if not os.path.isfile(args.agent_ca_file):
            raise UsageError(f"CA bundle {args.agent_ca_file} does not exist (CODER_AGENT_CA_FILE)")
        verify = args.agent_ca_file
    return Options(url=args.agent_url.rstrip("/"), token=token, verify=verify,
                   log_dir=args.agent_log_dir)


def _logging(log_dir: str, verbose: bool) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    try:
        os.makedirs(log_dir, exist_ok=True)
        handlers.append(logging.FileHandler(os.path.join(log_dir, "coder-agent.log")))
    except OSError as exc:
        print(f"warning: cannot write coder-agent.log in {log_dir}: {exc}", file=sys.stderr)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def run(args: argparse.Namespace) -> int:
    from .agent import Agent

    try:
        opts = options(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _logging(opts.log_dir, args.agent_verbose)
    os.environ.pop("CODER_AGENT_TOKEN", None)  # what the agent starts must not inherit it
    agent = Agent(opts)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: agent.stop.set())
    logging.getLogger(__name__).info("coder-agent starting against %s", opts.url)
    return agent.run()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["agent"]:  # init scripts run `coder-agent agent`, as Coder's
        argv = argv[1:]
    if argv[:1] == ["gitssh"]:  # git's GIT_SSH_COMMAND in the workspace (agent.gitssh)
        from .gitssh import main as gitssh
        return gitssh(argv[1:])
    parser = argparse.ArgumentParser(prog="coder-agent", description=__doc__.split("\n\n")[0])
    configure(parser)
    return run(parser.parse_args(argv))
