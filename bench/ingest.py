"""Benchmark: the OSM network step (file -> walking network) against osmnx, pyrosm and quackosm.

Run from the repository root, with the project's virtualenv active::

    python bench/ingest.py                                 # everything: 100k and 1M cities, district, default study
    python bench/ingest.py --only cities --sizes 100k      # quick: the 100k-node city only
    python bench/ingest.py --only district --district-city 100k --district-nodes 10000
    python bench/ingest.py --only default                  # end-to-end Xuhui study vs osmnx's bare ingest
    python bench/ingest.py --skip-peers                    # only our reader

The script only PRINTS figures (a progress line per part, then tables and the target
verdicts); it asserts nothing. Cases (``--only``; default all three):

* ``cities``: a synthetic city of ``--sizes`` nodes (default 100k and 1M; see
  ``bench/synth_city.py``: a jittered, warped street lattice whose ways span several
  blocks with 3-6 shape nodes between crossings, primary/secondary/tertiary/residential
  streets, service alleys, steps, sidewalks, pedestrian streets, tunnels with nodes of
  their own, ``foot=no`` ways, motorways, buildings and a river that must be ignored),
  written once as ``.osm`` and as ``.osm.pbf`` and cached under ``--cache-dir``. On it:

  - ours: ``toolkit.osm_network.read_walk_network(file, "EPSG:32651")``, on both files;
  - osmnx (project venv): ``graph_from_xml(file, bidirectional=True, simplify=False,
    retain_all=True)`` + ``simplify_graph`` + ``project_graph(to_crs="EPSG:32651")``,
    on the ``.osm`` (osmnx reads no PBF). Its ``useful_tags_way`` gets ``foot``,
    ``access``, ``tunnel``, ``footway`` and ``service`` first, for the check below;
  - pyrosm (own venv): ``OSM(pbf).get_network(network_type="walking", nodes=True)`` +
    ``to_crs("EPSG:32651")`` of its nodes and edges. Its edges are raw way segments
    (one per pair of consecutive nodes, not simplified);
  - quackosm (own venv): ``convert_pbf_to_geodataframe(pbf, tags_filter={"highway":
    True})`` + ``to_crs``: highway ways as lines, no network topology at all.

  pyrosm and quackosm are installed with pip into throwaway venvs under ``--peer-venvs``
  (never into the project's venv) on first use; an install or import that fails is
  printed with its reason and the peer is left out. quackosm 0.19 breaks on duckdb 2
  and loads DuckDB's ``spatial`` extension from DuckDB's own server at run time; it is
  installed with ``duckdb==1.4.4`` and the PyPI package ``duckdb-ext-spatial`` (the
  same extension built for 1.4.4), whose folder is handed to ``duckdb.connect`` as
  ``extension_directory``.

  "Same network" check: our nodes / edges / total length beside osmnx's simplified
  graph once the edges we do not walk are removed (``highway`` motorway or
  motorway_link, ``foot=no``, and the ways with no ``highway`` at all: osmnx's
  ``graph_from_xml`` builds edges from every way of the file, buildings and the river
  included; the graph is then simplified again, as removing them leaves new degree-2
  nodes) and each street segment is counted once (its two directed copies
  deduplicated on end nodes, osmids and length), with the relative differences.
  Ours keeps one rule osmnx lacks (a node where a way that takes no blocks or
  facilities, such as a tunnel, meets one that does, stays a node), so it may count a
  few more nodes and edges. Lengths are compared on the projected lines (osmnx's edge geometries, or straight
  segments where it keeps none, in EPSG:32651, as ours); osmnx's own ``length``
  (great-circle on a sphere, a few 0.1 % off the ellipsoid at this latitude) is shown
  beside.

* ``district``: a district of about ``--district-nodes`` nodes (a square around the
  centre of the ``--district-city`` city) read by our reader (a) from the city-wide
  file with ``area`` = the district's box and (b) from the district written as its own
  small file (every way touching the box, whole: osmium extract's ``complete_ways``),
  with the same ``area``; both formats.

* ``default``: CPU seconds (user + sys of the child process, ``os.wait4`` rusage,
  interpreter start and imports included; the CPU of the call alone is shown beside)
  of (a) ``toolkit.run_study(toolkit.load_study("xuhui"))`` and (b) osmnx's bare ingest
  of the same file (``--xuhui-osm``): ``ox.graph_from_xml(path, simplify=True)`` (other
  arguments and settings at osmnx's defaults) + ``ox.project_graph(G,
  to_crs="EPSG:32651")``, each in its own process, and the ratio (repeated runs keep
  the one with the least process CPU).

A part whose first whole run takes under ``--repeat-under`` seconds (default 60) is run
``--repeat`` times (default 3), whichever tool it is, and its fastest run is kept (the
tables say how many runs there were); longer parts run once.

Every part runs in its own subprocess (this script re-invoked with ``--part``, by the
peer's own Python for pyrosm and quackosm); its peak RSS comes from ``os.wait4``, so no
part pollutes another's memory. Times: "wall" and "CPU" are the timed call alone
(imports excluded; ``time.perf_counter`` / ``time.process_time`` plus the CPU of any
finished child process of the part, as quackosm runs DuckDB in one), "process" is the
whole child's wall time including interpreter start and imports. Peers get a
wall-clock limit (``--peer-timeout``) and osmnx and pyrosm an address-space limit
(``--peer-mem-gb``; not quackosm, whose DuckDB reserves address space it never uses).
The machine may be shared: the load average is printed at the start and at the end;
CPU seconds are the steadier figure.

Targets (printed, never asserted): 1M nodes from .osm.pbf in under 30 s and under 3 GB;
at least 8x faster than osmnx on the same file; the district from the city-wide file
within 2x of the district from its own small file; the end-to-end default study in no
more than 1.5x osmnx's bare ingest of its own file, in CPU time.
"""

