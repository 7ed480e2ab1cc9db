"""Waterfront corridors on the real Huangpu bank of Xuhui, plus small synthetic coastline cases.

The default study's bank is the Huangpu's own riverbank polygons (Geofabrik's
``gis_osm_water_a``, the four multipolygons the 黄浦江 waterway runs through);
ponds and creeks are ``other_water``: cut out of the land, never shore. The
older way, the shared ``huangpu_centreline`` buffered by half an assumed 400 m
width, is still checked below: it is what a study without water polygons gets.
Using all five centreline pieces matters there: the Xuhui line alone ends at
the district's corners, and the river beyond it is what keeps the corners water
rather than a stray piece of far bank inside the district.

The bank is measured against the *unclipped* Xuhui district: the default
study clips its area to the population grid, which ends ~1.9 km north of the
district's southern tip and cuts ~2.3 km off the bank, while the street
network (loaded with a 1 km buffer around the unclipped district) covers the
whole bank.
"""

from __future__ import annotations

import dataclasses
import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import ops

import toolkit.waterfront as twf
from toolkit.config import Source
from toolkit.datasets import fetch
from toolkit.errors import InputError
from toolkit.io import DataWarning, read_layer
from toolkit.network import grid_network
from toolkit.outputs.writers import run_record
from toolkit.snapping import snap_points
from toolkit.study import study_area
from toolkit.waterfront import (
    RiverSource,
    WaterfrontConfig,
    absent_reason,
    absent_summary,
    analyse_waterfront,
    bank_water,
    block_waterfront,
    coast_lines,
    land_area,
    shoreline,
    split_land,
    water_polygons,
    waterfront_access,
)

from helpers import augmented_graph

XUHUI_LINE_KM = 9.8  # the Xuhui piece of the centreline (data README)
WIDTH_M = 400.0
#: Geofabrik water classes the default study takes out of the land (wetland stays land).
LAND_WATER = ("water", "riverbank", "reservoir", "dock")


def _river(**where) -> RiverSource:
    return RiverSource(Source(dataset="huangpu_centreline", where=where or None), width_m=WIDTH_M)


@pytest.fixture(scope="module")
def cfg(xuhui) -> WaterfrontConfig:
    """The default study's waterfront: the Huangpu's riverbank polygons, ponds and creeks as other water."""
    return xuhui.study.waterfront


@pytest.fixture(scope="module")
def centre_cfg() -> WaterfrontConfig:
    """The Huangpu as its centreline with an assumed width (the default study's bank before water polygons)."""
    return WaterfrontConfig(rivers=[_river()])


@pytest.fixture(scope="module")
def district(xuhui) -> gpd.GeoDataFrame:
    """The Xuhui district polygon before clipping to the data extent, in the study CRS."""
    return study_area(xuhui.study).to_crs(xuhui.crs)


@pytest.fixture(scope="module")
def centreline(xuhui) -> shapely.Geometry:
    g = read_layer(Source(dataset="huangpu_centreline").resolve()).to_crs(xuhui.crs)
    return g.loc[g["west_bank_district"] == "徐汇区"].geometry.iloc[0]


@pytest.fixture(scope="module")
def raw_water(xuhui) -> gpd.GeoDataFrame:
    """Geofabrik's water polygons read with geopandas alone, in the study CRS (the reference side)."""
    return gpd.read_file(fetch("geofabrik_water_a")).to_crs(xuhui.crs)


@pytest.fixture(scope="module")
def wf(cfg, district, xuhui):
    return analyse_waterfront(cfg, district, xuhui.network, xuhui.blocks, threshold_m=1000.0)


@pytest.fixture(scope="module")
def wf_centre(centre_cfg, district, xuhui):
    return analyse_waterfront(centre_cfg, district, xuhui.network, xuhui.blocks, threshold_m=1000.0)


