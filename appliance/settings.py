"""Deployment settings: one table, read from flags and ``CODER_*`` variables.

Every setting is declared once in ``SETTINGS`` with the environment variable
Coder uses for it, so ``coderd server --help``, the docs and the loader can
never disagree. Values are resolved in this order: explicit overrides (flags,
tests), the environment, the default. Nothing here reads the environment at
import time.

The air-gap defaults live here: update checks and telemetry are off, and no
setting names a host outside the deployment.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from appliance import durations
from appliance.digits import is_number


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


def parse_bool(value: str | bool) -> bool:
    """Go's strconv.ParseBool, as Coder reads its boolean settings and flags (``yes`` and
    ``on`` are refused there too); an empty setting is false, as unset."""
    if isinstance(value, bool):
        return value
    text = value.strip()
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False", ""):
        return False
    raise SettingsError(f"invalid boolean value {value!r}: use true or false")


def parse_duration(value: str | int | float) -> float:
    """Seconds from Go-style durations (``90s``, ``5m``, ``24h``, ``1h30m``, and Coder's
    extended ``30d``) or a bare number of seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return durations.parse_extended(text)
    except durations.DurationError as exc:
        raise SettingsError(str(exc)) from None


def parse_address(value: str) -> str:
    """``host:port`` (an empty value disables the listener)."""
    if value == "":
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not is_number(port) or not 0 <= int(port) <= 65535:
        raise SettingsError(f"not a host:port address: {value!r}")
    return value


def parse_url(value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise SettingsError(f"URL must start with http:// or https://: {value!r}")
    return value.rstrip("/")


def parse_list(value: str | list) -> tuple[str, ...]:
    """Comma-separated values (Coder's string lists), blanks dropped."""
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return tuple(v.strip() for v in value.split(",") if v.strip())


def parse_key_values(value: str | list) -> tuple[str, ...]:
    """Comma-separated ``Key=Value`` items (Coder's --ssh-config-options), each checked."""
    items = parse_list(value)
    for item in items:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"not a Key=Value option: {item!r}")
    return items


def parse_networks(value: str | list) -> tuple[str, ...]:
    """Comma-separated networks (``10.0.0.0/8``, ``192.168.1.7``, ``fd00::/8``)."""
    import ipaddress

    networks = parse_list(value)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise SettingsError(f"not a network (CIDR) or address: {network!r}") from None
    return networks


def check_pg_connection_url(url: str) -> None:
    """Parse the URL once with libpq's own parser (through psycopg2), so a URL libpq refuses
    stops coderd with one line instead of a traceback at the first connection. libpq quotes
    the piece it refused (a password, for a stray '%'): its reason is kept only when that
    quoted piece is all it adds. psycopg2 (which imports ssl) is imported only here: the
    coder CLI imports this module, and ``coderd server`` loads settings after gevent's
    patching."""
    from psycopg2 import ProgrammingError
    from psycopg2.extensions import parse_dsn

    try:
        parse_dsn(url)
    except ProgrammingError as exc:
        message = str(exc).strip().splitlines()[0].removeprefix("invalid dsn: ")
        head, quote, _ = message.partition('"')
        reason = head.removesuffix(": ") if not quote or head.endswith(": ") else ""
        raise SettingsError("CODER_PG_CONNECTION_URL is not a valid PostgreSQL URL"
                            + (f": {reason}" if reason else "")) from None


def default_config_dir() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "coderv2")


