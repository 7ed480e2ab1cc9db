"""OpenStreetMap input: walking graphs and tagged features.

* ``.osm`` / ``.osm.bz2`` XML is parsed by osmnx (``graph_from_xml``), the field's
  reference reader, so graphs match what osmnx users get.
* ``.osm.pbf`` is read with pyosmium (the maintained binding of libosmium, with
  wheels for every platform and no compiler needed), which extracts the
  ``highway`` ways and their nodes to a temporary OSM XML file that then takes the
  same osmnx path: one graph-building code path for every format.
* A place name goes to osmnx's Overpass client when online.
* Tagged point features (transit stops, amenities) are read with pyosmium from
  any of the file formats, since osmnx's XML graph reader keeps no node tags.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from .errors import InputError

#: Highway values a pedestrian may not use.
NOT_WALKABLE = frozenset({"motorway", "motorway_link", "raceway", "bus_guideway", "construction",
                          "proposed", "abandoned", "platform", "corridor"})


def _suffix(p: Path) -> str:
    name = p.name.lower()
    for s in (".osm.pbf", ".osm.bz2", ".osm", ".pbf", ".bz2", ".xml"):
        if name.endswith(s):
            return s
    return p.suffix.lower()


def read_osm_graph(source: str | os.PathLike) -> nx.MultiDiGraph:
    """Read an unsimplified, bidirectional osmnx graph of all highways in an OSM file.

    Parameters
    ----------
    source : path-like
        ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file.
    """
    import osmnx as ox

    p = Path(source)
    if not p.exists():
        raise InputError("OSM file not found", source=str(p), fix="check the network source path")
    suffix = _suffix(p)
    if suffix in (".osm.pbf", ".pbf"):
        with tempfile.TemporaryDirectory() as tmp:
            xml = Path(tmp) / "highways.osm"
            _pbf_highways_to_xml(p, xml)
            return read_osm_graph(xml)
    if suffix not in (".osm", ".osm.bz2", ".xml", ".bz2"):
        raise InputError(f"unsupported OSM format {suffix!r}", source=str(p),
                         fix="use .osm, .osm.bz2 or .osm.pbf")
    try:
        G = ox.graph_from_xml(p, bidirectional=True, simplify=False, retain_all=True)
    except Exception as exc:
        raise InputError(f"cannot parse the OSM file: {exc}", source=str(p),
                         fix="check that it is OSM XML (.osm/.osm.bz2) with highway ways") from None
    if G.number_of_edges() == 0:
        raise InputError("the OSM file has no highway ways", source=str(p),
                         fix="export roads (highway=*) for the study area")
    return G


def graph_from_place(place: str, network_type: str = "walk") -> nx.MultiDiGraph:
    """Download a walking graph for a place name with osmnx (needs internet)."""
    import osmnx as ox

    try:
        return ox.graph_from_place(place, network_type=network_type, simplify=False, retain_all=True)
    except Exception as exc:
        raise InputError(f"could not download the OSM network for {place!r}: {exc}", field="place",
                         fix="check the place name and your connection, or use a local .osm/.pbf file") from None


def _pbf_highways_to_xml(pbf: Path, xml: Path) -> None:
    import osmium

    node_ids: set[int] = set()
    for w in osmium.FileProcessor(str(pbf), osmium.osm.WAY).with_filter(osmium.filter.KeyFilter("highway")):
        node_ids.update(n.ref for n in w.nodes)
    with osmium.SimpleWriter(str(xml)) as writer:
        for obj in osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY):
            if obj.is_node() and obj.id in node_ids:
                writer.add_node(obj)
            elif obj.is_way() and "highway" in obj.tags:
                writer.add_way(obj)


def read_osm_nodes(source: str | os.PathLike, keys: tuple[str, ...]) -> gpd.GeoDataFrame:
    """Tagged OSM nodes having any of ``keys``, as WGS84 points with one column per tag.

    Works on ``.osm``, ``.osm.bz2`` and ``.osm.pbf``.
    """
    import osmium

    p = Path(source)
    rows, xs, ys = [], [], []
    fp = osmium.FileProcessor(str(p), osmium.osm.NODE).with_filter(osmium.filter.KeyFilter(*keys))
    for n in fp:
        if not n.location.valid():
            continue
        tags = {t.k: t.v for t in n.tags}
        tags["osmid"] = n.id
        rows.append(tags)
        xs.append(n.location.lon)
        ys.append(n.location.lat)
    df = pd.DataFrame.from_records(rows) if rows else pd.DataFrame({"osmid": pd.Series(dtype="int64")})
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(np.asarray(xs, float), np.asarray(ys, float)),
                            crs="EPSG:4326")


def walkable_subgraph(G: nx.MultiDiGraph) -> tuple[nx.MultiDiGraph, dict[str, int]]:
    """Drop edges pedestrians cannot use (motorways and their links, etc.).

    Returns the subgraph and a count of the removed edges per highway value.
    """
    removed: dict[str, int] = {}
    drop = []
    for u, v, k, hw in G.edges(keys=True, data="highway"):
        values = hw if isinstance(hw, list) else [hw]
        if values and all(h in NOT_WALKABLE for h in values):
            drop.append((u, v, k))
            removed[str(values[0])] = removed.get(str(values[0]), 0) + 1
        foot = G.edges[u, v, k].get("foot")
        if foot == "no" and (u, v, k) not in drop[-1:]:
            drop.append((u, v, k))
            removed["foot=no"] = removed.get("foot=no", 0) + 1
    H = G.copy()
    H.remove_edges_from(drop)
    H.remove_nodes_from([n for n in list(H.nodes) if H.degree(n) == 0])
    return H, removed


def osm_features_to_points(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Represent polygon/line features by a point guaranteed to lie on them."""
    out = gdf.copy()
    geoms = out.geometry.values
    is_point = shapely.get_type_id(geoms) == 0
    out.geometry.values[~is_point] = shapely.point_on_surface(geoms[~is_point])
    return out
