"""Land, not sea: coastlines cut the sea out of the land where blocks are drawn (issue #9, item 6).

Everything here is synthetic, in EPSG:32651 around (350 000, 3 450 000), i.e.
121.43 E 31.17 N in central Shanghai. The coastline is wavy, runs west to east
with the land (north) on its left as OSM draws ``natural=coastline``, and dips
below the south edge of the 2 km study square twice, so the sea inside the
square is three separate bays. The reference sea is built straight from the
line's coordinates: the polygon between the line and a far southern edge (the
line is x-monotonic, so that is exactly its right-hand side), cut to the area
by one shapely intersection; no splitting or side test of the code under test
is involved.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pyproj
import pytest
import shapely

import toolkit as tk
from toolkit.blocks import enclosed_blocks
from toolkit.config import Source
from toolkit.errors import InputError
from toolkit.io import DataWarning
from toolkit.network import grid_network
from toolkit.waterfront import (
    RiverSource,
    WaterfrontConfig,
    coast_lines,
    land_area,
    read_osm_coastlines,
    split_land,
    water_polygons,
)

CRS = "EPSG:32651"
X0, Y0 = 350_000.0, 3_450_000.0
SIDE = 2000.0
#: Where the coastline is cut into ways: three ways, each starting on the last node of the one before.
CUTS = (41, 91)


def wavy_coast() -> np.ndarray:
    """The coastline's vertices, west to east (land on the left, to the north)."""
    xs = np.linspace(-300.0, SIDE + 300.0, 131)
    ys = -100.0 + 0.45 * xs + 300.0 * np.sin(2 * np.pi * xs / 500.0)
    return np.column_stack([X0 + xs, Y0 + ys])


def ways_of(xy: np.ndarray) -> list[np.ndarray]:
    a, b = CUTS
    return [xy[:a], xy[a - 1:b], xy[b - 1:]]


def right_of(xy: np.ndarray) -> shapely.Polygon:
    """Everything south of an x-monotonic line drawn west to east: the line's right-hand side."""
    far = Y0 - 10 * SIDE
    return shapely.Polygon([*map(tuple, xy), (xy[-1, 0], far), (xy[0, 0], far)])


def square() -> shapely.Polygon:
    return shapely.box(X0, Y0, X0 + SIDE, Y0 + SIDE)


def write_lines(path: Path, lines: list[np.ndarray], crs: str = CRS) -> Source:
    gpd.GeoDataFrame({"way": np.arange(len(lines))}, geometry=[shapely.LineString(c) for c in lines],
                     crs=crs).to_file(path)
    return Source(path=str(path))


def to_wgs84(xy: np.ndarray) -> np.ndarray:
    lon, lat = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def to_utm(lonlat: np.ndarray) -> np.ndarray:
    x, y = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(lonlat[:, 0], lonlat[:, 1])
    return np.column_stack([x, y])


def osm_xml(lonlat_ways: list[np.ndarray], tags: dict[str, str], first_id: int = 1) -> tuple[str, str]:
    """OSM XML node and way elements; consecutive ways share their joining node, as OSM ways do."""
    nodes, ways, ids = [], [], {}
    nid, wid = first_id, first_id
    for way in lonlat_ways:
        refs = []
        for lon, lat in way:
            key = (f"{lat:.7f}", f"{lon:.7f}")
            if key not in ids:
                ids[key] = nid
                nodes.append(f'  <node id="{nid}" version="1" lat="{key[0]}" lon="{key[1]}"/>')
                nid += 1
            refs.append(ids[key])
        tag_xml = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        ways.append(f'  <way id="{wid}" version="1">' + "".join(f'<nd ref="{r}"/>' for r in refs) + tag_xml
                    + "</way>")
        wid += 1
    return "\n".join(nodes), "\n".join(ways)


def write_osm(path: Path, parts: list[tuple[str, str]]) -> Path:
    nodes = "\n".join(n for n, _ in parts if n)
    ways = "\n".join(w for _, w in parts if w)
    path.write_text(f"<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\" generator=\"test\">\n"
                    f"{nodes}\n{ways}\n</osm>\n", encoding="utf-8")
    return path


