"""Site selection timing: lazy greedy vs exact MILP (HiGHS) on a synthetic city.

Blocks and candidate sites are uniform random points in a square; a site covers
a block within ``--radius`` metres Euclidean, a stand-in for network reach (the
real pipeline gets pairs from :func:`toolkit.reach.reachable_pairs`). Block
weights are log-normal populations, site costs log-normal around 1 (think
million CNY), and the budget case allows about 30 average sites.

Run: ``python bench/selection.py [--sites 1000] [--blocks 20000] [--radius 500]``
"""

from __future__ import annotations

import os as _os
import sys as _sys

# Running ``python bench/<script>.py`` puts bench/ first on sys.path, where this
# directory's ``coverage.py`` would shadow the coverage package that numba (used by
# the toolkit) imports; the scripts do not import each other, so drop the directory.
_sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or ".") != _os.path.dirname(_os.path.abspath(__file__))]

import argparse
import time

import numpy as np
from scipy.spatial import cKDTree

from toolkit.selection import CoverageProblem, compare


def synthetic(n_sites: int, n_blocks: int, radius: float, side: float, seed: int) -> CoverageProblem:
    """Random blocks and sites; pairs within ``radius`` metres."""
    rng = np.random.default_rng(seed)
    blocks = rng.uniform(0, side, (n_blocks, 2))
    sites = rng.uniform(0, side, (n_sites, 2))
    pop = np.round(rng.lognormal(mean=6.0, sigma=0.8, size=n_blocks))
    cost = np.round(rng.lognormal(mean=0.0, sigma=0.5, size=n_sites), 2)
    pairs = cKDTree(sites).sparse_distance_matrix(cKDTree(blocks), radius, output_type="ndarray")
    return CoverageProblem.from_pairs(pairs["j"], pairs["i"], pop, n_sites=n_sites, cost=cost)


def short_status(status: str) -> str:
    """Status keyword, plus a marker when a time-limited exact run fell back to the greedy plan."""
    head = status.split(":", 1)[0]
    return f"{head} (greedy kept)" if "greedy solution kept" in status else head


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=1000)
    ap.add_argument("--blocks", type=int, default=20000)
    ap.add_argument("--radius", type=float, default=500.0, help="coverage radius in metres")
    ap.add_argument("--side", type=float, default=10000.0, help="side of the square in metres")
    ap.add_argument("--ks", type=int, nargs="+", default=[10, 50, 100])
    ap.add_argument("--budget", type=float, default=30.0, help="budget case, in site-cost units (<=0 to skip)")
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds per exact solve")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    t0 = time.perf_counter()
    problem = synthetic(args.sites, args.blocks, args.radius, args.side, args.seed)
    build = time.perf_counter() - t0
    nnz = problem.pairs.nnz
    print(f"{args.sites} sites x {args.blocks} blocks, radius {args.radius:g} m in {args.side / 1000:g} km square: "
          f"{nnz} pairs ({nnz / args.blocks:.1f} sites per block), total weight {problem.total_weight:,.0f}, "
          f"built in {build:.2f} s")

    cases = [(f"k={k}", {"k": k}) for k in args.ks]
    if args.budget > 0:
        cases.append((f"budget={args.budget:g}", {"budget": args.budget}))
    head = (f"{'case':<12} {'greedy obj':>12} {'exact obj':>12} {'bound':>12} {'gap':>8} {'gap/bound':>9} "
            f"{'#g':>4} {'#e':>4} {'greedy s':>9} {'exact s':>9}  status")
    print(head)
    print("-" * len(head))
    for name, kw in cases:
        r = compare(problem, time_limit=args.time_limit, **kw)
        bound = "" if r["bound"] is None else f"{r['bound']:12,.0f}"
        print(f"{name:<12} {r['greedy_objective']:12,.0f} {r['exact_objective']:12,.0f} {bound:>12} "
              f"{r['gap']:8.3%} {r['gap_to_bound']:9.3%} {r['greedy']['n_sites']:4d} {r['exact']['n_sites']:4d} "
              f"{r['greedy_seconds']:9.3f} {r['exact_seconds']:9.2f}  {short_status(r['exact_status'])}")


if __name__ == "__main__":
    main()
