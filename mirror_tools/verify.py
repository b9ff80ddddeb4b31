"""``appliance mirror verify``: recheck a mirror folder against its state.

Every file a reader of the folder can see (terraform's filesystem mirror, the
network-mirror server) is compared with ``mirror-state.json``
(``MirrorDir.survey``): a file it does not record is reported (terraform would
offer it), and so is a recorded file that is missing. Each recorded file is
hashed again (on several threads, big reads) and compared with its sha256.
The network-mirror JSON is then checked against the files it points to: each
``index.json`` must list exactly the versions held, each ``zh:`` must be the
zip's sha256 and each ``h1:`` the one recorded for a zip with that sha256
(sha256 pins the bytes, so the bytes' ``h1:`` cannot differ; ``--deep``
recomputes ``h1:`` from the zip's content anyway). Terraform release zips are
checked against the SHA256SUMS they came with.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mirror_tools.mirror_state import STATE_NAME, MirrorDir, MirrorError, hash_files
from mirror_tools.providers.hashes import h1_zip
from mirror_tools.providers.layout import PROVIDERS, provider_entries
from mirror_tools.providers.signing import SignedSums


@dataclass
class VerifyReport:
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)


def verify(root: str | os.PathLike, *, jobs: int = 0, deep: bool = False) -> VerifyReport:
    root = Path(root)
    mirror = MirrorDir(root)
    if not mirror.has_state:
        raise MirrorError(f"{root}: not a mirror folder (no {STATE_NAME})")
    seen, problems = mirror.survey()
    report = VerifyReport(problems=problems)
    paths = {rel: seen[rel] for rel in mirror.files if rel in seen}
    hashed = hash_files(list(paths.values()), jobs)
    sha_of: dict[str, str] = {}
    for rel, path in sorted(paths.items()):
        got = hashed[path]
        if isinstance(got, OSError):
            report.problems.append(f"{rel}: cannot read: {got.strerror}")
            continue
        report.files += 1
        report.bytes += path.stat().st_size
        sha_of[rel] = got
        if got != mirror.files[rel]["sha256"]:
            report.problems.append(f"{rel}: sha256 is {got}, the mirror recorded "
                                   f"{mirror.files[rel]['sha256']}")
    if deep:
        zips = [rel for rel, e in mirror.files.items() if "h1" in e and rel in sha_of]
        with ThreadPoolExecutor(jobs or os.cpu_count() or 1) as pool:
            for rel, h1 in zip(zips, pool.map(lambda r: h1_zip(paths[r]), zips)):
                if h1 != mirror.files[rel]["h1"]:
                    report.problems.append(f"{rel}: h1 is {h1}, the mirror recorded "
                                           f"{mirror.files[rel]['h1']}")
    report.problems += _check_network_json(mirror, seen, sha_of)
    report.problems += _check_release_sums(mirror.files, seen, sha_of)
    return report


def _check_network_json(mirror: MirrorDir, seen: dict[str, Path],
                        sha_of: dict[str, str]) -> list[str]:
    problems = []
    h1_of_sha = {e["sha256"]: e["h1"] for e in mirror.files.values() if "h1" in e}
    for source, versions in sorted(provider_entries(mirror.files).items()):
        index = f"{PROVIDERS}/{source}/index.json"
        try:
            listed = set(json.loads(seen[index].read_bytes())["versions"])
        except KeyError:
            continue   # reported missing by the survey
        except (OSError, ValueError, TypeError):
            listed = None
        if listed != set(versions):
            problems.append(f"{index}: does not list exactly the versions the mirror holds "
                            f"({', '.join(sorted(versions))})")
    for rel in sorted(seen):
        if not (rel.startswith(f"{PROVIDERS}/") and rel.endswith(".json")
                and rel.count("/") == 4 and not rel.endswith("/index.json")):
            continue
        rel_dir = rel.rsplit("/", 1)[0]
        try:
            archives = json.loads(seen[rel].read_bytes())["archives"]
        except (OSError, ValueError, KeyError, TypeError):
            problems.append(f"{rel}: not a network-mirror version document")
            continue
        for platform, archive in sorted(archives.items()):
            zrel = f"{rel_dir}/{archive.get('url', '')}"
            sha = sha_of.get(zrel)
            if sha is None:
                problems.append(f"{rel}: {platform} points to {zrel}, "
                                "which the mirror does not hold")
                continue
            for h in archive.get("hashes", []):
                if h.startswith("zh:") and h != f"zh:{sha}" or \
                        h.startswith("h1:") and h != h1_of_sha.get(sha):
                    problems.append(f"{rel}: {platform} hash {h} does not match {zrel}")
    return problems


def _check_release_sums(files: dict[str, dict], seen: dict[str, Path],
                        sha_of: dict[str, str]) -> list[str]:
    problems = []
    for rel, e in files.items():
        if e.get("kind") != "terraform-sums" or rel not in sha_of:
            continue
        sums = SignedSums.parse(seen[rel].read_bytes())
        base = rel.rsplit("/", 1)[0]
        for name, sha in sums.items():
            zrel = f"{base}/{name}"
            if zrel in sha_of and sha_of[zrel] != sha:
                problems.append(f"{zrel}: sha256 {sha_of[zrel]} is not the {sha} "
                                f"listed in {rel}")
    return problems
