"""The package's import graph, read from the sources (ast): arrows point one way.

``noise`` imports nothing of ours, ``methods`` only ``noise``; no module imports another's private
name; no import cycle exists, and none is hidden by an import inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("noise", "methods", "bench")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def find_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


MODULES = find_modules()


def resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if MODULES[module].name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def list_imports(module: str) -> list[tuple[str, tuple[str, ...], bool]]:
    """(imported module, names, whether at module level) of every import of ours in ``module``."""
    tree = ast.parse(MODULES[module].read_text())
    top = {id(node) for node in tree.body}
    top |= {id(n) for node in tree.body if isinstance(node, ast.If) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, (), id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(module, node)
            names = tuple(alias.name for alias in node.names)
            # "from bench import run" imports the module bench.run
            if all(f"{target}.{name}" in MODULES for name in names):
                found += [(f"{target}.{name}", (), id(node) in top) for name in names]
            else:
                found.append((target, names, id(node) in top))
    return [(target, names, level) for target, names, level in found if target.split(".")[0] in PACKAGES]


GRAPH = {module: list_imports(module) for module in MODULES}


def package_of(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize(("package", "allowed"), [("noise", {"noise"}), ("methods", {"noise", "methods"})])
def test_lower_layers_import_only_below(package, allowed):
    wrong = [
        f"{module} imports {target}"
        for module, imports in GRAPH.items()
        if package_of(module) == package
        for target, _, _ in imports
        if package_of(target) not in allowed
    ]
    assert not wrong


def test_no_module_imports_a_private_name_of_another():
    wrong = [
        f"{module} imports {name} from {target}"
        for module, imports in GRAPH.items()
        for target, names, _ in imports
        for name in names
        if name.startswith("_") and target != module
    ]
    assert not wrong


def test_no_import_of_ours_inside_a_function():
    wrong = [
        f"{module} imports {target} inside a function"
        for module, imports in GRAPH.items()
        for target, _, top in imports
        if not top
    ]
    assert not wrong


def test_no_import_cycle():
    edges = {
        module: {target if target in MODULES else target.rsplit(".", 1)[0] for target, _, _ in imports}
        & set(MODULES)
        for module, imports in GRAPH.items()
    }
    state: dict[str, str] = {}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges[module] - {module}):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert not cycles
