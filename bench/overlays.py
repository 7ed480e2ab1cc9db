"""Overlay timing: heritage, walkability and waterfront against the cost of building the network.

Target under test: *the three overlays together should cost less than building the
walking network*. The script prints figures only (no assertions) for two cases:

(a) **Default study** (Xuhui, shared Shanghai data): ``run_study(load_study("xuhui"))``
    is run twice (cold, then warm) and its step timings are reported. ``network`` is
    OSM XML parse + osmnx simplify/project + WalkNetwork; ``heritage``, ``walkability``
    and ``waterfront`` are the overlay steps (``walkability`` there covers blocks *and*
    street segments; ``heritage`` includes reading and merging the heritage layers;
    ``waterfront`` includes building the river polygons again). ``water`` (river
    polygons and the land area, needed before blocks are drawn) is shown apart.

(b) **Synthetic city** of ``--n``\\ :sup:`2` nodes (default 1000 x 1000 = 1,000,000 nodes,
    100 m grid, 10 m jitter, EPSG:32651), about 2M street edges and 1M blocks.

    * *network build* (the denominator) = ``grid_network`` + ``.edge_geometry`` +
      ``.csr`` + ``.edge_tree``. The edge attribute table (``highway``: every 10th
      row/column ``trunk``, else ``residential``; ``name``: ``Row i Road`` /
      ``Col j Street``) and the connected components are timed but *not* counted.
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
    * *walkability* (blocks) = representative points + ``block_faces`` + ``walkability``
      with ``--landuse`` random land-use points and ``--amenities`` random amenities.
      ``--streets`` also runs the street-segment pass that ``run_study`` runs in the same
      step (midpoints of all edges, snapped, transit distance, ``walkability``).
    * *waterfront* = ``analyse_waterfront`` on the bounding box of the city with a
      sinuous 400 m wide river written to a temporary GeoJSON (EPSG:4326),
      ``threshold_m=1080``, ``block_max_snap_m=500``.

    Inside ``walkability`` and ``analyse_waterfront`` the callees are timed by
    wrapping module attributes for the duration of the call (no file is changed);
    nested calls are included in their callers' times, so the breakdown lines do not
    add up to the total.

    If the full walkability run exceeds ``--walk-limit`` seconds (or with
    ``--skip-full-walk``) it is also run on a ``--walk-subset`` window of blocks (with
    the land-use, amenity and transit points of that window plus a margin) and the
    time is scaled linearly to the full block count; such figures are labelled
    *extrapolated*. Linear scaling also multiplies the costs inside ``walkability``
    that depend on the whole network, not on the blocks (STRtrees over all nodes and
    edge midpoints, ``hostile_edges`` over all edges, snapping the land-use and amenity
    points), so it overestimates; the measured full run is the figure to quote.

Every line shows the step time, the current RSS and the peak RSS of the process
(``resource.getrusage``). The machine may be shared with other processes: times are
wall-clock and can be inflated by them; the load average is printed at the start.

Run::

    . .venv/bin/activate
    python bench/overlays.py                  # both cases, 1M-node city (several minutes, ~10 GB peak)
    python bench/overlays.py --skip-default --n 320     # quick synthetic run (~100k nodes)
    python bench/overlays.py --skip-synthetic           # default study only
"""

