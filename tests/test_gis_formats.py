"""Outputs a GIS analyst opens as they are (#13 item 7): typed CSV in its CRS, no-data visible, no colour reused.

The CSV check reads the files back with GDAL's CSV driver (through pyogrio), the reader QGIS uses,
which knows nothing of how they were written: it must find the geometry, the CRS and the column
types from the ``.csvt`` and ``.prj`` sidecars alone.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from toolkit.outputs.writers import write_csv


@pytest.fixture()
def layers():
    poly = gpd.GeoDataFrame({"block_id": [1, 2], "share": [0.5, np.nan], "name": ["甲街坊", "乙"],
                             "ok": [True, False]},
                            geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)], crs="EPSG:32651")
    pts = gpd.GeoDataFrame({"fid": [1, 2], "cat": ["a", "b"]},
                           geometry=[shapely.Point(350000, 3450000), shapely.Point(351000, 3451000)],
                           crs="EPSG:32651")
    return {"poly": poly, "pts": pts}


def test_csv_opens_in_gdal_with_its_geometry_crs_and_types(layers, tmp_path):
    for name, gdf in layers.items():
        path = write_csv(gdf, tmp_path / f"{name}.csv")
        assert path.with_suffix(".csvt").is_file() and path.with_suffix(".prj").is_file()
        back = pyogrio.read_dataframe(path)
        assert back.crs is not None and back.crs.to_epsg() == 32651
        assert shapely.equals(np.asarray(back.geometry.values), np.asarray(gdf.geometry.values)).all()
        for col in gdf.columns.drop("geometry"):
            if gdf[col].dtype.kind in "if":
                assert back[col].dtype.kind == gdf[col].dtype.kind, col
                np.testing.assert_allclose(back[col].to_numpy(float), gdf[col].to_numpy(float))
    assert list(pyogrio.read_dataframe(tmp_path / "poly.csv")["name"]) == ["甲街坊", "乙"]
