"""The stub providers Coder's published templates need, derived from the templates themselves.

Every resource, data source and provider block of a provider other than
``coder/coder`` in ``tests/provider/published/`` is read with python-hcl2:
the arguments and blocks it writes, and the attributes the templates read
from it (``aws_instance.dev.public_ip``), make its stub schema
(``stub_provider``). Each provider gets a mirror entry in terraform's
unpacked layout, one per version the templates' constraints start from, whose
executable runs ``stub_provider`` with that schema.
"""
from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import hcl2

REPO = Path(__file__).resolve().parents[2]
META = {"count", "for_each", "depends_on", "provider", "lifecycle", "connection", "provisioner",
        "__is_block__", "__comments__", "dynamic"}
# Attributes read through an iteration variable (``for r in data.http.x : r.response_body``),
# which no reference pattern can tie to the type.
READ_INDIRECTLY = {"http": ["response_body"]}
REFERENCE = re.compile(r"\b(?P<data>data\.)?(?P<type>[a-z0-9]+_[a-z0-9_]+|http)\.[\w-]+"
                       r"(?:\[[^\]]*\])?(?P<path>(?:\.(?:[a-z_]\w*|\d+)(?:\[[^\]]*\])?)+)")


def _spec() -> dict:
    return {"attrs": set(), "lists": set(), "blocks": defaultdict(_spec)}


def _unquote(label: str) -> str:
    return label.strip('"')


def _merge_body(spec: dict, body: dict) -> None:
    for key, value in body.items():
        if key in META:
            if key == "dynamic":
                for dyn in value:
                    for label, inner in dyn.items():
                        for content in inner.get("content", []):
                            _merge_body(spec["blocks"][_unquote(label)], content)
            continue
        if isinstance(value, list) and value and all(
                isinstance(v, dict) and v.get("__is_block__") for v in value):
            for item in value:
                _merge_body(spec["blocks"][key], item)
        else:
            spec["attrs"].add(key)
            if isinstance(value, list):
                spec["lists"].add(key)


def _merge_path(spec: dict, path: str) -> None:
    """``.a[0].b``: ``a`` a known block means ``b`` is read from it; else ``a`` is an attribute."""
    names = re.findall(r"\.([a-z_]\w*)", path)
    for name in names:
        if name in spec["blocks"]:
            spec = spec["blocks"][name]
            continue
        spec["attrs"].add(name)
        return


def _provider_of(type_name: str) -> str:
    return type_name.split("_", 1)[0]


def _lower_bound(constraint: str) -> str:
    """The lowest version a ``>=``/``~>``/``=`` constraint allows, as X.Y.Z."""
    found = re.search(r"(\d+(?:\.\d+){0,2})", constraint)
    parts = (found.group(1) if found else "1.0.0").split(".")
    return ".".join((parts + ["0", "0"])[:3])


def collect(roots: list[Path]) -> dict:
    """provider local name -> {source, versions, provider, resources, data_sources}, from
    the ``.tf`` files under ``roots`` (a template and the modules it may call)."""
    providers: dict = defaultdict(lambda: {"source": "", "versions": set(), "provider": _spec(),
                                           "resources": defaultdict(_spec),
                                           "data_sources": defaultdict(_spec)})
    texts = []
    for path in sorted(p for root in roots for p in root.rglob("*.tf")):
        text = path.read_text()
        texts.append(text)
        parsed = hcl2.loads(text)
        for terraform in parsed.get("terraform", []):
            for required in terraform.get("required_providers", []):
                for name, req in required.items():
                    source = _unquote(req.get("source", "")) if isinstance(req, dict) else ""
                    if source and source != "coder/coder":
                        providers[name]["source"] = source
                        providers[name]["versions"].add(_lower_bound(req.get("version", "")))
        for kind, section in (("resources", "resource"), ("data_sources", "data")):
            for block in parsed.get(section, []):
                for type_label, named in block.items():
                    type_name = _unquote(type_label)
                    if type_name.startswith("coder_"):
                        continue
                    for body in named.values():
                        _merge_body(providers[_provider_of(type_name)][kind][type_name], body)
        for block in parsed.get("provider", []):
            for label, body in block.items():
                if _unquote(label) != "coder":
                    _merge_body(providers[_unquote(label)]["provider"], body)
    for text in texts:
        for ref in REFERENCE.finditer(text):
            type_name = ref["type"]
            kind = "data_sources" if ref["data"] else "resources"
            local = _provider_of(type_name)
            if type_name.startswith("coder_") or local not in providers:
                continue
            if type_name in providers[local][kind]:
                _merge_path(providers[local][kind][type_name], ref["path"])
    for local, names in READ_INDIRECTLY.items():
        for type_name in providers[local]["data_sources"]:
            providers[local]["data_sources"][type_name]["attrs"].update(names)
    for local, info in providers.items():
        info["source"] = info["source"] or f"hashicorp/{local}"
        info["versions"] = info["versions"] or {"1.0.0"}
        for spec in info["resources"].values():
            spec["attrs"].add("id")
    return providers


def _jsonable(spec: dict) -> dict:
    return {"attrs": sorted(spec["attrs"]), "lists": sorted(spec["lists"]),
            "blocks": {n: _jsonable(b) for n, b in sorted(spec["blocks"].items())}}


def write_mirror(roots: list[Path], dest: Path) -> list[str]:
    """The stub mirror (unpacked layout) under ``dest`` for the templates under ``roots``; the
    providers it holds. One template at a time: one may write a block another only reads."""
    written = []
    for local, info in sorted(collect(roots).items()):
        schema = {"provider": _jsonable(info["provider"]),
                  "resources": {t: _jsonable(s) for t, s in info["resources"].items()},
                  "data_sources": {t: _jsonable(s) for t, s in info["data_sources"].items()}}
        namespace, name = info["source"].lower().split("/")[-2:]
        schema_path = dest / f"{namespace}-{name}.json"
        schema_path.parent.mkdir(parents=True, exist_ok=True)
        schema_path.write_text(json.dumps(schema, indent=1))
        for version in sorted(info["versions"]):
            folder = dest / "registry.terraform.io" / namespace / name / version / "linux_amd64"
            folder.mkdir(parents=True, exist_ok=True)
            exe = folder / f"terraform-provider-{name}_v{version}"
            exe.write_text("#!/bin/sh\n"
                           f'PYTHONPATH="{REPO}" exec "{sys.executable}" -m tests.provider.stub_provider '
                           f'"{schema_path}" "registry.terraform.io/{namespace}/{name}"\n')
            exe.chmod(0o755)
        written.append(f"{namespace}/{name}")
    return written