# ------------------------------------------------------------------ the bank
def test_the_bank_polygons_are_the_huangpu(cfg, raw_water, district, xuhui):
    """The four OSM ids of the study are exactly the riverbanks near Xuhui that the 黄浦江 waterway runs through.

    Geofabrik drops the names of riverbank polygons; its waterway lines keep them.
    """
    ids = set(cfg.water[0].where["osm_id"])
    ways = gpd.read_file(fetch("geofabrik_waterways")).to_crs(xuhui.crs)
    huangpu = shapely.union_all(ways.loc[ways["name"] == "黄浦江"].geometry.values)
    near = raw_water.loc[(raw_water["fclass"] == "riverbank")
                         & raw_water.intersects(district.geometry.iloc[0].buffer(cfg.corridor_m))]
    carried = near.geometry.intersection(huangpu).length
    # each of them carries kilometres of the river's line, every other riverbank near Xuhui none
    assert set(near.loc[carried > 1000, "osm_id"]) == ids
    assert (carried[~near["osm_id"].isin(ids)] == 0).all()


def test_bank_comes_from_the_water_polygons(wf, xuhui):
    s = xuhui.details["waterfront"]
    assert s["bank_source"] == "water polygons (dataset:geofabrik_water_a, 4 polygons)"
    assert run_record(xuhui)["waterfront"]["bank_source"] == s["bank_source"]
    assert wf.summary["bank_source"] == s["bank_source"]
    assert set(wf.water["kind"]) == {"water", "other"}
    assert (bank_water(wf.water)["kind"] == "water").all() and len(bank_water(wf.water)) == 4
    # the study's bank (its area clipped to the street data only) is the district's whole bank
    assert s["bank_length_m"] == pytest.approx(wf.summary["bank_length_m"], abs=1)


def test_bank_length_matches_the_riverbank_outline(wf, cfg, raw_water, district):
    """The bank is the outline of the Huangpu polygons inside the district, measured here with shapely alone."""
    river = shapely.union_all(raw_water.loc[raw_water["osm_id"].isin(cfg.water[0].where["osm_id"])].geometry.values)
    ref = shapely.intersection(river.boundary, district.geometry.iloc[0]).length
    assert wf.summary["bank_length_m"] == pytest.approx(ref, abs=1.0)
    # Measured on the default study: 13.39 km, against 10.23 km for the offset centreline. The
    # real bank follows the river's bends and docks and runs ~0.5 km up and down the mouth of
    # 龙华港, which OSM draws inside the Huangpu's polygon.
    assert wf.summary["bank_length_m"] == pytest.approx(13394, abs=20)
    # one bank, plus two slivers of a few metres where the district's outline wanders across it
    assert wf.shore["length_m"].max() > 0.99 * wf.summary["bank_length_m"]
    assert wf.shore["kind"].eq("bank").all()


def test_bank_is_the_west_bank(wf, cfg, raw_water, district, xuhui):
    """Every shore point lies on the river's outline, in the district, and on the Xuhui side of the river."""
    river = shapely.union_all(raw_water.loc[raw_water["osm_id"].isin(cfg.water[0].where["osm_id"])].geometry.values)
    pts = shapely.points(shapely.get_coordinates(shapely.segmentize(shapely.union_all(wf.shore.geometry.values), 10)))
    assert shapely.distance(pts, river.boundary).max() < 1e-6
    assert shapely.contains(district.geometry.iloc[0].buffer(1e-6), pts).all()
    # The district runs to mid-river, where Pudong begins: the far bank would lie at or over
    # that line. Measured: the bank is 135-1,266 m from Pudong (the far end at Xuhui's southern
    # tip, where Minhang lies between; the old centreline stopped 1.1 km short of it).
    districts = read_layer(fetch("districts"), crs="gcj02").to_crs(xuhui.crs)
    pudong = districts.loc[districts["name"] == "浦东新区"].geometry.iloc[0]
    assert shapely.distance(pts, pudong).min() > 100


