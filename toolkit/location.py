"""Full coverage and total walking: the location set covering problem (LSCP) and the p-median problem.

Beside the maximal covering problem of :mod:`toolkit.selection` (the most
demand with ``k`` hubs), two classic siting questions on the same inputs:

* **LSCP** (Toregas et al. 1971) -- the fewest sites that bring every demand
  unit, or a chosen ``share`` of the demand weight, within the threshold.
  "How many neighbourhood centres would full coverage (充分覆盖) need, and
  where?" It reads the same sparse :class:`~toolkit.selection.CoverageProblem`.
  Demand no candidate site can reach at all is *uncoverable*: it is reported
  as such and the share is taken of the coverable weight, so a unit beyond
  every site never makes the problem infeasible, silently or not.
* **p-median** (Hakimi 1964) -- ``p`` sites that minimise the weighted walk
  from every demand unit to its nearest open site, each walk capped at the
  search limit (a unit beyond it costs the limit whatever is opened). It
  reads a :class:`DistanceProblem`: the (unit, site, metres) pairs within the
  limit, e.g. :func:`toolkit.reach.reachable_pairs`.

Both have an exact solver (a MILP solved by HiGHS through
:func:`scipy.optimize.milp`, with its MIP gap and bound), a greedy heuristic
reported with its gap to the exact answer, and an exhaustive reference for
small instances (tests). ``fixed`` sites (existing facilities) are open in
every solution and are not counted as new.

:func:`full_coverage` is the study step: per hub category of ``[selection]``
and for all of them together, how many hubs full coverage needs, with and
without the existing facilities counted.

Examples
--------
>>> from toolkit.selection import CoverageProblem
>>> p = CoverageProblem.from_pairs([0, 1, 1, 2], [0, 0, 1, 1], [5.0, 1.0, 2.0], n_sites=2)
>>> solve_lscp(p).n_new
2
>>> solve_lscp(p, share=0.75).n_new
1
"""

from __future__ import annotations

import heapq
import itertools
import math
import numbers
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from .errors import InputError
from .selection import CoverageProblem

__all__ = [
    "EXHAUSTIVE_LOCATION_MAX_SITES",
    "CoverPlan",
    "DistanceProblem",
    "FullCoverageSettings",
    "MedianPlan",
    "compare_lscp",
    "compare_pmedian",
    "exhaustive_lscp",
    "exhaustive_pmedian",
    "full_coverage",
    "full_coverage_step",
    "report_sections",
    "solve_lscp",
    "solve_pmedian",
]

#: Largest number of free (not fixed) candidates the exhaustive references accept.
EXHAUSTIVE_LOCATION_MAX_SITES = 15

# A covered weight is compared with its target with this relative slack: weights are sums of floats,
# and a plan covering exactly the target must not be refused because 0.1 + 0.2 > 0.3.
_RTOL = 1e-9


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _as_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise InputError(f"{name} must be a non-negative integer, got {value!r}", field=name,
                         fix=f"pass {name} as a whole number >= 0")
    return int(value)


def _fixed_sites(fixed: Any, n_sites: int) -> np.ndarray:
    """``fixed`` as sorted unique site positions, validated."""
    if fixed is None:
        return np.zeros(0, dtype=np.int64)
    f = np.asarray(fixed).ravel()
    if f.dtype == bool:
        if len(f) != n_sites:
            raise InputError(f"a boolean fixed mask needs {n_sites} entries, got {len(f)}", field="fixed",
                             fix="pass one flag per candidate site, or the positions of the fixed sites")
        return np.flatnonzero(f).astype(np.int64)
    if len(f) and not np.issubdtype(f.dtype, np.integer):
        raise InputError(f"fixed must hold site positions (integers), got dtype {f.dtype}", field="fixed",
                         fix="pass 0-based positions of the sites to keep open, not their ids")
    if len(f) and (f.min() < 0 or f.max() >= n_sites):
        raise InputError(f"fixed site out of range [0, {n_sites}): found {f.min()}..{f.max()}", field="fixed",
                         fix="fixed sites are positions among the problem's candidate sites")
    return np.unique(f.astype(np.int64))


def _check_share(share: Any) -> float:
    # (cast: typeshed gives numbers.Real no comparison operators; a real number compares as a float)
    if isinstance(share, bool) or not isinstance(share, numbers.Real) or not 0 < cast(float, share) <= 1:
        raise InputError(f"share must be in (0, 1], got {share!r}", field="share",
                         fix="pass 1.0 for full coverage, or e.g. 0.9 for nine tenths of the coverable demand")
    return float(share)


def _check_method(method: str, allowed: Sequence[str]) -> str:
    if method not in allowed:
        raise InputError(f"unknown method {method!r}", field="method", fix=f"use one of: {', '.join(allowed)}")
    return method


