"""`clip_to_data` (the default) with every population source the README documents.

A synthetic district: a street grid written as OSM XML and residents given as
points or polygons with a count, or as a raster. The reference totals are the
counts written here, summed with pandas.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from osm_synth import X0, Y0, OsmWriter
from rasterio.transform import from_origin

import toolkit as tk
from toolkit.errors import InputError

TO_WGS = pyproj.Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)


def _grid(tmp_path, n=6, step=150.0):
    w = OsmWriter()
    ids = [[w.node(i * step, j * step) for j in range(n)] for i in range(n)]
    for i in range(n):
        w.way([ids[i][j] for j in range(n)], highway="residential")
        w.way([ids[j][i] for j in range(n)], highway="residential")
    return w.write_xml(tmp_path / "grid.osm")


def _study(tmp_path, population: str) -> tk.Study:
    x0, y0 = TO_WGS.transform(X0 + 20, Y0 + 20)
    x1, y1 = TO_WGS.transform(X0 + 730, Y0 + 730)
    _grid(tmp_path)
    (tmp_path / "s.toml").write_text(f"""
[study]
name = "clip"
[area]
bbox = [{x0}, {y0}, {x1}, {y1}]
[network]
source = {{ path = "grid.osm" }}
[population]
{population}
[output]
map = false
""", encoding="utf-8")
    return tk.load_study(tmp_path / "s.toml")


def _points(tmp_path, rng):
    xy = rng.uniform(60, 690, (400, 2))
    pop = rng.integers(1, 50, 400)
    g = gpd.GeoDataFrame({"pop": pop}, geometry=gpd.points_from_xy(X0 + xy[:, 0], Y0 + xy[:, 1]), crs="EPSG:32651")
    g.to_crs("EPSG:4326").to_file(tmp_path / "people.geojson")
    return float(pop.sum())


def test_point_layer(tmp_path):
    total = _points(tmp_path, np.random.default_rng(1))
    r = tk.run_study(_study(tmp_path, 'population = { path = "people.geojson", field = "pop" }'))
    got = r.blocks["population"].sum() + r.population_balance["population"].get("outside_blocks", 0.0)
    assert got == pytest.approx(total, abs=0.1)  # the balance is rounded to 0.1 person
    # the points lie inside the bbox, so the area is clipped to their hull (and the streets')
    assert r.details["area_km2"] < r.details["area_km2_before_clip"]


def test_polygon_layer(tmp_path):
    rng = np.random.default_rng(2)
    cells = [shapely.box(X0 + x, Y0 + y, X0 + x + 50, Y0 + y + 50)
             for x in range(100, 600, 50) for y in range(100, 600, 50)]
    pop = rng.integers(0, 100, len(cells))
    gpd.GeoDataFrame({"n": pop}, geometry=cells, crs="EPSG:32651").to_file(tmp_path / "cells.gpkg")
    r = tk.run_study(_study(tmp_path, 'population = { path = "cells.gpkg", field = "n" }'))
    got = r.blocks["population"].sum() + r.population_balance["population"].get("outside_blocks", 0.0)
    assert got == pytest.approx(float(pop.sum()), abs=0.1)  # the balance is rounded to 0.1 person


def _raster(path, crs):
    lon0, lat0 = TO_WGS.transform(X0, Y0 + 800)
    data = np.ones((10, 10), dtype="float32")
    with rasterio.open(path, "w", driver="GTiff", height=10, width=10, count=1, dtype="float32", crs=crs,
                       transform=from_origin(lon0, lat0, 0.001, 0.001)) as dst:
        dst.write(data, 1)


def test_raster(tmp_path):
    _raster(tmp_path / "pop.tif", "EPSG:4326")
    r = tk.run_study(_study(tmp_path, 'population = { path = "pop.tif" }'))
    assert r.blocks["population"].sum() > 0


def test_raster_without_crs_names_the_file(tmp_path):
    _raster(tmp_path / "nocrs.tif", None)
    with pytest.raises(InputError) as e:
        tk.run_study(_study(tmp_path, 'population = { path = "nocrs.tif" }'))
    assert "nocrs.tif" in str(e.value) and "coordinate reference system" in str(e.value)


def test_all_nodata_raster_is_an_error_naming_the_file(tmp_path):
    lon0, lat0 = TO_WGS.transform(X0, Y0 + 800)
    with rasterio.open(tmp_path / "empty.tif", "w", driver="GTiff", height=10, width=10, count=1, dtype="float32",
                       crs="EPSG:4326", nodata=-1.0, transform=from_origin(lon0, lat0, 0.001, 0.001)) as dst:
        dst.write(np.full((10, 10), -1.0, dtype="float32"), 1)
    with pytest.raises(InputError) as e:
        tk.run_study(_study(tmp_path, 'population = { path = "empty.tif" }'))
    assert "empty.tif" in str(e.value) and "no residents" in str(e.value) and e.value.fix


def test_far_rows_and_a_cut_network_are_reported(tmp_path):
    """Rows at (0, 0) or with a latitude of 3.12 are counted and named; an area twice the network's is said."""
    _raster(tmp_path / "pop.tif", "EPSG:4326")
    lon, lat = TO_WGS.transform(X0 + 300, Y0 + 300)
    (tmp_path / "fac.csv").write_text(f"name,lon,lat\na,{lon},{lat}\nzero,0,0\ntypo,{lon},3.12\n", encoding="utf-8")
    _study(tmp_path, 'population = { path = "pop.tif" }')
    x0, y0 = TO_WGS.transform(X0 + 20, Y0 + 20)
    x1, y1 = TO_WGS.transform(X0 + 1400, Y0 + 1400)  # the street grid covers 750 m of these 1,400 m
    text = (tmp_path / "s.toml").read_text(encoding="utf-8")
    text = text.replace(text[text.index("bbox = "):text.index("\n", text.index("bbox = "))],
                        f"bbox = [{x0}, {y0}, {x1}, {y1}]\nclip_to_data = false")
    text += '\n[[facilities]]\nsource = { path = "fac.csv" }\nkind = "fixed"\ncategory = "pharmacy"\n'
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    r = tk.run_study(tk.load_study(tmp_path / "s.toml"))  # data warnings become the run's notes
    far = [m for m in r.notes if "km from the study area" in m]
    assert len(far) == 1 and "fac.csv: 2 rows" in far[0] and "(0.0000, 0.0000)" in far[0]
    cut = [m for m in r.notes if "cover only" in m]
    assert len(cut) == 1 and "grid.osm" in cut[0]
