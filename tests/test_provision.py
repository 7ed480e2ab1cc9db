"""Capacity and provision (#12 item 3): 2SFCA / E2SFCA per block, per-capita standards, capacitated hubs.

References are computed apart from the code under test: the 2SFCA and E2SFCA of a small synthetic case
by hand (the arithmetic is written out below), PySAL ``access`` on the same input and on real Xuhui blocks,
and the capacitated hub selection by brute force over every set of hubs with a max flow of networkx.
The shared data carry no capacities (Geofabrik's POIs and the Amap export hold no beds), so on the default
study provision is shown with an ASSUMED capacity, in this file only, never in the default outputs.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
from osm_synth import X0, Y0, OsmWriter

import toolkit as tk
from toolkit.errors import InputError
from toolkit.facilities import facilities_from
from toolkit.io import DataWarning
from toolkit.provision import (
    FORMULA,
    ProvisionInputs,
    decay_weights,
    facility_pairs,
    parse_capacity,
    provision_sections,
    provision_settings,
    provision_step,
    solve_capacitated,
    two_step_fca,
)
from toolkit.record import run_record
from toolkit.selection import CoverageProblem
from toolkit.snapping import snap_points
from toolkit.standards import load_profile

# PySAL access calls pandas' set_index(inplace=True), which pandas deprecates: its warning, not ours
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:Warning")

TO_WGS = pyproj.Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)

# ------------------------------------------------------------ the hand case
# Three blocks of 100, 200 and 300 residents of the band; two facilities of 10 and 30 places.
# Walks: block 0 - facility 0 100 m; block 1 - facility 0 250 m; block 1 - facility 1 150 m;
# block 2 - facility 1 350 m; block 2 - facility 0 600 m.
P = np.array([100.0, 200.0, 300.0])
S = np.array([10.0, 30.0])
PAIRS = pd.DataFrame({"origin": [0, 1, 1, 2, 2], "source": [0, 0, 1, 1, 0],
                      "dist_m": [100.0, 250.0, 150.0, 350.0, 600.0]})


def test_2sfca_equals_the_hand_computation():
    """Plain 2SFCA, catchment 400 m (the 600 m walk is out).

    Step 1: facility 0 reaches blocks 0 and 1: R0 = 10 / (100 + 200) = 1/30;
            facility 1 reaches blocks 1 and 2: R1 = 30 / (200 + 300) = 0.06.
    Step 2: A0 = R0 = 0.0333..., A1 = R0 + R1 = 0.0933..., A2 = R1 = 0.06.
    """
    got = two_step_fca(P, S, PAIRS, threshold_m=400)
    assert got == pytest.approx([1 / 30, 1 / 30 + 0.06, 0.06], rel=1e-12)
    # on the caller's index outside
    s = two_step_fca(pd.Series(P, index=["a", "b", "c"]), pd.Series(S), PAIRS, threshold_m=400)
    assert list(s.index) == ["a", "b", "c"] and s["b"] == pytest.approx(1 / 30 + 0.06)


def test_e2sfca_zones_equals_the_hand_computation():
    """E2SFCA of Luo & Qi (2009), catchment 300 m: zones 0-100 m (1.00), 100-200 m (0.68), 200-300 m (0.22).

    Weights: 100 m -> 1.00, 250 m -> 0.22, 150 m -> 0.68; 350 m and 600 m lie beyond 300 m.
    Step 1: R0 = 10 / (1.00 x 100 + 0.22 x 200) = 10 / 144 = 0.069444...
            R1 = 30 / (0.68 x 200) = 30 / 136 = 0.220588...
    Step 2: A0 = 1.00 x R0 = 0.069444...; A1 = 0.22 x R0 + 0.68 x R1 = 0.015278 + 0.15 = 0.165278...;
            A2 = 0 (nothing within 300 m: zero provision, measured).
    """
    got = two_step_fca(P, S, PAIRS, threshold_m=300, decay="zones")
    assert got == pytest.approx([10 / 144, 0.22 * 10 / 144 + 0.68 * 30 / 136, 0.0], rel=1e-12)
    assert got[1] == pytest.approx(0.165277777, rel=1e-8)


def test_e2sfca_gaussian_equals_the_hand_computation():
    """Gaussian E2SFCA (PySAL access weights.gaussian), catchment 400 m, sigma 200 m: W(d) = exp(-d^2 / 80,000).

    W(100) = exp(-0.125) = 0.882497, W(250) = exp(-0.78125) = 0.457833, W(150) = exp(-0.28125) = 0.754840,
    W(350) = exp(-1.53125) = 0.216265 (600 m beyond the catchment).
    Step 1: R0 = 10 / (0.882497 x 100 + 0.457833 x 200) = 10 / 179.8164 = 0.0556123
            R1 = 30 / (0.754840 x 200 + 0.216265 x 300) = 30 / 215.8475 = 0.1389870
    Step 2: A0 = 0.882497 x R0 = 0.0490777; A1 = 0.457833 x R0 + 0.754840 x R1 = 0.1303741;
            A2 = 0.216265 x R1 = 0.0300581.
    """
    got = two_step_fca(P, S, PAIRS, threshold_m=400, decay="gaussian")
    assert got == pytest.approx([0.0490777, 0.1303741, 0.0300581], rel=5e-6)
    assert two_step_fca(P, S, PAIRS, threshold_m=400, decay="gaussian", sigma_m=200.0) == pytest.approx(got)
    # a callable decay is the same formula
    f = two_step_fca(P, S, PAIRS, threshold_m=400, decay=lambda d: np.exp(-d * d / 80_000.0))
    assert f == pytest.approx(got, rel=1e-12)


def test_decay_weights_zones_and_gaussian_by_hand():
    """The zone bounds are inclusive (PySAL access step_fn); nothing beyond the catchment counts."""
    w = decay_weights(np.array([0, 99.9, 100, 100.1, 200, 299.9, 300, 300.1]), 300, "zones")
    assert w.tolist() == [1.0, 1.0, 1.0, 0.68, 0.68, 0.22, 0.22, 0.0]
    assert decay_weights(np.array([300.0, 301.0]), 300, "gaussian").tolist() == [math.exp(-2.0), 0.0]
    with pytest.raises(InputError, match="unknown decay"):
        decay_weights(np.array([1.0]), 300, "linear")
    with pytest.raises(InputError, match="catchment"):
        two_step_fca(P, S, PAIRS, threshold_m=0)


def _random_case(seed: int, n_blocks: int = 40, n_fac: int = 8):
    rng = np.random.default_rng(seed)
    demand = rng.integers(0, 500, n_blocks).astype(float)
    supply = rng.uniform(0, 100, n_fac)
    rows = [(i, j, float(rng.uniform(0, 900))) for i in range(n_blocks) for j in range(n_fac) if rng.random() < 0.3]
    return demand, supply, pd.DataFrame(rows, columns=["origin", "source", "dist_m"])


@pytest.mark.parametrize("decay", ["step", "zones", "gaussian"])
def test_adding_supply_never_lowers_any_blocks_accessibility(decay):
    """Synthetic random cases: more capacity at a facility, or a new facility, raises or keeps every A_i."""
    for seed in range(20):
        demand, supply, pairs = _random_case(seed)
        base = two_step_fca(demand, supply, pairs, threshold_m=600, decay=decay)
        more = supply.copy()
        more[seed % len(more)] += 25.0
        assert np.all(two_step_fca(demand, more, pairs, threshold_m=600, decay=decay) >= base - 1e-12)
        # a new facility (position n) reaching a random third of the blocks
        rng = np.random.default_rng(100 + seed)
        new = [(i, len(supply), float(rng.uniform(0, 700))) for i in range(len(demand)) if rng.random() < 0.33]
        grown = pd.concat([pairs, pd.DataFrame(new, columns=pairs.columns)], ignore_index=True)
        after = two_step_fca(demand, np.append(supply, 40.0), grown, threshold_m=600, decay=decay)
        assert np.all(after >= base - 1e-12)


@pytest.mark.parametrize("decay", ["step", "zones", "gaussian"])
def test_conservation_demand_times_accessibility_is_the_supply_that_reaches_anyone(decay):
    """sum_i A_i P_i equals the capacity of the facilities with someone of the band in their catchment."""
    for seed in range(20):
        demand, supply, pairs = _random_case(seed)
        acc = two_step_fca(demand, supply, pairs, threshold_m=600, decay=decay)
        w = decay_weights(pairs["dist_m"].to_numpy(), 600, decay)
        reached = pairs.loc[(w > 0) & (demand[pairs["origin"].to_numpy()] > 0), "source"].unique()
        assert float((acc * demand).sum()) == pytest.approx(float(supply[reached].sum()), rel=1e-10)


def _pysal(demand, supply, pairs, threshold, weight_fn=None):
    access = pytest.importorskip("access", reason="PySAL access is not installed (pip install access)")
    d = pd.DataFrame({"geoid": np.arange(len(demand)), "pop": demand})
    s = pd.DataFrame({"sid": np.arange(len(supply)), "cap": supply})
    cost = pairs.rename(columns={"source": "dest", "dist_m": "cost"})[["origin", "dest", "cost"]]
    a = access.Access(demand_df=d, demand_index="geoid", demand_value="pop", supply_df=s, supply_index="sid",
                      supply_value="cap", cost_df=cost, cost_origin="origin", cost_dest="dest", cost_name="cost")
    if weight_fn is None:
        out = a.two_stage_fca(name="x", max_cost=threshold)
    else:
        out = a.enhanced_two_stage_fca(name="x", max_cost=threshold, weight_fn=weight_fn)
    # PySAL leaves a block that reaches no facility out (NaN): reaching none, it has zero provision
    return out["x_cap"].reindex(np.arange(len(demand))).fillna(0.0).to_numpy()


def test_equals_pysal_access_on_the_synthetic_cases():
    """The hand case and random cases against PySAL access's two_stage_fca and enhanced_two_stage_fca."""
    weights = pytest.importorskip("access.weights")
    cases = [(P, S, PAIRS)] + [_random_case(seed) for seed in range(5)]
    for demand, supply, pairs in cases:
        assert two_step_fca(demand, supply, pairs, threshold_m=400) == pytest.approx(
            _pysal(demand, supply, pairs, 400), rel=1e-9, abs=1e-12)
        zones = weights.step_fn({100: 1.0, 200: 0.68, 300: 0.22})  # Luo & Qi's zones for a 300 m catchment
        assert two_step_fca(demand, supply, pairs, threshold_m=300, decay="zones") == pytest.approx(
            _pysal(demand, supply, pairs, 300, zones), rel=1e-9, abs=1e-12)
        assert two_step_fca(demand, supply, pairs, threshold_m=500, decay="gaussian", sigma_m=200) == pytest.approx(
            _pysal(demand, supply, pairs, 500, weights.gaussian(200)), rel=1e-9, abs=1e-12)


