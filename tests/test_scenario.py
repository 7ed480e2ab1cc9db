"""Scenarios against a baseline (issue #12, item 5): added and closed facilities, access points, walking links.

The default study (the session fixture ``xuhui``) is only read: each scenario is measured with
:func:`toolkit.scenario.scenario_effect`, and where the outputs are written a shallow copy of the result takes
the scenario's layers. References are independent of the code under test: shapely distances to the raw
streets for the access point, networkx on the streets of the OSM file (parsed here with the standard
library) plus the link for the walking link, and the monotone properties a proposal must have.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from osm_synth import X0, Y0, OsmWriter
from test_run_json import TO_WGS

import toolkit as tk
from toolkit.errors import InputError
from toolkit.outputs.schema import undocumented_columns
from toolkit.outputs.writers import write_outputs
from toolkit.record import RUN_JSON_KEYS
from toolkit.scenario import Scenario, network_with_links, run_scenarios, scenario_effect

GROUPS = ("total", "65plus", "0_14")


def _lonlat(result: tk.StudyResult, xy: np.ndarray) -> np.ndarray:
    t = pyproj.Transformer.from_crs(result.crs, "EPSG:4326", always_xy=True)
    lon, lat = t.transform(np.asarray(xy)[:, 0], np.asarray(xy)[:, 1])
    return np.column_stack([lon, lat])


def _most_aged(result: tk.StudyResult, n: int = 10) -> np.ndarray:
    """Representative points (lon, lat) of the ``n`` blocks with the largest share of 65+ (of >= 100 residents)."""
    b = result.blocks
    share = (b["pop_65plus"] / b["population"])[b["population"] >= 100]
    top = share.sort_values(ascending=False, kind="stable").index[:n]
    pts = shapely.point_on_surface(np.asarray(b.loc[top].geometry.values))
    return _lonlat(result, shapely.get_coordinates(pts))


def _vouched(result: tk.StudyResult) -> tk.StudyResult:
    """The default study as if every measured category had complete data (so the rule flags blocks)."""
    ds = {c: {**v, "status": "complete"} if c in result.categories else v
          for c, v in result.details["data_status"].items()}
    return dataclasses.replace(result, details={**result.details, "data_status": ds})


def _snapshot(result: tk.StudyResult) -> dict:
    net = result.network
    return {"blocks": result.blocks.copy(deep=True), "facilities": result.facilities.copy(deep=True),
            "access": result.details["facility_access"].copy(deep=True), "rates": result.rates.copy(deep=True),
            "net": [a.copy() for a in (net.x, net.y, net.u, net.v, net.length, net.snappable)],
            "edges": shapely.to_wkb(net.edge_geometry), "layers": sorted(result.layers),
            "notes": list(result.notes), "details": sorted(result.details)}


def _assert_unchanged(result: tk.StudyResult, snap: dict) -> None:
    pd.testing.assert_frame_equal(result.blocks, snap["blocks"])
    pd.testing.assert_frame_equal(result.facilities, snap["facilities"])
    pd.testing.assert_frame_equal(result.details["facility_access"], snap["access"])
    pd.testing.assert_frame_equal(result.rates, snap["rates"])
    net = result.network
    for a, b in zip((net.x, net.y, net.u, net.v, net.length, net.snappable), snap["net"], strict=True):
        assert np.array_equal(a, b)
    assert list(shapely.to_wkb(net.edge_geometry)) == list(snap["edges"])
    assert sorted(result.layers) == snap["layers"] and result.notes == snap["notes"]
    assert sorted(result.details) == snap["details"]


def _monotone_up(eff) -> None:
    """No rate falls, no walk gets longer, no block loses reach."""
    t = eff.categories
    for g in GROUPS:
        before, after = t[f"rate_{g}_before"], t[f"rate_{g}_after"]
        ok = before.isna() | (after >= before - 1e-12)
        assert ok.all(), t.loc[~ok, [f"rate_{g}_before", f"rate_{g}_after"]]
    ch = eff.blocks[[c for c in eff.blocks.columns if c.startswith("dist_change_")]].to_numpy(dtype=float)
    assert not (ch[np.isfinite(ch)] > 0).any()
    assert (eff.blocks["n_no_longer_within"] == 0).all()


# --------------------------------------------------------------- acceptance
def test_ten_elderly_care_points_at_the_most_aged_blocks_never_worsen_anything(xuhui, tmp_path):
    """10 proposed elderly-care points at the 10 most-aged blocks: no rate falls, no flag appears, tables written."""
    pts = _most_aged(xuhui)
    table = {"name": "aged", "title": "Ten elderly-care points",
             "facilities": [{"category": "elderly_care", "lon": float(x), "lat": float(y)} for x, y in pts]}
    snap = _snapshot(xuhui)
    r = copy.copy(xuhui)  # a shallow copy takes the scenario's layers and notes; the fixture stays as it was
    r.layers, r.details, r.notes = dict(xuhui.layers), dict(xuhui.details), list(xuhui.notes)
    r.study = dataclasses.replace(xuhui.study, scenarios=[table], write_map=True, report=True)
    rec = run_scenarios(r)
    _assert_unchanged(xuhui, snap)
    eff = scenario_effect(xuhui, Scenario("aged", added=gpd.GeoDataFrame(
        {"category": ["elderly_care"] * 10}, geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs="EPSG:4326")))
    _monotone_up(eff)
    care = eff.categories.loc["elderly_care"]
    assert care["facilities_after"] == care["facilities_before"] + 10  # counted as the baseline counts its own
    assert care["rate_65plus_after"] > care["rate_65plus_before"]  # the points are where the old live
    assert eff.underserved["blocks_after"] <= eff.underserved["blocks_before"]
    # with every measured category vouched for, blocks are flagged: the points remove flags, never add one
    vouched = _vouched(xuhui)
    ev = scenario_effect(vouched, eff.scenario)
    assert ev.underserved["blocks_before"] > 0 and ev.underserved["blocks_after"] <= ev.underserved["blocks_before"]
    assert not (ev.blocks["underserved_after"] & ~ev.blocks["underserved_before"]).any()
    # written: the difference tables in run.json, the layers in the GeoPackage, the map and report sections
    assert rec["scenarios"][0]["categories"][0]["category"] == "elderly_care"
    folder = write_outputs(r, tmp_path)
    try:
        _check_written(folder, r, xuhui)
    finally:  # the facilities layer holds rows of the evaluation exports: not left in /tmp
        shutil.rmtree(folder, ignore_errors=True)


def _check_written(folder: Path, r: tk.StudyResult, xuhui: tk.StudyResult) -> None:
    """What the written folder holds for the scenario: run.json, the GeoPackage layer, report, map, schema."""
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert list(run) == list(RUN_JSON_KEYS)
    (s,) = run["scenarios"]["scenarios"]
    row = next(x for x in s["categories"] if x["category"] == "elderly_care")
    assert row["rate_total_after"] >= row["rate_total_before"] and s["zones_changed"]
    assert sum(z["blocks_newly_within"] for z in s["zones_changed"]) == row["blocks_newly_within"]
    layer = gpd.read_file(folder / "xuhui.gpkg", layer="scenario_aged_blocks")
    assert len(layer) == len(xuhui.blocks) and int(layer["distance_changed"].sum()) == s["blocks_changed"] > 0
    assert set(layer["block_id"]) == set(xuhui.blocks["block_id"])
    assert "Scenario: Ten elderly-care points" in (folder / "report.html").read_text(encoding="utf-8")
    assert "Scenario Ten elderly-care points: change in reach (blocks)" in (folder / "map.html").read_text(
        encoding="utf-8")
    assert not undocumented_columns({k: v for k, v in r.layers.items() if k.startswith("scenario_")})
    assert "Scenario: blocks against the baseline" in (folder / "schema.md").read_text(encoding="utf-8")


def test_the_baseline_is_never_changed(xuhui):
    """Adding, closing and linking leaves the baseline's blocks, facilities, network and figures as they were."""
    snap = _snapshot(xuhui)
    b = xuhui.blocks.loc[xuhui.blocks["area_m2"].idxmax()].geometry.centroid
    line = gpd.GeoSeries([shapely.LineString([(b.x - 300, b.y), (b.x + 300, b.y)])], crs=xuhui.crs)
    sc = Scenario("all", added=gpd.GeoDataFrame({"category": ["park"]}, geometry=[shapely.Point(b.x, b.y)],
                                                crs=xuhui.crs),
                  close=[int(i) for i in xuhui.facilities["facility_id"].iloc[:5]],
                  links=gpd.GeoDataFrame({"name": ["path"]}, geometry=line, crs=xuhui.crs), link_max_snap_m=400.0)
    eff = scenario_effect(xuhui, sc)
    assert eff.network is not xuhui.network and eff.network.n_edges > xuhui.network.n_edges
    _assert_unchanged(xuhui, snap)
    # a link adds walks and moves no door: no walk gets longer, the closures aside
    kept = [c for c in eff.categories.index if eff.categories.loc[c, "facilities_after"]
            == eff.categories.loc[c, "facilities_before"]]
    ch = eff.blocks[[f"dist_change_{c}_m" for c in kept]].to_numpy(dtype=float)
    assert kept and not (ch[np.isfinite(ch)] > 0).any()