from __future__ import annotations

import os as _os
import sys as _sys

# Running ``python bench/<script>.py`` puts bench/ first on sys.path, where this
# directory's ``coverage.py`` would shadow the coverage package that numba (used by
# the toolkit) imports; drop the directory (synth_city is imported by path below).
_BENCH = _os.path.dirname(_os.path.abspath(__file__))
_sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or ".") != _BENCH]

# Only the standard library at module level: the peers' venvs run this file too.
import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CRS = "EPSG:32651"
CASES = ("cities", "district", "default")
PEERS = ("osmnx", "pyrosm", "quackosm")
XUHUI_OSM = Path("/work/shared/data/shanghai/xuhui_roads.osm")
#: pip requirements of each peer's throwaway venv (see the module docstring for quackosm's pins)
PEER_PACKAGES = {
    "pyrosm": ["pyrosm"],
    "quackosm": ["quackosm", "duckdb==1.4.4", "duckdb-ext-spatial>=1.4.4,<1.4.5"],
}
PEER_IMPORT = {"pyrosm": "import pyrosm", "quackosm": "import quackosm, duckdb"}
OSMNX_EXTRA_TAGS = ("foot", "access", "tunnel", "footway", "service")
NOT_WALKED = ("motorway", "motorway_link")
# targets
T_PBF_S, T_PBF_GB, T_OSMNX_X, T_DISTRICT_X, T_DEFAULT_X = 30.0, 3.0, 8.0, 2.0, 1.5


# --------------------------------------------------------------------------- helpers (stdlib only)
def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _emit(path: Path, res: dict) -> None:
    """Write a part's (possibly partial) results atomically, so that a killed part still reports."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(res))
    os.replace(tmp, path)


def _use_repo() -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def _synth():
    """bench/synth_city.py, imported by path (bench/ is not on sys.path, see the top of the file)."""
    import importlib.util

    if "synth_city" in sys.modules:
        return sys.modules["synth_city"]
    spec = importlib.util.spec_from_file_location("synth_city", Path(_BENCH) / "synth_city.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["synth_city"] = mod
    spec.loader.exec_module(mod)
    return mod


def _parse_size(s: str) -> int:
    s = s.strip().lower().replace("_", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(s[-1:], 1)
    return int(float(s[:-1] if mult > 1 else s) * mult)


def _size_label(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def _cpu_now() -> float:
    """CPU seconds of this process plus its finished children (quackosm runs DuckDB in a child process)."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


class _Timer:
    """Wall and CPU seconds of a block, stored into ``res[key]`` and ``res['cpu'][key]``."""

    def __init__(self, res: dict, key: str) -> None:
        self.res, self.key = res, key

    def __enter__(self) -> None:
        self.w, self.c = time.perf_counter(), _cpu_now()

    def __exit__(self, *exc) -> None:
        self.res[self.key] = time.perf_counter() - self.w
        self.res.setdefault("cpu", {})[self.key] = _cpu_now() - self.c


# --------------------------------------------------------------------------- parts (run in subprocesses)
def part_ours(a: argparse.Namespace, out: Path) -> None:
    """Our reader on one file (optionally with a study area)."""
    _use_repo()
    res: dict = {}
    with _Timer(res, "t_import"):
        import shapely

        from toolkit.osm_network import read_walk_network
    res["rss_after_imports_mb"] = _rss_mb()
    area = shapely.box(*a.area_bbox) if a.area_bbox else None
    _emit(out, res)
    with _Timer(res, "t"):
        net = read_walk_network(a.file, CRS, area=area)
    res["peak_timed_mb"] = _rss_mb()
    res.update(nodes=int(net.n_nodes), edges=int(net.n_edges), length_km=float(net.length.sum()) / 1000,
               removed=net.info.get("removed_not_walkable"), components=net.info.get("components"))
    res["done"] = True
    _emit(out, res)


def _osmnx_walk_check(G) -> dict:
    """osmnx's simplified graph as the walking network: drop the edges we do not walk, simplify again, dedupe."""
    import osmnx as ox

    def values(v) -> list[str]:
        if v is None:
            return []
        if isinstance(v, list | tuple | set):
            return [x for item in v for x in values(item)]
        return [str(v)]

    drop = []
    for u, v, k, d in G.edges(keys=True, data=True):
        hw = values(d.get("highway"))
        # graph_from_xml keeps every way of the file: the buildings and the river too
        if not hw or all(h in NOT_WALKED for h in hw) or "no" in values(d.get("foot")):
            drop.append((u, v, k))
    G.remove_edges_from(drop)
    G.remove_nodes_from([n for n, deg in list(G.degree()) if deg == 0])
    # simplifying again merges list-valued attributes of the first pass, which osmnx puts in a set:
    # make them hashable (a sorted tuple of the distinct values) first
    for _, _, d in G.edges(data=True):
        for k, v in d.items():
            if isinstance(v, list):
                d[k] = tuple(sorted(set(values(v))))
    G.graph["simplified"] = False  # removing edges leaves degree-2 nodes: merge them as a walk graph would
    G = ox.simplify_graph(G)
    seen = set()
    total = projected = 0.0
    xy = {n: (d["x"], d["y"]) for n, d in G.nodes(data=True)}
    for u, v, d in G.edges(data=True):
        osmid = ",".join(sorted(values(d.get("osmid"))))
        key = (min(u, v), max(u, v), osmid, round(float(d["length"]), 1))
        if key not in seen:
            seen.add(key)
            total += float(d["length"])
            # the projected line (a straight segment where osmnx keeps no geometry), as ours is measured
            g = d.get("geometry")
            projected += g.length if g is not None else math.dist(xy[u], xy[v])
    used = {n for key in seen for n in key[:2]}
    return {"walk_nodes": len(used), "walk_edges": len(seen), "walk_length_km": projected / 1000,
            "walk_length_gc_km": total / 1000, "dropped_directed_edges": len(drop)}


