"""``appliance images``: list an image bundle, push it into the offline registry.

The bundle is the OCI layout mirror-sync writes (``MIRROR/images``; the
mirror folder itself is accepted too). Pushing keeps each image's repository
path and tag: ``docker.io/library/alpine:3.19`` lands as
``REGISTRY/library/alpine:3.19`` with the same digest.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.cli.base import USAGE, CommandError, add_output_option, write_output


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="images_command", metavar="SUBCOMMAND")
    ls = sub.add_parser("list", help="List the images of a bundle.")
    ls.add_argument("bundle", metavar="BUNDLE", help="The OCI layout (or the mirror folder).")
    add_output_option(ls)

    push = sub.add_parser("push", help="Push a bundle's images into a registry.",
                          description="Push every image of BUNDLE to REGISTRY (HOST[:PORT]), "
                          "keeping repository paths, tags and digests; blobs the registry "
                          "has are skipped and interrupted uploads resume.")
    push.add_argument("bundle", metavar="BUNDLE", help="The OCI layout (or the mirror folder).")
    push.add_argument("registry", metavar="REGISTRY", help="Target registry, HOST[:PORT].")
    push.add_argument("--image", action="append", default=[], metavar="REF",
                      help="Push only this image (repeatable).")
    push.add_argument("--ca-bundle", metavar="FILE",
                      help="CA certificates to trust for the registry (e.g. `appliance ca bundle`).")
    push.add_argument("--insecure-http", action="store_true",
                      help="Talk plain HTTP to the registry (no TLS); a login then travels "
                      "in clear text, to that host only.")
    push.add_argument("--auth-host", action="append", default=[], metavar="HOST",
                      help="Another host whose token endpoint may receive the login "
                      "(repeatable; by default only the registry's own host, over HTTPS).")
    push.add_argument("--username", help="Registry user name (Basic or token auth).")
    push.add_argument("--password-stdin", action="store_true",
                      help="Read the registry password from standard input.")
    push.add_argument("--jobs", type=int, default=4, help="Parallel blob uploads (default 4).")
    push.add_argument("--state-dir", type=Path,
                      help="Where unfinished uploads are recorded for resuming "
                      "(default ~/.local/state/coder-appliance/image-push).")
    add_output_option(push)


def run(args: argparse.Namespace) -> int:
    from mirror_tools.fetch import FetchError
    from mirror_tools.images.oci_layout import LayoutError
    from mirror_tools.images.registry import RegistryError

    if args.images_command is None:
        raise CommandError("missing subcommand", hint="appliance images {list,push} --help",
                           code=USAGE)
    try:
        return _list(args) if args.images_command == "list" else _push(args)
    except (RegistryError, LayoutError, FetchError) as exc:
        raise CommandError(str(exc)) from None


def _layout_dir(bundle: str) -> Path:
    path = Path(bundle)
    if not (path / "index.json").exists() and (path / "images" / "index.json").exists():
        path = path / "images"
    if not (path / "index.json").exists():
        raise CommandError(f"{bundle}: not an image bundle (no index.json)",
                           hint="point at the images folder mirror-sync wrote (MIRROR/images)")
    return path


def _list(args) -> int:
    from mirror_tools.images.oci_layout import Layout

    layout = Layout(_layout_dir(args.bundle))
    rows = [layout.describe(img) for img in layout.images()]
    write_output(args.output, rows, ("name", "digest", "platforms", "size"))
    return 0


def _push(args) -> int:
    from mirror_tools import fetch
    from mirror_tools.images.push import push_layout

    password = None
    if args.password_stdin:
        if not args.username:
            raise CommandError("--password-stdin needs --username", code=USAGE)
        password = sys.stdin.readline().rstrip("\n")
    result = push_layout(_layout_dir(args.bundle), args.registry,
                         session=fetch.session(ca_bundle=args.ca_bundle),
                         plain_http=args.insecure_http, username=args.username,
                         password=password, auth_hosts=args.auth_host, only=args.image,
                         state_dir=args.state_dir,
                         jobs=args.jobs, progress=fetch.Progress("pushing blobs"))
    if args.output == "json":
        write_output("json", {"images": result.images, "blobs_uploaded": result.uploaded,
                              "blobs_mounted": result.mounted, "blobs_present": result.present,
                              "bytes_uploaded": result.bytes})
    else:
        write_output("table", result.images, ("image", "target", "digest", "status"))
        print(f"blobs: {result.uploaded} uploaded, {result.mounted} mounted, "
              f"{result.present} already present ({result.bytes / 1e6:.1f} MB sent)",
              file=sys.stderr)
    return 0