def test_a_scenario_proposing_nothing_changes_nothing(xuhui):
    """No facility, closure or link: no category touched, no block changed, the layer still one row per block."""
    eff = scenario_effect(xuhui, Scenario("nothing"))
    assert len(eff.categories) == 0 and len(eff.blocks) == len(xuhui.blocks)
    assert eff.summary()["blocks_changed"] == 0 and eff.summary()["proposals"]["added"] == 0
    assert eff.underserved["blocks_after"] == eff.underserved["blocks_before"]


# ------------------------------------------------------------- access point
def test_an_access_point_attaches_a_point_deep_inside_an_estate(xuhui):
    """A point deep inside the largest estate is refused; with its gate as access point it counts."""
    blocks, streets = xuhui.blocks, xuhui.streets
    # the streets a facility may attach to: snappable ones of the main part (the study snaps to the main part)
    walk = shapely.union_all(np.asarray(streets.loc[streets["snappable"].astype(bool)
                                                    & (streets["component"] == 0)].geometry.values))
    centres = shapely.get_point(np.array([shapely.maximum_inscribed_circle(g, 5.0)
                                          for g in blocks.geometry.values]), 0)
    away = shapely.distance(centres, walk)
    i = int(np.argmax(away))
    inner, far = centres[i], float(away[i])
    assert far > xuhui.study.facility_max_snap_m, "needs a point further from any street than the snap limit"
    gate = shapely.ops.nearest_points(walk, inner)[0]
    step = np.array([inner.x - gate.x, inner.y - gate.y]) / far * 2.0  # 2 m inside the estate from the street
    (lonlat,) = _lonlat(xuhui, np.array([[inner.x, inner.y]]))
    (acc,) = _lonlat(xuhui, np.array([[gate.x + step[0], gate.y + step[1]]]))

    def canteen(access):
        added = gpd.GeoDataFrame({"category": ["elderly_care"], "access_lon": [access[0]], "access_lat": [access[1]]},
                                 geometry=gpd.points_from_xy([lonlat[0]], [lonlat[1]]), crs="EPSG:4326")
        return scenario_effect(xuhui, Scenario("estate", added=added))

    refused = canteen((np.nan, np.nan))
    (row,) = refused.facilities.itertuples()
    assert not row.snapped and row.snap_reason == "too far from a street" and row.snap_leg_m == pytest.approx(
        far, abs=0.5)
    assert any("more than 250 m" in n for n in refused.notes)
    assert refused.categories.loc["elderly_care", "blocks_distance_changed"] == 0  # it counts nowhere
    attached = canteen(acc)
    (row,) = attached.facilities.itertuples()
    assert row.snapped and row.access_given and row.snap_leg_m == pytest.approx(2.0, abs=0.05)
    assert not attached.notes
    # the estate's own block now reaches it: at most its walk to the gate, the gate's 2 m and the street between
    home = attached.blocks.iloc[i]
    assert np.isfinite(home["dist_elderly_care_m"])
    assert home["dist_elderly_care_m"] <= blocks.iloc[i]["dist_elderly_care_m"] or np.isnan(
        blocks.iloc[i]["dist_elderly_care_m"])


