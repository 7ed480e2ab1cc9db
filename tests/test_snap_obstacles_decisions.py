"""The decisions step snaps with the study's obstacles too (#14 item 4, "legs across water").

Sites, hubs, the before/after facilities, added facilities and the streets'
transit stops are attached as blocks and facilities are: a leg straight
over the river or a motorway is no walk. The synthetic cases reuse the river
layout of tests/test_snap_obstacles.py (south bank street at y=0, river
100 < y < 400, north bank street at y=900, the only bridge at x=800); their
expected distances are walked out by hand along that layout.
"""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from test_snap_obstacles import CRS, MOTORWAY, RIVER, _m, _pts, _reference
from test_snap_obstacles import river_net as river_net  # the module fixture, re-exported

from toolkit.coverage import CategoryRule
from toolkit.decisions import added_facilities_effect, before_after
from toolkit.facilities import attach_facilities
from toolkit.sites import refusal_notes, site_refusals, snap_sites
from toolkit.snapping import REASON_IN_WATER, REASON_TOO_FAR, REASON_WATER, WATER_SLACK_M, snap_points

RULES = {"park": CategoryRule("park", 800.0)}
BLOCK_X = (-500.0, -300.0, -100.0)  # south bank blocks, their points 35 m north of the south street
FAR_X = 900.0  # the one park of the baseline, on the south street


def _blocks(net) -> tuple[gpd.GeoDataFrame, object]:
    """Three south-bank blocks with the baseline's park distances (walked by hand) and their snap."""
    geom = [shapely.box(*_m(x - 40, 10), *_m(x + 40, 60)) for x in BLOCK_X]
    blocks = gpd.GeoDataFrame({"population": [100.0, 200.0, 300.0], "pop_65plus": [10.0, 20.0, 30.0]},
                              geometry=geom, crs=CRS)
    bsnap = snap_points(net, blocks.geometry, max_snap_m=500, obstacles=[RIVER, MOTORWAY])
    assert bsnap.ok.all() and bsnap.leg == pytest.approx([35.0] * 3)
    blocks["dist_park_m"] = [35.0 + FAR_X - x for x in BLOCK_X]
    blocks["within_park"] = blocks["dist_park_m"] <= RULES["park"].max_distance_m
    assert not blocks["within_park"].any()
    return blocks, bsnap


def _park(*xy: tuple[float, float]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"category": ["park"] * len(xy)}, geometry=list(_pts(*xy)), crs=CRS)


def _via_bridge(hub_x: float, leg: float, block_x: float) -> float:
    """From a hub attached to the north street at x=hub_x to a south-bank block, over the bridge."""
    return leg + (1000 - hub_x) + 1300 + (1000 - block_x) + 35


# ------------------------------------------------------------------ before / after, synthetic
def test_far_bank_hub_does_not_cover_blocks_across_the_river(river_net):
    blocks, bsnap = _blocks(river_net)
    base = _park((FAR_X, 0))
    hub = _pts((-300, 420)).to_frame("geometry")  # 20 m north of the river: 420 m over it, 480 m to its own bank
    kw = {"facility_max_snap_m": 600.0, "search_limit_m": 1e5}
    # the old way, no obstacles: the hub lands on the south street and covers every block
    plain, t0 = before_after(river_net, blocks, bsnap, base, hub, ["park"], RULES, **kw)
    assert plain["dist_park_m"].tolist() == pytest.approx([420 + abs(x + 300) + 35 for x in BLOCK_X])
    assert t0.loc["park", "covered_total_after"] == 600.0
    after, table = before_after(river_net, blocks, bsnap, base, hub, ["park"], RULES, **kw,
                                obstacles=[RIVER, MOTORWAY])
    _, leg, _ = _reference(river_net, hub.geometry.iloc[0], 600, water=[RIVER], barriers=[MOTORWAY])
    assert leg == pytest.approx(480.0)
    want = [min(35 + FAR_X - x, _via_bridge(-300, leg, x)) for x in BLOCK_X]
    assert after["dist_park_m"].tolist() == pytest.approx(want)
    assert after["dist_park_m"].tolist() == pytest.approx(blocks["dist_park_m"].tolist())  # the hub helps no one
    assert not after["within_park"].any()
    assert table.loc["park", "newly_covered_total"] == 0 and table.attrs["hubs_refused"] == {}


