"""The array-based OSM reader on the shared files and on extracts shaped like what users bring.

References are osmnx's graphs of the raw files (the field's reader) and
hand-placed coordinates, never the toolkit's own network.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import osmium
import osmnx as ox
import pandas as pd
import pytest
import shapely
from osm_synth import OsmWriter, to_pbf

from toolkit.errors import InputError
from toolkit.io import DataWarning
from toolkit.osm_network import read_walk_network
from toolkit.snapping import snap_points

CRS = "EPSG:32651"


def _osmnx_reference(path) -> tuple[int, int, float]:
    """Nodes, undirected edges and length of osmnx's simplified walkable graph of a raw file."""
    tags = ["highway", "foot", "access", "area", "tunnel", "layer", "indoor", "location"]
    old = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(dict.fromkeys(old + tags))
    try:
        G = ox.graph_from_xml(path, bidirectional=True, simplify=False, retain_all=True)
    finally:
        ox.settings.useful_tags_way = old
    bad = {"motorway", "motorway_link", "raceway", "bus_guideway", "construction", "proposed", "abandoned",
           "platform", "corridor", "razed", "planned", "no"}
    drop = []
    for u, v, k, d in G.edges(keys=True, data=True):
        if (d.get("highway") in bad or d.get("foot") == "no" or d.get("area") == "yes"
                or (d.get("access") == "no" and d.get("foot") not in ("yes", "designated", "permissive"))):
            drop.append((u, v, k))
        else:
            layer = pd.to_numeric(pd.Series([d.get("layer")]), errors="coerce").iloc[0]
            d["nosnap"] = bool(d.get("tunnel") not in (None, "no") or layer < 0 or d.get("indoor") == "yes"
                               or d.get("location") == "underground" or d.get("access") in ("private", "no")
                               or d.get("foot") == "private")
    G.remove_edges_from(drop)
    G.remove_nodes_from([n for n in list(G) if G.degree(n) == 0])
    # a tunnel is its own edge (the toolkit's rule), so ask osmnx to keep nodes where that changes
    G = ox.project_graph(ox.simplify_graph(G, edge_attrs_differ=["nosnap"], remove_rings=False), to_crs=CRS)
    e = ox.graph_to_gdfs(G, nodes=False, fill_edge_geometry=True).reset_index()
    lo, hi = np.minimum(e["u"], e["v"]), np.maximum(e["u"], e["v"])
    g = [shapely.to_wkb(shapely.set_precision(shapely.normalize(x), 0.001)) for x in e.geometry]
    e = e[~pd.DataFrame({"lo": lo, "hi": hi, "g": g}).duplicated().to_numpy()]
    return len(G), len(e), float(e.geometry.length.sum())


@pytest.mark.parametrize("name", ["xuhui_roads.osm", "center_roads.osm"])
@pytest.mark.slow
def test_same_graph_as_osmnx(shared, name):
    """Nodes, edges and total length equal osmnx's simplified graph under the same filter (within 0.1%)."""
    n_nodes, n_edges, length = _osmnx_reference(shared / name)
    net = read_walk_network(shared / name, CRS)
    assert net.n_nodes == pytest.approx(n_nodes, rel=1e-3)
    assert net.n_edges == pytest.approx(n_edges, rel=1e-3)
    assert net.length.sum() == pytest.approx(length, rel=1e-3)
    # lengths are metres along the projected line
    assert np.allclose(net.length, shapely.length(net.edge_geometry))


def test_foot_no_is_not_walked(shared):
    """center_roads.osm: 151 foot=no ways are not walked (osmnx's XML reader drops that tag by default)."""
    net = read_walk_network(shared / "center_roads.osm", CRS)
    assert net.info["removed_not_walkable"]["foot=no"] == 151
    assert not net.edge_attrs["foot"].fillna("").str.split(";").map(lambda v: "no" in v).any()


def test_pbf_reads_like_xml(shared, tmp_path):
    pbf = to_pbf(shared / "xuhui_roads.osm", tmp_path / "xuhui.osm.pbf")
    a = read_walk_network(shared / "xuhui_roads.osm", CRS)
    b = read_walk_network(pbf, CRS)
    assert (a.n_nodes, a.n_edges) == (b.n_nodes, b.n_edges)
    assert a.length.sum() == pytest.approx(b.length.sum(), rel=1e-9)