# ---------------------------------------------------------------- closures
def test_a_closure_never_raises_coverage(xuhui):
    """Closing facilities of several categories: no rate rises, no walk shortens, denominators stay."""
    fac = xuhui.facilities
    close = fac.groupby("category").head(3)
    close = close[close["category"].isin(["transit", "park", "market", "elderly_care", "sports"])]
    eff = scenario_effect(xuhui, Scenario("close", close=[int(i) for i in close["facility_id"]]))
    t = eff.categories
    assert {"transit", "park", "market", "elderly_care", "sports"} <= set(t.index)
    for g in GROUPS:
        assert (t[f"rate_{g}_after"] <= t[f"rate_{g}_before"] + 1e-12).all()
    ch = eff.blocks[[c for c in eff.blocks.columns if c.startswith("dist_change_")]].to_numpy(dtype=float)
    assert not (ch[np.isfinite(ch)] < 0).any() and (eff.blocks["n_newly_within"] == 0).all()
    assert (eff.facilities["action"] == "closed").sum() == len(close)
    # the denominators are the baseline's: the same blocks are assessed
    base = xuhui.rates.loc[t.index, "not_assessed_total"].to_numpy()
    assert np.allclose(t["not_assessed_total"].to_numpy(), base)
    # closing every elderly-care facility leaves nobody within reach: a real closure, not a data gap
    allcare = fac.loc[fac["category"] == "elderly_care", "facility_id"]
    every = scenario_effect(xuhui, Scenario("none_left", close=[int(i) for i in allcare]))
    assert every.categories.loc["elderly_care", "rate_total_after"] == 0.0
    assert every.categories.loc["elderly_care", "data_status"] == xuhui.details["data_status"]["elderly_care"][
        "status"]