@dataclass(frozen=True)
class Setting:
    key: str
    env: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    group: str = "Networking"
    secret: bool = False  # never shown by /deployment/config, as Coder's secret annotation

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    Setting("access_url", "CODER_ACCESS_URL", parse_url, "",
            "The URL that users and workspaces use to reach coderd. Defaults to the HTTP address."),
    Setting("wildcard_access_url", "CODER_WILDCARD_ACCESS_URL", str, "",
            "Wildcard host for subdomain workspace apps, e.g. *.coder.example.com."),
    Setting("http_address", "CODER_HTTP_ADDRESS", parse_address, "127.0.0.1:3000",
            "HTTP bind address. Empty disables plain HTTP."),
    Setting("tls_enable", "CODER_TLS_ENABLE", parse_bool, False,
            "Serve HTTPS on the TLS address.", "TLS"),
    Setting("tls_address", "CODER_TLS_ADDRESS", parse_address, "127.0.0.1:3443",
            "HTTPS bind address.", "TLS"),
    Setting("tls_cert_file", "CODER_TLS_CERT_FILE", str, "",
            "PEM certificate (with its chain) for HTTPS.", "TLS"),
    Setting("tls_key_file", "CODER_TLS_KEY_FILE", str, "",
            "PEM private key for HTTPS.", "TLS"),
    Setting("proxy_trusted_headers", "CODER_PROXY_TRUSTED_HEADERS", parse_list, (),
            "Headers to trust for forwarding IP addresses, e.g. X-Forwarded-For, X-Real-Ip, "
            "Cf-Connecting-Ip; read only from CODER_PROXY_TRUSTED_ORIGINS. The address found "
            "is the client's for the login rate limit, the audit log and apps' X-Forwarded-For."),
    Setting("proxy_trusted_origins", "CODER_PROXY_TRUSTED_ORIGINS", parse_networks, (),
            "Addresses of the reverse proxies whose CODER_PROXY_TRUSTED_HEADERS are believed, "
            "e.g. 192.168.1.0/24."),
    Setting("proxy_protocol_origins", "CODER_PROXY_PROTOCOL_ORIGINS", parse_networks, (),
            "Addresses of TCP load balancers whose connections begin with a PROXY protocol "
            "header, version 1 or 2, naming the client they carry (HAProxy's send-proxy-v2 with "
            "check-send-proxy for its health checks, nginx's stream proxy_protocol on), e.g. "
            "10.0.0.10,10.0.0.11: coderd counts, limits and logs that client. Connections from "
            "them without one are closed; other connections are read as they are. Empty with no "
            "balancer or an HTTP reverse proxy (CODER_PROXY_TRUSTED_HEADERS); never both for one."),
    Setting("http_read_header_timeout", "CODER_HTTP_READ_HEADER_TIMEOUT", parse_duration, 10.0,
            "Longest a client may take to send a request's line and headers: a new connection's "
            "first request (TLS handshake included) from its accept, a kept-alive one's from "
            "its first byte; a slower one gets 408 and is disconnected."),
    Setting("http_read_timeout", "CODER_HTTP_READ_TIMEOUT", parse_duration, 60.0,
            "Longest coderd waits for the next byte from a client (a request on an idle "
            "kept-alive connection, the rest of a body), and for the whole of a body it reads "
            "at once (JSON, template uploads). Websockets and relayed streams have no limit."),
    Setting("http_max_connections", "CODER_HTTP_MAX_CONNECTIONS", int, 10000,
            "Connections one coderd process (each worker) serves at once; more wait in the "
            "listen queue. Lowered at start to what the open-files limit (raised to its hard "
            "limit) leaves room for, which the log says."),
    Setting("http_max_connections_per_client", "CODER_HTTP_MAX_CONNECTIONS_PER_CLIENT", int, 1000,
            "Connections one client address may hold at once in one process; more are closed "
            "as soon as accepted (0: no limit). Behind an HTTP reverse proxy or NAT, clients "
            "share its address: raise it to what they need together. Behind a balancer in "
            "CODER_PROXY_PROTOCOL_ORIGINS each client counts as itself: keep it."),
    Setting("redirect_to_access_url", "CODER_REDIRECT_TO_ACCESS_URL", parse_bool, False,
            "Redirect requests whose host is not the access URL's to it."),
    Setting("pg_connection_url", "CODER_PG_CONNECTION_URL", str, "",
            "PostgreSQL URL. Empty runs the embedded PostgreSQL under the config folder.",
            "Database", secret=True),
    Setting("pg_pool_size", "CODER_PG_POOL_SIZE", int, 10,
            "Database connections per coderd process.", "Database"),
    Setting("config_dir", "CODER_CONFIG_DIR", str, "",
            "Folder for coderd's state (embedded PostgreSQL data, keys). "
            "Defaults to ~/.config/coderv2.", "Database"),
    Setting("workers", "CODER_HTTP_WORKERS", int, 1,
            "Worker processes. 1 serves with gevent's pywsgi; more runs gunicorn.", "Networking"),
    Setting("update_check", "CODER_UPDATE_CHECK", parse_bool, False,
            "Kept for compatibility. The appliance never contacts an update server; "
            "/api/v2/updatecheck answers from the installed version.", "Air gap"),
    Setting("telemetry_enable", "CODER_TELEMETRY_ENABLE", parse_bool, False,
            "Kept for compatibility. The appliance has no telemetry sender.", "Air gap"),
    Setting("session_duration", "CODER_SESSION_DURATION", parse_duration, 24 * 3600.0,
            "Lifetime of a browser or CLI session token.", "Security"),
    Setting("max_token_lifetime", "CODER_MAX_TOKEN_LIFETIME", parse_duration, 30 * 86400.0,
            "Longest lifetime an API token may ask for.", "Security"),
    Setting("allow_workspace_renames", "CODER_ALLOW_WORKSPACE_RENAMES", parse_bool, False,
            "Allow users to rename their workspaces (off by default, as in Coder: a template "
            "that names resources after the workspace may lose their data).", "Provisioning"),
    Setting("login_rate_limit", "CODER_LOGIN_RATE_LIMIT", int, 60,
            "Login attempts allowed per minute from one IP address (0 disables the limit).",
            "Security"),
    Setting("max_body_bytes", "CODER_MAX_BODY_BYTES", int, 10 * 1024 * 1024,
            "Largest JSON request body accepted.", "Security"),
    Setting("app_ticket_lifetime", "CODER_APP_TICKET_LIFETIME", parse_duration, 3600.0,
            "Lifetime of the cookie that signs a browser in to one subdomain workspace app; "
            "renewed while the app is used, never valid beyond the session it came from.",
            "Security"),
    Setting("dangerous_allow_path_app_sharing", "CODER_DANGEROUS_ALLOW_PATH_APP_SHARING",
            parse_bool, False,
            "Allow workspace apps that are not served from subdomains to be shared "
            "(authenticated, public). Path-based apps run on coderd's own origin, where a page "
            "of the app can call the API with its visitor's session: not recommended.",
            "Dangerous"),
    Setting("dangerous_allow_path_app_site_owner_access",
            "CODER_DANGEROUS_ALLOW_PATH_APP_SITE_OWNER_ACCESS", parse_bool, False,
            "Allow site owners to open path-based apps and ports of workspaces they do not own. "
            "A page of the app would run with the owner's session on coderd's origin: "
            "not recommended.", "Dangerous"),
    Setting("provisioner_daemons", "CODER_PROVISIONER_DAEMONS", int, 3,
            "Built-in provisioner daemons per deployment.", "Provisioning"),
    Setting("provisioner_daemon_psk", "CODER_PROVISIONER_DAEMON_PSK", str, "",
            "Pre-shared key external provisioner daemons authenticate with. "
            "Empty refuses external daemons.", "Provisioning", secret=True),
    Setting("provider_mirror_dir", "CODER_PROVIDER_MIRROR_DIR", str, "",
            "Packed Terraform provider mirror the provisioners install providers from. "
            "Defaults to CONFIG_DIR/provider-mirror.", "Provisioning"),
    Setting("provider_network_mirror_url", "CODER_PROVIDER_NETWORK_MIRROR_URL", parse_url, "",
            "HTTPS provider network mirror (appliance mirror serve), used besides the folder.",
            "Provisioning"),
    Setting("provider_mirror_serve", "CODER_PROVIDER_MIRROR_SERVE", parse_bool, False,
            "Serve the provider mirror folder over the provider network-mirror protocol at "
            "ACCESS_URL/terraform-mirror/ (terraform needs HTTPS for it).", "Provisioning"),
    Setting("provisioner_stale_after", "CODER_PROVISIONER_STALE_AFTER", parse_duration, 30.0,
            "A running job whose daemon sent nothing for this long is failed (daemons "
            "heartbeat every 5s).", "Provisioning"),
    Setting("terraform_path", "CODER_TERRAFORM_PATH", str, "",
            "The terraform binary (any >= 1.0). Defaults to terraform on PATH.", "Provisioning"),
    Setting("agent_stats_refresh_interval", "CODER_AGENT_STATS_REFRESH_INTERVAL", parse_duration,
            15.0, "How often workspace agents report stats; the report is also their heartbeat, "
            "and an agent silent for two intervals shows as disconnected.", "Workspace agents"),
    Setting("agent_binary_dir", "CODER_AGENT_BINARY_DIR", str, "",
            "Folder of the coder-agent-OS-ARCH executables coderd serves at /bin/ for init "
            "scripts. Defaults to CONFIG_DIR/agent-binaries.", "Workspace agents"),
    Setting("relay_address", "CODER_RELAY_ADDRESS", str, "127.0.0.1",
            "Host on which each coderd process listens (on a free port) for client streams "
            "forwarded by other processes to the agents it holds; other replicas must reach "
            "it. The default suits gunicorn workers and replicas on one host. Any other host "
            "needs the CODER_RELAY_TLS_* files (docs/security.md).", "Workspace agents"),
    Setting("relay_tls_cert_file", "CODER_RELAY_TLS_CERT_FILE", str, "",
            "PEM certificate (with its chain) this process presents on its relay listener; it "
            "must name the relay address (e.g. `appliance ca issue --ip ADDRESS`).",
            "Workspace agents"),
    Setting("relay_tls_key_file", "CODER_RELAY_TLS_KEY_FILE", str, "",
            "PEM private key of CODER_RELAY_TLS_CERT_FILE.", "Workspace agents"),
    Setting("relay_tls_ca_file", "CODER_RELAY_TLS_CA_FILE", str, "",
            "PEM CA bundle against which this process verifies the other processes' relay "
            "certificates (e.g. `appliance ca bundle`).", "Workspace agents"),
    Setting("ssh_hostname_prefix", "CODER_SSH_HOSTNAME_PREFIX", str, "coder.",
            "The SSH host name prefix `coder config-ssh` writes for workspaces.", "Client"),
    Setting("workspace_hostname_suffix", "CODER_WORKSPACE_HOSTNAME_SUFFIX", str, "coder",
            "The SSH host name suffix of workspaces (`WS.OWNER.SUFFIX`).", "Client"),
    Setting("ssh_config_options", "CODER_SSH_CONFIG_OPTIONS", parse_key_values, (),
            "Options (`Key=Value`, comma-separated) `coder config-ssh` adds to every "
            "workspace's SSH configuration.", "Client"),
    Setting("docs_url", "CODER_DOCS_URL", parse_url, "",
            "The documentation URL the dashboard links to (empty: none, in an air gap).",
            "Introspection"),
    Setting("verbose", "CODER_VERBOSE", parse_bool, False, "Log at debug level.", "Logging"),
)

SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}


@dataclass
class Settings:
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise AttributeError(key) from None

    @property
    def config_path(self) -> Path:
        return Path(self.values["config_dir"] or default_config_dir())

    @property
    def provider_mirror_path(self) -> Path:
        return Path(self.values["provider_mirror_dir"] or self.config_path / "provider-mirror")

    @property
    def effective_access_url(self) -> str:
        if self.access_url:
            return self.access_url
        if self.tls_enable and self.tls_address:
            return "https://" + self.tls_address
        return "http://" + (self.http_address or "127.0.0.1:3000")

    @property
    def app_host_suffix(self) -> str:
        """What every subdomain app host ends with; empty without a wildcard."""
        return wildcard_suffix(self.wildcard_access_url)


def wildcard_suffix(wildcard: str) -> str:
    """``.apps.example.com`` for ``*.apps.example.com`` (with or without a scheme or port):
    what every app host under a wildcard (coderd's, a workspace proxy's) ends with."""
    host = (urlsplit(wildcard if "//" in wildcard else "//" + wildcard).hostname or "").lower()
    suffix = host.lstrip("*")
    return suffix if suffix.startswith(".") and len(suffix) > 1 else ""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) never leaves this machine."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load(overrides: Mapping[str, Any] | None = None,
         environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve every setting; raise SettingsError naming the variable at fault."""
    environ = os.environ if environ is None else environ
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(overrides) - set(SETTINGS_BY_KEY)
    if unknown:
        raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for s in SETTINGS:
        if s.key in overrides:
            raw, source = overrides[s.key], s.flag
        elif s.env in environ:
            raw, source = environ[s.env], s.env
        else:
            values[s.key] = s.default
            continue
        try:
            values[s.key] = s.parse(raw)
        except (SettingsError, ValueError) as exc:
            raise SettingsError(f"{source}: {exc}") from None
    settings = Settings(values)
    if settings.tls_enable and not (settings.tls_cert_file and settings.tls_key_file):
        raise SettingsError("CODER_TLS_ENABLE needs CODER_TLS_CERT_FILE and CODER_TLS_KEY_FILE")
    relay_tls = (settings.relay_tls_cert_file, settings.relay_tls_key_file,
                 settings.relay_tls_ca_file)
    if any(relay_tls) and not all(relay_tls):
        raise SettingsError("CODER_RELAY_TLS_CERT_FILE, CODER_RELAY_TLS_KEY_FILE and "
                            "CODER_RELAY_TLS_CA_FILE go together: set all three or none")
    if not all(relay_tls) and not is_loopback(settings.relay_address or "127.0.0.1"):
        raise SettingsError(f"CODER_RELAY_ADDRESS {settings.relay_address} is not a loopback "
                            "address: relayed streams would cross the network in cleartext; "
                            "set CODER_RELAY_TLS_CERT_FILE, CODER_RELAY_TLS_KEY_FILE and "
                            "CODER_RELAY_TLS_CA_FILE")
    if settings.pg_connection_url:
        check_pg_connection_url(settings.pg_connection_url)
    if not settings.http_address and not settings.tls_enable:
        raise SettingsError("CODER_HTTP_ADDRESS is empty and TLS is off: nothing to listen on")
    return settings


def read_env_file(path: str | os.PathLike) -> dict[str, str]:
    """The variables of a systemd ``EnvironmentFile=`` as the installer writes coderd's
    (``KEY=VALUE`` lines, ``#`` or ``;`` comments, a value in quotes unquoted), so a
    command run beside coderd reads the settings coderd reads. Raises OSError, and
    SettingsError for a file that is not UTF-8 text (never quoting it: it holds secrets)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except UnicodeDecodeError:
        raise SettingsError(f"{os.fspath(path)} is not UTF-8 text") from None
    values: dict[str, str] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting, grouped, each naming its environment variable."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for s in SETTINGS:
        group = groups.get(s.group) or parser.add_argument_group(s.group)
        groups[s.group] = group
        default = "" if s.default in ("", None, ()) else f" (default: {s.default})"
        group.add_argument(s.flag, dest=s.key, default=None, metavar="VALUE",
                           help=f"{s.help} [${s.env}]{default}")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {s.key: getattr(args, s.key, None) for s in SETTINGS}
