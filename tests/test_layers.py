"""lib's layers hold: no lib or jobs modules import each other in a loop, lib never
reaches up into jobs/, and the lower parts of lib import nothing from the parts built on
them. Read from the source with `ast`, so an import inside a function counts too: a lazy
import is still a dependency, only a later one."""

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

# (who, what it must not import, why): each a module or a package, by dotted name.
RULES = [
    (("lib",), ("jobs",), "jobs/ is the entry points over lib; the jobs table is lib's own"),
    (("lib.config",), ("lib.adapt", "lib.train", "lib.inference", "lib.sweep", "lib.metrics"),
     "the configs sit under every job: the jobs read them, not the other way round"),
    (("lib.data",), ("lib.train", "lib.adapt", "lib.sweep"),
     "data feeds training and sweeps, and knows neither"),
    (("lib.metrics",), ("lib.cluster", "lib.train", "lib.adapt"),
     "the metrics tables are written by training and read by reports: they know neither"),
    (("lib.train", "lib.adapt"), ("lib.sweep", "lib.inference", "lib.report"),
     "training is used by sweeps, inference and reports, never the reverse"),
]


def modules(root: Path) -> dict[str, Path]:
    """{dotted name: file} of every module under root's lib/ and jobs/; a package is its
    __init__.py."""
    found = {}
    for path in sorted([*(root / "lib").rglob("*.py"), *(root / "jobs").rglob("*.py")]):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(root: Path) -> dict[str, list[tuple[str, int, str]]]:
    """{module: [(file, line, imported module)]}: every import of a lib or jobs module,
    at the top or in a function, relative ones resolved. `from P import N` imports P.N
    when that is a module, else P."""
    known = modules(root)
    graph = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = graph[name] = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                           for a in node.names]
            else:
                continue
            for target in dict.fromkeys(targets):
                if target.split(".")[0] in ("lib", "jobs"):
                    edges.append((str(path.relative_to(root)), node.lineno, target))
        edges.sort(key=lambda edge: edge[1])
    return graph


def within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def forbidden(graph, who, banned) -> list[str]:
    return [f"{file}:{line} imports {target}" for module, edges in sorted(graph.items())
            if within(module, who) for file, line, target in edges if within(target, banned)]


def cycles(graph) -> list[str]:
    """Each loop of imports (a strongly connected component, Tarjan's algorithm) as its
    modules, then the imports that tie them, file:line."""
    index, low, stack, found = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for _, _, w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            ties = [f"{f}:{line} imports {w}" for m in sorted(component)
                    for f, line, w in graph[m] if w in component]
            if ties:
                found.append(f"{sorted(component)}: " + "; ".join(ties))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


GRAPH = imports(REPO)


def test_no_import_cycles():
    """A loop makes its modules one unit: none can be read, tested or moved alone, and
    which one Python finds half-initialised depends on who is imported first."""
    found = cycles(GRAPH)
    assert not found, "import cycles:\n" + "\n".join(found)


@pytest.mark.parametrize("who,banned,why", RULES, ids=[" ".join(r[0]) for r in RULES])
def test_a_layer_imports_nothing_built_on_it(who, banned, why):
    found = forbidden(GRAPH, who, banned)
    assert not found, f"{', '.join(who)} must not import {', '.join(banned)} ({why}):\n" + \
        "\n".join(found)


def test_the_checker_sees_a_planted_import_and_loop(tmp_path):
    """The rules are only as good as the reading: an import hidden in a function, a
    relative one and a `from package import submodule` each count."""
    files = {"lib/__init__.py": "", "jobs/__init__.py": "import lib.data.uri\n",
             "lib/data/uri.py": "def parse():\n    import jobs\n",
             "lib/a.py": "from lib import b\n", "lib/b.py": "from . import a\n"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = imports(tmp_path)
    assert forbidden(graph, ("lib",), ("jobs",)) == ["lib/data/uri.py:2 imports jobs"]
    assert cycles(graph) == [
        "['jobs', 'lib.data.uri']: jobs/__init__.py:1 imports lib.data.uri; "
        "lib/data/uri.py:2 imports jobs",
        "['lib.a', 'lib.b']: lib/a.py:1 imports lib.b; lib/b.py:1 imports lib.a"]