from __future__ import annotations

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
    from toolkit.walkability import WalkabilitySettings, block_faces, hostile_edges, walkability
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
        wr = analyse_waterfront(wcfg, area, net, blocks, 1080.0, block_max_snap_m=500.0)
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
    ktargets = [(twalk, name) for name in ("neighbourhood_components", "_sums_within", "hostile_edges",
                                           "snap_points", "source_node_distances", "reachable_pairs",
                                           "mix_entropy", "landuse_classes", "decayed_count", "score",
                                           "composite")]
    knested = {"_sums_within": "neighbourhood_components", "hostile_edges": "neighbourhood_components"}

    def walk_blocks(bl: gpd.GeoDataFrame, snapped: Any, lu: gpd.GeoDataFrame, am: gpd.GeoDataFrame,
                    tm: np.ndarray, prefix: str) -> tuple[tuple[float, float], pd.DataFrame]:
        with log.step(f"{prefix}.points", "representative points (point_on_surface)", 2):
            pts = gpd.GeoSeries(shapely.point_on_surface(np.asarray(bl.geometry.values)), index=bl.index, crs=CRS)
        with log.step(f"{prefix}.block_faces", "block_faces(blocks, net)", 2):
            faces = block_faces(bl, net)
        sink: dict[str, list[float]] = {}
        with spy(ktargets, sink), log.step(f"{prefix}.walkability", f"walkability(...)  [{len(bl):,} blocks]", 2):
            wb = walkability(net, pts, snapped, settings, speeds, landuse=lu, landuse_field="landuse_type",
                             amenities=am, transit_m=tm, faces=faces)
        show_breakdown(sink, knested)
        return log.total(f"{prefix}."), wb

    res["walk_measured"] = None
    res["walk_extrapolated"] = None
    if not args.skip_full_walk:
        res["walk_measured"], wb = walk_blocks(blocks, bsnap, landuse, amenities, transit_m, "walk")
        line("walkability overlay (blocks) total", res["walk_measured"][0], 2, cpu=res["walk_measured"][1])
        face = wb["walk_block_face_max_m"]
        print(f"      -> walk_index mean {wb['walk_index'].mean():.3f}, block face max median "
              f"{face.median():.1f} m ({int(face.isna().sum()):,} NaN), hostile share mean "
              f"{wb['walk_hostile_share'].mean():.3f}, mix entropy mean {wb['walk_mix_entropy'].mean():.3f}",
              flush=True)
        del wb
    if args.skip_full_walk or res["walk_measured"][0] > args.walk_limit:
        side = min(int(np.sqrt(args.walk_subset)), n - 1)
        ncell = n - 1
        ii, jj = np.divmod(np.arange(nb), ncell)
        lo = (ncell - side) // 2
        win = (ii >= lo) & (ii < lo + side) & (jj >= lo) & (jj < lo + side)
        sub = blocks.loc[win]
        bx0, by0, bx1, by1 = shapely.total_bounds(np.asarray(sub.geometry.values))
        margin = 1500.0  # > the adult 10-minute walk (720 m) and the 400 m neighbourhood
        sel = shapely.box(bx0 - margin, by0 - margin, bx1 + margin, by1 + margin)

        def within(gs: gpd.GeoSeries) -> np.ndarray:
            return shapely.contains_xy(sel, shapely.get_x(gs.values), shapely.get_y(gs.values))

        lu, am = landuse.loc[within(landuse.geometry)], amenities.loc[within(amenities.geometry)]
        ssnap = bsnap.subset(win)
        tm = point_distances(net, ssnap, snap_points(net, transit[within(transit)], 250.0))
        scale = nb / len(sub)
        print(f"  walkability on a {side} x {side} window ({len(sub):,} blocks, {len(lu):,} land-use points, "
              f"{len(am):,} amenities within {margin:g} m of it), scaled x{scale:.2f}", flush=True)
        (w, c), wb = walk_blocks(sub, ssnap, lu, am, tm, "walksub")
        res["walk_extrapolated"] = (w * scale, c * scale)
        line("EXTRAPOLATED to all blocks (linear in blocks)", w * scale, 2, cpu=c * scale)
        del wb
        res["notes"].append(f"walkability (blocks) extrapolated from a {len(sub):,}-block window, linear in blocks; "
                            "this overestimates, as whole-network work inside walkability (trees over all nodes and "
                            "edges, hostile_edges) is scaled too")

    res["walk_streets"] = None
    if args.streets:
        print(f"  walkability on street segments ({net.n_edges:,} edge midpoints, as run_study does)", flush=True)
        with log.step("wst.midpoints", "edge midpoints", 2):
            mids = gpd.GeoSeries(shapely.line_interpolate_point(np.asarray(streets.geometry.values), 0.5,
                                                                normalized=True), index=streets.index, crs=CRS)
        with log.step("wst.transit", "transit distances of the segments (nearer end node)", 2):
            nd = node_distances(net, tsnap)
            st_transit = np.minimum(nd[net.u], nd[net.v])
        sink = {}
        with spy(ktargets, sink), log.step("wst.walkability", f"walkability(...)  [{len(mids):,} segments]", 2):
            faces = pd.DataFrame({"walk_block_face_max_m": streets["length_m"].to_numpy()}, index=streets.index)
            ws = walkability(net, mids, None, settings, speeds, landuse=landuse, landuse_field="landuse_type",
                             amenities=amenities, transit_m=st_transit, faces=faces, edge_ends=(net.u, net.v))
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
        net_b, her, wat = syn["network_build"], syn["heritage"], syn["waterfront"]
        walk_b, how = syn["walk_measured"], "measured"
        if walk_b is None:
            walk_b, how = syn["walk_extrapolated"], "walkability EXTRAPOLATED"
        rows.append((f"{label}, walk on blocks", net_b, her, walk_b, wat, None, how))
        if syn["walk_measured"] is not None and syn["walk_extrapolated"] is not None:
            rows.append((f"{label}, walk on blocks", net_b, her, syn["walk_extrapolated"], wat, None,
                         "walkability EXTRAPOLATED from a window"))
        if syn["walk_streets"] is not None:
            ws = syn["walk_streets"]
            rows.append((f"{label}, walk + segments", net_b, her, (walk_b[0] + ws[0], walk_b[1] + ws[1]), wat, None,
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
        print("* the synthetic network build is grid_network + .edge_geometry + .csr + .edge_tree: arrays only, no "
              "file parsing;\n  the default study's 'network' step includes OSM XML parsing and osmnx simplification, "
              "which is why its ratio is so much lower.")
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
    ap.add_argument("--walk-limit", type=float, default=300.0,
                    help="seconds; a slower full walkability run is also measured on a window and extrapolated")
    ap.add_argument("--walk-subset", type=int, default=100_000, help="blocks in the extrapolation window")
    ap.add_argument("--skip-full-walk", action="store_true", help="only the window run for walkability")
    ap.add_argument("--streets", action=argparse.BooleanOptionalAction, default=True,
                    help="also time the street-segment walkability pass (part of run_study's walkability step)")
    ap.add_argument("--default-runs", type=int, default=2, help="run_study repetitions on the default study")
    ap.add_argument("--skip-default", action="store_true")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

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
        syn = synthetic(args)
    summary(default_runs, syn)
    load = os.getloadavg()
    print(f"* total benchmark runtime {time.perf_counter() - t0:,.1f} s; load average at the end "
          f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")


if __name__ == "__main__":
    main()
