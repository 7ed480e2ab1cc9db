"""The open category catalogue (issue #10.1) and parks by size (#10.5), on a synthetic district.

A street grid is written as OSM XML (``osm_synth.OsmWriter``) in EPSG:32651
metres from ``(X0, Y0)``; the study area is one row of street blocks given as a
bbox in the same metres. Every expected distance is worked out by hand from
the coordinates below: a block's representative point (its point on surface,
from the block's own polygon) walks straight down to the street ``y = 0``,
along it, then to the facility (points just below the street, parks entered
at the corners of their edge along it).

Layout (metres; the study row is y 5..60, blocks A B C D)::

    y=100  +----+----+----+----+----+----+----+       streets every 200 m above y = 0
           | A  | B  | C  | D  |
    y=0    +====+====+====+====+====+====+====+       the street everything is reached along
           |  Q   [s]  | c  [ M  ] p  |   [   BIG   ]   |      streets every 400 m below
    y=-400 +-----------+--------------+-----------------+
           x=0        400            800              1200

Q a park mapped as a node (size unknown), s 0.3 ha, M 1.5 ha, BIG 6 ha (closed ways),
c an elderly canteen (CSV), p a pavilion of a category the study defines itself.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from osm_synth import X0, Y0, OsmWriter

import toolkit as tk
from toolkit.cli import main
from toolkit.errors import InputError
from toolkit.standards import categories, load_profile

TO_WGS = pyproj.Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)

X_UP = [0, 200, 400, 600, 800, 1000, 1200, 1400]  # streets above y = 0
X_LOW = [0, 400, 800, 1200]                          # streets below y = 0
BLOCK_X = {"A": 100.0, "B": 300.0, "C": 500.0, "D": 700.0}  # block centres between the streets above
# the parks' edges along the street y = 0 lie 10 m below it (x from, x to)
SMALL, MID, BIG = (240.0, 300.0), (500.0, 650.0), (850.0, 1150.0)
PARKS = {"small": (SMALL, 50.0), "mid": (MID, 100.0), "big": (BIG, 200.0)}  # 60x50, 150x100, 300x200 m
Q_X = 100.0            # the park mapped as a node, 10 m below the street
CANTEEN = (330.0, -5.0)
PAVILION = (620.0, -5.0)


def _grid(w: OsmWriter) -> None:
    nodes: dict[tuple[float, float], int] = {}

    def n(x: float, y: float) -> int:
        if (x, y) not in nodes:
            nodes[(x, y)] = w.node(x, y)
        return nodes[(x, y)]

    for y in (0, 100, 200):
        xs = sorted(set(X_UP) | (set(X_LOW) if y == 0 else set()))
        w.way([n(x, y) for x in xs], highway="residential")
    w.way([n(x, -400) for x in X_LOW], highway="residential")
    for x in sorted(set(X_UP) | set(X_LOW)):
        ys = ([-400] if x in X_LOW else []) + [0] + ([100, 200] if x in X_UP else [])
        w.way([n(x, y) for y in ys], highway="residential")


def _write_district(tmp_path) -> None:
    w = OsmWriter()
    _grid(w)
    for name, ((x0, x1), depth) in PARKS.items():
        ring = [w.node(x0, -10), w.node(x1, -10), w.node(x1, -10 - depth), w.node(x0, -10 - depth)]
        w.way([*ring, ring[0]], leisure="park", name=f"park {name}")
    w.node(Q_X, -10, leisure="park", name="park Q (a node)")
    w.write_xml(tmp_path / "district.osm")
    rows = [("canteen 1", *CANTEEN, "elderly_canteen"), ("pavilion 1", *PAVILION, "micro_park_pavilion")]
    lon, lat = TO_WGS.transform(np.array([X0 + r[1] for r in rows]), np.array([Y0 + r[2] for r in rows]))
    pd.DataFrame({"name": [r[0] for r in rows], "lon": lon, "lat": lat, "kind": [r[3] for r in rows]}) \
        .to_csv(tmp_path / "points.csv", index=False)


def _study_toml(tmp_path, name: str, standards: str, facilities: str) -> str:
    return f"""
[study]
name = "{name}"
crs = "EPSG:32651"
[area]
bbox = [{X0}, {Y0 + 5}, {X0 + 800}, {Y0 + 60}]
bbox_crs = "EPSG:32651"
clip_to_data = false
[network]
source = {{ path = "district.osm" }}
{standards}
{facilities}
[output]
map = false
"""


CANTEEN_STANDARDS = """
[standards]
profile = "shanghai-main-city"
[standards.categories.elderly_canteen]
label_zh = "长者食堂(区级清单)"
label_en = "Elderly canteen (district list)"
max_distance_m = 300
walker = "elderly"
source = "district action plan: a canteen within 300 m of every older resident"
[standards.categories.micro_park_pavilion]
label_zh = "口袋公园凉亭"
label_en = "Pocket-park pavilion"
minutes = 5
walker = "elderly"
basic = true
osm = ["amenity=shelter"]
match = { geofabrik = ["shelter"] }
source = "district pilot"
"""


def _points_facility(category: str) -> str:
    return f"""