def test_bad_proposals_are_refused_naming_the_scenario(xuhui):
    """An unknown facility id, a category outside the profile, a link far from every street."""
    with pytest.raises(InputError, match=r"closes facility_id 99999999"):
        scenario_effect(xuhui, Scenario("x", close=[99999999]))
    with pytest.raises(InputError, match=r"not in the profile: canteen"):
        scenario_effect(xuhui, Scenario("x", added=gpd.GeoDataFrame(
            {"category": ["canteen"]}, geometry=gpd.points_from_xy([121.437], [31.195]), crs="EPSG:4326")))
    far = gpd.GeoDataFrame({"name": ["sea"]}, geometry=[shapely.LineString([(121.0, 30.0), (121.01, 30.0)])],
                           crs="EPSG:4326")
    with pytest.raises(InputError, match=r"lies \d+ m from the nearest street"):
        scenario_effect(xuhui, Scenario("x", links=far))


# ------------------------------------------------------------ walking links
def _jittered_grid(tmp: Path, n: int = 5, step: float = 150.0, seed: int = 3) -> tuple[list[list[int]], OsmWriter]:
    rng = np.random.default_rng(seed)
    w = OsmWriter()
    ids = [[w.node(j * step + rng.uniform(-20, 20), i * step + rng.uniform(-20, 20)) for j in range(n)]
           for i in range(n)]
    for i in range(n):
        w.way([ids[i][j] for j in range(n)], highway="residential")
        w.way([ids[j][i] for j in range(n)], highway="residential")
    w.write_xml(tmp / "grid.osm")
    return ids, w


def _link_study(tmp: Path, facility: tuple[float, float], scenario: str = "") -> tk.Study:
    (lon, lat) = TO_WGS.transform(X0 + facility[0], Y0 + facility[1])
    (tmp / "care.csv").write_text(f"lon,lat\n{lon:.9f},{lat:.9f}\n", encoding="utf-8")
    x0, y0 = TO_WGS.transform(X0 - 100, Y0 - 100)
    x1, y1 = TO_WGS.transform(X0 + 750, Y0 + 750)
    (tmp / "s.toml").write_text(f"""
[study]
name = "links"
crs = "EPSG:32651"
[area]
bbox = [{x0}, {y0}, {x1}, {y1}]
[network]
source = {{ path = "grid.osm" }}
[[facilities]]
source = {{ path = "care.csv", lon = "lon", lat = "lat", crs = "EPSG:4326" }}
kind = "fixed"
category = "elderly_care"
[output]
map = false
report = false
{scenario}""", encoding="utf-8")
    return tk.load_study(tmp / "s.toml")


