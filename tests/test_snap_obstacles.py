"""Off-network legs may not cross water or roads nobody walks (#14 item 4, "legs across water").

The references here are computed with shapely alone: for every street edge the
point's nearest position on it, the straight leg, and whether that leg runs
through water or over a barrier line; the expected attachment is the nearest
edge whose leg is clear. ``toolkit.snapping`` is never its own reference.

Local layout of the synthetic cases (metres, EPSG:32651 around X0, Y0)::

    y=900  ---------------- north bank street ----------------
    y=400  ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~  river (100 < y < 400)
    y=100  ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    y=0    ---------------- south bank street ----------------
    y=-100 ================ motorway (barrier) ================
    y=-400 ---------------- street beyond it -----------------

and a bridge across the river at x=800.
"""

from __future__ import annotations

import dataclasses
import json
import pickle

import geopandas as gpd
import numpy as np
import pytest
import shapely
from osm_synth import X0, Y0, OsmWriter

from toolkit.config import FacilitySource, Source
from toolkit.facilities import attach_facilities
from toolkit.network import WalkNetwork, grid_network
from toolkit.osm_network import read_walk_network
from toolkit.snapping import (
    BRIDGE_DECK_M,
    REASON_BARRIER,
    REASON_IN_WATER,
    REASON_TOO_FAR,
    REASON_WATER,
    REASONS,
    STREET_NUDGE_M,
    WATER_SLACK_M,
    SnapObstacles,
    leg_obstacles,
    snap_points,
)
from toolkit.study import run_study

CRS = "EPSG:32651"
RIVER = shapely.box(X0 - 2000, Y0 + 100, X0 + 2000, Y0 + 400)
MOTORWAY = shapely.LineString([(X0 - 2000, Y0 - 100), (X0 + 2000, Y0 - 100)])


def _m(x: float, y: float) -> tuple[float, float]:
    return X0 + x, Y0 + y


def _net(lines: list[list[tuple[float, float]]], **kw) -> WalkNetwork:
    """A network of one edge per (local) polyline; nodes shared where coordinates coincide."""
    keys: dict[tuple[float, float], int] = {}
    u, v, geom = [], [], []
    for line in lines:
        pts = [_m(*p) for p in line]
        a, b = (keys.setdefault(p, len(keys)) for p in (pts[0], pts[-1]))
        u.append(a)
        v.append(b)
        geom.append(shapely.LineString(pts))
    xy = np.array(list(keys))
    return WalkNetwork(x=xy[:, 0], y=xy[:, 1], u=u, v=v, length=shapely.length(geom), crs=CRS,
                       geometry=np.array(geom, dtype=object), **kw)


@pytest.fixture(scope="module")
def river_net() -> WalkNetwork:
    return _net([
        [(-1000, 0), (0, 0)], [(0, 0), (1000, 0)],                  # south bank
        [(-1000, 900), (0, 900)], [(0, 900), (1000, 900)],          # north bank
        [(1000, 0), (800, 0), (800, 900), (1000, 900)],             # the bridge, with its ramps
        [(-1000, -400), (1000, -400)],                              # beyond the motorway
    ])


def _pts(*xy: tuple[float, float]) -> gpd.GeoSeries:
    return gpd.GeoSeries([shapely.Point(_m(*p)) for p in xy], crs=CRS)


def _reference(net: WalkNetwork, point: shapely.Point, max_snap_m: float, water=(), barriers=(),
               decks: shapely.Geometry | None = None) -> tuple[int, float, str]:
    """Brute force: nearest edge whose straight leg neither runs through water nor meets a barrier.

    Returns the edge (-1 when refused), its leg and the reason.
    """
    wet_area = shapely.union_all(list(water)) if len(water) else shapely.Polygon()
    if decks is not None:
        wet_area = wet_area.difference(decks)
    if wet_area.contains(point) and wet_area.boundary.distance(point) > WATER_SLACK_M:
        return -1, np.nan, REASON_IN_WATER
    rows = []
    for e, line in enumerate(net.edge_geometry):
        on = line.interpolate(line.project(point))
        leg = shapely.LineString([point, on])
        rows.append((point.distance(on), e, leg.intersection(wet_area).length > WATER_SLACK_M,
                     any(leg.intersects(b) for b in barriers)))
    rows.sort()
    if rows[0][0] > max_snap_m:
        return -1, rows[0][0], REASON_TOO_FAR
    for d, e, wet, cut in rows:
        if d <= max_snap_m and not wet and not cut:
            return e, d, ""
    return -1, rows[0][0], REASON_WATER if rows[0][2] else REASON_BARRIER


