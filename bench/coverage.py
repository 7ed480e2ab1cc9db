"""Benchmark: service coverage on a real street network and on a 1M-node synthetic grid.

Run from the repository root, with the project's virtualenv active::

    python bench/coverage.py                      # full run: center OSM + 1000x1000 grid + peers
    python bench/coverage.py --skip-peers         # only our toolkit
    python bench/coverage.py --only grid --grid-side 300
    python bench/coverage.py --only grid --peers pandana --pandana-timeout 1800

The script only PRINTS figures (a progress line per part, then a summary table and the
target verdicts); it asserts nothing. It runs on two graphs:

* A: ``center_roads.osm``, the real Shanghai centre street network read with osmnx;
* B: a synthetic ``N x N`` street grid (default 1000 x 1000 = 1,000,000 nodes, 100 m
  spacing). Node positions are jittered by ``--jitter`` metres (default 10) so that edge
  lengths are not all equal: a perfectly regular grid is full of ties, a pathological case
  for pandana's contraction-hierarchy build that would flatter us.

What is measured, per graph:

* our network build: ``WalkNetwork`` construction (for the OSM graph: the osmnx XML parse,
  reported separately, then ``network_from_osmnx``), the CSR matrix ``net.csr`` and the
  spatial index ``net.edge_tree``; also the build from node/edge arrays alone, which is
  what ``pandana.Network`` does, for a like-for-like end-to-end ratio;
* snapping: origins (street-enclosed block points on the OSM graph; ``--origins`` random
  points standing in for block centroids on the grid) plus the facilities of every category;
* our coverage for ``--categories`` categories, each a different random set of
  ``--facilities-per-category`` facilities: ``point_distances`` from every origin to the
  nearest facility, search cut at ``--limit-m``;
* pandana (``--peers``), same graph and facilities: ``Network`` build (contraction
  hierarchy), ``precompute(limit)``, then ``set_pois`` + ``nearest_pois`` per category;
* networkx (``--peers``), same graph: ``multi_source_dijkstra_path_length`` from the
  facilities' nearest nodes with ``cutoff=limit``. On graphs above 200k nodes it is timed on
  ``--nx-categories`` categories (default 1) and multiplied up to all categories, labelled
  "extrapolated" (its ``to_networkx`` graph build is reported separately);
* ratios: pandana total / our coverage time, pandana total / our build-from-arrays + snap +
  coverage, networkx Dijkstra / our coverage time;
* peak memory (``ru_maxrss``). Every part runs in its own subprocess (this script re-invoked
  with ``--part``) and its peak RSS is read with ``os.wait4``, so the peers' memory never
  pollutes ours and a peer killed at its time limit still reports;
* a correctness cross-check, on one extra category whose facilities sit exactly on nodes:
  max |difference| between our ``node_distances`` and networkx's (and between each of them
  and pandana's when pandana finished), plus how many nodes disagree on being reachable
  within the limit (ours differs from networkx by the 1e-6 m floor that keeps a facility
  sitting on a node as an explicit sparse entry; pandana by its internal rounding);
* the targets: 10 categories on the 1M-node graph under 10 s and under 4 GB, and ours
  >= 20x faster than pandana including its build.

Every stage is timed in wall-clock seconds and in CPU seconds of the part's process
(``time.process_time``; from ``os.wait4`` for a killed peer). On a shared, loaded machine
wall time is inflated while CPU time is not; pandana runs its C++ on all cores, so its CPU
time can exceed its wall time. Peers get a wall-clock limit (``--pandana-timeout``,
``--nx-timeout``) and an address-space limit (``--peer-mem-gb``); figures from a peer that
hit its limit are lower bounds, printed with ``>``. pandana's CH build on the 1M-node grid
does not finish within the default limit (360 s): the grid ratios against it are then lower
bounds. A default run takes about 8-10 minutes on 2 cores, mostly the pandana time limit and
networkx on the 1M-node graph; more on a loaded machine.

Note on what is compared: pandana and networkx attach each facility to its nearest node
and return per-node distances; we snap facilities and origins to the nearest point of the
nearest edge and return per-origin distances including the off-network legs.
"""

from __future__ import annotations

import os as _os
import sys as _sys

