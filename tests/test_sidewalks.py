"""Sidewalks, crossings, park paths and driveways change neither the blocks nor the intersection count.

The synthetic city is a 5 x 5 grid of 150 m streets, mapped as a full OSM extract
maps a Chinese city centre: each street has a sidewalk on each side 8 m off its
centreline, the sidewalks meet at the block corners and are linked across the
street by crossings 12 m from each junction; a footpath crosses a park in one
block and a driveway leads into another. Every reference (the blocks, the
intersection counts, the block faces) is the bare street grid's, worked out by
hand or with shapely on the bare grid lines.
"""

from __future__ import annotations

import itertools
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from toolkit.blocks import carriageway_mask, enclosed_blocks, tag_rule_mask
from toolkit.network import WalkNetwork
from toolkit.walkability import (
    block_faces,
    consolidated_intersections,
    intersection_count,
    intersection_edges,
    neighbourhood_components,
)

CRS = "EPSG:32651"
ORIGIN = np.array([350_000.0, 3_450_000.0])
N = 5          # streets each way
SPACING = 150.0
OFFSET = 8.0   # sidewalk from the centreline
CROSS = 12.0   # crossing from the junction
TAGS = ("osmid", "highway", "name", "lanes", "service", "footway", "tunnel", "bridge", "layer", "indoor",
        "access", "foot", "covered", "crossing")

SIDEWALK = {"highway": "footway", "footway": "sidewalk"}
PARK_PATH = [(225.0, 158.0), (200.0, 200.0), (240.0, 250.0)]   # block (1, 1): x 150-300, y 150-300
PARK_PATH_2 = [(240.0, 250.0), (225.0, 292.0)]
DRIVEWAY = [(375.0, 0.0), (375.0, OFFSET), (375.0, 40.0)]         # block (2, 0): x 300-450, y 0-150

# 3+-way junctions of the bare grid, by hand: every junction but the 4 corners
BARE_INTERSECTIONS = N * N - 4


def synthetic_city(sidewalks: bool = True, extras: bool = True) -> list[tuple[list[tuple[float, float]], dict]]:
    """The city as OSM ways: (points in metres from ORIGIN, tags)."""
    ways: list[tuple[list[tuple[float, float]], dict]] = []
    # points each carriageway passes through: junctions, crossings, the driveway's start
    street_pts: dict[tuple[str, int], set[float]] = {}
    # extra points on a sidewalk (street, segment, side): where the park path and driveway join it
    side_pts: dict[tuple[str, int, int, int], set[float]] = {}
    for k in range(N):
        street_pts[("h", k)] = {i * SPACING for i in range(N)}
        street_pts[("v", k)] = {i * SPACING for i in range(N)}
    if sidewalks:
        for k in range(N):
            for i in range(N - 1):
                for key in (("h", k), ("v", k)):
                    street_pts[key] |= {i * SPACING + CROSS, (i + 1) * SPACING - CROSS}
    if extras:
        street_pts[("h", 0)].add(DRIVEWAY[0][0])
        if sidewalks:
            side_pts[("h", 1, 1, +1)] = {PARK_PATH[0][0]}
            side_pts[("h", 2, 1, -1)] = {PARK_PATH_2[-1][0]}
            side_pts[("h", 0, 2, +1)] = {DRIVEWAY[1][0]}

    def xy(kind: str, k: int, along: float, across: float = 0.0) -> tuple[float, float]:
        fixed = k * SPACING + across
        return (along, fixed) if kind == "h" else (fixed, along)

    for (kind, k), pts in street_pts.items():
        ways.append(([xy(kind, k, a) for a in sorted(pts)],
                     {"highway": "secondary" if k == 2 else "residential", "name": f"{kind}{k}"}))
    if sidewalks:
        for kind in ("h", "v"):
            for k in range(N):
                for i in range(N - 1):
                    for side in (-1, 1):
                        a0, a1 = i * SPACING, (i + 1) * SPACING
                        along = {a0 + OFFSET, a0 + CROSS, a1 - CROSS, a1 - OFFSET}
                        along |= side_pts.get((kind, k, i, side), set())
                        ways.append(([xy(kind, k, a, side * OFFSET) for a in sorted(along)], dict(SIDEWALK)))
                    for n_cross, a in enumerate((i * SPACING + CROSS, (i + 1) * SPACING - CROSS)):
                        # some mappers tag the kind of crossing only, without footway=crossing
                        tags = ({"highway": "footway", "footway": "crossing", "crossing": "zebra"}
                                if (k + i + n_cross) % 3 else {"highway": "footway", "crossing": "marked"})
                        ways.append(([xy(kind, k, a, -OFFSET), xy(kind, k, a), xy(kind, k, a, OFFSET)], tags))
        # where a junction has no street on one side, the sidewalk turns the corner
        for i in range(N):
            for j in range(N):
                x, y = i * SPACING, j * SPACING
                corners = [(x + OFFSET, y + OFFSET), (x - OFFSET, y + OFFSET), (x - OFFSET, y - OFFSET),
                           (x + OFFSET, y - OFFSET)]  # NE, NW, SW, SE
                # the arm between consecutive corners: N, W, S, E
                arms = [j < N - 1, i > 0, j > 0, i < N - 1]
                for q in range(4):
                    if not arms[q]:
                        ways.append(([corners[q], corners[(q + 1) % 4]], dict(SIDEWALK)))
    if extras:
        if sidewalks:
            ways.append((list(PARK_PATH), {"highway": "footway"}))
            ways.append((list(PARK_PATH_2), {"highway": "path"}))
        ways.append((list(DRIVEWAY) if sidewalks else [DRIVEWAY[0], DRIVEWAY[2]],
                     {"highway": "service", "service": "driveway"}))
    return ways