def test_hub_with_no_street_of_its_own_is_refused_and_reported(river_net):
    blocks, bsnap = _blocks(river_net)
    hub = gpd.GeoDataFrame(geometry=list(_pts((-300, 420), (-300, 80))), index=[7, 8], crs=CRS)
    after, table = before_after(river_net, blocks, bsnap, _park((FAR_X, 0)), hub, ["park"], RULES, 450.0, 1e5,
                                obstacles=[RIVER])
    assert _reference(river_net, hub.geometry.iloc[0], 450, water=[RIVER])[2] == REASON_WATER
    assert table.attrs["hubs_refused"] == {7: REASON_WATER}
    # the near-bank hub counts: 80 m down to the south street, along it, 35 m up to each block
    assert after["dist_park_m"].tolist() == pytest.approx([80 + abs(x + 300) + 35 for x in BLOCK_X])
    assert table.loc["park", "covered_total_after"] == 600.0


def test_a_facility_the_baseline_refused_counts_nowhere_after(river_net):
    blocks, bsnap = _blocks(river_net)
    fac = gpd.GeoDataFrame({"facility_id": [1, 2], "category": ["park", "park"]},
                           geometry=list(_pts((-300, 420), (FAR_X, 0))), crs=CRS)
    _, access, _ = attach_facilities(fac, river_net, max_snap_m=450, obstacles=[RIVER])
    assert access["snap_reason"].tolist() == [REASON_WATER, ""]
    no_hub = gpd.GeoDataFrame(geometry=[], crs=CRS)
    kw = {"facility_max_snap_m": 450.0, "search_limit_m": 1e5}
    # by the baseline's flag, and by the obstacles alone (a caller's table without the flag)
    for rows, obs in ((access, None), (access.drop(columns="snapped"), [RIVER])):
        after, table = before_after(river_net, blocks, bsnap, rows, no_hub, ["park"], RULES, **kw, obstacles=obs)
        assert after["dist_park_m"].tolist() == pytest.approx(blocks["dist_park_m"].tolist())
        assert table.loc["park", "newly_covered_total"] == 0
    # what the old way made of it: the refused park 420 m over the river covered everyone
    old, _ = before_after(river_net, blocks, bsnap, access.drop(columns="snapped"), no_hub, ["park"], RULES, **kw)
    assert old["within_park"].all()


def test_hubs_never_lower_coverage_and_far_bank_hubs_never_cross(river_net):
    blocks, bsnap = _blocks(river_net)
    base = _park((FAR_X, 0))
    rng = np.random.default_rng(4)
    obs = [RIVER, MOTORWAY]
    for _ in range(8):
        south = rng.uniform([-950, -90], [750, 95], size=(rng.integers(0, 3), 2))
        north = rng.uniform([-950, 405], [750, 890], size=(rng.integers(1, 4), 2))
        hubs = _pts(*map(tuple, south), *map(tuple, north)).to_frame("geometry")
        after, table = before_after(river_net, blocks, bsnap, base, hubs, ["park"], RULES, 600.0, 1e5, obstacles=obs)
        d = after["dist_park_m"].to_numpy()
        assert (d <= blocks["dist_park_m"].to_numpy() + 1e-9).all()
        assert (table["rate_total_after"] >= table["rate_total_before"]).all()
        # only the northern hubs: each reaches the south bank over the bridge or not at all
        alone, _ = before_after(river_net, blocks, bsnap, base, hubs.iloc[len(south):], ["park"], RULES, 600.0, 1e5,
                                obstacles=obs)
        legs = [_reference(river_net, p, 600, water=[RIVER], barriers=[MOTORWAY]) for p in hubs.geometry[len(south):]]
        assert all(e in (2, 3, 4) for e, _, _ in legs)  # north bank streets or the bridge
        assert alone["dist_park_m"].tolist() == pytest.approx(blocks["dist_park_m"].tolist())


