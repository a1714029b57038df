"""The shape of the package: short modules, short functions, no import cycle (issue 11).

Read statically with :mod:`ast`, so the checks cost no import. A function's length is its
code: the docstring is documentation (numpy-style parameter lists are long by design) and
does not count.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "rfcx_frames"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    assert node.end_lineno is not None
    length = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
            first.value.value, str):
        assert first.end_lineno is not None
        length -= first.end_lineno - first.lineno + 1
    return length


def imported_modules(name: str, tree: ast.Module) -> set[str]:
    """Package modules ``name`` imports anywhere: top level, ``TYPE_CHECKING`` or a function.

    ``from pkg import x`` imports ``pkg.x`` when that is a module, else ``pkg`` itself.
    """
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                target = f"{source}.{alias.name}"
                found.add(target if target in MODULES else source)
    return {m for m in found if m in MODULES and m != name}


def import_cycles() -> list[list[str]]:
    edges = {name: imported_modules(name, ast.parse(path.read_text()))
             for name, path in MODULES.items()}
    # A package's __init__ importing its own submodules is how packages re-export names;
    # a cycle through it is real only when a submodule imports the package's __init__.
    graph: dict[str, set[str]] = defaultdict(set)
    for name, targets in edges.items():
        graph[name] = {t for t in targets
                       if not (MODULES[name].name == "__init__.py" and t.startswith(name + "."))}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in MODULES:
        if name not in index:
            visit(name)
    return cycles


def test_no_module_is_longer_than_450_lines() -> None:
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_no_function_is_longer_than_60_lines_of_code() -> None:
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
                    n := code_lines(node)) > MAX_FUNCTION_LINES:
                long.append(f"{name}.{node.name}: {n} lines")
    assert long == []


def test_no_import_cycle_even_for_type_checking_or_inside_functions() -> None:
    assert import_cycles() == []


@pytest.mark.parametrize("code, expected", [
    ("from . import a\n", {"pkg.a"}),
    ("from .a import thing\n", {"pkg.a"}),
    ("if TYPE_CHECKING:\n    from .a import A\n", {"pkg.a"}),
    ("def f():\n    from pkg import a\n", {"pkg.a"}),
    ("from pkg import thing\n", {"pkg"}),
])
def test_the_import_reader_sees_every_kind_of_import(code: str, expected: set[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fake = {"pkg": Path("pkg/__init__.py"), "pkg.a": Path("pkg/a.py"), "pkg.b": Path("pkg/b.py")}
    monkeypatch.setitem(globals(), "MODULES", fake)
    assert imported_modules("pkg.b", ast.parse(code)) == expected