# ===================================================================== LSCP
@dataclass(frozen=True, eq=False)
class CoverPlan:
    """An LSCP answer: the sites to open so that the covered share reaches the target.

    Attributes
    ----------
    sites : ndarray of int
        Every open site: the fixed ones, then the new ones (ascending for
        exact and exhaustive, in the order chosen for greedy).
    new_sites, fixed_sites : ndarray of int
        The new sites (the answer's count is ``len(new_sites)``) and the fixed ones.
    site_ids, new_site_ids : ndarray
        ``problem.site_ids`` of ``sites`` and of ``new_sites``.
    method : str
        ``"exact"``, ``"greedy"`` or ``"exhaustive"``.
    status : str
        ``optimal``, ``greedy``, ``time_limit`` or ``failed``, with an
        explanation after a colon where useful.
    share : float
        The target: the share of the coverable weight to cover.
    covered_weight : float
        Weight the open sites cover.
    coverable_weight : float
        Weight of the units some candidate site (fixed or not) covers; the
        share is of this.
    uncoverable_weight : float
        Positive weight no candidate site covers: reported, never a reason for
        infeasibility.
    uncoverable_units : int
        Units of positive weight no candidate covers.
    fixed_weight : float
        Weight the fixed sites cover on their own.
    total_weight : float
        All weight in the problem.
    covered_units : ndarray of bool
        Which units the open sites cover.
    bound : float or None
        Exact only: the proven lower bound on the number of new sites.
    gap : float or None
        Exact only: HiGHS' relative MIP gap (0 when proven optimal).
    seconds : float
        Wall time.
    """

    sites: np.ndarray
    new_sites: np.ndarray
    fixed_sites: np.ndarray
    site_ids: np.ndarray
    new_site_ids: np.ndarray
    method: str
    status: str
    share: float
    covered_weight: float
    coverable_weight: float
    uncoverable_weight: float
    uncoverable_units: int
    fixed_weight: float
    total_weight: float
    covered_units: np.ndarray
    bound: float | None = None
    gap: float | None = None
    seconds: float = 0.0

    @property
    def n_new(self) -> int:
        """Number of new sites opened (fixed ones not counted)."""
        return len(self.new_sites)

    @property
    def covered_share(self) -> float:
        """Covered weight over the coverable weight (1 when nothing is coverable)."""
        return self.covered_weight / self.coverable_weight if self.coverable_weight > 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the unit mask reduced to a count)."""
        ids = [x.item() if isinstance(x, np.generic) else x for x in self.new_site_ids]
        return {
            "method": self.method, "status": self.status, "n_new": self.n_new, "n_fixed": len(self.fixed_sites),
            "new_site_ids": ids, "share": self.share, "covered_weight": float(self.covered_weight),
            "coverable_weight": float(self.coverable_weight), "covered_share": float(self.covered_share),
            "uncoverable_weight": float(self.uncoverable_weight), "uncoverable_units": int(self.uncoverable_units),
            "fixed_weight": float(self.fixed_weight), "total_weight": float(self.total_weight),
            "bound": None if self.bound is None else float(self.bound),
            "gap": None if self.gap is None else float(self.gap), "seconds": float(self.seconds),
        }


@dataclass(frozen=True)
class _Cover:
    """What every LSCP solver needs: who is coverable, what the fixed sites cover, the target."""

    fixed: np.ndarray
    free: np.ndarray
    coverable: np.ndarray  # mask over units: positive weight and covered by some site
    fixed_cov: np.ndarray  # mask over units covered by the fixed sites
    target: float  # covered weight to reach (fixed included)
    coverable_weight: float
    share: float

    def reached(self, covered: np.ndarray, weights: np.ndarray) -> bool:
        """Whether the units ``covered`` (a mask) meet the target.

        Full coverage is judged unit by unit (every coverable unit, however
        small its weight), a share by weight with a rounding's slack.
        """
        if self.share >= 1:
            return not (self.coverable & ~covered).any()
        return float(weights[covered].sum()) >= self.target - _RTOL * max(1.0, self.target)


def _cover_setup(problem: CoverageProblem, share: Any, fixed: Any) -> _Cover:
    share = _check_share(share)
    fixed = _fixed_sites(fixed, problem.n_sites)
    w = problem.weights
    reach = (problem.pairs @ np.ones(problem.n_sites)) > 0
    coverable = reach & (w > 0)
    cw = float(w[coverable].sum())
    free = np.setdiff1d(np.arange(problem.n_sites), fixed)
    # full coverage is exactly every coverable unit: share * total could fall a rounding below it
    target = cw if share >= 1 else share * cw
    return _Cover(fixed, free, coverable, problem.covered(fixed), target, cw, share)


def _plan(problem: CoverageProblem, cov: _Cover, new: Any, method: str, status: str, t0: float,
          bound: float | None = None, gap: float | None = None) -> CoverPlan:
    new = np.asarray(new, dtype=np.int64)
    sites = np.concatenate([cov.fixed, new])
    covered = problem.covered(sites)
    w = problem.weights
    ids = np.asarray(problem.site_ids)
    return CoverPlan(
        sites=_readonly(sites), new_sites=_readonly(new), fixed_sites=_readonly(cov.fixed.copy()),
        site_ids=_readonly(ids[sites]), new_site_ids=_readonly(ids[new]), method=method, status=status,
        share=cov.share, covered_weight=float(w[covered].sum()), coverable_weight=cov.coverable_weight,
        uncoverable_weight=float(w[(w > 0) & ~cov.coverable].sum()),
        uncoverable_units=int(((w > 0) & ~cov.coverable).sum()), fixed_weight=float(w[cov.fixed_cov].sum()),
        total_weight=problem.total_weight, covered_units=_readonly(covered), bound=bound, gap=gap,
        seconds=time.perf_counter() - t0)


def _greedy_cover(problem: CoverageProblem, cov: _Cover, start: Sequence[int] = ()) -> list[int]:
    """Lazy greedy from ``start`` (new sites already open) until the target is reached, then pruned.

    For full coverage each step takes the site covering the most still
    uncovered units of positive weight (Chvatal's rule, within ``H(max units
    per site)`` of the optimum), ties to the larger weight, then the lower
    position; for a partial share it takes the most uncovered weight. Then
    every chosen site whose removal keeps the target is dropped, last chosen
    first (a site an earlier pick made redundant).
    """
    w, su = problem.weights, problem.site_units
    covered = problem.covered(np.concatenate([cov.fixed, np.asarray(start, dtype=np.int64)]))
    by_count = cov.share >= 1

    def gain(j: int) -> tuple[float, float]:
        units = su.indices[su.indptr[j]:su.indptr[j + 1]]
        new = units[cov.coverable[units] & ~covered[units]]
        gw = float(w[new].sum())
        return (float(len(new)), gw) if by_count else (gw, float(len(new)))

    chosen = [int(j) for j in start]
    closed = np.setdiff1d(cov.free, np.asarray(chosen, dtype=np.int64))
    heap = [(-g[0], -g[1], int(j)) for j in closed if (g := gain(int(j)))[0] > 0]
    heapq.heapify(heap)
    while heap and not cov.reached(covered, w):
        _, _, j = heapq.heappop(heap)
        g = gain(j)
        if g[0] <= 0:
            continue
        if heap and (-g[0], -g[1], j) > heap[0]:
            heapq.heappush(heap, (-g[0], -g[1], j))  # stale: gains only shrink (submodular)
            continue
        covered[su.indices[su.indptr[j]:su.indptr[j + 1]]] = True
        chosen.append(j)
    return _prune(problem, cov, chosen)


def _prune(problem: CoverageProblem, cov: _Cover, chosen: list[int]) -> list[int]:
    """Drop new sites, last first, whose removal keeps the target."""
    su = problem.site_units
    count = np.zeros(problem.n_units, dtype=np.int64)
    for j in [*cov.fixed.tolist(), *chosen]:
        count[su.indices[su.indptr[j]:su.indptr[j + 1]]] += 1
    keep = list(chosen)
    for j in reversed(chosen):
        units = su.indices[su.indptr[j]:su.indptr[j + 1]]
        count[units] -= 1
        if cov.reached(count > 0, problem.weights):
            keep.remove(j)
        else:
            count[units] += 1
    return keep


def _cover_rows(problem: CoverageProblem, cov: _Cover) -> tuple[np.ndarray, sparse.csr_array, np.ndarray]:
    """Free sites that matter and the distinct rows (coverable units the fixed sites miss) they cover."""
    w = problem.weights
    rows = np.flatnonzero(cov.coverable & ~cov.fixed_cov)
    sub = sparse.csr_array(problem.pairs[rows][:, cov.free])
    useful = np.flatnonzero((sub.T @ np.ones(len(rows))) > 0)
    sub = sparse.csr_array(sub[:, useful])
    sub.sort_indices()
    # units covered by exactly the same sites are one row in the model (weights summed)
    groups: dict[bytes, int] = {}
    label = np.empty(sub.shape[0], dtype=np.int64)
    for i in range(sub.shape[0]):
        label[i] = groups.setdefault(sub.indices[sub.indptr[i]:sub.indptr[i + 1]].tobytes(), len(groups))
    first = np.full(len(groups), -1, dtype=np.int64)
    first[label[::-1]] = np.arange(sub.shape[0])[::-1]
    gw = np.bincount(label, weights=w[rows], minlength=len(groups))
    return cov.free[useful], sparse.csr_array(sub[first]), gw


def _dominance(a: sparse.csr_array, rounds: int = 3) -> tuple[sparse.csr_array, np.ndarray]:
    """Set cover reductions: drop dominated columns and implied rows; returns the matrix and the kept columns.

    A site whose units are a subset of another's is never needed (swap it
    for the other); of two equal sites the lower position stays. A unit
    whose covering sites include all those of another unit is covered
    whenever that one is: its row is implied. Both keep the optimal count;
    each round removes what the previous made dominated (three rounds take
    most of it, several times less HiGHS time on a district's blocks).
    """
    cols = np.arange(a.shape[1])
    for _ in range(rounds):
        shape = a.shape
        c = (a.T @ a).tocoo()
        size = np.asarray(a.sum(axis=0)).ravel()
        j, k, v = c.row, c.col, c.data
        dom = (j != k) & (v >= size[j]) & ((size[k] > size[j]) | ((size[k] == size[j]) & (k < j)))
        keep = np.ones(a.shape[1], dtype=bool)
        keep[j[dom]] = False
        a, cols = sparse.csr_array(a[:, np.flatnonzero(keep)]), cols[keep]
        r = (a @ a.T).tocoo()
        size = np.asarray(a.sum(axis=1)).ravel()
        i, m, v = r.row, r.col, r.data
        dom = (i != m) & (v >= size[i]) & ((size[m] > size[i]) | ((size[m] == size[i]) & (i < m)))
        keep = np.ones(a.shape[0], dtype=bool)
        keep[m[dom]] = False
        a = sparse.csr_array(a[np.flatnonzero(keep)])
        if a.shape == shape:
            break
    return a, cols


def _lscp_milp(problem: CoverageProblem, cov: _Cover, time_limit: float | None,
               mip_rel_gap: float) -> tuple[list[int] | None, float | None, float | None, str]:
    """The MILP: min sum x_j over free sites, the target met (fixed sites' coverage counted)."""
    sites, a, gw = _cover_rows(problem, cov)
    ns, ng = len(sites), len(gw)
    fixed_w = float(problem.weights[cov.fixed_cov].sum())
    if ng == 0 or cov.reached(cov.fixed_cov, problem.weights):
        return [], 0.0, 0.0, "optimal: the fixed sites reach the target"
    options: dict[str, Any] = {"disp": False, "mip_rel_gap": float(mip_rel_gap)}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    if cov.share >= 1:
        # every coverable unit the fixed sites miss needs one open site among those covering it
        a, kept = _dominance(a)
        sites, ns, ng = sites[kept], len(kept), a.shape[0]
        c = np.ones(ns)
        cons = LinearConstraint(a, np.ones(ng), np.full(ng, np.inf))
        integrality, bounds = np.ones(ns), Bounds(0, 1)
    else:
        # y_g in [0, 1] continuous, y_g <= sum_{j covers g} x_j: with integral x the weight of the
        # y that can be 1 is exactly the covered weight, so sum w y >= need is the share constraint
        need = cov.target - fixed_w
        c = np.concatenate([np.ones(ns), np.zeros(ng)])
        link = sparse.hstack([-a, sparse.eye_array(ng)], format="csr")
        total = sparse.csr_array(np.concatenate([np.zeros(ns), gw])[None, :])
        cons = LinearConstraint(sparse.vstack([link, total], format="csr"),
                                np.concatenate([np.full(ng, -np.inf), [need * (1 - _RTOL)]]),
                                np.concatenate([np.zeros(ng), [np.inf]]))
        integrality, bounds = np.concatenate([np.ones(ns), np.zeros(ng)]), Bounds(0, 1)
    res = milp(c, integrality=integrality, bounds=bounds, constraints=cons, options=options)
    bound = None if getattr(res, "mip_dual_bound", None) is None else float(res.mip_dual_bound)
    gap = None if getattr(res, "mip_gap", None) is None else float(res.mip_gap)
    chosen = None if res.x is None else sites[res.x[:ns] > 0.5].tolist()
    kind = "optimal" if res.status == 0 else "time_limit" if res.status == 1 else "failed"
    return chosen, bound, gap, f"{kind}" if res.status == 0 else f"{kind}: {res.message}"


def solve_lscp(problem: CoverageProblem, share: float = 1.0, fixed: Any = None, method: str = "exact",
               time_limit: float | None = None, mip_rel_gap: float = 1e-6) -> CoverPlan:
    """Fewest new sites so that the covered weight reaches ``share`` of the coverable weight.

    The coverable weight is that of the units of positive weight some
    candidate site (fixed or not) covers. Units no candidate covers are
    *uncoverable*: they are left out of the target and reported
    (``uncoverable_weight``, ``uncoverable_units``), so full coverage means
    every unit a site can reach, and a plan is always feasible. Units of zero
    weight need no cover.

    Parameters
    ----------
    problem : CoverageProblem
        Which site covers which unit (:class:`toolkit.selection.CoverageProblem`).
    share : float, default 1.0
        Target share of the coverable weight, in (0, 1].
    fixed : array-like of int or bool mask, optional
        Sites open in every plan (existing facilities): their cover counts,
        they are not counted among the new sites.
    method : {"exact", "greedy"}
        ``exact``: the MILP ``min sum x_j`` subject to the cover (share = 1:
        ``sum_{j covers i} x_j >= 1`` for each coverable unit the fixed sites
        miss; share < 1: ``y_i <= sum_{j covers i} x_j``, ``sum w_i y_i >=
        target``), solved by HiGHS with the MIP gap; a greedy answer is
        returned, flagged, when HiGHS stops without one, and the MILP's answer
        is topped up greedily in the unlikely case its tolerances leave it a
        rounding short. ``greedy``: Chvatal's lazy greedy with redundant sites
        removed (see :func:`compare_lscp` for its gap).
    time_limit : float, optional
        Seconds for HiGHS.
    mip_rel_gap : float, default 1e-6
        HiGHS' relative gap.

    Returns
    -------
    CoverPlan

    Raises
    ------
    InputError
        ``share`` outside (0, 1], a bad ``fixed``, an unknown ``method``.

    Examples
    --------
    >>> from toolkit.selection import CoverageProblem
    >>> p = CoverageProblem.from_pairs([0, 1, 2], [0, 1, 1], [1.0, 1.0, 1.0, 4.0], n_sites=3)
    >>> plan = solve_lscp(p)                  # unit 3 is beyond every site: reported, not infeasible
    >>> plan.n_new, plan.uncoverable_weight
    (2, 4.0)
    >>> solve_lscp(p, fixed=[0]).n_new       # site 0 exists already
    1
    """
    t0 = time.perf_counter()
    _check_method(method, ("exact", "greedy"))
    cov = _cover_setup(problem, share, fixed)
    if method == "greedy":
        return _plan(problem, cov, _greedy_cover(problem, cov), "greedy", "greedy", t0)
    chosen, bound, gap, status = _lscp_milp(problem, cov, time_limit, mip_rel_gap)
    greedy = _greedy_cover(problem, cov)
    if chosen is None:
        return _plan(problem, cov, greedy, "exact", f"{status}; greedy solution kept, no MILP solution found",
                     t0, bound=bound, gap=None)
    if not cov.reached(problem.covered(np.concatenate([cov.fixed, np.asarray(chosen, dtype=np.int64)])),
                       problem.weights):
        # HiGHS' feasibility tolerance can leave a share a few people short: top it up greedily
        chosen = _greedy_cover(problem, cov, start=sorted(chosen))
        status += "; topped up greedily after the MILP's tolerances"
    if not status.startswith("optimal") and len(greedy) < len(chosen):
        chosen, status = greedy, f"{status}; greedy solution kept, smaller than the MILP incumbent"
    if bound is not None:
        bound = float(math.ceil(bound - 1e-6))  # a count: the bound rounds up
    return _plan(problem, cov, sorted(chosen), "exact", status, t0, bound=bound, gap=gap)


def exhaustive_lscp(problem: CoverageProblem, share: float = 1.0, fixed: Any = None) -> CoverPlan:
    """Fewest new sites by checking every subset of the free sites (reference for tests).

    The covered weight of every subset comes from a subset-sum (zeta)
    transform over the units' covering bitmasks, ``O(n 2^n)``; among the
    smallest subsets reaching the target the lowest bitmask is returned.

    Raises
    ------
    InputError
        More than :data:`EXHAUSTIVE_LOCATION_MAX_SITES` free sites.

    Examples
    --------
    >>> from toolkit.selection import CoverageProblem
    >>> p = CoverageProblem.from_pairs([0, 1, 1, 2], [0, 0, 1, 1], [5.0, 1.0, 2.0], n_sites=2)
    >>> exhaustive_lscp(p, share=0.75).new_sites.tolist()
    [0]
    """
    t0 = time.perf_counter()
    cov = _cover_setup(problem, share, fixed)
    n = len(cov.free)
    if n > EXHAUSTIVE_LOCATION_MAX_SITES:
        raise InputError(f"exhaustive search over {n} free sites means 2**{n} subsets", field="n_sites",
                         fix=f"use solve_lscp, or at most {EXHAUSTIVE_LOCATION_MAX_SITES} free sites")
    w = problem.weights
    rest = ~cov.fixed_cov & cov.coverable
    a = sparse.csr_array(problem.pairs[:, cov.free]).tocoo()
    masks = np.zeros(problem.n_units, dtype=np.int64)
    np.bitwise_or.at(masks, a.row, np.left_shift(1, a.col.astype(np.int64)))
    full = (1 << n) - 1
    # full coverage counts the units left out (none may be), a share weighs them
    val = np.ones(problem.n_units) if cov.share >= 1 else w
    f = np.bincount(masks[rest], weights=val[rest], minlength=full + 1)
    for j in range(n):
        view = f.reshape(-1, 2, 1 << j)
        view[:, 1, :] += view[:, 0, :]
    subsets = np.arange(full + 1, dtype=np.int64)
    missed = f[full ^ subsets]  # of the units the fixed sites miss, those no site of the subset covers
    if cov.share >= 1:
        ok = missed < 0.5
    else:
        covered = float(w[cov.fixed_cov].sum()) + float(w[rest].sum()) - missed
        ok = covered >= cov.target - _RTOL * max(1.0, cov.target)
    size = np.zeros(full + 1, dtype=np.int64)
    for j in range(n):
        size += (subsets >> j) & 1
    tied = np.flatnonzero(ok)
    pick = int(tied[np.argmin(size[tied])])
    new = cov.free[[j for j in range(n) if pick >> j & 1]]
    return _plan(problem, cov, new, "exhaustive", f"optimal: exhaustive search over 2**{n} subsets", t0,
                 bound=float(len(new)), gap=0.0)


def compare_lscp(problem: CoverageProblem, share: float = 1.0, fixed: Any = None,
                 time_limit: float | None = None) -> dict[str, Any]:
    """Greedy and exact LSCP on the same problem, and how far greedy is from the optimum.

    Returns
    -------
    dict
        ``exact`` and ``greedy`` (:meth:`CoverPlan.to_dict`), ``n_exact``,
        ``n_greedy``, ``excess`` (greedy's extra sites), ``gap`` = excess /
        n_exact (0 when both need none), ``gap_to_bound`` against the proven
        lower bound, and the plans themselves under ``plans``.

    Examples
    --------
    >>> from toolkit.selection import CoverageProblem
    >>> p = CoverageProblem.from_pairs([0, 1, 1, 2], [0, 0, 1, 1], [5.0, 1.0, 2.0], n_sites=2)
    >>> compare_lscp(p)["excess"]
    0
    """
    g = solve_lscp(problem, share=share, fixed=fixed, method="greedy")
    e = solve_lscp(problem, share=share, fixed=fixed, method="exact", time_limit=time_limit)
    bound = e.bound if e.bound is not None else float(e.n_new)
    return {
        "n_exact": e.n_new, "n_greedy": g.n_new, "excess": g.n_new - e.n_new,
        "gap": (g.n_new - e.n_new) / e.n_new if e.n_new else 0.0,
        "gap_to_bound": (g.n_new - bound) / bound if bound > 0 else 0.0,
        "exact": e.to_dict(), "greedy": g.to_dict(), "plans": {"exact": e, "greedy": g},
    }


# ================================================================ p-median
@dataclass(frozen=True, eq=False)
class DistanceProblem:
    """A p-median instance: demand weights and the (unit, site) walks within a search limit.

    Prefer :meth:`from_pairs`. A pair not given is beyond the limit; every
    walk counts at most ``limit`` metres, so a unit no open site reaches within
    the limit costs ``weight * limit`` (the cap).

    Parameters
    ----------
    n_sites : int
    weights : ndarray, shape (n_units,)
        Finite, >= 0.
    unit, site, dist : ndarray
        Parallel arrays: unit ``unit[p]`` walks ``dist[p]`` metres to site
        ``site[p]``; pairs beyond ``limit`` dropped, a repeated pair kept at
        its shortest.
    limit : float
        The cap (metres), > 0 and finite.
    site_ids : ndarray, optional
    """

    n_sites: int
    weights: np.ndarray
    unit: np.ndarray
    site: np.ndarray
    dist: np.ndarray
    limit: float
    site_ids: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        n = _as_count(self.n_sites, "n_sites")
        w = np.array(self.weights, dtype=float)
        if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise InputError("demand weights must be finite and >= 0", field="weight",
                             fix="replace missing populations with 0 before building the problem")
        if isinstance(self.limit, bool) or not isinstance(self.limit, numbers.Real) \
                or not math.isfinite(self.limit) or self.limit <= 0:
            raise InputError(f"limit must be a finite number of metres > 0, got {self.limit!r}", field="limit",
                             fix="pass the search limit, e.g. the study's network.search_limit_m")
        u, s, d = (np.asarray(a).ravel() for a in (self.unit, self.site, self.dist))
        if not len(u) == len(s) == len(d):
            raise InputError("unit, site and dist must have one entry per pair", field="unit/site/dist",
                             fix="pass the three columns of the same pair table")
        for name, a, m in (("unit", u, len(w)), ("site", s, n)):
            if len(a) and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= m):
                raise InputError(f"{name} must hold positions in [0, {m})", field=name,
                                 fix=f"{name} indices are 0-based positions, not ids")
        d = d.astype(float)
        if len(d) and (np.isnan(d).any() or d.min() < 0):
            raise InputError("distances must be >= 0 (no NaN)", field="dist",
                             fix="leave unreachable pairs out instead of giving them NaN")
        keep = d <= float(self.limit)
        u, s, d = u[keep].astype(np.int64), s[keep].astype(np.int64), d[keep]
        order = np.lexsort((d, s, u))
        u, s, d = u[order], s[order], d[order]
        first = np.ones(len(u), dtype=bool)
        first[1:] = (u[1:] != u[:-1]) | (s[1:] != s[:-1])
        ids = np.arange(n) if self.site_ids is None else np.array(self.site_ids).ravel()
        if len(ids) != n:
            raise InputError(f"site_ids has {len(ids)} entries for {n} sites", field="site_ids",
                             fix="give exactly one id per candidate site")
        object.__setattr__(self, "n_sites", n)
        object.__setattr__(self, "weights", _readonly(w))
        object.__setattr__(self, "unit", _readonly(u[first]))
        object.__setattr__(self, "site", _readonly(s[first]))
        object.__setattr__(self, "dist", _readonly(d[first]))
        object.__setattr__(self, "limit", float(self.limit))
        object.__setattr__(self, "site_ids", _readonly(ids))

    @classmethod
    def from_pairs(cls, unit: Any, site: Any, dist: Any, weight: Any, n_sites: int, limit: float,
                   site_ids: Any = None) -> DistanceProblem:
        """Build a problem from a pair table (e.g. :func:`toolkit.reach.reachable_pairs`'s columns).

        Examples
        --------
        >>> p = DistanceProblem.from_pairs([0, 1], [0, 0], [100.0, 300.0], [1.0, 2.0], n_sites=1, limit=500)
        >>> p.cost([0])
        700.0
        """
        return cls(n_sites=n_sites, weights=weight, unit=unit, site=site, dist=dist, limit=limit,
                   site_ids=site_ids)

    @property
    def n_units(self) -> int:
        """Number of demand units."""
        return len(self.weights)

    def nearest(self, sites: Any) -> np.ndarray:
        """Per unit, the capped walk to the nearest of ``sites``."""
        best = np.full(self.n_units, self.limit)
        open_ = np.zeros(self.n_sites, dtype=bool)
        open_[np.asarray(sites, dtype=np.int64)] = True
        m = open_[self.site]
        np.minimum.at(best, self.unit[m], self.dist[m])
        return best

    def cost(self, sites: Any) -> float:
        """Weighted capped walk with ``sites`` open."""
        return float(self.weights @ self.nearest(sites))


@dataclass(frozen=True, eq=False)
class MedianPlan:
    """A p-median answer.

    Attributes
    ----------
    sites, new_sites, fixed_sites : ndarray of int
        Open sites (fixed then new), the new ones, the fixed ones. At most
        ``p`` new sites: one that shortens no walk is not opened.
    site_ids : ndarray
    cost : float
        Weighted capped walk (weight x metres).
    mean_walk_m : float
        ``cost`` over the total weight.
    method, status : str
    bound, gap : float or None
        Exact only: HiGHS' proven lower bound on the cost and relative gap.
    seconds : float
    """

    sites: np.ndarray
    new_sites: np.ndarray
    fixed_sites: np.ndarray
    site_ids: np.ndarray
    cost: float
    mean_walk_m: float
    method: str
    status: str
    p: int
    bound: float | None = None
    gap: float | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"method": self.method, "status": self.status, "p": self.p, "n_new": len(self.new_sites),
                "site_ids": [x.item() if isinstance(x, np.generic) else x for x in self.site_ids],
                "cost": float(self.cost), "mean_walk_m": float(self.mean_walk_m),
                "bound": None if self.bound is None else float(self.bound),
                "gap": None if self.gap is None else float(self.gap), "seconds": float(self.seconds)}


