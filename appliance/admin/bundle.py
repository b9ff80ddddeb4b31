"""``appliance bundle build|verify``: make the signed offline bundle, check one.

``build`` runs packaging/bundle.py, which needs this source checkout and its
build dependencies (PyInstaller, the parts' tools), so the frozen
``appliance`` only verifies. ``verify`` applies install.sh's rules
(appliance.bundle_manifest) to the tar as it streams by, or to an extracted
folder, on either side of the air gap.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.cli.base import CommandError, add_output_option, write_output

CHECKOUT = Path(__file__).resolve().parents[2]
BUILDER = CHECKOUT / "packaging" / "bundle.py"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bundle_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("build", help="Build the signed offline bundle (from a source checkout).",
                       description="Build DIR/coder-appliance-VERSION-linux-amd64.tar: the "
                       "executables, terraform, the provider mirror, the images, a local apt "
                       "repository, Ansible and its roles, the templates, install.sh, and a "
                       "MANIFEST.json of every file signed with a GnuPG key. Needs a source "
                       "checkout with requirements-build.txt installed. See docs/install.md.")
    if BUILDER.is_file():
        sys.path.insert(0, str(BUILDER.parent))
        import bundle as builder
        builder.add_arguments(p)
    else:   # a frozen appliance: take anything, so _build can say what is missing
        p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p = sub.add_parser("verify", help="Check a bundle (its tar or extracted folder) as "
                       "install.sh does.",
                       description="Check MANIFEST.json's signature against the key "
                       "fingerprint given, then that the bundle holds exactly the files it "
                       "lists with their sha256; nothing is written. A delta bundle is checked "
                       "against the installed version it applies to.")
    p.add_argument("bundle", metavar="FILE_OR_DIR",
                   help="The bundle's tar, or the folder it was extracted to.")
    p.add_argument("--fingerprint", required=True, metavar="FPR",
                   help="The signing key's full fingerprint, as the build printed it "
                   "(40 hex digits, spaces allowed).")
    p.add_argument("--installed", metavar="DIR",
                   help="For a delta bundle: the installed version's folder (default: "
                   "/opt/coder-appliance/OLD_VERSION).")
    add_output_option(p)


def run(args: argparse.Namespace) -> int:
    return {"build": _build, "verify": _verify}[args.bundle_command](args)


def _build(args: argparse.Namespace) -> int:
    if getattr(sys, "frozen", False) or not BUILDER.is_file():
        raise CommandError("bundle build needs a source checkout of coder-appliance with its "
                           "build dependencies; this appliance has none",
                           hint="run .venv/bin/appliance bundle build in the checkout "
                           "(pip install -r requirements-build.txt)")
    import bundle as builder
    from mirror_tools.manifest import ManifestError
    try:
        result = builder.build(args.manifest, args.out, sign_key=args.sign_key,
                               gnupghome=args.gnupghome, since=args.since,
                               parts=builder.parse_parts(args.parts))
    except ManifestError as exc:
        raise CommandError(str(exc), hint="see docs/examples/bundle-manifest.yaml")
    except (builder.BuildError, OSError) as exc:
        raise CommandError(str(exc))
    builder.print_summary(result)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from appliance import bundle_manifest as bm
    path = Path(args.bundle)
    try:
        check = bm.verify_dir if path.is_dir() else bm.verify_tar
        report = check(path, args.fingerprint, args.installed)
    except bm.VerifyError as exc:
        raise CommandError(str(exc), hint="this bundle must not be installed")
    write_output(args.output, {"version": report.manifest["version"],
                               "signer": report.manifest["signer"], "files": report.files,
                               "bytes": report.bytes, "from_installed": report.from_base})
    return 0
