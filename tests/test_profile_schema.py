"""The standards-profile schema (toolkit/profile_schema.py): every shipped profile passes, typos and values out
of range fail when the profile loads with one exit-2 style message (file, key, fix), and docs/profile.md is
the generated reference."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest

from toolkit.cli import main
from toolkit.errors import InputError
from toolkit.profile_schema import PROFILE_SECTIONS, check_overrides, check_profile_dict, profile_markdown
from toolkit.standards import available_profiles, load_profile

ROOT_DIR = Path(__file__).resolve().parents[1]
PROFILES = ROOT_DIR / "data" / "profiles"
XUHUI = ROOT_DIR / "data" / "studies" / "xuhui.toml"


def _raw(name: str = "shanghai-main-city") -> dict:
    with open(PROFILES / f"{name}.toml", "rb") as f:
        return tomllib.load(f)


def _write(tmp_path: Path, raw: dict, name: str = "my_profile.toml") -> Path:
    """A profile TOML written by hand from a parsed one (no TOML writer in the dependencies)."""

    def value(v):
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + " }"
        return repr(v)

    lines = []
    for table, body in raw.items():
        nested = {k: v for k, v in body.items() if isinstance(v, dict)} if table != "profile" else {}
        flat = {k: v for k, v in body.items() if k not in nested}
        if flat:
            lines.append(f"[{table}]")
            lines += [f'"{k}" = {value(v)}' for k, v in flat.items()]
        for k, v in nested.items():
            lines.append(f'[{table}."{k}"]')
            lines += [f'"{kk}" = {value(vv)}' for kk, vv in v.items()]
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_the_writer_round_trips():
    """The hand-written TOML writer the tests below use gives back the parsed profile (tomllib reads it)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = _write(Path(d), _raw())
        with open(p, "rb") as f:
            assert tomllib.load(f) == _raw()


@pytest.mark.parametrize("name", available_profiles())
def test_every_shipped_profile_passes_the_schema_and_loads(name):
    """Each bundled profile is valid, and loads into the thresholds its file states."""
    raw = _raw(name)
    check_profile_dict(raw, f"data/profiles/{name}.toml")
    prof = load_profile(name)
    assert set(prof.categories) == set(raw["categories"])


def test_the_shipped_profiles_are_four():
    """The parametrised list above is the bundled set (not vacuously empty)."""
    assert set(available_profiles()) >= {"gb50180", "shanghai-main-city", "shanghai-new-town",
                                         "shanghai-market-town"}


def _edit(raw: dict, path: str, value) -> dict:
    out = copy.deepcopy(raw)
    *parents, last = path.split(".")
    d = out
    for part in parents:
        d = d[part]
    if value is None:
        del d[last]
    else:
        d[last] = value
    return out


BAD = [
    # (key path, value, field named, words in the problem, words in the fix)
    ("categories.park.minutes", -5, "categories.park.minutes", "minutes must be a positive number", "minutes = 5"),
    ("categories.transit.max_distance_m", 0, "categories.transit.max_distance_m", "must be a positive number",
     "max_distance_m = 300"),
    ("categories.transit.max_distance_m", "300", "categories.transit.max_distance_m", "not '300'", "e.g."),
    ("walkers.elderly.speed_m_per_s", 12, "walkers.elderly.speed_m_per_s", "> 0 and < 5", "speed_m_per_s = 1.2"),
    ("categories.kindergarten.per_residents", -1, "categories.kindergarten.per_residents", "positive", ""),
    ("categories.park.unknown_area", "skip", "categories.park.unknown_area", "unknown unknown_area rule",
     "use one of: count, exclude"),
    ("waterfront.minutes", True, "waterfront.minutes", "not True", "minutes = 15"),
    ("profile.life_circle_population", [30000, -1], "profile.life_circle_population[1]", "positive number", ""),
    ("profile.life_circle_population", [50000, 30000], "profile.life_circle_population", "min < max",
     "life_circle_population = [30000, 50000]"),
    ("profile.life_circle_population", [1, 2, 3], "profile.life_circle_population", "[min] or [min, max]", ""),
    ("categories.park.source", 5, "categories.park.source", "must be a string", ""),
]