[[facilities]]
source = {{ path = "points.csv", lon = "lon", lat = "lat", where = {{ kind = "{category}" }} }}
kind = "fixed"
category = "{category}"
"""


def _block_points(result) -> dict[str, tuple[float, float]]:
    """Each block's representative point in local metres, named by the block it lies in."""
    pts = shapely.point_on_surface(np.asarray(result.blocks.geometry.values))
    out = {}
    for i, (x, y) in zip(result.blocks.index, shapely.get_coordinates(pts) - [X0, Y0], strict=True):
        name = min(BLOCK_X, key=lambda k: abs(BLOCK_X[k] - x))
        assert abs(x - BLOCK_X[name]) < 0.5 and 5 <= y <= 60, (x, y)  # the layout is what the sketch says
        out[name] = (i, x, y)
    assert sorted(out) == ["A", "B", "C", "D"]
    return out


def _walk(block: tuple, x_to: float, leg: float) -> float:
    """Down from the block's point to the street y = 0, along it to x_to, then the facility's own leg."""
    _, x, y = block
    return y + abs(x - x_to) + leg


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    d = tmp_path_factory.mktemp("district")
    _write_district(d)
    return d


@pytest.fixture(scope="module")
def canteen_run(district):
    path = district / "canteen.toml"
    path.write_text(_study_toml(district, "canteens", CANTEEN_STANDARDS,
                                _points_facility("elderly_canteen") + _points_facility("micro_park_pavilion")),
                    encoding="utf-8")
    return tk.run_study(tk.load_study(path))


def test_study_adds_a_builtin_category_with_its_own_threshold(canteen_run):
    r = canteen_run
    blocks = _block_points(r)
    expected = {k: _walk(b, CANTEEN[0], 5.0) for k, b in blocks.items()}
    for k, (i, _, _) in blocks.items():
        assert r.blocks.loc[i, "dist_elderly_canteen_m"] == pytest.approx(expected[k], abs=0.5)
        assert bool(r.blocks.loc[i, "within_elderly_canteen"]) == (expected[k] <= 300)
    # the hand figures: A about 265 m, D about 405 m, so three of the four blocks are within 300 m
    assert [k for k in "ABCD" if expected[k] <= 300] == ["A", "B", "C"]
    s = r.summary().loc["elderly_canteen"]
    assert s["threshold_m"] == 300 and s["facilities"] == 1 and s["status"] != "no data"
    assert s["label"] == "Elderly canteen (district list)"
    assert s["rate_total"] == pytest.approx(0.75)  # no population: by block count
    assert r.rates.loc["elderly_canteen", "rate_total"] == pytest.approx(0.75)
    assert "elderly_canteen" in r.categories
    rule = r.profile.rule("elderly_canteen")
    assert rule.walker == "elderly" and rule.source.startswith("district action plan")


def test_study_defines_a_new_category(canteen_run):
    r = canteen_run
    blocks = _block_points(r)
    threshold = 5 * 60 * 0.8  # 5 minutes at the profile's elderly speed
    expected = {k: _walk(b, PAVILION[0], 5.0) for k, b in blocks.items()}
    for k, (i, _, _) in blocks.items():
        assert r.blocks.loc[i, "dist_micro_park_pavilion_m"] == pytest.approx(expected[k], abs=0.5)
        assert bool(r.blocks.loc[i, "within_micro_park_pavilion"]) == (expected[k] <= threshold)
    assert [k for k in "ABCD" if expected[k] <= threshold] == ["C", "D"]
    s = r.summary().loc["micro_park_pavilion"]
    assert s["label"] == "Pocket-park pavilion" and s["threshold_m"] == 240 and s["facilities"] == 1
    assert r.rates.loc["micro_park_pavilion", "rate_total"] == pytest.approx(0.5)
    cat = r.profile.category("micro_park_pavilion")
    assert cat.origin == "study" and cat.basic is True and cat.match == {"geofabrik": ("shelter",)}
    assert cat.osm == ("amenity=shelter",)
    assert "micro_park_pavilion" in r.profile.basic_categories(["health"])
    own = r.profile.to_dict()["own_categories"]  # run.json records what the study defined or changed
    assert own["micro_park_pavilion"]["label_zh"] == "口袋公园凉亭"
    assert own["elderly_canteen"]["label_en"] == "Elderly canteen (district list)" and "park" not in own
    # added categories measured only where they have data; the built-in new ones stay "no data"
    assert "party_service_station" in r.no_data and "dist_party_service_station_m" not in r.blocks


