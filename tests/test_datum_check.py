"""GCJ-02 / BD-09 declared as WGS84: the points' offset to the streets gives it away (issue #14 item 5).

Synthetic: points built a few metres from the streets of a grid near Xujiahui, then written in GCJ-02 or
BD-09 and read as WGS84. Real (shared data, read at run time, skipped when absent): the layers the
thresholds of :mod:`toolkit.datum_check` were calibrated on, and the bundled study with a facility
file of OSM POIs shifted to GCJ-02.
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import toolkit as tk
from toolkit.config import FacilitySource, Source
from toolkit.crs import wgs84_to_bd09, wgs84_to_gcj02
from toolkit.datum_check import (
    MAX_POINTS,
    MIN_POINTS,
    _Placements,
    _verdict,
    check_source,
    check_sources,
    datum_offset_check,
    declared_as_wgs84,
)
from toolkit.errors import DataNotFoundError
from toolkit.facilities import classify_source
from toolkit.io import DataWarning, read_layer
from toolkit.network import grid_network

# ---------------------------------------------------------------- synthetic
ORIGIN = (348_000.0, 3_448_000.0)  # EPSG:32651: the grid spans about 121.40-121.47 E, 31.15-31.21 N
SIDE, SPACING = 60, 100.0  # 5.9 km square: the central points stay on the grid after a 1.1 km BD-09 shift
MAX_OFF_M = 5.0  # the construction: every point lies within this of a street


@pytest.fixture(scope="module")
def net():
    # jittered: streets that are not straight lines, so a shift cannot slide points along one street
    return grid_network(SIDE, spacing=SPACING, origin=ORIGIN, jitter=12.0, seed=3)


def _near_streets(net, n: int, seed: int = 0) -> gpd.GeoSeries:
    """``n`` points within MAX_OFF_M of a street, in the middle of the grid, as WGS84."""
    rng = np.random.default_rng(seed)
    mid = shapely.get_coordinates(shapely.centroid(net.edge_geometry))
    lo, hi = np.array(ORIGIN) + 1_500, np.array(ORIGIN) + (SIDE - 1) * SPACING - 1_500
    central = np.flatnonzero(((mid >= lo) & (mid <= hi)).all(axis=1))
    e = rng.choice(central, n)
    on = shapely.line_interpolate_point(net.edge_geometry[e], rng.uniform(0, 1, n), normalized=True)
    ang, r = rng.uniform(0, 2 * np.pi, n), rng.uniform(0, MAX_OFF_M, n)
    pts = shapely.points(shapely.get_x(on) + r * np.cos(ang), shapely.get_y(on) + r * np.sin(ang))
    return gpd.GeoSeries(pts, crs=net.crs).to_crs(4326)


def _shifted(pts: gpd.GeoSeries, to) -> gpd.GeoSeries:
    lon, lat = to(pts.x.to_numpy(), pts.y.to_numpy())
    return gpd.GeoSeries(shapely.points(lon, lat), crs=4326)


def test_points_on_the_streets_confirm_wgs84(net):
    pts = _near_streets(net, 300)
    c = datum_offset_check(pts, net)
    assert c.n_points == 300
    assert c.median_m["wgs84"] <= MAX_OFF_M  # the construction, measured back
    assert c.median_m["gcj02"] > 15 and c.median_m["bd09"] > 15 and c.controls_median_m > 15
    assert (c.likely, c.warn) == ("wgs84", False)
    assert c.message("pois.csv") == ""


@pytest.mark.parametrize(("to", "datum", "name"), [(wgs84_to_gcj02, "gcj02", "GCJ-02"),
                                                   (wgs84_to_bd09, "bd09", "BD-09")])
def test_chinese_datum_declared_as_wgs84_warns(net, to, datum, name):
    pts = _near_streets(net, 300, seed=1)
    shifted = _shifted(pts, to)
    moved = pts.to_crs(net.crs).distance(shifted.to_crs(net.crs))
    assert moved.between(400, 1300).all()  # GCJ-02 ~490 m, BD-09 ~1.1 km off here
    c = datum_offset_check(shifted, net)
    assert (c.likely, c.warn) == (datum, True)
    assert c.median_m[datum] <= MAX_OFF_M + 0.5  # converted back, the points are on the streets again
    assert c.median_m["wgs84"] > 3 * c.median_m[datum]
    msg = c.message("facilities/amap.csv")
    assert msg.startswith("facilities/amap.csv: points sit a median ")
    assert f"likely in {name}" in msg and f"declare crs = '{datum}'" in msg
    assert f"{c.median_m['wgs84']:.0f} m from the streets as declared (WGS84)" in msg


def test_too_few_points_get_no_verdict(net):
    few = _shifted(_near_streets(net, MIN_POINTS - 1, seed=2), wgs84_to_gcj02)
    c = datum_offset_check(few, net)
    assert c.n_points == MIN_POINTS - 1 and c.median_m  # measured, reported ...
    assert (c.likely, c.warn) == (None, False)  # ... but not judged
    assert f"fewer than {MIN_POINTS}" in c.reason
    # at the minimum the stricter ratio applies; a clear offset is still named
    enough = _shifted(_near_streets(net, MIN_POINTS, seed=2), wgs84_to_gcj02)
    assert datum_offset_check(enough, net).likely == "gcj02"


def test_points_inside_blocks_get_no_verdict():
    """Block centres sit as far from the streets as possible: any shift brings them nearer, none is named."""
    grid = grid_network(SIDE, spacing=SPACING, origin=ORIGIN)
    i = np.arange(15, SIDE - 16) + 0.5
    xx, yy = np.meshgrid(ORIGIN[0] + i * SPACING, ORIGIN[1] + i * SPACING)
    centres = gpd.GeoSeries(shapely.points(xx.ravel(), yy.ravel()), crs=grid.crs).to_crs(4326)
    c = datum_offset_check(centres, grid)
    assert len(centres) > MAX_POINTS and c.n_points == MAX_POINTS  # a sample of large layers
    assert c.median_m["wgs84"] == pytest.approx(SPACING / 2, abs=0.01)
    assert c.median_m["gcj02"] < c.median_m["wgs84"]  # a shifted reading is nearer ...
    assert (c.likely, c.warn) == (None, False)  # ... but no nearer than the controls: no verdict


def test_points_beyond_the_streets_are_left_out(net):
    near = _near_streets(net, 120, seed=4)
    far = gpd.GeoSeries(shapely.points(np.full(40, ORIGIN[0] - 3_000.0), ORIGIN[1] + np.arange(40) * 100.0),
                        crs=net.crs).to_crs(4326)
    c = datum_offset_check(pd.concat([near, far]), net)
    assert c.n_points == 120  # 3 km west of the streets: no evidence either way, not measured
    assert c.likely == "wgs84"


def _mixed(net, seed: int = 7) -> tuple[gpd.GeoSeries, dict[str, np.ndarray]]:
    """A mixed export: 150 shops on the streets written in GCJ-02, 450 offices inside blocks (near no street
    whatever the reading): all points together name no datum."""
    rng = np.random.default_rng(seed)
    i = rng.integers(15, SIDE - 16, (450, 2)) + 0.5
    xy = np.array(ORIGIN) + i * SPACING + rng.uniform(-10, 10, (450, 2))
    offices = gpd.GeoSeries(shapely.points(xy[:, 0], xy[:, 1]), crs=net.crs).to_crs(4326)
    shops = _shifted(_near_streets(net, 150, seed=8), wgs84_to_gcj02)
    return pd.concat([shops, offices], ignore_index=True), {"shop": np.arange(150), "office": np.arange(150, 600)}


def test_a_mixed_layer_is_judged_by_category(net):
    """Issue #14: a whole Amap export (shops inside blocks, stops on the street) names no datum as a whole; its
    street-following category does, and speaks for the layer when no other category names another datum."""
    layer, cats = _mixed(net)
    whole = datum_offset_check(layer, net)
    assert whole.n_points == MAX_POINTS and (whole.likely, whole.warn) == (None, False)
    c = datum_offset_check(layer, net, categories=cats)
    assert (c.likely, c.warn, c.decided_by) == ("gcj02", True, "shop")
    assert c.n_points == whole.n_points and c.median_m == whole.median_m  # the figures are all points'
    assert set(c.by_category) == {"shop", "office"} and c.by_category["office"].likely is None
    assert c.by_category["shop"].n_points == 150 and c.by_category["shop"].ratio_to_controls < 0.2
    assert "the shop points on their own do" in c.reason
    msg = c.message("dataset:amap (poi_all.csv)")
    assert msg.startswith("dataset:amap (poi_all.csv): its shop points sit a median ")
    assert "all 500 points measured together are too mixed to tell" in msg and "likely in GCJ-02" in msg
    rec = c.as_dict()
    assert rec["decided_by"] == "shop" and rec["by_category"]["shop"]["likely"] == "gcj02"
    json.dumps(rec)
    # the same classes as a classifier's matches (row, category), as the run passes them
    matches = pd.DataFrame({"row": np.r_[cats["shop"], cats["office"]],
                            "category": ["market"] * 150 + ["community_service"] * 450})
    assert datum_offset_check(layer, net, categories=matches).decided_by == "market"


def test_categories_that_disagree_give_no_verdict(net):
    layer, cats = _mixed(net)
    stops = _near_streets(net, 150, seed=9)  # on the streets as declared: a WGS84 category
    layer = pd.concat([layer, stops], ignore_index=True)
    c = datum_offset_check(layer, net, categories={**cats, "stop": np.arange(600, 750)})
    assert c.by_category["stop"].likely == "wgs84" and c.by_category["shop"].likely == "gcj02"
    assert (c.likely, c.warn, c.decided_by) == (None, False, None)
    assert "its categories disagree (stop: WGS84; shop: GCJ-02)" in c.reason
    assert c.message("x.csv") == ""


def test_categories_are_classified_only_when_needed(net):
    """All points together name a datum: the categories are not looked at (nor classified: no run time)."""
    def boom():
        raise AssertionError("classified although all points together named a datum")

    c = datum_offset_check(_shifted(_near_streets(net, 300, seed=1), wgs84_to_gcj02), net, categories=boom)
    assert (c.likely, c.by_category, c.decided_by) == ("gcj02", {}, None)
    layer, cats = _mixed(net)
    called = []
    c = datum_offset_check(layer, net, categories=lambda: called.append(1) or cats)
    assert called == [1] and c.decided_by == "shop"
    # a category of too few points, or of all points again, is not checked on its own
    c = datum_offset_check(layer, net, categories={"few": np.arange(MIN_POINTS - 1), "all": np.arange(600)})
    assert (c.likely, c.by_category) == (None, {})


def test_outside_china_there_is_nothing_to_guess():
    milan = grid_network(40, spacing=SPACING, crs="EPSG:32632", origin=(510_000.0, 5_030_000.0), jitter=10.0)
    pts = gpd.GeoSeries(shapely.points(milan.x + 3.0, milan.y), crs=milan.crs).to_crs(4326)
    c = datum_offset_check(pts, milan)
    assert c.n_points == 0 and c.likely is None and not c.warn


@pytest.mark.parametrize(("declared", "file_crs", "applies"), [
    ("EPSG:4326", None, True), (4326, None, True), ("OGC:CRS84", None, True), ("EPSG:4490", None, True),
    (None, None, True), (None, "EPSG:4326", True), (None, "EPSG:32651", False), ("EPSG:32651", "EPSG:4326", False),
    ("gcj02", None, False), ("Baidu", None, False), ("EPSG:3857", None, False), ("EPSG:4326", "EPSG:32651", True),
])
def test_which_declarations_are_checked(declared, file_crs, applies):
    assert declared_as_wgs84(declared, file_crs) is applies


def test_check_source_warns_only_for_sources_read_as_wgs84(net, tmp_path):
    pts = _shifted(_near_streets(net, 200, seed=5), wgs84_to_gcj02)
    raw = gpd.GeoDataFrame({"name": [f"p{i}" for i in range(len(pts))]}, geometry=pts.values, crs=4326)
    csv = tmp_path / "clinics.csv"
    pd.DataFrame({"lon": pts.x, "lat": pts.y}).to_csv(csv, index=False)
    with pytest.warns(DataWarning, match=r"clinics\.csv: points sit a median .* likely in GCJ-02"):
        rec = check_source(raw, net, Source(path=str(csv)), label=str(csv))  # no declaration: read as WGS84
    assert rec["likely"] == "gcj02" and rec["warn"] and rec["declared_crs"] == "none (read as WGS84)"
    json.dumps(rec)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        assert check_source(raw, net, Source(path=str(csv), crs="gcj02")) is None  # declared: converted, not checked
        osm = tmp_path / "stops.osm"
        osm.write_text("<osm/>")
        assert check_source(raw, net, Source(path=str(osm))) is None  # OSM is WGS84 by definition
        areas = gpd.GeoDataFrame(geometry=shapely.buffer(np.asarray(pts.values), 0.0005), crs=4326)
        assert check_source(areas, net, Source(path=str(csv))) is None  # a point check: no points, no record


def test_check_sources_reads_only_what_applies(net, tmp_path):
    """Heritage registers: read (and checked) only when read as WGS84 and not checked already."""
    pts = _shifted(_near_streets(net, 150, seed=6), wgs84_to_bd09)
    listed = tmp_path / "listed.csv"
    pd.DataFrame({"name": [f"b{i}" for i in range(len(pts))], "lon": pts.x, "lat": pts.y}).to_csv(listed, index=False)
    missing = Source(path=str(tmp_path / "never_read.csv"), crs="bd09")  # declared: not even opened
    with pytest.warns(DataWarning, match=r"listed\.csv: .* likely in BD-09 \(Baidu\); declare crs = 'bd09'"):
        out = check_sources([None, missing, Source(path=str(listed), crs="EPSG:4326")], net)
    assert list(out) == [str(listed)] and out[str(listed)]["likely"] == "bd09"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        assert check_sources([Source(path=str(listed))], net, skip={str(listed)}) == {}


# ---------------------------------------------------------- real, shared data
@pytest.fixture(scope="module")
def xuhui_net():
    """The bundled study's streets (drive-only OSM, Xuhui + 1 km): the network the thresholds were set on."""
    from toolkit.study import analysis_crs, load_network, study_area

    try:
        study = tk.load_study("xuhui")
        area = study_area(study).geometry.iloc[0]
        crs = analysis_crs(study, area)
        net = load_network(study, area, crs)
    except DataNotFoundError as exc:
        pytest.skip(f"shared Shanghai data not available: {exc}")
    net.snap_main_only = study.snap_main_only
    return net


