"""Where to put new service hubs: the maximal covering location problem (MCLP).

A *demand unit* is anything with a weight that a hub can serve, e.g. a (block,
category) pair weighted by its currently unserved population, optionally age
weighted. A candidate micro-renewal *site* covers a unit when the unit lies
within the service threshold of it (usually from :func:`toolkit.reach.reachable_pairs`).
Opening a set of sites covers the union of their units; the MCLP picks the set
that covers the most weight under a cardinality limit ``k`` (number of hubs), a
``budget`` on site costs, or both.

Two solvers share one input (:class:`CoverageProblem`) and one output (:class:`Selection`):

* :func:`solve_greedy` -- lazy greedy. Covered weight is monotone submodular,
  so with ``k`` alone greedy is within ``1 - 1/e`` (about 63 %) of the optimum
  (Nemhauser, Wolsey & Fisher 1978); with a budget it uses the Khuller-Moss-Naor
  safeguard (see the function). Milliseconds even for thousands of sites.
* :func:`solve_exact` -- the MILP solved with HiGHS through
  :func:`scipy.optimize.milp`, with the dual bound and MIP gap reported, so the
  greedy answer's distance from the optimum is known, not guessed.

:func:`compare` runs both; :func:`exhaustive` is a brute-force reference for tests.

Typical use with network reach (every block is one demand unit)::

    pairs = reachable_pairs(net, snap(blocks), snap(sites), radius=1000)
    problem = CoverageProblem.from_pairs(pairs["origin"], pairs["source"], unserved_pop,
                                         n_sites=len(sites), cost=site_cost)
    sel = solve_exact(problem, k=10)
"""

from __future__ import annotations

import heapq
import math
import numbers
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from .errors import InputError

__all__ = [
    "EXHAUSTIVE_MAX_SITES",
    "CoverageProblem",
    "Selection",
    "compare",
    "exhaustive",
    "solve_exact",
    "solve_greedy"
]

#: Largest candidate count :func:`exhaustive` accepts (2**20 subsets, about a second).
EXHAUSTIVE_MAX_SITES = 20

# Budgets are sums of floats: without a little slack a plan costing exactly the
# budget could be refused because 0.1 + 0.2 > 0.3.
_BUDGET_RTOL = 1e-9