# ------------------------------------------------------------------ water
def test_far_bank_attaches_to_its_own_bank(river_net):
    # 20 m north of the river: the south bank street is 420 m away straight over the water,
    # its own bank's street 480 m away
    p = _pts((-300, 420))
    plain = snap_points(river_net, p, max_snap_m=600)
    assert plain.ok[0] and plain.leg[0] == pytest.approx(420.0)  # what the tester saw: across the river
    s = snap_points(river_net, p, max_snap_m=600, obstacles=[RIVER, MOTORWAY])
    e, d, why = _reference(river_net, p.iloc[0], 600, water=[RIVER], barriers=[MOTORWAY])
    assert (e, why) == (2, "") and d == pytest.approx(480.0)
    assert s.ok[0] and s.edge[0] == e and s.leg[0] == pytest.approx(d) and s.reason[0] == ""
    assert s.reattached[0] and s.y[0] == pytest.approx(Y0 + 900)
    # along-edge distances come from the new edge: u at x=-1000, v at x=0
    assert (s.d_u[0], s.d_v[0]) == (pytest.approx(700.0), pytest.approx(300.0))


def test_far_bank_with_no_street_of_its_own_is_refused(river_net):
    p = _pts((-300, 420))
    s = snap_points(river_net, p, max_snap_m=450, obstacles=[RIVER])
    assert _reference(river_net, p.iloc[0], 450, water=[RIVER])[2] == REASON_WATER
    assert not s.ok[0] and s.reason[0] == REASON_WATER
    # the refused point still says where its nearest (unusable) street was
    assert s.leg[0] == pytest.approx(420.0) and s.edge[0] in (0, 1)


@pytest.mark.parametrize("limit", [500.0, np.inf])
def test_mid_river_point_is_refused_in_water(river_net, limit):
    s = snap_points(river_net, _pts((-300, 250)), max_snap_m=limit, obstacles=[RIVER])
    assert not s.ok[0] and s.reason[0] == REASON_IN_WATER
    assert shapely.contains(RIVER, shapely.Point(_m(-300, 250)))


def test_a_shore_point_is_not_in_water(river_net):
    # 1 m into the river polygon (a park's edge drawn over the bank): on land for walking
    s = snap_points(river_net, _pts((-300, 101)), max_snap_m=500, obstacles=[RIVER])
    assert s.ok[0] and s.leg[0] == pytest.approx(101.0)


def test_a_stop_on_the_bridge_is_on_the_bridge(river_net):
    decks = shapely.buffer(river_net.edge_geometry[4], BRIDGE_DECK_M)
    p = _pts((806, 250))  # over the river, 6 m off the bridge's centreline
    e, d, why = _reference(river_net, p.iloc[0], 500, water=[RIVER], decks=decks)
    s = snap_points(river_net, p, max_snap_m=500, obstacles=[RIVER])
    assert (e, why) == (4, "") and s.ok[0] and s.edge[0] == 4 and s.leg[0] == pytest.approx(d) == 6.0
    # 40 m off the bridge: standing in the river
    assert snap_points(river_net, _pts((840, 250)), max_snap_m=500, obstacles=[RIVER]).reason[0] == REASON_IN_WATER


# ------------------------------------------------------------------ barriers
def test_only_street_across_a_motorway_is_refused(river_net):
    p = _pts((-300, -150))  # the south bank street 150 m north over the motorway; the far one 250 m
    e, d, why = _reference(river_net, p.iloc[0], 200, barriers=[MOTORWAY])
    s = snap_points(river_net, p, max_snap_m=200, obstacles=[RIVER, MOTORWAY])
    assert why == REASON_BARRIER and not s.ok[0] and s.reason[0] == REASON_BARRIER
    # with a larger limit the street on its own side of the motorway
    s = snap_points(river_net, p, max_snap_m=300, obstacles=[RIVER, MOTORWAY])
    e, d, why = _reference(river_net, p.iloc[0], 300, barriers=[MOTORWAY])
    assert s.ok[0] and s.edge[0] == e == 5 and s.leg[0] == pytest.approx(d) == 250.0


