"""User parcels (街坊/地块) as blocks: every parcel kept however small, every unused one named."""

from __future__ import annotations

import dataclasses
import json
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine

import toolkit as tk
from toolkit.blocks import user_blocks
from toolkit.config import Source
from toolkit.io import DataWarning
from toolkit.population import population_per_block

CRS = "EPSG:32651"
CELL = 10.0
SMALL_H = (10.0, 20.0, 24.0, 6.0)   # row heights of the small parcels (20 m wide): 200, 400, 480, 120 m2
LARGE_W = (30.0, 50.0, 70.0, 50.0)  # column widths of the large parcels (80 m tall): 2400 to 5600 m2
SMALL_TOP = 5 * sum(SMALL_H)        # 20 rows of small parcels: 300 m
TOP = SMALL_TOP + 15 * 80.0         # then 15 rows of large ones: 1500 m


def parcels_260(x0: float, y0: float) -> gpd.GeoDataFrame:
    """A 200 x 1500 m strip tiled by 200 parcels under 500 m2 (south) and 60 larger ones (north)."""
    geoms = []
    y = y0
    for r in range(20):
        h = SMALL_H[r % 4]
        geoms += [shapely.box(x0 + 20.0 * c, y, x0 + 20.0 * (c + 1), y + h) for c in range(10)]
        y += h
    for _ in range(15):
        x = x0
        for w in LARGE_W:
            geoms.append(shapely.box(x, y, x + w, y + 80.0))
            x += w
        y += 80.0
    return gpd.GeoDataFrame({"code": [f"P{i:03d}" for i in range(1, 261)]}, geometry=geoms, crs=CRS)


def test_all_260_parcels_kept_and_the_unused_ones_named():
    x0, y0 = 350_000.0, 3_450_000.0
    parcels = parcels_260(x0, y0)
    assert (parcels.area < 500).sum() == 200
    area = shapely.box(x0 - 10, y0 - 10, x0 + 210, y0 + TOP + 10)
    extra = gpd.GeoDataFrame({"code": ["OUT", "EDGE", "NONE"]}, crs=CRS, geometry=[
        shapely.box(x0 + 5000, y0, x0 + 5050, y0 + 50),        # far outside the area
        shapely.box(x0 + 210, y0, x0 + 260, y0 + 50),          # shares only an edge with the area
        None,                                                 # no geometry
    ])
    layer = gpd.GeoDataFrame(pd.concat([parcels, extra], ignore_index=True), crs=CRS)
    with pytest.warns(DataWarning, match=r"3 of 263 parcels not used as blocks \(no geometry: 1 \(NONE\); "
                                         r"outside the area: 1 \(OUT\); not a polygon in the area: 1 \(EDGE\)\)"):
        blocks = user_blocks(layer, area, id_field="code")
    assert len(blocks) == 260
    assert blocks["block_id"].tolist() == parcels["code"].tolist()
    assert (blocks["area_m2"] < 500).sum() == 200
    assert blocks.attrs["unused"] == {"count": 3, "ids": ["OUT", "EDGE", "NONE"],
                                      "by_reason": {"no geometry": ["NONE"], "outside the area": ["OUT"],
                                                    "not a polygon in the area": ["EDGE"]}}
    json.dumps(blocks.attrs["unused"])  # goes to run.json as it is


def test_population_of_small_parcels_is_kept(tmp_path):
    """A raster over exactly the 260 parcels: every person lands in a parcel, the small ones' too."""
    x0, y0 = 350_000.0, 3_450_000.0
    parcels = parcels_260(x0, y0)
    rng = np.random.default_rng(7)
    n_rows, n_cols = int(TOP / CELL), int(200 / CELL)
    people = rng.integers(0, 40, size=(n_rows, n_cols)).astype("float32")
    tif = tmp_path / "people.tif"
    with rasterio.open(tif, "w", driver="GTiff", height=n_rows, width=n_cols, count=1, dtype="float32", crs=CRS,
                       transform=Affine(CELL, 0.0, x0, 0.0, -CELL, y0 + TOP)) as dst:
        dst.write(people, 1)
    area = shapely.box(x0, y0, x0 + 200, y0 + TOP)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # nothing is dropped, nothing to warn about
        blocks = user_blocks(parcels, area, id_field="code")
    assert blocks.attrs["unused"]["count"] == 0
    pop, _ = population_per_block(blocks, area, {"population": tif})
    assert pop["population"].sum() == pytest.approx(float(people.sum()), rel=1e-9)
    # the small parcels fill the southern 300 m: the raster's last 30 rows (north-up)
    small = (blocks["area_m2"] < 500).to_numpy()
    assert pop["population"].to_numpy()[small].sum() == pytest.approx(float(people[-int(SMALL_TOP / CELL):].sum()),
                                                                       rel=1e-9)


@pytest.mark.slow
def test_study_with_parcels_reports_the_unused_one(xuhui_study, tmp_path):
    """The default study on 260 parcels + one outside the district: 260 blocks, the outsider in run.json and notes."""
    from toolkit.study import analysis_crs, study_area

    area_w = study_area(xuhui_study).geometry.iloc[0]
    crs = analysis_crs(xuhui_study, area_w)
    area_m = gpd.GeoSeries([area_w], crs=4326).to_crs(crs).iloc[0]
    c = shapely.get_coordinates(area_m.representative_point())[0]
    parcels = parcels_260(c[0] - 100, c[1] - TOP / 2).to_crs(crs)
    assert shapely.contains(area_m.buffer(-200), shapely.union_all(parcels.geometry.values))
    outside = gpd.GeoDataFrame({"code": ["FAR-1"]}, geometry=[shapely.box(c[0] + 50_000, c[1], c[0] + 50_100,
                                                                         c[1] + 100)], crs=crs)
    path = tmp_path / "parcels.gpkg"
    gpd.GeoDataFrame(pd.concat([parcels, outside], ignore_index=True), crs=crs).to_file(path)
    study = dataclasses.replace(xuhui_study, blocks=Source(path=str(path)), block_id_field="code")
    r = tk.run_study(study)
    assert len(r.blocks) == 260
    assert (r.blocks["area_m2"] < 500).sum() == 200
    unused = r.details["blocks"]["unused_parcels"]
    assert unused["count"] == 1 and unused["ids"] == ["FAR-1"]
    assert unused["by_reason"] == {"outside the area": ["FAR-1"]}
    json.dumps(r.details["blocks"])
    assert any("1 of 261 parcels not used as blocks (outside the area: 1 (FAR-1))" in n for n in r.notes)
    # the residents of the small parcels are counted in blocks, not "on streets/slivers"
    bal = r.population_balance["population"]
    assert r.blocks["population"].sum() == pytest.approx(bal["in_blocks"], abs=0.1)  # the balance is rounded
    assert (r.blocks.loc[r.blocks["area_m2"] < 500, "population"] > 0).all()