def test_the_centreline_and_width_alternative(wf_centre, centreline, district):
    """The centreline buffered by 200 m gives an offset line: the default study's bank before water polygons."""
    assert wf_centre.summary["bank_source"] == "river centreline + width (dataset:huangpu_centreline, 3 lines, 400 m)"
    assert len(wf_centre.shore) == 1 and wf_centre.shore["kind"].tolist() == ["bank"]
    bank = wf_centre.shore.geometry.iloc[0]
    assert centreline.length == pytest.approx(9796.4, abs=1)
    # within 5% of the 9.8 km centreline; 4.4% longer because the bank is the
    # outer side of the river's eastward bends at Longhua and the south end
    assert bank.length == pytest.approx(XUHUI_LINE_KM * 1000, rel=0.05)
    assert wf_centre.summary["bank_length_m"] == pytest.approx(10232, abs=20)
    # it is the offset of the centreline by half the width, on the Xuhui side
    pts = shapely.points(shapely.get_coordinates(shapely.segmentize(bank, 10)))
    d = shapely.distance(pts, shapely.union_all(read_layer(
        Source(dataset="huangpu_centreline").resolve()).to_crs(district.crs).geometry.values))
    assert d.min() > 195 and d.max() < 200.01
    assert shapely.contains(district.geometry.iloc[0].buffer(1e-6), pts).all()
    s = wf_centre.summary  # the figures the default study reported then
    assert s["share_with_access"] == pytest.approx(0.37, abs=0.05)
    assert s["n_access_points"] == 7 and s["longest_gap_m"] == pytest.approx(2478, abs=50)


def test_clipping_to_the_data_extent_cuts_the_bank_short(cfg, xuhui, wf):
    water = water_polygons(cfg, xuhui.crs, xuhui.area)
    clipped = shoreline(water, xuhui.area)
    assert clipped["length_m"].sum() == pytest.approx(11110, abs=20)  # measured on the default study
    assert clipped["length_m"].sum() < wf.summary["bank_length_m"] - 2000


def test_open_river_ends_are_not_shore(xuhui, district, wf_centre):
    """The Xuhui line alone stops at the district corners: its flat caps are data edges, not banks."""
    only = WaterfrontConfig(rivers=[_river(west_bank_district="徐汇区")])
    water = water_polygons(only, xuhui.crs, district)
    caps = water.attrs["open_ends"]
    assert len(shapely.get_parts(caps)) == 2
    # each cap is the part of the flat end left on the outline (a short hook at
    # the line's end hides a few metres of one of them)
    assert all(0.95 * WIDTH_M < c.length <= WIDTH_M + 1e-6 for c in shapely.get_parts(caps))
    shore = shoreline(water, district)
    assert shapely.intersection(shapely.union_all(shore.geometry.values), caps.buffer(1)).length < 5
    # the bank itself is the same as with the whole river
    assert shore["length_m"].max() == pytest.approx(wf_centre.summary["bank_length_m"], abs=1)


def test_land_area_leaves_all_water_out(wf, raw_water, district):
    """The land is the district less the river, ponds and creeks; the river alone gives the shore."""
    d = district.geometry.iloc[0]
    wet = shapely.union_all(raw_water.loc[raw_water["fclass"].isin(LAND_WATER)].geometry.values)
    ref = shapely.intersection(d, wet).area
    # measured: 3.10 km2 in the unclipped district, 2.65 of it the Huangpu (0.2-0.35 km wide
    # to mid-river over ~10 km), the rest 49 ponds, park lakes and creeks
    assert ref / 1e6 == pytest.approx(3.10, abs=0.02)
    assert wf.land.area == pytest.approx(d.area - ref, rel=1e-6)
    assert not shapely.intersects(wf.land.buffer(-1), shapely.union_all(wf.water.geometry.values))
    other = wf.summary["other_water"]
    assert other["polygons"] == (wf.water["kind"] == "other").sum() == 49
    bank = shapely.union_all(bank_water(wf.water).geometry.values)
    assert other["area_km2"] == pytest.approx((ref - shapely.intersection(d, bank).area) / 1e6, abs=1e-3)