def _median_plan(problem: DistanceProblem, fixed: np.ndarray, new: Any, p: int, how: tuple[str, str], t0: float,
                 proof: tuple[float | None, float | None] = (None, None)) -> MedianPlan:
    """The plan of ``new`` sites; ``how`` is (method, status), ``proof`` HiGHS' (bound, gap)."""
    (method, status), (bound, gap) = how, proof
    new = np.asarray(new, dtype=np.int64)
    sites = np.concatenate([fixed, new])
    cost = problem.cost(sites)
    tw = float(problem.weights.sum())
    return MedianPlan(sites=_readonly(sites), new_sites=_readonly(new), fixed_sites=_readonly(fixed.copy()),
                      site_ids=_readonly(np.asarray(problem.site_ids)[sites]), cost=cost,
                      mean_walk_m=cost / tw if tw > 0 else 0.0, method=method, status=status, p=p, bound=bound,
                      gap=gap, seconds=time.perf_counter() - t0)


def _gains(problem: DistanceProblem, best: np.ndarray) -> np.ndarray:
    """Per site, how much weighted walk opening it would save given the current ``best`` walks."""
    imp = problem.weights[problem.unit] * np.maximum(best[problem.unit] - problem.dist, 0.0)
    return np.bincount(problem.site, weights=imp, minlength=problem.n_sites)


