"""Facilities mapped as areas (closed ways, multipolygons): read, measured and reached at their edge.

Everything runs on a small synthetic OSM file written here, in XML and PBF: a
street grid near 121.45E 31.2N with parks, schools and a broken (clipped) area.
The geometry is laid out in UTM 51N metres (EPSG:32651) and written as
lon/lat, so every expected distance below is worked out by hand from these
coordinates, independently of the code under test.

Layout (metres from ORIGIN; streets on x = 0, 200, 400 and y = 0, 100, 200)::

    y=200 +--------[E]-------+------------------+
          | park C           | school 1 (小学)   |
          X  X = emergency   |                  |
    y=100 +------------------+------------------+
          | park A           | park B  [hole]   |
    y=0   +------------------+------------------+
               o block (70, -40)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from osm_synth import to_pbf

from toolkit.config import AreaConfig, FacilitySource, Source, Study
from toolkit.coverage import point_distances
from toolkit.facilities import (
    access_points,
    attach_facilities,
    classify_osm,
    combine,
    facilities_from,
    level_from_name,
    unknown_school_levels,
)
from toolkit.io import DataWarning
from toolkit.network import WalkNetwork
from toolkit.osm import read_osm_features
from toolkit.snapping import snap_points
from toolkit.study import load_facilities

CRS = "EPSG:32651"
ORIGIN = (352_000.0, 3_452_000.0)  # UTM 51N, about 121.43E 31.19N
TO_WGS84 = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)

STREET_X = (0.0, 200.0, 400.0)
STREET_Y = (0.0, 100.0, 200.0)
PARK_A = [(10, 10), (190, 10), (190, 90), (10, 90)]
PARK_B_OUTER = [(210, 10), (390, 10), (390, 90), (210, 90)]
PARK_B_INNER = [(260, 30), (340, 30), (340, 70), (260, 70)]
# park C's outline passes through its entrance (100, 190) and an emergency exit (10, 150)
PARK_C = [(10, 110), (190, 110), (190, 190), (100, 190), (10, 190), (10, 150)]
SCHOOL_1 = [(220, 120), (380, 120), (380, 180), (220, 180)]


def _m(x: float, y: float) -> tuple[float, float]:
    return ORIGIN[0] + x, ORIGIN[1] + y


class OsmXml:
    """A minimal OSM XML writer: nodes by local metre coordinates, ways and relations by id."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[float, float], tuple[int, dict[str, str]]] = {}
        self.ways: list[tuple[int, list[int], dict[str, str]]] = []
        self.rels: list[tuple[int, list[tuple[str, int, str]], dict[str, str]]] = []
        self._next = {"n": 1, "w": 1, "r": 1}

    def _id(self, kind: str) -> int:
        self._next[kind] += 1
        return self._next[kind] - 1

    def node(self, x: float, y: float, tags: dict[str, str] | None = None) -> int:
        if (x, y) in self.nodes:
            nid, old = self.nodes[(x, y)]
            old.update(tags or {})
            return nid
        nid = self._id("n")
        self.nodes[(x, y)] = (nid, dict(tags or {}))
        return nid

    def way(self, refs: list[int], tags: dict[str, str] | None = None) -> int:
        wid = self._id("w")
        self.ways.append((wid, refs, dict(tags or {})))
        return wid

    def ring(self, pts: list[tuple[float, float]], tags: dict[str, str] | None = None) -> int:
        refs = [self.node(x, y) for x, y in pts]
        return self.way([*refs, refs[0]], tags)

    def relation(self, members: list[tuple[str, int, str]], tags: dict[str, str]) -> int:
        rid = self._id("r")
        self.rels.append((rid, members, tags))
        return rid

    def write(self, path: Path) -> Path:
        def tag_xml(tags: dict[str, str]) -> str:
            return "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())

        lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
        for (x, y), (nid, tags) in sorted(self.nodes.items(), key=lambda kv: kv[1][0]):
            lon, lat = TO_WGS84.transform(*_m(x, y))
            lines.append(f'<node id="{nid}" lat="{lat:.9f}" lon="{lon:.9f}">{tag_xml(tags)}</node>')
        for wid, refs, tags in self.ways:
            nds = "".join(f'<nd ref="{r}"/>' for r in refs)
            lines.append(f'<way id="{wid}">{nds}{tag_xml(tags)}</way>')
        for rid, members, tags in self.rels:
            mem = "".join(f'<member type="{t}" ref="{r}" role="{role}"/>' for t, r, role in members)
            lines.append(f'<relation id="{rid}">{mem}{tag_xml(tags)}</relation>')
        lines.append("</osm>")
        path.write_text("\n".join(lines), encoding="utf-8")
        return path