def _clip(src, dst, bbox):
    """Cut an extract the way osmium's 'simple' strategy and Overpass bbox queries do: nodes in the
    box, every way touching it written as it is (its references to nodes outside stay dangling)."""
    x0, y0, x1, y1 = bbox
    inside = set()
    for n in osmium.FileProcessor(str(src), osmium.osm.NODE):
        if x0 <= n.location.lon <= x1 and y0 <= n.location.lat <= y1:
            inside.add(n.id)
    refs_total = refs_out = 0
    with osmium.SimpleWriter(str(dst)) as wr:
        for o in osmium.FileProcessor(str(src), osmium.osm.NODE | osmium.osm.WAY):
            if o.is_node() and o.id in inside:
                wr.add_node(o)
            elif o.is_way() and "highway" in o.tags:
                refs = [r.ref for r in o.nodes]
                if any(r in inside for r in refs):
                    refs_total += len(refs)
                    refs_out += sum(r not in inside for r in refs)
                    wr.add_way(o)
    return refs_total, refs_out


CENTER_BOX = (121.46, 31.215, 121.49, 31.24)


def test_clipped_extract_loads_and_reports_the_cut(shared, tmp_path):
    clipped = tmp_path / "center_clipped.osm.pbf"
    total, outside = _clip(shared / "center_roads.osm", clipped, CENTER_BOX)
    assert outside > 0
    with pytest.warns(DataWarning, match=rf"{outside:,} of .* way-node references point outside the file"):
        net = read_walk_network(clipped, CRS)
    assert net.info["refs_outside_file"] == outside
    assert net.info["way_node_refs"] == total
    assert net.info["ways_cut"] > 0
    # every edge lies inside the box the extract was cut to (no line to a missing node)
    lon, lat = shapely.get_coordinates(
        shapely.transform(net.edge_geometry, lambda c: np.column_stack(
            __import__("pyproj").Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(c[:, 0], c[:, 1])))).T
    assert lon.min() >= CENTER_BOX[0] - 1e-6 and lon.max() <= CENTER_BOX[2] + 1e-6
    assert lat.min() >= CENTER_BOX[1] - 1e-6 and lat.max() <= CENTER_BOX[3] + 1e-6