def test_unsnapped_blocks_are_not_measured_and_bad_input_is_refused():
    """A block without distances is NaN (no data), never 0; NaN capacity is refused, not read as 0."""
    got = two_step_fca(P, S, PAIRS, threshold_m=400, measured=np.array([True, False, True]))
    assert np.isnan(got[1]) and got[0] == pytest.approx(1 / 30)
    with pytest.raises(InputError, match="supply"):
        two_step_fca(P, np.array([10.0, np.nan]), PAIRS, threshold_m=400)
    with pytest.raises(InputError, match="pairs lack"):
        two_step_fca(P, S, PAIRS.drop(columns="dist_m"), threshold_m=400)


# ----------------------------------------------------------- capacity input
def test_parse_capacity_reads_numbers_and_names_the_rest():
    """Numbers, "1,200" and "120张" are read; blanks and 暂无 are unknown; text without a number is named."""
    cap, bad = parse_capacity(pd.Series([120, "1,200", "120张", None, "暂无", "lots", -5, "  "],
                                        index=list("abcdefgh")), source="care.csv", field="beds")
    assert cap[:3].tolist() == [120.0, 1200.0, 120.0] and np.isnan(cap[3:]).all()
    assert bad == ["f", "g"]
    with pytest.raises(InputError, match="holds no usable number") as e:
        parse_capacity(pd.Series(["a", "b"]), source="care.csv", field="beds")
    assert e.value.source == "care.csv" and e.value.field == "beds"