def no_data_warnings(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        return fn(*args)


# ------------------------------------------------------------------ the land split
@pytest.mark.parametrize("round_trip", [False, True], ids=["box", "box-via-wgs84"])
def test_wavy_coastline_in_three_ways_leaves_blocks_on_land_only(tmp_path, round_trip):
    area = square()
    if round_trip:
        # As a study gets its area: drawn in WGS84 and projected, so its corners and
        # edges sit a rounding error off the box; the old split then removed no sea.
        area = gpd.GeoSeries([area], crs=CRS).to_crs("EPSG:4326").to_crs(CRS).iloc[0]
    xy = wavy_coast()
    w = ways_of(xy)
    # the ways out of file order: joining them goes by their ends, not their rows
    src = write_lines(tmp_path / "coast.geojson", [w[2], w[0], w[1]])
    cfg = WaterfrontConfig(coastlines=[src])
    coast = no_data_warnings(coast_lines, cfg, CRS, area)
    assert len(coast) == 1 and coast["n_ways"].tolist() == [3] and coast["source_row"].tolist() == [0]

    sea_ref = shapely.intersection(area, right_of(xy))
    land_ref = shapely.difference(area, right_of(xy))
    assert len(shapely.get_parts(sea_ref)) == 3  # the fixture: three bays cut off by the south edge
    assert 0.15 < sea_ref.area / area.area < 0.25

    cut = split_land(area, None, coast)
    assert cut.land.area == pytest.approx(land_ref.area, rel=1e-3)
    assert shapely.symmetric_difference(cut.land, land_ref).area < 1.0
    assert cut.sea_m2 == pytest.approx(sea_ref.area, rel=1e-3)
    assert cut.water_m2 == 0.0 and cut.area_m2 == pytest.approx(area.area)
    assert cut.details()["sea_km2"] == round(sea_ref.area / 1e6, 3)
    assert "km2 of sea" in cut.note()
    assert land_area(area, None, coast).equals(cut.land)

    # a street grid over the whole square, its southern streets running out over the sea as piers
    streets = grid_network(11, 200.0, crs=CRS, origin=(X0, Y0)).streets()
    blocks = enclosed_blocks(streets, cut.land, min_area_m2=500.0)
    covered = shapely.union_all(np.asarray(blocks.geometry.values))
    assert shapely.intersection(covered, sea_ref).area < 1.0
    # blocks fill the land, less the slivers under the minimum block area
    assert shapely.difference(covered, land_ref).area < 1.0
    assert covered.area > 0.99 * land_ref.area


def test_without_the_coastline_blocks_would_cover_the_sea():
    """The same grid and square with no sea removed: the check above is not vacuous."""
    area = square()
    sea_ref = shapely.intersection(area, right_of(wavy_coast()))
    blocks = enclosed_blocks(grid_network(11, 200.0, crs=CRS, origin=(X0, Y0)).streets(), area)
    covered = shapely.union_all(np.asarray(blocks.geometry.values))
    assert shapely.intersection(covered, sea_ref).area == pytest.approx(sea_ref.area, rel=1e-6)


def test_water_polygons_rivers_and_coast_are_all_removed(tmp_path):
    area = square()
    xy = wavy_coast()
    lake = shapely.box(X0 + 200, Y0 + 1500, X0 + 500, Y0 + 1800)  # on land
    gpd.GeoDataFrame(geometry=[lake], crs=CRS).to_file(tmp_path / "lake.geojson")
    river = shapely.LineString([(X0 + 1500, Y0 + SIDE + 200), (X0 + 1500, Y0 + 1300)])  # ends on land
    gpd.GeoDataFrame(geometry=[river], crs=CRS).to_file(tmp_path / "river.geojson")
    cfg = WaterfrontConfig(water=[Source(path=str(tmp_path / "lake.geojson"))],
                           rivers=[RiverSource(Source(path=str(tmp_path / "river.geojson")),
                                       width_m=40.0)],
                           coastlines=[write_lines(tmp_path / "coast.geojson", ways_of(xy))])
    water = water_polygons(cfg, CRS, area)
    coast = coast_lines(cfg, CRS, area)
    cut = split_land(area, water, coast)
    river_ref = shapely.box(X0 + 1480, Y0 + 1300, X0 + 1520, Y0 + SIDE)  # the flat-ended 40 m band, inside
    wet_ref = lake.area + river_ref.area
    land_ref = shapely.difference(shapely.difference(area, right_of(xy)), shapely.union(lake, river_ref))
    assert cut.water_m2 == pytest.approx(wet_ref, rel=1e-6)
    assert cut.sea_m2 == pytest.approx(shapely.intersection(area, right_of(xy)).area, rel=1e-3)
    assert shapely.symmetric_difference(cut.land, land_ref).area < 1.0
    assert cut.water_m2 + cut.sea_m2 + cut.land_m2 == pytest.approx(area.area, rel=1e-9)


def test_reversed_coastline_is_reported_and_used_as_drawn(tmp_path):
    area = square()
    xy = wavy_coast()
    rev = [w[::-1] for w in ways_of(xy)[::-1]]  # east to west: the land would be the south
    with pytest.warns(DataWarning, match="right of the coastline"):
        coast = coast_lines(WaterfrontConfig(coastlines=[write_lines(tmp_path / "rev.geojson", rev)]), CRS, area)
    assert coast["n_ways"].tolist() == [3]
    cut = split_land(area, None, coast)
    # taken as drawn: what was sea is the land now
    assert shapely.symmetric_difference(cut.land, shapely.intersection(area, right_of(xy))).area < 1.0


def test_coastline_ending_inside_the_area_removes_nothing(tmp_path):
    area = square()
    xs = np.linspace(-300.0, 1200.0, 61)
    stub = np.column_stack([X0 + xs, Y0 + 900 + 120 * np.sin(2 * np.pi * xs / 400)])  # enters west, stops inside
    with pytest.warns(DataWarning, match="coastline end lies inside the study area"):
        coast = coast_lines(WaterfrontConfig(coastlines=[write_lines(tmp_path / "stub.geojson", [stub])]),
                            CRS, area)
    cut = split_land(area, None, coast)
    assert cut.sea_m2 == 0.0 and cut.note() is None
    assert cut.land.area == pytest.approx(area.area, rel=1e-12)


@pytest.mark.parametrize("where", ["land", "sea"])
def test_a_coastline_poking_into_a_face_changes_nothing(where):
    """A stray piece of coastline ending inside a face neither makes land sea nor sea land."""
    area = square()
    xy = wavy_coast()
    land_ref = shapely.difference(area, right_of(xy))
    if where == "land":
        poke = shapely.LineString([(X0 + 600, Y0 + SIDE + 100), (X0 + 650, Y0 + 1400)])
    else:
        bay = max(shapely.get_parts(shapely.intersection(area, right_of(xy))), key=lambda g: g.area)
        cx = bay.centroid.x
        poke = shapely.LineString([(cx, Y0 - 100), (cx, Y0 + 20)])
        assert bay.contains(shapely.Point(cx, Y0 + 20))
    coast = gpd.GeoDataFrame(geometry=[shapely.LineString(xy), poke], crs=CRS)
    cut = split_land(area, None, coast)
    assert shapely.symmetric_difference(cut.land, land_ref).area < 1.0


def test_multi_part_coastline_with_an_island():
    """Mainland and an island in one MultiLineString row; the island's ring runs anticlockwise (land inside)."""
    area = square()
    main = np.array([(X0 - 300, Y0 + 900), (X0 + 800, Y0 + 1000), (X0 + SIDE + 300, Y0 + 1100)])
    t = np.linspace(0, 2 * np.pi, 73)
    ring = np.column_stack([X0 + 1000 + 200 * np.cos(t), Y0 + 400 + 150 * np.sin(t)])
    ring[-1] = ring[0]
    coast = gpd.GeoDataFrame(geometry=[shapely.MultiLineString([main, ring])], crs=CRS)
    cut = split_land(area, None, coast)
    land_ref = shapely.union(shapely.difference(area, right_of(main)), shapely.Polygon(ring))
    assert shapely.symmetric_difference(cut.land, land_ref).area < 1.0
    assert len(shapely.get_parts(cut.land)) == 2


# ------------------------------------------------------------------ OSM files as coastline sources
@pytest.fixture
def coast_osm(tmp_path) -> tuple[Path, np.ndarray]:
    """The wavy coastline as three natural=coastline ways in OSM XML, with a street that is no coastline."""
    lonlat = np.round(to_wgs84(wavy_coast()), 7)
    coast = osm_xml(ways_of(lonlat), {"natural": "coastline"})
    street = osm_xml([to_wgs84(np.array([(X0 + 100, Y0 + 1900), (X0 + 1900, Y0 + 1900)]))],
                     {"highway": "residential"}, first_id=1000)
    return write_osm(tmp_path / "coast.osm", [coast, street]), to_utm(lonlat)


@pytest.mark.parametrize("fmt", ["osm", "osm.pbf"])
def test_coastline_from_an_osm_file(tmp_path, coast_osm, fmt):
    path, xy = coast_osm
    if fmt == "osm.pbf":
        pbf = tmp_path / "coast.osm.pbf"
        with osmium.SimpleWriter(str(pbf)) as w:
            for o in osmium.FileProcessor(str(path)):
                w.add_node(o) if o.is_node() else w.add_way(o)
        path = pbf
    area = square()
    coast = no_data_warnings(coast_lines, WaterfrontConfig(coastlines=[Source(path=str(path))]), CRS, area)
    assert coast["n_ways"].tolist() == [3]  # the street is not read as coast
    land_ref = shapely.difference(area, right_of(xy))
    assert shapely.symmetric_difference(split_land(area, None, coast).land, land_ref).area < 1.0


def test_osm_file_without_coastline_is_an_input_error(tmp_path):
    street = osm_xml([to_wgs84(np.array([(X0, Y0), (X0 + 500, Y0)]))], {"highway": "residential"})
    p = write_osm(tmp_path / "streets.osm", [street])
    with pytest.raises(InputError, match="natural=coastline"):
        coast_lines(WaterfrontConfig(coastlines=[Source(path=str(p))]), CRS, square())
    # water from an OSM file must name its layer: GDAL's first layer is the points
    with pytest.raises(InputError, match="none was named"):
        water_polygons(WaterfrontConfig(water=[Source(path=str(p))]), CRS, square())


# ------------------------------------------------------------------ a whole study
def test_run_study_draws_blocks_on_land_only(tmp_path):
    xy = wavy_coast()
    corners = to_wgs84(np.array([(X0, Y0), (X0 + SIDE, Y0 + SIDE)]))
    bbox = [float(corners[0, 0]), float(corners[0, 1]), float(corners[1, 0]), float(corners[1, 1])]
    # the coastline in WGS84, as a GeoJSON of three ways
    write_lines(tmp_path / "coast.geojson", [to_wgs84(w) for w in ways_of(xy)], crs="EPSG:4326")
    # a 200 m grid of residential streets over the bbox and 200 m beyond, sea side included (piers)
    # (a node at every crossing, so the ways meet as a street grid does)
    ticks = np.arange(-200.0, SIDE + 201.0, 200.0)
    grid = [np.array([(X0 + t, Y0 + s) for s in ticks]) for t in ticks]
    grid += [np.array([(X0 + s, Y0 + t) for s in ticks]) for t in ticks]
    write_osm(tmp_path / "streets.osm", [osm_xml([to_wgs84(g) for g in grid], {"highway": "residential"})])
    (tmp_path / "coastal.toml").write_text(f"""
[study]
name = "coastal"
crs = "EPSG:32651"

[area]
bbox = {bbox}
clip_to_data = false

[network]
source = {{ path = "streets.osm" }}
buffer_m = 300

[waterfront]
coastlines = [{{ path = "coast.geojson" }}]
""", encoding="utf-8")
    res = tk.run_study(tk.load_study(tmp_path / "coastal.toml"))

    # the reference area: the bbox corners projected, as a polygon
    area_ref = shapely.Polygon(to_utm(np.array([(bbox[0], bbox[1]), (bbox[2], bbox[1]), (bbox[2], bbox[3]),
                                                (bbox[0], bbox[3])])))
    sea_ref = shapely.intersection(area_ref, right_of(xy))
    land_ref = shapely.difference(area_ref, right_of(xy))
    assert sea_ref.area > 0.15 * area_ref.area
    covered = shapely.union_all(np.asarray(res.blocks.geometry.values))
    assert shapely.intersection(covered, sea_ref).area < 1.0
    assert res.land.area == pytest.approx(land_ref.area, rel=1e-3)
    assert shapely.symmetric_difference(res.land, land_ref).area < 1.0
    assert res.details["land_km2"] == pytest.approx(land_ref.area / 1e6, abs=5e-4)
    assert res.details["removed_km2"]["water"] == 0.0
    assert res.details["removed_km2"]["sea"] == pytest.approx(sea_ref.area / 1e6, abs=1e-3)
    assert any("km2 of sea" in n for n in res.notes)
    # nothing doubtful about this coastline: no warning that it may be drawn backwards
    assert not any("lies to the right of the coastline" in n for n in res.notes), res.notes
    assert res.details["waterfront"]["status"] == "measured"


def test_osm_coastline_with_nodes_missing_from_the_extract(tmp_path):
    """An extract cut at its edge: the located runs of a way are kept apart, never bridged."""
    lonlat = to_wgs84(np.array([(X0 + 100.0 * k, Y0 + 500) for k in range(6)]))
    nodes = "\n".join(f'  <node id="{k + 1}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>'
                      for k, (lon, lat) in enumerate(lonlat) if k != 2)  # node 3 is not in the file
    way = ('  <way id="1" version="1">' + "".join(f'<nd ref="{k + 1}"/>' for k in range(6))
           + '<tag k="natural" v="coastline"/></way>')
    p = write_osm(tmp_path / "cut.osm", [(nodes, way)])
    with pytest.warns(DataWarning, match="nodes missing"):
        lines = read_osm_coastlines(p)
    assert lines["osmid"].tolist() == [1, 1]
    assert [len(g.coords) for g in lines.geometry] == [2, 3]  # nodes 1-2 and 4-6
    assert lines.crs.to_epsg() == 4326