def _fits(spent: float | np.ndarray, budget: float) -> bool | np.ndarray:
    return spent <= budget + _BUDGET_RTOL * max(1.0, abs(budget))


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class CoverageProblem:
    """Sparse MCLP instance: demand weights and which site covers which unit.

    Prefer :meth:`from_pairs`; direct construction is validated the same way.

    Parameters
    ----------
    n_sites : int
        Number of candidate sites (columns). May be 0.
    weights : ndarray of float, shape (n_units,)
        Demand weight per unit, finite and >= 0.
    pairs : scipy.sparse matrix or array, shape (n_units, n_sites)
        Nonzero at (i, j) when site j covers unit i. Stored as a binary
        ``csr_array``; repeated pairs count once.
    cost : ndarray of float, shape (n_sites,), optional
        Cost of opening each site, finite and >= 0. Needed for budgets.
    site_ids : ndarray, shape (n_sites,), optional
        Labels carried into results; defaults to ``0..n_sites-1``.
    """

    n_sites: int
    weights: np.ndarray
    pairs: sparse.csr_array
    cost: np.ndarray | None = None
    site_ids: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        n_sites = _as_count(self.n_sites, "n_sites")
        w = np.array(self.weights, dtype=float)
        if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise InputError("demand weights must be finite and >= 0", field="weight",
                             fix="replace missing populations with 0 before building the problem")
        if not sparse.issparse(self.pairs) or self.pairs.shape != (len(w), n_sites):
            shape = getattr(self.pairs, "shape", None)
            raise InputError(f"pairs must be a sparse (n_units, n_sites) = ({len(w)}, {n_sites}) matrix, got {shape}",
                             field="pairs", fix="build the problem with CoverageProblem.from_pairs")
        pairs = sparse.csr_array(self.pairs, dtype=float, copy=True)
        pairs.sum_duplicates()
        pairs.eliminate_zeros()
        pairs.data[:] = 1.0
        cost = None
        if self.cost is not None:
            cost = np.array(self.cost, dtype=float).ravel()
            if cost.shape != (n_sites,):
                raise InputError(f"cost has {cost.size} entries for {n_sites} sites", field="cost",
                                 fix="give exactly one cost per candidate site")
            if not np.all(np.isfinite(cost)) or np.any(cost < 0):
                bad = int(np.flatnonzero(~np.isfinite(cost) | (cost < 0))[0])
                raise InputError(f"site costs must be finite and >= 0 (site {bad} has {cost[bad]!r})",
                                 field="cost", fix="fix or drop that site; use 0 for sites that cost nothing")
            cost = _readonly(cost)
        ids = np.arange(n_sites) if self.site_ids is None else np.array(self.site_ids).ravel()
        if len(ids) != n_sites:
            raise InputError(f"site_ids has {len(ids)} entries for {n_sites} sites", field="site_ids",
                             fix="give exactly one id per candidate site")
        object.__setattr__(self, "n_sites", n_sites)
        object.__setattr__(self, "weights", _readonly(w))
        object.__setattr__(self, "pairs", pairs)
        object.__setattr__(self, "cost", cost)
        object.__setattr__(self, "site_ids", _readonly(ids))

    @classmethod
    def from_pairs(cls, unit: Any, site: Any, weight: Any, n_sites: int, cost: Any = None,
                   site_ids: Any = None) -> CoverageProblem:
        """Build a problem from parallel (unit, site) index arrays.

        Parameters
        ----------
        unit, site : array-like of int
            Pair ``(unit[p], site[p])`` means site ``site[p]`` covers demand unit
            ``unit[p]``. Positions into ``weight`` and ``0..n_sites-1``.
        weight : array-like of float
            One weight per demand unit (defines ``n_units``).
        n_sites : int
            Number of candidate sites, including any that cover nothing.
        cost, site_ids : array-like, optional
            See :class:`CoverageProblem`.

        Returns
        -------
        CoverageProblem
        """
        n_sites = _as_count(n_sites, "n_sites")
        w = np.asarray(weight, dtype=float)
        u, s = np.asarray(unit), np.asarray(site)
        if u.ndim != 1 or s.ndim != 1:
            raise InputError("unit and site must be 1-D index arrays", field="unit/site",
                             fix="pass the two columns of the same pair table")
        if len(u) != len(s):
            raise InputError(f"unit has {len(u)} entries but site has {len(s)}", field="unit/site",
                             fix="pass the two columns of the same pair table")
        for name, a, n in (("unit", u, len(w)), ("site", s, n_sites)):
            if len(a) and not np.issubdtype(a.dtype, np.integer):
                raise InputError(f"{name} indices must be integers, got dtype {a.dtype}", field=name,
                                 fix="pass positions (0-based ints), not ids or distances")
            if len(a) and (a.min() < 0 or a.max() >= n):
                raise InputError(f"{name} index out of range [0, {n}): found {a.min()}..{a.max()}", field=name,
                                 fix=f"{name} must index into {'weight' if name == 'unit' else 'the n_sites sites'}")
        pairs = sparse.csr_array((np.ones(len(u)), (u.astype(np.int64), s.astype(np.int64))),
                                 shape=(len(w), n_sites))
        return cls(n_sites=n_sites, weights=w, pairs=pairs, cost=cost, site_ids=site_ids)

    @property
    def n_units(self) -> int:
        """Number of demand units (rows)."""
        return len(self.weights)

    @property
    def total_weight(self) -> float:
        """Weight of all demand units, covered or not."""
        return float(self.weights.sum())

    @cached_property
    def site_units(self) -> sparse.csr_array:
        """Sites x units: row j lists the units site j covers (greedy reads rows, not columns)."""
        return sparse.csr_array(self.pairs.T)

    def covered(self, sites: Any) -> np.ndarray:
        """Boolean mask of the units covered by opening ``sites``."""
        sites = np.asarray(sites, dtype=np.int64)
        mask = np.zeros(self.n_units, dtype=bool)
        if len(sites):
            mask[self.site_units[sites].indices] = True
        return mask