def part_osmnx(a: argparse.Namespace, out: Path) -> None:
    """osmnx: graph_from_xml + simplify_graph + project_graph, then (untimed) the same-network check."""
    res: dict = {}
    with _Timer(res, "t_import"):
        import osmnx as ox
    res["osmnx"] = ox.__version__
    tags = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = tags + [t for t in OSMNX_EXTRA_TAGS if t not in tags]
    res["rss_after_imports_mb"] = _rss_mb()
    _emit(out, res)
    with _Timer(res, "t"):
        with _Timer(res, "t_parse"):
            G = ox.graph_from_xml(a.file, bidirectional=True, simplify=False, retain_all=True)
        _emit(out, res)
        with _Timer(res, "t_simplify"):
            G = ox.simplify_graph(G)
        with _Timer(res, "t_project"):
            G = ox.project_graph(G, to_crs=CRS)
    res["peak_timed_mb"] = _rss_mb()
    res.update(nodes=G.number_of_nodes(), edges=G.number_of_edges())
    _emit(out, res)
    res.update(_osmnx_walk_check(G))
    res["done"] = True
    _emit(out, res)


def part_pyrosm(a: argparse.Namespace, out: Path) -> None:
    """pyrosm: OSM(pbf).get_network('walking', nodes=True) + to_crs (in its own venv)."""
    res: dict = {}
    with _Timer(res, "t_import"):
        import pyrosm
    res["version"] = getattr(pyrosm, "__version__", "?")
    res["rss_after_imports_mb"] = _rss_mb()
    _emit(out, res)
    with _Timer(res, "t"):
        osm = pyrosm.OSM(a.file)
        nodes, edges = osm.get_network(network_type="walking", nodes=True)
        nodes, edges = nodes.to_crs(CRS), edges.to_crs(CRS)
    res["peak_timed_mb"] = _rss_mb()
    res.update(nodes=len(nodes), edges=len(edges), length_km=float(edges.geometry.length.sum()) / 1000,
               what="way segments, not simplified")
    res["done"] = True
    _emit(out, res)


def part_quackosm(a: argparse.Namespace, out: Path) -> None:
    """quackosm: convert_pbf_to_geodataframe(highway) + to_crs (in its own venv)."""
    res: dict = {}
    with _Timer(res, "t_import"):
        import duckdb

        try:  # DuckDB's spatial extension from PyPI (duckdb-ext-spatial): no download at run time
            import duckdb_ext

            extdir = os.path.join(next(iter(duckdb_ext.__path__)), "extensions")
            connect = duckdb.connect

            def _connect(*args, config=None, **kw):
                config = dict(config or {})
                config.setdefault("extension_directory", extdir)
                return connect(*args, config=config, **kw)

            duckdb.connect = _connect
            res["extension_directory"] = extdir
        except ImportError:
            pass
        import quackosm
    res["version"] = getattr(quackosm, "__version__", "?")
    res["rss_after_imports_mb"] = _rss_mb()
    _emit(out, res)
    work = Path(a.work_dir) / "quackosm"
    shutil.rmtree(work, ignore_errors=True)  # its result cache lives here: start empty
    with _Timer(res, "t"):
        gdf = quackosm.convert_pbf_to_geodataframe(a.file, tags_filter={"highway": True}, working_directory=work,
                                                   verbosity_mode="silent")
        gdf = gdf.to_crs(CRS)
    res["peak_timed_mb"] = _rss_mb()
    res.update(ways=len(gdf), length_km=float(gdf.geometry.length.sum()) / 1000, what="highway ways as lines")
    shutil.rmtree(work, ignore_errors=True)
    res["done"] = True
    _emit(out, res)


def part_study(a: argparse.Namespace, out: Path) -> None:
    """The default study end to end: run_study(load_study('xuhui'))."""
    _use_repo()
    res: dict = {}
    with _Timer(res, "t_import"):
        import importlib

        import toolkit as tk

        # the toolkit imports most of its modules lazily: import them here, so that the "call"
        # figures are the study's work alone, as osmnx's are its ingest without `import osmnx`
        for mod in ("study", "osm_network", "network", "blocks", "coverage", "snapping", "heritage", "waterfront",
                    "walkability", "decisions", "facilities", "population"):
            try:
                importlib.import_module(f"toolkit.{mod}")
            except ImportError:
                pass
    _emit(out, res)
    with _Timer(res, "t"):
        study = tk.load_study("xuhui")
        r = tk.run_study(study)
    res["network_file"] = str(study.network.resolve()) if study.network is not None else None
    res["timings"] = dict(r.timings)
    res["nodes"], res["edges"] = r.details["network"]["nodes"], r.details["network"]["edges"]
    res["blocks"] = len(r.blocks)
    res["peak_timed_mb"] = _rss_mb()
    res["done"] = True
    _emit(out, res)


def part_osmnx_bare(a: argparse.Namespace, out: Path) -> None:
    """osmnx's bare ingest: graph_from_xml(path, simplify=True) + project_graph(to_crs=EPSG:32651)."""
    res: dict = {}
    with _Timer(res, "t_import"):
        import osmnx as ox
    res["osmnx"] = ox.__version__
    _emit(out, res)
    with _Timer(res, "t"):
        G = ox.graph_from_xml(a.file, simplify=True)
        G = ox.project_graph(G, to_crs=CRS)
    res["nodes"], res["edges"] = G.number_of_nodes(), G.number_of_edges()
    res["peak_timed_mb"] = _rss_mb()
    res["done"] = True
    _emit(out, res)


PARTS = {"ours": part_ours, "osmnx": part_osmnx, "pyrosm": part_pyrosm, "quackosm": part_quackosm,
         "study": part_study, "osmnx_bare": part_osmnx_bare}