def _node_ids(ways) -> dict[tuple[float, float], int]:
    ids: dict[tuple[float, float], int] = {}
    for pts, _ in ways:
        for p in pts:
            ids.setdefault((round(p[0], 3), round(p[1], 3)), len(ids) + 1)
    return ids


def network_of(ways) -> WalkNetwork:
    """The ways as a WalkNetwork, one edge per way segment, tags in edge_attrs."""
    ids = _node_ids(ways)
    xy = np.array(list(ids), dtype=float) + ORIGIN
    u, v, rows = [], [], []
    for w, (pts, tags) in enumerate(ways):
        for a, b in itertools.pairwise(pts):
            u.append(ids[(round(a[0], 3), round(a[1], 3))] - 1)
            v.append(ids[(round(b[0], 3), round(b[1], 3))] - 1)
            rows.append({t: (str(1000 + w) if t == "osmid" else tags.get(t)) for t in TAGS})
    u, v = np.array(u), np.array(v)
    length = np.hypot(*(xy[u] - xy[v]).T)
    return WalkNetwork(x=xy[:, 0], y=xy[:, 1], u=u, v=v, length=length, crs=CRS,
                       edge_attrs=pd.DataFrame(rows, columns=list(TAGS)))


def write_osm_xml(ways, path) -> None:
    """The ways as an OSM XML file: nodes in WGS84 with ids, ways with their tags, crossing nodes tagged."""
    ids = _node_ids(ways)
    to_wgs = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    crossing_nodes = {(round(p[0], 3), round(p[1], 3)) for pts, t in ways if "crossing" in t for p in pts[1:-1]}
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="tests/test_sidewalks.py">']
    for (x, y), nid in ids.items():
        lon, lat = to_wgs.transform(x + ORIGIN[0], y + ORIGIN[1])
        attrs = f'id="{nid}" version="1" lat="{lat:.9f}" lon="{lon:.9f}"'
        if (x, y) in crossing_nodes:
            out.append(f'  <node {attrs}>\n    <tag k="highway" v="crossing"/>\n  </node>')
        else:
            out.append(f"  <node {attrs}/>")
    for w, (pts, tags) in enumerate(ways):
        out.append(f'  <way id="{1000 + w}" version="1">')
        out += [f'    <nd ref="{ids[(round(p[0], 3), round(p[1], 3))]}"/>' for p in pts]
        out += [f"    <tag k={quoteattr(k)} v={quoteattr(str(val))}/>" for k, val in tags.items()]
        out.append("  </way>")
    out.append("</osm>")
    path.write_text("\n".join(out), encoding="utf-8")


AREA = shapely.box(*(ORIGIN - 40.0), *(ORIGIN + (N - 1) * SPACING + 40.0))