@pytest.fixture(scope="module")
def t_junction() -> tuple[WalkNetwork, shapely.LineString]:
    """A street running north from a motorway it ends at; the motorway runs at a slant through its end."""
    barrier = shapely.LineString([_m(-500, 250), _m(500, -250)])  # y = -x/2, through (0, 0)
    return _net([[(0, 0), (0, 200)]]), barrier


def test_leg_touching_a_barrier_at_the_street_end_is_kept(t_junction):
    net, barrier = t_junction
    # on the street's side of the motorway (above y = -x/2); its nearest street point is the street's end,
    # which lies on the motorway
    p = _pts((50, -10))
    assert shapely.touches(shapely.LineString([p.iloc[0], shapely.Point(_m(0, 0))]), barrier)
    s = snap_points(net, p, max_snap_m=200, obstacles=[barrier])
    assert s.ok[0] and s.reason[0] == "" and not s.reattached[0]
    assert s.leg[0] == pytest.approx(np.hypot(50, 10)) and s.d_u[0] == pytest.approx(0.0)


def test_leg_from_the_far_side_to_the_same_street_end_is_refused(t_junction):
    net, barrier = t_junction
    # the mirror point, below the motorway: its leg to the same end node only touches the line too,
    # but the street leaves the motorway on the other side
    p = _pts((-50, 10))
    assert shapely.touches(shapely.LineString([p.iloc[0], shapely.Point(_m(0, 0))]), barrier)
    s = snap_points(net, p, max_snap_m=200, obstacles=[barrier])
    assert not s.ok[0] and s.reason[0] == REASON_BARRIER


def test_a_street_drawn_along_a_barrier_is_reachable():
    """A walkable way mapped on the same line as a foot=no carriageway: the leg ends on both, crosses neither."""
    net = _net([[(0, 0), (200, 0)]])
    barrier = shapely.LineString([_m(-100, 0), _m(300, 0)])
    s = snap_points(net, _pts((50, 30), (120, -40)), max_snap_m=100, obstacles=[barrier])
    assert s.ok.all() and s.leg.tolist() == pytest.approx([30.0, 40.0])


def test_block_legs_ignore_what_lies_inside_the_block():
    """A block's leg counts what it crosses after leaving the block, never a stub of motorway inside it."""
    net = grid_network(2, spacing=100.0, origin=_m(0, 0), crs=CRS)  # one 100 m cell
    block = gpd.GeoSeries([shapely.box(*_m(10, 10), *_m(80, 60))], crs=CRS)
    rep = shapely.point_on_surface(block.iloc[0])
    stub = shapely.LineString([_m(20, 20), _m(75, 20)])  # inside the block, between its point and y=0
    assert shapely.intersects(shapely.LineString([rep, (rep.x, Y0)]), stub)
    as_block = snap_points(net, block, max_snap_m=200, obstacles=[stub])
    as_point = snap_points(net, gpd.GeoSeries([rep], crs=CRS), max_snap_m=200, obstacles=[stub])
    e, d, _ = _reference(net, rep, 200, barriers=[stub])
    assert as_block.ok[0] and not as_block.reattached[0] and as_block.y[0] == pytest.approx(Y0)
    assert as_point.ok[0] and as_point.reattached[0] and as_point.edge[0] == e and as_point.leg[0] == pytest.approx(d)
    # the block's own edge a motorway: its leg crosses it on the way out, so the next street
    edge_road = shapely.LineString([_m(-50, 10), _m(150, 10)])
    s = snap_points(net, block, max_snap_m=200, obstacles=[edge_road])
    e, d, _ = _reference(net, rep, 200, barriers=[edge_road])
    assert s.ok[0] and s.reattached[0] and s.edge[0] == e and s.leg[0] == pytest.approx(d)