def test_studies_do_not_see_each_others_categories(canteen_run, district):
    assert "micro_park_pavilion" not in categories()
    assert categories()["elderly_canteen"].label_en == "Elderly canteen"
    other = district / "other.toml"
    other.write_text(_study_toml(district, "other", '[standards]\nprofile = "shanghai-main-city"',
                                 _points_facility("elderly_canteen")), encoding="utf-8")
    r2 = tk.run_study(tk.load_study(other))
    assert "micro_park_pavilion" not in r2.profile.catalogue
    assert r2.profile.category("elderly_canteen").label_en == "Elderly canteen"
    assert r2.summary().loc["elderly_canteen", "threshold_m"] == 500  # the profile's value, not the other study's
    # the first run's catalogue is untouched by the second
    assert canteen_run.profile.category("elderly_canteen").label_en == "Elderly canteen (district list)"
    bad = district / "bad.toml"
    bad.write_text(_study_toml(district, "bad", '[standards]\nprofile = "shanghai-main-city"',
                               _points_facility("micro_park_pavilion")), encoding="utf-8")
    with pytest.raises(InputError, match="unknown category 'micro_park_pavilion'") as e:
        tk.run_study(tk.load_study(bad))
    assert e.value.field == "facilities.category" and "standards.categories" in e.value.fix


@pytest.mark.parametrize(("body", "field", "fix"), [
    ('max_distanse_m = 300\nlabel_zh = "x"', "standards.categories.new_thing.max_distanse_m", "max_distance_m"),
    ('label_zh = "新设施"\nlabel_en = "New thing"\nsource = "plan"', "standards.categories.new_thing.max_distance_m",
     "max_distance_m = 300"),
    ("max_distance_m = 300", "standards.categories.new_thing", "label_zh"),
    ('label_zh = "x"\nmax_distance_m = 300\nwalker = "child"', "standards.categories.new_thing.walker", "adult"),
    ('label_zh = "x"\nmax_distance_m = -5', "standards.categories.new_thing.max_distance_m", "positive"),
])
def test_bad_category_names_the_field_and_the_fix(district, body, field, fix):
    path = district / "broken.toml"
    path.write_text(_study_toml(district, "broken", f'[standards]\n[standards.categories.new_thing]\n{body}', ""),
                    encoding="utf-8")
    with pytest.raises(InputError) as e:
        tk.load_study(path)
    assert e.value.field == field
    assert str(path) in str(e.value) and fix in str(e.value)


def test_unknown_category_suggests_the_close_one():
    with pytest.raises(InputError, match="unknown category 'helth'") as e:
        load_profile("gb50180", {"categories": {"helth": {"max_distance_m": 800}}})
    assert "health" in e.value.fix and "label" in e.value.fix


def test_basic_flags_and_the_study_list():
    p = load_profile("gb50180", {"categories": {"transit": {"basic": False},
                                                "elderly_canteen": {"basic": True}}})
    default = ["health", "transit", "park"]
    assert p.basic_categories(default) == ["health", "park", "elderly_canteen"]
    # only the definition changed: the threshold and its source stand
    assert p.rule("transit").max_distance_m == 500 and p.rule("transit").source.startswith("GB 50180")
    assert load_profile("gb50180").basic_categories(default) == default


# ------------------------------------------------------------------ parks by size
PARK_STANDARDS = """
[standards]
profile = "gb50180"
{extra}
"""
PARK_FACILITIES = """
[[facilities]]
source = { path = "district.osm" }
kind = "osm"
categories = ["park"]
"""


def _park_run(district, name: str, extra: str = ""):
    path = district / f"{name}.toml"
    path.write_text(_study_toml(district, name, PARK_STANDARDS.format(extra=extra), PARK_FACILITIES),
                    encoding="utf-8")
    return tk.run_study(tk.load_study(path))


def _park_distances(blocks: dict, parks: list[str]) -> dict[str, float]:
    """Nearest of ``parks`` (names of PARKS, or "Q") for each block: to the nearer corner of the edge along y = 0."""
    out = {}
    for k, b in blocks.items():
        cands = []
        for p in parks:
            if p == "Q":
                cands.append(_walk(b, Q_X, 10.0))
                continue
            (x0, x1), _ = PARKS[p]
            # inside the edge's span the block would meet a sample point, not a corner: the layout avoids it
            assert not x0 + 1 < b[1] < x1 - 1
            cands.append(min(_walk(b, x0, 10.0), _walk(b, x1, 10.0)))
        out[k] = min(cands)
    return out


@pytest.fixture(scope="module")
def park_run(district):
    return _park_run(district, "parks")


