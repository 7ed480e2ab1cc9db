"""Chinese datums and projection safety."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from toolkit.crs import (
    bd09_to_wgs84,
    ensure_projected,
    gcj02_to_wgs84,
    parse_crs,
    to_wgs84,
    utm_crs_for,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from toolkit.errors import GeographicCRSError, InputError
from toolkit.io import read_layer
from toolkit.network import WalkNetwork
from toolkit.snapping import snap_points


def test_gcj02_round_trip_and_offset():
    lon, lat = np.array([121.4365, 121.4900]), np.array([31.1880, 31.2400])
    glon, glat = wgs84_to_gcj02(lon, lat)
    back = gcj02_to_wgs84(glon, glat)
    assert np.allclose(back, (lon, lat), atol=1e-9)
    g = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(32651)
    h = gpd.GeoSeries(gpd.points_from_xy(glon, glat), crs=4326).to_crs(32651)
    shift = g.distance(h)
    assert ((shift > 400) & (shift < 700)).all()  # GCJ-02 moves central Shanghai by ~0.5 km


def test_bd09_round_trip():
    lon, lat = np.array([121.46869]), np.array([31.229605])
    w = bd09_to_wgs84(lon, lat)
    assert np.allclose(wgs84_to_bd09(*w), (lon, lat), atol=1e-9)


def test_hengfu_area_after_gcj02_conversion(shared):
    """衡山路-复兴路: 775 +/- 10 ha, and >= 40 of the 78 OSM protected compounds inside (about 30 unconverted)."""
    raw = gpd.read_file(shared / "fengmao_areas_gcj02.geojson")
    conv = read_layer(shared / "fengmao_areas_gcj02.geojson", crs="gcj02")
    pick = conv["title"] == "衡山路-复兴路"
    assert pick.sum() == 1
    hengfu = conv[pick].to_crs(32651).geometry.iloc[0]
    assert hengfu.area / 1e4 == pytest.approx(775, abs=10)
    her = gpd.read_file(shared / "heritage_osm.geojson")
    compounds = her[her["boundary"] == "protected_area"].to_crs(32651)
    assert len(compounds) == 78
    inside = compounds.representative_point().within(hengfu).sum()
    assert inside >= 40
    unconverted = raw[raw["title"] == "衡山路-复兴路"].set_crs(4326, allow_override=True).to_crs(32651).geometry.iloc[0]
    before = compounds.representative_point().within(unconverted).sum()
    assert 25 <= before <= 33 and before < inside


def test_bd09_buildings_land_on_osm(shared):
    """The BD-09 listed buildings, converted, fall inside Shanghai's central districts, not ~1 km off."""
    b = read_layer(shared / "excellent_historic_buildings_bd09.json", crs="bd09", lon="long", lat="lat",
                   records="data")
    assert len(b) == 1085
    hf = read_layer(shared / "fengmao_areas_gcj02.geojson", crs="gcj02").to_crs(32651)
    hengfu = hf[hf["title"] == "衡山路-复兴路"].geometry.iloc[0]
    raw = read_layer(shared / "excellent_historic_buildings_bd09.json", crs="EPSG:4326", lon="long", lat="lat",
                     records="data").to_crs(32651)
    assert b.to_crs(32651).within(hengfu).sum() > raw.within(hengfu).sum()


def test_unknown_crs_name_is_a_clear_error():
    with pytest.raises(InputError, match="unknown CRS 'gcj2'") as e:
        parse_crs("gcj2", source="pois.csv")
    assert "gcj02" in str(e.value) and "pois.csv" in str(e.value)


def test_geographic_crs_refused_by_distance_code():
    with pytest.raises(GeographicCRSError, match="degrees"):
        WalkNetwork(x=[121.4, 121.5], y=[31.2, 31.2], u=[0], v=[1], length=[1.0], crs="EPSG:4326")
    net = WalkNetwork(x=[0, 100], y=[0, 0], u=[0], v=[1], length=[100.0], crs="EPSG:32651")
    pts = gpd.GeoSeries([shapely.Point(121.4, 31.2)], crs="EPSG:4326")
    with pytest.raises(GeographicCRSError, match="EPSG:4326") as e:
        snap_points(net, pts)
    assert "to_crs" in str(e.value)
    with pytest.raises(GeographicCRSError):
        ensure_projected(gpd.GeoSeries([shapely.Point(0, 0)]))


def test_utm_zone_for_shanghai():
    assert utm_crs_for(shapely.Point(121.44, 31.18)).to_epsg() == 32651


def test_file_claiming_4326_read_with_override(shared):
    as_is = to_wgs84(gpd.read_file(shared / "fengmao_areas_gcj02.geojson"))
    over = read_layer(shared / "fengmao_areas_gcj02.geojson", crs="gcj02")
    d = as_is.to_crs(32651).centroid.distance(over.to_crs(32651).centroid)
    assert (d > 300).all() and (d < 700).all()


@pytest.mark.parametrize(("crs", "ok"), [("EPSG:3857", False), ("EPSG:32651", True), ("EPSG:32650", True),
                                         ("EPSG:4547", True)])
def test_a_crs_that_stretches_distances_is_refused(tmp_path, crs, ok):
    """Web Mercator is 'projected' but 17% long in Shanghai (sec 31.2 deg = 1.169, the published scale
    factor); the neighbouring UTM zone (0.2%) and CGCS2000 / 3-degree GK (0.6%) are fine."""
    from toolkit.cli import main

    (tmp_path / "s.toml").write_text(f"""
[study]
name = "merc"
crs = "{crs}"
[area]
bbox = [121.43, 31.19, 121.45, 31.21]
[network]
source = {{ dataset = "xuhui_roads" }}
[output]
map = false
report = false
""", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["run", str(tmp_path / "s.toml"), "--out", str(out)])
    if ok:
        assert code == 0
    else:
        assert code == 2
        assert not out.exists() or not any(out.iterdir())
    import toolkit.crs as tc

    err = tc.scale_error(crs, shapely.box(121.43, 31.19, 121.45, 31.21))
    assert (err <= tc.MAX_SCALE_ERROR) == ok
    if crs == "EPSG:3857":
        assert err == pytest.approx(1 / np.cos(np.radians(31.2)) - 1, abs=2e-3)
