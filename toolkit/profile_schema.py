"""The profile schema: every table and key a standards profile TOML (``data/profiles/*.toml``) accepts.

A profile is declared with the study schema's machinery (:mod:`toolkit.study_schema`: :class:`Section`,
:class:`Key` and its kinds), so it is checked the same way: an unknown key is refused with the closest valid
name, a value of the wrong type or out of range (``minutes = -5``) with the file, the key and an example.
:func:`check_profile_dict` runs in :func:`toolkit.standards.load_profile` on every profile, bundled or a
user's file, before anything is built from it; a walker named by a category, tier or the waterfront must be
one of the profile's ``[walkers]``. A profile category takes the keys of a study's
``[standards.categories.<id>]`` (the same declarations), so the two never drift apart.

:func:`profile_markdown` writes the reference ``docs/profile.md``
(``python -m toolkit.profile_schema docs/profile.md``; tests/test_profile_schema.py keeps it in step).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .study_schema import (
    _CATEGORY,
    _OVERRIDES,
    Key,
    Kind,
    ListOf,
    MapOf,
    Number,
    Section,
    Table,
    Text,
    _cell,
    _Check,
    _check_table,
    _did_you_mean,
    _names,
    _nested,
)

__all__ = ["PROFILE_SECTIONS", "check_overrides", "check_profile_dict", "profile_markdown", "write_profile_docs"]

_RESIDENTS = Number(0, lo_open=True, unit="residents")


@dataclass(frozen=True)
class _PopulationRange(Kind):
    """``[min]`` or ``[min, max]`` residents, min < max (what :func:`toolkit.lifecircle.life_circle_range` reads)."""

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        ListOf(_RESIDENTS).check(value, path, ctx, example)
        if len(value) not in (1, 2) or (len(value) == 2 and not value[0] < value[1]):
            ctx.bad(path, value, self, example)

    def type_text(self) -> str:
        return "list of numbers"

    def limits(self) -> str:
        return "`[min]` or `[min, max]`, each > 0, min < max"

    def expect(self) -> str:
        return "[min] or [min, max] residents, min < max"


_POS_M = Number(0, lo_open=True, unit="metres")
_MINUTES = Number(0, lo_open=True, unit="minutes")
_WALKER_NAME = Text(nonempty=True)

_HEAD = Section(
    "profile", "What the profile is and where its values come from.",
    (
        Key("name", Text(nonempty=True), "the profile's name (`standards.profile` in a study names a bundled one "
            "by it)", required=True, missing="the profile has no name", example="name = 'my-district'"),
        Key("title", Text(), "one line for listings and the report", default_doc="`\"\"`",
            example="title = 'District plan 2025'"),
        Key("source", Text(), "the standard or plan the profile follows", default_doc="`\"\"`",
            example="source = 'Shanghai 15-minute life circle guide (2016)'"),
        Key("life_circle_population", _PopulationRange(),
            "residents of one 15-minute life circle: `[low, high]`, or `[low]` where the standard gives no upper "
            "bound", example="life_circle_population = [30000, 50000]"),
        Key("life_circle_population_source", Text(), "where `life_circle_population` comes from",
            example="life_circle_population_source = 'GB 50180-2018 Table 3.0.4'"),
    ),
    example="[profile] name = 'my-district', title = '...', source = '...'",
)

_WALKER = Section(
    "walkers.<walker>", "A walker (`adult`, `elderly`): the speed that turns a threshold in minutes into metres.",
    (
        Key("speed_m_per_s", Number(0, 5, lo_open=True, hi_open=True, unit="metres per second"), "walking speed",
            required=True, missing="a walker needs its speed", example="speed_m_per_s = 1.2"),
        Key("source", Text(), "where the speed comes from",
            example="source = 'toolkit default: 1.2 m/s, the lower end of the average adult walking speed'"),
    ),
)

_THRESHOLD = (
    Key("max_distance_m", _POS_M, "walking distance in metres (or `minutes`)", example="max_distance_m = 1000"),
    Key("minutes", _MINUTES, "minutes of walking at `walker`'s speed", example="minutes = 15"),
    Key("walker", _WALKER_NAME, "whose walk, with `minutes`: one of the profile's `[walkers]`",
        default_doc="`\"adult\"`", example="walker = 'adult'"),
    Key("source", Text(), "where the threshold comes from", example="source = '2024 draft standard'"),
)

_WATERFRONT = Section(
    "waterfront", "The distance within which a block counts as having waterfront access (needed only by studies "
    "with a `[waterfront]` overlay).", _THRESHOLD,
)

_TIER = Section(
    "tiers.<tier>", "A life-circle tier (`\"15min\"`, `\"10min\"`, `\"5min\"`): its walk, for listings.", _THRESHOLD,
)

_PROFILE_CATEGORY = Section(
    "categories.<id>",
    "The threshold of one category the profile measures, with its source; the same keys as a study's "
    "[`[standards.categories.<id>]`](config.md#standardscategoriesid). A built-in category "
    "(`data/categories.toml`) needs only a threshold; a new one also labels. `<id>` is a lower-case identifier "
    "(it names columns such as `dist_<id>_m`).",
    _CATEGORY.keys,
    example="[categories.transit] max_distance_m = 300, source = '...'",
    rules=("a category needs `max_distance_m` or `minutes`; `walker` is one of the profile's `[walkers]`",),
)

#: The tables of a profile, in the order of the reference.
PROFILE_SECTIONS: tuple[Section, ...] = (_HEAD, _WALKER, _WATERFRONT, _TIER, _PROFILE_CATEGORY)

_ROOT = Section(
    "profile file", "The tables of a profile TOML.",
    (
        Key("profile", Table(_HEAD), "what the profile is", required=True,
            missing="the profile has no [profile] table with a name", example="[profile] name = 'my-district'"),
        Key("walkers", MapOf(Table(_WALKER), "walker"), "walking speeds"),
        Key("waterfront", Table(_WATERFRONT), "the waterfront-access threshold"),
        Key("tiers", MapOf(Table(_TIER), "tier"), "the life-circle tiers"),
        Key("categories", MapOf(Table(_PROFILE_CATEGORY), "category id"), "the thresholds, one per category"),
    ),
)


def _check_walkers(raw: Mapping[str, Any], ctx: _Check) -> None:
    """Every walker a category, tier or the waterfront names is one of the profile's ``[walkers]``."""
    walkers = list(raw.get("walkers", {}))
    named: list[tuple[str, Any]] = [("waterfront.walker", raw.get("waterfront", {}).get("walker"))]
    for table in ("tiers", "categories"):
        named += [(f"{table}.{k}.walker", v.get("walker")) for k, v in raw.get(table, {}).items()]
    for path, walker in named:
        if walker is not None and walker not in walkers:
            ctx.fail(path, f"unknown walker {walker!r}", _did_you_mean(walker, walkers, "{!r}")
                     + (f"use one of the profile's walkers: {_names(walkers)}" if walkers
                        else "add a [walkers.<name>] table with speed_m_per_s"))