# --------------------------------------------------------------------------- peers' venvs
def ensure_peer(name: str, root: Path, timeout: float = 900.0) -> tuple[str | None, str]:
    """The Python of ``name``'s throwaway venv (created and pip-installed on first use), or None and why not."""
    venv = root / name
    py = venv / "bin" / "python"
    stamp = venv / ".bench_ok"
    log = root / f"{name}_install.log"
    want = " ".join(PEER_PACKAGES[name])
    if not (stamp.exists() and stamp.read_text() == want and py.exists()):
        print(f"  installing {name} into {venv} (pip install {want}) ...", end="", flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        base = getattr(sys, "_base_executable", sys.executable)
        try:
            with open(log, "w") as lf:
                subprocess.run([base, "-m", "venv", str(venv)], check=True, stdout=lf, stderr=subprocess.STDOUT,
                               timeout=120)
                subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], stdout=lf,
                               stderr=subprocess.STDOUT, timeout=timeout)
                subprocess.run([str(py), "-m", "pip", "install", *PEER_PACKAGES[name]], check=True, stdout=lf,
                               stderr=subprocess.STDOUT, timeout=timeout)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            print(" FAILED", flush=True)
            return None, f"pip install failed ({type(exc).__name__}): " + " | ".join(tail)[-300:]
        print(f" done in {time.perf_counter() - t:.0f} s", flush=True)
        stamp.write_text(want)
    r = subprocess.run([str(py), "-c", PEER_IMPORT[name]], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        tail = r.stderr.strip().splitlines()[-1:] if r.stderr.strip() else [f"exit {r.returncode}"]
        return None, f"installed but does not import: {tail[0][-300:]}"
    return str(py), "ok"


# --------------------------------------------------------------------------- orchestration
def run_part(a: argparse.Namespace, work: Path, tag: str, part: str, file: Path | str, python: str | None = None,
             area_bbox: tuple | None = None, timeout: float | None = None, mem_gb: float = 0.0,
             label: str = "", best_by: str = "t") -> dict:
    """Run one part in fresh subprocesses: once, or best of ``--repeat`` when one run is short.

    A part whose first run took under ``--repeat-under`` seconds (the whole process) runs
    ``--repeat`` times in all, whatever the tool, and the run with the least wall time of the timed
    call (``best_by``) is kept (``runs`` says how many there were): on a shared machine a sub-second or few-second
    figure is otherwise mostly noise. Longer parts run once.
    """
    res = _run_once(a, work, tag, part, file, python, area_bbox, timeout, mem_gb, label)
    runs = [res]
    if not res["failed"] and res["process_wall_s"] < a.repeat_under:
        for i in range(1, a.repeat):
            r = _run_once(a, work, tag, part, file, python, area_bbox, timeout, mem_gb, f"  run {i + 1}")
            if r["failed"]:
                break
            runs.append(r)
    best = min(runs, key=lambda r: r.get(best_by, math.inf))
    best["runs"] = len(runs)
    if len(runs) > 1:
        best["t_all"] = [r["t"] for r in runs]
    return best


def _run_once(a: argparse.Namespace, work: Path, tag: str, part: str, file: Path | str, python: str | None,
              area_bbox: tuple | None, timeout: float | None, mem_gb: float, label: str) -> dict:
    """Run one part once in a fresh subprocess; its results plus its whole-process peak RSS and CPU."""
    out = work / f"{tag}_{part}.json"
    log = work / f"{tag}_{part}.log"
    cmd = [python or sys.executable, str(Path(__file__).resolve()), "--part", part, "--file", str(file),
           "--out", str(out), "--work-dir", str(work)]
    if area_bbox:
        cmd += ["--area-bbox", ",".join(repr(float(v)) for v in area_bbox)]

    def limit() -> None:
        if mem_gb and mem_gb > 0:
            lim = int(mem_gb * 1024**3)
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))

    print(f"  [{tag}] {label or part:<44} ...", end="", flush=True)
    t0 = time.perf_counter()
    timed_out = False
    env = dict(os.environ)
    if not tag.startswith("district"):
        # our reader caches each file's way table: every other case measures a cold parse
        env["TOOLKIT_CACHE"] = tempfile.mkdtemp(prefix="cold-cache-", dir=work)
    with open(log, "w") as lf:
        proc = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, preexec_fn=limit, env=env)
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout and time.perf_counter() - t0 > timeout:
                proc.kill()
                pid, status, ru = os.wait4(proc.pid, 0)
                timed_out = True
                break
            time.sleep(0.05)
    wall = time.perf_counter() - t0
    res = json.loads(out.read_text()) if out.exists() else {}
    res.setdefault("cpu", {})
    res.update(process_wall_s=wall, peak_rss_mb=ru.ru_maxrss / 1024.0, process_cpu_s=ru.ru_utime + ru.ru_stime,
               timed_out=timed_out, returncode=os.waitstatus_to_exitcode(status), file=str(file))
    res["failed"] = timed_out or res["returncode"] != 0 or not res.get("done")
    text = log.read_text(errors="replace")
    if timed_out:
        res["error"] = f"killed at the {timeout:.0f} s time limit"
    elif res["failed"]:
        tail = [ln for ln in text.strip().splitlines() if ln.strip()][-12:]
        res["error"] = tail[-1][-200:] if tail else f"exit code {res['returncode']}"
        if "MemoryError" in text or "std::bad_alloc" in text:
            res["error"] = f"out of memory at the {mem_gb:g} GB limit: " + res["error"]
    if res["failed"]:
        print(f" FAILED after {wall:.1f} s: {res['error']}", flush=True)
    else:
        print(f" {res['t']:8.2f} s (CPU {res['cpu']['t']:7.2f} s; process {wall:6.1f} s), "
              f"peak RSS {res['peak_rss_mb']:7,.0f} MB", flush=True)
    return res


