"""``result.explore()``: a live map of any layer in a notebook, offline (#13 item 6).

The page a notebook shows (the folium map's HTML) is opened in headless Chromium from ``file://`` with
every other request aborted: Leaflet must load from the page itself and every feature of the layer be
drawn. Values from data are escaped. The study is the small synthetic grid (fast lane); the default
study's heritage and candidate-site layers are shown in the full lane.
"""

from __future__ import annotations

import os

import pytest
from test_browser import browser  # noqa: F401  (the fixture is used by name)
from test_run_json import _grid_study

import toolkit as tk
from toolkit.errors import InputError
from toolkit.outputs.explore import EXPLORE_CLASS


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tk.StudyResult:
    return tk.run_study(_grid_study(tmp_path_factory.mktemp("grid")))


def _drawn(ctx, m, tmp_path) -> tuple[int, list[str]]:
    path = tmp_path / "explore.html"
    m.save(str(path))
    page = ctx.new_page()
    errors: list[str] = []
    blocked: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    def route(r):
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.wait_for_function(f"document.querySelectorAll('.{EXPLORE_CLASS}').length > 0", timeout=30_000)
    n = page.locator(f".{EXPLORE_CLASS}").count()
    assert page.evaluate("typeof L === 'object'")
    page.close()
    return n, errors + blocked


@pytest.mark.slow  # Chromium
def test_explore_a_numeric_column_offline_every_block_drawn(grid, browser, tmp_path):  # noqa: F811
    m = grid.explore("blocks", "walk_index")
    page = m.get_root().render()
    assert 'data-asset="leaflet/dist/leaflet.js"' in page and "<script src=" not in page
    n, problems = _drawn(browser, m, tmp_path)
    assert n == int((~grid.blocks.geometry.is_empty).sum()) and problems == []


@pytest.mark.slow  # Chromium
def test_explore_streets_and_the_full_map(grid, browser, tmp_path):  # noqa: F811
    n, problems = _drawn(browser, grid.explore("streets", "length_m"), tmp_path)
    assert n == len(grid.streets) and problems == []
    assert type(grid.explore()).__name__ == "Map"  # no column on blocks: the study's whole map


def test_values_from_data_are_escaped(grid):
    g = grid.blocks.copy()
    g["name"] = "<img src=x onerror=alert(1)>"
    import dataclasses

    hostile = dataclasses.replace(grid, blocks=g)
    page = hostile.explore("blocks", "population").get_root().render()
    assert "<img src=x onerror" not in page
    assert "lt;img src=x onerror=alert(1)" in page  # escaped (then JSON-encoded) in the tooltip text


def test_an_unknown_layer_or_column_names_the_closest(grid):
    with pytest.raises(InputError, match="did you mean 'streets'"):
        grid.explore("street")
    with pytest.raises(InputError, match="did you mean 'walk_index'"):
        grid.explore("blocks", "walk_indx")


@pytest.mark.skipif(os.environ.get("TOOLKIT_SKIP_FULL") == "1", reason="full study")
def test_explore_layers_of_the_default_study(xuhui, browser, tmp_path):  # noqa: F811
    for layer, column in (("heritage", None), ("candidate_sites", "score"), ("facilities", "category")):
        gdf = xuhui.layers.get(layer) if layer != "facilities" else xuhui.facilities
        n, problems = _drawn(browser, xuhui.explore(layer, column), tmp_path)
        assert n == int((~gdf.geometry.isna() & ~gdf.geometry.is_empty).sum()) and problems == [], layer
