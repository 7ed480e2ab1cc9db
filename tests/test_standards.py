"""Standards profiles: every threshold has a source; minutes become metres by walker speed."""

from __future__ import annotations

import pytest

from toolkit.errors import InputError
from toolkit.standards import available_profiles, categories, load_profile


def test_four_profiles_with_sources_everywhere():
    assert set(available_profiles()) >= {"gb50180", "shanghai-main-city", "shanghai-new-town", "shanghai-market-town"}
    for name in available_profiles():
        p = load_profile(name)
        assert p.source
        for cat, spec in p.categories.items():
            assert cat in categories()
            assert spec.get("source"), f"{name}: {cat} has no source"
        for w in p.walkers.values():
            assert w.get("source")


def test_gb50180_radii():
    p = load_profile("gb50180")
    assert p.rule("primary_school").max_distance_m == 500
    assert p.rule("middle_school").max_distance_m == 1000
    assert p.rule("elderly_care").max_distance_m == 300
    assert p.tiers["15min"]["max_distance_m"] == 1000


def test_minutes_use_the_walkers_speed():
    p = load_profile("shanghai-main-city")
    elderly = p.rule("elderly_care")  # 5-minute walk at the elderly speed
    assert elderly.walker == "elderly"
    assert elderly.max_distance_m == pytest.approx(5 * 60 * 0.8)
    assert p.rule("middle_school").max_distance_m == pytest.approx(15 * 60 * 1.2)


def test_profiles_differ_by_area_type():
    main, new, town = (load_profile(n) for n in ("shanghai-main-city", "shanghai-new-town", "shanghai-market-town"))
    assert main.rule("transit").max_distance_m < new.rule("transit").max_distance_m
    culture = [p.rule("culture").max_distance_m for p in (main, new, town)]
    assert culture == sorted(culture) and len(set(culture)) == 3


def test_user_override():
    p = load_profile("shanghai-main-city", {"categories": {"transit": {"max_distance_m": 500}},
                                            "walkers": {"elderly": {"speed_m_per_s": 1.0}}})
    assert p.rule("transit").max_distance_m == 500
    assert "user override" in p.rule("transit").source
    assert p.rule("elderly_care").max_distance_m == pytest.approx(300)
    assert "categories.transit" in p.overridden
    minutes = load_profile("gb50180", {"categories": {"park": {"minutes": 10}}})
    assert minutes.rule("park").max_distance_m == pytest.approx(720)


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(InputError, match="unknown standards profile") as e:
        load_profile("shanghai")
    assert "shanghai-main-city" in str(e.value)
