"""``appliance mirror verify``: recheck every hash in a mirror folder.

Each file recorded in ``mirror-state.json`` is hashed again (on several
threads, big reads) and compared with its recorded sha256 and size. The
network-mirror JSON is then checked against the files it points to: each
``zh:`` must be the zip's sha256 and each ``h1:`` the one recorded for a zip
with that sha256 (sha256 pins the bytes, so the bytes' ``h1:`` cannot differ;
``--deep`` recomputes ``h1:`` from the zip's content anyway). Terraform
release zips are checked against the SHA256SUMS they came with.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mirror_tools.mirror_state import STATE_NAME, MirrorDir, MirrorError, hash_files
from mirror_tools.providers.hashes import h1_zip
from mirror_tools.providers.layout import PROVIDERS
from mirror_tools.providers.signing import SignedSums


@dataclass
class VerifyReport:
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)


def verify(root: str | os.PathLike, *, jobs: int = 0, deep: bool = False) -> VerifyReport:
    root = Path(root)
    if not (root / STATE_NAME).is_file():
        raise MirrorError(f"{root}: not a mirror folder (no {STATE_NAME})")
    mirror = MirrorDir(root)
    report = VerifyReport()
    paths = {rel: root / rel for rel in mirror.files}
    hashed = hash_files(list(paths.values()), jobs)
    sha_of: dict[str, str] = {}
    for rel, entry in sorted(mirror.files.items()):
        got = hashed[paths[rel]]
        if isinstance(got, OSError):
            report.problems.append(f"{rel}: cannot read: {got.strerror}")
            continue
        report.files += 1
        report.bytes += paths[rel].stat().st_size
        sha_of[rel] = got
        if got != entry["sha256"]:
            report.problems.append(f"{rel}: sha256 is {got}, the mirror recorded {entry['sha256']}")
    h1_of_sha = {e["sha256"]: e["h1"] for e in mirror.files.values() if "h1" in e}
    if deep:
        zips = [rel for rel, e in mirror.files.items() if "h1" in e and rel in sha_of]
        with ThreadPoolExecutor(jobs or os.cpu_count() or 1) as pool:
            for rel, h1 in zip(zips, pool.map(lambda r: h1_zip(paths[r]), zips)):
                if h1 != mirror.files[rel]["h1"]:
                    report.problems.append(f"{rel}: h1 is {h1}, the mirror recorded "
                                           f"{mirror.files[rel]['h1']}")
    report.problems += _check_network_json(root, sha_of, h1_of_sha)
    report.problems += _check_release_sums(root, mirror.files, sha_of)
    return report


def _check_network_json(root: Path, sha_of: dict[str, str], h1_of_sha: dict[str, str]) -> list[str]:
    problems = []
    for doc in sorted((root / PROVIDERS).glob("*/*/*/*.json")):
        if doc.name == "index.json":
            continue
        rel_dir = doc.parent.relative_to(root).as_posix()
        try:
            archives = json.loads(doc.read_bytes())["archives"]
        except (ValueError, KeyError, TypeError):
            problems.append(f"{doc.relative_to(root)}: not a network-mirror version document")
            continue
        for platform, archive in sorted(archives.items()):
            rel = f"{rel_dir}/{archive.get('url', '')}"
            sha = sha_of.get(rel)
            if sha is None:
                problems.append(f"{doc.relative_to(root)}: {platform} points to {rel}, "
                                "which the mirror does not hold")
                continue
            for h in archive.get("hashes", []):
                if h.startswith("zh:") and h != f"zh:{sha}" or \
                        h.startswith("h1:") and h != h1_of_sha.get(sha):
                    problems.append(f"{doc.relative_to(root)}: {platform} hash {h} "
                                    f"does not match {rel}")
    return problems


def _check_release_sums(root: Path, files: dict[str, dict], sha_of: dict[str, str]) -> list[str]:
    problems = []
    for rel, e in files.items():
        if e.get("kind") != "terraform-sums" or rel not in sha_of:
            continue
        sums = SignedSums.parse((root / rel).read_bytes())
        base = rel.rsplit("/", 1)[0]
        for name, sha in sums.items():
            zrel = f"{base}/{name}"
            if zrel in sha_of and sha_of[zrel] != sha:
                problems.append(f"{zrel}: sha256 {sha_of[zrel]} is not the {sha} "
                                f"listed in {rel}")
    return problems
