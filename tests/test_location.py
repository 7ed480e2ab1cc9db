"""Full coverage (LSCP) and p-median (toolkit.location) against brute force.

Every reference here enumerates subsets with itertools and scores them with plain numpy on the raw
(unit, site) pairs: no toolkit solver, no toolkit subset transform. The synthetic instances are random
covering/distance tables standing for blocks and candidate sites; the real one is a 12-site subset of the
default study's candidate sites with their network coverage pairs.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from toolkit.errors import InputError
from toolkit.location import (
    DistanceProblem,
    FullCoverageSettings,
    compare_lscp,
    compare_pmedian,
    exhaustive_lscp,
    exhaustive_pmedian,
    full_coverage,
    solve_lscp,
    solve_pmedian,
)
from toolkit.selection import CoverageProblem


def random_cover(seed: int, n_sites: int = 9, n_units: int = 40, density: float = 0.18,
                 orphans: int = 3) -> tuple[CoverageProblem, np.ndarray]:
    """Random units x sites coverage with some units no site covers (beyond every candidate)."""
    rng = np.random.default_rng(seed)
    a = rng.random((n_units, n_sites)) < density
    a[:orphans] = False
    w = rng.integers(1, 500, n_units).astype(float)
    w[rng.random(n_units) < 0.1] = 0.0  # empty blocks need no cover
    u, s = np.nonzero(a)
    return CoverageProblem.from_pairs(u, s, w, n_sites=n_sites), a


def brute_lscp(a: np.ndarray, w: np.ndarray, share: float, fixed: tuple[int, ...] = ()) -> int:
    """Fewest new sites (besides ``fixed``) covering ``share`` of the weight some site can reach."""
    coverable = a.any(axis=1) & (w > 0)
    target = share * w[coverable].sum()
    free = [j for j in range(a.shape[1]) if j not in fixed]
    for k in range(len(free) + 1):
        for combo in itertools.combinations(free, k):
            cols = list(fixed) + list(combo)
            cov = a[:, cols].any(axis=1) if cols else np.zeros(len(w), bool)
            if share >= 1:
                if not (coverable & ~cov).any():
                    return k
            elif w[cov].sum() >= target - 1e-9 * max(1.0, target):
                return k
    raise AssertionError("no subset reaches the target")


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("share", [1.0, 0.9, 0.6])
def test_lscp_exact_equals_brute_force_and_greedy_is_feasible(seed, share):
    """Random instances standing for blocks x candidate sites: exact = brute force, greedy reaches the target."""
    p, a = random_cover(seed)
    ref = brute_lscp(a, p.weights, share)
    exact = solve_lscp(p, share=share)
    greedy = solve_lscp(p, share=share, method="greedy")
    assert exact.n_new == ref and exact.status.startswith("optimal")
    assert exhaustive_lscp(p, share=share).n_new == ref
    assert greedy.n_new >= ref
    for plan in (exact, greedy):
        cov = a[:, plan.sites].any(axis=1) if len(plan.sites) else np.zeros(len(p.weights), bool)
        coverable = a.any(axis=1) & (p.weights > 0)
        if share >= 1:
            assert not (coverable & ~cov).any()
        assert p.weights[cov].sum() >= share * p.weights[coverable].sum() - 1e-6
        assert plan.covered_weight == pytest.approx(p.weights[cov].sum())
    cmp = compare_lscp(p, share=share)
    assert cmp["n_exact"] == ref and cmp["excess"] == greedy.n_new - ref >= 0
    assert cmp["gap"] == pytest.approx((greedy.n_new - ref) / ref if ref else 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_fixed_sites_are_open_and_not_counted(seed):
    """Existing facilities standing as fixed sites: always open, never counted as new, count = brute force."""
    p, a = random_cover(seed, n_sites=10)
    fixed = (seed % 10, (seed + 3) % 10)
    for share in (1.0, 0.7):
        ref = brute_lscp(a, p.weights, share, fixed)
        for method in ("exact", "greedy"):
            plan = solve_lscp(p, share=share, fixed=list(fixed), method=method)
            assert set(fixed) <= set(plan.sites.tolist())
            assert not set(fixed) & set(plan.new_sites.tolist())
            assert plan.n_new == ref if method == "exact" else plan.n_new >= ref
        assert exhaustive_lscp(p, share=share, fixed=list(fixed)).n_new == ref
    # a boolean mask says the same
    mask = np.zeros(10, bool)
    mask[list(fixed)] = True
    assert solve_lscp(p, fixed=mask).n_new == brute_lscp(a, p.weights, 1.0, fixed)


def test_fixed_sites_covering_everything_need_no_new_site():
    """One existing facility within reach of every block: full coverage needs no hub."""
    p = CoverageProblem.from_pairs([0, 1, 2, 0], [0, 0, 0, 1], [3.0, 4.0, 5.0], n_sites=2)
    plan = solve_lscp(p, fixed=[0])
    assert plan.n_new == 0 and plan.covered_share == 1.0 and plan.status.startswith("optimal")


@pytest.mark.parametrize("seed", range(5))
def test_raising_the_share_never_lowers_the_hub_count(seed):
    """Monotonicity on random instances: a larger share needs at least as many hubs (exact)."""
    p, _ = random_cover(seed, n_sites=12, n_units=60)
    counts = [solve_lscp(p, share=s).n_new for s in (0.2, 0.4, 0.6, 0.8, 0.95, 1.0)]
    assert counts == sorted(counts)


def test_uncoverable_demand_is_reported_not_infeasible():
    """Two blocks beyond every candidate (weights 40 and 60): reported, the others fully covered."""
    #        unit: 0  1  2  3(beyond)  4(beyond)  5 (empty, beyond)
    p = CoverageProblem.from_pairs([0, 1, 1, 2], [0, 0, 1, 2], [10.0, 20.0, 30.0, 40.0, 60.0, 0.0], n_sites=3)
    for method in ("exact", "greedy"):
        plan = solve_lscp(p, method=method)
        assert plan.uncoverable_weight == 100.0 and plan.uncoverable_units == 2
        assert plan.coverable_weight == 60.0 and plan.covered_weight == 60.0
        assert plan.n_new == 2 and plan.covered_share == 1.0
        d = plan.to_dict()
        assert d["uncoverable_weight"] == 100.0 and d["n_new"] == 2
    # nothing coverable at all: zero hubs, everything reported
    none = CoverageProblem.from_pairs(np.zeros(0, int), np.zeros(0, int), [5.0, 7.0], n_sites=2)
    plan = solve_lscp(none)
    assert plan.n_new == 0 and plan.uncoverable_weight == 12.0


def test_tiny_weights_still_need_their_cover():
    """Full coverage is judged unit by unit: a block of 0.001 residents still needs its hub."""
    p = CoverageProblem.from_pairs([0, 1], [0, 1], [1e6, 1e-3], n_sites=2)
    assert solve_lscp(p).n_new == 2 and solve_lscp(p, method="greedy").n_new == 2
    assert exhaustive_lscp(p).n_new == 2


def test_greedy_gap_on_a_known_bad_instance():
    """The textbook bad case: 2 rows x 14 columns of blocks; greedy takes column groups of 8, 4, 2 (3 hubs)
    where the two rows (2 hubs) suffice: gap 0.5, reported."""
    u, s = [], []
    for c in range(14):
        for row in (0, 1):
            unit = row * 14 + c
            u += [unit, unit]
            s += [row, 2 if c < 8 else 3 if c < 12 else 4]
    p = CoverageProblem.from_pairs(u, s, np.ones(28), n_sites=5)
    cmp = compare_lscp(p)
    assert cmp["n_exact"] == brute_lscp(_dense(p), p.weights, 1.0) == 2
    assert cmp["n_greedy"] == 3 and cmp["excess"] == 1 and cmp["gap"] == pytest.approx(0.5)
    assert sorted(cmp["greedy"]["new_site_ids"]) == [2, 3, 4] and cmp["exact"]["new_site_ids"] == [0, 1]


def _dense(p: CoverageProblem) -> np.ndarray:
    return p.pairs.toarray() > 0


def test_bad_arguments_raise_input_error():
    """Shares outside (0, 1], unknown methods, fixed sites out of range: one InputError naming the field."""
    p, _ = random_cover(0)
    for kwargs, fieldname in (({"share": 0}, "share"), ({"share": 1.5}, "share"), ({"method": "magic"}, "method"),
                              ({"fixed": [99]}, "fixed"), ({"fixed": [0.5]}, "fixed")):
        with pytest.raises(InputError) as e:
            solve_lscp(p, **kwargs)
        assert e.value.field == fieldname
    with pytest.raises(InputError):
        exhaustive_lscp(CoverageProblem.from_pairs([0], [0], [1.0], n_sites=16))


# ---------------------------------------------------------------- p-median
def random_dist(seed: int, n_sites: int = 9, n_units: int = 30, limit: float = 800.0):
    """Sites and units as random points in a 2 km square, walks = 1.3 x straight line, capped at ``limit``."""
    rng = np.random.default_rng(seed)
    su = rng.uniform(0, 2000, (n_sites, 2))
    uu = rng.uniform(0, 2000, (n_units, 2))
    d = 1.3 * np.hypot(*(uu[:, None, :] - su[None, :, :]).transpose(2, 0, 1))
    w = rng.integers(0, 300, n_units).astype(float)
    i, j = np.nonzero(d <= limit)
    return DistanceProblem.from_pairs(i, j, d[i, j], w, n_sites=n_sites, limit=limit), np.minimum(d, limit), w


def brute_pmedian(dense: np.ndarray, w: np.ndarray, p: int, limit: float, fixed: tuple[int, ...] = ()) -> float:
    """Smallest weighted capped walk over every choice of p new sites (dense numpy, no toolkit)."""
    free = [j for j in range(dense.shape[1]) if j not in fixed]
    best = np.inf
    for combo in itertools.combinations(free, min(p, len(free))):
        cols = list(fixed) + list(combo)
        walk = dense[:, cols].min(axis=1) if cols else np.full(len(w), limit)
        best = min(best, float(w @ np.minimum(walk, limit)))
    return best


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("p", [1, 2, 4])
def test_pmedian_exact_equals_brute_force(seed, p):
    """Random points standing for blocks and sites: exact = brute force, greedy no better, gap reported."""
    prob, dense, w = random_dist(seed)
    ref = brute_pmedian(dense, w, p, prob.limit)
    exact = solve_pmedian(prob, p)
    greedy = solve_pmedian(prob, p, method="greedy")
    assert exact.cost == pytest.approx(ref, rel=1e-9)
    assert exhaustive_pmedian(prob, p).cost == pytest.approx(ref, rel=1e-9)
    assert greedy.cost >= ref * (1 - 1e-9) and len(greedy.new_sites) <= p
    assert exact.cost == pytest.approx(float(w @ dense[:, exact.sites].min(axis=1)))
    cmp = compare_pmedian(prob, p)
    assert cmp["gap"] == pytest.approx((greedy.cost - ref) / ref) and cmp["gap"] >= -1e-12


@pytest.mark.parametrize("seed", range(4))
def test_pmedian_fixed_sites(seed):
    """Existing facilities fixed in: always open, p more sites, cost = brute force with them open."""
    prob, dense, w = random_dist(seed, n_sites=10)
    fixed = (seed, seed + 5)
    ref = brute_pmedian(dense, w, 2, prob.limit, fixed)
    for method in ("exact", "greedy"):
        plan = solve_pmedian(prob, 2, fixed=list(fixed), method=method)
        assert set(fixed) <= set(plan.sites.tolist()) and not set(fixed) & set(plan.new_sites.tolist())
        assert plan.cost == pytest.approx(ref, rel=1e-9) if method == "exact" else plan.cost >= ref * (1 - 1e-9)


def test_pmedian_caps_walks_at_the_limit():
    """A unit beyond every site costs weight x limit whatever is opened."""
    prob = DistanceProblem.from_pairs([0, 1], [0, 1], [100.0, 200.0], [1.0, 1.0, 2.0], n_sites=2, limit=500)
    plan = solve_pmedian(prob, 2)
    assert plan.cost == pytest.approx(100 + 200 + 2 * 500)
    assert solve_pmedian(prob, 0).cost == pytest.approx(4 * 500)


# ------------------------------------------------ the default study, a real subset
@pytest.fixture(scope="module")
def real_subset(xuhui):
    """12 usable candidate sites of the default study and their 720 m (sports) network coverage of the blocks."""
    from toolkit.reach import reachable_pairs
    from toolkit.snapping import snap_points

    sites = xuhui.layers["candidate_sites"]
    usable = sites["score"].notna().to_numpy()
    obstacles = xuhui.details.get("snap_obstacles")
    bs = snap_points(xuhui.network, xuhui.blocks.geometry, max_snap_m=xuhui.study.block_max_snap_m,
                     obstacles=obstacles)
    ss = snap_points(xuhui.network, sites.geometry, max_snap_m=250, obstacles=obstacles)
    pairs = reachable_pairs(xuhui.network, bs, ss, 720.0)
    pairs = pairs[usable[pairs["source"].to_numpy()]]
    reach = pairs.groupby("source").size().sort_values(ascending=False)
    chosen = np.sort(reach.index.to_numpy()[:12])
    pairs = pairs[pairs["source"].isin(chosen)]
    col = {s: i for i, s in enumerate(chosen)}
    pop = xuhui.blocks["population"].to_numpy(dtype=float)
    u = pairs["origin"].to_numpy()
    s = np.array([col[x] for x in pairs["source"]])
    return CoverageProblem.from_pairs(u, s, pop, n_sites=len(chosen),
                                      site_ids=sites["site_id"].to_numpy()[chosen]), u, s, pop


def test_real_subset_exact_equals_exhaustive_and_greedy_gap_reported(real_subset):
    """Acceptance: on <= 15 real candidate sites, exact = an exhaustive search; greedy reported with its gap."""
    p, u, s, pop = real_subset
    a = np.zeros((len(pop), p.n_sites), bool)
    a[u, s] = True
    assert p.n_sites == 12 and a.any(axis=0).all()
    for share in (1.0, 0.8):
        ref = brute_lscp(a, pop, share)
        cmp = compare_lscp(p, share=share)
        assert cmp["n_exact"] == ref == exhaustive_lscp(p, share=share).n_new
        assert cmp["n_greedy"] >= ref and cmp["gap"] == pytest.approx((cmp["n_greedy"] - ref) / ref)
        assert cmp["exact"]["status"].startswith("optimal") and cmp["exact"]["gap"] is not None
        # the residents beyond all 12 sites are reported, not a reason to fail
        beyond = pop[(pop > 0) & ~a.any(axis=1)].sum()
        assert cmp["exact"]["uncoverable_weight"] == pytest.approx(beyond)


def test_default_study_reports_full_coverage(xuhui):
    """Acceptance: run.json decisions.full_coverage says how many hubs full coverage needs per hub category."""
    fc = xuhui.details["decisions"]["full_coverage"]
    cats = xuhui.details["decisions"]["selection"]["categories"]
    status = {c: v["status"] for c, v in xuhui.details["data_status"].items()}
    scopes = {(r["scope"], r["existing"]) for r in fc["rows"]}
    assert scopes == {(c, e) for c in [*cats, "all"] for e in ("not counted", "fixed in")}
    blocks = xuhui.blocks
    for r in fc["rows"]:
        assert r["n_exact"] <= r["n_greedy"] and r["exact"]["status"].startswith("optimal")
        assert r["n_exact"] <= fc["usable_sites"]
        # data gap is not a service gap: a count over existing facilities on incomplete data is not stated
        uses = r["existing"] == "fixed in"
        assert r["stated"] == (not uses or all(status[c] == "complete" for c in r["categories"]))
        if r["scope"] != "all":
            c = r["scope"]
            d = blocks[f"dist_{c}_m"].to_numpy(dtype=float)
            pop = blocks["population"].to_numpy(dtype=float)
            demand = pop[(pop > 0) & ~np.isnan(d)].sum()
            e = r["exact"]
            assert e["coverable_weight"] + e["uncoverable_weight"] == pytest.approx(demand)
            if uses:  # the existing facilities stand for the residents already within reach
                within = blocks[f"within_{c}"].to_numpy(dtype=bool)
                assert e["fixed_weight"] == pytest.approx(pop[(pop > 0) & within & ~np.isnan(d)].sum())
    # counting the existing facilities never needs more hubs; all categories need at least the most of any one
    n = {(r["scope"], r["existing"]): r["n_exact"] for r in fc["rows"]}
    for c in cats:
        assert n[(c, "fixed in")] <= n[(c, "not counted")]
        assert n[("all", "not counted")] >= n[(c, "not counted")]
    plan = xuhui.layers["candidate_sites"]
    assert plan["full_coverage"].sum() == n[("all", "fixed in")]
    assert not (plan["full_coverage"] & plan["score"].isna()).any()  # only sites that can host a hub
    # anywhere: a hub in any populated block heritage allows; never fewer reachable residents than the sites give
    anywhere = fc["anywhere"]
    pop = blocks["population"].to_numpy(dtype=float)
    from toolkit.heritage import forbidden_interventions

    need = xuhui.details["decisions"]["sites"]["hub_needs"]["open site"]
    no = [c for c in ("core", "buffer", "none") if need in forbidden_interventions(c)]
    assert no  # the heritage rules forbid a new facility somewhere (cores, data/heritage_rules.toml)
    banned = blocks["heritage_class"].isin(no).to_numpy()
    assert anywhere["excluded_by_heritage"] == int(((pop > 0) & banned).sum()) > 0
    by = {(r["scope"], r["existing"]): r for r in anywhere["rows"]}
    for r in fc["rows"]:
        a = by[(r["scope"], r["existing"])]
        assert a["n_exact"] <= a["n_greedy"] and a["exact"]["status"].startswith("optimal")
        assert a["stated"] == r["stated"]
        assert a["exact"]["coverable_weight"] + a["exact"]["uncoverable_weight"] == pytest.approx(
            r["exact"]["coverable_weight"] + r["exact"]["uncoverable_weight"])


def test_full_coverage_on_a_hand_instance():
    """Three blocks, two categories, two sites (hand-computed): counts with and without existing facilities."""
    #  units: (block 0, a) (block 1, a) (block 2, b); block 1 already within reach of an existing 'a'
    out = full_coverage(np.array([0, 1, 2]), np.array(["a", "a", "b"], dtype=object), np.array([False, True, False]),
                        (np.array([0, 1, 2]), np.array([0, 1, 1])), np.array([10.0, 20.0, 30.0]),
                        np.array([101, 102]), {"a": "complete", "b": "sample"}, FullCoverageSettings())
    rows = {(r["scope"], r["existing"]): r for r in out["rows"]}
    assert rows[("a", "not counted")]["n_exact"] == 2 and rows[("a", "fixed in")]["n_exact"] == 1
    assert rows[("a", "fixed in")]["exact"]["new_site_ids"] == [101]
    assert rows[("b", "not counted")]["n_exact"] == 1
    assert rows[("all", "not counted")]["n_exact"] == 2 and rows[("all", "fixed in")]["n_exact"] == 2
    assert rows[("a", "fixed in")]["stated"] and not rows[("b", "fixed in")]["stated"]
    assert rows[("b", "not counted")]["stated"]  # from scratch uses no facility data


def test_report_section_never_states_a_need_on_incomplete_data(xuhui):
    """The report section: one row per scope and treatment; 'needs N' only where the figure rests on no
    incomplete facility data, and never for the residents no candidate site reaches."""
    from toolkit.location import report_sections
    from toolkit.sections import sections

    fc = xuhui.details["decisions"]["full_coverage"]
    every = [*fc["rows"], *fc["anywhere"]["rows"]]
    for lang in ("en", "zh"):
        (sec,) = report_sections(xuhui, lang)
        assert sec.key == "full_coverage" and len(sec.rows) == len(every)
        assert any(s.key == "full_coverage" for s in sections(xuhui, lang))
    (sec,) = report_sections(xuhui, "en")
    for row, r in zip(sec.rows, every, strict=True):
        reading = row[-1]
        assert row[3] == r["n_exact"] and row[4] == r["n_greedy"]
        assert reading.startswith("needs") == r["stated"]
        assert ("a site can reach" in reading) == (r["exact"]["uncoverable_weight"] > 0)


def test_exact_keeps_greedy_when_highs_stops_without_a_solution(monkeypatch):
    """HiGHS stopped by its time limit with no incumbent: the greedy plan is returned, flagged, and feasible."""
    from scipy.optimize import OptimizeResult

    import toolkit.location as location

    def stopped(c, **kw):
        return OptimizeResult(status=1, x=None, message="Time limit reached", mip_dual_bound=1.0, mip_gap=None)

    p, a = random_cover(3)
    monkeypatch.setattr(location, "milp", stopped)
    plan = solve_lscp(p, time_limit=0.01)
    assert plan.status.startswith("time_limit") and "greedy solution kept" in plan.status
    assert plan.n_new == solve_lscp(p, method="greedy").n_new and plan.bound == 1.0
    coverable = a.any(axis=1) & (p.weights > 0)
    assert not (coverable & ~a[:, plan.sites].any(axis=1)).any()
    med, _, _ = random_dist(1)
    m = solve_pmedian(med, 2, time_limit=0.01)
    assert "greedy solution kept" in m.status and m.cost == pytest.approx(solve_pmedian(med, 2, method="greedy").cost)


@pytest.mark.parametrize("seed", range(6))
def test_exact_with_nested_and_duplicate_sites_equals_brute_force(seed):
    """Sites nested in others and exact duplicates (blocks as candidates cover their neighbours' sets): the
    set-cover reductions the exact solver applies keep the count brute force finds."""
    rng = np.random.default_rng(100 + seed)
    base = rng.random((30, 6)) < 0.3
    sub = base[:, rng.integers(0, 6, 5)] & (rng.random((30, 5)) < 0.6)  # subsets of some sites
    dup = base[:, rng.integers(0, 6, 3)]  # copies
    a = np.concatenate([base, sub, dup], axis=1)
    a = a[:, rng.permutation(a.shape[1])][:, :14]
    u, s = np.nonzero(a)
    w = rng.integers(1, 50, 30).astype(float)
    p = CoverageProblem.from_pairs(u, s, w, n_sites=a.shape[1])
    plan = solve_lscp(p)
    assert plan.n_new == brute_lscp(a, w, 1.0)
    coverable = a.any(axis=1)
    assert not (coverable & ~a[:, plan.sites].any(axis=1)).any()
