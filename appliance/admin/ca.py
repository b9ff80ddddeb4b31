"""``appliance ca``: the deployment's offline certificate authority.

A thin shell over :mod:`mirror_tools.ca`: it parses options, reads the root
key's passphrase from a file, an environment variable or a terminal prompt
(never from the command line, where ``ps`` would show it), and prints paths
and dates, never key material. Two defaults are its own: ``init`` constrains
the intermediate to the access URL's domain and the loopback range unless
told which names to permit (or ``--no-name-constraints``), and warns when the
root key stays in the online folder (``--offline-root DIR`` writes it
elsewhere). See docs/tls-ca.md for the whole procedure.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from appliance.cli.base import CommandError, add_output_option, write_output
from appliance.settings import default_config_dir
from mirror_tools import ca as calib

ISSUED_COLUMNS = ("name", "dns", "ips", "not_after", "days_left", "chain", "key")


def default_ca_dir() -> str:
    return os.path.join(os.environ.get("CODER_CONFIG_DIR") or default_config_dir(), "ca")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the deployment's offline certificate authority: a root (kept offline), an "
        "intermediate that signs server certificates, the clients' trust bundle, and "
        "installation of the root into system trust stores.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", type=Path, default=None, metavar="CA_DIR",
                        help="The CA folder (default: $CODER_CONFIG_DIR/ca, "
                             "else ~/.config/coderv2/ca).")
    passphrase = argparse.ArgumentParser(add_help=False)
    group = passphrase.add_mutually_exclusive_group()
    group.add_argument("--root-passphrase-file", type=Path, metavar="FILE",
                       help="File whose first line is the root key's passphrase.")
    group.add_argument("--root-passphrase-env", metavar="VAR",
                       help="Environment variable holding the root key's passphrase.")
    sub = parser.add_subparsers(dest="ca_command", metavar="SUBCOMMAND")
    parser.set_defaults(_ca_parser=parser)

    p = sub.add_parser("init", parents=[common, passphrase], help="Create the root and the intermediate.",
                       description="Create an offline root (ECDSA P-256) and an intermediate "
                                   "(path length 0) that signs server certificates, constrained to "
                                   "the access URL's domain and loopback unless --permit-* say "
                                   "otherwise. --offline-root DIR keeps the root key (encrypted) "
                                   "out of CA_DIR; with a root passphrase it is stored encrypted.")
    p.add_argument("--name", default="coder-appliance",
                   help="Organisation name in the CA certificates (default: coder-appliance).")
    p.add_argument("--permit-dns", action="append", default=[], metavar="DOMAIN",
                   help="Restrict the intermediate to DOMAIN and its subdomains (repeatable).")
    p.add_argument("--permit-ip", action="append", default=[], metavar="CIDR",
                   help="Restrict the intermediate's IP addresses to CIDR (repeatable). "
                        "Either kind alone limits the other kind to loopback.")
    p.add_argument("--access-url", default=os.environ.get("CODER_ACCESS_URL") or None,
                   metavar="URL",
                   help="Without --permit-*: permit this URL's domain (and that of "
                        "$CODER_WILDCARD_ACCESS_URL) and the loopback range "
                        "(default: $CODER_ACCESS_URL).")
    p.add_argument("--no-name-constraints", action="store_true",
                   help="Make an intermediate that may sign any name (not recommended).")
    p.add_argument("--offline-root", type=Path, metavar="DIR",
                   help="Write the root key (always encrypted) and a copy of root.crt to DIR, "
                        "e.g. a removable disk, never to CA_DIR; issuing needs only CA_DIR.")
    p.add_argument("--root-days", type=int, default=calib.ROOT_DAYS,
                   help=f"Root validity in days (default: {calib.ROOT_DAYS}).")
    p.add_argument("--intermediate-days", type=int, default=calib.INTERMEDIATE_DAYS,
                   help=f"Intermediate validity in days (default: {calib.INTERMEDIATE_DAYS}).")
    p.add_argument("--force", action="store_true",
                   help="Replace an existing CA (the old one moves to CA_DIR/replaced-*/).")
    add_output_option(p)
    p.set_defaults(_ca_run=_init)

    p = sub.add_parser("issue", parents=[common], help="Issue a server certificate.",
                       description="Issue a server key and certificate (serverAuth) signed by "
                                   "the intermediate, written to CA_DIR/issued/NAME.{crt,fullchain.crt,key}.")
    p.add_argument("--dns", action="append", default=[], metavar="NAME",
                   help="DNS name in the certificate (repeatable; *.domain allowed).")
    p.add_argument("--ip", action="append", default=[], metavar="ADDR",
                   help="IP address in the certificate (repeatable).")
    p.add_argument("--name", help="File name under CA_DIR/issued (default: the first name).")
    p.add_argument("--client-auth", action="store_true",
                   help="Also valid as a TLS client certificate (clientAuth): for services that "
                        "authenticate each other by certificate, such as etcd's members and "
                        "Patroni (renew keeps it).")
    _days_option(p)
    p.add_argument("--force", action="store_true", help="Replace an issued certificate of that name.")
    add_output_option(p)
    p.set_defaults(_ca_run=_issue)

    p = sub.add_parser("list", parents=[common], help="List issued certificates and their expiry.")
    add_output_option(p)
    p.set_defaults(_ca_run=_list)

    p = sub.add_parser("renew", parents=[common, passphrase],
                       help="Re-issue certificates with the same names, and the intermediate.",
                       description="Re-issue server certificates with the same SANs and a new key. "
                                   "--intermediate first renews the intermediate (needs the root key).")
    p.add_argument("names", nargs="*", metavar="NAME", help="Issued certificate to renew.")
    p.add_argument("--all", action="store_true", help="Renew every issued certificate.")
    p.add_argument("--intermediate", action="store_true",
                   help="Renew the intermediate (new key, same name constraints) first.")
    p.add_argument("--intermediate-days", type=int, default=calib.INTERMEDIATE_DAYS,
                   help=f"With --intermediate, its validity (default: {calib.INTERMEDIATE_DAYS}).")
    p.add_argument("--offline-root", type=Path, metavar="DIR",
                   help="With --intermediate, the folder holding root.key (init --offline-root).")
    _days_option(p)
    add_output_option(p)
    p.set_defaults(_ca_run=_renew)

    p = sub.add_parser("bundle", parents=[common], help="Write the clients' trust bundle.",
                       description="Write the trust bundle (the root certificate) that clients use, "
                                   "e.g. with SSL_CERT_FILE or curl --cacert.")
    p.add_argument("--out", type=Path, help="Where to write it (default: CA_DIR/bundle.pem).")
    p.add_argument("--with-intermediate", action="store_true",
                   help="Append the intermediate, for clients given leaf-only servers.")
    p.set_defaults(_ca_run=_bundle)

    p = sub.add_parser("install-trust", parents=[common],
                       help="Install the root into the system trust store.",
                       description="Install the root into the system trust store: Debian "
                                   "(update-ca-certificates) or RHEL (update-ca-trust). With --root "
                                   "another system's folder is changed, never this machine's store.")
    p.add_argument("--cert", type=Path,
                   help="The root certificate to install (default: CA_DIR/root.crt); on machines "
                        "without the CA folder, the bundle.pem that was carried over.")
    p.add_argument("--root", type=Path, default=Path("/"), metavar="DIR",
                   help="System root folder (default: /).")
    p.add_argument("--os", choices=("auto", "debian", "rhel"), default="auto",
                   help="Trust store layout (default: from DIR/etc/os-release).")
    p.set_defaults(_ca_run=_install_trust)


def _days_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", type=int, default=calib.SERVER_DAYS,
                   help=f"Validity in days (default: {calib.SERVER_DAYS}, at most {calib.MAX_SERVER_DAYS}).")


def run(args: argparse.Namespace) -> int:
    handler = getattr(args, "_ca_run", None)
    if handler is None:
        args._ca_parser.print_help()
        return 2
    args.dir = args.dir or Path(default_ca_dir())
    try:
        return handler(args) or 0
    except calib.CAError as exc:
        raise CommandError(str(exc), exc.hint) from None
    except OSError as exc:  # a full disk, a read-only folder, no permission
        raise CommandError(f"{exc.filename or args.dir}: {exc.strerror or exc}") from None


def _passphrase(args: argparse.Namespace, prompt: bool = False,
                confirm: bool = False) -> bytes | None:
    """The root passphrase from --root-passphrase-file/-env; else, with
    ``prompt``, asked on the terminal (twice with ``confirm``); else None."""
    if prompt and not (args.root_passphrase_file or args.root_passphrase_env):
        return _ask_passphrase(confirm)
    if args.root_passphrase_file:
        try:
            lines = args.root_passphrase_file.read_bytes().splitlines()
        except OSError as exc:
            raise CommandError(f"{args.root_passphrase_file}: cannot read the passphrase file: "
                               f"{exc.strerror}") from None
        value = lines[0] if lines else b""
        source = str(args.root_passphrase_file)
    elif args.root_passphrase_env:
        if args.root_passphrase_env not in os.environ:
            raise CommandError(f"${args.root_passphrase_env} is not set")
        value, source = os.environ[args.root_passphrase_env].encode(), "$" + args.root_passphrase_env
    else:
        return None
    if not value:
        raise CommandError(f"{source}: the root passphrase is empty")
    return value


def _ask_passphrase(confirm: bool) -> bytes:
    if not sys.stdin.isatty():
        raise CommandError("the root key is encrypted and needs its passphrase",
                           "pass --root-passphrase-file FILE or --root-passphrase-env VAR, "
                           "or run on a terminal to be asked")
    value = getpass.getpass("root key passphrase: ")
    if confirm and getpass.getpass("the same passphrase again: ") != value:
        raise CommandError("the two passphrases differ; nothing was written")
    if not value:
        raise CommandError("the root passphrase is empty")
    return value.encode()


def _constraints(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The names ``init`` permits: as given, else from the access URL(s)."""
    given = args.permit_dns or args.permit_ip
    if args.no_name_constraints:
        if given:
            raise CommandError("--no-name-constraints contradicts --permit-dns/--permit-ip")
        return [], []
    if given:
        return args.permit_dns, args.permit_ip
    if not args.access_url:
        raise CommandError("name constraints are on by default, and no access URL says which "
                           "names to permit",
                           "pass --access-url URL (or set CODER_ACCESS_URL), --permit-dns DOMAIN "
                           "and --permit-ip CIDR, or --no-name-constraints")
    urls = [args.access_url] + [u for u in [os.environ.get("CODER_WILDCARD_ACCESS_URL")] if u]
    dns, nets = calib.access_url_constraints(*urls)
    return dns, [str(n) for n in nets]


