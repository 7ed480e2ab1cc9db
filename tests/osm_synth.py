"""Small OSM files written by hand, shaped like what users bring (not like the bundled sample).

Coordinates are metres in EPSG:32651 (UTM 51N, central Shanghai) turned into
WGS84, so a test can state its expected distances in metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import osmium
import pyproj

X0, Y0 = 350_000.0, 3_450_000.0
_TO_WGS = pyproj.Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)


@dataclass
class OsmWriter:
    """Collects nodes and ways (positions in local metres) and writes OSM XML or PBF."""

    nodes: dict[int, tuple[float, float, dict[str, str]]] = field(default_factory=dict)
    ways: list[tuple[int, list[int], dict[str, str]]] = field(default_factory=list)
    _next_node: int = 1
    _next_way: int = 1

    def node(self, x: float, y: float, **tags: str) -> int:
        """A node at (x, y) metres from the origin; returns its id."""
        nid = self._next_node
        self._next_node += 1
        self.nodes[nid] = (x, y, tags)
        return nid

    def way(self, refs: list[int], **tags: str) -> int:
        """A way over existing (or, for clipped extracts, missing) node ids."""
        wid = self._next_way
        self._next_way += 1
        self.ways.append((wid, list(refs), tags))
        return wid

    def line(self, pts: list[tuple[float, float]], **tags: str) -> tuple[int, list[int]]:
        """A way through new nodes at ``pts``; returns the way id and its node ids."""
        refs = [self.node(x, y) for x, y in pts]
        return self.way(refs, **tags), refs

    def write_xml(self, path: Path, drop_nodes: set[int] | None = None) -> Path:
        """OSM XML; ``drop_nodes`` are left out while ways keep referring to them (a clipped extract)."""
        drop = drop_nodes or set()
        out = ["<?xml version='1.0' encoding='UTF-8'?>", "<osm version='0.6' generator='toolkit-tests'>"]
        for nid, (x, y, tags) in self.nodes.items():
            if nid in drop:
                continue
            lon, lat = _TO_WGS.transform(X0 + x, Y0 + y)
            body = "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
            out.append(f"<node id='{nid}' version='1' lat='{lat:.9f}' lon='{lon:.9f}'>{body}</node>")
        for wid, refs, tags in self.ways:
            nds = "".join(f"<nd ref='{r}'/>" for r in refs)
            body = "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
            out.append(f"<way id='{wid}' version='1'>{nds}{body}</way>")
        out.append("</osm>")
        path.write_text("\n".join(out), encoding="utf-8")
        return path

    def write_pbf(self, path: Path, drop_nodes: set[int] | None = None) -> Path:
        """The same data as ``.osm.pbf`` (through the XML, converted by libosmium)."""
        xml = self.write_xml(path.with_name(path.name + ".tmp.osm"), drop_nodes)
        to_pbf(xml, path)
        xml.unlink()
        return path


def to_pbf(src: Path, dst: Path) -> Path:
    """Copy an OSM file (any format libosmium reads) to ``.osm.pbf``, nodes, ways and relations."""
    with osmium.SimpleWriter(str(dst)) as w:
        for o in osmium.FileProcessor(str(src)):
            if o.is_node():
                w.add_node(o)
            elif o.is_way():
                w.add_way(o)
            elif o.is_relation():
                w.add_relation(o)
    return dst