@dataclass(frozen=True, eq=False)
class Selection:
    """A set of sites to open and what it covers.

    Attributes
    ----------
    sites : ndarray of int
        Selected site positions; for greedy in the order chosen, for exact and
        exhaustive ascending.
    site_ids : ndarray
        ``problem.site_ids`` of ``sites``.
    objective : float
        Demand weight covered.
    method : str
        ``"greedy"``, ``"exact"`` or ``"exhaustive"``.
    seconds : float
        Wall time, including model building.
    covered_units : ndarray of bool, shape (n_units,)
        Which demand units the selection covers.
    status : str
        Starts with a keyword: ``optimal``, ``greedy``, ``time_limit``, ``empty``
        or ``failed``, followed by an explanation after a colon where useful.
    bound : float or None
        Exact only: the solver's proven upper bound on the best covered weight.
    gap : float or None
        Exact only: HiGHS' relative MIP gap (0 when proven optimal).
    cost : float or None
        Total cost of the selected sites, when the problem has costs.
    total_weight : float
        All demand weight in the problem, for the covered share.
    """

    sites: np.ndarray
    site_ids: np.ndarray
    objective: float
    method: str
    seconds: float
    covered_units: np.ndarray
    status: str
    bound: float | None = None
    gap: float | None = None
    cost: float | None = None
    total_weight: float = 0.0

    @property
    def is_empty(self) -> bool:
        """True when no site is selected."""
        return len(self.sites) == 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the unit mask is reduced to a count)."""
        share = self.objective / self.total_weight if self.total_weight > 0 else 0.0
        return {
            "method": self.method,
            "status": self.status,
            "sites": [int(s) for s in self.sites],
            "site_ids": [x.item() if isinstance(x, np.generic) else x for x in self.site_ids],
            "n_sites": len(self.sites),
            "objective": float(self.objective),
            "covered_share": float(share),
            "n_covered_units": int(self.covered_units.sum()),
            "cost": None if self.cost is None else float(self.cost),
            "bound": None if self.bound is None else float(self.bound),
            "gap": None if self.gap is None else float(self.gap),
            "seconds": float(self.seconds),
        }


def _as_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise InputError(f"{name} must be a non-negative integer, got {value!r}", field=name,
                         fix=f"pass {name} as a whole number >= 0")
    return int(value)


def _check_args(problem: CoverageProblem, k: Any, budget: Any) -> tuple[int | None, float | None]:
    """Validate the constraint arguments shared by every solver."""
    if k is None and budget is None:
        raise InputError("neither k nor budget was given", field="k/budget",
                         fix="pass k=<number of hubs>, budget=<total cost> (needs site costs), or both")
    if k is not None:
        k = _as_count(k, "k")
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, numbers.Real) or not math.isfinite(budget) \
                or budget < 0:
            raise InputError(f"budget must be a finite number >= 0, got {budget!r}", field="budget",
                             fix="pass the total money available for opening sites")
        if problem.cost is None:
            raise InputError("a budget was given but the problem has no site costs", field="cost",
                             fix="build the problem with CoverageProblem.from_pairs(..., cost=<one per site>)")
        budget = float(budget)
    return k, budget


def _empty_reason(problem: CoverageProblem, k: int | None, budget: float | None) -> str | None:
    """Why no site can be opened at all, or None if some can."""
    if problem.n_sites == 0:
        return "empty: no candidate sites"
    if k == 0:
        return "empty: k=0 allows no site"
    cost = problem.cost  # never None with a budget: _check_args refuses a budget without costs
    if budget is not None and cost is not None and not _fits(float(cost.min()), budget):
        return f"empty: budget {budget:g} is below the cheapest site's cost {cost.min():g}"
    return None


def _selection(problem: CoverageProblem, sites: Any, method: str, t0: float, status: str,
               bound: float | None = None, gap: float | None = None) -> Selection:
    sites = np.asarray(sites, dtype=np.int64)
    covered = problem.covered(sites)
    return Selection(
        sites=_readonly(sites),
        site_ids=_readonly(np.asarray(problem.site_ids)[sites]),
        objective=float(problem.weights[covered].sum()),
        method=method,
        seconds=time.perf_counter() - t0,
        covered_units=_readonly(covered),
        status=status,
        bound=bound,
        gap=gap,
        cost=None if problem.cost is None else float(problem.cost[sites].sum()),
        total_weight=problem.total_weight,
    )


def solve_greedy(problem: CoverageProblem, k: int | None = None, budget: float | None = None) -> Selection:
    """Lazy greedy MCLP heuristic.

    Each step opens the site with the largest marginal covered weight (with
    ``k`` only) or the largest marginal weight per unit cost (with a budget).
    Marginal gains only shrink as coverage grows (submodularity), so a stale
    gain in the priority queue is an upper bound: a site is re-evaluated only
    when it reaches the top, and taken if it still beats the next stale bound.
    Sites that no longer fit the remaining budget are dropped for good, since
    the remaining budget only shrinks. Selection stops early when nothing adds
    coverage, so fewer than ``k`` sites may be returned.

    With a budget, the ratio rule alone can be arbitrarily bad (a cheap site
    with a tiny gain can crowd out the one expensive site that matters), so the
    result is the better of the ratio-greedy set and the best single affordable
    site -- the Khuller-Moss-Naor (1999) modified greedy, guaranteed to reach
    at least ``(1 - 1/e) / 2`` of the optimum. When ``k`` and ``budget`` are
    both given, both are enforced on both candidates, but that guarantee is
    not claimed; use :func:`solve_exact` to measure the gap.

    Parameters
    ----------
    problem : CoverageProblem
    k : int, optional
        Maximum number of sites.
    budget : float, optional
        Maximum total site cost (the problem must have costs).

    Returns
    -------
    Selection
        Status ``greedy`` (or ``greedy: ...`` naming the safeguard that won),
        or ``empty: ...`` when no site can be opened.

    Raises
    ------
    InputError
        Neither ``k`` nor ``budget``, ``k < 0``, a negative budget, or a budget
        without site costs.
    """
    t0 = time.perf_counter()
    k, budget = _check_args(problem, k, budget)
    reason = _empty_reason(problem, k, budget)
    if reason:
        return _selection(problem, [], "greedy", t0, reason)
    w, su = problem.weights, problem.site_units
    # None exactly when budget is None: _check_args refuses a budget without site costs
    cost = problem.cost if budget is not None else None
    limit = problem.n_sites if k is None else min(k, problem.n_sites)
    gain0 = su @ w

    def key(gain: float, j: int) -> float:
        if cost is None:
            return gain
        # a free site that adds coverage is always worth taking first
        return gain / cost[j] if cost[j] > 0 else math.inf

    heap = [(-key(float(gain0[j]), j), j) for j in range(problem.n_sites)
            if gain0[j] > 0 and (budget is None or cost is None or _fits(float(cost[j]), budget))]
    heapq.heapify(heap)
    covered = np.zeros(problem.n_units, dtype=bool)
    chosen: list[int] = []
    spent = 0.0
    total = 0.0
    while heap and len(chosen) < limit:
        _, j = heapq.heappop(heap)
        if budget is not None and cost is not None and not _fits(spent + cost[j], budget):
            continue
        units = su.indices[su.indptr[j]:su.indptr[j + 1]]
        new = units[~covered[units]]
        gain = float(w[new].sum())
        if gain <= 0:
            continue
        kj = key(gain, j)
        if heap and kj < -heap[0][0]:
            heapq.heappush(heap, (-kj, j))
            continue
        chosen.append(j)
        covered[new] = True
        total += gain
        if cost is not None:
            spent += float(cost[j])

    status = "greedy"
    if budget is not None and cost is not None:
        affordable = np.flatnonzero(_fits(cost, budget))
        best = int(affordable[np.argmax(gain0[affordable])])
        if gain0[best] > total:
            chosen = [best]
            status = "greedy: best single affordable site beat the cost-effectiveness rule"
        else:
            status = "greedy: cost-effectiveness rule"
    return _selection(problem, chosen, "greedy", t0, status)


def _reduce(problem: CoverageProblem, budget: float | None) -> tuple[np.ndarray, sparse.csr_array, np.ndarray]:
    """Sites and aggregated demand rows that can matter in the MILP.

    Returns the kept site positions, the (groups x kept sites) coverage matrix
    and the weight of each group.
    """
    w = problem.weights
    a = problem.pairs
    site_ok = np.ones(problem.n_sites, dtype=bool)
    if budget is not None and problem.cost is not None:  # a budget always comes with costs (_check_args)
        site_ok &= _fits(problem.cost, budget)
    unit_ok = w > 0
    # a site is useful only if it covers some positive-weight unit, and a unit
    # only if some useful site covers it; one pass of each reaches the fixpoint
    site_ok &= (a.T @ unit_ok.astype(float)) > 0
    unit_ok &= (a @ site_ok.astype(float)) > 0
    sites = np.flatnonzero(site_ok)
    sub = a[np.flatnonzero(unit_ok)][:, sites]
    sub = sparse.csr_array(sub)
    sub.sort_indices()
    # Units covered by exactly the same sites are interchangeable in the model:
    # merging them (summing weights) shrinks the y variables and rows a lot on
    # dense block grids without changing the optimum.
    groups: dict[bytes, int] = {}
    label = np.empty(sub.shape[0], dtype=np.int64)
    ind, ptr = sub.indices, sub.indptr
    for i in range(sub.shape[0]):
        label[i] = groups.setdefault(ind[ptr[i]:ptr[i + 1]].tobytes(), len(groups))
    first = np.full(len(groups), -1, dtype=np.int64)
    first[label[::-1]] = np.arange(sub.shape[0])[::-1]
    gw = np.bincount(label, weights=w[unit_ok], minlength=len(groups))
    return sites, sparse.csr_array(sub[first]), gw


def _prune_redundant(problem: CoverageProblem, sites: np.ndarray) -> np.ndarray:
    """Drop opened sites whose every covered unit is also covered by another opened site.

    The MILP has no incentive against such sites (they cost nothing under ``k``),
    and a plan should not fund a hub that serves nobody new. Covered weight is unchanged.
    """
    if len(sites) < 2:
        return sites
    su, w = problem.site_units, problem.weights
    count = np.zeros(problem.n_units, dtype=np.int64)
    for j in sites:
        count[su.indices[su.indptr[j]:su.indptr[j + 1]]] += 1
    # drop the most expensive / highest-index redundant sites first
    order = sorted(sites.tolist(), key=lambda j: (-(problem.cost[j] if problem.cost is not None else 0.0), -j))
    dropped = set()
    for j in order:
        units = su.indices[su.indptr[j]:su.indptr[j + 1]]
        own = units[count[units] == 1]
        if w[own].sum() <= 0:
            count[units] -= 1
            dropped.add(j)
    keep = [j for j in sites.tolist() if j not in dropped]
    return np.asarray(keep, dtype=np.int64)


def solve_exact(problem: CoverageProblem, k: int | None = None, budget: float | None = None,
                time_limit: float | None = None, mip_rel_gap: float = 1e-6) -> Selection:
    """Solve the MCLP as a MILP with HiGHS (:func:`scipy.optimize.milp`).

    Model: binary ``x_j`` (open site j), continuous ``y_i`` in [0, 1] (unit i
    covered), ``y_i <= sum_{j covers i} x_j``, ``sum_j x_j <= k`` and/or
    ``sum_j cost_j x_j <= budget``, maximise ``sum_i w_i y_i``. ``y`` need not
    be integer: at an optimum with integral ``x`` each ``y_i`` is pushed to
    ``min(1, sum x_j)``, which is 0 or 1.

    Parameters
    ----------
    problem : CoverageProblem
    k : int, optional
        Maximum number of sites.
    budget : float, optional
        Maximum total site cost (the problem must have costs).
    time_limit : float, optional
        Seconds for HiGHS; on expiry the best solution found so far is
        returned with status ``time_limit`` and its bound and gap.
    mip_rel_gap : float, default 1e-6
        Relative gap at which HiGHS stops and calls the solution optimal
        (HiGHS' own default, 1e-4, would let "optimal" miss a few people per
        hundred thousand).

    Returns
    -------
    Selection
        ``objective`` is recomputed from the chosen sites, ``bound`` is the
        proven upper bound on the optimum, ``gap`` HiGHS' relative MIP gap.
        Opened sites that add no coverage beyond the other opened sites are
        removed (objective unchanged). Status ``optimal`` (possibly with a
        note, e.g. when greedy already covers all coverable demand and the
        MILP is skipped), ``time_limit: ...`` (best of the MILP incumbent and
        greedy, with the bound), ``empty: ...`` or ``failed: ...``.

    Raises
    ------
    InputError
        Invalid ``k``/``budget`` (as :func:`solve_greedy`), or ``time_limit``
        or ``mip_rel_gap`` not positive / negative.

    Examples
    --------
    >>> problem = CoverageProblem.from_pairs(unit=[0, 1, 1, 2], site=[0, 0, 1, 2], weight=[50, 30, 40], n_sites=3)
    >>> s = solve_exact(problem, k=2)
    >>> s.sites.tolist(), s.objective
    ([0, 2], 120.0)
    """
    t0 = time.perf_counter()
    k, budget = _check_args(problem, k, budget)
    if time_limit is not None and (not isinstance(time_limit, numbers.Real) or not time_limit > 0):
        raise InputError(f"time_limit must be a positive number of seconds, got {time_limit!r}",
                         field="time_limit", fix="pass e.g. time_limit=60, or None for no limit")
    if not isinstance(mip_rel_gap, numbers.Real) or not 0 <= mip_rel_gap < 1:
        raise InputError(f"mip_rel_gap must be in [0, 1), got {mip_rel_gap!r}", field="mip_rel_gap",
                         fix="pass e.g. 1e-6")
    reason = _empty_reason(problem, k, budget)
    if reason:
        return _selection(problem, [], "exact", t0, reason, bound=0.0, gap=0.0)

    # Units no site covers and sites that cover nothing (or cannot be afforded)
    # are dropped before building the model: they cannot change the optimum and
    # keep the MILP small.
    sites, cover, gw = _reduce(problem, budget)
    ns, ng = len(sites), len(gw)
    if ns == 0:
        return _selection(problem, [], "exact", t0, "empty: no affordable site covers any positive demand",
                          bound=0.0, gap=0.0)
    # Greedy takes milliseconds. When it covers every coverable unit (common
    # for large k) it is a proof of optimality and HiGHS need not run; otherwise
    # it is the fallback if HiGHS stops early with a worse incumbent.
    greedy = _prune_redundant(problem, np.sort(solve_greedy(problem, k=k, budget=budget).sites))
    greedy_obj = float(problem.weights[problem.covered(greedy)].sum())
    coverable = float(gw.sum())
    if greedy_obj >= coverable * (1 - 1e-12):
        return _selection(problem, greedy, "exact", t0, "optimal: greedy covers all coverable demand",
                          bound=coverable, gap=0.0)

    c = np.concatenate([np.zeros(ns), -gw])
    rows = [sparse.hstack([-cover, sparse.eye_array(ng)], format="csr")]
    lb, ub = [np.full(ng, -np.inf)], [np.zeros(ng)]
    if k is not None and k < ns:
        rows.append(sparse.csr_array(np.concatenate([np.ones(ns), np.zeros(ng)])[None, :]))
        lb.append([-np.inf])
        ub.append([k])
    if budget is not None:
        rows.append(sparse.csr_array(np.concatenate([problem.cost[sites], np.zeros(ng)])[None, :]))
        lb.append([-np.inf])
        ub.append([budget])
    constraints = LinearConstraint(sparse.vstack(rows, format="csr"), np.concatenate(lb), np.concatenate(ub))
    options: dict[str, Any] = {"disp": False, "mip_rel_gap": float(mip_rel_gap)}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    res = milp(c, integrality=np.concatenate([np.ones(ns), np.zeros(ng)]), bounds=Bounds(0, 1),
               constraints=constraints, options=options)

    bound = None if getattr(res, "mip_dual_bound", None) is None else float(-res.mip_dual_bound)
    gap = None if getattr(res, "mip_gap", None) is None else float(res.mip_gap)
    kind = "time_limit" if res.status == 1 else "failed"
    if res.status == 0 and res.x is not None:
        return _selection(problem, _prune_redundant(problem, sites[res.x[:ns] > 0.5]), "exact", t0, "optimal",
                          bound=bound, gap=gap)
    # Stopped early: HiGHS' incumbent can be far worse than greedy on large
    # instances (its heuristics run after a slow root LP), so return whichever
    # is better, still with the proven bound.
    if res.x is not None:
        chosen = _prune_redundant(problem, sites[res.x[:ns] > 0.5])
        found = float(problem.weights[problem.covered(chosen)].sum())
        if found >= greedy_obj:
            return _selection(problem, chosen, "exact", t0, f"{kind}: best MILP solution so far ({res.message})",
                              bound=bound, gap=gap)
        note = f"greedy solution kept, better than the MILP incumbent {found:g} ({res.message})"
    else:
        note = f"greedy solution kept, no MILP solution found ({res.message})"
    if bound is not None and bound > 0:
        gap = (bound - greedy_obj) / bound
        if gap <= mip_rel_gap:
            kind, note = "optimal", "greedy solution proven optimal by the MILP bound"
    return _selection(problem, greedy, "exact", t0, f"{kind}: {note}", bound=bound, gap=gap)


def exhaustive(problem: CoverageProblem, k: int | None = None, budget: float | None = None) -> Selection:
    """Best selection by checking every subset of sites (reference for tests).

    Subsets are scored all at once: with ``f[m]`` the weight of units whose
    covering-site bitmask is ``m``, the weight left uncovered by subset ``S``
    is the sum of ``f`` over masks inside the complement of ``S``, a
    subset-sum (zeta) transform computed in ``O(n 2^n)``. Among optimal
    subsets the smallest, then lowest bitmask, is returned.

    Raises
    ------
    InputError
        More than :data:`EXHAUSTIVE_MAX_SITES` candidates, or invalid ``k``/``budget``.
    """
    t0 = time.perf_counter()
    k, budget = _check_args(problem, k, budget)
    n = problem.n_sites
    if n > EXHAUSTIVE_MAX_SITES:
        raise InputError(f"exhaustive search over {n} sites means 2**{n} subsets", field="n_sites",
                         fix=f"use solve_exact, or at most {EXHAUSTIVE_MAX_SITES} sites")
    reason = _empty_reason(problem, k, budget)
    if reason:
        return _selection(problem, [], "exhaustive", t0, reason, bound=0.0, gap=0.0)
    a = problem.pairs.tocoo()
    masks = np.zeros(problem.n_units, dtype=np.int64)
    np.bitwise_or.at(masks, a.row, np.left_shift(1, a.col.astype(np.int64)))
    full = (1 << n) - 1
    f = np.bincount(masks, weights=problem.weights, minlength=full + 1)
    for j in range(n):
        view = f.reshape(-1, 2, 1 << j)
        view[:, 1, :] += view[:, 0, :]
    subsets = np.arange(full + 1, dtype=np.int64)
    score = problem.total_weight - f[full ^ subsets]
    size = np.zeros(full + 1, dtype=np.int64)
    spend = np.zeros(full + 1)
    for j in range(n):
        bit = (subsets >> j) & 1
        size += bit
        if problem.cost is not None:
            spend += problem.cost[j] * bit
    ok = np.ones(full + 1, dtype=bool)
    if k is not None:
        ok &= size <= k
    if budget is not None:
        ok &= _fits(spend, budget)
    score = np.where(ok, score, -np.inf)
    best = score.max()
    tied = np.flatnonzero(score >= best - 1e-9 * max(1.0, abs(best)))
    pick = int(tied[np.argmin(size[tied])])
    sites = [j for j in range(n) if pick >> j & 1]
    return _selection(problem, sites, "exhaustive", t0, f"optimal: exhaustive search over 2**{n} subsets",
                      bound=float(best), gap=0.0)


def compare(problem: CoverageProblem, k: int | None = None, budget: float | None = None,
            time_limit: float | None = None) -> dict[str, Any]:
    """Run greedy and exact on the same problem and report how far apart they are.

    Parameters
    ----------
    problem : CoverageProblem
        The instance (:meth:`CoverageProblem.from_pairs`, :func:`toolkit.decisions.selection_problem`).
    k : int, optional
        Maximum number of sites.
    budget : float, optional
        Maximum total site cost.
    time_limit : float, optional
        Seconds for the exact solver.

    Returns
    -------
    dict
        ``greedy`` and ``exact`` (their :meth:`Selection.to_dict`), the two
        objectives and times, ``gap`` = (exact - greedy) / exact (0 when exact
        covers nothing; can be negative if exact stopped at a time limit),
        ``gap_to_bound`` = (bound - greedy) / bound, a proven ceiling on how
        much greedy leaves on the table, and ``exact_status``.

    Examples
    --------
    Three demand units (50, 30 and 40 residents); site 0 covers units 0 and 1, site 1 unit 1, site 2 unit 2:

    >>> problem = CoverageProblem.from_pairs(unit=[0, 1, 1, 2], site=[0, 0, 1, 2], weight=[50, 30, 40], n_sites=3)
    >>> c = compare(problem, k=1)
    >>> c["greedy_objective"], c["exact_objective"], c["gap"]
    (80.0, 80.0, 0.0)
    """
    g = solve_greedy(problem, k=k, budget=budget)
    e = solve_exact(problem, k=k, budget=budget, time_limit=time_limit)
    gap = (e.objective - g.objective) / e.objective if e.objective > 0 else 0.0
    bound = e.bound if e.bound is not None else e.objective
    gap_to_bound = (bound - g.objective) / bound if bound > 0 else 0.0
    return {
        "k": k,
        "budget": budget,
        "greedy_objective": g.objective,
        "exact_objective": e.objective,
        "bound": e.bound,
        "gap": gap,
        "gap_to_bound": gap_to_bound,
        "greedy_seconds": g.seconds,
        "exact_seconds": e.seconds,
        "exact_status": e.status,
        "greedy": g.to_dict(),
        "exact": e.to_dict(),
    }
