"""MCLP site selection: exact MILP against brute force, greedy against both, edge cases and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import OptimizeResult
from scipy.spatial import cKDTree

import toolkit.selection as selection
from toolkit.errors import InputError
from toolkit.selection import CoverageProblem, compare, exhaustive, solve_exact, solve_greedy


def random_problem(rng: np.random.Generator, n_sites: int, n_units: int, density: float,
                   costs: bool = True) -> CoverageProblem:
    cover = rng.random((n_units, n_sites)) < density
    unit, site = np.nonzero(cover)
    weight = rng.integers(0, 100, n_units).astype(float)
    cost = rng.integers(1, 10, n_sites).astype(float) if costs else None
    return CoverageProblem.from_pairs(unit, site, weight, n_sites, cost=cost)


def geometric_problem(n_sites: int, n_units: int, side: float, radius: float, seed: int) -> CoverageProblem:
    rng = np.random.default_rng(seed)
    units, sites = rng.uniform(0, side, (n_units, 2)), rng.uniform(0, side, (n_sites, 2))
    pairs = cKDTree(sites).sparse_distance_matrix(cKDTree(units), radius, output_type="ndarray")
    weight = np.round(rng.lognormal(6.0, 0.8, n_units))
    return CoverageProblem.from_pairs(pairs["j"], pairs["i"], weight, n_sites,
                                      cost=np.round(rng.lognormal(0.0, 0.5, n_sites), 2))


def plain_greedy(problem: CoverageProblem, k: int) -> list[int]:
    """Non-lazy greedy: recompute every marginal gain every step."""
    dense = problem.pairs.toarray() > 0
    covered = np.zeros(problem.n_units, dtype=bool)
    chosen: list[int] = []
    for _ in range(k):
        gains = (problem.weights * ~covered) @ dense
        j = int(np.argmax(gains))
        if gains[j] <= 0:
            break
        chosen.append(j)
        covered |= dense[:, j]
    return chosen


def hand_instance() -> CoverageProblem:
    """Greedy trap for k=2: site 0 covers the middle 4 units, sites 1 and 2 cover 3 each but are disjoint.

    Greedy takes site 0 (4) then one of the others (+1) = 5; the optimum {1, 2} covers all 6.
    """
    pairs = {0: [0, 1, 2, 3], 1: [0, 1, 4], 2: [2, 3, 5]}
    unit = [u for units in pairs.values() for u in units]
    site = [s for s, units in pairs.items() for _ in units]
    return CoverageProblem.from_pairs(unit, site, np.ones(6), n_sites=3, cost=[1.0, 1.0, 1.0])


def assert_empty(sel: selection.Selection, problem: CoverageProblem, why: str) -> None:
    assert sel.is_empty and len(sel.sites) == 0 and len(sel.site_ids) == 0
    assert sel.objective == 0.0
    assert sel.covered_units.shape == (problem.n_units,) and not sel.covered_units.any()
    assert sel.status.startswith("empty") and why in sel.status
    json.dumps(sel.to_dict())


# --- building the problem ---------------------------------------------------------------------------------------

def test_from_pairs_builds_binary_csr_and_defaults():
    p = CoverageProblem.from_pairs([0, 0, 1, 2, 2], [1, 1, 0, 1, 2], [5, 3, 2], n_sites=4)
    assert p.pairs.shape == (3, 4) and p.pairs.format == "csr"
    assert p.pairs.nnz == 4 and set(p.pairs.data) == {1.0}  # the repeated pair counts once
    assert list(p.site_ids) == [0, 1, 2, 3] and p.cost is None
    assert p.n_units == 3 and p.total_weight == 10
    with pytest.raises(ValueError):
        p.weights[0] = 1  # read-only: results refer back to it


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"unit": [0, 3]}, "unit"),
    ({"site": [0, 5]}, "site"),
    ({"site": [0.0, 1.0]}, "site"),
    ({"unit": [0, 1, 2]}, "unit/site"),
    ({"weight": [1.0, -2.0, 0.0]}, "weight"),
    ({"weight": [1.0, np.nan, 0.0]}, "weight"),
    ({"cost": [1.0, -1.0]}, "cost"),
    ({"cost": [1.0]}, "cost"),
    ({"n_sites": -1}, "n_sites"),
    ({"site_ids": ["a"]}, "site_ids"),
])
def test_from_pairs_rejects_bad_input(kwargs, field):
    args = {"unit": [0, 1], "site": [0, 1], "weight": [1.0, 2.0, 3.0], "n_sites": 2} | kwargs
    with pytest.raises(InputError) as err:
        CoverageProblem.from_pairs(**args)
    assert err.value.field == field and err.value.fix


# --- exact vs exhaustive vs greedy on random instances ----------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_exact_equals_exhaustive_and_beats_greedy_with_k(seed):
    rng = np.random.default_rng(seed)
    p = random_problem(rng, n_sites=int(rng.integers(3, 16)), n_units=int(rng.integers(10, 60)),
                       density=rng.uniform(0.05, 0.4))
    for k in (1, 2, 3, 5):
        ex, g, brute = solve_exact(p, k=k), solve_greedy(p, k=k), exhaustive(p, k=k)
        assert ex.status.startswith("optimal")
        assert ex.objective == pytest.approx(brute.objective)
        assert ex.objective >= g.objective - 1e-9
        assert len(ex.sites) <= k and len(g.sites) <= k
        assert ex.bound >= ex.objective - 1e-6
        for sel in (ex, g, brute):
            assert sel.objective == pytest.approx(p.weights[sel.covered_units].sum())


@pytest.mark.parametrize("seed", range(12))
def test_exact_equals_exhaustive_and_beats_greedy_with_budget(seed):
    rng = np.random.default_rng(100 + seed)
    p = random_problem(rng, n_sites=int(rng.integers(3, 16)), n_units=int(rng.integers(10, 60)),
                       density=rng.uniform(0.05, 0.4))
    for kw in ({"budget": 5.0}, {"budget": 12.5}, {"budget": 20.0, "k": 2}):
        ex, g, brute = solve_exact(p, **kw), solve_greedy(p, **kw), exhaustive(p, **kw)
        assert ex.objective == pytest.approx(brute.objective)
        assert ex.objective >= g.objective - 1e-9
        for sel in (ex, g, brute):
            assert sel.cost <= kw["budget"] + 1e-9
            assert len(sel.sites) <= kw.get("k", p.n_sites)


@pytest.mark.parametrize("seed", range(8))
def test_lazy_greedy_picks_what_plain_greedy_picks(seed):
    rng = np.random.default_rng(200 + seed)
    p = random_problem(rng, n_sites=40, n_units=300, density=0.05, costs=False)
    # continuous weights so no two gains tie and the order is unique
    p = CoverageProblem(p.n_sites, rng.random(p.n_units), p.pairs)
    assert list(solve_greedy(p, k=12).sites) == plain_greedy(p, 12)


def test_greedy_is_optimal_when_sites_do_not_overlap():
    # each unit has one covering site, so coverage is additive and taking the k heaviest sites is optimal
    rng = np.random.default_rng(5)
    site = rng.integers(0, 12, 80)
    p = CoverageProblem.from_pairs(np.arange(80), site, rng.integers(1, 50, 80), n_sites=12)
    for k in (1, 3, 6, 12):
        g, brute = solve_greedy(p, k=k), exhaustive(p, k=k)
        assert g.objective == brute.objective
        assert sorted(g.sites) == sorted(brute.sites)


def test_hand_built_instance_where_greedy_is_suboptimal():
    p = hand_instance()
    g, ex = solve_greedy(p, k=2), solve_exact(p, k=2)
    assert list(g.sites[:1]) == [0] and g.objective == 5
    assert sorted(ex.sites) == [1, 2] and ex.objective == 6 == exhaustive(p, k=2).objective
    assert ex.objective > g.objective
    r = compare(p, k=2)
    assert r["gap"] == pytest.approx(1 / 6)
    assert r["greedy_objective"] == 5 and r["exact_objective"] == 6


def test_budget_greedy_falls_back_to_best_single_site():
    # ratio rule takes cheap site 0 (2 per unit cost) and then cannot afford site 1 (1 per unit cost, 10 total)
    p = CoverageProblem.from_pairs([0, 1], [0, 1], [2.0, 10.0], n_sites=2, cost=[1.0, 10.0])
    g = solve_greedy(p, budget=10.0)
    assert list(g.sites) == [1] and g.objective == 10
    assert "best single" in g.status
    assert solve_exact(p, budget=10.0).objective == 10


def test_free_sites_fit_a_zero_budget():
    p = CoverageProblem.from_pairs([0, 1, 2], [0, 1, 2], [1.0, 2.0, 3.0], n_sites=3, cost=[0.0, 4.0, 0.0])
    for solve in (solve_greedy, solve_exact, exhaustive):
        sel = solve(p, budget=0.0)
        assert sorted(sel.sites) == [0, 2] and sel.objective == 4 and sel.cost == 0


def test_exact_drops_sites_that_add_nothing():
    # site 1 covers a subset of site 0: with k=3 the MILP may open it, but a plan must not pay for it
    p = CoverageProblem.from_pairs([0, 1, 1, 2], [0, 0, 1, 2], [1.0, 1.0, 1.0], n_sites=3)
    ex = solve_exact(p, k=3)
    assert sorted(ex.sites) == [0, 2] and ex.objective == 3


# --- edge cases: empty but well-formed ----------------------------------------------------------------------------

@pytest.mark.parametrize("solve", [solve_greedy, solve_exact, exhaustive])
def test_no_candidate_sites_gives_empty_selection(solve):
    p = CoverageProblem.from_pairs([], [], [3.0, 4.0], n_sites=0, cost=[])
    assert_empty(solve(p, k=5), p, "no candidate sites")
    assert_empty(solve(p, budget=10.0), p, "no candidate sites")


@pytest.mark.parametrize("solve", [solve_greedy, solve_exact, exhaustive])
def test_budget_below_every_cost_gives_empty_selection(solve):
    p = hand_instance()
    assert_empty(solve(p, budget=0.5), p, "below the cheapest site")


@pytest.mark.parametrize("solve", [solve_greedy, solve_exact, exhaustive])
def test_k_zero_gives_empty_selection(solve):
    p = hand_instance()
    assert_empty(solve(p, k=0), p, "k=0")


def test_sites_covering_nothing_give_empty_selection():
    p = CoverageProblem.from_pairs([0], [0], [0.0, 5.0], n_sites=3)  # site 0 covers only a zero-weight unit
    ex, g = solve_exact(p, k=2), solve_greedy(p, k=2)
    assert_empty(ex, p, "covers any positive demand")
    assert g.is_empty and g.objective == 0


# --- invalid arguments ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "field"), [
    ({}, "k/budget"),
    ({"k": -1}, "k"),
    ({"k": 2.5}, "k"),
    ({"k": True}, "k"),
    ({"budget": -1.0}, "budget"),
    ({"budget": float("nan")}, "budget"),
])
@pytest.mark.parametrize("solve", [solve_greedy, solve_exact, exhaustive, compare])
def test_invalid_arguments_raise_input_error(solve, kwargs, field):
    with pytest.raises(InputError) as err:
        solve(hand_instance(), **kwargs)
    assert err.value.field == field and err.value.fix


@pytest.mark.parametrize("solve", [solve_greedy, solve_exact, exhaustive])
def test_budget_without_costs_raises(solve):
    p = CoverageProblem.from_pairs([0], [0], [1.0], n_sites=1)
    with pytest.raises(InputError) as err:
        solve(p, budget=5.0)
    assert err.value.field == "cost" and "cost=" in err.value.fix


def test_exact_rejects_bad_time_limit():
    with pytest.raises(InputError) as err:
        solve_exact(hand_instance(), k=1, time_limit=0)
    assert err.value.field == "time_limit"


def test_exhaustive_refuses_more_than_20_sites():
    p = CoverageProblem.from_pairs(np.arange(21), np.arange(21), np.ones(21), n_sites=21)
    with pytest.raises(InputError) as err:
        exhaustive(p, k=2)
    assert err.value.field == "n_sites" and "solve_exact" in err.value.fix


# --- larger instance, time limit, reporting -----------------------------------------------------------------------

def test_medium_instance_solves_exactly_with_gap_reported():
    p = geometric_problem(n_sites=300, n_units=5000, side=7000.0, radius=500.0, seed=1)
    r = compare(p, k=20, time_limit=60)
    ex = r["exact"]
    assert ex["status"] == "optimal"  # solved by HiGHS, not by the greedy shortcut
    assert ex["gap"] is not None and ex["gap"] <= 1e-6
    assert ex["bound"] >= ex["objective"] * (1 - 1e-6)
    assert r["exact_objective"] >= r["greedy_objective"]
    assert 0 <= r["gap"] <= r["gap_to_bound"] + 1e-9
    assert r["greedy_seconds"] < 1.0
    json.dumps(r)


def test_exact_skips_milp_when_greedy_covers_everything(monkeypatch):
    p = hand_instance()

    def never(*args, **kwargs):
        raise AssertionError("the MILP should not run when greedy already covers all coverable demand")

    monkeypatch.setattr(selection, "milp", never)
    ex = solve_exact(p, k=3)
    assert ex.status.startswith("optimal") and "greedy covers all" in ex.status
    assert ex.objective == 6 == ex.bound == exhaustive(p, k=3).objective
    assert sorted(ex.sites) == [1, 2]  # greedy opened 0, 2, 1; site 0 became redundant and is dropped


def test_time_limited_exact_keeps_greedy_when_milp_incumbent_is_worse(monkeypatch):
    p = hand_instance()

    def stopped(c, **kw):
        # a solver stopped by its time limit with a poor incumbent (only site 2) and a bound of 6
        x = np.zeros(len(c))
        x[2] = 1.0
        return OptimizeResult(status=1, x=x, fun=-3.0, mip_dual_bound=-6.0, mip_gap=0.5,
                              message="Time limit reached.")

    monkeypatch.setattr(selection, "milp", stopped)
    ex = solve_exact(p, k=2, time_limit=1)
    assert ex.status.startswith("time_limit") and "greedy solution kept" in ex.status
    assert ex.objective == 5 and ex.bound == 6 and ex.gap == pytest.approx(1 / 6)


def test_to_dict_is_json_ready():
    p = CoverageProblem.from_pairs([0, 1, 2], [0, 1, 1], [1.0, 2.0, 3.0], n_sites=2, cost=[2.0, 3.0],
                                   site_ids=np.array(["hub-a", "hub-b"]))
    d = solve_greedy(p, k=1).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["site_ids"] == ["hub-b"] and d["objective"] == 5 and d["cost"] == 3
    assert d["covered_share"] == pytest.approx(5 / 6) and d["n_covered_units"] == 2