# Running ``python bench/<script>.py`` puts bench/ first on sys.path, where this
# directory's ``coverage.py`` would shadow the coverage package that numba (used by
# the toolkit) imports; the scripts do not import each other, so drop the directory.
_sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or ".") != _os.path.dirname(_os.path.abspath(__file__))]

import argparse
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OSM = Path("/work/shared/data/shanghai/center_roads.osm")
CRS = "EPSG:32651"
GRAPHS = ("center", "grid")
BIG_GRAPH = 200_000  # nodes; above this networkx is timed on fewer categories


# --------------------------------------------------------------------------- helpers
def _rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@contextmanager
def _timed(res: dict, key: str):
    """Record wall seconds in ``res[key]`` and CPU seconds in ``res['cpu'][key]``."""
    w, c = time.perf_counter(), time.process_time()
    yield
    res[key] = time.perf_counter() - w
    res.setdefault("cpu", {})[key] = time.process_time() - c


def _emit(path: Path, res: dict) -> None:
    """Write a part's (possibly partial) results atomically, so that a killed part still reports."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(res))
    os.replace(tmp, path)


def _use_repo() -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def _limit_memory(gb: float) -> None:
    if gb and gb > 0:
        lim = int(gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))


def _n_facilities(args: argparse.Namespace, graph: str) -> int:
    if args.facilities_per_category:
        return args.facilities_per_category
    return 2000 if graph == "grid" else 200


def _nx_categories(args: argparse.Namespace, n_nodes: int) -> int:
    if args.nx_categories:
        return min(args.nx_categories, args.categories)
    return min(1, args.categories) if n_nodes > BIG_GRAPH else args.categories


def _random_in(poly, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform random points inside a polygon (rejection sampling)."""
    import shapely

    x0, y0, x1, y1 = poly.bounds
    shapely.prepare(poly)
    xs, ys = [], []
    got = 0
    while got < n:
        x = rng.uniform(x0, x1, 2 * n)
        y = rng.uniform(y0, y1, 2 * n)
        ok = shapely.contains_xy(poly, x, y)
        xs.append(x[ok])
        ys.append(y[ok])
        got += int(ok.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


# --------------------------------------------------------------------------- parts (run in subprocesses)
def part_ours(args: argparse.Namespace, out: Path, data: Path) -> None:
    """Our toolkit: build, snap, coverage for every category, then the on-node check category."""
    _use_repo()
    import geopandas as gpd
    import shapely

    from toolkit.coverage import node_distances, point_distances
    from toolkit.network import WalkNetwork, grid_network, network_from_osmnx
    from toolkit.snapping import snap_points

    res: dict = {"rss_after_imports_mb": _rss_mb()}
    rng = np.random.default_rng(args.seed)
    n_fac = _n_facilities(args, args.graph)
    limit = args.limit_m

    # ---- network build
    with _timed(res, "t_build"):
        if args.graph == "grid":
            with _timed(res, "t_network"):
                net = grid_network(args.grid_side, spacing=100.0, crs=CRS, jitter=args.jitter, seed=args.seed)
        else:
            from toolkit.osm import read_osm_graph

            with _timed(res, "t_parse"):
                G = read_osm_graph(args.osm)
            with _timed(res, "t_network"):
                net = network_from_osmnx(G, CRS)
            del G
        with _timed(res, "t_csr"):
            net.csr  # noqa: B018 - cached property: built here
        with _timed(res, "t_tree"):
            net.edge_tree  # noqa: B018 - cached property: built here
    if args.graph == "grid":
        res["t_core_build"], res["cpu"]["t_core_build"] = res["t_build"], res["cpu"]["t_build"]
    else:
        # What pandana.Network does: build from node/edge arrays (no OSM parse, no osmnx
        # simplification). Here: WalkNetwork + CSR + STRtree on the same arrays and geometries.
        with _timed(res, "t_core_build"):
            core = WalkNetwork(x=net.x, y=net.y, u=net.u, v=net.v, length=net.length, crs=net.crs,
                               geometry=net.geometry, node_id=net.node_id)
            core.csr  # noqa: B018
            core.edge_tree  # noqa: B018
        del core
    res["n_nodes"], res["n_edges"] = net.n_nodes, net.n_edges
    _emit(out, res)

    # ---- origins and facilities (not timed)
    area = shapely.convex_hull(shapely.multipoints(np.c_[net.x, net.y]))
    origin_kind = "random points"
    origins = None
    if args.graph == "center":
        try:
            from toolkit.blocks import enclosed_blocks

            with _timed(res, "t_blocks"):
                blocks = enclosed_blocks(net.streets(), area)
            origins = gpd.GeoSeries(shapely.point_on_surface(np.asarray(blocks.geometry.values)), crs=net.crs)
            origin_kind = "block points"
        except Exception as exc:  # fall back to random points rather than fail the benchmark
            res["blocks_error"] = repr(exc)
    if origins is None:
        ox, oy = _random_in(area, args.origins, rng)
        origins = gpd.GeoSeries(gpd.points_from_xy(ox, oy), crs=net.crs)
    res["n_origins"], res["origin_kind"] = len(origins), origin_kind
    fac_x = np.empty((args.categories, n_fac))
    fac_y = np.empty((args.categories, n_fac))
    for c in range(args.categories):
        fac_x[c], fac_y[c] = _random_in(area, n_fac, rng)
    facilities = [gpd.GeoSeries(gpd.points_from_xy(fac_x[c], fac_y[c]), crs=net.crs) for c in range(args.categories)]
    res["n_facilities"] = n_fac

    # ---- snapping
    with _timed(res, "t_snap"):
        with _timed(res, "t_snap_origins"):
            o_snap = snap_points(net, origins)
        with _timed(res, "t_snap_facilities"):
            f_snaps = [snap_points(net, f) for f in facilities]
    _emit(out, res)

    # ---- coverage, one category at a time
    reached = []
    with _timed(res, "t_coverage"):
        for c in range(args.categories):
            d = point_distances(net, o_snap, f_snaps[c], limit=limit)
            reached.append(float(np.isfinite(d).mean()))
    res["share_origins_reached"] = float(np.mean(reached))
    res["rss_peak_self_mb"] = _rss_mb()
    _emit(out, res)

    # ---- correctness category (not timed): facilities exactly on nodes
    check_nodes = np.sort(rng.choice(net.n_nodes, size=min(n_fac, net.n_nodes), replace=False))
    pts = gpd.GeoSeries(gpd.points_from_xy(net.x[check_nodes], net.y[check_nodes]), crs=net.crs)
    check_dist = node_distances(net, snap_points(net, pts), limit=limit)
    np.savez(data, x=net.x, y=net.y, u=net.u, v=net.v, length=net.length, fac_x=fac_x, fac_y=fac_y,
             check_nodes=check_nodes, check_dist=check_dist)
    res["done"] = True
    _emit(out, res)


def part_pandana(args: argparse.Namespace, out: Path, data: Path) -> None:
    """pandana on the same graph and facilities (nearest node per facility, per-node distances)."""
    import pandana
    import pandas as pd

    z = np.load(data)
    limit = args.limit_m
    res: dict = {"rss_after_imports_mb": _rss_mb(), "build_started_unix": time.time(),
                 "cpu_before_build": time.process_time()}
    _emit(out, res)
    with _timed(res, "t_build"):
        pn = pandana.Network(pd.Series(z["x"]), pd.Series(z["y"]), pd.Series(z["u"]), pd.Series(z["v"]),
                             pd.DataFrame({"length": z["length"]}), twoway=True)
    _emit(out, res)
    with _timed(res, "t_precompute"):
        pn.precompute(limit)
    _emit(out, res)
    with _timed(res, "t_pois"):
        for c in range(args.categories):
            pn.set_pois(f"cat{c}", limit, 1, pd.Series(z["fac_x"][c]), pd.Series(z["fac_y"][c]))
            pn.nearest_pois(limit, f"cat{c}", num_pois=1)
    res["rss_peak_self_mb"] = _rss_mb()
    _emit(out, res)
    # correctness category (not timed)
    cn = z["check_nodes"]
    pn.set_pois("check", limit, 1, pd.Series(z["x"][cn]), pd.Series(z["y"][cn]))
    d = pn.nearest_pois(limit, "check", num_pois=1, max_distance=np.inf)[1].to_numpy(dtype=float)
    np.save(out.with_name(out.stem + "_check.npy"), d)
    res["done"] = True
    _emit(out, res)


def part_networkx(args: argparse.Namespace, out: Path, data: Path) -> None:
    """networkx multi-source Dijkstra from the facilities' nearest nodes."""
    _use_repo()
    import networkx as nx
    from scipy.spatial import cKDTree

    from toolkit.network import WalkNetwork

    z = np.load(data)
    limit = args.limit_m
    k = _nx_categories(args, len(z["x"]))
    res: dict = {"rss_after_imports_mb": _rss_mb(), "categories_timed": k}
    net = WalkNetwork(x=z["x"], y=z["y"], u=z["u"], v=z["v"], length=z["length"], crs=CRS)
    with _timed(res, "t_graph"):
        G = net.to_networkx()
    _emit(out, res)
    tree = cKDTree(np.c_[z["x"], z["y"]])
    sources = [set(tree.query(np.c_[z["fac_x"][c], z["fac_y"][c]])[1].tolist()) for c in range(k)]
    with _timed(res, "t_dijkstra_timed"):
        for c in range(k):
            nx.multi_source_dijkstra_path_length(G, sources[c], cutoff=limit, weight="length")
    scale = args.categories / k
    res["t_dijkstra"] = res["t_dijkstra_timed"] * scale
    res["cpu"]["t_dijkstra"] = res["cpu"]["t_dijkstra_timed"] * scale
    res["rss_peak_self_mb"] = _rss_mb()
    _emit(out, res)
    # correctness category (not timed)
    d = nx.multi_source_dijkstra_path_length(G, set(z["check_nodes"].tolist()), cutoff=limit, weight="length")
    arr = np.full(len(z["x"]), np.inf)
    arr[np.fromiter(d.keys(), dtype=np.int64, count=len(d))] = np.fromiter(d.values(), dtype=float, count=len(d))
    np.save(out.with_name(out.stem + "_check.npy"), arr)
    res["done"] = True
    _emit(out, res)


PARTS = {"ours": part_ours, "pandana": part_pandana, "networkx": part_networkx}


# --------------------------------------------------------------------------- orchestration
def run_part(args: argparse.Namespace, work: Path, graph: str, part: str, timeout: float | None) -> dict:
    """Run one part in a fresh subprocess; return its results plus its own peak RSS and CPU time."""
    out = work / f"{graph}_{part}.json"
    log = work / f"{graph}_{part}.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--part", part, "--graph", graph, "--work", str(work),
           "--grid-side", str(args.grid_side), "--jitter", str(args.jitter), "--categories", str(args.categories),
           "--origins", str(args.origins), "--limit-m", str(args.limit_m), "--seed", str(args.seed),
           "--osm", str(args.osm), "--peer-mem-gb", str(args.peer_mem_gb)]
    if args.facilities_per_category:
        cmd += ["--facilities-per-category", str(args.facilities_per_category)]
    if args.nx_categories:
        cmd += ["--nx-categories", str(args.nx_categories)]
    limit_txt = f" (time limit {timeout:.0f} s)" if timeout else ""
    print(f"  [{graph}] {part:<8} running{limit_txt} ...", end="", flush=True)
    t0 = time.perf_counter()
    timed_out = False
    killed_unix = None
    with open(log, "w") as lf:
        proc = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT)
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout and time.perf_counter() - t0 > timeout:
                killed_unix = time.time()
                proc.kill()
                pid, status, ru = os.wait4(proc.pid, 0)
                timed_out = True
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    res = json.loads(out.read_text()) if out.exists() else {}
    res.setdefault("cpu", {})
    res.update(wall_s=wall, peak_rss_mb=ru.ru_maxrss / 1024.0, cpu_s=ru.ru_utime + ru.ru_stime,
               timed_out=timed_out, returncode=proc.returncode)
    text = log.read_text(errors="replace")
    if timed_out:
        pct = re.findall(r"(\d+)%", text)
        res["progress"] = f"{pct[-1]}%" if pct else "?"
        if "build_started_unix" in res:
            res["killed_after_s"] = killed_unix - res["build_started_unix"]
            res["cpu_killed_after_s"] = res["cpu_s"] - res["cpu_before_build"]
    res["failed"] = not timed_out and (proc.returncode != 0 or not res.get("done"))
    state = "TIMED OUT" if timed_out else ("FAILED" if res["failed"] else "done")
    print(f" {state} in {wall:.1f} s (CPU {res['cpu_s']:.1f} s), peak RSS {res['peak_rss_mb']:,.0f} MB", flush=True)
    if res["failed"]:
        tail = text.strip().splitlines()[-15:]
        res["error"] = tail[-1] if tail else f"exit code {proc.returncode}"
        print("    --- last lines of its output ---\n    " + "\n    ".join(tail), flush=True)
    return res


