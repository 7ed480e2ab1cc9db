"""Waterfront corridors on the real Huangpu bank of Xuhui, plus small synthetic coastline cases.

The river is the shared ``huangpu_centreline`` layer, *all five* lines, buffered
by 200 m (the Huangpu is ~400 m wide in central Shanghai). Using all lines
matters: the Xuhui line alone ends at the district's corners, and the river
beyond it (the Huangpu-district and Minhang lines) is what keeps the corners
water rather than a stray piece of far bank inside the district.

The bank is measured against the *unclipped* Xuhui district: the default
study clips its area to the population grid, which ends ~1.9 km north of the
district's southern tip and cuts ~0.9 km off the bank, while the street
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
from toolkit.errors import InputError
from toolkit.io import DataWarning, read_layer
from toolkit.network import grid_network
from toolkit.snapping import snap_points
from toolkit.study import study_area
from toolkit.waterfront import (
    RiverSource,
    WaterfrontConfig,
    absent_reason,
    absent_summary,
    analyse_waterfront,
    block_waterfront,
    coast_lines,
    land_area,
    shoreline,
    water_polygons,
    waterfront_access,
)

from helpers import augmented_graph

XUHUI_LINE_KM = 9.8  # the Xuhui piece of the centreline (data README)
WIDTH_M = 400.0


def _river(**where) -> RiverSource:
    return RiverSource(Source(dataset="huangpu_centreline", where=where or None), width_m=WIDTH_M)


@pytest.fixture(scope="module")
def cfg() -> WaterfrontConfig:
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
def wf(cfg, district, xuhui):
    return analyse_waterfront(cfg, district, xuhui.network, xuhui.blocks, threshold_m=1000.0)


# ------------------------------------------------------------------ the bank
def test_xuhui_bank_is_the_west_bank_of_the_huangpu(wf, centreline, district):
    assert wf.present
    assert len(wf.shore) == 1 and wf.shore["kind"].tolist() == ["bank"]
    bank = wf.shore.geometry.iloc[0]
    assert centreline.length == pytest.approx(9796.4, abs=1)
    # within 5% of the 9.8 km centreline; 4.4% longer because the bank is the
    # outer side of the river's eastward bends at Longhua and the south end
    assert bank.length == pytest.approx(XUHUI_LINE_KM * 1000, rel=0.05)
    assert wf.summary["bank_length_m"] == pytest.approx(10232, abs=20)
    # it is the offset of the centreline by half the width, on the Xuhui side
    pts = shapely.points(shapely.get_coordinates(shapely.segmentize(bank, 10)))
    d = shapely.distance(pts, shapely.union_all(read_layer(
        Source(dataset="huangpu_centreline").resolve()).to_crs(district.crs).geometry.values))
    assert d.min() > 195 and d.max() < 200.01
    assert shapely.contains(district.geometry.iloc[0].buffer(1e-6), pts).all()


def test_clipping_to_the_data_extent_cuts_the_bank_short(cfg, xuhui, wf):
    water = water_polygons(cfg, xuhui.crs, xuhui.area)
    clipped = shoreline(water, xuhui.area)
    assert clipped["length_m"].sum() == pytest.approx(9301, abs=20)
    assert clipped["length_m"].sum() < wf.summary["bank_length_m"] - 900


def test_open_river_ends_are_not_shore(xuhui, district, wf):
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
    assert shore["length_m"].max() == pytest.approx(wf.summary["bank_length_m"], abs=1)


def test_land_area_leaves_the_river_out(wf, district):
    d = district.geometry.iloc[0]
    river_in_district = shapely.intersection(d, shapely.union_all(wf.water.geometry.values)).area
    assert river_in_district / 1e6 == pytest.approx(2.0, abs=0.2)  # 200 m x ~10 km
    assert wf.land.area == pytest.approx(d.area - river_in_district, rel=1e-9)
    assert not shapely.intersects(wf.land.buffer(-1), shapely.union_all(wf.water.geometry.values))


# ------------------------------------------------------------------ access
def test_access_along_the_bank(wf, xuhui):
    s = wf.summary
    assert s["status"] == "measured"
    # the shared network has no footways (no riverside promenade), so less
    # than half the bank has a street within 100 m
    assert 0 < s["share_with_access"] <= 1
    assert s["share_with_access"] == pytest.approx(0.37, abs=0.05)
    assert s["access_length_m"] == pytest.approx(s["share_with_access"] * s["bank_length_m"], abs=1)
    assert s["longest_gap_m"] == pytest.approx(2478, abs=50)
    assert s["n_gaps"] == 7
    assert s["n_access_points"] == 7
    assert s["mean_access_spacing_m"] == pytest.approx(747, abs=10)
    assert s["max_access_spacing_m"] == pytest.approx(3210, abs=20)
    # the Dapu Road, Longyao Road and Middle Ring tunnels cross under the river; most are
    # foot=no, so nobody walks them and they are not in the network: 2 street edges remain
    assert s["n_crossings_excluded"] == 2
    assert any("中环路" in n for n in s["notes"])


def test_segments_cover_the_bank_exactly(wf, cfg):
    seg = wf.segments
    assert seg["length_m"].sum() == pytest.approx(wf.summary["bank_length_m"], abs=0.1)
    assert np.allclose(seg.geometry.length, seg["length_m"], atol=1e-6)
    assert (seg["kind"] == np.where(seg["access"], "access", "gap")).all()
    assert (seg["access"].to_numpy()[1:] != seg["access"].to_numpy()[:-1]).all()  # runs alternate
    assert (seg.loc[~seg["access"], "length_m"] >= cfg.min_gap_m).all()
    assert seg.loc[~seg["access"], "length_m"].max() == pytest.approx(wf.summary["longest_gap_m"], abs=0.1)
    assert np.allclose(seg["start_m"].to_numpy()[1:], seg["end_m"].to_numpy()[:-1])


def test_access_points_are_on_streets_near_the_shore(wf, xuhui, cfg):
    ap = wf.access_points
    shore = shapely.union_all(wf.shore.geometry.values)
    d = shapely.distance(np.asarray(ap.geometry.values), shore)
    assert (d <= cfg.access_distance_m + 1e-6).all()
    assert np.allclose(d, ap["dist_to_shore_m"], atol=1e-6)
    streets = xuhui.network.streets()
    on = shapely.distance(np.asarray(ap.geometry.values), np.asarray(streets.geometry.values[ap["street"]]))
    assert on.max() < 1e-6
    assert ap["shore_pos_m"].is_monotonic_increasing
    assert ap["access_id"].tolist() == list(range(len(ap)))
    # no two access points closer than the de-duplication distance
    xy = shapely.get_coordinates(ap.geometry.values)
    dd = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    assert dd[np.triu_indices(len(xy), 1)].min() >= cfg.dedup_m
    assert "龙腾大道" in set(ap["name"])  # the riverside avenue of the West Bund
    gaps = np.diff(ap["shore_pos_m"].to_numpy())
    assert wf.summary["mean_access_spacing_m"] == pytest.approx(gaps.mean(), abs=0.1)
    assert wf.summary["max_access_spacing_m"] == pytest.approx(gaps.max(), abs=0.1)


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
    # the bank is the district's east edge: few blocks are within 1 km on foot
    assert wf.blocks["within_waterfront"].mean() == pytest.approx(0.055, abs=0.02)


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


def test_no_water_in_a_box_in_the_west(cfg, xuhui):
    box = shapely.box(347_000, 3_449_000, 348_000, 3_450_000)  # 1 km box, 4.5 km from the river
    assert water_polygons(cfg, xuhui.crs, box) is None
    res = analyse_waterfront(cfg, box, xuhui.network, xuhui.blocks, threshold_m=1000.0)
    assert not res.present
    assert res.summary["status"] == "absent"
    assert set(res.summary) == {"status", "reason"}
    assert "huangpu_centreline" in res.summary["reason"] and "100 m" in res.summary["reason"]
    assert res.blocks is None and res.shore is None
    assert absent_reason(WaterfrontConfig()) is not None
    assert absent_summary("x") == {"status": "absent", "reason": "x"}


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