def _shared(name: str):
    from toolkit.datasets import fetch

    try:
        return fetch(name, download=False)
    except DataNotFoundError as exc:
        pytest.skip(f"shared dataset {name} not available: {exc}")


XUHUI_BBOX = (121.38, 31.10, 121.49, 31.23)


def test_real_wgs84_layers_are_never_named_otherwise(xuhui_net):
    """Genuine WGS84 layers: Geofabrik's OSM POIs sit on the streets as declared; centroids of parks, land use
    and protected compounds (far from the streets, some in water) get no verdict, never a Chinese datum."""
    pois = read_layer(_shared("geofabrik_pois"), bbox=XUHUI_BBOX)
    c = datum_offset_check(pois, xuhui_net)
    print("\nGeofabrik POIs:", c.as_dict())
    assert (c.likely, c.warn) == ("wgs84", False) and c.ratio_to_controls < 0.5
    # by category too (as the run checks them when all points together do not tell): never a Chinese datum
    pois_a = read_layer(_shared("geofabrik_pois_a"), bbox=XUHUI_BBOX)
    lu = read_layer(_shared("landuse_points"))
    by_category = {"POIs": (pois, classify_source(pois, "geofabrik")),
                   "POI areas": (shapely.point_on_surface(np.asarray(pois_a.geometry.values)),
                                 classify_source(pois_a, "geofabrik")),
                   "land use": (lu, classify_source(lu, "field", field="landuse_type"))}
    for name, (g, got) in by_category.items():
        placed = _Placements(g, xuhui_net)
        for cat, rows in got.matches.groupby("category")["row"]:
            if np.isin(placed.pos, rows).sum() >= MIN_POINTS:  # each category on its own, whatever the whole says
                c = _verdict(placed, placed.sample(rows.to_numpy(), MAX_POINTS), MIN_POINTS)
                print(f"{name}, {cat}: {c.as_dict()}")
                assert c.likely in (None, "wgs84"), (name, cat)
        c = datum_offset_check(g, xuhui_net, categories=got)
        assert not c.warn and c.likely in (None, "wgs84"), name
    landuse = read_layer(_shared("landuse_points"))
    areas = read_layer(_shared("geofabrik_pois_a"), bbox=XUHUI_BBOX)
    heritage = read_layer(_shared("heritage_osm"))
    kind = landuse["landuse_type"].to_numpy()
    layers = {"land use": landuse.geometry.values, "parks": landuse.geometry.values[kind == "park"],
              "water": landuse.geometry.values[kind == "water"], "grass": landuse.geometry.values[kind == "grass"],
              "POI area centroids": shapely.centroid(np.asarray(areas.geometry.values)),
              "heritage": shapely.point_on_surface(np.asarray(heritage.geometry.values))}
    for name, g in layers.items():
        c = datum_offset_check(g, xuhui_net)
        print(f"{name}: {c.as_dict()}")
        assert not c.warn and c.likely in (None, "wgs84"), name