# ------------------------------------------------------------------ candidate sites, synthetic
def test_sites_are_snapped_with_obstacles_and_refusals_reported(river_net):
    xy = [(-300, 420), (-300, 250), (-300, 50), (-300, 600), (0, -1500)]
    sites = gpd.GeoDataFrame({"site_id": [11, 12, 13, 14, 15]}, geometry=list(_pts(*xy)), crs=CRS)
    s = snap_sites(river_net, sites, 450.0, obstacles=[RIVER, MOTORWAY])
    ref = [_reference(river_net, p, 450, water=[RIVER], barriers=[MOTORWAY]) for p in sites.geometry]
    assert s.reason.tolist() == [r[2] for r in ref] == [REASON_WATER, REASON_IN_WATER, "", "", REASON_TOO_FAR]
    assert s.leg[s.ok] == pytest.approx([r[1] for r in ref if r[2] == ""])
    assert snap_sites(river_net, sites, 450.0).ok[:2].all()  # without obstacles: both across or in the river
    details, notes = site_refusals(sites, s, 450.0)
    assert details == {"unsnapped_by_reason": {REASON_WATER: 1, REASON_IN_WATER: 1, REASON_TOO_FAR: 1},
                       "unsnapped_site_ids": {REASON_WATER: [11], REASON_IN_WATER: [12], REASON_TOO_FAR: [15]}}
    assert notes == [
        "1 candidate sites lie more than 450 m from any walkable street and were not used (site_id 15)",
        "2 candidate sites were not used because no street within 450 m can be reached without crossing water "
        "or a road nobody may walk: leg crosses water (1), in water (1); site_id 11, 12"]
    assert site_refusals(sites.iloc[2:4], s.subset(s.ok), 450.0) == (
        {"unsnapped_by_reason": {}, "unsnapped_site_ids": {}}, [])
    assert refusal_notes(list(range(12)), [REASON_WATER] * 12, 250, "x", id_name="row")[0].endswith(
        "leg crosses water (12); row 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...")


# ------------------------------------------------------------------ the default study
@pytest.fixture(scope="module")
def water_refused(xuhui) -> gpd.GeoDataFrame:
    """The default study's facilities refused for their legs across water."""
    fac = xuhui.facilities
    cut = fac[fac["snap_reason"] == REASON_WATER]
    assert len(cut) == xuhui.details["facilities"]["refused_by_reason"].get(REASON_WATER, 0) >= 1
    assert cut["area_m2"].isna().all()  # points: the layer's geometry is where they stand
    return cut


def _cov_access(result) -> gpd.GeoDataFrame:
    """The decisions step's facilities: one row per access point and category it counts for, as in _run."""
    fac, access = result.facilities, result.details["facility_access"]
    counted, _ = result.profile.coverage_sources(fac)
    pos = {c: np.flatnonzero(access["facility_id"].isin(fac["facility_id"].to_numpy()[counted[c]]).to_numpy())
           for c in result.profile.rules()}
    return access.iloc[np.concatenate([np.zeros(0, dtype=np.int64), *pos.values()])].assign(
        category=np.repeat(np.array(list(pos), dtype=object), [len(p) for p in pos.values()]))


def test_default_before_after_never_counts_a_facility_refused_for_water(xuhui, water_refused):
    net, st, obs = xuhui.network, xuhui.study, xuhui.details["snap_obstacles"]
    rules = xuhui.profile.rules()
    bsnap = snap_points(net, xuhui.blocks.geometry, max_snap_m=st.block_max_snap_m, obstacles=obs)
    cov = _cov_access(xuhui)
    cut = cov[cov["facility_id"].isin(water_refused["facility_id"])]
    cats = sorted(set(cut["category"]))
    no_hub = gpd.GeoDataFrame(geometry=[], crs=xuhui.crs)
    # the refused facilities alone, their baseline flag dropped: with the study's obstacles they reach no one
    alone, _ = before_after(net, xuhui.blocks, bsnap, cut.drop(columns="snapped"), no_hub, cats, rules,
                            st.facility_max_snap_m, st.search_limit_m, obstacles=obs)
    assert not np.isfinite(alone.filter(like="dist_").to_numpy()).any()  # inf, or NaN for the unsnapped blocks
    old, _ = before_after(net, xuhui.blocks, bsnap, cut.drop(columns="snapped"), no_hub, cats, rules,
                          st.facility_max_snap_m, st.search_limit_m)
    assert np.isfinite(old.filter(like="dist_").to_numpy()).any()  # the old way measured from them
    # every access point, no hub: the baseline's own distances, to the metre (the old way differed for
    # some blocks: its access points moved off a street across water went back to it)
    sel = xuhui.details["decisions"]["selection"]["categories"]
    same, _ = before_after(net, xuhui.blocks, bsnap, cov, no_hub, [*cats, *sel], rules,
                           st.facility_max_snap_m, st.search_limit_m, obstacles=obs)
    for c in [*cats, *sel]:
        np.testing.assert_allclose(same[f"dist_{c}_m"], xuhui.blocks[f"dist_{c}_m"], rtol=0, atol=1e-6)