def test_motorway_from_osm_is_a_barrier(tmp_path):
    """The same through the OSM reader: a motorway is removed from the walk and its line kept as a barrier."""
    w = OsmWriter()
    w.line([(0, 0), (400, 0)], highway="residential")
    w.line([(-100, -60), (500, -60)], highway="motorway")
    w.line([(0, -300), (400, -300)], highway="residential")
    net = read_walk_network(w.write_xml(tmp_path / "motorway.osm"), CRS)
    assert len(net.barriers) == 1
    p = _pts((200, -100))  # 100 m from the street over the motorway, 200 m from its own
    obs, record = leg_obstacles(net, None, water_reason="no [waterfront] section in the study")
    assert record == {"legs_checked_against": ["barriers"],
                      "legs_not_checked": {"water": "no [waterfront] section in the study"}}
    s = snap_points(net, p, max_snap_m=250, obstacles=obs)
    e, d, _ = _reference(net, p.iloc[0], 250, barriers=list(net.barriers))
    assert s.ok[0] and s.edge[0] == e and s.leg[0] == pytest.approx(d, abs=0.05) and d == pytest.approx(200, abs=0.1)
    assert snap_points(net, p, max_snap_m=150, obstacles=obs).reason[0] == REASON_BARRIER


# ------------------------------------------------------------------ many points, no obstacles
@pytest.mark.parametrize("limit", [45.0, 80.0])
def test_random_points_match_the_brute_force(limit):
    net = grid_network(5, spacing=100.0, origin=_m(0, 0), crs=CRS)
    # a moat inside a cell, no street over it: its island is cut off, its water is a pond to points in it
    pond = shapely.box(*_m(105, 105), *_m(195, 195)).difference(shapely.box(*_m(125, 125), *_m(175, 175)))
    road = shapely.LineString([_m(-50, 30), _m(450, 260)])  # an at-grade motorway across the grid
    rng = np.random.default_rng(14)
    xy = rng.uniform(-60, 460, size=(500, 2))
    pts = _pts(*map(tuple, xy))
    s = snap_points(net, pts, max_snap_m=limit, obstacles=gpd.GeoSeries([pond, road], crs=CRS))
    ref = [_reference(net, p, limit, water=[pond], barriers=[road]) for p in pts]
    # Where a street crosses the motorway at grade, a leg reaching the street within STREET_NUDGE_M of
    # that crossing may end on the far side of it and still count as reaching the street on its own side
    # (the T-junction tests above pin that rule down); the plain brute force has no such allowance.
    crossing = shapely.intersection(road, shapely.union_all(net.edge_geometry))
    near = np.array([shapely.distance(shapely.Point(x, y), crossing) < 2 * STREET_NUDGE_M
                     for x, y in zip(s.x, s.y, strict=True)])
    assert near.sum() <= 5
    keep = ~near
    want_ok = np.array([r[2] == "" for r in ref])
    assert np.array_equal(s.ok[keep], want_ok[keep])
    assert s.reason[keep].tolist() == [r[2] for r, k in zip(ref, keep, strict=True) if k]
    # the nearest clear street, not merely a clear one (grid edges are distinct, distances tie only at corners)
    assert np.allclose(s.leg[want_ok & keep], [r[1] for r, k in zip(ref, keep, strict=True) if r[2] == "" and k],
                       atol=1e-6)
    # the case covers every outcome: attached, moved past a blocked street, and each refusal
    assert set(s.reason) == {"", *REASONS} - ({REASON_TOO_FAR} if limit > 60 else set())
    assert s.reattached.any() or limit < 50


def test_no_obstacles_changes_nothing():
    net = grid_network(6, spacing=80.0, origin=_m(0, 0), crs=CRS, jitter=15.0)
    rng = np.random.default_rng(3)
    pts = _pts(*map(tuple, rng.uniform(-100, 500, size=(400, 2))))
    plain = snap_points(net, pts, max_snap_m=60)
    far_away = snap_points(net, pts, max_snap_m=60, obstacles=[shapely.box(*_m(5000, 5000), *_m(5100, 5100))])
    none = snap_points(net, pts, max_snap_m=60, obstacles=np.empty(0, dtype=object))
    for other in (far_away, none):
        for f in ("edge", "d_u", "d_v", "leg", "ok", "x", "y", "reason"):
            assert np.array_equal(getattr(plain, f), getattr(other, f)), f
    # and plain snapping is the brute-force nearest edge
    for i, p in enumerate(pts):
        d = shapely.distance(p, net.edge_geometry)
        assert plain.leg[i] == pytest.approx(d.min(), abs=1e-9)
        assert plain.ok[i] == (d.min() <= 60)
    assert set(plain.reason) == {"", REASON_TOO_FAR} and not plain.reattached.any()
    assert plain.frame()["snap_reason"].tolist() == plain.reason.tolist()