def test_real_chinese_layers_declared_as_wgs84(xuhui_net):
    """Read as WGS84 on purpose: Amap's transport POIs (GCJ-02) and the Baidu-geocoded register (BD-09) sit on
    the streets once converted and are named; the whole Amap export (shops and offices inside blocks) and the
    ditushu register are not placed by a drive-only network: no verdict, and never a wrong datum."""
    amap = read_layer(_shared("amap_poi_xujiahui"), crs="EPSG:4326", lon="lng", lat="lat")  # in memory only
    transport = amap[amap["typecode"].astype(str).str.startswith("15")]  # stops, metro entrances, car parks
    c = datum_offset_check(transport, xuhui_net)
    print("\nAmap transport:", c.as_dict())
    assert (c.likely, c.warn) == ("gcj02", True)
    baidu = read_layer(_shared("excellent_historic_buildings"), crs="EPSG:4326", lon="long", lat="lat",
                       records="data")
    c = datum_offset_check(baidu, xuhui_net)
    print("Outstanding Historic Buildings:", c.as_dict())
    assert (c.likely, c.warn) == ("bd09", True)
    for name, layer in {"Amap export": amap,
                        "ditushu register": read_layer(_shared("historic_buildings"), crs="EPSG:4326")}.items():
        c = datum_offset_check(layer, xuhui_net)
        print(f"{name}: {c.as_dict()}")
        assert c.likely in (None, "gcj02"), name