@pytest.mark.parametrize(("path", "value", "field", "problem", "fix"), BAD, ids=[b[0] + "=" + repr(b[1]) for b in BAD])
def test_values_of_the_wrong_type_or_range_fail_naming_file_key_and_fix(path, value, field, problem, fix):
    """A synthetic profile: the shipped main-city one with one value broken (a negative walk, a string for a
    number, a speed no one walks)."""
    raw = _edit(_raw(), path, value)
    with pytest.raises(InputError) as e:
        check_profile_dict(raw, "my_profile.toml")
    assert e.value.source == "my_profile.toml" and e.value.field == field
    assert problem in e.value.problem and (fix in (e.value.fix or ""))
    # the one message the CLI prints (exit code 2): the file and the key, the problem, then the fix
    assert str(e.value).startswith(f"my_profile.toml [{field}]: ") and "\n  fix: " in str(e.value)


TYPOS = [
    # (key path, a misspelt key, the key path reported, the suggestion)
    ("categories.park", "max_distanse_m", "categories.park.max_distanse_m", "did you mean `max_distance_m`?"),
    ("categories.park", "minuts", "categories.park.minuts", "did you mean `minutes`?"),
    ("walkers.adult", "sped_m_per_s", "walkers.adult.sped_m_per_s", "did you mean `speed_m_per_s`?"),
    ("profile", "titel", "profile.titel", "did you mean `title`?"),
    ("waterfront", "walkr", "waterfront.walkr", "did you mean `walker`?"),
    ("tiers.15min", "minute", "tiers.15min.minute", "did you mean `minutes`?"),
]


@pytest.mark.parametrize(("table", "typo", "field", "hint"), TYPOS, ids=[t[1] for t in TYPOS])
def test_unknown_keys_fail_with_the_closest_one(table, typo, field, hint):
    """A synthetic profile: a misspelt key added to one table of the shipped main-city profile."""
    raw = _raw()
    d = raw
    for part in table.split("."):
        d = d[part]
    d[typo] = 1
    with pytest.raises(InputError) as e:
        check_profile_dict(raw, "p.toml")
    assert e.value.field == field and "unknown key" in e.value.problem
    assert hint in e.value.fix


def test_unknown_table_and_unknown_walker_name_the_closest():
    """A misspelt top-level table, and a category naming a walker the profile does not define."""
    raw = _raw()
    raw["walker"] = raw.pop("walkers")
    with pytest.raises(InputError, match=r"unknown table \[walker\]") as e:
        check_profile_dict(raw, "p.toml")
    assert "did you mean [walkers]?" in e.value.fix
    raw = _edit(_raw(), "categories.health.walker", "eldery")
    with pytest.raises(InputError, match="unknown walker 'eldery'") as e:
        check_profile_dict(raw, "p.toml")
    assert e.value.field == "categories.health.walker" and "did you mean 'elderly'?" in e.value.fix


def test_required_name_and_speed():
    """A profile needs [profile] name; a walker its speed."""
    with pytest.raises(InputError, match="no name") as e:
        check_profile_dict(_edit(_raw(), "profile.name", None), "p.toml")
    assert e.value.field == "profile.name"
    with pytest.raises(InputError, match="needs its speed") as e:
        check_profile_dict(_edit(_raw(), "walkers.adult.speed_m_per_s", None), "p.toml")
    assert e.value.field == "walkers.adult.speed_m_per_s"


def test_a_user_profile_file_is_checked_when_loaded(tmp_path):
    """load_profile on a user's file: the synthetic main-city copy with minutes = -5 fails naming that file."""
    good = _write(tmp_path, _raw(), "good.toml")
    assert load_profile(good).rule("park").max_distance_m == load_profile("shanghai-main-city").rule(
        "park").max_distance_m
    bad = _write(tmp_path, _edit(_raw(), "categories.park.minutes", -5), "bad.toml")
    with pytest.raises(InputError) as e:
        load_profile(bad)
    assert e.value.source == str(bad) and e.value.field == "categories.park.minutes"