def test_facilities_carry_capacity_and_a_missing_column_is_refused():
    """A layer of two features; the capacity column is read per facility row (a feature of two categories twice)."""
    import geopandas as gpd
    import shapely

    g = gpd.GeoDataFrame({"name": ["A", "B"], "beds": [30, "x"]}, geometry=[shapely.Point(0, 0), shapely.Point(1, 1)],
                         crs="EPSG:32651")
    m = pd.DataFrame({"row": [0, 0, 1], "category": ["elderly_care", "health", "elderly_care"], "rule": "fixed"})
    with pytest.warns(DataWarning, match="rows 1"):
        f = facilities_from(g, m, source="care.csv", capacity_field="beds")
    assert f["capacity"].tolist()[:2] == [30.0, 30.0] and np.isnan(f["capacity"].iloc[2])
    with pytest.raises(InputError, match="capacity column 'places' not found") as e:
        facilities_from(g, m, source="care.csv", capacity_field="places")
    assert e.value.source == "care.csv" and e.value.field == "facilities.capacity"


def test_profile_keys_and_the_band_fallback():
    """The band defaults by category (65+ for elderly care), falls back to all residents without the column."""
    prof = load_profile("shanghai-main-city", {"categories": {"elderly_care": {
        "provision_per_1000": 40, "provision_source": "test value", "provision_decay": "gaussian"}}})
    s = provision_settings(prof, "elderly_care")
    assert (s.band, s.per_1000, s.standard_source, s.decay) == ("pop_65plus", 40.0, "test value", "gaussian")
    assert s.catchment_m == pytest.approx(prof.rule("elderly_care").max_distance_m)
    fb = provision_settings(prof, "elderly_care", ["population"])
    assert fb.band == "population" and "pop_65plus" in fb.band_note
    assert "3-6" in provision_settings(prof, "kindergarten").band_note
    # a study's override is refused at load; a profile file's value when read
    with pytest.raises(InputError, match="unknown population band"):
        load_profile("shanghai-main-city", {"categories": {"elderly_care": {"provision_band": "pop_3_6"}}})
    prof.categories["elderly_care"]["provision_band"] = "pop_3_6"
    with pytest.raises(InputError, match="provision_band"):
        provision_settings(prof, "elderly_care")