def test_default_hubs_and_after_columns(xuhui):
    d = xuhui.details["decisions"]
    obs = xuhui.details["snap_obstacles"]
    sites = xuhui.layers["candidate_sites"]
    hubs = sites[sites["selected"]]
    s = snap_points(xuhui.network, hubs.geometry, max_snap_m=xuhui.study.facility_max_snap_m, obstacles=obs)
    assert s.ok.all() and "hubs_not_attached" not in d["selection"]
    # the blocks' after-columns are the before/after's, with the study's obstacles
    bsnap = snap_points(xuhui.network, xuhui.blocks.geometry, max_snap_m=xuhui.study.block_max_snap_m, obstacles=obs)
    cats = d["selection"]["categories"]
    after, table = before_after(xuhui.network, xuhui.blocks, bsnap, _cov_access(xuhui), hubs[["geometry"]], cats,
                                xuhui.profile.rules(), xuhui.study.facility_max_snap_m, xuhui.study.search_limit_m,
                                obstacles=obs)
    for c in cats:
        assert (after[f"within_{c}"] == xuhui.blocks[f"within_{c}_after"]).all(), c
    rows = {r["category"]: r for r in d["selection"]["before_after"]}
    for c in cats:
        assert table.loc[c, "newly_covered_total"] == pytest.approx(rows[c]["newly_covered_total"])
        assert rows[c]["newly_covered_total"] == pytest.approx(rows[c]["predicted_newly_covered_total"], abs=1e-6)


def test_default_sites_refused_for_water_are_reported(xuhui):
    d = xuhui.details["decisions"]["sites"]
    sites = xuhui.layers["candidate_sites"]
    obs = xuhui.details["snap_obstacles"]
    s = snap_sites(xuhui.network, sites, 250.0, obstacles=obs)
    assert np.array_equal(s.ok, sites["snapped"].to_numpy())
    assert d["unsnapped"] == int((~s.ok).sum()) == sum(d["unsnapped_by_reason"].values())
    assert d["unsnapped_by_reason"] == pd.Series(s.reason[~s.ok]).value_counts().to_dict()
    ids = sites["site_id"].to_numpy()
    for why, listed in d["unsnapped_site_ids"].items():
        assert sorted(listed) == sorted(ids[s.reason == why].tolist())
    # a site refused for water: its plain leg really runs through the study's water (shapely)
    wet = shapely.union_all(obs.water)
    cut = np.flatnonzero(s.reason == REASON_WATER)
    assert len(cut) >= 1
    plain = snap_points(xuhui.network, sites.geometry.iloc[cut], max_snap_m=250.0)
    assert plain.ok.all()
    rep = shapely.point_on_surface(np.asarray(sites.geometry.values)[cut])
    legs = shapely.linestrings(np.stack([shapely.get_coordinates(rep), np.column_stack([plain.x, plain.y])], axis=1))
    assert (shapely.length(shapely.intersection(legs, wet)) > WATER_SLACK_M).all()
    # unusable: no score, no rank, never selected; and said in the run's notes
    refused = sites[~sites["snapped"]]
    assert refused["score"].isna().all() and refused["rank"].isna().all() and not refused["selected"].any()
    note = next(n for n in xuhui.notes if "candidate sites were not used because" in n)
    assert "leg crosses water" in note and all(str(i) in note for i in ids[cut])