def _raw_streets(path: Path) -> tuple[dict[int, tuple[float, float]], list[tuple[int, int]]]:
    """Nodes (EPSG:32651 metres) and way segments of an OSM XML file, read with the standard library."""
    to_m = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)
    root = ET.parse(path).getroot()
    # OSM stores a location in 1e-7 degrees (about 1 cm): the file's 9 decimals are read at that precision
    nodes = {int(n.get("id")): to_m.transform(round(float(n.get("lon")), 7), round(float(n.get("lat")), 7))
             for n in root.iter("node")}
    segs = []
    for way in root.iter("way"):
        refs = [int(nd.get("ref")) for nd in way.iter("nd")]
        segs += list(itertools.pairwise(refs))
    return nodes, segs


def _reference(path: Path, blocks: gpd.GeoDataFrame, facility: shapely.Point,
               link: tuple[int, shapely.Point, shapely.Point] | None) -> np.ndarray:
    """Block-to-facility walks with networkx on the raw streets (plus the link): every point inserted where its
    nearest street segment is nearest to it, its straight leg added. ``link`` is the junction its start joins,
    its start and its end (metres): node -> start -> end -> the nearest point of the street the end meets."""
    nodes, segs = _raw_streets(path)
    lines = shapely.linestrings([[nodes[a], nodes[b]] for a, b in segs])
    pts = {("block", k): p for k, p in enumerate(shapely.point_on_surface(np.asarray(blocks.geometry.values)))}
    pts["facility"] = facility
    if link is not None:
        pts["link_end"] = link[2]
    cuts: dict[int, list[tuple[float, object]]] = {}
    G = nx.Graph()
    for name, p in pts.items():
        d = shapely.distance(p, lines)
        k = int(np.argmin(d))
        assert np.partition(d, 1)[1] - d[k] > 1e-3, f"{name}: two segments equally near"
        t = float(shapely.line_locate_point(lines[k], p))
        cuts.setdefault(k, []).append((t, ("on", name)))
        G.add_edge(name, ("on", name), weight=float(d[k]))
    for k, (a, b) in enumerate(segs):
        chain = [(0.0, a), *sorted(cuts.get(k, []), key=lambda c: c[0]), (float(lines[k].length), b)]
        for (t0, n0), (t1, n1) in itertools.pairwise(chain):
            G.add_edge(n0, n1, weight=max(t1 - t0, 0.0))
    if link is not None:
        G.add_edge(link[0], "link_start", weight=float(shapely.Point(nodes[link[0]]).distance(link[1])))
        G.add_edge("link_start", "link_end", weight=float(link[1].distance(link[2])))
    dist = nx.single_source_dijkstra_path_length(G, "facility", weight="weight")
    return np.array([dist[("block", k)] for k in range(len(blocks))])