def check_profile_dict(raw: Any, source: str | None = None) -> None:
    """Check a parsed profile TOML against the declarations, before anything is built from it.

    Parameters
    ----------
    raw : dict
        The profile as :func:`tomllib.load` gives it.
    source : str, optional
        The profile file, for the messages.

    Raises
    ------
    InputError
        The first problem: an unknown table or key (with the closest valid name), a value of the wrong type or
        out of range (with an example), a missing name or speed, a walker the profile does not define.

    Examples
    --------
    >>> from toolkit.errors import InputError
    >>> raw = {"profile": {"name": "p"}, "walkers": {"adult": {"speed_m_per_s": 1.2}},
    ...        "categories": {"park": {"minutes": -5}}}
    >>> try:
    ...     check_profile_dict(raw, "p.toml")
    ... except InputError as e:
    ...     print(e.source, "|", e.field, "|", e.problem, "|", e.fix)
    p.toml | categories.park.minutes | minutes must be a positive number of minutes, not -5 | e.g. minutes = 5
    """
    ctx = _Check(source, python=False)
    if not isinstance(raw, Mapping):
        ctx.fail("", f"a profile must be a table of tables, not {type(raw).__name__}", "see docs/profile.md")
    for name in raw:
        if _ROOT.get(name) is None:
            ctx.fail(str(name), f"unknown table [{name}] in the profile",
                     _did_you_mean(name, _ROOT.names(), "[{}]") + f"a profile has: {_names(_ROOT.names())}")
    _check_table(_ROOT, raw, "", ctx, "the profile")
    _check_walkers(raw, ctx)


