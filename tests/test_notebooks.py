"""The tutorial notebooks run top to bottom on the shared data, and are committed clean.

Each notebook is executed with nbclient in a kernel of the interpreter running the tests (so it sees the
toolkit installed here, whatever kernelspecs the machine has), with ``notebooks/`` as working directory.
A notebook may write under ``maps/`` (gitignored) or the system temp directory, nowhere else in the checkout.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {
    "01_quickstart",
    "02_coverage_and_standards",
    "03_heritage_walkability_waterfront",
    "04_sites_and_selection",
    "05_bring_your_own_data",
}
CELL_TIMEOUT_S = 300
KERNEL_NAME = "toolkit-tests"
# Not looked at when checking what a run left behind: tooling and caches, and maps/ where outputs belong.
UNWATCHED = {".git", ".venv", "maps", "__pycache__", ".pytest_cache", ".ruff_cache", "node_modules"}
# A string literal starting with "/" or a drive letter: data must come through the registry, not a fixed path.
ABSOLUTE_PATH = re.compile(r"""["'](?:/[A-Za-z_.~]|[A-Za-z]:[\\/])""")


def _ids(path: Path) -> str:
    return path.stem


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime_ns) of every file outside the unwatched folders."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in UNWATCHED]
        for name in filenames:
            p = Path(dirpath) / name
            try:
                st = p.stat()
            except FileNotFoundError:  # removed while walking
                continue
            out[p.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory) -> Path:
    """A kernelspec for this very interpreter, so the kernel imports the toolkit under test."""
    d = tmp_path_factory.mktemp("kernels")
    spec = d / KERNEL_NAME
    spec.mkdir()
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (toolkit tests)",
        "language": "python",
    }))
    return d


def test_all_notebooks_present():
    assert EXPECTED <= {p.stem for p in NOTEBOOKS}, f"missing: {sorted(EXPECTED - {p.stem for p in NOTEBOOKS})}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_is_committed_clean(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "kernelspec should be python3"
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    assert code, "a notebook without code cells"
    dirty = [i for i, c in code if c.get("outputs") or c.get("execution_count") is not None]
    assert not dirty, f"cells {dirty} carry outputs or execution counts: clear them before committing"
    absolute = [i for i, c in code if ABSOLUTE_PATH.search(c.source)]
    assert not absolute, f"cells {absolute} hard-code an absolute path: resolve data through the registry"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_runs(path: Path, kernel_dir: Path, record_property):
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]))
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    # Figures are drawn as in Jupyter (inline backend) rather than the tests' Agg, so drawing errors show up.
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    before = _files(ROOT)
    t0 = time.perf_counter()
    client.execute(env=env)
    record_property("seconds", round(time.perf_counter() - t0, 1))
    after = _files(ROOT)
    created = sorted(set(after) - set(before))
    assert not created, f"the notebook left files in the checkout outside maps/: {created}"
    changed = sorted(p for p in before.keys() & after.keys()
                     if p.startswith("notebooks/") and before[p] != after[p])
    assert not changed, f"the notebook changed files in notebooks/: {changed}"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    # each tutorial shows a live map (result.explore): an HTML output carrying its own Leaflet, so it
    # renders in a notebook without internet
    maps = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if "leaflet/dist/leaflet.js" in str(o.get("data", {}).get("text/html", ""))]
    assert maps, "no live map in the notebook's outputs"
    assert not any("unpkg.com" in str(o["data"]["text/html"]) or "cdn.jsdelivr" in str(o["data"]["text/html"])
                   for o in maps)