def test_a_pond_is_no_waterfront(cfg, raw_water, xuhui):
    """A park lake (学思湖) in a small area: land is cut around it, but there is no waterfront, and it says why."""
    lake = raw_water.loc[raw_water["name"] == "学思湖"].geometry.iloc[0]
    box = lake.centroid.buffer(400).envelope
    water = water_polygons(cfg, xuhui.crs, box)
    assert bank_water(water) is None and (water["kind"] == "other").any()
    res = analyse_waterfront(cfg, box, xuhui.network, xuhui.blocks, threshold_m=1000.0)
    assert not res.present and set(res.summary) == {"status", "reason"}
    assert "geofabrik_water_a" in res.summary["reason"] and "not waterfront" in res.summary["reason"]
    assert split_land(box, water).water_m2 >= lake.area - 1e-6


# ------------------------------------------------------------------ access
def test_access_along_the_bank(wf, xuhui):
    s = wf.summary
    assert s["status"] == "measured"
    assert 0 < s["share_with_access"] <= 1
    # Measured on the default study's real bank (the offset centreline gave 37%, 7 points, a
    # 2.48 km gap): the shared network has no footways (no riverside promenade), so under half
    # the bank has a street within 100 m.
    assert s["share_with_access"] == pytest.approx(0.478, abs=0.01)
    assert s["access_length_m"] == pytest.approx(s["share_with_access"] * s["bank_length_m"], abs=1)
    assert s["longest_gap_m"] == pytest.approx(2639, abs=50)
    assert s["n_gaps"] == 7
    assert s["n_access_points"] == 11
    assert s["mean_access_spacing_m"] == pytest.approx(860, abs=10)
    assert s["max_access_spacing_m"] == pytest.approx(3490, abs=20)
    # The Dapu Road, Longyao Road and Middle Ring tunnels cross under the river; most are foot=no,
    # so nobody walks them and they are not in the network: the Middle Ring's two edges remain.
    # 龙腾大道 bridges the mouth of 龙华港, which the river's polygon takes in: two more.
    assert s["n_crossings_excluded"] == 4
    assert any("中环路" in n and "龙腾大道" in n for n in s["notes"])


def test_segments_cover_the_bank_exactly(wf, cfg):
    seg = wf.segments
    assert seg["length_m"].sum() == pytest.approx(wf.summary["bank_length_m"], abs=0.1)
    assert np.allclose(seg.geometry.length, seg["length_m"], atol=1e-6)
    assert (seg["kind"] == np.where(seg["access"], "access", "gap")).all()
    for _, runs in seg.groupby("reach_id"):
        a = runs["access"].to_numpy()
        assert (a[1:] != a[:-1]).all()  # runs alternate along each reach
        assert np.allclose(runs["start_m"].to_numpy()[1:], runs["end_m"].to_numpy()[:-1])
    # a gap shorter than min_gap_m survives only as a whole reach: the slivers of a few metres
    long_reach = seg["reach_id"].map(seg.groupby("reach_id")["length_m"].sum()) >= cfg.min_gap_m
    assert (seg.loc[~seg["access"] & long_reach, "length_m"] >= cfg.min_gap_m).all()
    assert seg.loc[~seg["access"], "length_m"].max() == pytest.approx(wf.summary["longest_gap_m"], abs=0.1)


