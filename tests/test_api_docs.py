"""The public API's habits (issue #11 item 6): ``__all__`` in every module, and a numpy-style docstring with
an Examples section on every toolkit function, class and method the README and the notebooks use.

The list of used names is built from the README's text and code and the notebooks' code cells by parsing
them (imports from ``toolkit``, ``tk.<name>``, backticked ``toolkit.<module>.<name>`` references and the
method calls on the objects a notebook handles), so a newly used function without an example fails here.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import json
import pkgutil
import re
from pathlib import Path

import pytest

import toolkit

ROOT = Path(__file__).resolve().parents[1]
#: the deprecated shims re-export the new modules' names on import: no API of their own
SHIMS = {"toolkit.maps", "toolkit.report", "toolkit.styles", "toolkit.export", "toolkit.webassets"}
#: objects the notebooks hold without importing their class (a run's result, its profile, study, network,
#: a study's data sources): their methods called in the README or a notebook count as used
INSTANCE_CLASSES = ["toolkit.result:StudyResult", "toolkit.standards:Profile", "toolkit.config:Study",
                    "toolkit.network:WalkNetwork", "toolkit.sources:Source"]


def _modules() -> list[str]:
    names = ["toolkit"]
    for info in pkgutil.walk_packages(toolkit.__path__, "toolkit."):
        if info.name not in SHIMS:
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_every_module_declares_all_and_every_name_in_it_exists(name):
    """Every module of the package (the deprecated shims aside) lists its public names, and each exists."""
    mod = importlib.import_module(name)
    assert hasattr(mod, "__all__"), f"{name} has no __all__"
    exported = list(mod.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    missing = [n for n in exported if not hasattr(mod, n)]
    assert not missing, f"{name}.__all__ names what the module does not have: {missing}"
    private = [n for n in exported if n.startswith("_") and n != "__version__"]
    assert not private, f"{name}.__all__ exports private names: {private}"


def test_the_module_list_is_the_package():
    """The parametrised list above is not empty and holds the modules the issue names (a walk that found
    nothing would pass vacuously)."""
    found = set(_modules())
    for name in ("toolkit.batch", "toolkit.osm", "toolkit.study", "toolkit.outputs.static", "toolkit.standards"):
        assert name in found
    assert not found & SHIMS


# ------------------------------------------------------------------ what the README and notebooks use
def _texts() -> dict[str, tuple[str, str]]:
    """Each document's prose (the README, the notebooks' markdown cells) and its Python code."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    out = {"README.md": (readme, "\n".join(re.findall(r"```python\n(.*?)```", readme, re.S)))}
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        prose = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
        out[nb.name] = ("\n\n".join(prose), "\n\n".join(code))
    return out


def _parse(code: str) -> list[ast.AST]:
    """The statements of the code, cell by cell where the whole does not parse (IPython magics)."""
    try:
        return [ast.parse(code)]
    except SyntaxError:
        trees = []
        for chunk in code.split("\n\n"):
            try:
                trees.append(ast.parse(chunk))
            except SyntaxError:
                continue
        return trees


def _prose_refs(text: str) -> set[tuple[str, str]]:
    """Backticked ``toolkit.<module>.<name>`` references, and bare names after them in the same paragraph
    (the README lists ``toolkit.study.study_area``, ``load_network``, ... ): resolved against the modules
    named so far in that paragraph, the latest first."""
    refs = set()
    for para in re.split(r"\n\s*\n", text):
        mods: list[str] = []
        for tok in re.findall(r"`([A-Za-z_][\w.]*)`", para):
            if tok.startswith("toolkit."):
                mod, _, name = tok.rpartition(".")
                mods.append(mod)
                refs.add((mod, name))
            elif re.fullmatch(r"[a-z_]\w*", tok):
                for mod in reversed(mods):
                    try:
                        if hasattr(importlib.import_module(mod), tok):
                            refs.add((mod, tok))
                            break
                    except ImportError:
                        continue
    return refs


