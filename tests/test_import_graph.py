"""No import cycle inside toolkit/, at any level: module top and inside functions (#11).

The graph has an edge A -> B for every import of toolkit module B in module A,
wherever it sits: at the module's top, in a function, in a method. An import
inside a function is still a dependency; one that only dodges a cycle hides it.
Left out are the imports under ``if TYPE_CHECKING:``: they never run (every
module has ``from __future__ import annotations``, checked below), and they are
how the writers name ``StudyResult`` while :meth:`StudyResult.save` calls them.
Imports of other libraries (folium, matplotlib, osmnx inside functions, to
start fast) are not part of the graph.

With the graph acyclic, every import could sit at its module's top: the last
test does exactly that, in a copy of the package, and imports it.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import toolkit
from toolkit.datasets import data_dir

PACKAGE = Path(toolkit.__file__).resolve().parent


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    scope: str  # "top" or the function the import sits in

    def __str__(self) -> str:
        where = "at the top" if self.scope == "top" else f"in {self.scope}()"
        return f"{self.source} -> {self.target} (line {self.line}, {where})"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _modules(package: Path) -> dict[str, Path]:
    """Module name (``toolkit.config``; ``toolkit`` for the package's ``__init__``) to file."""
    name = package.name
    return {(name if p.stem == "__init__" else f"{name}.{p.stem}"): p for p in sorted(package.glob("*.py"))}


def _walk(node: ast.AST, scope: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import under ``node`` with the function it sits in, skipping ``if TYPE_CHECKING:`` blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for sub in child.orelse:
                yield from _walk_one(sub, scope)
            continue
        yield from _walk_one(child, scope)


def _walk_one(node: ast.AST, scope: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, scope
        return
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        scope = node.name if scope == "top" else f"{scope}.{node.name}"
    yield from _walk(node, scope)


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str],
             root: str) -> list[str]:
    """The toolkit modules an import loads (none for other libraries)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
        return [n for n in names if n in known]
    if node.level:
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, node.module] if node.module else parts)
    else:
        base = node.module or ""
    if base.split(".")[0] != root:
        return []
    out = []
    for a in node.names:  # `from . import webassets` loads a module; `from . import __version__` the package
        out.append(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return [t for t in dict.fromkeys(out) if t in known]


def import_graph(package: Path = PACKAGE) -> dict[str, list[Edge]]:
    """Module to its imports of other modules of ``package`` (any level, ``TYPE_CHECKING`` ones left out)."""
    mods = _modules(package)
    known = set(mods)
    graph: dict[str, list[Edge]] = {m: [] for m in mods}
    for m, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, scope in _walk(tree, "top"):
            for t in _targets(node, m, path.stem == "__init__", known, package.name):
                if t != m:
                    graph[m].append(Edge(m, t, node.lineno, scope))
    return graph


def cycles(graph: dict[str, list[Edge]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted({e.target for e in graph[start]})))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted({e.target for e in graph[w]}))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out)


def describe(graph: dict[str, list[Edge]], comps: list[list[str]]) -> str:
    lines = []
    for comp in comps:
        lines.append("cycle: " + " <-> ".join(comp))
        members = set(comp)
        lines += [f"    {e}" for m in comp for e in graph[m] if e.target in members]
    return "\n".join(lines)


# ------------------------------------------------------------------ the checker itself
def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    for name, text in files.items():
        (pkg / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return pkg


def test_the_checker_sees_imports_inside_functions_but_not_type_checking_ones(tmp_path):
    pkg = _package(tmp_path, {
        "__init__.py": "__version__ = '1'\n",
        "a.py": "from . import b\n",
        "b.py": "def f():\n    from .a import x\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n"
                "from . import __version__\n",
        "d.py": "import os\nfrom .c import y\nclass K:\n    def m(self):\n        from pkg.d import z\n",
    })
    g = import_graph(pkg)
    assert cycles(g) == [["pkg.a", "pkg.b"]]
    assert [str(e) for e in g["pkg.b"]] == ["pkg.b -> pkg.a (line 2, in f())"]
    assert [e.target for e in g["pkg.c"]] == ["pkg"]  # the TYPE_CHECKING import is not an edge
    assert [e.target for e in g["pkg.d"]] == ["pkg.c"]  # nor one of itself, nor os
    assert "pkg.a <-> pkg.b" in describe(g, cycles(g))


# ------------------------------------------------------------------ the toolkit
def test_no_import_cycle_in_toolkit():
    g = import_graph()
    assert len(g) > 30 and any(e.scope != "top" for es in g.values() for e in es)
    found = cycles(g)
    assert not found, "import cycles in toolkit/ (any level; TYPE_CHECKING imports left out):\n" + describe(g, found)


def test_every_module_postpones_annotations():
    # what makes the TYPE_CHECKING imports safe to leave out: annotations are never evaluated at import
    missing = [p.name for p in PACKAGE.glob("*.py")
               if "TYPE_CHECKING" in p.read_text(encoding="utf-8")
               and "from __future__ import annotations" not in p.read_text(encoding="utf-8")]
    assert not missing


def test_the_seams_of_issue_11():
    g = import_graph()

    def deps(m: str) -> set[str]:
        return {e.target.removeprefix("toolkit.") for e in g[f"toolkit.{m}"]}

    # configuration below analysis: the sources and overlay configs import neither config nor the analyses
    assert deps("sources") <= {"datasets", "errors"}
    assert deps("overlay_config") <= {"errors", "sources"}
    assert "config" not in deps("heritage") | deps("waterfront") | deps("compounds") | deps("study_schema")
    # the result and its record: the writers read them and import neither the pipeline nor each other's users
    assert "study" not in deps("result") | deps("record") | deps("export") | deps("report")
    assert deps("record") <= {"toolkit"}
    assert "export" not in deps("report")


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("order", [("config", "heritage"), ("heritage", "config")])
def test_config_and_heritage_import_in_either_order(order):
    code = f"import toolkit.{order[0]}, toolkit.{order[1]}; print('ok')"
    r = _python(code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def _hoisted_copy(dest: Path) -> Path:
    """A copy of the package in which every toolkit import below a module's top is also made at its top."""
    pkg = dest / "toolkit"
    pkg.mkdir(parents=True)
    mods = _modules(PACKAGE)
    n = 0
    for m, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inner = [node for node, scope in _walk(tree, "top")
                 if scope != "top" and _targets(node, m, path.stem == "__init__", set(mods), "toolkit")]
        # after the docstring and the __future__ import, before everything else
        at = next((i for i, s in enumerate(tree.body) if not (
            (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
            or (isinstance(s, ast.ImportFrom) and s.module == "__future__"))), len(tree.body))
        tree.body[at:at] = inner
        n += len(inner)
        (pkg / path.name).write_text(ast.unparse(ast.fix_missing_locations(tree)), encoding="utf-8")
    (pkg / "data").symlink_to(data_dir(), target_is_directory=True)
    assert n > 20, f"only {n} imports inside functions to move"
    return dest


@pytest.fixture(scope="module")
def hoisted(tmp_path_factory) -> Path:
    dest = _hoisted_copy(tmp_path_factory.mktemp("hoisted"))
    yield dest
    shutil.rmtree(dest, ignore_errors=True)


def test_every_import_could_sit_at_its_module_top(hoisted):
    """The acceptance of #11: with all of them at the top, config and heritage import in either order, and so
    does every module."""
    code = textwrap.dedent("""
        import importlib, pathlib
        import toolkit
        assert pathlib.Path(toolkit.__file__).parent == pathlib.Path({pkg!r}), toolkit.__file__
        first, second = {order!r}
        importlib.import_module("toolkit." + first)
        importlib.import_module("toolkit." + second)
        if {every!r}:
            for p in sorted(pathlib.Path({pkg!r}).glob("*.py")):
                if p.stem != "__init__":
                    importlib.import_module("toolkit." + p.stem)
        print("ok")
    """)
    pkg = str(hoisted / "toolkit")
    # both orders at once, each in a fresh interpreter (`python -c` finds the copy first from its folder)
    runs = [subprocess.Popen([sys.executable, "-c", code.format(pkg=pkg, order=order, every=every)], cwd=hoisted,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for order, every in ((("config", "heritage"), False), (("heritage", "config"), True))]
    for r in runs:
        out, err = r.communicate(timeout=300)
        assert r.returncode == 0 and out.strip() == "ok", err[-3000:]


# --- the outputs moved to toolkit.outputs; the old paths stay for one release and warn on use
@pytest.mark.parametrize("old, name, new", [
    ("toolkit.maps", "coverage_map", "toolkit.outputs.webmap"),
    ("toolkit.webassets", "offline_figure", "toolkit.outputs.webassets"),
    ("toolkit.styles", "default_styles", "toolkit.outputs.styles"),
    ("toolkit.export", "write_outputs", "toolkit.outputs.writers"),
    ("toolkit.report", "html_report", "toolkit.outputs.report"),
    ("toolkit.report", "write_schema", "toolkit.outputs.schema"),
    ("toolkit.report", "static_maps", "toolkit.outputs.static"),
])
def test_old_output_paths_warn_and_give_the_same_object(old, name, new):
    import importlib
    import warnings

    old_mod = importlib.import_module(old)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = getattr(old_mod, name)
    assert got is getattr(importlib.import_module(new), name)
    assert [w.category for w in caught] == [FutureWarning]
    assert new in str(caught[0].message)


def test_internal_code_never_uses_the_old_output_paths():
    import re

    mods = "maps|report|styles|export|webassets"
    old = re.compile(rf"from \.({mods}) import|toolkit\.({mods})\b")
    shims = {"maps.py", "report.py", "styles.py", "export.py", "webassets.py", "_deprecated.py"}
    bad = []
    for p in PACKAGE.rglob("*.py"):
        code = re.sub(r'""".*?"""', "", p.read_text(), flags=re.S)  # docstrings may name the old paths
        if p.parent != PACKAGE:  # inside toolkit/outputs, `from .styles import` is the new module
            code = re.sub(r"from \.\w+ import", "", code)
        if not (p.parent == PACKAGE and p.name in shims) and (m := old.search(code)):
            bad.append(f"{p.relative_to(PACKAGE.parent)}: {m.group(0)}")
    assert bad == []