def test_real_amap_export_is_named_by_its_categories(xuhui_net):
    """The whole Amap export declared WGS84 (issue #14: the tester's case) names no datum as a whole: its points
    are mostly buildings inside blocks. Its stops, and its shops, follow the streets as GCJ-02, and no category
    follows them in another datum: the layer is named GCJ-02."""
    amap = read_layer(_shared("amap_poi_xujiahui"), crs="EPSG:4326", lon="lng", lat="lat")  # in memory only
    every = classify_source(amap, "amap")  # all the catalogue's categories (what the run checks)
    c = datum_offset_check(amap, xuhui_net, categories=every)
    print("\nAmap export by category:", c.as_dict())
    assert c.ratio_to_controls > 0.5  # as a whole: no verdict (0.65 / 0.77 at calibration)
    assert (c.likely, c.warn, c.decided_by) == ("gcj02", True, "transit")
    transit = c.by_category["transit"]
    assert transit.ratio_to_controls < 0.3 and transit.ratio_to_others < 0.35  # 0.18 / 0.23: thresholds 0.5 / 0.5
    assert all(v.likely in (None, "gcj02") for v in c.by_category.values())
    # only the study's own categories (community services, health, elderly care, markets): the markets tell
    study = classify_source(amap, "amap", only=["community_service", "health_centre", "health_station",
                                                "elderly_care", "market"])
    c = datum_offset_check(amap, xuhui_net, categories=study)
    assert (c.likely, c.decided_by) == ("gcj02", "market")
    assert c.by_category["market"].ratio_to_controls < 0.42  # 0.35 / 0.43: thresholds 0.5 / 0.7