# ---------------------------------------------------- the pipeline, synthetic
def _grid(tmp_path, facilities_csv: str, extra: str = "") -> tk.Study:
    w = OsmWriter()
    n, step = 6, 150.0
    ids = [[w.node(i * step, j * step) for j in range(n)] for i in range(n)]
    for i in range(n):
        w.way([ids[i][j] for j in range(n)], highway="residential")
        w.way([ids[j][i] for j in range(n)], highway="residential")
    w.write_xml(tmp_path / "grid.osm")
    (tmp_path / "care.csv").write_text(facilities_csv, encoding="utf-8")
    x0, y0 = TO_WGS.transform(X0 - 100, Y0 - 100)
    x1, y1 = TO_WGS.transform(X0 + 850, Y0 + 850)
    (tmp_path / "s.toml").write_text(f"""
[study]
name = "grid"
[area]
bbox = [{x0}, {y0}, {x1}, {y1}]
[network]
source = {{ path = "grid.osm" }}
[[facilities]]
source = {{ path = "care.csv" }}
kind = "fixed"
category = "elderly_care"
capacity = "beds"
{extra}
""", encoding="utf-8")
    return tk.load_study(tmp_path / "s.toml")


def _care_csv(beds: list[str]) -> str:
    pts = [(X0 + 75, Y0 + 150), (X0 + 450, Y0 + 375), (X0 + 600, Y0 + 690)]
    rows = [f"{chr(65 + i)},{b},{lon},{lat}" for i, ((x, y), b) in enumerate(zip(pts, beds, strict=True))
            for lon, lat in [TO_WGS.transform(x, y)]]
    return "name,beds,lon,lat\n" + "\n".join(rows) + "\n"