def build_osm() -> OsmXml:
    o = OsmXml()
    for y in STREET_Y:
        o.way([o.node(x, y) for x in STREET_X], {"highway": "residential"})
    for x in STREET_X:
        o.way([o.node(x, y) for y in STREET_Y], {"highway": "residential"})
    o.ring(PARK_A, {"leisure": "park", "name": "Park A"})
    outer = o.ring(PARK_B_OUTER)
    inner = o.ring(PARK_B_INNER)
    o.relation([("way", outer, "outer"), ("way", inner, "inner")],
               {"type": "multipolygon", "leisure": "park", "name": "Park B"})
    o.node(100, 190, {"entrance": "yes"})
    o.node(10, 150, {"entrance": "emergency"})
    o.ring(PARK_C, {"leisure": "park", "name": "Park C"})
    o.ring(SCHOOL_1, {"amenity": "school", "name": "上海市第一小学"})
    o.node(300, 250, {"amenity": "school", "name": "某某学校"})
    o.node(450, 150, {"amenity": "school", "name": "上海市某某九年一贯制学校"})
    o.node(450, 50, {"amenity": "school", "name": "Green Valley High School"})
    o.node(100, -5, {"highway": "bus_stop", "name": "Stop"})
    # a clipped extract: a pitch whose last nodes are outside it, a park whose outer way is missing
    pitch = [o.node(430, 210), o.node(470, 210)]
    o.way([*pitch, 999_999, pitch[0]], {"leisure": "pitch"})
    o.relation([("way", 888_888, "outer")], {"type": "multipolygon", "leisure": "park", "name": "Cut park"})
    return o


@pytest.fixture(scope="module")
def osm_xml(tmp_path_factory) -> Path:
    return build_osm().write(tmp_path_factory.mktemp("area_osm") / "synthetic.osm")


@pytest.fixture(scope="module")
def osm_pbf(osm_xml) -> Path:
    return to_pbf(osm_xml, osm_xml.with_suffix(".osm.pbf"))


def _read(path: Path) -> gpd.GeoDataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the broken areas, checked in their own test
        return read_osm_features(path, ["leisure", "amenity", "highway"])


@pytest.fixture(scope="module")
def facilities(osm_xml) -> gpd.GeoDataFrame:
    raw = _read(osm_xml)
    return combine([facilities_from(raw, classify_osm(raw), source="synthetic")], CRS)


@pytest.fixture(scope="module")
def net() -> WalkNetwork:
    """The same street grid as the OSM file, built directly in metres."""
    xs, ys = np.meshgrid(STREET_X, STREET_Y)
    x, y = xs.ravel() + ORIGIN[0], ys.ravel() + ORIGIN[1]
    idx = np.arange(x.size).reshape(len(STREET_Y), len(STREET_X))
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return WalkNetwork(x=x, y=y, u=u, v=v, length=np.hypot(x[u] - x[v], y[u] - y[v]), crs=CRS)


def _poly(outer, holes=()) -> shapely.Polygon:
    return shapely.Polygon([_m(*p) for p in outer], [[_m(*p) for p in h] for h in holes])


def _distance(net, origin_xy, fac, **kw) -> float:
    """Network distance from one point to the nearest access point of ``fac`` (leg + street + leg)."""
    acc = access_points(fac, net, **kw)
    src = snap_points(net, acc.geometry)
    org = snap_points(net, gpd.GeoSeries([shapely.Point(_m(*origin_xy))], crs=CRS))
    return float(point_distances(net, org, src)[0])