def test_access_points_are_on_streets_near_the_shore(wf, xuhui, cfg):
    ap = wf.access_points
    shore = shapely.union_all(wf.shore.geometry.values)
    d = shapely.distance(np.asarray(ap.geometry.values), shore)
    assert (d <= cfg.access_distance_m + 1e-6).all()
    assert np.allclose(d, ap["dist_to_shore_m"], atol=1e-6)
    streets = xuhui.network.streets()
    on = shapely.distance(np.asarray(ap.geometry.values), np.asarray(streets.geometry.values[ap["street"]]))
    assert on.max() < 1e-6
    assert ap["access_id"].tolist() == list(range(len(ap)))
    # no two access points closer than the de-duplication distance
    xy = shapely.get_coordinates(ap.geometry.values)
    dd = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    assert dd[np.triu_indices(len(xy), 1)].min() >= cfg.dedup_m
    assert "龙腾大道" in set(ap["name"])  # the riverside avenue of the West Bund
    spacing = []
    for _, g in ap.groupby("reach_id"):
        assert g["shore_pos_m"].is_monotonic_increasing
        spacing += np.diff(g["shore_pos_m"].to_numpy()).tolist()
    assert wf.summary["mean_access_spacing_m"] == pytest.approx(np.mean(spacing), abs=0.1)
    assert wf.summary["max_access_spacing_m"] == pytest.approx(np.max(spacing), abs=0.1)


def test_block_distances_match_networkx(wf, xuhui):
    net, blocks = xuhui.network, xuhui.blocks
    assert wf.blocks.index.equals(blocks.index)
    assert wf.blocks["within_waterfront"].equals(wf.blocks["dist_waterfront_m"] <= 1000.0)
    bs = snap_points(net, blocks.geometry)
    aps = snap_points(net, wf.access_points.geometry)
    G = augmented_graph(net, {"b": bs, "a": aps})
    for i in range(len(aps)):
        G.add_edge(("a", i), "shore", length=0.0)
    d = wf.blocks["dist_waterfront_m"].to_numpy()
    finite = np.flatnonzero(np.isfinite(d))
    pick = np.concatenate([finite[np.argsort(d[finite])[:3]], np.random.default_rng(7).choice(finite, 4)])
    for b in pick:
        ref = nx.dijkstra_path_length(G, ("b", int(b)), "shore", weight="length")
        assert d[b] == pytest.approx(ref, abs=0.01)
    # the bank is the district's east edge: few blocks are within 1 km on foot (measured: 9.2%,
    # 5.5% with the centreline's 7 access points)
    assert wf.blocks["within_waterfront"].mean() == pytest.approx(0.092, abs=0.02)


# ------------------------------------------------------------------ bad input / absent
def test_river_without_width_is_an_input_error():
    with pytest.raises(InputError, match="width_m") as e:
        RiverSource(Source(dataset="huangpu_centreline"))
    assert "huangpu_centreline" in str(e.value)
    assert "400" in e.value.fix


def test_null_widths_need_width_m(tmp_path, xuhui):
    g = read_layer(Source(dataset="huangpu_centreline").resolve())
    g["width"] = [380.0, None, 420.0, 420.0, None]
    p = tmp_path / "river.geojson"
    g.to_file(p)
    with pytest.raises(InputError, match="width") as e:
        water_polygons(WaterfrontConfig(rivers=[RiverSource(Source(path=str(p)), width_field="width")]), xuhui.crs)
    assert str(p) in str(e.value) and "width_m" in e.value.fix
    with pytest.warns(DataWarning, match="2 river lines"):
        w = water_polygons(WaterfrontConfig(rivers=[RiverSource(Source(path=str(p)), width_m=400,
                                                                width_field="width")]), xuhui.crs)
    assert w["width_m"].tolist() == [380.0, 400.0, 420.0, 420.0, 400.0]


def test_lines_given_as_water_polygons_are_refused(xuhui):
    with pytest.raises(InputError, match="polygon") as e:
        water_polygons(WaterfrontConfig(water=[Source(dataset="huangpu_centreline")]), xuhui.crs)
    assert "rivers" in e.value.fix


