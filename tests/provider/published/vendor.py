"""Copy Coder's published templates, and the registry modules they use, into this folder.

    .venv/bin/python tests/provider/published/vendor.py REGISTRY_GIT CODER_EXAMPLES_DIR

``REGISTRY_GIT``: a clone of github.com/coder/registry (its ``HEAD`` is vendored);
``CODER_EXAMPLES_DIR``: coder/coder's ``examples/templates`` at the commit in
``SOURCES``. Each ``registry.coder.com/NAMESPACE/NAME/coder`` module source is
rewritten to the vendored copy's relative path and its ``version`` line dropped
(terraform takes no version for a local module); the copy is the release tag
the version names (``release/NAMESPACE/NAME/vX.Y.Z``): the pinned one, or the
newest the ``~>`` constraint allows. Nothing else is changed. Run by hand when
the published templates move; the test only reads what it wrote.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULE_CALL = re.compile(
    r'(?P<head>module\s+"[^"]+"\s*\{)(?P<body>.*?)(?=^\})', re.S | re.M)
SOURCE = re.compile(r'source(?P<pad>\s*)=\s*"registry\.coder\.com/(?P<ns>[\w-]+)/(?P<name>[\w-]+)/coder"')
VERSION_LINE = re.compile(r'^[ \t]*version\s*=\s*"(?P<v>[^"]*)"[ \t]*\n', re.M)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


def release(repo: Path, ns: str, name: str, constraint: str) -> str:
    """The tag a module version constraint resolves to (``HEAD`` without one)."""
    if ns == "modules":
        ns = "coder"
    tags = [t for t in git(repo, "tag", "--list", f"release/{ns}/{name}/v*").split()]
    versions = sorted((tuple(int(p) for p in t.rsplit("/v", 1)[1].split(".")), t) for t in tags)
    want = constraint.strip()
    if not want:
        return "HEAD"
    if want.startswith("~>"):
        parts = [int(p) for p in want[2:].strip().split(".")]
        prefix = tuple(parts[:-1])
        allowed = [t for v, t in versions if v[:len(prefix)] == prefix and v >= tuple(parts)]
        return allowed[-1]
    return f"release/{ns}/{name}/v{want.lstrip('=v ').strip()}"


def rewrite(text: str, depth: str, repo: Path, wanted: set) -> str:
    """Point each registry module call at its vendored copy; note what must be copied."""
    def one(call: re.Match) -> str:
        body = call.group("body")
        found = SOURCE.search(body)
        if not found:
            return call.group(0)
        version = VERSION_LINE.search(body)
        tag = release(repo, found["ns"], found["name"], version["v"] if version else "")
        ns = "coder" if found["ns"] == "modules" else found["ns"]
        label = tag.rsplit("/", 1)[1] if tag != "HEAD" else "head"
        wanted.add((ns, found["name"], tag, label))
        body = VERSION_LINE.sub("", body) if version else body
        body = SOURCE.sub(f'source{found["pad"]}= "{depth}modules/{ns}/{found["name"]}/{label}"', body)
        return call.group("head") + body
    return MODULE_CALL.sub(one, text)


def copy_tree(repo: Path, tag: str, src: str, dest: Path, depth: str, wanted: set) -> None:
    for path in git(repo, "ls-tree", "-r", "--name-only", tag, src).split():
        rel = Path(path).relative_to(src)
        if rel.suffix in (".ts", ".png") or rel.name.endswith(".tftest.hcl") or rel.name == "tsconfig.json":
            continue
        data = subprocess.run(["git", "-C", str(repo), "show", f"{tag}:{path}"], check=True,
                              capture_output=True).stdout
        if rel.suffix == ".tf":
            data = rewrite(data.decode(), depth, repo, wanted).encode()
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(data)


def main(registry: Path, coder_examples: Path) -> None:
    sources = {"registry": git(registry, "rev-parse", "HEAD").strip(), "templates": {},
               "modules": {}}
    wanted: set = set()
    shutil.rmtree(HERE / "templates", ignore_errors=True)
    shutil.rmtree(HERE / "modules", ignore_errors=True)
    base = "registry/coder/templates/"
    for name in git(registry, "ls-tree", "-d", "--name-only", "HEAD", base).split():
        name = name.rsplit("/", 1)[1]
        copy_tree(registry, "HEAD", base + name, HERE / "templates" / name, "../../", wanted)
        sources["templates"][name] = f"coder/registry {base}{name}"
    for folder in sorted(p for p in coder_examples.iterdir() if p.is_dir()):
        dest = HERE / "templates" / f"coder-{folder.name}"
        for path in folder.rglob("*"):
            if path.is_file():
                out = dest / path.relative_to(folder)
                out.parent.mkdir(parents=True, exist_ok=True)
                text = path.read_text()
                out.write_text(rewrite(text, "../../", registry, wanted) if path.suffix == ".tf" else text)
        sources["templates"][dest.name] = f"coder/coder examples/templates/{folder.name}"
    done: set = set()
    while wanted - done:
        ns, name, tag, label = sorted(wanted - done)[0]
        done.add((ns, name, tag, label))
        copy_tree(registry, tag, f"registry/{ns}/modules/{name}",
                  HERE / "modules" / ns / name / label, "../../../../", wanted)
        sources["modules"][f"{ns}/{name}/{label}"] = git(registry, "rev-parse", f"{tag}^{{commit}}").strip()
    (HERE / "SOURCES.json").write_text(json.dumps(sources, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