# --------------------------------------------------------------------------- report
def _fmt_s(v: float | None, lower: bool = False) -> str:
    if v is None or math.isnan(v):
        return "n/a"
    return (">" if lower else "") + (f"{v:.3f}" if v < 10 else f"{v:.1f}")


def _fmt_x(v: float | None, lower: bool = False) -> str:
    if v is None or math.isnan(v):
        return "n/a"
    return (">" if lower else "") + (f"{v:.1f}x" if v < 100 else f"{v:,.0f}x")


def _wc(r: dict, key: str) -> str:
    """'wall s | cpu s' cell for a timed stage of a part."""
    if key not in r:
        return "n/a"
    return f"{_fmt_s(r[key])} s | {_fmt_s(r['cpu'].get(key))} s"


def _ours_total(o: dict, cpu: bool = False, core: bool = False) -> float:
    src = o["cpu"] if cpu else o
    return src["t_core_build" if core else "t_build"] + src["t_snap"] + src["t_coverage"]


def _pd_total(p: dict, cpu: bool = False, precompute: bool = True) -> tuple[float | None, bool]:
    """pandana total (seconds, is_lower_bound); a killed run gives what it had spent when killed."""
    keys = ["t_build", "t_precompute", "t_pois"] if precompute else ["t_build", "t_pois"]
    src = p["cpu"] if cpu else p
    if all(k in src for k in keys):
        return float(sum(src[k] for k in keys)), False
    if p.get("timed_out") and "killed_after_s" in p:
        spent = p["cpu_killed_after_s" if cpu else "killed_after_s"]
        if not precompute and "t_precompute" in src:
            spent -= src["t_precompute"]
        return spent, True
    return None, False