def _bbox_from(meta_bounds) -> tuple:
    return tuple(float(v) for v in meta_bounds)


def case_cities(a: argparse.Namespace, work: Path, peer_py: dict[str, str | None]) -> list[dict]:
    sc = _synth()
    out = []
    for n in a.sizes:
        label = _size_label(n)
        print(f"\n[cities] synthetic city {label} (target {n:,} nodes, seed {a.seed})", flush=True)
        meta = sc.cached_city(n, a.seed, log=lambda s: print(s, flush=True))
        osm, pbf = Path(meta["osm"]), Path(meta["pbf"])
        print(f"  {meta['nodes']:,} nodes, {meta['ways']:,} ways, {meta['side']} x {meta['side']} crossings; "
              f".osm {osm.stat().st_size / 2**20:,.0f} MB, .osm.pbf {pbf.stat().st_size / 2**20:,.1f} MB "
              f"(cached in {osm.parent})", flush=True)
        r = {"n": n, "label": label, "meta": meta, "osm_mb": osm.stat().st_size / 2**20,
             "pbf_mb": pbf.stat().st_size / 2**20}
        r["ours_pbf"] = run_part(a, work, f"{label}_pbf", "ours", pbf, label="ours  read_walk_network(.osm.pbf)")
        r["ours_osm"] = run_part(a, work, f"{label}_osm", "ours", osm, label="ours  read_walk_network(.osm)")
        if "osmnx" in a.peers:
            r["osmnx"] = run_part(a, work, label, "osmnx", osm, timeout=a.peer_timeout, mem_gb=a.peer_mem_gb,
                                  label="osmnx graph_from_xml+simplify+project (.osm)")
        for peer in ("pyrosm", "quackosm"):
            if peer not in a.peers:
                continue
            if peer_py.get(peer) is None:
                r[peer] = {"skipped": peer_py.get(f"{peer}_why", "not installed")}
                continue
            r[peer] = run_part(a, work, label, peer, pbf, python=peer_py[peer], timeout=a.peer_timeout,
                               mem_gb=a.peer_mem_gb if peer != "quackosm" else 0.0,
                               label=f"{peer} (.osm.pbf)")
        out.append(r)
    return out


def case_district(a: argparse.Namespace, work: Path) -> dict:
    sc = _synth()
    n = a.district_city
    print(f"\n[district] about {a.district_nodes:,} nodes around the centre of the {_size_label(n)} city", flush=True)
    meta = sc.cached_city(n, a.seed, district_nodes=a.district_nodes, log=lambda s: print(s, flush=True))
    d = meta["district"]
    bbox = _bbox_from(d["bbox"])
    print(f"  district box {bbox}: {d['nodes_in_bbox']:,} nodes inside; its own file holds {d['file_nodes']:,} "
          f"nodes in {d['file_ways']:,} complete ways", flush=True)
    r = {"n": n, "meta": meta, "bbox": bbox}
    # The reader keeps each file's way table in the user cache (toolkit.osm_network.way_table):
    # a fresh cache here, so the first run of each file pays for parsing it and the table shows both.
    cache = work / "way-index-cache"
    shutil.rmtree(cache, ignore_errors=True)
    os.environ["TOOLKIT_CACHE"] = str(cache)
    for fmt, key in (("pbf", ".osm.pbf"), ("osm", ".osm")):
        r[f"city_{fmt}"] = run_part(a, work, f"district_city_{fmt}", "ours", meta[fmt], area_bbox=bbox,
                                    label=f"ours  city-wide {key} + area")
        r[f"own_{fmt}"] = run_part(a, work, f"district_own_{fmt}", "ours", d[fmt], area_bbox=bbox,
                                   label=f"ours  district's own {key} + area")
    return r


def case_default(a: argparse.Namespace, work: Path) -> dict:
    print("\n[default] end-to-end default study vs osmnx's bare ingest of its own file (CPU time)", flush=True)
    r = {"study": run_part(a, work, "default", "study", a.xuhui_osm, label="run_study(load_study('xuhui'))",
                           best_by="process_cpu_s")}
    if r["study"].get("network_file") and Path(r["study"]["network_file"]) != Path(a.xuhui_osm):
        print(f"  note: the study's network file is {r['study']['network_file']}, not {a.xuhui_osm}", flush=True)
    r["osmnx"] = run_part(a, work, "default", "osmnx_bare", a.xuhui_osm, timeout=a.peer_timeout,
                          mem_gb=a.peer_mem_gb, label="osmnx graph_from_xml(simplify=True)+project",
                          best_by="process_cpu_s")
    return r


# --------------------------------------------------------------------------- report
def _f(v, nd: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:,.{nd}f}"


def _ratio(num: dict, den: dict, key: str = "t", cpu: bool = False) -> float | None:
    try:
        if num.get("failed") or den.get("failed") or "skipped" in num:
            return None
        a = num["cpu"][key] if cpu else num[key]
        b = den["cpu"][key] if cpu else den[key]
        return a / b if b > 0 else None
    except (KeyError, TypeError):
        return None


def _rx(v: float | None) -> str:
    return "n/a" if v is None else (f"{v:.2f}x" if v < 10 else f"{v:.1f}x" if v < 100 else f"{v:,.0f}x")


