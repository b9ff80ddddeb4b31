"""Test modules share code only through tests/kit/ (or a helper module of their own folder):
none imports a test module or a conftest, whose names pytest owns (issue 18)."""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _imported(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of each import in ``path``, relative ones resolved."""
    package = list(path.relative_to(TESTS.parent).parent.parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names  # a module, not a name in one
                      if TESTS.parent.joinpath(*f"{module}.{a.name}".split(".")).with_suffix(".py").is_file()]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return found


def test_no_module_imports_a_test_module_or_a_conftest():
    wrong = []
    for path in sorted(TESTS.rglob("*.py")):
        if "published" in path.parts:
            continue
        for line, module in _imported(path):
            last = module.rsplit(".", 1)[-1]
            if module.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
                wrong.append(f"{path.relative_to(TESTS.parent)}:{line} imports {module}")
    assert not wrong, "move what they share into tests/kit/:\n" + "\n".join(sorted(set(wrong)))