def _ca(args: argparse.Namespace) -> calib.CertificateAuthority:
    return calib.CertificateAuthority(args.dir)


def _write_issued(args: argparse.Namespace, certs: list[calib.IssuedCert]) -> None:
    write_output(args.output, [c.as_dict() for c in certs], ISSUED_COLUMNS)


def _init(args: argparse.Namespace) -> int:
    dns, ips = _constraints(args)
    offline = args.offline_root
    passphrase = _passphrase(args, prompt=offline is not None, confirm=True)
    ca = calib.CertificateAuthority.init(
        args.dir, name=args.name, permitted_dns=dns, permitted_ips=ips,
        root_days=args.root_days, intermediate_days=args.intermediate_days,
        root_passphrase=passphrase, force=args.force, offline_root=offline)
    nc = ca.name_constraints()
    root_key = offline / "root.key" if offline else ca.root_key_path
    write_output(args.output, {
        "dir": str(ca.dir), "root": str(ca.root_cert_path), "intermediate": str(ca.intermediate_cert_path),
        "bundle": str(ca.bundle_path), "root_expires": ca.root_cert.not_valid_after_utc.isoformat(),
        "permitted": [str(s.value) for s in (nc.permitted_subtrees if nc else [])],
        "root_key": str(root_key), "root_key_encrypted": passphrase is not None,
    })
    if not offline:
        print(f"warning: the root key is in the online CA folder ({root_key}"
              f"{'' if passphrase else ', unencrypted'}); move it to offline storage, or "
              "create the CA with --offline-root DIR", file=sys.stderr)
    if nc is None:
        print("warning: the intermediate has no name constraints: whoever steals its key can "
              "issue certificates for any name", file=sys.stderr)
    return 0