@pytest.mark.parametrize("which", ["cfg", "centre_cfg"])
def test_no_water_in_a_box_in_the_west(which, request, xuhui):
    cfg = request.getfixturevalue(which)
    box = shapely.box(347_000, 3_449_000, 348_000, 3_450_000)  # 1 km box, 4.5 km from the river, no pond
    assert water_polygons(cfg, xuhui.crs, box) is None
    res = analyse_waterfront(cfg, box, xuhui.network, xuhui.blocks, threshold_m=1000.0)
    assert not res.present
    assert res.summary["status"] == "absent"
    assert set(res.summary) == {"status", "reason"}
    assert cfg.labels()[0] in res.summary["reason"] and "100 m" in res.summary["reason"]
    assert res.blocks is None and res.shore is None
    assert absent_reason(WaterfrontConfig()) is not None
    assert absent_summary("x") == {"status": "absent", "reason": "x"}
    # ponds and creeks alone are no shore to measure
    assert not WaterfrontConfig(other_water=cfg.water or [Source(dataset="geofabrik_water_a")]).has_sources


# ------------------------------------------------------------------ coastlines (synthetic)
@pytest.fixture
def coast_case(tmp_path):
    """A 1 km square with a coastline across it, drawn west to east: land (left) is north."""
    crs = "EPSG:32651"
    x0, y0 = 350_000.0, 3_450_000.0
    area = shapely.box(x0, y0, x0 + 1000, y0 + 1000)
    line = shapely.LineString([(x0 - 200, y0 + 500), (x0 + 500, y0 + 520), (x0 + 1200, y0 + 500)])

    def write(geom, name):
        p = tmp_path / name
        gpd.GeoDataFrame(geometry=[geom], crs=crs).to_file(p)
        return Source(path=str(p))

    return crs, area, write(line, "coast.geojson"), write(line.reverse(), "coast_reversed.geojson"), (x0, y0)


def test_coastline_land_on_the_left(coast_case):
    crs, area, src, _, (x0, y0) = coast_case
    cfg = WaterfrontConfig(coastlines=[src])
    assert water_polygons(cfg, crs, area) is None
    coast = coast_lines(cfg, crs, area)
    assert absent_reason(cfg, None, None, coast) is None
    shore = shoreline(None, area, coast)
    assert shore["kind"].tolist() == ["coast"]
    assert shore["length_m"].sum() == pytest.approx(1000.4, abs=0.5)
    c = shore.geometry.iloc[0].coords
    assert c[0][0] < c[-1][0]  # direction kept through the clip
    land = land_area(area, None, coast)
    assert land.area == pytest.approx(1000 * (1000 - 512.86), rel=1e-4)
    assert land.contains(shapely.Point(x0 + 500, y0 + 900)) and not land.contains(shapely.Point(x0 + 500, y0 + 100))
    # a coastline that stops inside the area does not split it: nothing is taken as sea
    stub = coast.set_geometry([shapely.LineString([(x0 - 100, y0 + 500), (x0 + 400, y0 + 500)])], crs=crs)
    assert land_area(area, None, stub).area == pytest.approx(area.area)
    net = grid_network(11, 100.0, crs=crs, origin=(x0, y0))
    _seg, ap, s = waterfront_access(shore, net.streets(), cfg)
    assert s["share_with_access"] == 1.0 and s["n_gaps"] == 0 and s["longest_gap_m"] == 0.0
    assert (ap.geometry.y > y0 + 500).all()  # on the land side only
    assert s["n_access_points"] == 11 and s["max_access_spacing_m"] == pytest.approx(100, abs=1)
    blk = gpd.GeoDataFrame(geometry=[shapely.Point(x0 + 250, y0 + 950)], index=["b7"], crs=crs)
    out = block_waterfront(net, blk, ap, threshold_m=500)
    assert out.index.tolist() == ["b7"]
    # 50 m to the street, 50 m to the x+300 corner, down to the coast at y+514.29
    assert out.loc["b7", "dist_waterfront_m"] == pytest.approx(50 + 50 + (900 - 500 - 500 * 20 / 700), abs=0.01)
    assert out.loc["b7", "within_waterfront"]