def _rel(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{(a - b) / b:+.2%}"


def report_cities(results: list[dict]) -> None:
    w = 155
    print("\n" + "=" * w)
    print("CITIES: the network step, file -> walking network. wall / CPU: the timed call alone; process: the whole "
          "child (start + imports); peak: the child's max RSS.")
    print("ratio: the peer's time / ours on the same file (osmnx: vs ours on the .osm; pyrosm, quackosm: vs ours on "
          "the .osm.pbf); higher = ours faster.")
    print("=" * w)
    head = (f"{'city':<6}{'tool':<10}{'file':<10}{'what is timed':<46}{'wall s':>9}{'CPU s':>9}{'process s':>11}"
            f"{'peak MB':>9}{'nodes':>11}{'edges':>11}{'km':>9}{'ratio wall':>11}{'ratio CPU':>10}{'runs':>5}")
    print(head)
    print("-" * w)
    what = {"ours_pbf": ("ours", ".osm.pbf", "read_walk_network(file, EPSG:32651)"),
            "ours_osm": ("ours", ".osm", "read_walk_network(file, EPSG:32651)"),
            "osmnx": ("osmnx", ".osm", "graph_from_xml + simplify_graph + project_graph"),
            "pyrosm": ("pyrosm", ".osm.pbf", "OSM().get_network('walking') + to_crs"),
            "quackosm": ("quackosm", ".osm.pbf", "convert_pbf_to_geodataframe(highway) + to_crs")}
    den = {"ours_pbf": None, "ours_osm": None, "osmnx": "ours_osm", "pyrosm": "ours_pbf", "quackosm": "ours_pbf"}
    for r in results:
        for key, (tool, fmt, desc) in what.items():
            if key not in r:
                continue
            p = r[key]
            if "skipped" in p:
                print(f"{r['label']:<6}{tool:<10}{fmt:<10}skipped: {p['skipped']}"[:w])
                continue
            if p.get("failed"):
                print(f"{r['label']:<6}{tool:<10}{fmt:<10}{desc:<46}FAILED: {p.get('error', '')}"[:w])
                continue
            nodes = p.get("nodes")
            edges = p.get("edges", p.get("ways"))
            rw = _ratio(p, r[den[key]]) if den[key] and den[key] in r else None
            rc = _ratio(p, r[den[key]], cpu=True) if den[key] and den[key] in r else None
            print(f"{r['label']:<6}{tool:<10}{fmt:<10}{desc:<46}{_f(p['t']):>9}{_f(p['cpu']['t']):>9}"
                  f"{_f(p['process_wall_s'], 1):>11}{_f(p['peak_rss_mb'], 0):>9}"
                  f"{'-' if nodes is None else f'{nodes:,}':>11}{'-' if edges is None else f'{edges:,}':>11}"
                  f"{_f(p.get('length_km'), 1):>9}{_rx(rw) if rw else '':>11}{_rx(rc) if rc else '':>10}"
                  f"{p.get('runs', 1):>5}")
        if "osmnx" in r and not r["osmnx"].get("failed"):
            print(f"{'':<6}{'':<10}{'':<10}{'  osmnx vs ours on the .osm.pbf (same city)':<46}{'':>9}{'':>9}{'':>11}"
                  f"{'':>9}{'':>11}{'':>11}{'':>9}{_rx(_ratio(r['osmnx'], r['ours_pbf'])):>11}"
                  f"{_rx(_ratio(r['osmnx'], r['ours_pbf'], cpu=True)):>10}")
            o = r["osmnx"]
            print(f"{'':<26}  osmnx stages: parse {_f(o.get('t_parse'))} s, simplify {_f(o.get('t_simplify'))} s, "
                  f"project {_f(o.get('t_project'))} s; its graph: {o['nodes']:,} nodes, {o['edges']:,} directed "
                  "edges")
        for k in ("pyrosm", "quackosm"):
            if k in r and not r[k].get("failed") and "skipped" not in r[k]:
                print(f"{'':<26}  {k}: {r[k].get('what')} (version {r[k].get('version')})")
        print("-" * w)
    # same network
    print("\nSAME NETWORK: ours vs osmnx's simplified graph without the edges we do not walk (motorway, motorway_link, "
          "foot=no, no highway tag), simplified again, each segment once")
    print(f"{'city':<6}{'':<30}{'nodes':>11}{'edges':>11}{'length km':>13}")
    for r in results:
        o = r.get("osmnx")
        if not o or o.get("failed") or "walk_nodes" not in o:
            continue
        for name, p in (("ours (.osm.pbf)", r["ours_pbf"]), ("ours (.osm)", r["ours_osm"])):
            if p.get("failed"):
                continue
            print(f"{r['label']:<6}{name:<30}{p['nodes']:>11,}{p['edges']:>11,}{p['length_km']:>13,.2f}")
        print(f"{r['label']:<6}{'osmnx, walkable + deduped':<30}{o['walk_nodes']:>11,}{o['walk_edges']:>11,}"
              f"{o['walk_length_km']:>13,.2f}   (its great-circle 'length': {o['walk_length_gc_km']:,.2f} km)")
        p = r["ours_pbf"]
        if not p.get("failed"):
            print(f"{r['label']:<6}{'relative difference':<30}{_rel(p['nodes'], o['walk_nodes']):>11}"
                  f"{_rel(p['edges'], o['walk_edges']):>11}{_rel(p['length_km'], o['walk_length_km']):>13}"
                  "   (lengths of the lines in EPSG:32651)")
        if not p.get("failed") and not r["ours_osm"].get("failed"):
            q = r["ours_osm"]
            same = (p["nodes"], p["edges"], round(p["length_km"], 6)) == (q["nodes"], q["edges"],
                                                                         round(q["length_km"], 6))
            print(f"{r['label']:<6}ours .osm.pbf vs .osm: {'identical counts and length' if same else 'DIFFER'}")


def report_district(r: dict) -> None:
    print("\n" + "=" * 110)
    print(f"DISTRICT: ours, {r['meta']['district']['nodes_in_bbox']:,} nodes in the box, cut from the "
          f"{_size_label(r['n'])} city; area = the district's box in both")
    print("=" * 110)
    print(f"{'file':<34}{'wall s':>9}{'CPU s':>9}{'process s':>11}{'peak MB':>9}{'nodes':>9}{'edges':>9}"
          f"{'km':>9}{'city/own':>14}{'runs':>6}")
    for fmt in ("pbf", "osm"):
        for which in ("own", "city"):
            p = r[f"{which}_{fmt}"]
            name = f"{'district own' if which == 'own' else 'city-wide'} .osm{'.pbf' if fmt == 'pbf' else ''}"
            name += f" ({Path(p['file']).stat().st_size / 2**20:,.1f} MB)"
            if p.get("failed"):
                print(f"{name:<34}FAILED: {p.get('error')}")
                continue
            ratio = ""
            if which == "city":
                rw, rc = _ratio(p, r[f"own_{fmt}"]), _ratio(p, r[f"own_{fmt}"], cpu=True)
                ratio = f"{_rx(rw)} | {_rx(rc)}"
            print(f"{name:<34}{_f(p['t']):>9}{_f(p['cpu']['t']):>9}{_f(p['process_wall_s'], 1):>11}"
                  f"{_f(p['peak_rss_mb'], 0):>9}{p['nodes']:>9,}{p['edges']:>9,}{p['length_km']:>9,.1f}{ratio:>14}"
                  f"{p.get('runs', 1):>6}")
    for fmt in ("pbf", "osm"):
        p = r[f"city_{fmt}"]
        if not p.get("failed") and len(p.get("t_all", [])) > 1:
            print(f"city-wide .osm{'.pbf' if fmt == 'pbf' else ''}: first run {_f(p['t_all'][0])} s (parses the "
                  f"whole file into the cached way table), later runs {_f(min(p['t_all'][1:]))} s; the table keeps "
                  "the best")
    a, b = r["city_pbf"], r["own_pbf"]
    if not a.get("failed") and not b.get("failed"):
        same = (a["nodes"], a["edges"], round(a["length_km"], 6)) == (b["nodes"], b["edges"], round(b["length_km"], 6))
        print(f"same network from both files: {'yes' if same else 'NO'} (city/own ratio: wall | CPU)")


def report_default(r: dict) -> None:
    s, o = r["study"], r["osmnx"]
    print("\n" + "=" * 133)
    print("DEFAULT STUDY: CPU seconds, user + sys of each child process (interpreter start and imports included); "
          "'call' = the timed call alone")
    print("=" * 133)
    print(f"{'measured':<86}{'process CPU s':>14}{'call CPU s':>12}{'call wall s':>12}{'peak MB':>9}{'runs':>6}")
    rows = (("(a) toolkit.run_study(toolkit.load_study('xuhui'))", s),
            (f"(b) osmnx graph_from_xml({Path(o['file']).name}, simplify=True) + project_graph(EPSG:32651)", o))
    for name, p in rows:
        if p.get("failed"):
            print(f"{name:<86}FAILED: {p.get('error')}")
            continue
        print(f"{name:<86}{p['process_cpu_s']:>14.2f}{p['cpu']['t']:>12.2f}{p['t']:>12.2f}{p['peak_rss_mb']:>9,.0f}"
              f"{p.get('runs', 1):>6}")
    if not s.get("failed"):
        tm = s.get("timings", {})
        top = sorted(tm.items(), key=lambda kv: -kv[1])[:6]
        print(f"  (a): {s['nodes']:,} nodes, {s['edges']:,} edges, {s['blocks']:,} blocks; run_study steps (wall s): "
              + ", ".join(f"{k} {v:.2f}" for k, v in top))
    if not o.get("failed"):
        print(f"  (b): osmnx {o.get('osmnx')}: {o['nodes']:,} nodes, {o['edges']:,} directed edges")
    if not s.get("failed") and not o.get("failed"):
        print(f"  ratio (a)/(b): process CPU {s['process_cpu_s'] / o['process_cpu_s']:.2f}x, "
              f"call CPU {s['cpu']['t'] / o['cpu']['t']:.2f}x, call wall {s['t'] / o['t']:.2f}x")


def targets(a: argparse.Namespace, cities: list[dict] | None, district: dict | None, default: dict | None) -> None:
    print("\nTARGETS (printed, not asserted)")

    def say(name: str, ok: bool | None, detail: str) -> None:
        verdict = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        print(f"  [{verdict:>4}] {name}: {detail}")

    big = [r for r in (cities or []) if r["meta"]["nodes"] >= 1_000_000]
    if cities is not None:
        if not big:
            say(f"1M nodes from .osm.pbf in under {T_PBF_S:g} s and under {T_PBF_GB:g} GB", None,
                "no city of 1M nodes in this run (--sizes)")
        for r in big:
            p = r["ours_pbf"]
            if p.get("failed"):
                say(f"{r['label']} nodes from .osm.pbf under {T_PBF_S:g} s / {T_PBF_GB:g} GB", False, "our run failed")
            else:
                gb = p["peak_rss_mb"] / 1024
                say(f"{r['label']} nodes from .osm.pbf under {T_PBF_S:g} s and {T_PBF_GB:g} GB",
                    p["t"] < T_PBF_S and gb < T_PBF_GB,
                    f"{p['t']:.2f} s wall (CPU {p['cpu']['t']:.2f} s; whole process {p['process_wall_s']:.1f} s), "
                    f"peak {gb:.2f} GB")
        for r in cities:
            if "osmnx" not in r:
                continue
            rw = _ratio(r["osmnx"], r["ours_osm"])
            rc = _ratio(r["osmnx"], r["ours_osm"], cpu=True)
            if rw is None:
                say(f"at least {T_OSMNX_X:g}x faster than osmnx on the same file [{r['label']}]", None,
                    "a run failed")
                continue
            rp = _ratio(r["osmnx"], r["ours_pbf"])
            say(f"at least {T_OSMNX_X:g}x faster than osmnx on the same file (.osm) [{r['label']}]",
                rw >= T_OSMNX_X and rc >= T_OSMNX_X,
                f"{_rx(rw)} wall, {_rx(rc)} CPU (and {_rx(rp)} wall against ours on the .osm.pbf of the same city)")
    if district is not None:
        for fmt in ("pbf", "osm"):
            rw, rc = _ratio(district[f"city_{fmt}"], district[f"own_{fmt}"]), _ratio(
                district[f"city_{fmt}"], district[f"own_{fmt}"], cpu=True)
            say(f"district from the city-wide file within {T_DISTRICT_X:g}x of its own small file (.osm"
                f"{'.pbf' if fmt == 'pbf' else ''}, {_size_label(district['n'])} city)",
                None if rw is None else (rw <= T_DISTRICT_X and rc <= T_DISTRICT_X),
                "a run failed" if rw is None else f"{_rx(rw)} wall, {_rx(rc)} CPU")
    if default is not None:
        s, o = default["study"], default["osmnx"]
        if s.get("failed") or o.get("failed"):
            say(f"end-to-end default study <= {T_DEFAULT_X:g}x osmnx's bare ingest (CPU)", None, "a run failed")
        else:
            r = s["process_cpu_s"] / o["process_cpu_s"]
            say(f"end-to-end default study <= {T_DEFAULT_X:g}x osmnx's bare ingest of its file (process CPU)",
                r <= T_DEFAULT_X, f"{r:.2f}x ({s['process_cpu_s']:.1f} s vs {o['process_cpu_s']:.1f} s, "
                "interpreter start and imports included)")
            rc = s["cpu"]["t"] / o["cpu"]["t"]
            say("  same, on the CPU of the calls alone (imports excluded)", rc <= T_DEFAULT_X,
                f"{rc:.2f}x ({s['cpu']['t']:.1f} s vs {o['cpu']['t']:.1f} s)")


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=CASES, action="append",
                    help="run only this case (repeatable; default: cities, district and default)")
    ap.add_argument("--sizes", default="100k,1M", help="city sizes in nodes, comma-separated (default 100k,1M)")
    ap.add_argument("--peers", default=",".join(PEERS), help=f"peers to run (default {','.join(PEERS)})")
    ap.add_argument("--skip-peers", action="store_true", help="only our reader (the default case still runs osmnx)")
    ap.add_argument("--district-city", default="1M", help="city the district is cut from (default 1M)")
    ap.add_argument("--district-nodes", type=_parse_size, default=50_000,
                    help="nodes in the district's box (default 50k)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each short part (any tool), keeping the fastest (default 3)")
    ap.add_argument("--repeat-under", type=float, default=60.0,
                    help="a part is short when its first whole run took under this many seconds (default 60)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--xuhui-osm", type=Path, default=XUHUI_OSM, help="the default study's OSM file (for osmnx)")
    ap.add_argument("--peer-timeout", type=float, default=1800.0,
                    help="wall-clock limit per peer run in seconds (default 1800)")
    ap.add_argument("--peer-mem-gb", type=float, default=16.0,
                    help="address-space limit of osmnx and pyrosm runs in GB (default 16; 0 = none)")
    ap.add_argument("--peer-venvs", type=Path, default=Path(tempfile.gettempdir()) / "toolkit_bench_peers",
                    help="where the throwaway venvs of pyrosm and quackosm live (default /tmp/toolkit_bench_peers)")
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="generated cities (default $TOOLKIT_BENCH_CACHE or /tmp/toolkit_bench_cache)")
    ap.add_argument("--keep-work", action="store_true", help="keep the scratch directory (logs, JSON)")
    # internal: run one part in this process
    ap.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--work-dir", help=argparse.SUPPRESS)
    ap.add_argument("--area-bbox", type=lambda s: tuple(float(v) for v in s.split(",")), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.part:
        PARTS[a.part](a, a.out)
        return

    a.sizes = [_parse_size(s) for s in a.sizes.split(",") if s.strip()]
    a.district_city = _parse_size(a.district_city)
    a.peers = [] if a.skip_peers else [p for p in a.peers.split(",") if p]
    if set(a.peers) - set(PEERS):
        ap.error(f"--peers takes {', '.join(PEERS)}")
    if a.cache_dir:
        os.environ["TOOLKIT_BENCH_CACHE"] = str(a.cache_dir)
    cases = a.only or list(CASES)
    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    load = os.getloadavg()
    print(f"bench/ingest.py: cases={','.join(cases)} sizes={','.join(_size_label(n) for n in a.sizes)} "
          f"peers={','.join(a.peers) or '-'} district={_size_label(a.district_nodes)} of the "
          f"{_size_label(a.district_city)} city; cpus={os.cpu_count()} python {sys.version.split()[0]}; "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; scratch {work}", flush=True)
    peer_py: dict[str, str | None] = {}
    if "cities" in cases:
        for peer in ("pyrosm", "quackosm"):
            if peer in a.peers:
                py, why = ensure_peer(peer, a.peer_venvs)
                peer_py[peer], peer_py[f"{peer}_why"] = py, why
                print(f"  peer {peer}: {'ready, ' + py if py else 'LEFT OUT: ' + why}", flush=True)
    cities = district = default = None
    try:
        if "cities" in cases:
            cities = case_cities(a, work, peer_py)
        if "district" in cases:
            district = case_district(a, work)
        if "default" in cases:
            default = case_default(a, work)
        if cities:
            report_cities(cities)
        if district:
            report_district(district)
        if default:
            report_default(default)
        targets(a, cities, district, default)
    finally:
        if a.keep_work:
            print(f"scratch directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    print(f"total benchmark wall time: {time.perf_counter() - t_start:.0f} s; load average at end "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (on {os.cpu_count()} cpus)")


if __name__ == "__main__":
    main()
