"""``appliance mirror-sync``: bring a mirror folder up to date with a manifest.

Run on the connected side; the folder then crosses the air gap as it is and
is checked there with ``appliance mirror verify``.
"""
from __future__ import annotations

import argparse
import sys

from appliance.cli.base import CommandError, add_output_option, write_output


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True, metavar="FILE",
                        help="The mirror manifest (YAML; see docs/mirror-sync.md).")
    parser.add_argument("--out", required=True, metavar="DIR", help="The mirror folder.")
    parser.add_argument("--jobs", type=int, default=4, metavar="N",
                        help="Parallel downloads (default: 4).")
    parser.add_argument("--retries", type=int, default=4, metavar="N",
                        help="Retries with backoff on 5xx answers and resets (default: 4).")
    parser.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                        help="Progress line on stderr (default: when stderr is a terminal).")
    add_output_option(parser)


def run(args: argparse.Namespace) -> int:
    from mirror_tools import fetch, manifest
    from mirror_tools.mirror_state import MirrorError
    from mirror_tools.mirror_sync import sync
    from mirror_tools.providers.sync import SyncError

    if args.jobs < 1:
        raise CommandError("--jobs must be at least 1")
    enabled = {"auto": None, "always": True, "never": False}[args.progress]
    progress = fetch.Progress("mirror-sync", stream=sys.stderr, enabled=enabled)
    try:
        m = manifest.load(args.manifest)
        report = sync(m, args.out, jobs=args.jobs, retries=args.retries, progress=progress)
    except manifest.ManifestError as exc:
        raise CommandError(str(exc), hint="see docs/mirror-sync.md for the manifest format")
    except SyncError as exc:
        progress.finish()
        for line in exc.errors[:-1]:
            print(f"error: {line}", file=sys.stderr)
        raise CommandError(exc.errors[-1], hint=f"the mirror in {args.out} was left as it was; "
                           "downloads that finished are reused by the next run")
    except (MirrorError, fetch.FetchError) as exc:
        raise CommandError(str(exc))
    write_output(args.output, {"downloaded": report.downloaded, "kept": report.kept,
                               "removed": len(report.removed), "images": report.images})
    return 0