def test_default_added_facility_across_the_river_is_refused(xuhui, water_refused):
    added = gpd.GeoDataFrame({"category": water_refused["category"].astype(str).to_numpy()},
                             geometry=water_refused.geometry.values, crs=xuhui.crs,
                             index=np.arange(10, 10 + len(water_refused)))
    eff = added_facilities_effect(xuhui, added)
    assert eff.refused.index.tolist() == added.index.tolist()
    assert (eff.refused["snap_reason"] == REASON_WATER).all()
    limit = xuhui.study.facility_max_snap_m
    assert eff.notes == [f"{len(added)} added facilities were not used because no street within {limit:.0f} m can be "
                         f"reached without crossing water or a road nobody may walk: leg crosses water "
                         f"({len(added)}); row {', '.join(map(str, added.index))}"]
    # counted nowhere: every after-distance is the baseline's
    for c in eff.after.filter(like="dist_").columns:
        if c in xuhui.blocks:
            np.testing.assert_array_equal(eff.after[c].to_numpy(), xuhui.blocks[c].to_numpy())
    was = eff.rates[eff.rates["baseline_status"] != "no data"]
    assert (was["rate_total_after"] == was["rate_total_before"]).all()


def test_default_adding_facilities_never_lowers_coverage(xuhui, water_refused):
    area = xuhui.land
    x0, y0, x1, y1 = area.bounds
    rng = np.random.default_rng(14)
    xy = rng.uniform([x0, y0], [x1, y1], size=(40, 2))
    pts = shapely.points(xy)
    pts = pts[shapely.contains(area, pts)][:12]
    geom = np.concatenate([pts, np.asarray(water_refused.geometry.values)])
    cats = [*rng.choice(xuhui.categories, len(pts)), *water_refused["category"].astype(str)]
    added = gpd.GeoDataFrame({"category": cats}, geometry=geom, crs=xuhui.crs).to_crs(4326)  # any CRS
    eff = added_facilities_effect(xuhui, added)
    was = eff.rates[eff.rates["baseline_status"] != "no data"]
    assert (was["rate_total_after"] >= was["rate_total_before"] - 1e-12).all()
    assert (was["rate_65plus_after"] >= was["rate_65plus_before"] - 1e-12).all()
    assert eff.underserved["blocks_after"] <= eff.underserved["blocks_before"]
    for c in eff.after.filter(like="dist_").columns:
        if c in xuhui.blocks:
            a, b = eff.after[c].to_numpy(), xuhui.blocks[c].to_numpy()
            assert np.array_equal(np.isnan(a), np.isnan(b)) and (a[~np.isnan(a)] <= b[~np.isnan(b)]).all(), c
    assert set(added.index[-len(water_refused):]) <= set(eff.refused.index)
    # the refused ones changed nothing: the same points without them give the same after-distances
    kept = added.drop(index=eff.refused.index)
    again = added_facilities_effect(xuhui, kept)
    pd.testing.assert_frame_equal(again.after, eff.after[again.after.columns])


# ------------------------------------------------------------------ the streets' transit stops
@pytest.mark.filterwarnings("ignore:Degrees of freedom:RuntimeWarning")  # no street has a stop: nothing to scale
def test_transit_stop_across_the_river_serves_no_street(xuhui, water_refused):
    from toolkit.study import walkability_overlay

    r = xuhui
    access = r.details["facility_access"]
    spot = water_refused.geometry.iloc[0]
    stop = gpd.GeoDataFrame({"facility_id": [-1], "category": ["transit"], "kind": ["point"], "snap_leg_m": [0.0],
                             "snapped": [False], "snap_reason": [REASON_WATER], "best": [True]},
                            geometry=[spot], crs=r.crs)
    acc = pd.concat([access[access["category"] != "transit"], stop], ignore_index=True)
    blocks = r.blocks.drop(columns=[c for c in r.blocks.columns if c.startswith("walk_")])
    streets = r.streets.drop(columns=[c for c in r.streets.columns if c.startswith("walk_")])
    bsnap = snap_points(r.network, r.blocks.geometry, max_snap_m=r.study.block_max_snap_m,
                        obstacles=r.details["snap_obstacles"])
    study = dataclasses.replace(r.study, walk_landuse=None)  # land use plays no part here
    args = (study, r.network, blocks, streets, r.facilities, r.profile, bsnap, r.land)
    _, st, _ = walkability_overlay(*args, access=acc, obstacles=r.details["snap_obstacles"])
    assert np.isinf(st["walk_transit_m"]).all()  # no street reaches the stop: it stands across the water
    _, st0, _ = walkability_overlay(*args, access=acc)  # the old way: reached over the water
    assert np.isfinite(st0["walk_transit_m"]).any()