# ------------------------------------------------------------------ reading
@pytest.mark.parametrize("fmt", ["osm", "pbf"])
def test_features_from_every_element_type(fmt, osm_xml, osm_pbf):
    g = _read(osm_xml if fmt == "osm" else osm_pbf)
    assert set(g["osm_type"]) == {"node", "way", "relation"}
    parks = g[g["leisure"] == "park"].set_index("name")
    assert sorted(parks.index) == ["Park A", "Park B", "Park C"]  # the cut park is skipped, not half-read
    assert parks.loc["Park A", "osm_type"] == "way" and parks.loc["Park B", "osm_type"] == "relation"
    assert (parks.geom_type == "Polygon").all()
    assert g.loc[g["name"] == "Stop", "osm_type"].item() == "node"
    assert g.loc[g["name"] == "上海市第一小学", "geometry"].item().geom_type == "Polygon"
    b = gpd.GeoSeries([parks.loc["Park B", "geometry"]], crs="EPSG:4326").to_crs(CRS).iloc[0]
    # the inner ring is a hole: its middle is not in the park, the strip beside it is
    assert len(b.interiors) == 1
    assert not b.contains(shapely.Point(_m(300, 50))) and b.contains(shapely.Point(_m(230, 50)))


@pytest.mark.parametrize("fmt", ["osm", "pbf"])
def test_area_m2_is_the_projected_polygon_area(fmt, osm_xml, osm_pbf):
    raw = _read(osm_xml if fmt == "osm" else osm_pbf)
    fac = combine([facilities_from(raw, classify_osm(raw), source="t")], CRS).set_index("name")
    expected = {"Park A": _poly(PARK_A).area, "Park B": _poly(PARK_B_OUTER, [PARK_B_INNER]).area,
                "Park C": _poly(PARK_C).area, "上海市第一小学": _poly(SCHOOL_1).area}
    assert expected["Park B"] == pytest.approx(180 * 80 - 80 * 40)  # the hole is not park
    for name, area in expected.items():
        assert fac.loc[name, "area_m2"] == pytest.approx(area, rel=0.005), name
    assert np.isnan(fac.loc["Stop", "area_m2"])
    assert fac.loc["Park B", "osm_type"] == "relation"


def test_broken_areas_are_counted_and_skipped(osm_xml, osm_pbf):
    for path in (osm_xml, osm_pbf):
        with pytest.warns(DataWarning, match="2 tagged areas"):
            g = read_osm_features(path, ["leisure"])
        assert g.attrs["broken_areas"] == 2
        assert "pitch" not in set(g["leisure"])


def test_entrances_on_the_outline_are_collected(osm_xml):
    g = _read(osm_xml).set_index("name")
    ent = gpd.GeoSeries([g.loc["Park C", "entrances"]], crs="EPSG:4326").to_crs(CRS).iloc[0]
    # entrance=yes is kept, the emergency exit is not a way in
    assert len(ent.geoms) == 1
    assert shapely.distance(ent.geoms[0], shapely.Point(_m(100, 190))) < 0.01
    assert g.loc["Park A", "entrances"] is None


# ------------------------------------------------------------------- access
def test_block_across_the_street_reaches_the_park_edge(facilities, net):
    park_a = facilities[facilities["name"] == "Park A"]
    # The block's point (70, -40) walks 40 m north to street y=0; Park A's south edge (y=10) faces the
    # street 10 m away, with a boundary point right across at x=70 (corners at x=10 and 190, a point every
    # 20 m between them). The walk is the street crossing: 40 + 10 = 50 m.
    d = _distance(net, (70, -40), park_a)
    assert d == pytest.approx(40.0 + 10.0, abs=0.05)
    # Reached at its middle (100, 50) it would be 40 + 30 along the street + 50 into the park = 120 m.
    centre = gpd.GeoSeries([shapely.Point(_m(100, 50))], crs=CRS)
    org = snap_points(net, gpd.GeoSeries([shapely.Point(_m(70, -40))], crs=CRS))
    assert float(point_distances(net, org, snap_points(net, centre))[0]) == pytest.approx(120.0, abs=0.05)


def test_mapped_entrance_is_where_the_park_is_reached(facilities, net):
    park_c = facilities[facilities["name"] == "Park C"]
    acc = access_points(park_c, net)
    assert acc["kind"].tolist() == ["entrance"]
    # From (-20, 150): 20 m to street x=0, 50 m north to the corner (0, 200), 100 m east to (100, 200),
    # 10 m south to the entrance (100, 190) = 180 m.
    assert _distance(net, (-20, 150), park_c) == pytest.approx(20 + 50 + 100 + 10, abs=0.05)
    # The nearest boundary point (10, 150) is 20 + 10 = 30 m away, but that is the emergency exit.
    assert _distance(net, (-20, 150), park_c.drop(columns="entrances")) == pytest.approx(30.0, abs=0.05)


