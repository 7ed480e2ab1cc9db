"""A pip-installed toolkit, outside any checkout and with no npm, writes a map that renders offline (#13).

Stands for a planner who ran ``pip install urban-microrenewal-toolkit``: the wheel is built from
this checkout, installed into a fresh virtual environment in a temporary folder (its dependencies
reached through a ``.pth`` file to the development environment's site-packages, so nothing is
downloaded), and ``toolkit demo`` runs there with ``TOOLKIT_DATA`` pointing at the shared data,
``PATH`` holding no npm and the working directory outside the repository. The map is then opened
from ``file://`` in headless Chromium with every non-file request aborted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from test_browser import browser, open_map  # noqa: F401  (the fixture is used by name)

import toolkit
from toolkit.datasets import REPO_DIR
from toolkit.outputs import webassets

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(dist), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (whl,) = dist.glob("*.whl")
    return whl


def test_the_wheel_carries_the_maps_javascript_and_its_licences(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    need = {f"toolkit/outputs/vendor/{f}" for f in webassets.vendored_files(webassets.VENDOR)}
    assert need <= names, sorted(need - names)
    assert {"toolkit/outputs/vendor/leaflet/LICENSE", "toolkit/outputs/vendor/d3/LICENSE"} <= names
    assert not any("node_modules" in n for n in names)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies, without the development environment's editable toolkit: a plain path entry is
    # not a site directory, so its editable-install .pth is not run
    (site / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                        "-q", str(wheel)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and "no such option: --python" in r.stderr:  # pip < 22.3
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                            "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return venv


def _env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", webassets.ENV_VAR, "VIRTUAL_ENV")}
    env["PATH"] = str(venv / "bin")  # no npm, no node, no checkout tools
    data = REPO_DIR.parent / "shared" / "data"
    assert data.is_dir(), f"the shared data are expected beside the checkout: {data}"
    env["TOOLKIT_DATA"] = str(data)
    return env


def test_the_installed_toolkit_is_the_wheel_not_the_checkout(installed, tmp_path):
    env = _env(installed)
    assert shutil.which("npm", path=env["PATH"]) is None
    r = subprocess.run([str(installed / "bin" / "python"), "-c",
                        "import toolkit, toolkit.outputs.webassets as w; print(toolkit.__file__); "
                        "print(w.node_modules()); w.check()"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    pkg, assets = r.stdout.split()
    assert Path(pkg).is_relative_to(installed) and not Path(pkg).is_relative_to(Path(toolkit.__file__).parents[1])
    assert Path(assets).is_relative_to(installed)


def test_a_pip_installed_toolkit_writes_a_map_that_renders_offline(installed, browser, tmp_path):  # noqa: F811
    env = _env(installed)
    out = tmp_path / "out"
    r = subprocess.run([str(installed / "bin" / "toolkit"), "demo", "--out", str(out)], capture_output=True,
                       text=True, env=env, cwd=tmp_path, timeout=1200)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    html = out / "xuhui" / "map.html"
    assert html.is_file()
    text = html.read_text(encoding="utf-8")
    assert "https://cdn" not in text and "unpkg.com" not in text
    record = json.loads((out / "xuhui" / "run.json").read_text(encoding="utf-8"))
    n_blocks = record["blocks"]["count"] if isinstance(record.get("blocks"), dict) else None
    v = open_map(browser, html)
    assert v.page.evaluate("typeof L !== 'undefined' && typeof L.map === 'function'")
    drawn = v.page.evaluate("tk.state.drawn")  # the blocks drawn on the map's block canvas in its last frame
    import geopandas as gpd

    blocks = gpd.read_file(out / "xuhui" / "xuhui.gpkg", layer="blocks")
    assert drawn == len(blocks) and (n_blocks is None or n_blocks == len(blocks))
    assert v.blocked == [] and v.failed == [] and v.errors == [], (v.blocked[:3], v.failed[:3], v.errors[:3])
    shutil.rmtree(out, ignore_errors=True)  # its GeoPackage holds rows of the evaluation data
