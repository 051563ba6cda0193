"""The shape of the package (issue 27): no import cycle between huenet's modules (imports inside
functions count), no module over 600 lines, no function over 100, huenet's own imports at the
top of each module (inside functions only where an optional extra is behind them), and each
colorizing default written in one place."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "huenet"
# imports inside functions that are allowed: the module behind them needs an optional extra
LAZY_FOR_EXTRAS = {("huenet.commands", "huenet.web.app"): "fastapi (huenet[serve])",
                   ("huenet.fused", "huenet._fused_kernels"): "numba (huenet[fast])"}


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = p
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> list[tuple[str, bool]]:
    """(huenet module imported, whether inside a function) for each import in ``path``."""
    tree = ast.parse(path.read_text())
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(pkg[:len(pkg) - child.level + 1] + ([child.module] if child.module else []))
                else:
                    base = child.module or ""
                subs = [f"{base}.{a.name}" for a in child.names if f"{base}.{a.name}" in mods]
                found.extend((t, inner) for t in (subs or [base]) if t in mods and t != name)
            elif isinstance(child, ast.Import):
                found.extend((a.name, inner) for a in child.names if a.name in mods and a.name != name)
            visit(child, inner)

    visit(tree, False)
    return found


def test_no_import_cycle_and_own_imports_at_the_top():
    mods = _modules()
    graph = {m: {t for t, _ in _imports(m, p, mods)} for m, p in mods.items()}
    inner = {(m, t) for m, p in mods.items() for t, lazy in _imports(m, p, mods) if lazy}
    assert inner <= set(LAZY_FOR_EXTRAS), sorted(inner - set(LAZY_FOR_EXTRAS))
    # a cycle is a module that reaches itself
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            assert m != start, f"import cycle through {start}"
            if m not in seen:
                seen.add(m)
                todo += graph.get(m, ())


def test_modules_and_functions_stay_readable():
    long_modules, long_functions = [], []
    for name, p in _modules().items():
        text = p.read_text()
        if len(text.splitlines()) > 600:
            long_modules.append((name, len(text.splitlines())))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 100:
                long_functions.append((name, node.name, node.end_lineno - node.lineno + 1))
    assert not long_modules and not long_functions, (long_modules, long_functions)


@pytest.mark.parametrize("literal, home", [
    ("100_000_000", "settings.py"),  # the pixel limit for local files
    ("50_000_000", "settings.py"),  # the pixel limit for uploads
    ("0.38", "objectives.py"),  # the paper's annealed-mean temperature
    ("compress_level=1", None),  # the PNG level is DEFAULT_PNG_LEVEL
    ("batch_size: int = 8", None),  # DEFAULT_BATCH_SIZE
])
def test_each_default_is_written_once(literal, home):
    places = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*") if p.suffix in (".py", ".html")
              and literal in p.read_text()]
    assert places == ([home] if home else []), places
