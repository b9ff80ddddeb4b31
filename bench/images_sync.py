"""Image sync into an OCI layout: ``appliance mirror-sync`` vs ``skopeo copy``.

Builds a few images with random (incompressible) layers, some tens of MB in
all, pushes them with skopeo into a local docker-registry on 127.0.0.1, then
times, cold (empty destination) and several times each:

* ``appliance mirror-sync --manifest M --out DIR`` (an images-only manifest);
* ``skopeo copy docker://... oci:DIR:REF`` once per image, one after the
  other, into one OCI layout (``--all`` for the multi-arch image, as our sync
  keeps every platform when none is named);
* the no-op re-sync of the appliance (everything already there).

Run: ``.venv/bin/python bench/images_sync.py [--runs 5] [--mb 60]``.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.kit import imagekit  # noqa: E402
from tests.kit.tools import tool  # noqa: E402


def build(build_dir: Path, reg, total_mb: int) -> list[str]:
    """Four images sharing a base layer; one is a linux/amd64 + linux/arm64 index."""
    unit = total_mb * 1024 * 1024 // 8
    base = {"base.bin": imagekit.random_bytes(unit, "base")}
    refs = []
    for i in range(3):
        desc = imagekit.write_image(build_dir, layers=[
            base, {f"app{i}.bin": imagekit.random_bytes(unit + unit // 2, f"app{i}")}],
            label=f"app{i}")
        imagekit.tag_layout(build_dir, f"app{i}", desc)
        refs.append((f"app{i}", f"bench/app{i}:1", False))
    index = imagekit.write_index(build_dir, [
        imagekit.write_image(build_dir, arch=arch, layers=[
            base, {"tool.bin": imagekit.random_bytes(unit, arch)}]) for arch in ("amd64", "arm64")])
    imagekit.tag_layout(build_dir, "multi", index)
    refs.append(("multi", "bench/multi:1", True))
    for tag, path, multi in refs:
        imagekit.skopeo_push(build_dir, tag, f"{reg.host}/{path}", all_platforms=multi)
    return [f"{reg.host}/{path}" for _, path, _ in refs]


def timed(cmd: list[str], **kw) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mb", type=int, default=60, help="Approximate unique MB of layers.")
    args = parser.parse_args()
    skopeo = tool("skopeo")
    work = Path(tempfile.mkdtemp(prefix="bench-images-"))
    try:
        with imagekit.docker_registry(work / "registry") as reg:
            refs = build(work / "build", reg, args.mb)
            manifest = work / "manifest.yaml"
            manifest.write_text(json.dumps({
                "registries": {reg.host: {"url": reg.url, "insecure": True}},
                "images": [{"ref": r} for r in refs]}))
            appliance = [sys.executable, "-m", "appliance.admin.main", "mirror-sync",
                         "--manifest", str(manifest), "--progress", "never"]
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            times: dict[str, list[float]] = {"appliance": [], "skopeo": [], "noop": []}
            for run in range(args.runs):
                # Alternate who goes first so page cache and CPU noise even out.
                order = ("appliance", "skopeo") if run % 2 == 0 else ("skopeo", "appliance")
                for who in order:
                    out = work / f"{who}-{run}"
                    if who == "appliance":
                        times["appliance"].append(timed(appliance + ["--out", str(out)], env=env))
                        times["noop"].append(timed(appliance + ["--out", str(out)], env=env))
                    else:
                        start = time.perf_counter()
                        for ref in refs:
                            extra = ["--all"] if "multi" in ref else []
                            subprocess.run([skopeo, "--insecure-policy", "copy", *extra,
                                            "--src-tls-verify=false", f"docker://{ref}",
                                            f"oci:{out}:{ref}"], check=True,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                        times["skopeo"].append(time.perf_counter() - start)
                    shutil.rmtree(out)
            size = sum(p.stat().st_size for p in (work / "registry" / "data").rglob("data")
                       if "blobs" in p.parts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"content: {len(refs)} images (one multi-arch index), {size / 1e6:.1f} MB of blobs; "
          f"{args.runs} cold runs each")
    for k in ("appliance", "skopeo", "noop"):
        print(f"{k:10s} median {med[k]:.2f} s  runs: {', '.join(f'{t:.2f}' for t in times[k])}")
    print(f"ratio appliance/skopeo: {med['appliance'] / med['skopeo']:.2f} (target <= 1.20)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