def test_pipeline_writes_provision_with_its_formula_and_parameters(tmp_path):
    """A synthetic street grid (6 x 6 nodes, 150 m apart) with three elderly-care homes of 30, 50 and unknown beds.

    The study has no population source (one resident per block) and no 65+ band: the band falls back to all
    residents, and says so. The standard (40 per 1,000) is set in the study, with its source.
    """
    extra = """[standards.categories.elderly_care]
provision_per_1000 = 40
provision_source = "test standard, not a published figure"
provision_catchment_m = 400
"""
    r = tk.run_study(_grid(tmp_path, _care_csv(["30", "50张", "暂无"]), extra))
    prov = r.details["provision"]
    e = prov["categories"]["elderly_care"]
    assert prov["status"] == "computed" and prov["formula"] == FORMULA and prov["capacity_columns"]
    assert (e["band"], e["catchment_m"], e["decay"], e["standard_per_1000"]) == ("population", 400.0, "zones", 40.0)
    assert "pop_65plus" in e["band_note"] and e["standard_source"] == "test standard, not a published figure"
    assert (e["facilities"], e["facilities_with_capacity"], e["facilities_without_capacity"]) == (3, 2, 1)
    assert e["capacity_total"] == 80.0 and e["data_status"] == "unknown" and "places_missing_caveat" in e
    assert any("lower bound" in n for n in r.notes)
    b = r.blocks
    snapped = b["snap_leg_m"].notna()
    prov_col = b["provision_elderly_care"]
    # conservation on the run's own blocks: residents x capacity per resident = capacity reaching anyone
    assert float((prov_col[snapped] / 1000 * b.loc[snapped, "population"]).sum()) == pytest.approx(
        e["capacity_reaching_band"], rel=1e-9)
    assert b["provision_elderly_care_ratio"].to_numpy() == pytest.approx(prov_col.to_numpy() / 40, nan_ok=True)
    gap = np.maximum(40 - prov_col, 0) * b["population"] / 1000
    assert b["provision_elderly_care_gap"].to_numpy() == pytest.approx(gap.to_numpy(), nan_ok=True)
    assert e["places_missing"] == pytest.approx(float(gap.sum()))
    rec = json.loads(json.dumps(run_record(r), default=str))
    assert rec["provision"]["categories"]["elderly_care"]["decay_reference"].startswith("E2SFCA, Luo & Qi (2009)")
    sec = provision_sections(r, "zh")
    assert sec and sec[0].key == "provision" and sec[0].rows[0][4] == "2/3"
    from toolkit.labels import label
    from toolkit.outputs.report import html_report

    html = html_report(r, lang="zh")
    assert label("provision.title", "zh") in html and "places_missing" not in html


