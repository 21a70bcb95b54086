"""The package stays layered: no import cycle among the modules of `logfire/`, and no module over 500 lines.

Every import the code names counts, wherever it is (top level, inside a function, under `if TYPE_CHECKING:`)
and however it is spelled (absolute, relative, `from . import module`): a reader follows each of them. A cycle
usually means a data type sits in the same module as the code that orchestrates it; move the data down.
A long module is split along its seam.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / 'logfire'
MAX_LINES = 500


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the package at `root`, by dotted name (a package by its own name, for its `__init__.py`)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob('*.py')):
        if '__pycache__' in path.parts:
            continue
        parts = list(path.relative_to(root.parent).with_suffix('').parts)
        if parts[-1] == '__init__':
            parts.pop()
        found['.'.join(parts)] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `name` (at `path`) imports, anywhere in its code."""

    def owner(dotted: str) -> str | None:
        """The longest module of the package that `dotted` names or lies in."""
        while dotted and dotted not in modules:
            dotted = dotted.rpartition('.')[0]
        return dotted or None

    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'), str(path))):
        if isinstance(node, ast.Import):
            found.update(m for alias in node.names if (m := owner(alias.name)) is not None)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[: len(package.split('.')) - node.level + 1]
                source = '.'.join([*base, node.module] if node.module else base)
            else:
                source = node.module or ''
            source_module = owner(source)
            if source_module is None:
                continue
            ancestor = name.startswith(source_module + '.')
            for alias in node.names:
                if f'{source}.{alias.name}' in modules:
                    found.add(f'{source}.{alias.name}')  # `from . import x`: the submodule x
                    if not ancestor:  # importing a submodule runs its package's __init__ first
                        found.add(source_module)
                else:  # a name defined in `source`, even in a package this module lies in
                    found.add(source_module)
    found.discard(name)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each module of the package at `root` -> the package's modules it imports."""
    modules = module_names(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def long_modules(root: Path, max_lines: int = MAX_LINES) -> dict[str, int]:
    """The modules of the package at `root` over `max_lines` lines, with their line counts."""
    counts = {name: len(path.read_text(encoding='utf-8').splitlines()) for name, path in module_names(root).items()}
    return {name: count for name, count in counts.items() if count > max_lines}


def describe(graph: dict[str, set[str]], found: list[list[str]]) -> str:
    lines: list[str] = []
    for component in found:
        lines.append(f'import cycle of {len(component)} modules:')
        lines.extend(f'  {m} -> {", ".join(sorted(graph[m] & set(component)))}' for m in component)
    return '\n'.join(lines)


def test_logfire_has_no_import_cycle() -> None:
    graph = import_graph(PACKAGE)
    assert 'logfire._internal.main' in graph and graph['logfire._internal.main'], 'the graph is empty: wrong root?'
    found = cycles(graph)
    assert not found, describe(graph, found)


def test_no_module_of_logfire_is_over_500_lines() -> None:
    assert long_modules(PACKAGE) == {}


# ---- the guard itself: each way of spelling an import closes a cycle it sees ---------------------------------


def write_package(root: Path, files: dict[str, str]) -> Path:
    package = root / 'pkg'
    for relative, text in {'__init__.py': '', 'sub/__init__.py': '', **files}.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding='utf-8')
    return package


@pytest.mark.parametrize(
    'back_edge',
    [
        pytest.param('from .a import A\n', id='relative, top level'),
        pytest.param('import pkg.a\n', id='absolute import'),
        pytest.param('from pkg.a import A\n', id='absolute from-import'),
        pytest.param('from . import a\n', id='from . import module'),
        pytest.param('def f():\n    from .a import A\n', id='inside a function'),
        pytest.param('from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import A\n', id='TYPE_CHECKING'),
    ],
)
def test_the_guard_sees_a_cycle_however_the_import_is_spelled(tmp_path: Path, back_edge: str) -> None:
    package = write_package(tmp_path, {'a.py': 'from .b import B\nA = 1\n', 'b.py': back_edge + 'B = 2\n'})
    assert cycles(import_graph(package)) == [['pkg.a', 'pkg.b']]


def test_the_guard_sees_a_cycle_through_a_package_and_two_dots(tmp_path: Path) -> None:
    package = write_package(
        tmp_path,
        {
            'sub/__init__.py': 'from .c import C\n',
            'sub/c.py': 'from ..a import A\nC = 3\n',
            'a.py': 'from .sub import C\n',
        },
    )
    assert cycles(import_graph(package)) == [['pkg.a', 'pkg.sub', 'pkg.sub.c']]


def test_the_guard_sees_a_module_importing_its_own_package_init(tmp_path: Path) -> None:
    package = write_package(tmp_path, {'__init__.py': 'from .a import A\n', 'a.py': 'from pkg import VERSION\nA = 1\n'})
    assert cycles(import_graph(package)) == [['pkg', 'pkg.a']]


def test_the_guard_accepts_imports_that_all_point_down(tmp_path: Path) -> None:
    package = write_package(
        tmp_path,
        {
            '__init__.py': 'from .top import T\n',
            'top.py': 'from . import middle\nfrom .sub import c\nT = 0\n',
            'middle.py': (
                'import pkg.bottom\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .bottom import B\n'
            ),
            'bottom.py': 'import json\nB = 1\n',
            'sub/c.py': 'from .. import bottom\n',
        },
    )
    assert cycles(import_graph(package)) == []


def test_the_guard_sees_a_long_module(tmp_path: Path) -> None:
    package = write_package(tmp_path, {'long.py': 'x = 1\n' * 501, 'short.py': 'x = 1\n' * 500})
    assert long_modules(package) == {'pkg.long': 501}