def check_overrides(overrides: Any, source: str | None = None) -> None:
    """Check changes to a profile given in Python (``load_profile(name, overrides)``) like a study's.

    The keys of a study's ``[standards.overrides]`` (``docs/config.md``), checked by the same declarations;
    tuples pass for lists.

    Parameters
    ----------
    overrides : dict
        ``{"categories": {...}, "walkers": {...}, "waterfront": {...}}``.
    source : str, optional
        Where the overrides come from (the study file), for the messages.

    Raises
    ------
    InputError
        Naming ``standards.overrides.<table>.<key>``, the problem and the fix.

    Examples
    --------
    >>> from toolkit.errors import InputError
    >>> try:
    ...     check_overrides({"categories": {"transit": {"max_distance_m": -1}}}, "notebook")
    ... except InputError as e:
    ...     print(e.field, "|", e.problem)
    standards.overrides.categories.transit.max_distance_m | max_distance_m must be a positive number of metres, not -1
    """
    _check_table(_OVERRIDES, overrides, "standards.overrides", _Check(source, python=True))


def profile_markdown() -> str:
    """The profile reference (``docs/profile.md``), generated from the declarations.

    Returns
    -------
    str
        Markdown: every table and key with its type, default, range or choices and meaning.

    Examples
    --------
    >>> md = profile_markdown()
    >>> "| `speed_m_per_s` | number | required | > 0 and < 5 | walking speed |" in md
    True
    """
    lines = [
        "# Standards profile reference",
        "",
        "<!-- generated from toolkit/profile_schema.py by `python -m toolkit.profile_schema docs/profile.md`; "
        "do not edit by hand (tests/test_profile_schema.py compares) -->",
        "",
        "A standards profile is a TOML file: the four bundled ones are `data/profiles/*.toml`; a study names one by "
        "name or gives the path of its own (`[standards] profile = \"my_profile.toml\"`). Every value carries its "
        "source. Each profile, bundled or not, is checked when it is loaded: an unknown table or key is an error "
        "that names the closest valid one, a value of the wrong type or out of range (`minutes = -5`) an error "
        "naming the file, the key and an example. A study changes a profile's values in "
        "[`[standards.overrides]`](config.md#standardsoverrides), checked by the study's own schema.",
        "",
        "Tables: " + ", ".join(f"[`{s.header()}`](#{s.anchor()})" for s in PROFILE_SECTIONS) + ".",
        "",
    ]
    for s in _nested(PROFILE_SECTIONS):
        lines += [f'<a id="{s.anchor()}"></a>', "", f"## `{s.header()}`", "", s.doc, ""]
        if s.rules:
            lines += ["Rules: " + "; ".join(s.rules) + ".", ""]
        lines += ["| key | type | default | range / choices | meaning |", "|---|---|---|---|---|"]
        for k in s.keys:
            lines.append(f"| `{k.name}` | {_cell(k.kind.type_text())} | {_cell(k.default_text())} | "
                         f"{_cell(k.kind.limits())} | {_cell(k.doc)} |")
        lines.append("")
    n_keys = sum(len(s.keys) for s in _nested(PROFILE_SECTIONS))
    lines += [f"{len(_nested(PROFILE_SECTIONS))} tables, {n_keys} keys.", ""]
    return "\n".join(lines)


def write_profile_docs(path: str | os.PathLike) -> Path:
    """Write :func:`profile_markdown` to ``path`` (UTF-8) and return it.

    Parameters
    ----------
    path : path-like
        Where to write, e.g. ``docs/profile.md``.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> write_profile_docs("docs/profile.md")  # doctest: +SKIP
    PosixPath('docs/profile.md')
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(profile_markdown(), encoding="utf-8")
    return p


if __name__ == "__main__":
    print(write_profile_docs(sys.argv[1] if len(sys.argv) > 1 else "docs/profile.md"))