def test_boundary_points_only_beside_snappable_streets():
    if "snappable" not in WalkNetwork.__dataclass_fields__:
        pytest.skip("WalkNetwork has no snappable edges")
    # a 100 m square of streets; only the north one (y=100) may take points, the others are tunnels
    x, y = np.array([0.0, 100, 100, 0]) + ORIGIN[0], np.array([0.0, 0, 100, 100]) + ORIGIN[1]
    u, v = np.array([0, 1, 2, 3]), np.array([1, 2, 3, 0])
    tunnel_net = WalkNetwork(x=x, y=y, u=u, v=v, length=np.full(4, 100.0), crs=CRS,
                             snappable=np.array([False, False, True, False]))
    park = gpd.GeoDataFrame({"facility_id": [1]}, geometry=[_poly([(10, 10), (90, 10), (90, 90), (10, 90)])],
                            crs=CRS)
    acc = access_points(park, tunnel_net, max_street_m=30.0)
    ys = shapely.get_y(np.asarray(acc.geometry.values)) - ORIGIN[1]
    assert set(acc["kind"]) == {"boundary"}
    # within 30 m of y=100: the north side and the top 20 m of the east and west sides
    assert ys.min() >= 70.0 - 1e-9 and (ys == 90.0).sum() >= 5


def test_area_far_from_streets_falls_back_to_its_nearest_boundary_point(net):
    # inside the block x=200..400, y=100..200: its south edge (y=135) is 35 m from street y=100, its
    # north edge 40 m from y=200, its sides 50 m from x=200 and x=400: no boundary point within 30 m
    far = gpd.GeoDataFrame({"facility_id": [7]}, geometry=[_poly([(250, 135), (350, 135), (350, 160), (250, 160)])],
                           crs=CRS)
    acc = access_points(far, net)
    assert set(acc["kind"]) == {"nearest_boundary"}
    pts = np.asarray(acc.geometry.values)
    assert (shapely.distance(pts, far.geometry.iloc[0].boundary) < 1e-6).all()
    legs = snap_points(net, acc.geometry).leg
    assert legs.min() == pytest.approx(35.0)  # the south edge walks 35 m to street y=100
    # every side about as near (within 30 m more than the nearest) is an entrance too: the
    # north edge (40 m to y=200) is, and no point is further than 35 + 30 m from a street
    ys = shapely.get_y(pts) - ORIGIN[1]
    assert (np.isclose(ys, 160.0)).any() and (np.isclose(ys, 135.0)).any()
    assert legs.max() <= 65.0 + 1e-9


def test_attach_keeps_one_point_row_per_facility(facilities, net):
    fac, acc, snap = attach_facilities(facilities, net, max_snap_m=250.0)
    assert len(fac) == len(facilities) and fac["facility_id"].tolist() == facilities["facility_id"].tolist()
    assert (fac.geom_type == "Point").all() and "entrances" not in fac
    assert len(snap) == len(acc) and fac["access_points"].sum() == len(acc)
    a = fac.set_index("name")
    assert a.loc["Park C", "access_points"] == 1  # its one usable entrance
    assert a.loc["Stop", "access_points"] == 1
    # Park A's nearest access point to a street: its edge, 10 m from the streets around it
    assert a.loc["Park A", "snap_leg_m"] == pytest.approx(10.0, abs=0.01)
    assert a.loc["Park A", "access_points"] > 20  # a 520 m outline, a point every 20 m, all beside a street
    best = acc[acc["best"]]
    assert len(best) == len(fac) and set(best["facility_id"]) == set(fac["facility_id"])


# ------------------------------------------------------------------ schools
@pytest.mark.parametrize(("name", "levels"), [
    ("上海市第一小学", ("primary_school",)),
    ("金色幼儿园", ("kindergarten",)),
    ("上海市第二初级中学", ("middle_school",)),
    ("上海市延安高级中学", ("middle_school",)),
    ("复旦大学附属中学", ("middle_school",)),  # a 大学 named, but the school is its 中学
    ("华东师范大学附属小学", ("primary_school",)),
    ("上海市某某九年一贯制学校", ("primary_school", "middle_school")),
    ("Yew Chung Kindergarten", ("kindergarten",)),
    ("Pudong Primary School", ("primary_school",)),
    ("Green Valley High School", ("middle_school",)),
    ("某某学校", ()),
    ("Concordia Academy", ()),
])
def test_level_from_name(name, levels):
    assert level_from_name(name) == levels