def bare_grid_blocks() -> np.ndarray:
    """The bare grid's blocks with shapely alone: its centrelines and the area outline, polygonised."""
    L = (N - 1) * SPACING
    ends = [((0.0, k * SPACING), (L, k * SPACING)) for k in range(N)] + [((k * SPACING, 0.0), (k * SPACING, L))
                                                                         for k in range(N)]
    lines = [shapely.LineString(np.asarray(e) + ORIGIN) for e in ends]
    noded = shapely.union_all([*lines, AREA.boundary])
    return shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))


def assert_same_blocks(blocks, reference: np.ndarray) -> None:
    assert len(blocks) == len(reference)
    ref_tree = shapely.STRtree(reference)
    for g in blocks.geometry.values:
        hit = ref_tree.query(shapely.point_on_surface(g), predicate="within")
        assert len(hit) == 1
        assert g.area == pytest.approx(reference[hit[0]].area, rel=0.01)


@pytest.fixture(scope="module")
def city() -> WalkNetwork:
    return network_of(synthetic_city())


def test_the_synthetic_city_has_the_sliver_problem(city):
    """The sidewalks and crossings, polygonised with the streets, make many slivers: the test is not vacuous."""
    every_edge = enclosed_blocks(city.streets().geometry, AREA, min_area_m2=500.0)
    # the small faces at corners and crossings are dropped, but the 8 m strips along the streets are
    # over 500 m2 and would pass for blocks: 99 "blocks" for the grid's 17
    assert every_edge.attrs["dropped_slivers"] > 50
    assert len(every_edge) > 5 * len(bare_grid_blocks())


def test_blocks_are_the_street_grid_blocks(city):
    ref = bare_grid_blocks()
    # the 16 grid cells of 150 x 150 m and the frame between the grid and the area outline
    assert sorted(np.round(shapely.area(ref)))[:16] == [SPACING**2] * 16
    blocks = enclosed_blocks(city.streets(), AREA, min_area_m2=500.0)
    assert_same_blocks(blocks, ref)
    assert blocks.attrs["dropped_slivers"] == 0
    # left out: every sidewalk, crossing, park path and driveway segment
    n_not = sum(len(p) - 1 for p, t in synthetic_city() if t["highway"] in ("footway", "path", "service"))
    assert blocks.attrs["edges_not_enclosing"] == n_not


def test_consolidated_intersections_are_the_grid_junctions(city):
    # raw, every node with 3+ edges, by hand: a 4-way junction has its own node, the 4 carriageway
    # crossing nodes and 8 sidewalk ends of crossings; a T-junction 1 + 3 + 6; a corner 0 + 2 + 4;
    # plus both ends of the park path and the driveway's two junctions
    raw = 9 * 13 + 12 * 10 + 4 * 6 + 2 + 2
    every = np.ones(city.n_edges, dtype=bool)
    assert intersection_count(city, tolerance_m=0, edges=every) == raw
    assert intersection_count(city) == BARE_INTERSECTIONS
    assert intersection_count(city, area=AREA) == BARE_INTERSECTIONS
    # the same with the bare grid mapped alone
    assert intersection_count(network_of(synthetic_city(sidewalks=False, extras=False))) == BARE_INTERSECTIONS


def test_consolidation_alone_merges_sidewalks_into_their_street():
    """Without any tag (a network drawn by hand), merging nodes within 20 m still finds the grid's junctions."""
    net = network_of(synthetic_city(extras=False))
    net.edge_attrs = None
    c = consolidated_intersections(net)
    hits = c[c["street_count"] >= 3]
    assert len(hits) == BARE_INTERSECTIONS
    # one cluster at each junction of the bare grid (a T's cluster is lopsided: within a few metres)
    corners = {(0, 0), (0, N - 1), (N - 1, 0), (N - 1, N - 1)}
    junctions = np.array([(i, j) for i in range(N) for j in range(N) if (i, j) not in corners]) * SPACING + ORIGIN
    d = np.hypot(hits["x"].to_numpy()[:, None] - junctions[:, 0], hits["y"].to_numpy()[:, None] - junctions[:, 1])
    assert (d.min(axis=1) < 5.0).all() and len(set(d.argmin(axis=1))) == BARE_INTERSECTIONS
    # 4 streets at the 9 interior junctions although 12 lines leave each (a carriageway and 2 sidewalks
    # per arm), 3 at the 12 T-junctions of the edge
    assert np.bincount(hits["street_count"]).tolist() == [0, 0, 0, 12, 9]