def _code_refs(code: str) -> tuple[set[tuple[str, str]], set[str]]:
    """``from toolkit... import x`` and ``tk.x`` references, and every method name called (``.m(``)."""
    refs, calls = set(), set()
    for tree in _parse(code):
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "toolkit":
                refs |= {(node.module, a.name) for a in node.names}
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "tk":
                refs.add(("toolkit", node.attr))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                calls.add(node.func.attr)
    return refs, calls


def _documentable(obj: object) -> bool:
    return inspect.isclass(obj) or inspect.isroutine(obj) or (callable(obj) and hasattr(obj, "__wrapped__"))


def used_api() -> dict[str, object]:
    """Qualified name -> object of every toolkit function, class and method the README and notebooks use."""
    refs: set[tuple[str, str]] = set()
    calls: set[str] = set()
    for prose, code in _texts().values():
        refs |= _prose_refs(prose)
        r, c = _code_refs(code)
        refs |= r
        calls |= c
    found: dict[str, object] = {}
    classes = []
    for mod, name in refs:
        try:
            obj = getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
        if not _documentable(obj) or not getattr(obj, "__module__", "").startswith("toolkit"):
            continue
        found[f"{obj.__module__}.{obj.__qualname__}"] = obj
        if inspect.isclass(obj):
            classes.append(obj)
    for spec in INSTANCE_CLASSES:
        mod, cls = spec.split(":")
        classes.append(getattr(importlib.import_module(mod), cls))
    for cls in classes:
        for meth in sorted(calls):
            if meth.startswith("_") or inspect.getattr_static(cls, meth, None) is None:
                continue
            obj = getattr(cls, meth)
            if callable(obj):
                found[f"{cls.__module__}.{cls.__qualname__}.{meth}"] = obj
    return found


def _sections(obj: object) -> set[str]:
    doc = inspect.getdoc(obj) or ""
    return set(re.findall(r"^(\w[\w ]*)\n-{3,}$", doc, re.M))


def test_the_used_list_holds_what_the_notebooks_call():
    """The parser finds names used each way (a broken parser would make the docstring test vacuous):
    ``tk.run_study``, a prose reference, a parenthesised multi-line import, a cached function and a method
    of the result."""
    api = used_api()
    for name in ("toolkit.study.run_study", "toolkit.config.load_study", "toolkit.selection.solve_exact",
                 "toolkit.study.load_facilities", "toolkit.heritage.review_interventions",
                 "toolkit.walkability.walkability_defaults", "toolkit.result.StudyResult.summary",
                 "toolkit.standards.Profile.rule", "toolkit.sites.SiteSettings.from_config"):
        assert name in api, name
    assert len(api) > 40


@pytest.mark.parametrize("name", sorted(used_api()))
def test_used_api_has_a_numpy_docstring_with_examples(name):
    """Every function, class and method the README or a notebook uses has a numpy-style docstring with an
    Examples section holding doctest lines, Parameters when it takes any and Returns when it returns a value."""
    obj = used_api()[name]
    doc = inspect.getdoc(obj) or ""
    sections = _sections(obj)
    assert "Examples" in sections, f"{name}: no Examples section"
    examples = doc.split("Examples\n--------", 1)[1]
    assert ">>> " in examples, f"{name}: the Examples section has no >>> line"
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        params = [p for p in inspect.signature(target).parameters.values()
                  if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if params and not inspect.isclass(obj):
        assert "Parameters" in sections, f"{name}: takes {[p.name for p in params]} but has no Parameters section"
    if not inspect.isclass(obj) and inspect.signature(inspect.unwrap(obj)).return_annotation not in ("None", None):
        assert "Returns" in sections, f"{name}: returns a value but has no Returns section"


@pytest.mark.parametrize("name", sorted(used_api()))
def test_used_api_examples_run(name):
    """The runnable examples of those docstrings give what they show (the ones needing a whole study run or
    a user's file are marked ``# doctest: +SKIP``)."""
    obj = used_api()[name]
    target = inspect.unwrap(obj)
    module = importlib.import_module(getattr(target, "__module__", None) or name.rsplit(".", 1)[0])
    tests = doctest.DocTestFinder(recurse=False).find(target, name, module=module, globs=dict(vars(module)))
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for t in tests:
        runner.run(t, out=report.append)
    assert tests and runner.failures == 0, "".join(report)