def test_schools_classified_by_name_in_the_osm_file(osm_xml):
    raw = _read(osm_xml)
    cat = classify_osm(raw)
    by_name = dict(zip(raw["name"], cat, strict=True))
    assert by_name["上海市第一小学"] == "primary_school"
    assert by_name["Green Valley High School"] == "middle_school"
    assert by_name["上海市某某九年一贯制学校"] == "primary_school;middle_school"
    assert pd.isna(by_name["某某学校"])
    fac = facilities_from(raw, cat, source="t")
    nine = fac[fac["name"] == "上海市某某九年一贯制学校"]
    # one facility per level it teaches, from the same OSM node
    assert sorted(nine["category"]) == ["middle_school", "primary_school"] and nine["source_id"].nunique() == 1
    unknown = unknown_school_levels(raw, cat)
    assert raw.loc[unknown, "name"].tolist() == ["某某学校"]
    # a study looking only for transit has no school to report
    assert not unknown_school_levels(raw, classify_osm(raw, ["transit"]), ["transit"]).any()


def test_tags_win_over_names_and_listed_levels_match():
    tags = pd.DataFrame({"amenity": ["school", "school", "school"], "isced:level": ["2", "1;2", None],
                         "name": ["某某小学", "某某学校", "某某学校"]})
    # isced:level=2 says middle school whatever the name; "1;2" lists both levels, so the school is a
    # facility of each (every matching category, not the first); no level and no word: unknown
    assert classify_osm(tags).tolist()[:2] == ["middle_school", "primary_school;middle_school"]
    assert unknown_school_levels(tags, classify_osm(tags)).tolist() == [False, False, True]


def test_level_unknown_is_reported_not_dropped(osm_xml):
    study = Study(name="synthetic", area=AreaConfig(bbox=[121.0, 31.0, 122.0, 32.0]),
                  facilities=[FacilitySource(Source(path=str(osm_xml)), kind="osm")])
    reach = shapely.box(121.0, 31.0, 122.0, 32.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        fac, report = load_facilities(study, CRS, reach)
    notes = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    unknown = [n for n in notes if "level unknown" in n]
    assert len(unknown) == 1 and "1 school (amenity=school)" in unknown[0] and "某某学校" in unknown[0]
    assert any("2 tagged areas" in n for n in notes)
    src = report["sources"][0]
    assert src["schools_level_unknown"] == 1 and src["broken_areas"] == 2
    # parks A, B, C and school 1 are areas; the nine-year school is two facilities
    assert src["areas_in_reach"] == 4
    assert (fac["category"] == "park").sum() == 3 and (fac["category"] == "primary_school").sum() == 2
    assert "某某学校" not in set(fac["name"])


# ------------------------------------------------------------------- study
def test_study_reaches_areas_at_their_edge(osm_xml):
    """run_study on the synthetic file: coverage is seeded from the access points, one row per facility."""
    import toolkit as tk

    lon0, lat0 = TO_WGS84.transform(*_m(-50, -80))
    lon1, lat1 = TO_WGS84.transform(*_m(500, 280))
    study = Study(name="synthetic", area=AreaConfig(bbox=[lon0, lat0, lon1, lat1], clip_to_data=False),
                  network=Source(path=str(osm_xml)), facilities=[FacilitySource(Source(path=str(osm_xml)))],
                  crs=CRS, min_block_area_m2=100.0)
    r = tk.run_study(study)
    fac = r.facilities
    assert (fac.geom_type == "Point").all() and {"area_m2", "osm_type", "access_points"} <= set(fac.columns)
    assert sorted(fac.loc[fac["category"] == "park", "osm_type"]) == ["relation", "way", "way"]
    assert any("level unknown" in n and "某某学校" in n for n in r.notes)
    assert r.details["facilities"]["access_points"]["entrance"] == 1
    # The block around Park A: its point (100, 50) walks 50 m to a street (y=0 or y=100), 10 m along it to
    # the nearest boundary point (x=90 or 110) and 10 m to the park's edge: 70 m. Seeded from the park's
    # own point instead, (100, 50) in the park would give 50 + 0 + 50 = 100 m.
    hit = r.blocks.contains(shapely.Point(_m(100, 50))).to_numpy()
    assert hit.sum() == 1
    assert r.blocks.loc[hit, "dist_park_m"].iloc[0] == pytest.approx(70.0, abs=0.1)