# ------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def shifted_run(tmp_path_factory):
    """The bundled study with two facility files of the same OSM POIs: one written in GCJ-02 and declared
    WGS84, one left in WGS84 with no declaration (a CSV is then read as WGS84)."""
    try:
        study = tk.load_study("xuhui")
        pois = read_layer(_shared("geofabrik_pois"), bbox=XUHUI_BBOX)
    except DataNotFoundError as exc:
        pytest.skip(f"shared Shanghai data not available: {exc}")
    pois = pois[pois.geom_type == "Point"].sample(800, random_state=0)
    folder = tmp_path_factory.mktemp("datum")
    lon, lat = wgs84_to_gcj02(pois.geometry.x, pois.geometry.y)
    shifted, plain = folder / "pois_gcj02.csv", folder / "pois_wgs84.csv"
    pd.DataFrame({"name": pois["name"].to_numpy(), "lon": lon, "lat": lat}).to_csv(shifted, index=False)
    pd.DataFrame({"name": pois["name"].to_numpy(), "lon": pois.geometry.x, "lat": pois.geometry.y}).to_csv(
        plain, index=False)
    # a heritage register of other POIs, in GCJ-02 and declared WGS84 too
    other = read_layer(_shared("geofabrik_pois"), bbox=XUHUI_BBOX).drop(pois.index).sample(800, random_state=1)
    listed = folder / "listed_gcj02.csv"
    lon, lat = wgs84_to_gcj02(other.geometry.x, other.geometry.y)
    pd.DataFrame({"name": other["name"].fillna("?").to_numpy(), "lon": lon, "lat": lat}).to_csv(listed, index=False)
    sources = [FacilitySource(Source(path=str(shifted), crs="EPSG:4326"), kind="fixed", category="market"),
               FacilitySource(Source(path=str(plain)), kind="fixed", category="pharmacy")]
    heritage = dataclasses.replace(study.heritage, listed_buildings=[Source(path=str(listed), crs="EPSG:4326")])
    # only what the check touches: facilities and heritage (the other overlays and decisions have their own tests)
    lean = dataclasses.replace(study, facilities=sources, heritage=heritage, waterfront=None, compounds=None,
                               decisions=False)
    return tk.run_study(lean), str(shifted), str(plain), str(listed)