def _greedy_median(problem: DistanceProblem, fixed: np.ndarray, p: int) -> list[int]:
    """Greedy add, then Teitz-Bart interchange until no swap of a new site shortens the total walk."""
    chosen: list[int] = []
    closed = np.ones(problem.n_sites, dtype=bool)
    closed[fixed] = False
    best = problem.nearest(fixed)
    for _ in range(p):
        g = np.where(closed, _gains(problem, best), -1.0)
        j = int(np.argmax(g))
        if g[j] <= 0:
            break
        chosen.append(j)
        closed[j] = False
        best = problem.nearest(np.concatenate([fixed, chosen]))
    current = problem.cost(np.concatenate([fixed, chosen]))
    tol = 1e-9 * max(1.0, current)
    improved = True
    while improved:
        improved = False
        for pos, o in enumerate(chosen):
            rest = np.concatenate([fixed, np.asarray(chosen[:pos] + chosen[pos + 1:], dtype=np.int64)])
            base = problem.nearest(rest)
            without = float(problem.weights @ base)
            g = np.where(closed, _gains(problem, base), -1.0)
            j = int(np.argmax(g))
            if g[j] > 0 and without - g[j] < current - tol:
                closed[o], closed[j] = True, False
                chosen[pos] = j
                current = without - float(g[j])
                improved = True
                break
    return chosen