def test_pipeline_equals_pysal_on_its_own_walks(tmp_path):
    """The run's block column against PySAL access fed the same network walks (facility_pairs) and capacities."""
    weights = pytest.importorskip("access.weights")
    r = tk.run_study(_grid(tmp_path, _care_csv(["30", "50", "20"]),
                           "[standards.categories.elderly_care]\nprovision_catchment_m = 450\n"))
    net, b, fac = r.network, r.blocks, r.facilities
    obstacles = r.details["snap_obstacles"]
    bsnap = snap_points(net, b.geometry, max_snap_m=r.study.block_max_snap_m, obstacles=obstacles)
    access = r.details["facility_access"]
    asnap = snap_points(net, access.geometry, max_snap_m=r.study.facility_max_snap_m, obstacles=obstacles)
    pos = pd.Index(fac["facility_id"]).get_indexer(access["facility_id"])
    pairs = facility_pairs(net, bsnap, pos, asnap, 450)
    ref = _pysal(b["population"].to_numpy(), fac["capacity"].to_numpy(), pairs, 450,
                 weights.step_fn({150: 1.0, 300: 0.68, 450: 0.22}))
    assert b["provision_elderly_care"].to_numpy() == pytest.approx(1000 * ref, rel=1e-9)


def test_no_capacity_is_a_data_gap_not_zero_provision(tmp_path):
    """Without a capacity column nothing is computed and the record says why; a wholly unusable column is refused."""
    study = _grid(tmp_path, _care_csv(["30", "50", "20"]))
    r = tk.run_study(dataclasses.replace(study, facilities=[dataclasses.replace(f, capacity=None)
                                                            for f in study.facilities]))
    prov = r.details["provision"]
    assert prov["status"] == "no capacity data" and "not zero provision" in prov["reason"]
    assert not [c for c in r.blocks.columns if c.startswith("provision_")]
    with pytest.raises(InputError, match="no usable number") as e:
        tk.run_study(_grid(tmp_path, _care_csv(["many", "few", "some"])))
    assert "care.csv" in str(e.value.source)
    # a capacity key must name a column
    with pytest.raises(InputError, match="capacity"):
        (tmp_path / "s.toml").write_text((tmp_path / "s.toml").read_text(encoding="utf-8").replace(
            'capacity = "beds"', "capacity = 3"), encoding="utf-8")
        tk.load_study(tmp_path / "s.toml")


# ------------------------------------------------------- the default study
@pytest.fixture(scope="module")
def assumed(xuhui):
    """Provision of elderly care on the default study with an ASSUMED capacity (test only: the data have none).

    Every elderly-care facility is given 20 + (facility_id mod 7) x 10 beds, a made-up spread of 20-80 beds,
    so that the figures exercise the method on the real network and population; they describe no real place.
    """
    fac = xuhui.facilities.copy()
    is_care = (fac["category"] == "elderly_care").to_numpy()
    fac["capacity"] = np.where(is_care, 20.0 + (fac["facility_id"].to_numpy() % 7) * 10.0, np.nan)
    src = set(fac.loc[is_care, "source"])
    study = dataclasses.replace(xuhui.study, facilities=[
        dataclasses.replace(f, capacity="ASSUMED_beds" if f.source.label() in src else None)
        for f in xuhui.study.facilities])
    net, obstacles = xuhui.network, xuhui.details["snap_obstacles"]
    bsnap = snap_points(net, xuhui.blocks.geometry, max_snap_m=study.block_max_snap_m, obstacles=obstacles)
    access = xuhui.details["facility_access"]
    asnap = snap_points(net, access.geometry, max_snap_m=study.facility_max_snap_m, obstacles=obstacles)
    inputs = ProvisionInputs(net, bsnap, fac, access, asnap)
    base = xuhui.blocks[[c for c in xuhui.blocks.columns if not c.startswith("provision_")]]
    blocks, summary, notes = provision_step(study, xuhui.profile, base, inputs, xuhui.details["data_status"])
    return fac, inputs, blocks, summary, notes