def test_obstacles_are_checked():
    net = grid_network(2, origin=(0.0, 0.0), crs=CRS)
    with pytest.raises(ValueError, match="not points"):
        SnapObstacles.build(net, [shapely.Point(1, 1)])
    with pytest.raises(ValueError, match="EPSG:4326"):
        SnapObstacles.build(net, gpd.GeoSeries([shapely.box(0, 0, 1, 1)], crs=4326))
    obs, record = leg_obstacles(net, None)
    assert obs is None and record["legs_checked_against"] == []
    # an invalid (bow-tie) pond over a street is repaired, not an error; the obstacles survive a pickle
    bow = shapely.Polygon([(20, -20), (60, 20), (60, -20), (20, 20)])
    obs = SnapObstacles.build(net, [bow])
    assert len(obs.water) >= 1 and shapely.is_valid(obs.water).all()
    again = pickle.loads(pickle.dumps(obs))
    p = gpd.GeoSeries([shapely.Point(40, -15)], crs=CRS)
    assert np.array_equal(snap_points(net, p, 50, obstacles=again).leg, snap_points(net, p, 50, obstacles=obs).leg)


# ------------------------------------------------------------------ facilities
def test_park_on_the_bank_is_entered_from_its_own_side(river_net):
    """A park's access points facing the river no longer reach the street across it."""
    park = gpd.GeoDataFrame({"facility_id": [1], "category": ["park"]},
                            geometry=[shapely.box(*_m(-400, 410), *_m(-200, 880))], crs=CRS)
    # every boundary point counts as near a street, so the river side is entered too without obstacles
    kw = {"max_snap_m": 450, "max_street_m": 450}
    _, _, snap0 = attach_facilities(park, river_net, **kw)
    fac, acc, snap = attach_facilities(park, river_net, **kw, obstacles=[RIVER])
    river_side = (acc.geometry.y < Y0 + 420).to_numpy()
    assert river_side.any() and (snap0.y[river_side] == Y0).all() and snap0.ok[river_side].all()
    for i in np.flatnonzero(river_side):
        why = _reference(river_net, acc.geometry.iloc[i], 450, water=[RIVER])[2]
        assert why == REASON_WATER and not snap.ok[i] and snap.reason[i] == REASON_WATER
    assert (snap.y[snap.ok] == Y0 + 900).all() and snap.ok.sum() > 10
    assert fac["snapped"].iloc[0] and fac["snap_reason"].iloc[0] == ""
    assert acc.loc[acc["best"], "snap_leg_m"].iloc[0] == pytest.approx(20.0)
    assert (acc["snap_reason"] == snap.reason).all()


def test_park_with_no_street_on_its_bank_is_refused_for_water():
    net = _net([[(-1000, 0), (0, 0)], [(0, 0), (1000, 0)]])  # the south bank street only
    park = gpd.GeoDataFrame({"facility_id": [7], "category": ["park"]},
                            geometry=[shapely.box(*_m(-400, 410), *_m(-200, 600))], crs=CRS)
    fac, acc, _ = attach_facilities(park, net, max_snap_m=700, max_street_m=700, obstacles=[RIVER])
    assert not fac["snapped"].iloc[0] and fac["snap_reason"].iloc[0] == REASON_WATER
    assert set(acc["snap_reason"]) == {REASON_WATER} and len(acc) > 10
    assert fac["snap_leg_m"].iloc[0] == pytest.approx(410.0)  # where it would have landed, across the river