def _issue(args: argparse.Namespace) -> int:
    cert = _ca(args).issue(args.dns, args.ip, name=args.name, days=args.days, force=args.force,
                           client_auth=args.client_auth)
    _write_issued(args, [cert])
    return 0


def _list(args: argparse.Namespace) -> int:
    _write_issued(args, _ca(args).list())
    return 0


def _renew(args: argparse.Namespace) -> int:
    ca = _ca(args)
    if not (args.names or args.all or args.intermediate):
        raise CommandError("nothing to renew", "name certificates, or pass --all or --intermediate")
    if args.intermediate:
        encrypted = calib.key_is_encrypted((args.offline_root or ca.dir) / "root.key")
        inter = ca.renew_intermediate(args.intermediate_days,
                                      root_passphrase=_passphrase(args, prompt=encrypted),
                                      offline_root=args.offline_root)
        print(f"renewed the intermediate: {ca.intermediate_cert_path}, expires "
              f"{inter.not_valid_after_utc:%Y-%m-%d}", file=sys.stderr)
    names = [c.name for c in ca.list()] if args.all else args.names
    _write_issued(args, [ca.renew(n, days=args.days) for n in names])
    return 0


def _bundle(args: argparse.Namespace) -> int:
    print(_ca(args).bundle(args.out, with_intermediate=args.with_intermediate))
    return 0


def _install_trust(args: argparse.Namespace) -> int:
    cert = args.cert or _ca(args).root_cert_path
    result = calib.install_trust(cert, args.root, None if args.os == "auto" else args.os)
    command = " ".join(result.command)
    print(f"installed {cert} as {result.path} ({result.os_family})")
    if result.ran:
        print(f"ran: {command}" + (f"\n{result.output}" if result.output else ""))
    else:
        print(f"to finish, run inside that system: {command}")
    return 0
