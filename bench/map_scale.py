"""How the web map scales: file size, first render and browser memory of a 100,000-block synthetic study.

The synthetic study is the default study (``xuhui``) with its blocks replaced by ``--blocks`` jittered
quadrilaterals (about 45 m across, in a square lattice around the district's centre) that carry the
attribute rows of the real blocks, drawn at random: every layer, legend and popup of the real map is
built, over as many blocks as a metropolitan study. Facilities, sites and overlays stay the study's.

Printed: the default map's size, the synthetic map's size, its build time, the time from navigation to
the first drawn frame of blocks in headless Chromium (``tk.state.firstDraw``, and to the script's
wait returning), the JS heap (``performance.memory``) and the browser's total memory (the resident set
of every Chromium process, from ``/proc``), at a 1366x768 view::

    .venv/bin/python bench/map_scale.py            # 100,000 blocks
    .venv/bin/python bench/map_scale.py --blocks 20000

Targets (#13 item 4): first render under 5 s, browser memory under 600 MB, default map under 2 MB.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# run as a script, bench/ is first on the path, and bench/coverage.py would shadow the coverage package numba imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

__all__ = ["browser_metrics", "main", "synthetic_result"]

CHROMIUM = os.environ.get("TOOLKIT_CHROMIUM", "/usr/bin/chromium")


def synthetic_result(result, n_blocks: int, seed: int = 0):
    """``result`` with ``n_blocks`` synthetic blocks (jittered 45 m quadrilaterals) carrying its blocks' rows."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_blocks)))
    cx, cy = result.blocks.geometry.union_all().centroid.coords[0]
    step = 45.0
    i, j = np.divmod(np.arange(n_blocks), side)
    x0 = cx + (j - side / 2) * step
    y0 = cy + (i - side / 2) * step
    jit = rng.uniform(-6, 6, size=(n_blocks, 4, 2))
    corners = np.array([[0, 0], [step - 4, 0], [step - 4, step - 4], [0, step - 4]], dtype=float)
    xy = corners[None] + jit + np.column_stack([x0, y0])[:, None, :]
    geoms = shapely.polygons(xy)
    pick = rng.integers(0, len(result.blocks), n_blocks)
    rows = result.blocks.drop(columns=result.blocks.geometry.name).iloc[pick].reset_index(drop=True)
    rows["block_id"] = np.arange(n_blocks)
    blocks = gpd.GeoDataFrame(rows, geometry=geoms, crs=result.blocks.crs)
    area = gpd.GeoDataFrame(geometry=[shapely.box(*blocks.total_bounds)], crs=result.blocks.crs)
    layers = {k: v for k, v in result.layers.items() if not k.startswith("scenario_")}
    return dataclasses.replace(result, blocks=blocks, area=area, layers=layers, land=None)


def _memory_mb(pids: set[int]) -> dict[str, float]:
    """The processes' resident memory: ``pss`` (shared pages split between the processes sharing them,
    what they add up to) and ``rss`` (every process's resident set, shared libraries counted in each)."""
    out = {"pss": 0.0, "rss": 0.0}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    key = line.split(":")[0].lower()
                    if key in out:
                        out[key] += int(line.split()[1]) / 1024
        except OSError:
            pass
    return out


def _chromium_pids(root: int) -> set[int]:
    """``root`` and its descendants (the browser and its renderer, GPU and utility processes)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = set(), [root]
    while todo:
        p = todo.pop()
        out.add(p)
        todo += children.get(p, [])
    return out


def browser_metrics(path: Path, timeout_s: float = 120) -> dict:
    """Open ``path`` in headless Chromium (no network) at 1366x768; time and memory of the first render."""
    import uuid

    from playwright.sync_api import sync_playwright

    marker = f"--tk-bench={uuid.uuid4().hex}"  # an unknown switch Chromium ignores: finds this browser's process
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--enable-precise-memory-info", marker])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort())
        t0 = time.perf_counter()
        page.goto(path.resolve().as_uri(), wait_until="load", timeout=timeout_s * 1000)
        page.wait_for_function("window.tk && tk.state && tk.state.drawn > 0", timeout=timeout_s * 1000)
        wall = time.perf_counter() - t0
        state = page.evaluate("({first: tk.state.firstDraw, drawn: tk.state.drawn, blocks: tk.state.blocks,"
                              " heap: performance.memory.usedJSHeapSize})")
        page.wait_for_timeout(1000)
        pids: set[int] = set()
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/cmdline", "rb") as f:
                        cmd = f.read().split(b"\0")
                except OSError:
                    continue
                if marker.encode() in cmd:
                    pids |= _chromium_pids(int(d))
        mem = _memory_mb(pids)
        renderers = set()
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"--type=renderer" in f.read():  # forked processes rewrite argv as one string
                        renderers.add(pid)
            except OSError:
                pass
        page_mem = _memory_mb(renderers)
        # zoom in once (no animation): the time the page takes to redraw every block in view
        redraw = page.evaluate("() => { const m = tk.state.data.map, t = performance.now();"
                               " m.zoomIn(1, {animate: false}); return performance.now() - t; }") / 1000
        browser.close()
    return {"wall_s": wall, "first_draw_s": state["first"] / 1000, "drawn": state["drawn"], "blocks": state["blocks"],
            "heap_mb": state["heap"] / 2**20, "browser_pss_mb": mem["pss"], "browser_rss_mb": mem["rss"],
            "renderer_pss_mb": page_mem["pss"], "zoom_redraw_s": redraw}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=100_000)
    args = ap.parse_args(argv)
    import toolkit as tk
    from toolkit.outputs.webmap import coverage_map

    result = tk.run_study(tk.load_study("xuhui"))
    with tempfile.TemporaryDirectory() as tmp:
        default = Path(tmp) / "default.html"
        t = time.perf_counter()
        coverage_map(result).save(str(default))
        print(f"default map ({len(result.blocks):,} blocks): {default.stat().st_size / 2**20:.2f} MB, "
              f"built in {time.perf_counter() - t:.1f} s")
        d = browser_metrics(default)
        print(f"  first render {d['first_draw_s']:.2f} s (wait returned {d['wall_s']:.2f} s), "
              f"JS heap {d['heap_mb']:.0f} MB, page {d['renderer_pss_mb']:.0f} MB, "
              f"browser {d['browser_pss_mb']:.0f} MB "
              f"(PSS; RSS summed {d['browser_rss_mb']:.0f} MB)")
        big = synthetic_result(result, args.blocks)
        path = Path(tmp) / "synthetic.html"
        t = time.perf_counter()
        coverage_map(big).save(str(path))
        print(f"synthetic map ({len(big.blocks):,} blocks): {path.stat().st_size / 2**20:.1f} MB, "
              f"built in {time.perf_counter() - t:.1f} s")
        s = browser_metrics(path)
        print(f"  first render {s['first_draw_s']:.2f} s (wait returned {s['wall_s']:.2f} s), drawn "
              f"{s['drawn']:,} of {s['blocks']:,}; JS heap {s['heap_mb']:.0f} MB, page {s['renderer_pss_mb']:.0f} MB, "
              f"browser {s['browser_pss_mb']:.0f} MB (PSS; RSS summed {s['browser_rss_mb']:.0f} MB); "
              f"zoom-in redraw {s['zoom_redraw_s']:.2f} s")
        print(f"targets: first render < 5 s: {s['first_draw_s'] < 5}; browser < 600 MB: "
              f"{s['browser_pss_mb'] < 600}; default map < 2 MB: {default.stat().st_size < 2 * 2**20}")


if __name__ == "__main__":
    main()