def _median_milp(problem: DistanceProblem, fixed: np.ndarray, p: int, time_limit: float | None,
                 mip_rel_gap: float) -> tuple[list[int] | None, float | None, float | None, str]:
    """min const + sum_pairs w_u (d - b_u) z subject to sum_j z_uj <= 1, z_uj <= x_j, sum x <= p.

    ``b_u`` is the unit's walk with the fixed sites alone (capped); only pairs
    shorter than it can matter. The disaggregated ``z <= x`` rows keep the LP
    relaxation tight.
    """
    b = problem.nearest(fixed)
    free = np.ones(problem.n_sites, dtype=bool)
    free[fixed] = False
    keep = free[problem.site] & (problem.dist < b[problem.unit])
    u, s, d = problem.unit[keep], problem.site[keep], problem.dist[keep]
    const = float(problem.weights @ b)
    if len(u) == 0 or p == 0:
        return [], const, 0.0, "optimal: no new site shortens any walk"
    sites, s_col = np.unique(s, return_inverse=True)
    units, u_row = np.unique(u, return_inverse=True)
    ns, nz, nu = len(sites), len(u), len(units)
    c = np.concatenate([np.zeros(ns), problem.weights[u] * (d - b[u])])
    eye = sparse.eye_array(nz, format="csr")
    link = sparse.hstack([sparse.csr_array((-np.ones(nz), (np.arange(nz), s_col)), shape=(nz, ns)), eye],
                         format="csr")
    assign = sparse.hstack([sparse.csr_array((nu, ns)),
                            sparse.csr_array((np.ones(nz), (u_row, np.arange(nz))), shape=(nu, nz))],
                           format="csr")
    card = sparse.csr_array(np.concatenate([np.ones(ns), np.zeros(nz)])[None, :])
    a = sparse.vstack([link, assign, card], format="csr")
    cons = LinearConstraint(a, np.full(nz + nu + 1, -np.inf), np.concatenate([np.zeros(nz), np.ones(nu), [p]]))
    options: dict[str, Any] = {"disp": False, "mip_rel_gap": float(mip_rel_gap)}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    res = milp(c, integrality=np.concatenate([np.ones(ns), np.zeros(nz)]), bounds=Bounds(0, 1),
               constraints=cons, options=options)
    bound = None if getattr(res, "mip_dual_bound", None) is None else const + float(res.mip_dual_bound)
    gap = None if getattr(res, "mip_gap", None) is None else float(res.mip_gap)
    chosen = None if res.x is None else sites[res.x[:ns] > 0.5].tolist()
    kind = "optimal" if res.status == 0 else "time_limit" if res.status == 1 else "failed"
    return chosen, bound, gap, kind if res.status == 0 else f"{kind}: {res.message}"