def test_default_study_writes_provision_per_block_with_its_formula(xuhui):
    """The shared layers hold no capacities: the study declares capacity = "count" on the Amap source, so provision
    is facilities per 1,000 residents of the band (the facility-count 2SFCA), stated as such in run.json; per block
    it conserves supply: the band residents times their provision add up to the facilities reaching anyone
    (checked with pandas on the blocks)."""
    prov = xuhui.details["provision"]
    assert prov["status"] == "computed" and prov["formula"] == FORMULA and "count" in prov["supply"]
    e = prov["categories"]["elderly_care"]
    assert e["band"] == "pop_65plus" and e["catchment_m"] == 240.0 and e["decay"] == "zones"
    assert e["facilities_with_capacity"] == e["facilities"] and e["data_status"] == "sample"
    b = xuhui.blocks
    col = b["provision_elderly_care"]
    assert col.isna().sum() == b["dist_transit_m"].isna().sum() == 2  # the two blocks no street reaches: no figure
    reached = (col.fillna(0) / 1000 * b["pop_65plus"]).sum()
    assert reached == pytest.approx(e["capacity_reaching_band"], rel=1e-9)
    assert (col.dropna() >= 0).all() and (col > 0).sum() > 0
    sec = provision_sections(xuhui, "en")
    assert sec and sec[0].rows


def test_default_study_with_assumed_capacity_against_pysal(xuhui, assumed):
    """A few hundred real blocks (every third of the 1,032) and the real walks: the toolkit's E2SFCA = PySAL's."""
    weights = pytest.importorskip("access.weights")
    fac, inputs, blocks, summary, _ = assumed
    e = summary["categories"]["elderly_care"]
    assert summary["status"] == "computed" and e["band"] == "pop_65plus"
    d0 = e["catchment_m"]
    care = np.flatnonzero((fac["category"] == "elderly_care").to_numpy() & fac["snapped"].to_numpy())
    pos = pd.Index(fac["facility_id"].to_numpy()[care]).get_indexer(inputs.access["facility_id"])
    sel = np.flatnonzero(pos >= 0)
    pairs = facility_pairs(inputs.net, inputs.block_snap, pos[sel], inputs.access_snap.subset(sel), d0)
    demand = xuhui.blocks["pop_65plus"].to_numpy()
    ref = _pysal(demand, fac["capacity"].to_numpy()[care], pairs, d0,
                 weights.step_fn({d0 / 3: 1.0, 2 * d0 / 3: 0.68, d0: 0.22}))
    mine = blocks["provision_elderly_care"].to_numpy()
    some = np.arange(0, len(blocks), 3)
    some = some[inputs.block_snap.ok[some]]
    assert len(some) > 300
    assert mine[some] == pytest.approx(1000 * ref[some], rel=1e-9, abs=1e-12)
    reached = pairs.loc[demand[pairs["origin"]] > 0, "source"].unique()
    assert e["capacity_reaching_band"] == pytest.approx(fac["capacity"].to_numpy()[care][reached].sum())