def _pd_stage(p: dict, key: str) -> str:
    if key in p:
        return _wc(p, key)
    if p.get("timed_out"):
        order = ["t_build", "t_precompute", "t_pois"]
        i = order.index(key)
        started = i == 0 or order[i - 1] in p
        return f"unfinished (log at {p.get('progress', '?')})" if started else "not reached"
    return "n/a"


def _pd_total_cell(p: dict, precompute: bool = True) -> str:
    w, lw = _pd_total(p, precompute=precompute)
    c, lc = _pd_total(p, cpu=True, precompute=precompute)
    return "n/a" if w is None else f"{_fmt_s(w, lw)} s | {_fmt_s(c, lc)} s"


def _peer_status(p: dict) -> str:
    if p.get("timed_out"):
        return f"TIMED OUT at {p['wall_s']:.0f} s"
    if p.get("failed"):
        return "FAILED: " + str(p.get("error", ""))[:40]
    return "ok"


def _ratio_cell(num_w: tuple[float | None, bool], num_c: tuple[float | None, bool], den_w: float,
                den_c: float) -> str:
    (w, lw), (c, lc) = num_w, num_c
    if w is None:
        return "n/a"
    return f"{_fmt_x(w / den_w, lw)} | {_fmt_x(c / den_c, lc)}"