def solve_pmedian(dist_problem: DistanceProblem, p: int, fixed: Any = None, method: str = "exact",
                  time_limit: float | None = None, mip_rel_gap: float = 1e-6) -> MedianPlan:
    """Up to ``p`` new sites minimising the weighted walk to the nearest open site (capped at the limit).

    Parameters
    ----------
    dist_problem : DistanceProblem
    p : int
        New sites to open besides ``fixed`` (at most: a site that shortens no
        walk is not opened; more open sites never lengthen a walk).
    fixed : array-like of int or bool mask, optional
        Sites open in every plan (existing facilities).
    method : {"exact", "greedy"}
        ``exact``: the MILP with one assignment variable per pair within the
        limit, solved by HiGHS (bound and gap reported); greedy kept when
        HiGHS stops without a better incumbent. ``greedy``: greedy add then
        Teitz-Bart interchange (swaps of a new site while one shortens the
        total walk).
    time_limit, mip_rel_gap : float
        As :func:`solve_lscp`.

    Returns
    -------
    MedianPlan

    Examples
    --------
    >>> d = DistanceProblem.from_pairs([0, 1, 1, 2], [0, 0, 1, 1], [0.0, 400.0, 100.0, 0.0],
    ...                                [1.0, 1.0, 1.0], n_sites=2, limit=1000)
    >>> solve_pmedian(d, 1).cost   # site 1: unit 0 beyond the limit (1000), 100, 0
    1100.0
    """
    t0 = time.perf_counter()
    _check_method(method, ("exact", "greedy"))
    p = _as_count(p, "p")
    fixed = _fixed_sites(fixed, dist_problem.n_sites)
    greedy = _greedy_median(dist_problem, fixed, p)
    if method == "greedy":
        return _median_plan(dist_problem, fixed, greedy, p, ("greedy", "greedy: add, then interchange"), t0)
    chosen, bound, gap, status = _median_milp(dist_problem, fixed, p, time_limit, mip_rel_gap)
    g_cost = dist_problem.cost(np.concatenate([fixed, greedy]))
    if chosen is None or (not status.startswith("optimal")
                          and dist_problem.cost(np.concatenate([fixed, chosen])) > g_cost):
        return _median_plan(dist_problem, fixed, greedy, p, ("exact", f"{status}; greedy solution kept"), t0,
                            (bound, gap))
    return _median_plan(dist_problem, fixed, sorted(chosen), p, ("exact", status), t0, (bound, gap))


def exhaustive_pmedian(dist_problem: DistanceProblem, p: int, fixed: Any = None) -> MedianPlan:
    """Best ``p`` new sites by trying every combination of the free sites (reference for tests).

    Raises
    ------
    InputError
        More than :data:`EXHAUSTIVE_LOCATION_MAX_SITES` free sites.

    Examples
    --------
    >>> d = DistanceProblem.from_pairs([0, 1, 1, 2], [0, 0, 1, 1], [0.0, 400.0, 100.0, 0.0],
    ...                                [1.0, 1.0, 1.0], n_sites=2, limit=1000)
    >>> exhaustive_pmedian(d, 1).new_sites.tolist()
    [1]
    """
    t0 = time.perf_counter()
    p = _as_count(p, "p")
    fixed = _fixed_sites(fixed, dist_problem.n_sites)
    free = np.setdiff1d(np.arange(dist_problem.n_sites), fixed)
    if len(free) > EXHAUSTIVE_LOCATION_MAX_SITES:
        raise InputError(f"exhaustive search over {len(free)} free sites", field="n_sites",
                         fix=f"use solve_pmedian, or at most {EXHAUSTIVE_LOCATION_MAX_SITES} free sites")
    best, pick = math.inf, ()
    for combo in itertools.combinations(free.tolist(), min(p, len(free))):
        c = dist_problem.cost(np.concatenate([fixed, np.asarray(combo, dtype=np.int64)]))
        if not pick or c < best - 1e-9 * max(1.0, abs(best)):
            best, pick = c, combo
    if not pick:
        best = dist_problem.cost(fixed)
    return _median_plan(dist_problem, fixed, list(pick), p, ("exhaustive", "optimal: every combination"), t0,
                        (best, 0.0))


def compare_pmedian(dist_problem: DistanceProblem, p: int, fixed: Any = None,
                    time_limit: float | None = None) -> dict[str, Any]:
    """Greedy (add + interchange) and exact p-median, and greedy's relative excess walk.

    Examples
    --------
    >>> d = DistanceProblem.from_pairs([0, 1], [0, 1], [10.0, 20.0], [1.0, 1.0], n_sites=2, limit=100)
    >>> compare_pmedian(d, 2)["gap"]
    0.0
    """
    g = solve_pmedian(dist_problem, p, fixed=fixed, method="greedy")
    e = solve_pmedian(dist_problem, p, fixed=fixed, method="exact", time_limit=time_limit)
    return {"cost_exact": e.cost, "cost_greedy": g.cost,
            "gap": (g.cost - e.cost) / e.cost if e.cost > 0 else 0.0,
            "exact": e.to_dict(), "greedy": g.to_dict(), "plans": {"exact": e, "greedy": g}}


# ====================================================== the study's figure
@dataclass
class FullCoverageSettings:
    """How the decisions step asks the full-coverage question (``[selection]`` keys).

    Attributes
    ----------
    share : float
        ``full_coverage_share``: the share of the coverable residents to bring within reach.
    time_limit_s : float or None
        HiGHS' time limit per problem (``[selection] time_limit_s``).
    """

    share: float = 1.0
    time_limit_s: float | None = 60.0


def _scope_problem(site_pairs: tuple[np.ndarray, np.ndarray], site_ids: np.ndarray, weights: np.ndarray,
                   served: np.ndarray | None) -> tuple[CoverageProblem, np.ndarray]:
    """LSCP instance over the candidate sites; with ``served``, one more, fixed, column for the existing facilities.

    The existing facilities of a category cover exactly the units already
    within reach (the baseline's ``within_<c>``), so one fixed column (id
    -1) standing for all of them is the same problem as one column per
    facility, without snapping them again.
    """
    u, s = site_pairs
    n = len(site_ids)
    if served is None:
        return CoverageProblem.from_pairs(u, s, weights, n, site_ids=site_ids), np.zeros(0, dtype=np.int64)
    ex = np.flatnonzero(served)
    return (CoverageProblem.from_pairs(np.concatenate([u, ex]), np.concatenate([s, np.full(len(ex), n)]),
                                       weights, n + 1, site_ids=np.concatenate([site_ids, [-1]])),
            np.array([n], dtype=np.int64))