def test_a_new_link_shortens_walks_exactly_as_networkx_says(tmp_path):
    """A diagonal path across a jittered street grid (a riverside path), from a junction to the middle of a street."""
    ids, w = _jittered_grid(tmp_path)
    fx, fy = w.nodes[ids[0][0]][:2]
    gx, gy = w.nodes[ids[0][1]][:2]
    facility_xy = (fx + 0.3 * (gx - fx) + 4.0, fy + 0.3 * (gy - fy) + 3.0)  # beside the first street
    base = tk.run_study(_link_study(tmp_path, facility_xy))
    (a_x, a_y), (b_x, b_y), (c_x, c_y) = (w.nodes[ids[0][1]][:2], w.nodes[ids[2][2]][:2], w.nodes[ids[2][3]][:2])
    end = (b_x + 0.4 * (c_x - b_x), b_y + 0.4 * (c_y - b_y))  # on the street between two nodes: it is split
    coords = [TO_WGS.transform(X0 + x, Y0 + y) for x, y in ((a_x, a_y), end)]
    links = gpd.GeoDataFrame({"name": ["diagonal"]}, geometry=[shapely.LineString(coords)], crs="EPSG:4326")
    eff = scenario_effect(base, Scenario("path", links=links))
    to_m = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)
    lon, lat = (tmp_path / "care.csv").read_text(encoding="utf-8").splitlines()[1].split(",")
    fac = shapely.Point(to_m.transform(float(lon), float(lat)))  # where the facility file puts it
    start, stop = (shapely.Point(to_m.transform(*c)) for c in coords)
    ref_before = _reference(tmp_path / "grid.osm", base.blocks, fac, None)
    ref_after = _reference(tmp_path / "grid.osm", base.blocks, fac, (ids[0][1], start, stop))
    got_before = base.blocks["dist_elderly_care_m"].to_numpy(dtype=float)
    got_after = eff.after["dist_elderly_care_m"].to_numpy(dtype=float)
    assert np.allclose(got_before, ref_before, rtol=0, atol=1e-6)  # the reference is the baseline's on raw streets
    assert np.allclose(got_after, ref_after, rtol=0, atol=1e-6)
    assert (ref_after < ref_before - 1.0).sum() >= 5  # the path does shorten walks
    (lk,) = eff.links.itertuples()
    nodes = _raw_streets(tmp_path / "grid.osm")[0]  # as OSM stores them
    street = shapely.LineString([nodes[ids[2][2]], nodes[ids[2][3]]])
    assert lk.split_edges == 1 and lk.length_m == pytest.approx(
        shapely.Point(nodes[ids[0][1]]).distance(start) + start.distance(stop) + stop.distance(street), abs=1e-6)
    changed = eff.blocks["distance_changed"].to_numpy()
    assert np.array_equal(changed, np.abs(ref_after - ref_before) > 1e-3)


def test_network_with_links_copies_and_splits():
    """On a 3 x 3 grid: a link from a corner to the middle of a far street splits it in two, the original untouched."""
    from toolkit.network import grid_network

    net = grid_network(3, spacing=100.0, origin=(0.0, 0.0))
    before = (net.u.copy(), net.v.copy(), net.length.copy())
    new, table = network_with_links(net, np.array([shapely.LineString([(0, 0), (200, 150)])]))
    assert all(np.array_equal(a, b) for a, b in zip((net.u, net.v, net.length), before, strict=True))
    assert new.n_nodes == net.n_nodes + 1 and new.n_edges == net.n_edges + 2
    assert table["split_edges"].tolist() == [1] and table["length_m"].iloc[0] == pytest.approx(250.0)
    assert not new.snappable[-1] and new.length.sum() == pytest.approx(net.length.sum() + 250.0)
    # the walk corner to corner through the link's end: 250 m of link, then 50 m up the split street
    G = nx.Graph()
    G.add_weighted_edges_from(zip(new.u.tolist(), new.v.tolist(), new.length.tolist(), strict=True))
    assert nx.dijkstra_path_length(G, 0, 8) == pytest.approx(250.0 + 50.0)


# ------------------------------------------------------------ config, pipeline
def test_a_scenario_section_runs_with_the_study_and_leaves_its_baseline_alone(tmp_path):
    """[[scenario]] in a study TOML: checked at load (a typo names the key), run after the baseline, written."""
    ids, w = _jittered_grid(tmp_path)
    fx, fy = w.nodes[ids[0][0]][:2]
    lon, lat = TO_WGS.transform(X0 + fx + 300.0, Y0 + fy + 300.0)
    section = (f'[[scenario]]\nname = "more_care"\ntitle = "More care"\n'
               f'facilities = [{{ category = "elderly_care", lon = {lon}, lat = {lat} }}]\n')
    with pytest.raises(InputError, match="did you mean `facilities`"):
        _link_study(tmp_path, (fx + 10.0, fy + 5.0), section.replace("facilities = ", "facilites = "))
    with pytest.raises(InputError, match=r"a line needs two \[lon, lat\] points or more"):
        _link_study(tmp_path, (fx + 10.0, fy + 5.0), section + f"links = [{{ coords = [[{lon}, {lat}]] }}]\n")
    with_sc = tk.run_study(_link_study(tmp_path, (fx + 10.0, fy + 5.0), section))
    without = tk.run_study(_link_study(tmp_path, (fx + 10.0, fy + 5.0)))
    pd.testing.assert_frame_equal(with_sc.blocks, without.blocks)
    assert with_sc.details["scenarios"]["status"] == "measured" and "scenario_more_care_blocks" in with_sc.layers
    assert "scenarios" in with_sc.timings
    folder = with_sc.save(tmp_path / "out")
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert list(run) == list(RUN_JSON_KEYS) and run["scenarios"]["scenarios"][0]["title"] == "More care"
    assert run["config"]["scenarios"][0]["name"] == "more_care"
    absent = json.loads((without.save(tmp_path / "out2") / "run.json").read_text(encoding="utf-8"))
    assert absent["scenarios"] == {"status": "absent", "reason": "no [[scenario]] section in the study"}


