"""``appliance mirror verify|serve|add-zip``: check, serve and extend a mirror folder."""
from __future__ import annotations

import argparse
import os
import sys

from appliance.cli.base import CommandError, add_output_option, write_output


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="mirror_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("verify", help="Recheck a mirror folder against its mirror-state.json.",
                       description="Rehash every file recorded in DIR/mirror-state.json, check "
                       "the network-mirror JSON and terraform's SHA256SUMS against them, and "
                       "report every file the state does not record and every recorded file "
                       "that is missing.")
    p.add_argument("dir", metavar="DIR", help="The mirror folder (mirror-sync's --out).")
    p.add_argument("--deep", action="store_true",
                   help="Also recompute every provider zip's h1: hash from its content.")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="Hashing threads (default: twice the CPUs, at most 8).")
    add_output_option(p)
    p = sub.add_parser("serve", help="Serve a mirror folder over HTTPS "
                       "(terraform's provider network-mirror protocol).")
    p.add_argument("dir", metavar="DIR", help="The mirror folder (mirror-sync's --out).")
    p.add_argument("--cert", required=True, help="Server certificate (PEM, with its chain).")
    p.add_argument("--key", required=True, help="The certificate's private key (PEM).")
    p.add_argument("--address", default="127.0.0.1:8443", metavar="HOST:PORT",
                   help="Where to listen (default: 127.0.0.1:8443; port 0 picks one).")
    p.add_argument("--prefix", default="/", help="URL path to serve the folder under.")
    p.add_argument("--access-log", action="store_true", help="Log every request to stderr.")
    p = sub.add_parser("add-zip", help="Merge a locally built provider zip into a mirror.")
    p.add_argument("dir", metavar="DIR", help="The mirror folder (created if missing).")
    p.add_argument("zip", metavar="ZIP",
                   help="The provider zip, named terraform-provider-TYPE_VERSION_OS_ARCH.zip.")
    p.add_argument("--source", required=True,
                   help="The provider's source address, e.g. coder/coder.")


def run(args: argparse.Namespace) -> int:
    return {"verify": _verify, "serve": _serve, "add-zip": _add_zip}[args.mirror_command](args)


def _verify(args: argparse.Namespace) -> int:
    from mirror_tools.mirror_state import MirrorError
    from mirror_tools.verify import verify
    try:
        report = verify(args.dir, jobs=args.jobs, deep=args.deep)
    except MirrorError as exc:
        raise CommandError(str(exc))
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    write_output(args.output, {"files": report.files, "bytes": report.bytes,
                               "problems": len(report.problems)})
    if report.problems:
        raise CommandError(f"{args.dir}: {len(report.problems)} problem(s) found")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import ssl

    from mirror_tools.serve import MirrorServer, parse_address
    for option, path in (("DIR", args.dir), ("--cert", args.cert), ("--key", args.key)):
        if not os.path.exists(path):
            raise CommandError(f"{path}: no such file or folder ({option})")
    try:
        server = MirrorServer(args.dir, parse_address(args.address), args.cert, args.key,
                              prefix=args.prefix, access_log=args.access_log)
    except (ValueError, OSError, ssl.SSLError) as exc:
        raise CommandError(f"cannot serve {args.dir} on {args.address}: {exc}")
    print(f"serving {args.dir} at {server.url}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def _add_zip(args: argparse.Namespace) -> int:
    from mirror_tools.fetch import FetchError
    from mirror_tools.mirror_state import MirrorError
    from mirror_tools.providers.merge import add_zip
    try:
        rel = add_zip(args.dir, args.zip, args.source)
    except (FetchError, MirrorError) as exc:
        raise CommandError(str(exc))
    print(f"added {rel}")
    return 0
