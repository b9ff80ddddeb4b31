"""Test modules share code only through tests/kit/ (or a helper module of their own folder),
imported by its full name (issue 18): none imports a test module or a conftest, whose names
pytest owns, a helper by a bare name that only resolves because pytest or a ``sys.path``
hack put its folder on the path (one file loaded as two modules), or another folder's helper."""
from __future__ import annotations

import ast
import importlib.machinery
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
KIT = TESTS / "kit"

# Helpers other folders still import, each with why it is not in tests/kit/.
SHARED_ELSEWHERE = {
    TESTS / "hosts.py": "booted Debian hosts: the lead is reworking it with tests/cluster/",
    TESTS / "packaging" / "installkit.py": "bundles installed on booted hosts: the lead is "
                                            "reworking it with tests/hosts.py",
    TESTS / "ansible" / "ansibletest.py": "imported by tests/packaging/installkit.py, so it "
                                          "moves with it",
    TESTS / "compat": "the compatibility tables' generator (python -m tests.compat), a program "
                      "whose reading of the code the tests check and reuse, not a helper",
}


def _imported(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of each import in ``path``, relative ones resolved."""
    package = list(path.relative_to(ROOT).parent.parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names  # a module, not a name in one
                      if _file(f"{module}.{a.name}")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return found


def _file(module: str) -> Path | None:
    """The repository's file of ``module`` (a dotted name from the root), if it has one."""
    path = ROOT.joinpath(*module.split("."))
    return next((p for p in (path.with_suffix(".py"), path / "__init__.py") if p.is_file()), None)


def _test_modules() -> list[Path]:
    return [p for p in sorted(TESTS.rglob("*.py")) if "published" not in p.parts]


def _bench_modules() -> list[Path]:
    """The benchmarks: they use the tests' helpers too."""
    return sorted((ROOT / "bench").glob("*.py"))


def _bare_helper_names() -> set[str]:
    """Names of modules and folders under tests/ that a bare import would reach through
    ``sys.path``, but for the repository's top-level packages and installed modules
    (``tests/kit/agent.py`` is no reason to flag ``import agent``)."""
    outside = [p for p in sys.path if not Path(p or ".").resolve().is_relative_to(TESTS)]
    names = {p.stem for p in _test_modules()} | {d.name for d in TESTS.rglob("*") if d.is_dir()}
    return {n for n in names - {"__init__"} if not _file(n)
            and importlib.machinery.PathFinder.find_spec(n, outside) is None}


def test_no_module_imports_a_test_module_or_a_conftest():
    wrong = []
    for path in _test_modules() + _bench_modules():
        for line, module in _imported(path):
            last = module.rsplit(".", 1)[-1]
            if module.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, "move what they share into tests/kit/:\n" + "\n".join(sorted(set(wrong)))


def test_helpers_are_imported_by_their_full_name():
    bare = _bare_helper_names()
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {module}"
             for path in _test_modules() for line, module in _imported(path)
             if module.split(".")[0] in bare]
    assert not wrong, ("import test helpers as tests.kit.NAME (or tests.FOLDER.NAME for one of "
                       "the module's own folder), never through sys.path:\n" + "\n".join(wrong))


def test_helpers_shared_between_folders_are_in_the_kit():
    wrong = []
    for path in _test_modules():
        for line, module in _imported(path):
            target = _file(module) if module.startswith("tests.") else None
            if target and target.name != "__init__.py" and target.parent not in (path.parent, KIT) \
                    and not any(target == s or s in target.parents for s in SHARED_ELSEWHERE):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, ("a helper used by another folder belongs in tests/kit/:\n"
                       + "\n".join(sorted(set(wrong))))


def test_the_checks_see_what_they_check():
    """The checks would pass on imports they failed to read: what they rest on is found."""
    assert {"imagekit", "mirrorkit", "bundlekit", "conftest", "test_images"} <= _bare_helper_names()
    assert not {"agent", "server", "pytest", "tests", "bundle", "os"} & _bare_helper_names()
    imports = {m for _, m in _imported(TESTS / "packaging" / "test_install_verify.py")}
    assert {"tests.packaging.bundlekit", "tests.kit.tf_registry"} <= imports