def test_reversed_coastline_is_reported(coast_case):
    crs, area, _, rev, _ = coast_case
    with pytest.warns(DataWarning, match="right of the coastline"):
        coast_lines(WaterfrontConfig(coastlines=[rev]), crs, area.difference(shapely.box(0, 0, 1e7, 3_450_500)))


def test_no_access_points_is_said_not_divided(coast_case):
    crs, area, src, _, (x0, y0) = coast_case
    cfg = WaterfrontConfig(coastlines=[src])
    shore = shoreline(None, area, coast_lines(cfg, crs, area))
    far = grid_network(3, 100.0, crs=crs, origin=(x0, y0 + 800))  # streets 280+ m inland
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _seg, ap, s = waterfront_access(shore, far.streets(), cfg)
    assert len(ap) == 0 and s["n_access_points"] == 0
    assert s["share_with_access"] == 0.0 and s["n_gaps"] == 1
    assert s["mean_access_spacing_m"] is None and "no access points" in s["spacing_note"]
    blk = gpd.GeoDataFrame(geometry=[shapely.Point(x0 + 50, y0 + 850)], crs=crs)
    assert np.isinf(block_waterfront(far, blk, ap, threshold_m=400)["dist_waterfront_m"]).all()


# ------------------------------------------------------- tiled overlays (synthetic)
@pytest.fixture(scope="module")
def river_city(tmp_path_factory):
    """A 3 km grid city (jittered, a third of the edges bent, 30% dropped, long diagonals added) across a river."""
    crs = "EPSG:32651"
    x0, y0 = 350_000.0, 3_450_000.0
    rng = np.random.default_rng(5)
    streets = grid_network(31, 100.0, crs=crs, origin=(x0, y0), jitter=10.0, seed=3).streets()
    g = np.asarray(streets.geometry.values)
    bend = np.arange(len(g)) % 3 == 0
    a = shapely.get_coordinates(shapely.get_point(g[bend], 0))
    b = shapely.get_coordinates(shapely.get_point(g[bend], -1))
    g[bend] = shapely.linestrings(np.stack([a, (a + b) / 2 + rng.normal(0, 8, a.shape), b], axis=1))
    streets = streets.set_geometry(list(g)).loc[rng.random(len(g)) > 0.3]
    diag = [shapely.LineString([(x0 + 300 * i, y0 + 900), (x0 + 300 * i + 450, y0 + 2100)]) for i in range(8)]
    streets = pd.concat([streets, gpd.GeoDataFrame({"name": [f"Long {i}" for i in range(8)]}, geometry=diag, crs=crs,
                                                   index=[f"long{i}" for i in range(8)])])
    t = np.linspace(0, 1, 301)
    river = shapely.linestrings(x0 - 300 + 3600 * t,
                                y0 + 1500 + 500 * np.sin(2 * np.pi * 1.5 * t) + 30 * np.sin(2 * np.pi * 12 * t))
    path = tmp_path_factory.mktemp("river") / "river.geojson"
    gpd.GeoDataFrame(geometry=[river], crs=crs).to_file(path)
    cfg = WaterfrontConfig(rivers=[RiverSource(Source(path=str(path)), width_m=200.0)])
    area = shapely.box(x0, y0, x0 + 3000, y0 + 3000)
    water = water_polygons(cfg, crs, area)
    return shoreline(water, area), streets, cfg, water


def _access(case, cfg: WaterfrontConfig, monkeypatch, vertices: int, margin: float):
    monkeypatch.setattr(twf, "_TILE_VERTICES", vertices)
    monkeypatch.setattr(twf, "_TILE_MARGIN_M", margin)
    return waterfront_access(case[0], case[1], cfg, case[3])


@pytest.mark.parametrize(("corridor", "reach", "share", "gaps", "points"),
                         [(100.0, 50.0, 0.9877, 1, 36), (40.0, 30.0, 0.2248, 24, 16)])
