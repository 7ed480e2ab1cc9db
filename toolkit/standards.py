"""Planning standards as data: categories, walking speeds and threshold profiles.

Profiles live in ``data/profiles/*.toml`` with a source next to every value;
a study may override any of them. Thresholds given in minutes become metres
through the walking speed of the walker the category names (adult or elderly).
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .coverage import CategoryRule
from .datasets import data_dir, data_toml
from .errors import InputError


@dataclass(frozen=True)
class Category:
    """A facility category and how it is recognised."""

    name: str
    label_en: str
    label_zh: str
    osm: tuple[str, ...] = ()
    landuse: tuple[str, ...] = ()

    def label(self, lang: str = "en") -> str:
        """Label in ``"en"`` or ``"zh"``."""
        return self.label_zh if lang == "zh" else self.label_en


@cache
def categories() -> dict[str, Category]:
    """All known facility categories, in matching order."""
    raw = data_toml("categories.toml")["categories"]
    return {k: Category(name=k, label_en=v["label_en"], label_zh=v["label_zh"],
                        osm=tuple(v.get("osm", ())), landuse=tuple(v.get("landuse", ())))
            for k, v in raw.items()}


def available_profiles() -> list[str]:
    """Names of the bundled standards profiles."""
    return sorted(p.stem for p in (data_dir() / "profiles").glob("*.toml"))


@dataclass
class Profile:
    """A standards profile: walkers, tiers and per-category thresholds, each with its source."""

    name: str
    title: str
    source: str
    walkers: dict[str, dict[str, Any]]
    categories: dict[str, dict[str, Any]]
    tiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    overridden: list[str] = field(default_factory=list)
    waterfront: dict[str, Any] = field(default_factory=dict)

    def waterfront_threshold(self) -> float:
        """Metres within which a block counts as having waterfront access."""
        if not self.waterfront:
            raise InputError(f"profile {self.name!r} has no [waterfront] threshold", source=f"profile {self.name}",
                             field="waterfront", fix="add [waterfront] max_distance_m = ... (with a source)")
        return self._metres(self.waterfront, "waterfront")[0]

    def speed(self, walker: str) -> float:
        """Walking speed in m/s of ``walker``."""
        if walker not in self.walkers:
            raise InputError(f"unknown walker {walker!r} in profile {self.name!r}", field="walker",
                             fix=f"use one of: {', '.join(self.walkers)}")
        return float(self.walkers[walker]["speed_m_per_s"])

    def _metres(self, spec: dict[str, Any], where: str) -> tuple[float, float | None, str]:
        if "max_distance_m" in spec:
            return float(spec["max_distance_m"]), spec.get("minutes"), spec.get("walker", "adult")
        if "minutes" in spec:
            walker = spec.get("walker", "adult")
            return float(spec["minutes"]) * 60.0 * self.speed(walker), float(spec["minutes"]), walker
        raise InputError(f"{where} gives neither max_distance_m nor minutes", source=f"profile {self.name}",
                         field=where, fix="add max_distance_m = ... or minutes = ... (with walker)")

    def rule(self, category: str) -> CategoryRule:
        """The threshold rule of one category."""
        spec = self.categories[category]
        metres, minutes, walker = self._metres(spec, f"categories.{category}")
        return CategoryRule(category=category, max_distance_m=metres, walker=walker, minutes=minutes,
                            source=spec.get("source", ""),
                            label=categories()[category].label_en if category in categories() else category)

    def rules(self) -> dict[str, CategoryRule]:
        """Threshold rules of every category in the profile."""
        return {c: self.rule(c) for c in self.categories}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for run.json, with the resolved metres."""
        return {"name": self.name, "title": self.title, "source": self.source, "walkers": self.walkers,
                "overridden": self.overridden,
                "categories": {c: {**self.categories[c], "threshold_m": round(self.rule(c).max_distance_m, 1)}
                               for c in self.categories}}


def load_profile(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> Profile:
    """Load a bundled profile by name (or a profile TOML by path) and apply overrides.

    Parameters
    ----------
    name_or_path : str or Path
        ``"gb50180"``, ``"shanghai-main-city"``, ``"shanghai-new-town"``,
        ``"shanghai-market-town"``, or a path to a TOML file of the same shape.
    overrides : dict, optional
        ``{"categories": {"transit": {"max_distance_m": 500}}, "walkers": {...}}``;
        a value given without a ``source`` is recorded as a user override.
    """
    p = Path(name_or_path)
    if not p.suffix:
        p = data_dir() / "profiles" / f"{name_or_path}.toml"
    if not p.exists():
        raise InputError(f"unknown standards profile {str(name_or_path)!r}", field="study.profile",
                         fix=f"use one of: {', '.join(available_profiles())}, or a path to a profile TOML")
    with open(p, "rb") as f:
        raw = tomllib.load(f)
    prof = Profile(name=raw["profile"]["name"], title=raw["profile"].get("title", ""),
                   source=raw["profile"].get("source", ""), walkers=raw.get("walkers", {}),
                   categories=raw.get("categories", {}), tiers=raw.get("tiers", {}),
                   waterfront=raw.get("waterfront", {}))
    if overrides:
        prof = _apply_overrides(prof, overrides)
    for c in prof.categories:
        if c not in categories():
            raise InputError(f"profile names unknown category {c!r}", source=str(p), field=f"categories.{c}",
                             fix=f"use one of: {', '.join(categories())}")
        prof.rule(c)  # validates units now, not halfway through a run
    return prof


def _apply_overrides(prof: Profile, overrides: dict[str, Any]) -> Profile:
    prof = copy.deepcopy(prof)
    if "waterfront" in overrides:
        prof.waterfront = {**prof.waterfront, **overrides["waterfront"]}
        if "max_distance_m" in overrides["waterfront"] and "minutes" not in overrides["waterfront"]:
            prof.waterfront.pop("minutes", None)
        prof.waterfront.setdefault("source", "user override")
        prof.overridden.append("waterfront")
    for section in ("categories", "walkers"):
        for key, spec in overrides.get(section, {}).items():
            target = getattr(prof, section)
            base = dict(target.get(key, {}))
            if section == "categories" and ("max_distance_m" in spec or "minutes" in spec):
                # a new threshold replaces the old one entirely, units included
                base.pop("max_distance_m", None)
                base.pop("minutes", None)
            base.update(spec)
            base.setdefault("source", "user override")
            if "source" not in spec:
                base["source"] = f"user override (profile value was: {target.get(key, {}).get('source', '-')})"
            target[key] = base
            prof.overridden.append(f"{section}.{key}")
    unknown = set(overrides) - {"categories", "walkers", "waterfront"}
    if unknown:
        raise InputError(f"unknown override section(s): {', '.join(sorted(unknown))}",
                         field="standards.overrides", fix="override 'categories' or 'walkers'")
    return prof