def full_coverage(unit_block: np.ndarray, unit_category: np.ndarray, served: np.ndarray, pairs: tuple,
                  population: np.ndarray, site_ids: np.ndarray, status: Mapping[str, str],
                  settings: FullCoverageSettings) -> dict[str, Any]:
    """How many hubs full coverage needs, per hub category and for all of them together.

    Demand units are (block, category) pairs of blocks with residents and a
    measured distance, weighted by residents. For each scope (a category, and
    ``all`` the categories together: a hub provides them all) two LSCPs over
    the candidate sites: ``existing = "not counted"`` (from scratch: every
    resident must reach a new hub; uses no facility data) and ``existing =
    "fixed in"`` (the existing facilities are one fixed site covering the
    units already within reach: hubs are needed only for the rest; as good as
    the facility data). Each is solved exactly and greedily, with the gap.

    A figure resting on facility data that are not complete (``status``) is
    marked ``stated = false``: it is an upper bound on the hubs needed (a
    facility missing from the data looks like a resident to serve), never
    "the city needs N hubs". Demand no candidate site reaches is reported as
    uncoverable, per scope.

    Parameters
    ----------
    unit_block, unit_category : ndarray
        Per demand unit: block position and category.
    served : ndarray of bool
        Per unit: already within reach of an existing facility (baseline ``within_<c>``).
    pairs : (ndarray, ndarray)
        Unit and site positions of every (unit, site) pair within the unit
        category's threshold, over the usable candidate sites only.
    population : ndarray
        Residents per block.
    site_ids : ndarray
        The candidate sites' ids (reported for the plans).
    status : mapping
        Category to data status (``complete`` / ``sample`` / ...).
    settings : FullCoverageSettings

    Returns
    -------
    dict
        ``share``, ``weight``, ``candidate_sites`` (that take part: those with a pair) and ``rows``,
        one per scope and treatment of the existing facilities, each with the
        exact and greedy plans (:meth:`CoverPlan.to_dict`), their ``gap``, the
        residents concerned, the data status and ``stated``; ``seconds``.

    Examples
    --------
    >>> out = full_coverage(np.array([0, 1]), np.array(["park", "park"]), np.array([False, True]),
    ...                     (np.array([0]), np.array([0])), np.array([10.0, 5.0]), np.array([7]),
    ...                     {"park": "complete"}, FullCoverageSettings())
    >>> [(r["existing"], r["exact"]["n_new"]) for r in out["rows"]]
    [('not counted', 1), ('fixed in', 1)]
    """
    t0 = time.perf_counter()
    cats = list(dict.fromkeys(unit_category.tolist()))
    w_all = population[unit_block].astype(float)
    pu, ps = (np.asarray(a, dtype=np.int64) for a in pairs)
    rows = []
    for scope in [*cats, *(["all"] if len(cats) > 1 else [])]:
        in_scope = np.ones(len(unit_block), dtype=bool) if scope == "all" else unit_category == scope
        pos = np.flatnonzero(in_scope)
        remap = np.full(len(unit_block), -1, dtype=np.int64)
        remap[pos] = np.arange(len(pos))
        keep = in_scope[pu]
        sp = (remap[pu[keep]], ps[keep])
        scats = cats if scope == "all" else [scope]
        st = {c: status.get(c, "unknown") for c in scats}
        complete = all(v == "complete" for v in st.values())
        for existing in ("not counted", "fixed in"):
            problem, fixed = _scope_problem(sp, np.asarray(site_ids), w_all[pos],
                                            served[pos] if existing == "fixed in" else None)
            cmp = compare_lscp(problem, share=settings.share, fixed=fixed, time_limit=settings.time_limit_s)
            uses_data = existing == "fixed in"
            for plan in (cmp["exact"], cmp["greedy"]):
                # the existing facilities are one fixed column here: their cover is fixed_weight, not a count
                plan.pop("n_fixed", None)
            rows.append({
                "scope": scope, "categories": scats, "existing": existing, "data_status": st,
                "uses_facility_data": uses_data, "stated": complete or not uses_data,
                "demand_units": len(pos), "residents": float(w_all[pos].sum()),
                "n_exact": cmp["n_exact"], "n_greedy": cmp["n_greedy"], "excess": cmp["excess"],
                "gap": cmp["gap"], "gap_to_bound": cmp["gap_to_bound"],
                "exact": cmp["exact"], "greedy": cmp["greedy"],
            })
    return {"share": settings.share, "weight": "residents per (block, category) pair",
            "candidate_sites": len(np.unique(ps)), "rows": rows, "seconds": time.perf_counter() - t0}


