"""Overlay timing: heritage, walkability and waterfront against the cost of building the network.

Target under test: *the three overlays together should cost less than building the
walking network*. The script prints figures only (no assertions) for two cases:

(a) **Default study** (Xuhui, shared Shanghai data): ``run_study(load_study("xuhui"))``
    is run twice (cold, then warm) and its step timings are reported. ``network`` is
    OSM XML parse + osmnx simplify/project + WalkNetwork; ``heritage``, ``walkability``
    and ``waterfront`` are the overlay steps (``walkability`` there covers blocks *and*
    street segments; ``heritage`` includes reading and merging the heritage layers;
    ``waterfront`` reuses the river polygons of the ``water`` step). ``water`` (river
    polygons and the land area, needed before blocks are drawn) is shown apart.

(b) **Synthetic city** of ``--n``\\ :sup:`2` nodes (default 1000 x 1000 = 1,000,000 nodes,
    100 m grid, 10 m jitter, EPSG:32651), about 2M street edges and 1M blocks.

    * *network build from OSM* (the denominator of the target, ``--osm-build``, on by
      default): the city written as OSM XML (one way per grid row and column, the same
      nodes and tags) and built by the toolkit's own network step, in a fresh process:
      ``read_osm_graph`` + ``network_from_osmnx`` (walkable filter, study area,
      simplify, project, one edge per way segment) + ``.csr`` + ``.edge_tree``. That is
      what ``run_study`` times as ``network`` in (a), so the two cases share one definition.
    * *arrays-only build* (shown beside it) = ``grid_network`` + ``.edge_geometry`` +
      ``.csr`` + ``.edge_tree`` from coordinate arrays: a lower bound no study goes
      through. The edge attribute table (``highway``: every 10th row/column ``trunk``,
      else ``residential``; ``name``: ``Row i Road`` / ``Col j Street``) and the connected
      components are timed but *not* counted. The overlays below run on this network.
    * *blocks* are built directly as the grid cells (not by polygonising the network):
      by default quadrilaterals on the four jittered nodes of each cell
      (``shapely.polygons``), so their outlines share vertices with the streets as
      blocks polygonised from the network would and ``block_faces`` finds real faces;
      ``--blocks boxes`` uses ``shapely.box`` on the unjittered lattice instead (then
      the corners miss the jittered street nodes and every block face is NaN).
      ``population`` is random.
    * *prerequisites* (not overlays; in ``run_study`` they are the ``snapping`` and
      ``coverage`` steps): snapping the blocks (500 m limit) and the network distance
      to the nearest of ``--transit`` random transit stops.
    * *heritage* = ``block_heritage`` (``--zones`` random star-shaped zones of 20-80 ha,
      half ``style_area`` half ``compound``; ``--buildings`` listed-building points, half
      inside zones) + ``protected_roads`` on a copy of the streets + ``heritage_summary``.
      Loading/merging the source layers is not included (there are no files).
    * *walkability*, as ``run_study``'s step: ``walk_sources`` (``--landuse`` random
      land-use points and ``--amenities`` random amenities, snapped and searched once),
      then the blocks (representative points + ``block_faces`` + ``walkability``) and,
      unless ``--no-streets``, the street segments (midpoints of all edges, transit
      distance of their ends, ``walkability``, ``hostile_edges``).
    * *waterfront* = ``analyse_waterfront`` on the bounding box of the city with a
      sinuous 400 m wide river written to a temporary GeoJSON (EPSG:4326),
      ``threshold_m=1080``, ``block_max_snap_m=500``, reusing the block snap (as
      ``run_study`` does).

    Inside ``walkability`` and ``analyse_waterfront`` the callees are timed by
    wrapping module attributes for the duration of the call (no file is changed);
    nested calls are included in their callers' times, so the breakdown lines do not
    add up to the total.

Every line shows the step time, the current RSS and the peak RSS of the process
(``resource.getrusage``). The machine may be shared with other processes: times are
wall-clock and can be inflated by them; the load average is printed at the start.

Run::

    . .venv/bin/activate
    python bench/overlays.py                  # both cases, 1M-node city (~15 minutes, ~12 GB peak in the OSM build)
    python bench/overlays.py --skip-default --n 320     # quick synthetic run (~100k nodes)
    python bench/overlays.py --no-osm-build             # without the (slow) OSM build of the synthetic city
    python bench/overlays.py --skip-synthetic           # default study only
"""

from __future__ import annotations

import os as _os
import sys as _sys

# Running ``python bench/<script>.py`` puts bench/ first on sys.path, where this
# directory's ``coverage.py`` would shadow the coverage package that numba (used by
# the toolkit) imports; the scripts do not import each other, so drop the directory.
_sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or ".") != _os.path.dirname(_os.path.abspath(__file__))]