def test_overrides_given_in_python_are_checked():
    """load_profile(name, overrides) from a notebook gets the study schema's checks of [standards.overrides]."""
    with pytest.raises(InputError) as e:
        load_profile("shanghai-main-city", {"categories": {"transit": {"minutes": -5}}}, source="nb")
    assert e.value.field == "standards.overrides.categories.transit.minutes" and e.value.source == "nb"
    with pytest.raises(InputError, match="did you mean `max_distance_m`"):
        check_overrides({"categories": {"transit": {"max_distance": 500}}})
    with pytest.raises(InputError, match="unknown key 'walker'"):
        check_overrides({"walker": {}})
    # tuples are fine from Python, and a valid override still applies
    p = load_profile("shanghai-main-city", {"categories": {"transit": {"max_distance_m": 500}}})
    assert p.rule("transit").max_distance_m == 500


def test_cli_with_a_broken_user_profile_exits_2_and_writes_nothing(tmp_path, capsys):
    """The xuhui study pointed at a user profile with minutes = -5 (synthetic): one error naming the profile
    file and the key, a fix line, exit code 2, no output folder content."""
    bad = _write(tmp_path, _edit(_raw(), "categories.park.minutes", -5), "bad_profile.toml")
    text = XUHUI.read_text(encoding="utf-8")
    assert text.count('profile = "shanghai-main-city"') == 1
    study = tmp_path / "study.toml"
    study.write_text(text.replace('profile = "shanghai-main-city"', f'profile = "{bad.as_posix()}"'),
                     encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", str(study), "--out", str(out)]) == 2
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("  fix: "), lines
    assert str(bad) in lines[0] and "[categories.park.minutes]" in lines[0] and "Traceback" not in cap.err
    assert "minutes = 5" in lines[1]
    assert not out.exists() or not any(out.rglob("*"))


# ------------------------------------------------------------------ the reference
def test_docs_profile_md_is_generated_from_the_schema():
    """docs/profile.md is what `python -m toolkit.profile_schema docs/profile.md` writes."""
    doc = (ROOT_DIR / "docs" / "profile.md").read_text(encoding="utf-8")
    assert doc == profile_markdown(), "regenerate: .venv/bin/python -m toolkit.profile_schema docs/profile.md"


def test_the_reference_lists_every_key_the_shipped_profiles_use():
    """Each key used in a bundled profile has its row in the reference (read independently from the TOML)."""
    md = profile_markdown()
    used = set()
    for name in available_profiles():
        for table, body in _raw(name).items():
            if table == "profile":
                used |= set(body)
            else:
                for v in body.values():
                    used |= set(v) if isinstance(v, dict) else set()
    rows = set(re.findall(r"^\| `([a-z0-9_]+)` \|", md, re.M))
    assert used and used <= rows, used - rows
    assert len(PROFILE_SECTIONS) == 5


def test_profile_categories_take_exactly_the_keys_the_loader_reads():
    """The declared category keys are toolkit.standards.CATEGORY_KEYS (definition and threshold keys), so a key
    the loader reads is never refused and a key it ignores never passes."""
    from toolkit.standards import CATEGORY_KEYS

    section = next(s for s in PROFILE_SECTIONS if s.name == "categories.<id>")
    assert sorted(section.names()) == sorted(CATEGORY_KEYS)


def test_every_key_has_an_example_so_every_message_has_a_fix():
    """A value of the wrong type or range is reported with "fix: e.g. <key> = ..." for every declared key."""
    from toolkit.study_schema import _nested

    missing = [f"{s.name}.{k.name}" for s in _nested(PROFILE_SECTIONS) for k in s.keys if not k.example_text()]
    assert not missing, missing


def test_the_module_examples_run():
    """The doctest examples of toolkit/profile_schema.py (minutes = -5, a negative override) give what they show."""
    import doctest

    import toolkit.profile_schema

    result = doctest.testmod(toolkit.profile_schema)
    assert result.attempted and result.failed == 0