@pytest.mark.slow
def test_run_warns_about_the_shifted_file_and_goes_on(shifted_run):
    r, shifted, plain, listed = shifted_run
    notes = [n for n in r.notes if "from the streets as declared" in n]
    assert len(notes) == 2, r.notes  # the facility file and the heritage register
    assert notes[0].startswith(f"{shifted}: points sit a median ")
    assert notes[1].startswith(f"{listed}: points sit a median ") and "likely in GCJ-02" in notes[1]
    assert "the file is likely in GCJ-02 (Amap/Gaode/Tencent); declare crs = 'gcj02'" in notes[0]
    assert not any(plain in n for n in r.notes)
    # the run went on, with the file as declared
    assert len(r.blocks) > 900 and (r.facilities["source"] == shifted).sum() > 200
    assert "market" in r.categories


def test_run_details_and_run_json_hold_the_check(shifted_run):
    from toolkit.outputs.writers import run_record

    r, shifted, plain, listed = shifted_run
    checks = r.details["facilities"]["datum_check"]
    assert set(checks) == {shifted, plain}
    bad, good = checks[shifted], checks[plain]
    assert (bad["likely"], bad["warn"], bad["declared_crs"]) == ("gcj02", True, "EPSG:4326")
    assert (good["likely"], good["warn"], good["declared_crs"]) == ("wgs84", False, "none (read as WGS84)")
    # the same POIs (each file's own sample): as GCJ-02 the shifted file sits as the plain one does as declared
    assert bad["median_m"]["gcj02"] == pytest.approx(good["median_m"]["wgs84"], rel=0.3)
    assert bad["median_m"]["wgs84"] > 1.5 * bad["median_m"]["gcj02"]
    assert bad["n_points"] >= 200 and bad["ratio_to_controls"] <= 0.5
    # heritage: the register, and the OSM heritage export (no facility source here, so checked with the
    # registers); the bundled study's BD-09 and GCJ-02 registers are not configured in this run
    her = r.details["heritage"]["datum_check"]
    assert her[listed]["likely"] == "gcj02" and her[listed]["warn"]
    assert set(her) == {listed, "dataset:heritage_osm"} and not her["dataset:heritage_osm"]["warn"]
    record = json.loads(json.dumps(run_record(r)))  # what run.json holds
    assert record["facilities"]["datum_check"][shifted]["likely"] == "gcj02"
    assert record["facilities"]["datum_check"][plain]["warn"] is False
    assert record["heritage"]["datum_check"][listed]["warn"] is True