# ------------------------------------------------------------------ the default study
def test_default_study_records_what_legs_were_checked_against(xuhui):
    d = xuhui.details
    for part in ("blocks", "facilities"):
        assert d[part]["legs_checked_against"] == ["barriers", "water"]
        assert "legs_not_checked" not in d[part]
    # the two refused blocks lie between a motorway's carriageways; nothing in the default study is refused
    # for crossing a barrier on its way to a street otherwise
    refused = d["blocks"]["refused_by_reason"]
    assert set(refused) <= {REASON_BARRIER} and sum(refused.values()) <= 3
    fac = xuhui.facilities
    by = fac.loc[~fac["snapped"], "snap_reason"].value_counts().to_dict()
    assert by == d["facilities"]["refused_by_reason"]
    # a refusal for distance is still what it was: beyond the limit
    assert (fac.loc[fac["snap_reason"] == REASON_TOO_FAR, "snap_leg_m"] > xuhui.study.facility_max_snap_m).all()
    # every other refused facility's legs really cross water (shapely on the study's own water)
    wet = shapely.union_all(d["snap_obstacles"].water)
    acc = d["facility_access"]
    for fid in fac.loc[fac["snap_reason"] == REASON_WATER, "facility_id"]:
        rows = acc[acc["facility_id"] == fid]
        assert (rows["snap_reason"] != "").all()
        plain = snap_points(xuhui.network, rows.geometry, max_snap_m=xuhui.study.facility_max_snap_m)
        legs = shapely.linestrings(np.stack([shapely.get_coordinates(rows.geometry.values),
                                             np.column_stack([plain.x, plain.y])], axis=1))
        assert (shapely.length(shapely.intersection(legs[plain.ok], wet)) > WATER_SLACK_M).all()


@pytest.fixture(scope="module")
def pudong(xuhui_study, xuhui, tmp_path_factory):
    """The default study with one facility file: a point on the Pudong bank, one mid-river, one on a street.

    Only the steps before coverage matter here: heritage, compounds and decisions are left out to keep it
    quick, and the snap limit is raised to 1 km, where the far bank's legs used to land across the river.
    """
    net = xuhui.network
    on_street = shapely.line_interpolate_point(net.edge_geometry[net.snap_edges()[100]], 0.5, normalized=True)
    pts = gpd.GeoSeries([shapely.Point(353512, 3445278), shapely.Point(353250, 3445278), on_street],
                        crs=xuhui.crs).to_crs(4326)
    folder = tmp_path_factory.mktemp("pudong")
    path = folder / "bank_points.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": n}, "geometry": json.loads(shapely.to_geojson(g))}
        for n, g in zip(["far bank", "mid river", "street"], pts, strict=True)]}), encoding="utf-8")
    study = dataclasses.replace(
        xuhui_study, facilities=[FacilitySource(source=Source(path=str(path)), kind="fixed", category="market")],
        facility_max_snap_m=1000.0, heritage=None, compounds=None, decisions=False)
    return run_study(study), pts.to_crs(xuhui.crs)


def test_far_bank_of_the_huangpu_is_refused_end_to_end(pudong, xuhui):
    result, pts = pudong
    wet = shapely.union_all(xuhui.details["snap_obstacles"].water)
    far, mid, _ = pts
    # the set-up: the first point is on land east of the river, its nearest street across the water
    assert not wet.contains(far) and wet.contains(mid)
    plain = snap_points(xuhui.network, pts.iloc[:1], max_snap_m=1000)
    assert plain.ok[0] and 300 < plain.leg[0] < 1000
    leg = shapely.LineString([far, (plain.x[0], plain.y[0])])
    assert leg.intersection(wet).length > 100
    fac = result.facilities.set_index("name")
    assert fac.loc["far bank", "snap_reason"] == REASON_WATER and not fac.loc["far bank", "snapped"]
    assert fac.loc["mid river", "snap_reason"] == REASON_IN_WATER and not fac.loc["mid river", "snapped"]
    assert fac.loc["street", "snapped"] and fac.loc["street", "snap_leg_m"] < 1
    d = result.details["facilities"]
    assert d["refused_by_reason"] == {REASON_WATER: 1, REASON_IN_WATER: 1}
    assert d["legs_checked_against"] == ["barriers", "water"]
    note = next(n for n in result.notes if "without crossing water" in n)
    assert "bank_points.geojson" in note and "leg crosses water (1)" in note and "in water (1)" in note
    # the market is measured from the street point alone
    assert np.isfinite(result.blocks["dist_market_m"]).any()