@pytest.mark.slow
def test_study_on_a_clipped_extract_runs_and_run_json_reports_it(shared, tmp_path):
    clipped = tmp_path / "center_clipped.osm"
    _, outside = _clip(shared / "center_roads.osm", clipped, CENTER_BOX)
    (tmp_path / "clip.toml").write_text(f"""
[study]
name = "clipped"
[area]
bbox = [121.465, 31.22, 121.485, 31.235]
[network]
source = {{ path = "{clipped.name}" }}
[[facilities]]
source = {{ path = "{clipped.name}" }}
kind = "osm"
categories = ["transit"]
[output]
map = false
report = false
""", encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "toolkit.cli", "run", str(tmp_path / "clip.toml"), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    run = json.loads((out / "clipped" / "run.json").read_text(encoding="utf-8"))
    assert run["network"]["refs_outside_file"] == outside
    assert any("point outside the file" in n for n in run["notes"])


def _cross(tmp_path, **tunnel_tags):
    """A surface street and, 3 m beside it, a tunnel under it (both on the main network)."""
    w = OsmWriter()
    a, b, c, d = w.node(0, 0), w.node(400, 0), w.node(0, 400), w.node(400, 400)
    w.way([a, b], highway="residential", name="地面路")
    w.way([c, d], highway="residential")
    w.way([a, c], highway="residential")
    w.way([b, d], highway="residential")
    t1, t2 = w.node(0, 3), w.node(400, 3)
    w.way([t1, t2], **tunnel_tags)
    w.way([a, t1], highway="footway")
    w.way([b, t2], highway="footway")
    return w.write_xml(tmp_path / "tunnel.osm")


@pytest.mark.parametrize("tags", [
    {"highway": "service", "tunnel": "yes", "layer": "-1"},
    {"highway": "footway", "layer": "-2"},
    {"highway": "corridor"},  # indoor corridors are not walked at all
    {"highway": "footway", "indoor": "yes"},
    {"highway": "service", "access": "private"},
])
def test_blocks_do_not_snap_to_tunnels_or_private_ways(tmp_path, tags):
    import geopandas as gpd

    net = read_walk_network(_cross(tmp_path, **tags), CRS)
    net.snap_main_only = True
    # a point 2 m off the tunnel, 5 m off the surface street
    from osm_synth import X0, Y0

    pt = gpd.GeoSeries(gpd.points_from_xy([X0 + 200], [Y0 + 5]), crs=CRS)
    s = snap_points(net, pt)
    assert s.leg[0] == pytest.approx(5.0, abs=0.05)
    assert net.edge_attrs.loc[s.edge[0], "name"] == "地面路"
    # the tunnel still carries walks (it is an edge of the network) unless nobody may walk it
    carried = (net.edge_attrs["highway"] == tags["highway"]).any()
    assert carried == (tags["highway"] != "corridor")


def test_not_walkable_and_not_highway(tmp_path):
    w = OsmWriter()
    w.line([(0, 0), (100, 0)], highway="residential")
    w.line([(0, 50), (100, 50)], highway="primary", foot="no")
    w.line([(0, 60), (100, 60)], highway="service", access="no")
    w.line([(0, 70), (100, 70)], highway="service", access="no", foot="yes")  # walkable after all
    w.line([(0, 80), (100, 80)], highway="motorway")
    w.line([(0, 90), (50, 90), (50, 120), (0, 90)], highway="pedestrian", area="yes")
    w.line([(0, 200), (100, 200)], waterway="river")
    w.line([(0, 300), (10, 300), (10, 310), (0, 310), (0, 300)], building="yes")
    net = read_walk_network(w.write_xml(tmp_path / "mixed.osm"), CRS)
    assert net.n_edges == 2
    # OSM stores degrees to 1e-7 (about 1 cm): lengths are good to a few centimetres
    assert np.allclose(net.length, 100.0, atol=0.05)
    assert net.info["removed_not_walkable"] == {"foot=no": 1, "access=no": 1, "motorway": 1, "area=yes": 1}
    # the foot=no primary, the closed service road and the motorway are at grade: no walk
    # uses them, but they still divide the city into blocks (the plaza outline does not)
    assert len(net.barriers) == 3


def test_one_street_segment_stored_once(tmp_path):
    """A street merged from two ways, mapped again in reverse by a third way: one edge.
    Two distinct streets between the same two junctions: two edges with their own lengths."""
    w = OsmWriter()
    a, m, b = w.node(0, 0), w.node(50, 0), w.node(100, 0)
    w.way([a, m], highway="residential", name="x")
    w.way([m, b], highway="residential", name="x")
    w.way([b, m, a], highway="residential", name="x")
    c = w.node(50, 40)
    w.way([a, c, b], highway="service")
    w.way([a, w.node(0, -100)], highway="residential")
    w.way([b, w.node(100, -100)], highway="residential")
    net = read_walk_network(w.write_xml(tmp_path / "dup.osm"), CRS)
    assert net.info["duplicate_segments"] == 2
    lens = np.sort(net.length)
    assert np.allclose(lens, [100.0, 100.0, 100.0, 2 * np.hypot(50, 40)], atol=0.05)


def test_ring_kept_as_one_closed_street(tmp_path):
    w = OsmWriter()
    n = [w.node(0, 0), w.node(100, 0), w.node(100, 100), w.node(0, 100)]
    w.way([*n, n[0]], highway="footway")
    net = read_walk_network(w.write_xml(tmp_path / "ring.osm"), CRS)
    assert net.n_edges == 1 and net.length[0] == pytest.approx(400.0, abs=0.05)
    assert net.u[0] == net.v[0]


@pytest.mark.parametrize("content", [b"\x00\x01garbage" * 50, None])
def test_corrupt_pbf_names_the_file(shared, tmp_path, content):
    bad = tmp_path / "broken.osm.pbf"
    if content is None:  # a real file cut short
        src = to_pbf(shared / "xuhui_roads.osm", tmp_path / "ok.osm.pbf")
        content = src.read_bytes()[: src.stat().st_size // 2]
    bad.write_bytes(content)
    with pytest.raises(InputError) as e, warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        read_walk_network(bad, CRS)
    assert "broken.osm.pbf" in str(e.value)
    assert e.value.fix


def test_only_the_area_is_built(shared):
    """A small area on the city-wide file builds only the ways near it."""
    full = read_walk_network(shared / "center_roads.osm", CRS)
    box = shapely.box(121.47, 31.225, 121.48, 31.232)
    part = read_walk_network(shared / "center_roads.osm", CRS, area=box)
    assert part.n_edges < full.n_edges / 5
    # every edge keeps a vertex inside the area (boundary streets stay whole, nothing far away is built)
    import geopandas as gpd

    wgs = gpd.GeoSeries(part.edge_geometry, crs=CRS).to_crs("EPSG:4326")
    coords, which = shapely.get_coordinates(np.asarray(wgs.values), return_index=True)
    inside = np.zeros(part.n_edges, dtype=bool)
    np.logical_or.at(inside, which, shapely.contains_xy(box, coords[:, 0], coords[:, 1]))
    assert inside.all()
    # and what is built near the area is what the whole-file network has there
    near = shapely.intersects(np.asarray(gpd.GeoSeries(full.edge_geometry, crs=CRS).to_crs("EPSG:4326").values), box)
    assert near.sum() == pytest.approx(part.n_edges, rel=0.05)


@pytest.mark.slow
def test_downloaded_graph_gets_the_same_network(shared):
    """A place download goes through osmnx; the same walk and snap rules give the file reader's network.
    (The download is emulated offline by osmnx's own XML reader with the tags a download keeps.)"""
    from toolkit.network import network_from_osmnx
    from toolkit.osm_network import EDGE_TAGS

    old = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(dict.fromkeys([*old, *EDGE_TAGS, "area"]))
    try:
        G = ox.graph_from_xml(shared / "center_roads.osm", bidirectional=True, simplify=False, retain_all=True)
    finally:
        ox.settings.useful_tags_way = old
    a = network_from_osmnx(G, CRS)
    b = read_walk_network(shared / "center_roads.osm", CRS)
    assert (a.n_nodes, a.n_edges) == (b.n_nodes, b.n_edges)
    assert a.length.sum() == pytest.approx(b.length.sum(), rel=1e-9)
    assert a.snappable.sum() == b.snappable.sum()
    assert a.info["removed_not_walkable"]["foot=no"] > 0


@pytest.mark.parametrize(("name", "content"), [
    ("cut.osm", "<?xml version='1.0'?><osm version='0.6'><node id='1' lat='31.2' lon='121.4'/>"
                "<way id='1'><nd ref='1'/>"),
    ("page.osm", "<html><body>Too many requests</body></html>"),
    ("empty.osm", "<?xml version='1.0'?><osm version='0.6'><node id='1' lat='31.2' lon='121.4'/></osm>"),
])
def test_bad_xml_names_the_file_and_the_fix(tmp_path, name, content):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_walk_network(tmp_path / name, CRS)
    assert name in str(e.value) and e.value.fix


def test_way_table_is_kept_per_file_and_renewed_when_it_changes(tmp_path, monkeypatch, shared):
    """A file is parsed once; later reads (a district on a city-wide file) come from the cached table,
    give the same network as the parse, and a changed file is parsed again."""
    import os
    import shutil

    import toolkit.osm_network as on

    monkeypatch.setenv("TOOLKIT_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "center.osm"
    shutil.copy(shared / "center_roads.osm", f)
    box = shapely.box(121.47, 31.225, 121.48, 31.232)
    cold = read_walk_network(f, CRS, area=box)
    assert list((tmp_path / "cache" / "osm-ways").glob("*.npz"))

    def boom(*a, **k):
        raise AssertionError("the file was parsed again")

    monkeypatch.setattr(on, "_highway_ways", boom)
    warm = read_walk_network(f, CRS, area=box)
    assert (warm.n_nodes, warm.n_edges) == (cold.n_nodes, cold.n_edges)
    assert np.array_equal(warm.length, cold.length) and np.array_equal(warm.node_id, cold.node_id)
    pd.testing.assert_frame_equal(warm.edge_attrs, cold.edge_attrs)
    assert np.array_equal(warm.snappable, cold.snappable) and len(warm.barriers) == len(cold.barriers)
    assert warm.info == cold.info
    # a changed file (here: another modification time) is parsed again
    os.utime(f, ns=(os.stat(f).st_atime_ns, os.stat(f).st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="parsed again"):
        read_walk_network(f, CRS, area=box)