def test_tiled_overlays_match_the_whole_geometry(river_city, monkeypatch, corridor, reach, share, gaps, points):
    shore, _, cfg, water = river_city
    cfg = dataclasses.replace(cfg, corridor_m=corridor, access_distance_m=reach)
    seg0, ap0, s0 = _access(river_city, cfg, monkeypatch, 10**9, 100.0)  # one piece: the whole water and band
    # gaps, bridges, access points and long edges: all that a seam could break
    assert s0["bank_length_m"] == pytest.approx(8129.2) and s0["n_crossings_excluded"] == 77
    assert s0["share_with_access"] == share and s0["n_gaps"] == gaps and s0["n_access_points"] == points
    assert "long0" not in set(ap0["street"])  # the diagonals cross the river
    band = twf.corridor_band(shore, water, cfg.corridor_m)
    for vertices, margin in ((8, 5.0), (32, 40.0), (200, 150.0)):
        assert len(twf._Tiles(band, margin, vertices).pieces) > 20
        seg, ap, s = _access(river_city, cfg, monkeypatch, vertices, margin)
        # The cuts keep every segment an edge meets whole, so not even rounding differs.
        assert s == s0
        pd.testing.assert_frame_equal(seg, seg0, check_exact=True)
        pd.testing.assert_frame_equal(ap, ap0, check_exact=True)
        assert shapely.equals_exact(seg.geometry.values, seg0.geometry.values, tolerance=0).all()
        assert shapely.equals_exact(ap.geometry.values, ap0.geometry.values, tolerance=0).all()


def test_tiles_answer_as_the_whole_geometry(river_city):
    shore, streets, cfg, water = river_city
    band = twf.corridor_band(shore, water, cfg.corridor_m)
    tiles = twf._Tiles(band, 20.0, 16)
    sg = np.asarray(streets.geometry.values)
    near = tiles.touching(sg)
    assert (near == shapely.intersects(band, sg)).all() and 100 < near.sum() < len(sg)
    local = tiles.local(sg[near])
    assert (local != band).mean() > 0.9  # most edges are cut against a small piece
    assert shapely.get_num_coordinates(local).mean() < 0.1 * shapely.get_num_coordinates(band)
    whole = shapely.intersection(sg[near], band)
    assert np.abs(shapely.length(shapely.intersection(sg[near], local)) - shapely.length(whole)).max() <= 1e-9


def test_line_helpers_match_shapely():
    rng = np.random.default_rng(2)
    xy = np.cumsum(rng.normal(0, 30, (400, 2)), axis=0) + np.array([350_000.0, 3_450_000.0])
    xy[57] = xy[56]  # a repeated vertex
    line = shapely.LineString(xy)
    seg, cum = twf._cumulative(xy)
    assert cum[-1] == pytest.approx(line.length, rel=1e-12)
    d = np.concatenate([rng.uniform(0, line.length, 500), cum[[0, 1, 56, 57, 200]], [line.length]])
    p = twf._along(xy, seg, cum, d)
    assert np.abs(p - shapely.get_coordinates(shapely.line_interpolate_point(line, d))).max() <= 1e-8
    for s, e in [(0.0, line.length), (12.5, 980.0), (cum[10], cum[20]), (1500.0, line.length)]:
        cut = twf._substring(xy, seg, cum, s, e)
        assert shapely.hausdorff_distance(cut, ops.substring(line, s, e)) <= 1e-8
        assert cut.length == pytest.approx(e - s, abs=1e-6)
    pts = shapely.points(rng.uniform(xy.min(0), xy.max(0), (300, 2)))
    reach, pos = twf._locate(pts, twf._Segments(np.array([line])), np.array([line]))
    assert (reach == 0).all()
    assert np.abs(pos - shapely.line_locate_point(line, pts)).max() <= 1e-8