def test_parks_carry_their_area(park_run):
    fac = park_run.facilities.set_index("name")
    for name, ((x0, x1), depth) in PARKS.items():
        assert fac.loc[f"park {name}", "area_m2"] == pytest.approx((x1 - x0) * depth, abs=1.0)
    assert np.isnan(fac.loc["park Q (a node)", "area_m2"])


def test_park_size_tiers_see_the_right_parks(park_run):
    r = park_run
    blocks = _block_points(r)
    p = r.profile
    seen = {"park": ["small", "mid", "big", "Q"],
            "park_5min": ["mid", "big", "Q"],    # >= 0.4 ha: not the 0.3 ha one; the node's size is unknown
            "park_10min": ["mid", "big", "Q"],   # >= 1 ha
            "park_15min": ["big", "Q"]}          # >= 5 ha
    for c, parks in seen.items():
        expected = _park_distances(blocks, parks)
        for k, (i, _, _) in blocks.items():
            assert r.blocks.loc[i, f"dist_{c}_m"] == pytest.approx(expected[k], abs=0.5), (c, k)
            assert bool(r.blocks.loc[i, f"within_{c}"]) == (expected[k] <= p.rule(c).max_distance_m)
    # the thresholds and minimum sizes are GB 50180-2018's
    assert [p.rule(c).max_distance_m for c in ("park_5min", "park_10min", "park_15min")] == [300, 500, 1000]
    assert [p.min_area_m2(c) for c in ("park_5min", "park_10min", "park_15min")] == [4000, 10000, 50000]
    src = r.details["facilities"]["coverage_sources"]
    assert src["park_5min"] | {"from": None} == {"from": None, "min_area_m2": 4000, "too_small": 1, "unknown_area": 1,
                                                 "unknown_area_rule": "count", "facilities": 3}
    assert (src["park_15min"]["too_small"], src["park_15min"]["unknown_area"], src["park_15min"]["facilities"]) == \
        (2, 1, 2)
    assert src["park"] == {"from": ["park"], "facilities": 4}
    assert r.summary().loc["park_15min", "facilities"] == 2
    assert any(n.startswith("park_15min: 2 facilities smaller than 50,000 m2 not counted; 1 of the 2 counted")
               for n in r.notes)


def test_unknown_size_parks_can_be_left_out(district):
    r = _park_run(district, "parks_strict",
                  '[standards.overrides.categories.park_15min]\nunknown_area = "exclude"\n')
    blocks = _block_points(r)
    expected = _park_distances(blocks, ["big"])
    for k, (i, _, _) in blocks.items():
        assert r.blocks.loc[i, "dist_park_15min_m"] == pytest.approx(expected[k], abs=0.5), k
    assert r.details["facilities"]["coverage_sources"]["park_15min"]["facilities"] == 1
    # the 5-minute tier still counts the node
    assert r.details["facilities"]["coverage_sources"]["park_5min"]["facilities"] == 3


def test_tiers_of_one_service_count_the_higher_tier():
    fac = pd.DataFrame({"category": ["health_centre", "health_station", "health"], "area_m2": np.nan})
    counted, report = load_profile("shanghai-main-city").coverage_sources(fac)
    assert counted["health_station"].tolist() == [True, True, False]  # a centre serves as a station
    assert counted["health_centre"].tolist() == [True, False, False]
    assert counted["health"].tolist() == [True, True, True]
    assert report["health_station"]["from"] == ["health_station", "health_centre"]


def test_every_profile_has_the_life_circle_services_with_sources():
    added = ["elderly_canteen", "party_service_centre", "party_service_station", "health_centre", "health_station",
             "neighbourhood_centre", "micro_fire_station", "park_5min", "park_10min", "park_15min"]
    for name in ("gb50180", "shanghai-main-city", "shanghai-new-town", "shanghai-market-town"):
        p = load_profile(name)
        for c in added:
            assert p.categories[c]["source"], (name, c)
            assert p.rule(c).max_distance_m > 0
        assert p.rule("health_station").max_distance_m < p.rule("health_centre").max_distance_m
        assert "health" in p.categories  # kept working as before


def test_cli_lists_the_open_catalogue(district, canteen_run):
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["profiles"]) == 0
    rows = {line.split()[0]: line for line in out.getvalue().splitlines() if line.strip()}
    assert "长者食堂" in rows["elderly_canteen"] and "300 m >= 0.4 ha" in rows["park_5min"]
    assert "gb50180" in out.getvalue() and "shanghai-market-town" in out.getvalue()
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["profiles", str(district / "canteen.toml")]) == 0
    text = out.getvalue()
    assert "micro_park_pavilion  口袋公园凉亭 / Pocket-park pavilion" in text
    assert "240 m (5 min elderly); basic: yes; origin: study" in text and "source: district pilot" in text
