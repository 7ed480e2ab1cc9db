"""OpenStreetMap input: walking graphs and tagged features.

* ``.osm`` / ``.osm.bz2`` XML is parsed by osmnx (``graph_from_xml``), the field's
  reference reader, so graphs match what osmnx users get.
* ``.osm.pbf`` is read with pyosmium (the maintained binding of libosmium, with
  wheels for every platform and no compiler needed), which extracts the
  ``highway`` ways and their nodes to a temporary OSM XML file that then takes the
  same osmnx path: one graph-building code path for every format.
* A place name goes to osmnx's Overpass client when online.
* Tagged point features (transit stops, amenities) are read with pyosmium from
  any of the file formats, since osmnx's XML graph reader keeps no node tags;
  :func:`read_osm_features` adds the areas (closed ways, multipolygons), which
  libosmium assembles, and the entrances on their outlines.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError
from .walk_rules import EDGE_TAGS, WalkRules, walk_reason

if TYPE_CHECKING:  # networkx costs 0.2 s to import: only the functions that build graphs load it
    import networkx as nx

__all__ = [
    "CLOSED_ACCESS",
    "UNUSABLE_ENTRANCES",
    "graph_from_place",
    "osm_features_to_points",
    "read_osm_features",
    "read_osm_graph",
    "read_osm_nodes",
    "walkable_subgraph"
]


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


def graph_from_place(place: str, network_type: str = "all") -> nx.MultiDiGraph:
    """Download the streets of a place name with osmnx (needs internet).

    Every highway comes down (``network_type="all"``) with the tags the
    toolkit's walk and snap rules read, and the same rules as for a file
    are applied afterwards, so a download and an extract of the same place
    give the same network.
    """
    import osmnx as ox

    ox.settings.useful_tags_way = list(dict.fromkeys([*ox.settings.useful_tags_way, *EDGE_TAGS, "area"]))
    try:
        return ox.graph_from_place(place, network_type=network_type, simplify=False, retain_all=True)
    except Exception as exc:
        raise InputError(f"could not download the OSM network for {place!r}: {exc}", field="place",
                         fix="check the place name and your connection, or use a local .osm/.pbf file") from None


def _pbf_highways_to_xml(pbf: Path, xml: Path) -> None:
    import osmium

    node_ids: set[int] = set()
    for w in osmium.FileProcessor(str(pbf), osmium.osm.WAY).with_filter(osmium.filter.KeyFilter("highway")):
        if isinstance(w, osmium.osm.Way):  # always: the processor reads ways only (narrows the type)
            node_ids.update(n.ref for n in w.nodes)
    with osmium.SimpleWriter(str(xml)) as writer:
        for obj in osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY):
            # isinstance rather than obj.is_node(): the same test, and it narrows pyosmium's object union
            if isinstance(obj, osmium.osm.Node) and obj.id in node_ids:
                writer.add_node(obj)
            elif isinstance(obj, osmium.osm.Way) and "highway" in obj.tags:
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
        # the processor reads nodes only: the isinstance test narrows pyosmium's object union
        if not isinstance(n, osmium.osm.Node) or not n.location.valid():
            continue
        tags: dict[str, Any] = {t.k: t.v for t in n.tags}
        tags["osmid"] = n.id
        rows.append(tags)
        xs.append(n.location.lon)
        ys.append(n.location.lat)
    df = pd.DataFrame.from_records(rows) if rows else pd.DataFrame({"osmid": pd.Series(dtype="int64")})
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(np.asarray(xs, float), np.asarray(ys, float)),
                            crs="EPSG:4326")


#: ``entrance=*`` values nobody walks in through: an exit-only door or an
#: emergency exit is not where a visitor reaches the facility.
UNUSABLE_ENTRANCES = frozenset({"no", "exit", "emergency"})
#: ``access=*`` values that close an entrance to the public.
CLOSED_ACCESS = frozenset({"no", "private"})


def read_osm_features(source: str | os.PathLike, keys: tuple[str, ...] | list[str]) -> gpd.GeoDataFrame:
    """Nodes, closed ways and multipolygon relations having any of ``keys``, as WGS84 geometries.

    Areas are assembled by libosmium (pyosmium's area handling), so a park
    mapped as a multipolygon relation keeps its holes. Works on ``.osm``,
    ``.osm.bz2`` and ``.osm.pbf``.

    Parameters
    ----------
    source : path-like
        The OSM file.
    keys : sequence of str
        Tag keys; a feature with any of them is returned.

    Returns
    -------
    GeoDataFrame
        One row per feature, in EPSG:4326: ``Point`` for nodes, ``Polygon`` or
        ``MultiPolygon`` for areas; one column per tag, ``osmid``, ``osm_type``
        (``node``, ``way`` or ``relation``) and ``entrances``: for an area, a
        ``MultiPoint`` of the usable ``entrance=*`` nodes on its outline
        (``None`` when it has none; exits, emergency exits and private
        entrances are left out). ``attrs["broken_areas"]`` counts the tagged
        closed ways and multipolygon relations that could not be assembled
        (members or nodes missing from a clipped extract): they are skipped
        and reported with a :class:`~toolkit.io.DataWarning`, never fatal.

    Examples
    --------
    >>> parks = read_osm_features("xuhui.osm.pbf", ["leisure"])  # doctest: +SKIP
    >>> parks[["osm_type", "leisure"]].value_counts()  # doctest: +SKIP
    """
    import warnings

    import osmium

    from .io import DataWarning

    p = Path(source)
    if not p.exists():
        raise InputError("OSM file not found", source=str(p), fix="check the facilities source path")
    keys = tuple(dict.fromkeys(keys))
    if not keys:
        raise InputError("no tag keys to read", source=str(p), fix="give at least one OSM tag key")
    found = _Features(keys, osmium.geom.WKBFactory())
    # entrance nodes pass the filter too: they are matched to the outlines below
    fp = (osmium.FileProcessor(str(p)).with_locations()
          .with_areas(osmium.filter.KeyFilter(*keys))
          .with_filter(osmium.filter.KeyFilter(*keys, "entrance")))
    try:
        for obj in fp:
            found.take(obj)
    except RuntimeError as exc:
        raise InputError(f"cannot read the OSM file: {exc}", source=str(p),
                         fix="check that it is OSM XML (.osm/.osm.bz2) or PBF (.osm.pbf)") from None
    broken = len(found.candidates - found.built) + found.failed
    if broken:
        warnings.warn(f"{p.name}: {broken} tagged areas (closed ways or multipolygons) could not be assembled "
                      "because nodes or members are missing (a clipped extract?) and were skipped",
                      DataWarning, stacklevel=2)
    out = found.frame()
    out.attrs["broken_areas"] = broken
    return out


class _Features:
    """What :func:`read_osm_features` keeps while libosmium streams the file: tagged features, entrances."""

    def __init__(self, keys: tuple[str, ...], wkb: Any) -> None:
        self.keys, self.wkb = keys, wkb
        self.rows: list[dict[str, Any]] = []
        self.geoms: list[Any] = []
        self.rings: list[list[int]] = []  # node ids on each area's outline (empty for nodes)
        self.entrance_at: dict[int, tuple[float, float]] = {}
        self.candidates: set[tuple[str, int]] = set()  # tagged closed ways and multipolygons libosmium should build
        self.built: set[tuple[str, int]] = set()
        self.failed = 0

    def take(self, obj: Any) -> None:
        """One object of the stream: a node, a way or relation (an area to come), or an assembled area."""
        import osmium

        tags = obj.tags
        wanted = any(k in tags for k in self.keys)
        # isinstance rather than obj.is_node() and the like: the same test, and it narrows the type
        if isinstance(obj, osmium.osm.Node):
            self._node(obj, wanted)
        elif isinstance(obj, osmium.osm.Way):
            nodes = obj.nodes
            if wanted and len(nodes) >= 4 and nodes[0].ref == nodes[-1].ref and tags.get("area") != "no":
                self.candidates.add(("way", obj.id))
        elif isinstance(obj, osmium.osm.Relation):
            if wanted and tags.get("type") in ("multipolygon", "boundary"):
                self.candidates.add(("relation", obj.id))
        elif isinstance(obj, osmium.osm.Area) and wanted:
            self._area(obj)

    def _node(self, obj: Any, wanted: bool) -> None:
        if not obj.location.valid():
            return
        tags = obj.tags
        if "entrance" in tags and tags.get("entrance") not in UNUSABLE_ENTRANCES \
                and tags.get("access") not in CLOSED_ACCESS:
            self.entrance_at[obj.id] = (obj.location.lon, obj.location.lat)
        if wanted:
            self._add(tags, "node", obj.id, shapely.Point(obj.location.lon, obj.location.lat), [])

    def _area(self, obj: Any) -> None:
        kind, oid = ("way" if obj.from_way() else "relation"), obj.orig_id()
        try:
            geom = shapely.from_wkb(self.wkb.create_multipolygon(obj))
            ring = [n.ref for outer in obj.outer_rings() for r in (outer, *obj.inner_rings(outer)) for n in r]
        except RuntimeError:
            # libosmium assembled rings but a location is invalid: a clipped extract
            self.failed += 1
            return
        self.built.add((kind, oid))
        self._add(obj.tags, kind, oid, geom.geoms[0] if len(geom.geoms) == 1 else geom, ring)

    def _add(self, tags: Any, kind: str, oid: int, geom: Any, ring: list[int]) -> None:
        rec: dict[str, Any] = {t.k: t.v for t in tags}
        rec["osmid"] = oid
        rec["osm_type"] = kind
        self.rows.append(rec)
        self.geoms.append(geom)
        self.rings.append(ring)

    def frame(self) -> gpd.GeoDataFrame:
        """The features in EPSG:4326 with their ``entrances`` (a MultiPoint per area with any), repaired."""
        entrances = []
        for ring in self.rings:
            hit = [self.entrance_at[n] for n in dict.fromkeys(ring) if n in self.entrance_at]
            entrances.append(shapely.MultiPoint(hit) if hit else None)
        if self.rows:
            df = pd.DataFrame.from_records(self.rows)
        else:
            df = pd.DataFrame({"osmid": pd.Series(dtype="int64"), "osm_type": pd.Series(dtype="object")})
        df["entrances"] = pd.Series(entrances, index=df.index, dtype=object)
        geom_arr = np.array(self.geoms, dtype=object) if self.geoms else np.empty(0, dtype=object)
        bad = ~shapely.is_valid(geom_arr) if len(geom_arr) else np.zeros(0, bool)
        if bad.any():
            # touching rings from hand-drawn multipolygons: repaired, as read_layer repairs user layers
            geom_arr[bad] = shapely.make_valid(geom_arr[bad])
        return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geom_arr, index=df.index, crs="EPSG:4326"))


def walkable_subgraph(G: nx.MultiDiGraph, rules: WalkRules | None = None) -> tuple[nx.MultiDiGraph, dict[str, int]]:
    """Drop edges pedestrians cannot use (motorways, ``foot=no``, ``access=no``...).

    The rule is :func:`toolkit.walk_rules.walk_reason`, the file reader's.
    Returns the subgraph and a count of the removed edges per reason.
    """
    removed: dict[str, int] = {}
    drop = []
    for u, v, k, d in G.edges(keys=True, data=True):
        tags = {t: (val[0] if isinstance(val, list) else val) for t, val in d.items() if isinstance(val, str | list)}
        why = walk_reason(tags, rules)
        if why is not None:
            drop.append((u, v, k))
            removed[why] = removed.get(why, 0) + 1
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
