"""Benchmark: provider mirrors, mirror-sync against its peers, on one registry, in one run.

    .venv/bin/python bench/mirror_sync.py [--rounds 3]

Starts the test Terraform registry (tests/kit/tf_registry.py) on
127.0.0.1 over HTTPS with a certificate from mirror_tools.ca, serving four
providers (the real null provider binary under four names) for four
platforms, and measures, each round alternating the order:

* first sync: ``appliance mirror-sync`` into an empty folder vs
  ``terraform providers mirror`` with the same providers and platforms (the
  registry is made ``registry.terraform.io`` for terraform through a CLI
  config ``host`` block, for mirror-sync through the manifest);
* no-op re-sync: ``appliance mirror-sync`` again on the synced folder;
* verify: ``appliance mirror verify DIR`` vs ``sha256sum`` over the same files
  (both as commands, start-up included, page cache warm for both).

Prints a markdown table with medians and ratios. Nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mirror_tools.ca import CertificateAuthority  # noqa: E402
from tests.kit import tf_registry  # noqa: E402

PROVIDERS = ["null", "random", "local", "time"]
PLATFORMS = ["linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64"]
VERSION = "3.2.1"


def timed(cmd: list[str], **kw) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-mirror-"))
    try:
        run(work, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, rounds: int) -> None:
    ca = CertificateAuthority.init(work / "ca", permitted_dns=["localhost"],
                                   permitted_ips=["127.0.0.0/8"])
    cert = ca.issue(dns=["localhost"], ips=["127.0.0.1"])
    with tf_registry.serving(work, tls=(str(cert.chain_path), str(cert.key_path))) as registry:
        for ptype in PROVIDERS:
            registry.add_provider("hashicorp", ptype, VERSION, PLATFORMS, tf_registry.null_binary())
        python = sys.executable
        appliance = [python, "-m", "appliance.admin.main"]
        manifest = work / "manifest.yaml"
        manifest.write_text(
            f"registries:\n  registry.terraform.io:\n    url: {registry.url}\n"
            f"    ca_bundle: {ca.bundle_path}\n"
            f"    signers: {{hashicorp: ['{registry.key.fingerprint}']}}\nproviders:\n" + "".join(
                f"  - {{source: hashicorp/{p}, versions: '{VERSION}', platforms: {PLATFORMS}}}\n"
                for p in PROVIDERS))
        tfdir = work / "tf"
        tfdir.mkdir()
        (tfdir / "main.tf").write_text("terraform {\n  required_providers {\n" + "".join(
            f'    {p} = {{ source = "hashicorp/{p}", version = "{VERSION}" }}\n' for p in PROVIDERS)
            + "  }\n}\n")
        (tfdir / "cli.tfrc").write_text(
            'host "registry.terraform.io" {\n  services = {\n'
            f'    "providers.v1" = "{registry.url}/v1/providers/"\n  }}\n}}\n')
        tf_env = {**os.environ, "TF_CLI_CONFIG_FILE": str(tfdir / "cli.tfrc"),
                  "CHECKPOINT_DISABLE": "1", "SSL_CERT_FILE": str(ca.bundle_path)}
        terraform = shutil.which("terraform") or "/usr/local/bin/terraform"
        platform_args = [f"-platform={p}" for p in PLATFORMS]
        sync_t, tf_t, noop_t, verify_t, sha_t = [], [], [], [], []
        for i in range(rounds):
            out_sync, out_tf = work / f"sync{i}", work / f"tfmirror{i}"
            steps = [
                lambda: sync_t.append(timed([*appliance, "mirror-sync", "--manifest",
                                             str(manifest), "--out", str(out_sync)], cwd=REPO)),
                lambda: tf_t.append(timed([terraform, "providers", "mirror", *platform_args,
                                           str(out_tf)], cwd=tfdir, env=tf_env)),
            ]
            for step in steps if i % 2 == 0 else reversed(steps):
                step()
            noop_t.append(timed([*appliance, "mirror-sync", "--manifest", str(manifest),
                                 "--out", str(out_sync)], cwd=REPO))
            state = json.loads((out_sync / "mirror-state.json").read_text())["files"]
            files = [str(out_sync / rel) for rel in state]
            timed(["sha256sum", *files])   # warm the page cache for both
            steps = [
                lambda: verify_t.append(timed([*appliance, "mirror", "verify", str(out_sync)],
                                              cwd=REPO)),
                lambda: sha_t.append(timed(["sha256sum", *files])),
            ]
            for step in steps if i % 2 == 0 else reversed(steps):
                step()
            size = sum(Path(f).stat().st_size for f in files)
            shutil.rmtree(out_tf)
            if i < rounds - 1:
                shutil.rmtree(out_sync)
    med = statistics.median
    mb = size / 1e6
    print(f"content: {len(PROVIDERS)} providers x {len(PLATFORMS)} platforms = "
          f"{len(files)} zips, {mb:.1f} MB; {rounds} rounds, medians\n")
    print("| measurement | appliance | peer | ratio (peer time / appliance time) |")
    print("|---|---|---|---|")
    print(f"| first sync | mirror-sync {med(sync_t):.2f} s | terraform providers mirror "
          f"{med(tf_t):.2f} s | {med(tf_t) / med(sync_t):.2f}x |")
    print(f"| no-op re-sync | mirror-sync {med(noop_t):.2f} s | (target < 1 s) | |")
    print(f"| verify {mb:.0f} MB | mirror verify {med(verify_t):.2f} s "
          f"({mb / med(verify_t):.0f} MB/s) | sha256sum {med(sha_t):.2f} s "
          f"({mb / med(sha_t):.0f} MB/s) | {med(sha_t) / med(verify_t):.2f}x |")


if __name__ == "__main__":
    main()