def test_divided_road_is_one_intersection():
    """A street mapped as two carriageways 10 m apart meets each cross street once, as osmnx consolidates it."""
    # a 200 x 200 m square crossed by three east-west streets and, in the middle, by a north-south
    # road of two carriageways at x = 95 and 105
    ways = [([(0.0, y), (95.0, y), (105.0, y), (200.0, y)], {"highway": "residential"}) for y in (0.0, 100.0, 200.0)]
    ways += [([(x, 0.0), (x, 100.0), (x, 200.0)], {"highway": "primary" if 0 < x < 200 else "residential"})
             for x in (0.0, 95.0, 105.0, 200.0)]
    net = network_of(ways)
    # raw: the 6 nodes of the divided road and the T's at (0, 100) and (200, 100)
    assert intersection_count(net, tolerance_m=0) == 8
    # consolidated: the two T's of the frame, a T where the divided road meets the top and the
    # bottom street, and one 4-way in the middle
    c = consolidated_intersections(net)
    assert sorted(c.loc[c["street_count"] >= 3, "street_count"].tolist()) == [3, 3, 3, 3, 4]
    assert intersection_count(net) == 5


def test_intersection_density_counts_the_grid_junctions(city):
    centre = shapely.Point(ORIGIN + 2 * SPACING)
    comp = neighbourhood_components(city, np.array([centre]), radius_m=160.0)
    # within 160 m of the centre junction: itself and its 4 neighbours (the diagonals are 212 m away)
    assert comp["walk_intersection_density"].iloc[0] == pytest.approx(5 / (np.pi * 0.160**2))


def test_block_faces_run_from_junction_to_junction(city):
    blocks = enclosed_blocks(city.streets(), AREA, min_area_m2=500.0)
    grid = blocks[np.isclose(blocks["area_m2"], SPACING**2, rtol=0.01)]
    f = block_faces(grid, city)
    # crossings and the driveway do not end a face; a grid corner is no junction, so the
    # 4 corner blocks have a face of two sides
    assert sorted(np.round(f["walk_block_face_max_m"], 6).tolist()) == [SPACING] * 12 + [2 * SPACING] * 4


def test_street_rules_by_tag():
    tags = pd.DataFrame({
        "highway": ["residential", "footway", "footway", "service", "service", "pedestrian", "primary",
                    "residential;footway", "steps", None, "footway", "living_street"],
        "footway": [None, "sidewalk", None, None, None, None, None, "sidewalk", None, None, "crossing", None],
        "service": [None, None, None, "driveway", "alley", None, None, None, None, None, None, None],
        "tunnel": [None, None, None, None, None, None, "yes", None, None, None, None, None],
        "crossing": [None, None, None, None, None, None, None, None, None, None, "zebra", None],
    })
    # a pedestrian street bounds blocks (Chinese old towns); a merged way that is partly a street
    # is a street; an edge without a highway value is taken as a street
    assert carriageway_mask(tags).tolist() == [True, False, False, False, True, True, False, True, False, True,
                                               False, True]
    assert carriageway_mask(tags.drop(columns="highway")).all()
    net = WalkNetwork(x=np.arange(13.0), y=np.zeros(13), u=np.arange(12), v=np.arange(1, 13),
                      length=np.ones(12), crs=CRS, edge_attrs=tags)
    # intersections: sidewalks, crossings and driveways are not routes of their own; paths and steps are
    assert intersection_edges(net).tolist() == [True, False, True, False, True, True, True, True, True, True,
                                                False, True]
    assert tag_rule_mask(tags, [{"crossing": "*"}]).tolist() == [False] * 10 + [True, False]


def test_osm_file_through_the_reader(tmp_path):
    """The same city as an OSM XML file, read by the array reader: same blocks, same intersections."""
    osm_network = pytest.importorskip("toolkit.osm_network")
    path = tmp_path / "sidewalk_city.osm"
    write_osm_xml(synthetic_city(), path)
    net = osm_network.read_walk_network(path, CRS)
    assert {"highway", "footway", "service", "crossing"} <= set(net.edge_attrs.columns)
    assert net.length.sum() == pytest.approx(network_of(synthetic_city()).length.sum(), rel=1e-5)
    blocks = enclosed_blocks(net.streets(), AREA, min_area_m2=500.0)
    assert_same_blocks(blocks, bare_grid_blocks())
    assert intersection_count(net) == BARE_INTERSECTIONS
    assert intersection_count(net, area=AREA) == BARE_INTERSECTIONS
