"""Population per block: totals preserved against an independent computation."""

from __future__ import annotations

import numpy as np
import rasterio
import shapely

from toolkit.datasets import fetch


def _raster_total_inside(path, area_wgs84) -> float:
    """People in the area: each cell's value times the share of its area inside (in degrees, cell by cell)."""
    with rasterio.open(path) as src:
        arr = src.read(1).astype(float)
        t = src.transform
    arr[~np.isfinite(arr) | (arr < 0)] = 0
    total = 0.0
    shapely.prepare(area_wgs84)
    for r, c in zip(*np.nonzero(arr), strict=True):
        x0, y0 = t @ (c, r)
        x1, y1 = t @ (c + 1, r + 1)
        cell = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        if not area_wgs84.intersects(cell):
            continue
        total += arr[r, c] * cell.intersection(area_wgs84).area / cell.area
    return total


def test_population_preserved(xuhui):
    area_w = xuhui.area.to_crs("EPSG:4326").geometry.iloc[0]
    for col, ds in (("population", "pop_total"), ("pop_65plus", "pop_65plus")):
        expected = _raster_total_inside(fetch(ds), area_w)
        in_blocks = xuhui.blocks[col].sum()
        outside = xuhui.population_balance[col]["outside_blocks"]
        assert abs(in_blocks + outside - expected) / expected < 0.005
        # blocks hold nearly everyone: only street slivers and tiny islands are outside
        assert outside / expected < 0.01


def test_xuhui_population_is_plausible(xuhui):
    # Xuhui had 1,113,078 residents in the 2020 census; the clipped study area is 52 of 55 km2.
    total = xuhui.blocks["population"].sum()
    assert 950_000 < total < 1_150_000
    share_65 = xuhui.blocks["pop_65plus"].sum() / total
    assert 0.15 < share_65 < 0.25


def test_empty_blocks_have_zero_people_not_nan(xuhui):
    assert not xuhui.blocks["population"].isna().any()
    assert (xuhui.blocks["population"] >= 0).all()


def test_population_from_points_and_polygons(xuhui, tmp_path):
    """A table of counts: points go to their block, polygons split by area; totals kept."""
    import geopandas as gpd

    from toolkit.population import population_from_layer

    blocks = xuhui.blocks.iloc[:50]
    pts = blocks.geometry.representative_point()
    layer = gpd.GeoDataFrame({"pop": np.arange(50, dtype=float)}, geometry=pts.values, crs=blocks.crs)
    per, bal = population_from_layer(blocks, layer, "pop")
    assert np.allclose(per, np.arange(50))
    assert bal["outside_blocks"] == 0
    # a polygon straddling two blocks is split by area share
    two = blocks.iloc[:2]
    poly = gpd.GeoDataFrame({"pop": [100.0]}, geometry=[two.union_all().envelope], crs=blocks.crs)
    per2, _ = population_from_layer(two, poly, "pop")
    env = poly.geometry.iloc[0]
    expected = 100 * two.geometry.intersection(env).area.to_numpy() / env.area
    assert np.allclose(per2, expected)


def test_population_layer_bad_values(xuhui):
    import geopandas as gpd
    import pytest

    from toolkit.errors import InputError
    from toolkit.population import population_from_layer

    blocks = xuhui.blocks.iloc[:3]
    layer = gpd.GeoDataFrame({"pop": [1.0, None, -2.0]}, geometry=blocks.geometry.representative_point().values,
                             crs=blocks.crs)
    with pytest.raises(InputError, match=r"missing or negative values \(rows 1, 2\)"):
        population_from_layer(blocks, layer, "pop", source="census.gpkg")
    with pytest.raises(InputError, match="column 'people' not found"):
        population_from_layer(blocks, layer, "people")