import argparse
import contextlib
import functools
import gc
import os
import resource
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

CRS = "EPSG:32651"
OVERLAYS = ("heritage", "walkability", "waterfront")


# ---------------------------------------------------------------- measuring
def rss_mb() -> tuple[float, float]:
    """Current and peak resident set size of this process, MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    try:
        with open("/proc/self/statm") as f:
            cur = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        cur = float("nan")
    return cur, peak


@dataclass
class Log:
    """Timed steps (wall-clock and process CPU seconds), printed as they finish."""

    times: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def step(self, key: str, label: str | None = None, indent: int = 1) -> Iterator[None]:
        gc.collect()
        t, c = time.perf_counter(), time.process_time()
        yield
        dt, dc = time.perf_counter() - t, time.process_time() - c
        self.times[key] = self.times.get(key, 0.0) + dt
        self.cpu[key] = self.cpu.get(key, 0.0) + dc
        line(label or key, dt, indent, cpu=dc)

    def total(self, prefix: str) -> tuple[float, float]:
        """Wall and CPU seconds of the steps whose key starts with ``prefix``."""
        return (sum(v for k, v in self.times.items() if k.startswith(prefix)),
                sum(v for k, v in self.cpu.items() if k.startswith(prefix)))


def line(label: str, seconds: float | None, indent: int = 1, note: str = "", cpu: float | None = None) -> None:
    cur, peak = rss_mb()
    s = "" if seconds is None else f"{seconds:9.2f} s"
    c = "" if cpu is None else f"cpu {cpu:8.2f} s"
    print(f"{'  ' * indent}{label:<58}{s:>11}  {c:<14}  rss {cur:7,.0f} MB  peak {peak:7,.0f} MB{note}",
          flush=True)


@contextlib.contextmanager
def spy(targets: list[tuple[Any, str]], sink: dict[str, list[float]]) -> Iterator[None]:
    """Time calls to ``obj.name`` for each target while the block runs (attributes restored after)."""
    saved = []
    for obj, name in targets:
        orig = getattr(obj, name)
        key = name

        def wrap(f: Callable, key: str = key) -> Callable:
            @functools.wraps(f)
            def timed(*a: Any, **k: Any) -> Any:
                t = time.perf_counter()
                try:
                    return f(*a, **k)
                finally:
                    rec = sink.setdefault(key, [0.0, 0])
                    rec[0] += time.perf_counter() - t
                    rec[1] += 1
            return timed

        saved.append((obj, name, orig))
        setattr(obj, name, wrap(orig))
    try:
        yield
    finally:
        for obj, name, orig in reversed(saved):
            setattr(obj, name, orig)


def show_breakdown(sink: dict[str, list[float]], nested: dict[str, str], indent: int = 3) -> None:
    for key, (secs, calls) in sorted(sink.items(), key=lambda kv: -kv[1][0]):
        where = f" (in {nested[key]})" if key in nested else ""
        print(f"{'  ' * indent}{key + where:<{58 - 2 * (indent - 1)}}{secs:9.2f} s   x{calls}", flush=True)


# ------------------------------------------------------------ default study
def default_study(runs: int) -> list[dict[str, dict[str, float]]]:
    import toolkit as tk
    import toolkit.study as tstudy

    orig = tstudy._timed
    out = []
    for i in range(runs):
        cpu: dict[str, float] = {}

        @contextlib.contextmanager
        def timed(timings: dict, step: str, progress: Any, cpu: dict[str, float] = cpu) -> Iterator[None]:
            c = time.process_time()
            with orig(timings, step, progress):
                yield
            cpu[step] = time.process_time() - c

        gc.collect()
        t = time.perf_counter()
        tstudy._timed = timed  # per-step CPU seconds besides run_study's own wall-clock timings
        try:
            r = tk.run_study(tk.load_study("xuhui"))
        finally:
            tstudy._timed = orig
        total = time.perf_counter() - t
        tm = dict(r.timings)
        d = r.details
        kind = "cold" if i == 0 else "warm"
        print(f"  run {i + 1} ({kind}): {d['network']['nodes']:,} nodes, {d['network']['edges']:,} edges, "
              f"{len(r.blocks):,} blocks; run_study {total:.2f} s", flush=True)
        for k, v in tm.items():
            mark = "  <- overlay" if k in OVERLAYS else ("  <- denominator" if k == "network" else "")
            line(k, v, 2, mark, cpu=cpu.get(k))
        out.append({"wall": tm, "cpu": cpu})
        del r
    return out


# ---------------------------------------------------------- synthetic city
def synthetic(args: argparse.Namespace) -> dict[str, Any]:
    import toolkit.walkability as twalk
    import toolkit.waterfront as twater
    from toolkit.config import Source
    from toolkit.coverage import node_distances, point_distances
    from toolkit.heritage import (
        BUILDING_COLUMNS,
        ZONE_COLUMNS,
        ZONE_KINDS,
        HeritageLayers,
        block_heritage,
        heritage_summary,
        protected_roads,
        zone_overlaps,
    )
    from toolkit.network import WalkNetwork, grid_network
    from toolkit.snapping import snap_points
    from toolkit.walkability import WalkabilitySettings, block_faces, hostile_edges, walk_sources, walkability
    from toolkit.waterfront import RiverSource, WaterfrontConfig, analyse_waterfront

    n, spacing, jitter = args.n, 100.0, 10.0
    rng = np.random.default_rng(args.seed)
    log = Log()
    res: dict[str, Any] = {"log": log, "notes": []}

    # ------------------------------------------------------------- network
    print(f"  network ({n} x {n} grid, {spacing:g} m, jitter {jitter:g} m)", flush=True)
    with log.step("net.grid_network", "grid_network", 2):
        g = grid_network(n, spacing=spacing, crs=CRS, jitter=jitter, seed=1)
    with log.step("setup.edge_attrs", "edge attributes (highway, name) + WalkNetwork  [not counted]", 2):
        n_h = n * (n - 1)  # horizontal edges first (row i), then vertical ones (column j)
        k = np.arange(g.n_edges)
        horiz = k < n_h
        row = np.where(horiz, k // (n - 1), -1)
        col = np.where(horiz, -1, (k - n_h) % n)
        trunk = np.where(horiz, row % 10 == 0, col % 10 == 0)
        highway = np.where(trunk, "trunk", "residential").astype(object)
        row_names = np.array([f"Row {i} Road" for i in range(n)], dtype=object)
        col_names = np.array([f"Col {j} Street" for j in range(n)], dtype=object)
        name = np.where(horiz, row_names[np.maximum(row, 0)], col_names[np.maximum(col, 0)])
        net = WalkNetwork(x=g.x, y=g.y, u=g.u, v=g.v, length=g.length, crs=g.crs,
                          edge_attrs=pd.DataFrame({"highway": highway, "name": name}))
        del g, k, horiz, row, col, trunk, highway, name
    with log.step("net.edge_geometry", ".edge_geometry", 2):
        _ = net.edge_geometry
    with log.step("net.csr", ".csr", 2):
        _ = net.csr
    with log.step("net.edge_tree", ".edge_tree", 2):
        _ = net.edge_tree
    with log.step("setup.component", ".component (connected parts)  [not counted]", 2):
        _ = net.component
    nb_wall, nb_cpu = log.total("net.")
    line(f"NETWORK BUILD: {net.n_nodes:,} nodes, {net.n_edges:,} edges", nb_wall, 2, cpu=nb_cpu)
    with log.step("setup.streets", "net.streets() GeoDataFrame  [not counted]", 2):
        streets = net.streets()
    xmin, xmax, ymin, ymax = net.x.min(), net.x.max(), net.y.min(), net.y.max()
    area = shapely.box(xmin, ymin, xmax, ymax)

    # -------------------------------------------------------------- blocks
    print(f"  blocks (grid cells built directly, not polygonised from the network; --blocks {args.blocks})",
          flush=True)
    with log.step("setup.blocks", f"{(n - 1) ** 2:,} cell polygons + GeoDataFrame  [not counted]", 2):
        idx = np.arange(n * n).reshape(n, n)
        a, b = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
        c, d = idx[1:, 1:].ravel(), idx[1:, :-1].ravel()
        if args.blocks == "quads":
            ring = np.stack([a, b, c, d, a], axis=1)
            geoms = shapely.polygons(np.stack([net.x[ring], net.y[ring]], axis=-1))
        else:
            jj, ii = a % n, a // n
            x0, y0 = 350_000.0 + jj * spacing, 3_450_000.0 + ii * spacing  # grid_network's default origin
            geoms = shapely.box(x0, y0, x0 + spacing, y0 + spacing)
        blocks = gpd.GeoDataFrame({"block_id": np.arange(len(geoms)),
                                   "population": np.round(rng.lognormal(5.0, 1.0, len(geoms)))},
                                  geometry=geoms, crs=CRS)
        del idx, a, b, c, d, geoms
    nb = len(blocks)

    def random_points(count: int, box: tuple[float, float, float, float] = (xmin, ymin, xmax, ymax),
                      ) -> np.ndarray:
        return shapely.points(rng.uniform(box[0], box[2], count), rng.uniform(box[1], box[3], count))

    landuse_types = np.array(["residential", "commercial", "park", "pitch", "school", "industrial"])
    landuse = gpd.GeoDataFrame({"landuse_type": rng.choice(landuse_types, args.landuse)},
                               geometry=random_points(args.landuse), crs=CRS)
    amenities = gpd.GeoDataFrame({"category": rng.choice(["school", "clinic", "market", "culture"],
                                                         args.amenities)},
                                 geometry=random_points(args.amenities), crs=CRS)
    transit = gpd.GeoSeries(random_points(args.transit), crs=CRS)

    # ------------------------------------------------------- prerequisites
    print("  prerequisites (run_study's snapping / coverage steps; not overlays)", flush=True)
    with log.step("pre.snap_blocks", f"snap_points(blocks, 500)  [{nb:,} blocks]", 2):
        bsnap = snap_points(net, blocks.geometry, 500.0)
    with log.step("pre.transit", f"transit distances ({args.transit:,} stops: snap + point_distances)", 2):
        tsnap = snap_points(net, transit, 250.0)
        transit_m = point_distances(net, bsnap, tsnap)

    # ------------------------------------------------------------ heritage
    print(f"  heritage overlay ({args.zones} zones of 20-80 ha, {args.buildings:,} listed buildings)", flush=True)
    with log.step("setup.heritage", "synthetic heritage layers  [not counted]", 2):
        nz = args.zones
        ha = rng.uniform(20, 80, nz)
        cx, cy = rng.uniform(xmin + 1000, xmax - 1000, nz), rng.uniform(ymin + 1000, ymax - 1000, nz)
        theta = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        wobble = 1 + 0.25 * np.sin(rng.integers(3, 7, nz)[:, None] * theta + rng.uniform(0, 6.3, nz)[:, None])
        wobble *= rng.uniform(0.9, 1.1, (nz, len(theta)))
        unit_area = 0.5 * np.sum(wobble**2 * np.sin(2 * np.pi / len(theta)), axis=1)
        r = wobble * np.sqrt(ha * 1e4 / unit_area)[:, None]
        ring = np.stack([cx[:, None] + r * np.cos(theta), cy[:, None] + r * np.sin(theta)], axis=-1)
        zgeoms = shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1))
        kinds = np.where(np.arange(nz) % 2 == 0, ZONE_KINDS[0], ZONE_KINDS[1])
        zones = gpd.GeoDataFrame({"kind": kinds, "name": [f"Zone {i}" for i in range(nz)], "source": "synthetic"},
                                 geometry=zgeoms, crs=CRS)
        prefix = {"style_area": "SA", "compound": "PC"}
        zones["zone_id"] = [f"{prefix[k]}{i:03d}" for i, k in enumerate(kinds)]
        zones["area_ha"] = np.round(shapely.area(zgeoms) / 1e4, 3)
        zones = zones[ZONE_COLUMNS].set_index("zone_id", drop=False).rename_axis(None)
        nbld = args.buildings
        inside = nbld // 2
        pick = rng.integers(0, nz, inside)
        ang, rad = rng.uniform(0, 2 * np.pi, inside), np.sqrt(rng.uniform(0, 1, inside)) * r.min(axis=1)[pick] * 0.7
        bx = np.concatenate([cx[pick] + rad * np.cos(ang), rng.uniform(xmin, xmax, nbld - inside)])
        by = np.concatenate([cy[pick] + rad * np.sin(ang), rng.uniform(ymin, ymax, nbld - inside)])
        buildings = gpd.GeoDataFrame({"building_id": np.arange(1, nbld + 1),
                                      "name": [f"Building {i}" for i in range(nbld)],
                                      "sources": "synthetic", "n_sources": 1},
                                     geometry=shapely.points(bx, by), crs=CRS)
        buildings = buildings[BUILDING_COLUMNS].set_index("building_id", drop=False).rename_axis(None)
        report = {"zones": {k: {"count": int((kinds == k).sum())} for k in ZONE_KINDS},
                  "zones_union_ha": None, "overlaps": zone_overlaps(zones),
                  "buildings": {"final": nbld}, "notes": []}
        layers = HeritageLayers(zones=zones, buildings=buildings, report=report, crs=zones.crs)
        roads = [f"Row {n // 2} Road", f"Col {n // 4} Street"]
    with log.step("heritage.block_heritage", f"block_heritage(blocks, layers, 50)  [{nb:,} blocks]", 2):
        bh = block_heritage(blocks, layers, 50.0)
    with log.step("heritage.protected_roads", f"streets.copy() + protected_roads({roads})", 2):
        st = streets.copy()
        st["protected_road"], unmatched = protected_roads(st, roads)
        del st
    with log.step("heritage.summary", "blocks.join + heritage_summary", 2):
        hs = heritage_summary(blocks.join(bh), layers)
    print(f"      -> classes {hs['blocks']}, protected edges matched, unmatched names {unmatched}", flush=True)
    del bh

    # ---------------------------------------------------------- waterfront
    print("  waterfront overlay (sinuous river, 400 m wide, across the city)", flush=True)
    tmpdir = tempfile.TemporaryDirectory(prefix="bench_overlays_")
    with log.step("setup.river", "river centreline -> EPSG:4326 GeoJSON  [not counted]", 2):
        # two broad meanders (amplitude 10% of the side) plus 25 small bends (0.5%); about one
        # vertex per 10 m of city width, so the vertex density does not thin out as the city grows
        t = np.linspace(0, 1, max(1000, int((xmax - xmin) / 10)) + 1)
        rx = xmin - 2000 + t * (xmax - xmin + 4000)
        ry = (ymin + ymax) / 2 + 0.1 * (ymax - ymin) * np.sin(2 * np.pi * 2 * t) \
            + 0.005 * (ymax - ymin) * np.sin(2 * np.pi * 25 * t)
        river_path = os.path.join(tmpdir.name, "river.geojson")
        gpd.GeoDataFrame({"name": ["Synthetic river"]}, geometry=[shapely.linestrings(rx, ry)],
                         crs=CRS).to_crs("EPSG:4326").to_file(river_path, driver="GeoJSON")
        wcfg = WaterfrontConfig(rivers=[RiverSource(source=Source(path=river_path), width_m=400)])
    wsink: dict[str, list[float]] = {}
    wtargets = [(twater, name) for name in ("water_polygons", "shoreline", "land_area", "waterfront_access",
                                            "corridor_band", "_crossings", "_access_points", "block_waterfront",
                                            "snap_points", "point_distances")]
    wtargets.append((WalkNetwork, "streets"))
    wnested = {"corridor_band": "waterfront_access", "_crossings": "waterfront_access",
               "_access_points": "waterfront_access", "snap_points": "block_waterfront",
               "point_distances": "block_waterfront"}
    with spy(wtargets, wsink), log.step("waterfront.analyse", "analyse_waterfront(..., threshold_m=1080)", 2):
        wr = analyse_waterfront(wcfg, area, net, blocks, 1080.0, block_max_snap_m=500.0, block_snap=bsnap)
    show_breakdown(wsink, wnested)
    s = wr.summary
    print(f"      -> bank {s.get('bank_length_m', 0) / 1000:,.1f} km, access share {s.get('share_with_access')}, "
          f"{s.get('n_access_points')} access points, blocks within 1080 m: "
          f"{int(wr.blocks['within_waterfront'].sum()) if wr.blocks is not None else 'n/a'}", flush=True)
    del wr
    tmpdir.cleanup()

    # --------------------------------------------------------- walkability
    settings = WalkabilitySettings.from_config()
    speeds = {"adult": 1.2, "elderly": 0.8}
    print(f"  walkability overlay ({args.landuse:,} land-use points, {args.amenities:,} amenities; "
          f"radius {settings.radius_m:g} m, {settings.walk_minutes:g} min walk)", flush=True)
    ktargets = [(twalk, name) for name in ("neighbourhood_components", "sums_within", "hostile_edges",
                                           "reach_sums", "entropy", "mix_entropy", "decayed_count", "score",
                                           "composite")]
    knested = {"sums_within": "neighbourhood_components", "hostile_edges": "neighbourhood_components",
               "entropy": "mix_entropy or walkability"}
    starget = [(twalk, name) for name in ("snap_points", "source_node_distances", "landuse_classes")]

    ssink: dict[str, list[float]] = {}
    with spy(starget, ssink), log.step("walk.sources", "walk_sources: snap land use + amenities, search the walk "
                                       "(shared by blocks and segments)", 2):
        sources = walk_sources(net, settings, speeds, landuse=landuse, landuse_field="landuse_type",
                               amenities=amenities)
    show_breakdown(ssink, {})
    with log.step("walk.points", "representative points (point_on_surface)", 2):
        pts = gpd.GeoSeries(shapely.point_on_surface(np.asarray(blocks.geometry.values)), index=blocks.index,
                            crs=CRS)
    with log.step("walk.block_faces", "block_faces(blocks, net)", 2):
        faces = block_faces(blocks, net)
    sink: dict[str, list[float]] = {}
    with spy(ktargets, sink), log.step("walk.walkability", f"walkability(...)  [{nb:,} blocks]", 2):
        wb = walkability(net, pts, bsnap, settings, speeds, transit_m=transit_m, faces=faces, sources=sources)
    show_breakdown(sink, knested)
    res["walk_measured"] = log.total("walk.")
    line("walkability overlay (blocks, incl. walk_sources) total", res["walk_measured"][0], 2,
         cpu=res["walk_measured"][1])
    face = wb["walk_block_face_max_m"]
    print(f"      -> walk_index mean {wb['walk_index'].mean():.3f}, block face max median "
          f"{face.median():.1f} m ({int(face.isna().sum()):,} NaN), hostile share mean "
          f"{wb['walk_hostile_share'].mean():.3f}, mix entropy mean {wb['walk_mix_entropy'].mean():.3f}",
          flush=True)
    del wb, faces, pts

    res["walk_streets"] = None
    if args.streets:
        print(f"  walkability on street segments ({net.n_edges:,} edge midpoints, as run_study does)", flush=True)
        with log.step("wst.midpoints", "midpoints as points (net.edge_midpoints itself is cached)", 2):
            mids = gpd.GeoSeries(shapely.points(net.edge_midpoints), index=streets.index, crs=CRS)
        with log.step("wst.transit", "transit distances of the segments (nearer end node)", 2):
            nd = node_distances(net, tsnap)
            st_transit = np.minimum(nd[net.u], nd[net.v])
        sink = {}
        with spy(ktargets, sink), log.step("wst.walkability", f"walkability(...)  [{len(mids):,} segments]", 2):
            sfaces = pd.DataFrame({"walk_block_face_max_m": streets["length_m"].to_numpy()}, index=streets.index)
            ws = walkability(net, mids, None, settings, speeds, transit_m=st_transit, faces=sfaces,
                             edge_ends=(net.u, net.v), sources=sources)
        show_breakdown(sink, knested)
        with log.step("wst.hostile", "hostile_edges", 2):
            _ = hostile_edges(net)
        res["walk_streets"] = log.total("wst.")
        line("street-segment walkability total", res["walk_streets"][0], 2, cpu=res["walk_streets"][1])
        del ws, mids

    res["network_build"] = log.total("net.")
    res["heritage"] = log.total("heritage.")
    res["waterfront"] = log.total("waterfront.")
    res["sizes"] = {"nodes": net.n_nodes, "edges": net.n_edges, "blocks": nb}
    return res


# ------------------------------------------------- network from OSM XML (child)
def write_grid_osm(n: int, path: str, spacing: float = 100.0, jitter: float = 10.0) -> None:
    """The synthetic city's streets as an OSM XML file: one way per grid row and column, WGS84 nodes.

    Same nodes (``grid_network(n, spacing, jitter=jitter, seed=1)``) and tags as the
    arrays-built network: every 10th row/column ``highway=trunk``, else
    ``residential``; names ``Row i Road`` / ``Col j Street``.
    """
    from pyproj import Transformer

    from toolkit.network import grid_network

    g = grid_network(n, spacing=spacing, crs=CRS, jitter=jitter, seed=1)
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(g.x, g.y)
    idx = np.arange(n * n).reshape(n, n)
    with open(path, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="bench/overlays.py">\n')
        f.writelines(f'<node id="{i + 1}" lat="{la:.8f}" lon="{lo:.8f}"/>\n'
                     for i, (la, lo) in enumerate(zip(lat, lon, strict=True)))
        way = 1
        for axis, label in ((0, "Row {} Road"), (1, "Col {} Street")):
            for i in range(n):
                ids = idx[i] if axis == 0 else idx[:, i]
                hw = "trunk" if i % 10 == 0 else "residential"
                nds = "".join(f'<nd ref="{k + 1}"/>' for k in ids)
                f.write(f'<way id="{way}">{nds}<tag k="highway" v="{hw}"/>'
                        f'<tag k="name" v="{label.format(i)}"/></way>\n')
                way += 1
        f.write("</osm>\n")


def osm_child(n: int) -> None:
    """Time the toolkit's own network step on the synthetic city written as OSM XML; print one JSON line.

    This is what ``run_study`` times as ``network`` (``load_network``: ``read_osm_graph`` +
    ``network_from_osmnx`` with the study area), plus ``.csr`` and ``.edge_tree``, which
    the arrays-only build counts too. Run in a fresh process so its memory peak is its own.
    """
    import json

    from toolkit.network import network_from_osmnx
    from toolkit.osm import read_osm_graph

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench_osm_") as tmp:
        path = os.path.join(tmp, "city.osm")
        t = time.perf_counter()
        write_grid_osm(n, path)
        out["write_s"] = time.perf_counter() - t
        out["xml_mb"] = os.path.getsize(path) / 2**20
        c0 = time.process_time()
        t = time.perf_counter()
        G = read_osm_graph(path)
        out["read_s"] = time.perf_counter() - t
    # the study area, as load_network passes it: the city's extent (plus a margin) in WGS84
    xs = np.array([d["x"] for _, d in G.nodes(data=True)])
    ys = np.array([d["y"] for _, d in G.nodes(data=True)])
    area = shapely.box(xs.min() - 0.01, ys.min() - 0.01, xs.max() + 0.01, ys.max() + 0.01)
    t = time.perf_counter()
    net = network_from_osmnx(G, CRS, area=area)
    out["build_s"] = time.perf_counter() - t
    del G
    t = time.perf_counter()
    _ = net.csr, net.edge_tree
    out["csr_tree_s"] = time.perf_counter() - t
    out["cpu_s"] = time.process_time() - c0
    out["total_s"] = out["read_s"] + out["build_s"] + out["csr_tree_s"]
    out["nodes"], out["edges"] = net.n_nodes, net.n_edges
    out["peak_mb"] = rss_mb()[1]
    print("OSMJSON " + json.dumps(out), flush=True)


def osm_network_build(n: int) -> dict[str, Any] | None:
    """Run :func:`osm_child` in a fresh interpreter and return its figures (None if it failed)."""
    import json
    import subprocess
    import sys

    print(f"  network from OSM XML, as run_study builds it ({n} x {n} grid written as OSM; fresh process)",
          flush=True)
    r = subprocess.run([sys.executable, __file__, "--osm-child", str(n)], capture_output=True, text=True)
    got = [ln for ln in r.stdout.splitlines() if ln.startswith("OSMJSON ")]
    if r.returncode != 0 or not got:
        print(f"    FAILED (exit {r.returncode}): {r.stderr.strip()[-500:]}", flush=True)
        return None
    o = json.loads(got[-1][len("OSMJSON "):])
    print(f"    write the XML ({o['xml_mb']:,.0f} MB)  [not counted]{o['write_s']:>24.2f} s", flush=True)
    print(f"    read_osm_graph (osmnx graph_from_xml){o['read_s']:>32.2f} s", flush=True)
    print(f"    network_from_osmnx (walkable, area, simplify, project, dedupe){o['build_s']:>8.2f} s", flush=True)
    print(f"    .csr + .edge_tree{o['csr_tree_s']:>52.2f} s", flush=True)
    print(f"    NETWORK BUILD FROM OSM: {o['nodes']:,} nodes, {o['edges']:,} edges{o['total_s']:>17.2f} s  "
          f"cpu {o['cpu_s']:.2f} s  peak {o['peak_mb']:,.0f} MB (child process)", flush=True)
    return o


# ------------------------------------------------------------------ summary
Pair = tuple[float, float]  # (wall-clock, CPU) seconds


def summary(default_runs: list[dict[str, dict[str, float]]], syn: dict[str, Any] | None) -> None:
    rows: list[tuple[str, Pair, Pair, Pair, Pair, Pair | None, str]] = []
    for i, run in enumerate(default_runs):
        w, c = run["wall"], run["cpu"]

        def pair(k: str, w: dict = w, c: dict = c) -> Pair:
            return (w.get(k, 0.0), c.get(k, 0.0))

        rows.append((f"default xuhui ({'cold' if i == 0 else 'warm'})", pair("network"), pair("heritage"),
                     pair("walkability"), pair("waterfront"), pair("water") if "water" in w else None,
                     "measured; walkability = blocks + street segments"))
    if syn is not None:
        nodes = syn["sizes"]["nodes"]
        label = f"synthetic {nodes / 1e6:g}M nodes" if nodes >= 1e6 else f"synthetic {nodes:,} nodes"
        her, wat = syn["heritage"], syn["waterfront"]
        walk_b = syn["walk_measured"]
        walk_all = walk_b
        if syn["walk_streets"] is not None:
            ws = syn["walk_streets"]
            walk_all = (walk_b[0] + ws[0], walk_b[1] + ws[1])
        denominators = [("arrays", syn["network_build"], "network = arrays-only build (no file, no osmnx)")]
        osm = syn.get("osm_build")
        if osm is not None:
            denominators.insert(0, ("OSM", (osm["total_s"], osm["cpu_s"]),
                                    "network = OSM XML -> WalkNetwork, as run_study builds it"))
        for tag, net_b, how in denominators:
            rows.append((f"{label}, vs {tag} build", net_b, her, walk_all, wat, None,
                         how + "; walkability = blocks + street segments (as run_study)"))

    head = (f"{'case':<36}{'network':>9}{'heritage':>10}{'walkab.':>10}{'waterfr.':>10}{'overlays':>10}"
            f"{'ratio':>8}{'cpu ratio':>10}  {'target':<8} figures")
    rule = "-" * 140
    print("\n" + "=" * 140)
    print("SUMMARY: wall-clock seconds; ratio = overlays_total / network_build (cpu ratio: the same on process CPU "
          "seconds); target: ratio < 1")
    print("=" * 140)
    print(head)
    print(rule)
    verdicts = []
    for name, net_s, her, walk, wat, water, how in rows:
        tot = (her[0] + walk[0] + wat[0], her[1] + walk[1] + wat[1])
        ratio, cratio = tot[0] / net_s[0], tot[1] / max(net_s[1], 1e-9)
        ok = "MET" if ratio < 1 else "NOT MET"
        verdicts.append((name, ratio, cratio, ok, how))
        print(f"{name:<36}{net_s[0]:9.2f}{her[0]:10.2f}{walk[0]:10.2f}{wat[0]:10.2f}{tot[0]:10.2f}{ratio:8.2f}"
              f"{cratio:10.2f}  {ok:<8} {how}")
        if water is not None:
            r2 = (tot[0] + water[0]) / net_s[0]
            print(f"{'  same, counting the water step':<36}{'':9}{'':10}{'':10}{wat[0] + water[0]:10.2f}"
                  f"{tot[0] + water[0]:10.2f}{r2:8.2f}{(tot[1] + water[1]) / max(net_s[1], 1e-9):10.2f}  "
                  f"{'MET' if r2 < 1 else 'NOT MET':<8}")
    print(rule)
    for name, ratio, cratio, ok, how in verdicts:
        size = f"{ratio:.0%} of" if ratio < 1 else f"{ratio:.1f}x"
        print(f"* {name}: the overlays take {size} the network build (CPU: {cratio:.2f}x) -> target {ok} ({how}).")
    if syn is not None:
        for note in syn["notes"]:
            print(f"* note: {note}")
        print("* 'OSM build' is the toolkit's network step on the same city written as OSM XML (osmnx parse, "
              "walkable filter,\n  area, simplify, project, one edge per way segment, CSR, edge tree): the same "
              "definition as the default study's 'network'.\n  'arrays build' is grid_network + .edge_geometry + .csr "
              "+ .edge_tree from coordinate arrays: a lower bound that no study\n  goes through (the toolkit reads "
              "streets only from OSM), shown so the overlays' own cost can be judged against it.")
    cur, peak = rss_mb()
    print(f"* peak RSS {peak:,.0f} MB (current {cur:,.0f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="grid side: n*n nodes (default 1000 -> 1M nodes)")
    ap.add_argument("--blocks", choices=["quads", "boxes"], default="quads",
                    help="cells on the jittered nodes (default) or shapely.box on the unjittered lattice")
    ap.add_argument("--landuse", type=int, default=100_000, help="synthetic land-use points")
    ap.add_argument("--amenities", type=int, default=50_000, help="synthetic amenities")
    ap.add_argument("--transit", type=int, default=10_000, help="synthetic transit stops")
    ap.add_argument("--zones", type=int, default=200, help="synthetic heritage zones (20-80 ha)")
    ap.add_argument("--buildings", type=int, default=20_000, help="synthetic listed buildings")
    ap.add_argument("--streets", action=argparse.BooleanOptionalAction, default=True,
                    help="also time the street-segment walkability pass (part of run_study's walkability step)")
    ap.add_argument("--default-runs", type=int, default=2, help="run_study repetitions on the default study")
    ap.add_argument("--skip-default", action="store_true")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--osm-build", action=argparse.BooleanOptionalAction, default=True,
                    help="also build the synthetic network from OSM XML the way run_study does (minutes at 1M nodes)")
    ap.add_argument("--osm-child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.osm_child is not None:
        osm_child(args.osm_child)
        return

    warnings.filterwarnings("ignore", category=RuntimeWarning)
    t0 = time.perf_counter()
    load = os.getloadavg()
    print(f"overlay benchmark: {os.cpu_count()} CPUs, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
          "(other processes may inflate wall-clock times)", flush=True)
    default_runs: list[dict[str, dict[str, float]]] = []
    if not args.skip_default:
        print("\n(a) default study: run_study(load_study('xuhui'))", flush=True)
        default_runs = default_study(args.default_runs)
    syn = None
    if not args.skip_synthetic:
        print(f"\n(b) synthetic city: {args.n}x{args.n} nodes", flush=True)
        osm = osm_network_build(args.n) if args.osm_build else None
        syn = synthetic(args)
        syn["osm_build"] = osm
    summary(default_runs, syn)
    load = os.getloadavg()
    print(f"* total benchmark runtime {time.perf_counter() - t0:,.1f} s; load average at the end "
          f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")


if __name__ == "__main__":
    main()