def _units(blocks: Any, cats: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Demand units (block position, category) of the blocks with residents and a measured walk, and served."""
    pop = blocks["population"].to_numpy(dtype=float)
    ub, uc, served = [], [], []
    for c in cats:
        d = blocks[f"dist_{c}_m"].to_numpy(dtype=float)
        b = np.flatnonzero((pop > 0) & ~np.isnan(d))
        ub.append(b)
        uc.append(np.full(len(b), c, dtype=object))
        served.append(blocks[f"within_{c}"].to_numpy(dtype=bool)[b])
    return np.concatenate(ub), np.concatenate(uc), np.concatenate(served)


def _unit_pairs(pairs: Any, unit_block: np.ndarray, unit_category: np.ndarray, cats: Sequence[str],
                rules: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(unit, site) positions of the block-site pairs within each unit's category threshold."""
    o, s, d = (pairs[k].to_numpy() for k in ("origin", "source", "dist_m"))
    uu, ss = [], []
    for c in cats:
        pos = np.flatnonzero(unit_category == c)
        lookup = np.full(int(max(unit_block.max(initial=0), o.max(initial=0))) + 1, -1, dtype=np.int64)
        lookup[unit_block[pos]] = pos
        keep = (d <= rules[c].max_distance_m) & (lookup[o] >= 0)
        uu.append(lookup[o[keep]])
        ss.append(s[keep].astype(np.int64))
    return np.concatenate(uu), np.concatenate(ss)


def _coverage_notes(out: Mapping[str, Any]) -> list[str]:
    """What the run's notes say of the full-coverage figures: uncoverable residents, incomplete data."""
    notes = []
    for r in out["rows"]:
        if r["scope"] != "all" and r["existing"] == "not counted" and r["exact"]["uncoverable_weight"] > 0:
            notes.append(f"full coverage, {r['scope']}: {r['exact']['uncoverable_weight']:,.0f} residents lie beyond "
                         "the threshold of every candidate site that can host a hub; the hub count covers the "
                         "others (run.json decisions.full_coverage)")
    shaky = sorted({c for r in out["rows"] if not r["stated"] for c, v in r["data_status"].items()
                    if v != "complete"})
    if shaky:
        notes.append("full coverage with the existing facilities counted rests on incomplete facility data for "
                     f"{', '.join(shaky)}: those hub counts are upper bounds, not needs")
    return notes


def _anywhere(ctx: Any, units: tuple[np.ndarray, np.ndarray, np.ndarray], cats: Sequence[str],
              settings: FullCoverageSettings) -> dict[str, Any]:
    """Full coverage with a hub possible in any populated, attached block whose heritage class allows one."""
    import pandas as pd

    from .reach import reachable_pairs
    from .sites import HUB_FORBIDDEN, hub_feasibility

    inp, blocks = ctx.inputs, ctx.blocks
    pop = blocks["population"].to_numpy(dtype=float)
    cls = blocks["heritage_class"] if "heritage_class" in blocks else pd.Series("", index=blocks.index)
    feas = hub_feasibility(pd.DataFrame({"site_type": "block", "heritage_class": cls.to_numpy()}), ctx.settings)
    allowed = (feas["hub_status"] != HUB_FORBIDDEN).to_numpy()
    ok = (pop > 0) & np.asarray(inp.block_snap.ok, dtype=bool) & allowed
    pairs = reachable_pairs(inp.net, inp.block_snap, inp.block_snap,
                            max(ctx.rules[c].max_distance_m for c in cats))
    pairs = pairs[ok[pairs["source"].to_numpy()]]
    ub, uc, served = units
    out = full_coverage(ub, uc, served, _unit_pairs(pairs, ub, uc, cats, ctx.rules), pop,
                        blocks["block_id"].to_numpy() if "block_id" in blocks else np.arange(len(blocks)),
                        ctx.status, settings)
    out["candidate_blocks"] = int(ok.sum())
    out["excluded_by_heritage"] = int(((pop > 0) & ~allowed).sum())
    out["locations"] = ("the representative point of every populated block attached to the streets whose heritage "
                        "class allows sites.hub_intervention; site ids are block_id")
    return out


def full_coverage_step(ctx: Any) -> dict[str, Any]:
    """The decisions step's full-coverage figures and the catchment layers (run.json ``decisions.full_coverage``).

    Reads a :class:`toolkit.decisions.DecisionContext` after the selection:
    the block-site pairs over the sites that can host a hub, the baseline's
    distances, the data status and the ``[selection]`` settings
    (``categories``, ``full_coverage_share``, ``full_coverage_anywhere``, ``service_area_minutes``,
    ``service_area_buffer_m``, ``facility_service_areas``, ``time_limit_s``). Adds ``full_coverage`` to
    the candidate sites (the exact plan for all hub categories with the
    existing facilities counted), the ``catchments`` and ``service_areas``
    layers (:func:`toolkit.catchments.catchment_layers`) and notes.

    Examples
    --------
    >>> ctx.summary["full_coverage"] = full_coverage_step(ctx)  # doctest: +SKIP
    >>> sorted({r["scope"] for r in ctx.summary["full_coverage"]["rows"]})  # doctest: +SKIP
    ['all', 'commercial', 'culture', 'park', 'sports']
    """
    from .catchments import CatchmentSettings, catchment_layers

    t0 = time.perf_counter()
    inp, sel = ctx.inputs, ctx.sel_settings
    cats = [c for c in sel.categories if c in inp.measured]
    ctx.sites["full_coverage"] = False
    if not cats or ctx.pairs is None:
        return {"status": "empty: none of the selection categories has data in this study"}
    ub, uc, served = _units(ctx.blocks, cats)
    pairs = _unit_pairs(ctx.pairs, ub, uc, cats, ctx.rules)
    fcs = FullCoverageSettings(share=sel.full_coverage_share, time_limit_s=sel.time_limit_s)
    out = full_coverage(ub, uc, served, pairs, ctx.blocks["population"].to_numpy(dtype=float),
                        ctx.sites["site_id"].to_numpy(), ctx.status, fcs)
    if sel.full_coverage_anywhere:
        # how many hubs were land found anywhere: the figure the candidate sites' sparse layer cannot give
        out["anywhere"] = _anywhere(ctx, (ub, uc, served), cats, fcs)
    out["thresholds_m"] = {c: round(ctx.rules[c].max_distance_m, 1) for c in cats}
    out["usable_sites"] = int(np.asarray(ctx.usable).sum())
    plan = next(r for r in out["rows"] if r["scope"] == ("all" if len(cats) > 1 else cats[0])
                and r["existing"] == "fixed in")
    ctx.sites["full_coverage"] = ctx.sites["site_id"].isin(plan["exact"]["new_site_ids"]).to_numpy()
    ctx.note(_coverage_notes(out))
    settings = CatchmentSettings(categories=cats, minutes=list(sel.service_area_minutes),
                                 buffer_m=sel.service_area_buffer_m, speed_m_s=inp.profile.speed("adult"),
                                 search_limit_m=inp.study.search_limit_m,
                                 facility_max_snap_m=inp.study.facility_max_snap_m,
                                 facility_areas=sel.facility_service_areas)
    hubs = ctx.sites.loc[ctx.sites["selected"].to_numpy(dtype=bool), ["site_id", "geometry"]]
    layers = catchment_layers(inp.net, ctx.blocks, inp.block_snap, inp.facilities, hubs, settings,
                              obstacles=inp.obstacles)
    inp.layers.update(layers)
    out["layers"] = {k: len(v) for k, v in layers.items()}
    out["service_area"] = {"minutes": settings.minutes, "speed_m_s": settings.speed_m_s, "buffer_m": settings.buffer_m}
    out["seconds"] = time.perf_counter() - t0
    return out


def report_sections(result: Any, lang: str) -> list[Any]:
    """The report section on full coverage (listed in :data:`toolkit.sections.PROVIDERS`).

    Examples
    --------
    >>> report_sections(result, "en")[0].key  # doctest: +SKIP
    'full_coverage'
    """
    from .labels import label
    from .sections import Section

    fc = ((result.details or {}).get("decisions") or {}).get("full_coverage")
    if not fc or not fc.get("rows"):
        return []

    def name(scope: str) -> str:
        if scope == "all":
            return label("full_coverage.all", lang)
        return result.profile.label(scope, lang) if hasattr(result.profile, "label") else scope

    header = tuple(label(f"full_coverage.{k}", lang) for k in ("scope", "where", "existing", "exact", "greedy", "gap",
                                                                "coverable", "beyond", "reading"))
    sets = [("at_sites", fc["rows"]), *([("any_block", fc["anywhere"]["rows"])] if fc.get("anywhere") else [])]
    rows = [_section_row(r, name(r["scope"]), label(f"full_coverage.{where}", lang), lang)
            for where, rs in sets for r in rs]
    paras = [label("full_coverage.intro", lang, n=fc.get("usable_sites", fc["candidate_sites"]))]
    if fc.get("anywhere"):
        paras.append(label("full_coverage.anywhere_intro", lang, n=fc["anywhere"]["candidate_blocks"],
                           h=fc["anywhere"]["excluded_by_heritage"]))
    sa = fc.get("service_area", {})
    notes = [label("full_coverage.incomplete_note", lang)]
    if sa:
        notes.append(label("full_coverage.layers_note", lang,
                           minutes="/".join(f"{m:g}" for m in sa.get("minutes", [])),
                           speed=f"{sa.get('speed_m_s', 0):g}", buffer=f"{sa.get('buffer_m', 0):g}"))
    return [Section("full_coverage", label("full_coverage.title", lang),
                    paragraphs=tuple(paras), header=header, rows=tuple(rows), num_cols=(3, 4, 5, 6, 7),
                    notes=tuple(notes), order=55)]


def _section_row(r: Mapping[str, Any], scope: str, where: str, lang: str) -> tuple:
    """One row of the report table: a scope, where hubs may go, the treatment of the existing facilities."""
    from .labels import label

    e = r["exact"]
    single = r["scope"] != "all"  # "all" weighs resident-category pairs: no resident figure
    key = "full_coverage." + ("needs" if r["stated"] else "upper_bound")
    total = e["coverable_weight"] + e["uncoverable_weight"]
    if e["uncoverable_weight"] > 0 and total > 0:  # never "needs N" for residents no site reaches
        reading = label(key + "_reachable", lang, n=r["n_exact"], share=f"{e['coverable_weight'] / total:.0%}")
    else:
        reading = label(key, lang, n=r["n_exact"])
    return (scope, where, label(f"full_coverage.{r['existing'].replace(' ', '_')}", lang), r["n_exact"],
            r["n_greedy"], f"{r['gap']:.0%}", f"{e['coverable_weight']:,.0f}" if single else "-",
            f"{e['uncoverable_weight']:,.0f}" if single else "-", reading)
