"""Benchmark: checking an offline bundle against ``sha256sum`` over the same bytes.

    .venv/bin/python bench/bundle_verify.py [--size-mb 1024] [--repeat 3] [--dir /var/tmp]
    .venv/bin/python bench/bundle_verify.py --compress BUNDLE.tar

Seals a bundle of random files with packaging/bundle.py (sizes spread as in
a real bundle: a few executables and blobs of tens of MB, many small files)
and a throwaway GnuPG key, extracts it, and times with the page cache warm
(best of ``--repeat``, start-up included):

* ``sha256sum`` over every file of the folder, one process (the baseline);
* ``appliance bundle verify DIR`` and ``appliance bundle verify TAR``;
* ``install.sh --verify-only`` (gpgv, sha256sum, bash).

``--compress`` measures what compressing a real bundle would save and cost
(gzip, xz, zstd, each from and to the page cache).
Prints a markdown table (docs/benchmarks.md, "Offline bundle").
"""
from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "packaging")]

import bundle as builder  # noqa: E402

from tests.kit import tf_registry  # noqa: E402


def random_stage(root: Path, total: int) -> Path:
    """Folders like a bundle's: 60 % in a few big files, the rest in 16 KiB-2 MiB ones."""
    stage = root / "coder-appliance-0.1.0"
    rng = random.Random(15)
    big = int(total * 0.6)
    sizes = [big // 4] * 4
    left = total - big
    while left > 0:
        size = min(left, rng.randint(16 << 10, 2 << 20))
        sizes.append(size)
        left -= size
    for i, size in enumerate(sizes):
        path = stage / ("bin" if i < 4 else f"images/blobs/sha256/{i % 50:02d}") / f"f{i:05d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(rng.randbytes(size))
    return stage


def best(cmd: list[str], repeat: int, **kw) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
        times.append(time.perf_counter() - started)
    return min(times)


def verify_speed(args) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-bundle-", dir=args.dir))
    key = tf_registry.SigningKey(work / "gpg", "Bench Signer")
    try:
        stage = random_stage(work / "stage", args.size_mb << 20)
        result = builder.seal(stage, work / "out", builder.Signer(key.home, key.fingerprint),
                              versions={}, hash_cache=work / "hashes.json")
        (work / "x").mkdir()
        subprocess.run(["tar", "-xf", str(result.path), "-C", str(work / "x")], check=True)
        folder = work / "x" / stage.name
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        nbytes = sum((folder / f).stat().st_size for f in files)
        appliance = [sys.executable, "-m", "appliance.admin.main", "bundle", "verify"]
        rows = [
            ("sha256sum, every file (one process)", best(["sha256sum", *files], args.repeat,
                                                         cwd=folder)),
            ("appliance bundle verify DIR", best([*appliance, str(folder), "--fingerprint",
                                                  key.fingerprint], args.repeat, cwd=REPO)),
            ("appliance bundle verify TAR", best([*appliance, str(result.path), "--fingerprint",
                                                  key.fingerprint], args.repeat, cwd=REPO)),
            ("install.sh --verify-only", best(["bash", str(folder / "install.sh"), "--fingerprint",
                                               key.fingerprint, "--verify-only"], args.repeat)),
        ]
        base = rows[0][1]
        print(f"{len(files)} files, {nbytes / 1e6:.0f} MB, best of {args.repeat}, cache warm\n")
        print("| check | time (s) | MB/s | speed vs sha256sum |")
        print("|---|---|---|---|")
        for name, took in rows:
            print(f"| {name} | {took:.2f} | {nbytes / 1e6 / took:.0f} | {base / took:.0%} |")
    finally:
        key.close()
        shutil.rmtree(work, ignore_errors=True)


def compression(args) -> None:
    tar = Path(args.compress)
    size = tar.stat().st_size
    subprocess.run(["cat", str(tar)], check=True, stdout=subprocess.DEVNULL)  # warm the cache
    print(f"{tar.name}: {size / 1e6:.1f} MB\n")
    print("| compressor | size (MB) | saved | compress (s) | decompress (s) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-compress-", dir=args.dir) as tmp:
        for name, cmd in (("gzip -1", ["gzip", "-1"]), ("gzip -6", ["gzip", "-6"]),
                          ("xz -1 -T2", ["xz", "-1", "-T2"]),
                          ("zstd -3 -T2", ["zstd", "-3", "-T2"])):
            if not shutil.which(cmd[0]):
                continue
            out = Path(tmp) / "c"
            started = time.perf_counter()
            with open(tar, "rb") as src, open(out, "wb") as dst:
                subprocess.run([*cmd, "-c"], stdin=src, stdout=dst, check=True)
            packed = time.perf_counter() - started
            started = time.perf_counter()
            with open(out, "rb") as src:
                subprocess.run([cmd[0], "-d", "-c"], stdin=src, stdout=subprocess.DEVNULL,
                               check=True)
            unpacked = time.perf_counter() - started
            csize = out.stat().st_size
            print(f"| {name} | {csize / 1e6:.1f} | {1 - csize / size:.0%} | {packed:.1f} | "
                  f"{unpacked:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="Bytes in the bundle (MiB).")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per check; the best counts.")
    parser.add_argument("--dir", default="/var/tmp", help="Where to write the bundle.")
    parser.add_argument("--compress", metavar="TAR",
                        help="Measure compressing this bundle instead.")
    args = parser.parse_args()
    compression(args) if args.compress else verify_speed(args)


if __name__ == "__main__":
    main()