def test_proposals_from_layers_with_access_columns_and_closure_polygons(tmp_path):
    """facilities_source (a CSV with category and access_lon/access_lat) and close_source (a GeoJSON polygon).

    The synthetic jittered grid stands for a district; the polygon around the one baseline facility stands for
    a site to be redeveloped, and the CSV for a list of proposed canteens, one with its gate given.
    """
    ids, w = _jittered_grid(tmp_path)
    fx, fy = w.nodes[ids[0][0]][:2]
    gx, gy = w.nodes[ids[0][1]][:2]
    fac_xy = (fx + 0.5 * (gx - fx), fy + 0.5 * (gy - fy) + 3.0)
    cx, cy = np.mean([w.nodes[ids[2][2]][:2], w.nodes[ids[3][3]][:2]], axis=0)  # the middle of an inner block
    gate = (w.nodes[ids[2][2]][0] + 0.5 * (w.nodes[ids[2][3]][0] - w.nodes[ids[2][2]][0]),
            w.nodes[ids[2][2]][1] + 0.5 * (w.nodes[ids[2][3]][1] - w.nodes[ids[2][2]][1]) + 2.0)
    (plon, plat), (alon, alat) = (TO_WGS.transform(X0 + x, Y0 + y) for x, y in ((cx, cy), gate))
    (tmp_path / "proposed.csv").write_text(
        f"category,name,lon,lat,access_lon,access_lat\nelderly_care,canteen,{plon:.9f},{plat:.9f},{alon:.9f},"
        f"{alat:.9f}\n", encoding="utf-8")
    ring = [TO_WGS.transform(X0 + fac_xy[0] + dx, Y0 + fac_xy[1] + dy) for dx, dy in
            ((-20, -20), (20, -20), (20, 20), (-20, 20), (-20, -20))]
    (tmp_path / "redevelop.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}),
        encoding="utf-8")
    section = ('[[scenario]]\nname = "swap"\nfacilities_source = { path = "proposed.csv", lon = "lon", lat = "lat", '
               'crs = "EPSG:4326" }\nclose_source = { path = "redevelop.geojson" }\n')
    result = tk.run_study(_link_study(tmp_path, fac_xy, section))
    (s,) = result.details["scenarios"]["scenarios"]
    assert s["proposals"] == {"added": 1, "added_refused": 0, "added_with_access_point": 1, "closed": 1,
                              "links": 0, "links_length_m": 0.0}
    fac = result.layers["scenario_swap_facilities"].set_index("action")
    assert fac.loc["added", "access_given"] and fac.loc["added", "snap_leg_m"] == pytest.approx(2.0, abs=0.01)
    assert fac.loc["closed", "facility_id"] == int(result.facilities["facility_id"].iloc[0])
    row = next(r for r in s["categories"] if r["category"] == "elderly_care")
    assert (row["facilities_before"], row["facilities_after"]) == (1, 1)
    # the old facility closed, the walks go to the new one's gate: networkx on the raw streets from the gate
    to_m = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)
    at_gate = shapely.Point(to_m.transform(float(f"{alon:.9f}"), float(f"{alat:.9f}")))
    after = result.layers["scenario_swap_blocks"]["dist_elderly_care_m"].to_numpy(dtype=float)
    ref = _reference(tmp_path / "grid.osm", result.blocks, at_gate, None)
    assert np.allclose(after, ref, rtol=0, atol=1e-6)