def _cmp(a: np.ndarray, b: np.ndarray) -> tuple[float, int, int]:
    """(max abs difference where both finite, nodes compared, nodes whose reachability differs)."""
    fa, fb = np.isfinite(a), np.isfinite(b)
    both = fa & fb
    diff = float(np.max(np.abs(a[both] - b[both]))) if both.any() else float("nan")
    return diff, int(both.sum()), int((fa != fb).sum())


def _check(work: Path, graph: str, a: str, b: str) -> str:
    """Compare the check category's node distances of parts ``a`` and ``b``."""
    def load(part: str) -> np.ndarray | None:
        if part == "ours":
            return np.load(work / f"{graph}_ours.npz")["check_dist"]
        p = work / f"{graph}_{part}_check.npy"
        return np.load(p) if p.exists() else None

    da, db = load(a), load(b)
    if da is None or db is None:
        return "n/a"
    diff, n, mism = _cmp(da, db)
    return f"{diff:.2g} m ({n:,} nodes, {mism} reach mismatch)"


def summarise(args: argparse.Namespace, work: Path, results: dict) -> None:
    cols = [g for g in GRAPHS if g in results]
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, fn) -> None:
        vals = []
        for g in cols:
            try:
                vals.append(fn(results[g]))
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                vals.append("n/a")
        rows.append((label, vals))

    def section(title: str) -> None:
        rows.append((title, []))

    n_cat = args.categories
    header = {"center": f"A: {args.osm.name}", "grid": f"B: grid {args.grid_side}x{args.grid_side}"}
    row("nodes / edges", lambda r: f"{r['ours']['n_nodes']:,} / {r['ours']['n_edges']:,}")
    row("origins", lambda r: f"{r['ours']['n_origins']:,} {r['ours']['origin_kind']}")
    row("categories x facilities", lambda r: f"{n_cat} x {r['ours']['n_facilities']:,}")
    row("search limit", lambda r: f"{args.limit_m:,.0f} m")
    section("-- ours (toolkit)                      wall | CPU")
    row("  OSM XML parse (osmnx)", lambda r: _wc(r["ours"], "t_parse") if "t_parse" in r["ours"] else "-")
    row("  WalkNetwork build", lambda r: _wc(r["ours"], "t_network"))
    row("  net.csr", lambda r: _wc(r["ours"], "t_csr"))
    row("  net.edge_tree", lambda r: _wc(r["ours"], "t_tree"))
    row("  network build total", lambda r: _wc(r["ours"], "t_build"))
    row("  build from arrays (like pandana)", lambda r: _wc(r["ours"], "t_core_build"))
    row("  snapping origins", lambda r: _wc(r["ours"], "t_snap_origins"))
    row(f"  snapping facilities ({n_cat} categories)", lambda r: _wc(r["ours"], "t_snap_facilities"))
    row(f"  coverage, {n_cat} categories", lambda r: _wc(r["ours"], "t_coverage"))
    row("    per category", lambda r: f"{_fmt_s(r['ours']['t_coverage'] / n_cat)} s | "
                                      f"{_fmt_s(r['ours']['cpu']['t_coverage'] / n_cat)} s")
    row("  build + snap + coverage", lambda r: f"{_fmt_s(_ours_total(r['ours']))} s | "
                                               f"{_fmt_s(_ours_total(r['ours'], cpu=True))} s")
    row("  arrays build + snap + coverage", lambda r: f"{_fmt_s(_ours_total(r['ours'], core=True))} s | "
                                                      f"{_fmt_s(_ours_total(r['ours'], cpu=True, core=True))} s")
    row("  origins reached within limit", lambda r: f"{100 * r['ours']['share_origins_reached']:.1f} %")
    row("  peak RSS (own process)", lambda r: f"{r['ours']['peak_rss_mb']:,.0f} MB")
    row("    of which after imports", lambda r: f"{r['ours']['rss_after_imports_mb']:,.0f} MB")
    if "pandana" in args.peers:
        section("-- pandana                             wall | CPU")
        row("  Network build (CH)", lambda r: _pd_stage(r["pandana"], "t_build"))
        row(f"  precompute({args.limit_m:.0f})", lambda r: _pd_stage(r["pandana"], "t_precompute"))
        row(f"  set_pois + nearest_pois x{n_cat}", lambda r: _pd_stage(r["pandana"], "t_pois"))
        row("  total", lambda r: _pd_total_cell(r["pandana"]))
        row("  total without precompute", lambda r: _pd_total_cell(r["pandana"], precompute=False))
        row("  status", lambda r: _peer_status(r["pandana"]))
        row("  peak RSS (own process)", lambda r: f"{r['pandana']['peak_rss_mb']:,.0f} MB")
    if "networkx" in args.peers:
        section("-- networkx                            wall | CPU")
        row("  graph build (to_networkx)", lambda r: _wc(r["networkx"], "t_graph"))
        row("  categories timed", lambda r: f"{r['networkx']['categories_timed']} of {n_cat}")
        row(f"  multi-source Dijkstra x{n_cat}", lambda r: _wc(r["networkx"], "t_dijkstra")
            + (" (extrapolated)" if r["networkx"]["categories_timed"] < n_cat else ""))
        row("  status", lambda r: _peer_status(r["networkx"]))
        row("  peak RSS (own process)", lambda r: f"{r['networkx']['peak_rss_mb']:,.0f} MB")
    if args.peers:
        section("-- ratios (higher = ours faster)       wall | CPU")
    if "pandana" in args.peers:
        row("  pandana total / our coverage",
            lambda r: _ratio_cell(_pd_total(r["pandana"]), _pd_total(r["pandana"], cpu=True),
                                  r["ours"]["t_coverage"], r["ours"]["cpu"]["t_coverage"]))
        row("  pandana total / our arrays+snap+cov",
            lambda r: _ratio_cell(_pd_total(r["pandana"]), _pd_total(r["pandana"], cpu=True),
                                  _ours_total(r["ours"], core=True), _ours_total(r["ours"], cpu=True, core=True)))
        row("  pandana w/o precompute / our cov",
            lambda r: _ratio_cell(_pd_total(r["pandana"], precompute=False),
                                  _pd_total(r["pandana"], cpu=True, precompute=False),
                                  r["ours"]["t_coverage"], r["ours"]["cpu"]["t_coverage"]))
    if "networkx" in args.peers:
        row("  networkx Dijkstra / our coverage",
            lambda r: _ratio_cell((r["networkx"]["t_dijkstra"], False), (r["networkx"]["cpu"]["t_dijkstra"], False),
                                  r["ours"]["t_coverage"], r["ours"]["cpu"]["t_coverage"])
            + (" (extrapolated)" if r["networkx"]["categories_timed"] < n_cat else ""))
    if args.peers:
        section("-- correctness (check category: facilities exactly on nodes)")
        for a, b in (("ours", "networkx"), ("ours", "pandana"), ("pandana", "networkx")):
            if {a, b} <= {"ours", *args.peers}:
                row(f"  max |{a} - {b}|", lambda r, a=a, b=b: _check(work, r["graph"], a, b))

    w0 = max(len(lab) for lab, v in rows if v) + 2
    ws = [max([len(header[g])] + [len(v[i]) for _, v in rows if v]) + 2 for i, g in enumerate(cols)]
    line = "=" * (w0 + sum(ws))
    print("\n" + line)
    print("SUMMARY (times in seconds)".ljust(w0) + "".join(header[g].rjust(w) for g, w in zip(cols, ws, strict=True)))
    print(line)
    for lab, vals in rows:
        print(lab if not vals else lab.ljust(w0) + "".join(v.rjust(w) for v, w in zip(vals, ws, strict=True)))
    print(line)

    # ---- targets
    if "grid" in results:
        o = results["grid"]["ours"]
        n = o["n_nodes"]
        t_w, t_c, mem = o["t_coverage"], o["cpu"]["t_coverage"], o["peak_rss_mb"]
        m_ok = mem < 4096.0

        def verdict(ok: bool) -> str:
            return ("MET" if ok else "NOT MET") if n >= 1_000_000 else "n/a (graph under 1M nodes)"

        print(f"Target: {n_cat} categories on the 1M-node graph under 10 s and under 4 GB:"
              f" wall {verdict(t_w < 10 and m_ok)} ({t_w:.2f} s, {mem / 1024:.2f} GB);"
              f" CPU {verdict(t_c < 10 and m_ok)} ({t_c:.2f} s)")
        print(f"        end to end incl. build and snapping: {_ours_total(o):.2f} s wall, "
              f"{_ours_total(o, cpu=True):.2f} s CPU")
    if "pandana" in args.peers:
        for g in cols:
            r = results[g]
            o = r["ours"]
            for clock, cpu in (("wall", False), ("CPU", True)):
                pd_t, lower = _pd_total(r["pandana"], cpu=cpu)
                if pd_t is None:
                    print(f"Target ours >= 20x faster than pandana incl. its build [{g}, {clock}]: n/a")
                    continue
                r_cov = pd_t / (o["cpu"] if cpu else o)["t_coverage"]
                r_all = pd_t / _ours_total(o, cpu=cpu, core=True)
                verdict = "MET" if r_cov >= 20 else ("UNDECIDED (lower bound only)" if lower else "NOT MET")
                print(f"Target ours >= 20x faster than pandana incl. its build [{g}, {clock}]: {verdict} "
                      f"(pandana total / our coverage {_fmt_x(r_cov, lower)}; "
                      f"/ our arrays build + snap + coverage {_fmt_x(r_all, lower)})")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid-side", type=int, default=1000, help="the grid is N x N nodes (default 1000)")
    ap.add_argument("--jitter", type=float, default=10.0,
                    help="grid node position jitter in metres (default 10; 0 = perfectly regular)")
    ap.add_argument("--skip-peers", action="store_true", help="do not run pandana and networkx")
    ap.add_argument("--peers", default="pandana,networkx",
                    help="comma-separated peers to run (default pandana,networkx)")
    ap.add_argument("--only", choices=GRAPHS, help="run only one of the two graphs")
    ap.add_argument("--categories", type=int, default=10, help="facility categories (default 10)")
    ap.add_argument("--facilities-per-category", type=int, default=None,
                    help="facilities per category (default 2000 on the grid, 200 on the OSM graph)")
    ap.add_argument("--origins", type=int, default=100_000,
                    help="random origin points on the grid (the OSM graph uses its enclosed blocks; default 100000)")
    ap.add_argument("--limit-m", type=float, default=5000.0, help="search limit in metres (default 5000)")
    ap.add_argument("--nx-categories", type=int, default=None,
                    help=f"categories timed with networkx, the rest extrapolated (default: all; 1 above "
                         f"{BIG_GRAPH:,} nodes)")
    ap.add_argument("--pandana-timeout", type=float, default=360.0,
                    help="wall-clock limit per pandana run in seconds (default 360)")
    ap.add_argument("--nx-timeout", type=float, default=600.0,
                    help="wall-clock limit per networkx run in seconds (default 600)")
    ap.add_argument("--peer-mem-gb", type=float, default=12.0,
                    help="address-space limit for each peer process in GB (default 12; 0 = none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--osm", type=Path, default=DEFAULT_OSM, help="OSM XML file for graph A")
    ap.add_argument("--keep-work", action="store_true", help="keep the scratch directory (logs, arrays)")
    # internal: run one part in this process
    ap.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    ap.add_argument("--graph", choices=GRAPHS, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.peers = [] if args.skip_peers else [p for p in args.peers.split(",") if p]
    if set(args.peers) - {"pandana", "networkx"}:
        ap.error("--peers takes pandana and/or networkx")

    if args.part:
        if args.part != "ours":
            _limit_memory(args.peer_mem_gb)
        PARTS[args.part](args, args.work / f"{args.graph}_{args.part}.json", args.work / f"{args.graph}_ours.npz")
        return

    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench_coverage_"))
    graphs = [args.only] if args.only else list(GRAPHS)
    load = os.getloadavg()
    print(f"bench/coverage.py: graphs={','.join(graphs)} grid={args.grid_side}x{args.grid_side} "
          f"jitter={args.jitter:g} m categories={args.categories} limit={args.limit_m:g} m")
    print(f"cpus={os.cpu_count()} python {sys.version.split()[0]} load average at start "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; scratch {work}")
    results: dict = {}
    try:
        for g in graphs:
            r = {"graph": g, "ours": run_part(args, work, g, "ours", None)}
            if r["ours"]["failed"]:
                print(f"  [{g}] our part failed: graph left out of the summary")
                continue
            if "pandana" in args.peers:
                r["pandana"] = run_part(args, work, g, "pandana", args.pandana_timeout)
            if "networkx" in args.peers:
                r["networkx"] = run_part(args, work, g, "networkx", args.nx_timeout)
            results[g] = r
        if results:
            summarise(args, work, results)
    finally:
        if args.keep_work:
            print(f"scratch directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    print(f"total benchmark wall time: {time.perf_counter() - t_start:.0f} s; load average at end "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (on {os.cpu_count()} cpus)")


if __name__ == "__main__":
    main()