# --------------------------------------------------------- capacitated hubs
def _brute_force(problem_rows, weights, n_sites, cap, groups, k):
    """Best served weight over every set of at most k hubs: a max flow per set (networkx)."""
    best = 0.0
    for size in range(k + 1):
        for hubs in itertools.combinations(range(n_sites), size):
            g = nx.DiGraph()
            for i, w in enumerate(weights):
                g.add_edge("s", ("u", i), capacity=float(w))
            for i, j in problem_rows:
                if j in hubs:
                    g.add_edge(("u", i), ("h", j, groups[i]), capacity=float("inf"))
            for j in hubs:
                for gr in set(groups):
                    g.add_edge(("h", j, gr), "t", capacity=float(cap[gr] if isinstance(cap, dict) else cap))
            if "t" in g:
                best = max(best, nx.maximum_flow_value(g, "s", "t"))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_capacitated_selection_equals_brute_force(seed):
    """Random tiny cases (6 sites, 10 demand units, 2 categories, k = 2 or 3): the MILP = every set tried."""
    rng = np.random.default_rng(seed)
    n_sites, n_units, k = 6, 10, 2 + seed % 2
    weights = rng.integers(0, 60, n_units).astype(float)
    rows = sorted({(int(rng.integers(n_units)), int(rng.integers(n_sites))) for _ in range(22)})
    groups = np.array(["park", "sports"])[rng.integers(0, 2, n_units)]
    cap = {"park": 70.0, "sports": 40.0} if seed % 3 else 55.0
    problem = CoverageProblem.from_pairs(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), weights,
                                         n_sites=n_sites)
    got = solve_capacitated(problem, cap, k=k, groups=groups if isinstance(cap, dict) else None)
    ref = _brute_force(rows, weights, n_sites, cap, groups if isinstance(cap, dict) else ["all"] * n_units, k)
    assert got.status == "optimal" and len(got.sites) <= k
    assert got.objective == pytest.approx(ref, abs=1e-6)
    limit = sum(cap.values()) if isinstance(cap, dict) else cap
    assert np.all(got.load <= limit + 1e-6)


def test_capacitated_hubs_in_a_study_selection(tmp_path):
    """[selection] hub_capacity is declared (one number or per category) and read by the selection settings."""
    from toolkit.decisions import SelectionSettings
    from toolkit.provision import capacitated_hubs

    s = SelectionSettings.from_config({"hub_capacity": {"park": 5000}, "categories": ["park"]})
    assert s.hub_capacity == {"park": 5000}
    problem = CoverageProblem.from_pairs(np.array([0, 1, 2]), np.array([0, 0, 1]), np.array([60.0, 50.0, 30.0]),
                                         n_sites=2)
    sites = pd.DataFrame({"site_id": [1, 2]})
    out = capacitated_hubs(problem, pd.DataFrame({"category": ["park"] * 3}),
                           dataclasses.replace(s, hub_capacity={"park": 80.0}, k=1), sites, uncapped=110.0)
    # one hub, room for 80: site 0 serves 80 of its 110, site 1 only 30
    assert sites["selected_capacitated"].tolist() == [True, False] and out["objective"] == pytest.approx(80.0)
    assert out["uncapacitated_objective"] == 110.0
    text = (tmp_path / "s.toml")
    text.write_text('[study]\nname = "s"\n[area]\nbbox = [121.43, 31.19, 121.45, 31.21]\n[network]\n'
                    'source = { dataset = "xuhui_roads" }\n[selection]\nhub_capacity = { park = 0 }\n',
                    encoding="utf-8")
    with pytest.raises(InputError, match="hub_capacity"):
        tk.load_study(text)


def test_capacitated_selection_with_a_budget_equals_brute_force():
    """Random tiny cases with site costs and a budget (no k): the MILP = the best affordable set by max flow."""
    for seed in range(6):
        rng = np.random.default_rng(50 + seed)
        n_sites, n_units = 5, 9
        weights = rng.integers(1, 50, n_units).astype(float)
        cost = rng.integers(1, 5, n_sites).astype(float)
        rows = sorted({(int(rng.integers(n_units)), int(rng.integers(n_sites))) for _ in range(18)})
        problem = CoverageProblem.from_pairs(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
                                             weights, n_sites=n_sites, cost=cost)
        got = solve_capacitated(problem, 45.0, budget=6.0)
        best = 0.0
        for size in range(n_sites + 1):
            for hubs in itertools.combinations(range(n_sites), size):
                if cost[list(hubs)].sum() > 6.0:
                    continue
                best = max(best, _brute_force([r for r in rows if r[1] in hubs], weights, n_sites, 45.0,
                                              ["all"] * n_units, n_sites))
        assert got.objective == pytest.approx(best, abs=1e-6) and cost[got.sites].sum() <= 6.0
