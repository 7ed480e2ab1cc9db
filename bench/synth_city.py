"""A synthetic OSM city near Shanghai, for the ingest benchmark and the reader's tests.

Not a perfect grid: a jittered, gently warped lattice of intersections (about 140 m
blocks, in UTM 51N around 121.45 E, 31.2 N) whose streets bow between crossings, with

* OSM ways that span 2-6 blocks and carry 3-6 degree-2 shape nodes between crossings;
* a mix of highway values: primary (every 10th row and column), secondary (every 5th),
  tertiary (every 3rd), residential, a few pedestrian ``footway`` streets, ``service``
  alleys and ``steps`` as dead-end spurs into blocks, and ``footway=sidewalk`` ways
  beside the primary and secondary streets (parallel paths joined to the street at the
  two ends of each way);
* tunnels (``tunnel=yes``, ``layer=-1``) on some primary ways, with nodes of their own
  so that they pass under the cross streets without meeting them;
* ``foot=no`` on some primary ways; two motorways (``bridge=yes``, ``layer=1``, nodes of
  their own) joined to the street grid by ``motorway_link`` ways at both ends;
* ways that are not streets and must be ignored: ``building=yes`` closed ways in a
  quarter of the blocks and a meandering ``waterway=river``;
* names on every street, OSM-like ids (nodes from 100000001, ways from 200000001).

Everything is determined by ``(n_nodes_target, seed)``; ``n_nodes_target`` is the number
of nodes in the whole file (streets, buildings, river), met within a few per cent.

``write_city(path, n, seed)`` writes ``.osm`` (XML written as plain text) or ``.osm.pbf``
(the XML converted with pyosmium); with ``bbox`` it writes only the ways having a node in
the box, each whole with all its nodes (osmium extract's ``complete_ways``), which is how a
district is cut out of the city as its own small file. ``district_bbox`` picks a square
box around the city centre holding about a given number of nodes.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CRS = "EPSG:32651"
CENTER_LONLAT = (121.45, 31.2)
BLOCK_M = 140.0
NODE_ID0 = 100_000_001
WAY_ID0 = 200_000_001
#: bumped whenever the output changes, so cached files are regenerated
VERSION = 1
#: file nodes per intersection (calibrated on the generator; used to size the lattice)
_NODES_PER_INTERSECTION = 12.6

_ROAD_NAMES = ("Huaihai", "Zhaojiabang", "Hengshan", "Tianyaoqiao", "Caoxi", "Longhua", "Xietu", "Wanping",
               "Yishan", "Guilin", "Lingling", "Kaixuan", "Wuzhong", "Hongcao", "Tianlin", "Nandan")


@dataclass
class City:
    """Node coordinates (WGS84) and ways of a synthetic city."""

    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    way_refs: list[np.ndarray] = field(default_factory=list)  # positions into the node arrays
    way_tags: list[dict[str, str]] = field(default_factory=list)
    side: int = 0  # intersections per side of the lattice

    @property
    def n_nodes(self) -> int:
        return len(self.node_id)

    @property
    def n_ways(self) -> int:
        return len(self.way_refs)

    def bounds(self) -> tuple[float, float, float, float]:
        return float(self.lon.min()), float(self.lat.min()), float(self.lon.max()), float(self.lat.max())

    def select(self, bbox: tuple[float, float, float, float] | None) -> tuple[np.ndarray, list[int]]:
        """Nodes (sorted positions) and ways to write: everything, or the complete ways touching ``bbox``."""
        if bbox is None:
            return np.arange(self.n_nodes), list(range(self.n_ways))
        x0, y0, x1, y1 = bbox
        inside = (self.lon >= x0) & (self.lon <= x1) & (self.lat >= y0) & (self.lat <= y1)
        ways = [k for k, refs in enumerate(self.way_refs) if inside[refs].any()]
        used = np.zeros(self.n_nodes, dtype=bool)
        for k in ways:
            used[self.way_refs[k]] = True
        return np.flatnonzero(used), ways


def _side_for(n_nodes_target: int) -> int:
    return max(6, round(math.sqrt(n_nodes_target / _NODES_PER_INTERSECTION)))


def generate(n_nodes_target: int, seed: int = 0) -> City:
    """The city for ``(n_nodes_target, seed)`` (deterministic)."""
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    m = _side_for(n_nodes_target)
    S = BLOCK_M
    L = (m - 1) * S
    to_utm = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    e0, n0 = to_utm.transform(*CENTER_LONLAT)
    xs: list[np.ndarray] = []  # node coordinates, in id order, as chunks
    ys: list[np.ndarray] = []
    count = 0

    def add_nodes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        nonlocal count
        x, y = np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float))
        xs.append(x)
        ys.append(y)
        pos = np.arange(count, count + len(x))
        count += len(x)
        return pos

    # ---- intersections: jittered lattice, warped by two long waves so streets are not straight lines
    ii, jj = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    bx = jj * S - L / 2
    by = ii * S - L / 2
    gx = bx + 0.015 * L * np.sin(2 * np.pi * by / L * 1.3 + 0.7) + rng.uniform(-0.15, 0.15, bx.shape) * S
    gy = by + 0.012 * L * np.sin(2 * np.pi * bx / L * 1.1 + 2.1) + rng.uniform(-0.15, 0.15, by.shape) * S
    gx, gy = gx + e0, gy + n0
    inter = add_nodes(gx.ravel(), gy.ravel()).reshape(m, m)

    # ---- street segments between neighbouring intersections, each with 3-6 shape nodes on a bow
    def segments(a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
        """Node positions [a, shape..., b] of the segments a[i] -> b[i]."""
        k = rng.integers(3, 7, len(a))
        tot = int(k.sum())
        seg = np.repeat(np.arange(len(a)), k)
        first = np.cumsum(k) - k
        rank = np.arange(tot) - first[seg] + 1
        t = rank / (k[seg] + 1) + rng.uniform(-0.3, 0.3, tot) / (k[seg] + 1)
        ax, ay, bxx, byy = gx.ravel()[a], gy.ravel()[a], gx.ravel()[b], gy.ravel()[b]
        dx, dy = bxx - ax, byy - ay
        ln = np.hypot(dx, dy)
        nx_, ny_ = -dy / ln, dx / ln
        bow = rng.normal(0, 5.0, len(a))  # metres at mid-segment
        off = bow[seg] * np.sin(np.pi * t) + rng.uniform(-1.0, 1.0, tot)
        px = ax[seg] + t * dx[seg] + off * nx_[seg]
        py = ay[seg] + t * dy[seg] + off * ny_[seg]
        pos = add_nodes(px, py)
        return [np.concatenate(([a[s]], pos[first[s]:first[s] + k[s]], [b[s]])) for s in range(len(a))]

    h_idx = np.arange(m * (m - 1))
    h_row, h_col = h_idx // (m - 1), h_idx % (m - 1)
    hseg = segments(inter[h_row, h_col], inter[h_row, h_col + 1])  # row i, block j (west to east)
    v_idx = np.arange((m - 1) * m)
    v_row, v_col = v_idx // m, v_idx % m
    vseg = segments(inter[v_row, v_col], inter[v_row + 1, v_col])  # column j, block i (south to north)

    way_refs: list[np.ndarray] = []
    way_tags: list[dict[str, str]] = []

    def add_way(refs: np.ndarray, tags: dict[str, str]) -> None:
        way_refs.append(np.asarray(refs, dtype=np.int64))
        way_tags.append(tags)

    def klass(i: int) -> str:
        if i % 10 == 0:
            return "primary"
        if i % 5 == 0:
            return "secondary"
        if i % 3 == 0:
            return "tertiary"
        return "residential"

    def name(i: int, kind: str, hw: str) -> str:
        base = _ROAD_NAMES[i % len(_ROAD_NAMES)]
        suffix = "Pedestrian Street" if hw == "footway" else kind
        return f"{base} {i // len(_ROAD_NAMES) + 1} {suffix}".replace(" 1 ", " ", 1)

    def coords() -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(xs), np.concatenate(ys)

    sidewalk_jobs: list[tuple[np.ndarray, float, float, str]] = []
    tunnel_jobs: list[tuple[np.ndarray, dict[str, str]]] = []
    for axis in ("row", "col"):
        segs, per = (hseg, m - 1) if axis == "row" else (vseg, m)
        for i in range(m):
            hw = klass(i)
            if hw == "residential" and i % 13 == 6:
                hw = "footway"
            kind = "Road" if axis == "row" else "Street"
            nm = name(i, kind, hw)
            if axis == "row":
                chain = [segs[i * per + j] for j in range(m - 1)]
            else:
                chain = [segs[j * m + i] for j in range(m - 1)]
            j = 0
            while j < len(chain):
                run = int(rng.integers(2, 7))
                part = chain[j:j + run]
                refs = np.concatenate([part[0]] + [p[1:] for p in part[1:]])
                tags = {"highway": hw, "name": nm}
                r = rng.random()
                if hw == "primary" and r < 0.12 and 0 < j and j + run < len(chain):
                    tags.update(tunnel="yes", layer="-1")
                    tunnel_jobs.append((refs, tags))
                    j += run
                    continue
                if hw == "primary" and r > 0.85:
                    tags["foot"] = "no"
                elif hw in ("primary", "secondary") and r < 0.5:
                    tags["sidewalk"] = "separate"  # the sidewalk is its own way, 12 m north or east
                    sidewalk_jobs.append((refs, 0.0, 12.0, nm) if axis == "row" else (refs, 12.0, 0.0, nm))
                if hw in ("residential", "tertiary") and r < 0.08:
                    tags["maxspeed"] = "30"
                if hw == "footway" and r < 0.3:
                    tags["surface"] = "paving_stones"
                add_way(refs, tags)
                j += run

    X, Y = coords()
    # ---- tunnels: own nodes under the cross streets (only the two ends are shared)
    for refs, tags in tunnel_jobs:
        inner = add_nodes(X[refs[1:-1]] + 0.5, Y[refs[1:-1]] + 0.5)
        add_way(np.concatenate(([refs[0]], inner, [refs[-1]])), tags)
    # ---- sidewalks: a parallel footway joined to the street at both ends of its way
    for refs, ox, oy, nm in sidewalk_jobs:
        inner = add_nodes(X[refs[1:-1]] + ox, Y[refs[1:-1]] + oy)
        add_way(np.concatenate(([refs[0]], inner, [refs[-1]])), {"highway": "footway", "footway": "sidewalk",
                                                                  "name": f"{nm} sidewalk"})

    # ---- dead-end spurs into a fifth of the blocks, from a shape node of the block's south street
    blocks_i, blocks_j = np.meshgrid(np.arange(m - 1), np.arange(m - 1), indexing="ij")
    pick = rng.random(blocks_i.shape) < 0.2
    for i, j in zip(blocks_i[pick], blocks_j[pick], strict=True):
        south = hseg[i * (m - 1) + j]
        start = south[len(south) // 2]
        depth = rng.uniform(0.25, 0.45) * S
        t = np.array([0.35, 0.7, 1.0])
        px = X[start] + rng.uniform(-4, 4, 3)
        py = Y[start] + t * depth
        tip = add_nodes(px, py)
        r = rng.random()
        if r < 0.1:
            tags = {"highway": "steps", "incline": "up"}
        else:
            tags = {"highway": "service", "service": "alley" if r < 0.7 else "driveway"}
            if r > 0.9:
                tags["name"] = f"Lane {i * (m - 1) + j}"
        add_way(np.concatenate(([start], tip)), tags)

    # ---- motorways across the city, between lattice lines, with links to the grid at both ends
    for axis, at in (("row", m // 3), ("col", (2 * m) // 3)):
        steps = np.arange(0, L + 1, 50.0)
        if axis == "row":
            mx, my = steps - L / 2, np.full(len(steps), (at + 0.5) * S - L / 2)
            my = my + 0.01 * L * np.sin(2 * np.pi * steps / L)
        else:
            mx, my = np.full(len(steps), (at + 0.5) * S - L / 2), steps - L / 2
            mx = mx + 0.01 * L * np.sin(2 * np.pi * steps / L)
        mpos = add_nodes(mx + e0, my + n0)
        add_way(mpos, {"highway": "motorway", "name": f"Expressway {axis} {at}", "bridge": "yes", "layer": "1",
                       "oneway": "no"})
        for end, node in ((mpos[0], inter[at, 0] if axis == "row" else inter[0, at]),
                          (mpos[-1], inter[at, m - 1] if axis == "row" else inter[m - 1, at])):
            X, Y = coords()
            mid = add_nodes((X[end] + X[node]) / 2 + 3.0, (Y[end] + Y[node]) / 2 + 3.0)
            add_way(np.array([node, mid[0], end]), {"highway": "motorway_link"})

    # ---- buildings (closed ways) in a quarter of the blocks: not streets
    bpick = rng.random(blocks_i.shape) < 0.25
    bi, bj = blocks_i[bpick], blocks_j[bpick]
    cx = (gx[bi, bj] + gx[bi + 1, bj + 1]) / 2 + 20
    cy = (gy[bi, bj] + gy[bi + 1, bj + 1]) / 2 - 20
    w = rng.uniform(10, 30, len(bi))
    h = rng.uniform(10, 30, len(bi))
    corners_x = np.stack([cx - w, cx + w, cx + w, cx - w], axis=1)
    corners_y = np.stack([cy - h, cy - h, cy + h, cy + h], axis=1)
    bpos = add_nodes(corners_x.ravel(), corners_y.ravel()).reshape(-1, 4)
    for k in range(len(bpos)):
        tags = {"building": "yes"}
        if k % 7 == 0:
            tags["name"] = f"Building {k}"
        add_way(np.append(bpos[k], bpos[k, 0]), tags)

    # ---- a meandering river across the city: not a street (the streets cross it on implicit bridges)
    t = np.arange(0, L + 1, 30.0)
    rx = t - L / 2 + e0
    ry = n0 - 0.2 * L + 0.08 * L * np.sin(2 * np.pi * t / L * 1.5) + 0.01 * L * np.sin(2 * np.pi * t / L * 9)
    add_way(add_nodes(rx, ry), {"waterway": "river", "name": "Synthetic River"})

    X, Y = coords()
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(X, Y)
    return City(node_id=NODE_ID0 + np.arange(count, dtype=np.int64), lon=np.asarray(lon), lat=np.asarray(lat),
                way_refs=way_refs, way_tags=way_tags, side=m)


def _esc(v: str) -> str:
    return v.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def write_xml(city: City, path: str | os.PathLike, bbox: tuple[float, float, float, float] | None = None) -> dict:
    """Write the city (or the complete ways touching ``bbox``) as OSM XML; return counts."""
    nodes, ways = city.select(bbox)
    nid, lon, lat = city.node_id, city.lon, city.lat
    with open(path, "w", encoding="utf-8", buffering=1 << 22) as f:
        f.write("<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\" generator=\"bench/synth_city.py\">\n")
        lo, la = city.lon[nodes], city.lat[nodes]
        f.write(f'<bounds minlat="{la.min():.7f}" minlon="{lo.min():.7f}" maxlat="{la.max():.7f}" '
                f'maxlon="{lo.max():.7f}"/>\n')
        chunk = 100_000
        for s in range(0, len(nodes), chunk):
            sel = nodes[s:s + chunk]
            f.write("".join(f'<node id="{i}" version="1" lat="{b:.7f}" lon="{a:.7f}"/>\n'
                            for i, a, b in zip(nid[sel].tolist(), lon[sel].tolist(), lat[sel].tolist(),
                                               strict=True)))
        buf = []
        for k in ways:
            nds = "".join(f'<nd ref="{r}"/>' for r in nid[city.way_refs[k]].tolist())
            tags = "".join(f'<tag k="{a}" v="{_esc(b)}"/>' for a, b in city.way_tags[k].items())
            buf.append(f'<way id="{WAY_ID0 + k}" version="1">{nds}{tags}</way>\n')
            if len(buf) >= 10_000:
                f.write("".join(buf))
                buf = []
        f.write("".join(buf))
        f.write("</osm>\n")
    return {"nodes": len(nodes), "ways": len(ways)}


def xml_to_pbf(xml: str | os.PathLike, pbf: str | os.PathLike) -> None:
    """Convert OSM XML to PBF with pyosmium (libosmium parses and encodes; objects pass through Python)."""
    import osmium

    if os.path.exists(pbf):
        os.remove(pbf)
    with osmium.SimpleWriter(str(pbf)) as w:
        for obj in osmium.FileProcessor(str(xml)):
            w.add(obj)


def write_city(path: str | os.PathLike, n_nodes_target: int, seed: int = 0,
               bbox: tuple[float, float, float, float] | None = None, city: City | None = None) -> dict:
    """Write the synthetic city as ``.osm`` or ``.osm.pbf`` (by the suffix of ``path``); return counts.

    ``bbox`` (lon/lat) writes only the ways with a node inside it, each complete; ``city``
    reuses an already generated :func:`generate` result for the same ``(n_nodes_target, seed)``.
    """
    city = city if city is not None else generate(n_nodes_target, seed)
    p = Path(path)
    if p.name.endswith(".osm.pbf") or p.suffix == ".pbf":
        with tempfile.TemporaryDirectory(prefix="synth_city_", dir=p.parent) as tmp:
            xml = Path(tmp) / "city.osm"
            out = write_xml(city, xml, bbox)
            xml_to_pbf(xml, p)
        return out
    return write_xml(city, p, bbox)


def write_district(path: str | os.PathLike, n_nodes_target: int, seed: int, bbox: tuple[float, float, float, float],
                   city: City | None = None) -> dict:
    """The district ``bbox`` of the city as its own small file (complete ways touching the box)."""
    return write_city(path, n_nodes_target, seed, bbox=bbox, city=city)


def district_bbox(city: City, n_nodes: int = 50_000) -> tuple[float, float, float, float]:
    """A square lon/lat box around the city centre holding about ``n_nodes`` of its nodes."""
    lon0, lat0, lon1, lat1 = city.bounds()
    cx, cy = (lon0 + lon1) / 2, (lat0 + lat1) / 2
    frac = min(1.0, n_nodes / city.n_nodes)
    half_lat = (lat1 - lat0) / 2 * math.sqrt(frac)
    for _ in range(30):  # a few secant steps on the count of nodes inside
        half_lon = half_lat / math.cos(math.radians(cy))
        inside = int(((np.abs(city.lon - cx) <= half_lon) & (np.abs(city.lat - cy) <= half_lat)).sum())
        if inside == 0 or abs(inside - n_nodes) < 0.01 * n_nodes:
            break
        half_lat *= math.sqrt(n_nodes / inside)
    half_lon = half_lat / math.cos(math.radians(cy))
    return (round(cx - half_lon, 7), round(cy - half_lat, 7), round(cx + half_lon, 7), round(cy + half_lat, 7))


def cache_dir() -> Path:
    """Where generated cities are kept between runs (``TOOLKIT_BENCH_CACHE`` or the temp dir)."""
    d = Path(os.environ.get("TOOLKIT_BENCH_CACHE") or Path(tempfile.gettempdir()) / "toolkit_bench_cache")
    d.mkdir(parents=True, exist_ok=True)
    return d


def cached_city(n_nodes_target: int, seed: int = 0, district_nodes: int | None = None,
                log=print) -> dict:
    """Generate (once) and cache the city as .osm and .osm.pbf, and optionally a district cut from it.

    Returns paths and counts: ``{"osm", "pbf", "nodes", "ways", "bounds", "district": {...}}``. Files are
    written under a temporary name and renamed, so concurrent runs never see half a file.
    """
    d = cache_dir()
    stem = f"synth_v{VERSION}_n{n_nodes_target}_s{seed}"
    meta_path = d / f"{stem}.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    osm, pbf = d / f"{stem}.osm", d / f"{stem}.osm.pbf"
    want_d = district_nodes is not None and (meta.get("district") or {}).get("target") != district_nodes
    if meta and osm.exists() and pbf.exists() and not want_d:
        return meta
    import time

    t = time.perf_counter()
    city = generate(n_nodes_target, seed)
    log(f"  generated the synthetic city ({city.n_nodes:,} nodes, {city.n_ways:,} ways) in "
        f"{time.perf_counter() - t:.1f} s; writing to {d}")
    meta = {"osm": str(osm), "pbf": str(pbf), "nodes": city.n_nodes, "ways": city.n_ways, "side": city.side,
            "bounds": city.bounds(), "target": n_nodes_target, "seed": seed}
    for path in (osm, pbf):
        if not path.exists():
            t = time.perf_counter()
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{''.join(path.suffixes)}")
            write_city(tmp, n_nodes_target, seed, city=city)
            os.replace(tmp, path)
            log(f"  wrote {path.name} ({path.stat().st_size / 2**20:,.0f} MB) in {time.perf_counter() - t:.1f} s")
    if district_nodes is not None:
        bbox = district_bbox(city, district_nodes)
        dd = {"target": district_nodes, "bbox": bbox}
        for fmt in ("osm", "pbf"):
            path = d / f"{stem}_district{district_nodes}.{'osm' if fmt == 'osm' else 'osm.pbf'}"
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{''.join(path.suffixes)}")
            counts = write_district(tmp, n_nodes_target, seed, bbox, city=city)
            os.replace(tmp, path)
            dd[fmt] = str(path)
            dd.update(file_nodes=counts["nodes"], file_ways=counts["ways"])
        x0, y0, x1, y1 = bbox
        dd["nodes_in_bbox"] = int(((city.lon >= x0) & (city.lon <= x1) & (city.lat >= y0) & (city.lat <= y1)).sum())
        meta["district"] = dd
    tmp = meta_path.with_name(f".{meta_path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, meta_path)
    return meta
