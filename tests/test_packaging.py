"""Packaging: environment.yml and pyproject.toml list the same dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in py["dependencies"]} | {_name(r) for r in py["optional-dependencies"]["dev"]}
    env = set()
    in_deps = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        m = re.match(r"^  - ([A-Za-z0-9_.\-]+)", line)
        if in_deps and m:
            env.add(_name(m.group(1)))
    env -= {"python", "pip"}
    # conda splits pip's dask[distributed] into dask + distributed
    if "dask" in wanted:
        wanted.add("distributed")
    assert env == wanted


def test_layout_from_design_card():
    for d in ("toolkit", "data", "notebooks", "maps", "tests"):
        assert (ROOT / d).is_dir(), d
    assert (ROOT / "environment.yml").is_file()


def test_readme_first_lines_give_the_two_commands():
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:15])
    assert "make demo" in head and "make test" in head
    assert "make test" in (ROOT / ".ci" / "run").read_text()
