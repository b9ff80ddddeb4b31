"""terraform-provider-coder start-up: time from exec to the go-plugin handshake line.

Terraform starts each provider 3 to 5 times per command, so this is on every
build's critical path. Measured for the development wrapper and the shipped
PyInstaller build, against the Go null provider (the named peer) in the same
run, plus the wall time of a ``terraform plan`` of the docker-style test
template with each variant.

    .venv/bin/python bench/provider_startup.py [--rounds 10]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.kit.provider import Terraform, build_mirror, coder_env

GO_PLUGIN_ENV = {
    "TF_PLUGIN_MAGIC_COOKIE": "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
    "PLUGIN_PROTOCOL_VERSIONS": "5,6",
}


def unpack(mirror: Path, source: str, dest: Path) -> Path:
    (zip_path,) = (mirror / "providers" / source).glob("*_linux_amd64.zip")
    with zipfile.ZipFile(zip_path) as z:  # a onedir build's _internal/ too, as terraform does
        name = z.namelist()[0]
        z.extractall(dest)
    for info in z.infolist():
        (dest / info.filename).chmod(info.external_attr >> 16 & 0o777)
    return dest / name


def handshake_seconds(binary: Path, home: Path) -> float:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), **GO_PLUGIN_ENV}
    start = time.perf_counter()
    proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=env)
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - start
    proc.terminate()
    proc.wait()
    if not line.startswith(b"1|"):
        raise RuntimeError(f"{binary}: no handshake ({line!r})")
    return elapsed


def plan_seconds(tf: Terraform) -> float:
    start = time.perf_counter()
    tf.run("plan", "-input=false", env=coder_env())
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-provider-"))
    try:
        home = work / "home"
        home.mkdir()
        mirrors = {v: build_mirror(work / f"mirror-{v}", v) for v in ("wrapper", "pyinstaller")}
        binaries = {
            "wrapper": unpack(mirrors["wrapper"], "registry.terraform.io/coder/coder", work / "w"),
            "pyinstaller": unpack(mirrors["pyinstaller"], "registry.terraform.io/coder/coder",
                                  work / "p"),
            "null (Go, peer)": unpack(mirrors["wrapper"], "registry.terraform.io/hashicorp/null",
                                      work / "n"),
        }
        times: dict[str, list[float]] = {k: [] for k in binaries}
        for name, binary in binaries.items():  # warm the page cache and the TLS cert cache
            handshake_seconds(binary, home)
        for _ in range(args.rounds):
            for name, binary in binaries.items():
                times[name].append(handshake_seconds(binary, home))
        plans = {}
        for variant, mirror in mirrors.items():
            tf = Terraform(work / f"tf-{variant}", mirror, "docker", home)
            tf.init()
            plan_seconds(tf)
            plans[variant] = [plan_seconds(tf) for _ in range(max(3, args.rounds // 2))]
        peer = statistics.median(times["null (Go, peer)"])
        print(f"provider start-up to handshake, median of {args.rounds} (ratio to the Go null provider):")
        for name, values in times.items():
            med = statistics.median(values)
            print(f"  {name:16} median {med * 1000:7.1f} ms  max {max(values) * 1000:7.1f} ms"
                  f"  {med / peer:5.1f}x")
        print("terraform plan of the docker-style template, median:")
        for variant, values in plans.items():
            print(f"  {variant:16} {statistics.median(values):.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
