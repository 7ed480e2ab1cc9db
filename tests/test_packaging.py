"""Packaging: environment.yml and pyproject.toml list the same dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


#: PyPI name -> conda-forge name(s) where they differ (checked on anaconda.org/conda-forge, 2026-12):
#: pyosmium is the libosmium binding's conda-forge name; conda-forge's "playwright" is the Node.js tool and the
#: Python package is "playwright-python"; pip's dask[distributed] is two conda packages.
PYPI_TO_CONDA: dict[str, tuple[str, ...]] = {
    "osmium": ("pyosmium",),
    "playwright": ("playwright-python",),
    "dask": ("dask", "distributed"),
}
#: in environment.yml only: Node.js/npm installs the pinned map packages that `make vendor` and
#: tests/test_webassets_vendor.py compare with the shipped copy (maps themselves need no npm)
CONDA_ONLY = {"nodejs"}
#: names pip knows but conda-forge spells otherwise and must never appear in environment.yml
WRONG_ON_CONDA = {"osmium", "playwright"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _spec(req: str) -> str:
    req = re.sub(r"\[.*?\]", "", req.split(";")[0]).strip()
    return req[len(_name(req)):].strip()


def _environment() -> dict[str, str]:
    env: dict[str, str] = {}
    in_deps = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        m = re.match(r"^  - ([A-Za-z0-9_.\-]+)\s*([<>=!~][^#]*)?", line)
        if in_deps and m:
            env[m.group(1).lower()] = (m.group(2) or "").strip()
    env.pop("python", None)
    env.pop("pip", None)
    return env


def test_environment_yml_names_are_conda_forge_names_of_every_pyproject_dependency():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted: dict[str, str] = {}
    for req in [*py["dependencies"], *py["optional-dependencies"]["dev"]]:
        for conda in PYPI_TO_CONDA.get(_name(req), (_name(req),)):
            wanted[conda] = _spec(req)
    env = _environment()
    wrong = WRONG_ON_CONDA & set(env)
    assert not wrong, f"PyPI names that mean something else on conda-forge: {wrong}"
    assert set(env) - CONDA_ONLY == set(wanted), (sorted(set(wanted) - set(env)), sorted(set(env) - set(wanted)))
    assert {k: env[k] for k in wanted} == wanted, "version specifiers differ between pyproject.toml and environment.yml"
    assert CONDA_ONLY <= set(env)


def test_readme_gives_the_conda_route():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    name = re.search(r"^name:\s*(\S+)", (ROOT / "environment.yml").read_text(), re.M).group(1)
    assert "conda env create -f environment.yml" in readme and f"conda activate {name}" in readme


def test_layout_from_design_card():
    for d in ("toolkit", "data", "notebooks", "maps", "tests"):
        assert (ROOT / d).is_dir(), d
    assert (ROOT / "environment.yml").is_file()


def test_readme_first_lines_give_the_two_commands():
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:15])
    assert "make demo" in head and "make test" in head
    assert "make test" in (ROOT / ".ci" / "run").read_text()
