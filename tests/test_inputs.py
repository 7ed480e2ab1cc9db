"""Bad input: each case gets a clear message naming the file, the field and the fix."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from toolkit.errors import InputError
from toolkit.io import DataWarning, read_csv_points, read_layer
from toolkit.snapping import snap_points


def test_gbk_csv_is_read_correctly(tmp_path):
    p = tmp_path / "clinics_gbk.csv"
    df = pd.DataFrame({"名称": ["徐汇区中心医院", "枫林街道社区卫生服务中心"], "lng": [121.4430, 121.4560],
                       "lat": [31.2010, 31.1990]})
    p.write_bytes(df.to_csv(index=False).encode("gbk"))
    with pytest.raises(UnicodeDecodeError):
        p.read_text(encoding="utf-8")
    g = read_csv_points(p)
    assert g.attrs["encoding"] == "gb18030"
    assert g["名称"].tolist() == ["徐汇区中心医院", "枫林街道社区卫生服务中心"]
    assert g.crs.to_epsg() == 4326
    assert g.geometry.x.tolist() == pytest.approx([121.4430, 121.4560])


def test_gcj02_csv_converted_on_import(tmp_path):
    p = tmp_path / "pois.csv"
    p.write_text("name,lon,lat\nA,121.4475,31.1980\n", encoding="utf-8")
    wgs = read_csv_points(p)
    gcj = read_csv_points(p, crs="gcj02")
    d = wgs.to_crs(32651).distance(gcj.to_crs(32651)).iloc[0]
    assert 400 < d < 700
    assert gcj.geometry.x.iloc[0] < 121.4475  # GCJ-02 is shifted east of WGS84 in Shanghai


def test_swapped_lon_lat_is_caught(tmp_path):
    p = tmp_path / "swapped.csv"
    p.write_text("name,lon,lat\nA,31.20,121.44\nB,31.21,121.45\n", encoding="utf-8")
    with pytest.raises(InputError, match="look swapped") as e:
        read_csv_points(p)
    msg = str(e.value)
    assert "swapped.csv" in msg and "lon = 'lat'" in msg and "every row" in msg  # all swapped: the columns


def test_out_of_range_coordinates(tmp_path):
    p = tmp_path / "range.csv"
    p.write_text("name,lon,lat\nA,121.44,31.2\nB,250.0,31.2\n", encoding="utf-8")
    with pytest.raises(InputError, match="out of range") as e:
        read_csv_points(p)
    assert "row 3" in str(e.value) and "header is row 1" in str(e.value) and "range.csv" in str(e.value)


def test_missing_coordinate_column(tmp_path):
    p = tmp_path / "nocoords.csv"
    p.write_text("name,address\nA,衡山路\n", encoding="utf-8")
    with pytest.raises(InputError, match="no lon column") as e:
        read_csv_points(p)
    assert "nocoords.csv" in str(e.value) and "columns are: 'name', 'address'" in str(e.value)
    p2 = tmp_path / "named.csv"
    p2.write_text("name,x_gcj,y_gcj\nA,121.4,31.2\n", encoding="utf-8")
    with pytest.raises(InputError, match="'longitude' does not exist"):
        read_csv_points(p2, lon="longitude", lat="y_gcj")


def test_unknown_crs_in_reader(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("lon,lat\n121.4,31.2\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown CRS 'baidu09'") as e:
        read_csv_points(p, crs="baidu09")
    assert "a.csv" in str(e.value)


def test_empty_layer(tmp_path):
    p = tmp_path / "empty.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(InputError, match="empty") as e:
        read_layer(p)
    assert "empty.geojson" in str(e.value) and "fix:" in str(e.value)


def test_empty_csv(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("lon,lat\n", encoding="utf-8")
    with pytest.raises(InputError, match="no rows"):
        read_csv_points(p)


def test_invalid_polygon_is_repaired_and_reported(tmp_path):
    bowtie = shapely.Polygon([(121.40, 31.20), (121.42, 31.22), (121.42, 31.20), (121.40, 31.22)])
    ok = shapely.box(121.43, 31.20, 121.44, 31.21)
    assert not bowtie.is_valid
    p = tmp_path / "zones.geojson"
    gpd.GeoDataFrame({"name": ["bowtie", "square"]}, geometry=[bowtie, ok], crs=4326).to_file(p)
    with pytest.warns(DataWarning, match=r"repaired 1 invalid geometries \(rows 0; first: Self-intersection"):
        g = read_layer(p)
    assert g.geometry.is_valid.all()
    assert g.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    # both triangles of the bow-tie survive
    left = shapely.Polygon([(121.40, 31.20), (121.41, 31.21), (121.40, 31.22)])
    right = shapely.Polygon([(121.42, 31.22), (121.41, 31.21), (121.42, 31.20)])
    expected = gpd.GeoSeries([left, right], crs=4326).to_crs(32651).area.sum()
    assert g.to_crs(32651).area.iloc[0] == pytest.approx(expected, rel=1e-6)


def test_facility_beyond_snap_limit_is_refused(xuhui):
    net = xuhui.network
    # one facility on a street, one 2 km east of the network (across the Huangpu, in Pudong)
    on_street = shapely.line_interpolate_point(net.edge_geometry[100], 0.5, normalized=True)
    far = shapely.Point(net.x.max() + 2000, np.median(net.y))
    s = snap_points(net, gpd.GeoSeries([on_street, far], crs=net.crs), max_snap_m=250)
    assert s.ok.tolist() == [True, False]
    assert s.leg[0] < 1e-6 and s.leg[1] > 1900


def test_study_reports_refused_facilities(xuhui):
    refused = xuhui.facilities[~xuhui.facilities["snapped"]]
    assert len(refused) > 0
    # the others are refused for legs across water or barriers (tests/test_snap_obstacles.py)
    far = refused[refused["snap_reason"] == "too far from a street"]
    assert (far["snap_leg_m"] > xuhui.study.facility_max_snap_m).all() and len(far) > len(refused) / 2
    assert any("were not used" in n for n in xuhui.notes)


def test_json_records_with_string_coordinates(shared):
    g = read_layer(shared / "excellent_historic_buildings_bd09.json", crs="bd09", lon="long", lat="lat")
    assert len(g) == 1085 and g.crs.to_epsg() == 4326
    # Shanghai's extent, suburbs included (Qingpu's Jinze at 120.9 E)
    assert g.geometry.x.between(120.8, 122.0).all() and g.geometry.y.between(30.6, 31.9).all()