@pytest.fixture(scope="module")
def amap_runs():
    """The bundled study as it is, and with its Amap export declared WGS84 (the tester's case of issue #14)."""
    try:
        study = tk.load_study("xuhui")
    except DataNotFoundError as exc:
        pytest.skip(f"shared Shanghai data not available: {exc}")
    amap_file = _shared("amap_poi_xujiahui")  # evaluation data: skipped when there is no local copy
    amap = [i for i, fs in enumerate(study.facilities) if fs.source.dataset == "amap_poi_xujiahui"]
    assert len(amap) == 1 and study.facilities[amap[0]].source.declared_crs() == "gcj02"
    facilities = list(study.facilities)
    fs = facilities[amap[0]]
    facilities[amap[0]] = dataclasses.replace(fs, source=dataclasses.replace(fs.source, crs="EPSG:4326"))
    # the steps the check does not touch are left out (their own tests run them)
    lean = dict(waterfront=None, compounds=None, decisions=False)
    runs = {}
    for name, s in {"as declared": study, "amap as wgs84": dataclasses.replace(study, facilities=facilities)}.items():
        runs[name] = tk.run_study(dataclasses.replace(s, **lean))
    return runs, "dataset:amap_poi_xujiahui", amap_file.name


@pytest.mark.slow
def test_run_names_the_amap_export_declared_wgs84(amap_runs):
    runs, label, file = amap_runs
    r = runs["amap as wgs84"]
    notes = [n for n in r.notes if "from the streets as declared" in n]
    assert len(notes) == 1, r.notes
    assert notes[0].startswith(f"{label} ({file}): its ") and "the file is likely in GCJ-02" in notes[0]
    assert "declare crs = 'gcj02'" in notes[0]
    check = r.details["facilities"]["datum_check"][label]
    assert (check["likely"], check["warn"], check["declared_crs"]) == ("gcj02", True, "EPSG:4326")
    assert check["warning"] == notes[0]  # the details (run.json) hold the warning too
    assert check["ratio_to_controls"] > 0.5  # all points together: no verdict
    by = check["by_category"][check["decided_by"]]
    assert by["likely"] == "gcj02" and by["ratio_to_controls"] <= 0.5 and by["n_points"] >= MIN_POINTS
    assert not any(v["likely"] not in (None, "gcj02") for v in check["by_category"].values())
    # nothing else changed its verdict: the other sources are checked as in the bundled study
    plain = runs["as declared"].details["facilities"]["datum_check"]
    assert {k: v["likely"] for k, v in r.details["facilities"]["datum_check"].items() if k != label} == {
        k: v["likely"] for k, v in plain.items()}


def test_bundled_study_as_declared_has_no_datum_warning(amap_runs):
    runs, label, _ = amap_runs
    r = runs["as declared"]
    assert not [n for n in r.notes if "from the streets as declared" in n or "likely in" in n], r.notes
    checks = r.details["facilities"]["datum_check"]
    assert label not in checks  # declared GCJ-02: converted on import, nothing to check
    assert not any(v["warn"] for v in checks.values()) and checks["dataset:geofabrik_pois"]["likely"] == "wgs84"
    assert not any(v["warn"] for v in r.details["heritage"]["datum_check"].values())
