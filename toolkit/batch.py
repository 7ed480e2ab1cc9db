"""Batch runs: several studies x several scenarios, in parallel on a Dask cluster, cached.

A batch file (see ``data/batches/shanghai.toml``)::

    [batch]
    title = "Central Shanghai under the three Shanghai profiles"
    studies = ["xuhui", "center"]          # bundled study names, or study TOML paths (relative to this file)

    [[scenarios]]
    name = "main-city"
    profile = "shanghai-main-city"

    [[scenarios]]
    name = "all-15min"
    minutes = 15                           # every category's threshold becomes a 15-minute walk
    walking_speed = { elderly = 0.7 }      # m/s, per walker of the profile

A study may also be a table, ``{ study = "xuhui", name = "xuhui_south", set = { area = { bbox = [...] } } }``,
and a scenario may carry ``overrides`` (the shape of a study's ``[standards.overrides]``) and ``set``
(sections merged into each study's TOML; ``area`` is replaced whole). Every run writes
``<out>/<study>__<scenario>/`` (GeoPackage, map.html, run.json, plus ``batch_run.json`` and ``.cache_key``);
the batch writes ``<out>/index.html`` and ``<out>/batch.json``.

A run is skipped when its folder holds the same cache key: the sha256 of the toolkit version, the toolkit's
own rule files, the resolved study config and profile, and the sha256 of every input file.

Everything in the batch file is checked before any run starts (:class:`~toolkit.errors.InputError`);
a run that fails while running (a missing or broken input file, an error inside the pipeline) is reported
with its message and does not stop the others. Only the runs that have work to do start a Dask cluster.

A batch builds each study's network once and shares it across its scenarios: the runs on one network
(same OSM source, area, CRS, buffer and snapping rules) are one Dask task, run one after another in one
worker process, where :func:`toolkit.study.load_network` keeps the built network in memory; different
networks run in parallel. Each run's ``batch_run.json`` says ``network_cache``: ``miss`` for the run that
built the network, ``hit`` for the runs that reused it.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import html
import json
import logging
import os
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import __version__
from .config import Study, bundled_studies, study_from_dict
from .datasets import data_dir, fetch, registry, sha256sum
from .errors import InputError
from .outfolder import FOLDER_NAME_RULE, check_folder_name, check_output_folder
from .sources import Source, iter_sources

__all__ = [
    "CACHE_FILE",
    "SUMMARY_FILE",
    "Batch",
    "BatchReport",
    "BatchRun",
    "Scenario",
    "cache_key",
    "cached_summary",
    "execute_run",
    "execute_runs",
    "index_html",
    "load_batch",
    "run_batch",
    "share_groups",
    "write_index"
]

CACHE_FILE = ".cache_key"
SUMMARY_FILE = "batch_run.json"
_BATCH_KEYS = {"batch", "scenarios"}
_BATCH_TABLE_KEYS = {"name", "title", "studies"}
_STUDY_REF_KEYS = {"study", "name", "set"}
_SCENARIO_KEYS = {"name", "title", "profile", "minutes", "walking_speed", "overrides", "set"}


# ----------------------------------------------------------------- the batch
@dataclass
class Scenario:
    """A named set of changes applied to every study of the batch."""

    name: str
    title: str = ""
    profile: str | None = None
    minutes: float | None = None
    walking_speed: dict[str, float] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchRun:
    """One study under one scenario: the resolved :class:`Study` and where its outputs go."""

    run_id: str
    study_name: str
    scenario: Scenario
    study: Study
    study_file: str
    key: str | None = None

    def folder(self, out: str | Path) -> Path:
        """The run's output folder."""
        return Path(out) / self.run_id


@dataclass
class Batch:
    """A parsed and validated batch file."""

    name: str
    title: str
    source_file: str
    scenarios: list[Scenario]
    runs: list[BatchRun]


def _err(problem: str, source: str, where: str, fix: str) -> InputError:
    return InputError(problem, source=source, field=where, fix=fix)


def _inner(exc: InputError, source: str) -> str:
    """An inner error's problem, led by its own file when that is not the batch file (a profile, a study)."""
    if exc.source and exc.source != source:
        return f"{exc.source}" + (f" [{exc.field}]" if exc.field else "") + f": {exc.problem}"
    return exc.problem


def _check_name(value: Any, source: str, where: str, fix: str) -> str:
    # the rule of every output folder name (toolkit run applies it too), plus no "__": run folders are
    # "<study>__<scenario>", so a "__" inside either would make two runs' folders ambiguous
    check_folder_name(value, source=source, field=where, fix=f"{fix} (no '__')")
    if "__" in value:
        raise _err(f"{value!r} is not a usable name (it names output folders)", source, where,
                   f"{fix}: no '__' (it joins study and scenario in run folder names); {FOLDER_NAME_RULE}")
    return value


def _merge(base: dict[str, Any], new: dict[str, Any], replace: Iterable[str] = ()) -> dict[str, Any]:
    """``new`` merged into a copy of ``base``, table by table; keys in ``replace`` are replaced whole."""
    out = copy.deepcopy(base)
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k not in replace:
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _merge_spec(old: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    out = dict(old)
    if {"max_distance_m", "minutes"} & set(spec):  # a new threshold replaces the old one, units included
        out.pop("max_distance_m", None)
        out.pop("minutes", None)
    return {**out, **copy.deepcopy(spec)}


def _merge_thresholds(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Standards overrides (``categories``, ``walkers``, ``waterfront``) merged entry by entry."""
    out = copy.deepcopy(base)
    for section, specs in new.items():
        if section == "waterfront" and isinstance(specs, dict):
            out["waterfront"] = _merge_spec(out.get("waterfront", {}), specs)
        elif isinstance(specs, dict) and isinstance(out.get(section, {}), dict):
            target = out.setdefault(section, {})
            for k, spec in specs.items():
                target[k] = _merge_spec(target.get(k, {}), spec) if isinstance(spec, dict) else copy.deepcopy(spec)
        else:
            out[section] = copy.deepcopy(specs)
    return out


def _study_path(ref: str, base: Path, source: str, where: str) -> Path:
    p = Path(ref).expanduser()
    candidates = [p] if p.is_absolute() else [base / p]
    if not p.suffix and "/" not in ref:
        candidates.append(data_dir() / "studies" / f"{ref}.toml")
    for c in candidates:
        if c.is_file():
            return c
    raise _err(f"unknown study {ref!r}", source, where,
               f"use a bundled study ({', '.join(bundled_studies())}) or a path to a study TOML "
               "(relative to the batch file)")


def _read_toml(path: Path, source: str, where: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise _err(f"not valid TOML: {exc}", str(path), where, "fix the syntax at the line named") from None


def _parse_scenario(raw: Any, i: int, source: str, base: Path) -> Scenario:
    from .standards import available_profiles

    where = f"scenarios[{i}]"
    if not isinstance(raw, dict):
        raise _err("a scenario must be a table", source, where, "write [[scenarios]] with name = '...'")
    unknown = set(raw) - _SCENARIO_KEYS
    if unknown:
        raise _err(f"unknown key(s) {', '.join(sorted(unknown))}", source, f"{where}.{sorted(unknown)[0]}",
                   f"a scenario takes: {', '.join(sorted(_SCENARIO_KEYS))}")
    if "name" not in raw:
        raise _err("the scenario has no name", source, f"{where}.name", "add name = 'main-city' (used in folder names)")
    name = _check_name(raw["name"], source, f"{where}.name", "rename the scenario")
    where = f"scenarios[{i}] ({name})"
    profile = raw.get("profile")
    if profile is not None:
        if not isinstance(profile, str):
            raise _err("profile must be a string", source, f"{where}.profile", "e.g. profile = 'shanghai-new-town'")
        if Path(profile).suffix:
            p = Path(profile).expanduser()
            p = p if p.is_absolute() else base / p
            if not p.is_file():
                raise _err(f"profile file {profile!r} not found", source, f"{where}.profile",
                           "give a path relative to the batch file, or a bundled profile: "
                           + ", ".join(available_profiles()))
            profile = str(p.resolve())
        elif profile not in available_profiles():
            raise _err(f"unknown standards profile {profile!r}", source, f"{where}.profile",
                       f"use one of: {', '.join(available_profiles())}, or a path to a profile TOML")
    minutes = raw.get("minutes")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0):
        raise _err(f"minutes must be a positive number, not {minutes!r}", source, f"{where}.minutes",
                   "e.g. minutes = 15 (every category's threshold becomes a 15-minute walk)")
    speeds = raw.get("walking_speed", {})
    if not isinstance(speeds, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < 5 for v in speeds.values()):
        raise _err(f"walking_speed must be a table of walker = metres per second, not {speeds!r}", source,
                   f"{where}.walking_speed", "e.g. walking_speed = { adult = 1.0, elderly = 0.7 }")
    for key in ("overrides", "set"):
        if not isinstance(raw.get(key, {}), dict):
            raise _err(f"{key} must be a table", source, f"{where}.{key}",
                       "e.g. overrides = { categories = { transit = { max_distance_m = 500 } } }" if key == "overrides"
                       else "e.g. set = { network = { facility_max_snap_m = 300 } }")
    return Scenario(name=name, title=str(raw.get("title", "")), profile=profile,
                    minutes=float(minutes) if minutes is not None else None,
                    walking_speed={k: float(v) for k, v in speeds.items()},
                    overrides=raw.get("overrides", {}), set=raw.get("set", {}))


def _apply_scenario(raw: dict[str, Any], sc: Scenario, source: str, where: str) -> dict[str, Any]:
    """The study's TOML structure with the scenario's changes applied."""
    from .standards import load_profile

    raw = _merge(raw, sc.set, replace=("area",))
    std = raw.setdefault("standards", {})
    if sc.profile:
        std["profile"] = sc.profile
    overrides = std.get("overrides", {})
    try:
        base_profile = load_profile(std.get("profile", raw.get("study", {}).get("profile", "shanghai-main-city")))
    except InputError as exc:
        raise _err(_inner(exc, source), source, f"{where}.profile", exc.fix or "") from None
    if sc.minutes is not None:
        n = sc.minutes
        overrides = _merge_thresholds(overrides, {"categories": {
            c: {"minutes": n, "source": f"batch scenario {sc.name!r}: every category within {n:g} minutes"}
            for c in base_profile.categories}})
    if sc.walking_speed:
        bad = set(sc.walking_speed) - set(base_profile.walkers)
        if bad:
            raise _err(f"unknown walker(s) {', '.join(sorted(bad))} in profile {base_profile.name!r}", source,
                       f"{where}.walking_speed", f"use: {', '.join(base_profile.walkers)}")
        overrides = _merge_thresholds(overrides, {"walkers": {
            w: {"speed_m_per_s": v, "source": f"batch scenario {sc.name!r}"} for w, v in sc.walking_speed.items()}})
    overrides = _merge_thresholds(overrides, sc.overrides)
    if overrides:
        std["overrides"] = overrides
    return raw


def _batch_file(path: str | Path) -> Path:
    """The batch file: a path, or a bundled batch by name ("shanghai")."""
    p = Path(path)
    if not p.is_file() and not p.suffix and (data_dir() / "batches" / f"{p.name}.toml").is_file():
        p = data_dir() / "batches" / f"{p.name}.toml"
    if not p.is_file():
        bundled = sorted(b.stem for b in (data_dir() / "batches").glob("*.toml"))
        raise InputError("batch file not found", source=str(p), fix="give the path to a batch TOML, or a bundled "
                         f"batch: {', '.join(bundled) or '(none)'}")
    return p


def _batch_table(raw: dict[str, Any], source: str, stem: str) -> tuple[dict[str, Any], str, list[Any]]:
    """The ``[batch]`` table checked: the table, the batch's name and its study entries."""
    unknown = set(raw) - _BATCH_KEYS
    if unknown:
        raise _err(f"unknown key(s) {', '.join(sorted(unknown))}", source, sorted(unknown)[0],
                   "a batch file has a [batch] table (name, title, studies) and [[scenarios]]")
    bt = raw.get("batch", {})
    if not isinstance(bt, dict):
        raise _err("[batch] must be a table", source, "batch", "write [batch] with studies = ['xuhui', ...]")
    unknown = set(bt) - _BATCH_TABLE_KEYS
    if unknown:
        raise _err(f"unknown key(s) {', '.join(sorted(unknown))}", source, f"batch.{sorted(unknown)[0]}",
                   f"[batch] takes: {', '.join(sorted(_BATCH_TABLE_KEYS))}")
    name = _check_name(bt.get("name", stem), source, "batch.name", "rename the batch")
    refs = bt.get("studies")
    if not refs or not isinstance(refs, list):
        raise _err("the batch lists no studies", source, "batch.studies",
                   f"add studies = ['xuhui', 'my_study.toml'] (bundled: {', '.join(bundled_studies())})")
    return bt, name, refs


def _batch_scenarios(raw: dict[str, Any], source: str, base: Path) -> list[Scenario]:
    """The ``[[scenarios]]`` parsed, each name once (one default scenario when there are none)."""
    scen_raw = raw.get("scenarios", [{"name": "default"}])
    if not isinstance(scen_raw, list) or not scen_raw:
        raise _err("scenarios must be a list of tables", source, "scenarios",
                   "write one [[scenarios]] table per scenario, each with a name")
    scenarios = [_parse_scenario(s, i, source, base) for i, s in enumerate(scen_raw)]
    seen: set[str] = set()
    for i, sc in enumerate(scenarios):
        if sc.name in seen:
            raise _err(f"two scenarios are named {sc.name!r}", source, f"scenarios[{i}].name",
                       "give each scenario a unique name")
        seen.add(sc.name)
    return scenarios


def _study_entry(ref: Any, source: str, where: str) -> dict[str, Any]:
    """One ``studies`` entry as a table (``study``, optional ``name`` and ``set``), checked."""
    if isinstance(ref, str):
        ref = {"study": ref}
    if not isinstance(ref, dict) or not isinstance(ref.get("study"), str):
        raise _err(f"a study entry must be a name or path, or a table with study = '...', not {ref!r}", source,
                   where, "e.g. studies = ['xuhui', { study = 'center', name = 'huangpu' }]")
    unknown = set(ref) - _STUDY_REF_KEYS
    if unknown:
        raise _err(f"unknown key(s) {', '.join(sorted(unknown))}", source, f"{where}.{sorted(unknown)[0]}",
                   f"a study entry takes: {', '.join(sorted(_STUDY_REF_KEYS))}")
    if not isinstance(ref.get("set", {}), dict):
        raise _err("set must be a table", source, f"{where}.set", "e.g. set = { area = { bbox = [...] } }")
    return ref


def _entry_runs(ref: dict[str, Any], scenarios: list[Scenario], source: str, base: Path, where: str,
                study_names: set[str]) -> list[BatchRun]:
    """The runs of one study entry: the study with its ``set`` applied, under every scenario, all checked."""
    from .standards import load_profile

    spath = _study_path(ref["study"], base, source, f"{where}")
    sraw = _merge(_read_toml(spath, source, where), ref.get("set", {}), replace=("area",))
    sbase, sfile = str(spath.resolve().parent), str(spath)
    try:
        plain = study_from_dict(sraw, base_dir=sbase, source_file=sfile)
    except InputError as exc:
        if ref.get("set"):  # possibly the batch's change: name the batch file
            raise _err(f"{_inner(exc, source)} (with the study's set applied)", source,
                       f"{where}.set" + (f" -> {exc.field}" if exc.field else ""), exc.fix or "") from None
        raise InputError(f"{exc.problem} (study listed in {source} as {where})", source=exc.source,
                         field=exc.field, fix=exc.fix) from None
    sname = _check_name(ref.get("name", plain.name), source, f"{where}.name",
                        "give the study entry a name = '...'")
    if sname in study_names:
        raise _err(f"two studies are named {sname!r}", source, f"{where}.name",
                   f"give one of them a name: {{ study = {ref['study']!r}, name = '{sname}_2' }}")
    study_names.add(sname)
    runs = []
    for i, sc in enumerate(scenarios):
        swhere = f"scenarios[{i}] ({sc.name})"
        try:
            st = study_from_dict(_apply_scenario(sraw, sc, source, swhere), base_dir=sbase, source_file=sfile)
            load_profile(st.profile, st.overrides)  # thresholds and units checked now, not in a worker
        except InputError as exc:
            if exc.source == source:
                raise
            raise _err(f"{_inner(exc, source)} (scenario applied to study {sname!r})", source,
                       f"{swhere}" + (f" -> {exc.field}" if exc.field else ""), exc.fix or "") from None
        run_id = f"{sname}__{sc.name}"
        st.name = run_id
        st.title = f"{st.title or sname} [{sc.title or sc.name}]"
        runs.append(BatchRun(run_id=run_id, study_name=sname, scenario=sc, study=st, study_file=sfile))
    return runs


def load_batch(path: str | Path) -> Batch:
    """Parse and validate a batch file, or a bundled batch by name; nothing runs.

    Every study is loaded and every scenario applied to it, so all errors surface here.

    Raises
    ------
    InputError
        Naming the batch file, the field and the fix: unknown study, profile or key, bad values,
        duplicate names, or a scenario that makes a study invalid.

    Examples
    --------
    >>> batch = load_batch("shanghai")  # doctest: +SKIP
    >>> [r.run_id for r in batch.runs][:1]  # doctest: +SKIP
    ['xuhui__main-city']
    """
    p = _batch_file(path)
    source = str(p)
    raw = _read_toml(p, source, "batch")
    base = p.resolve().parent
    bt, name, refs = _batch_table(raw, source, p.stem)
    scenarios = _batch_scenarios(raw, source, base)
    runs: list[BatchRun] = []
    study_names: set[str] = set()
    for j, ref in enumerate(refs):
        where = f"batch.studies[{j}]"
        runs += _entry_runs(_study_entry(ref, source, where), scenarios, source, base, where, study_names)
    return Batch(name=name, title=str(bt.get("title", "")), source_file=source, scenarios=scenarios, runs=runs)


# -------------------------------------------------------------------- caching
def _sources(obj: Any) -> Iterable[Source]:
    """Every :class:`Source` inside a study, however deeply nested."""
    return (s for _, s in iter_sources(obj))


class _Hasher:
    """sha256 of input files, each file read once per batch invocation."""

    def __init__(self) -> None:
        self._datasets: dict[str, str] = {}
        self._files: dict[tuple[str, int, int], str] = {}

    def file(self, path: Path) -> str:
        st = path.stat()
        k = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if k not in self._files:
            self._files[k] = sha256sum(path)
        return self._files[k]

    def source(self, src: Source) -> str:
        if src.dataset and not src.path:
            if src.dataset not in self._datasets:
                fetch(src.dataset)  # resolves and verifies against the registry's sha256
                self._datasets[src.dataset] = registry()[src.dataset].sha256
            return self._datasets[src.dataset]
        return self.file(src.resolve())


def _rules_digest() -> dict[str, str]:
    d = data_dir()
    files = [*d.glob("*.toml"), *(d / "profiles").glob("*.toml")]
    return {str(f.relative_to(d)): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(files)}


def cache_key(study: Study, hasher: _Hasher | None = None, rules: dict[str, str] | None = None) -> str:
    """sha256 of the toolkit version, its rule files, the resolved config and profile, and the input files.

    Resolving the inputs may raise (a missing file, a checksum mismatch): the caller reports the run as failed.
    """
    from .standards import load_profile

    hasher = hasher or _Hasher()
    config = study.to_dict()
    config.pop("source_file", None)
    inputs = sorted({(s.label(), hasher.source(s)) for s in _sources(study)})
    material = {"toolkit": __version__, "rules": rules if rules is not None else _rules_digest(),
                "config": config, "profile": load_profile(study.profile, study.overrides).to_dict(),
                "inputs": inputs}
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cached_summary(folder: Path, key: str, need_map: bool) -> dict[str, Any] | None:
    """The stored summary when ``folder`` holds complete outputs made with ``key``, else None."""
    try:
        if (folder / CACHE_FILE).read_text(encoding="utf-8").strip() != key:
            return None
        if not (folder / "run.json").is_file() or (need_map and not (folder / "map.html").is_file()):
            return None
        summary = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if summary.get("key") == key else None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ------------------------------------------------------------------- one run
def _summary(run: BatchRun, result: Any, folder: Path, seconds: float) -> dict[str, Any]:
    import math

    s = result.summary()
    rates = {c: (None if math.isnan(r) else round(float(r), 4)) for c, r in s["rate_total"].items()
             if c in result.categories}
    pop = result.population_balance.get("population", {})
    old = result.population_balance.get("pop_65plus", {})
    under = result.details.get("decisions", {}).get("underserved", {})
    return {
        "coverage": rates,
        "thresholds_m": {c: int(v) for c, v in s["threshold_m"].items()},
        "no_data": list(result.no_data),
        "population": round(float(pop["in_blocks"])) if "in_blocks" in pop else None,
        "pop_65plus": round(float(old["in_blocks"])) if "in_blocks" in old else None,
        "blocks": len(result.blocks),
        "underserved_blocks": under.get("blocks"),
        "underserved_population": round(float(under["population"])) if "population" in under else None,
        "profile_title": result.profile.title,
        "map": f"{run.run_id}/map.html" if (folder / "map.html").is_file() else None,
        # "miss": this run built the network; "hit": it reused the build of an earlier run in the same process
        "network_cache": result.details.get("network", {}).get("cache"),
    }


def execute_run(run: BatchRun, out: str) -> dict[str, Any]:
    """Run one study+scenario end to end and write its outputs; never raises, returns a small summary.

    Each Dask task runs one or more of these (:func:`execute_runs`). The outputs replace
    ``<out>/<run_id>/`` atomically; ``batch_run.json`` and then ``.cache_key`` are written last, so a key
    is only ever found next to the complete outputs it describes.
    """
    import platform
    import socket

    t0 = time.perf_counter()
    base = {"run": run.run_id, "study": run.study_name, "scenario": run.scenario.name, "profile": run.study.profile,
            "key": run.key, "host": f"{socket.gethostname()}:{os.getpid()}", "python": platform.python_version()}
    try:
        from .study import run_study

        result = run_study(run.study)
        folder = Path(result.save(out))
        seconds = round(time.perf_counter() - t0, 1)
        summary = {**base, "status": "ok", "error": None, "seconds": seconds,
                   "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                   **_summary(run, result, folder, seconds)}
        _write_atomic(folder / SUMMARY_FILE, json.dumps(summary, ensure_ascii=False, indent=1))
        if run.key:
            _write_atomic(folder / CACHE_FILE, run.key + "\n")
        return summary
    except Exception as exc:  # reported per run; the batch goes on
        return {**base, "status": "failed", "error": _error_text(exc), "seconds": round(time.perf_counter() - t0, 1),
                "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "traceback": traceback.format_exc(limit=8)}


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, InputError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------- the report
@dataclass
class BatchReport:
    """What a batch invocation did: one summary dict per run, in batch order."""

    batch: Batch
    out: Path
    runs: list[dict[str, Any]]
    seconds: float
    executor: str

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The runs that failed."""
        return [r for r in self.runs if r["status"] == "failed"]

    def to_dict(self) -> dict[str, Any]:
        """The content of batch.json."""
        counts: dict[str, int] = {}
        for r in self.runs:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        return {"toolkit_version": __version__, "batch": self.batch.name, "title": self.batch.title,
                "source": self.batch.source_file,
                "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "seconds": self.seconds, "executor": self.executor, "counts": counts,
                "scenarios": [{"name": s.name, "title": s.title, "profile": s.profile, "minutes": s.minutes,
                               "walking_speed": s.walking_speed, "overrides": s.overrides, "set": s.set}
                              for s in self.batch.scenarios],
                "runs": [{k: v for k, v in r.items() if k != "traceback"} for r in self.runs]}


def _pct(v: Any) -> str:
    return "-" if v is None else f"{v:.1%}"


def _fmt_int(v: Any) -> str:
    return "-" if v is None else f"{v:,}"


def index_html(report: BatchReport) -> str:
    """``index.html``: a link to every run's map and a table of the coverage per category."""
    cats: list[str] = []
    for r in report.runs:
        for c in r.get("coverage") or {}:
            if c not in cats:
                cats.append(c)
    e = html.escape
    title = report.batch.title or f"Batch {report.batch.name}"
    head = ["run", "study", "scenario", "profile", "status", "time", "residents", "aged 65+", "blocks",
            "underserved blocks", *[f"{c}" for c in cats], "outputs"]
    rows = []
    for r in report.runs:
        rid = r["run"]
        link = f'<a href="{quote(r["map"])}">{e(rid)}</a>' if r.get("map") and r["status"] != "failed" else e(rid)
        status = r["status"]
        if status == "failed":
            msg = r.get("error") or ""
            status_cell = f'<td class="failed" title="{e(msg)}">failed: {e(msg[:200])}</td>'
        else:
            status_cell = f'<td class="{e(status)}">{e(status)}</td>'
        secs = r.get("seconds")
        time_cell = "-" if secs is None else (f"{secs:.1f} s" + (" (earlier run)" if status == "cached" else ""))
        cov = r.get("coverage") or {}
        thr = r.get("thresholds_m") or {}
        cells = [f'<td title="threshold {e(str(thr.get(c, "-")))} m">{_pct(cov.get(c))}</td>' for c in cats]
        files = ""
        if status != "failed":
            files = " ".join(f'<a href="{quote(rid)}/{quote(f)}">{e(f)}</a>'
                             for f in ("report.html", "run.json", f"{rid}.gpkg") if (report.out / rid / f).is_file())
        rows.append("<tr>" + "".join([
            f"<td>{link}</td>", f"<td>{e(str(r.get('study', '')))}</td>", f"<td>{e(str(r.get('scenario', '')))}</td>",
            f"<td>{e(str(r.get('profile') or ''))}</td>", status_cell, f"<td>{time_cell}</td>",
            f'<td class="n">{_fmt_int(r.get("population"))}</td>',
            f'<td class="n">{_fmt_int(r.get("pop_65plus"))}</td>',
            f'<td class="n">{_fmt_int(r.get("blocks"))}</td>',
            f'<td class="n">{_fmt_int(r.get("underserved_blocks"))}</td>', *cells, f"<td>{files}</td>"]) + "</tr>")
    counts = report.to_dict()["counts"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; }}
th {{ background: #f2f2f2; }} td.n {{ text-align: right; }}
td.ok {{ color: #1a7f37; }} td.cached {{ color: #555; }} td.failed {{ color: #b42318; max-width: 30em; }}
</style></head><body>
<h1>{e(title)}</h1>
<p>Batch file <code>{e(report.batch.source_file)}</code>; toolkit {e(__version__)};
{len(report.runs)} runs ({", ".join(f"{v} {k}" for k, v in counts.items())}) in {report.seconds:.1f} s on
{e(report.executor)}. Coverage columns: share of residents in blocks within the category's threshold
(hover for the threshold); categories without facility data are left out. Details in
<a href="batch.json">batch.json</a>.</p>
<table>
<thead><tr>{"".join(f"<th>{e(h)}</th>" for h in head)}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""


def write_index(report: BatchReport) -> None:
    """Write ``<out>/index.html`` and ``<out>/batch.json`` (each replaced atomically)."""
    report.out.mkdir(parents=True, exist_ok=True)
    _write_atomic(report.out / "batch.json", json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    _write_atomic(report.out / "index.html", index_html(report))


# ----------------------------------------------------------------- executing
def _connect(scheduler: str | None, n_workers: int, n_runs: int) -> tuple[Any, Any, str]:
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}", field="--scheduler",
                             fix="start one (`dask scheduler` and `dask worker ADDRESS`) or leave out --scheduler "
                             "for a local cluster") from None
        return client, None, f"scheduler {scheduler}"
    n = max(1, min(n_workers, n_runs))
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR)
    return Client(cluster), cluster, f"local Dask cluster ({n} worker process{'es' if n > 1 else ''})"


def _network_key(study: Study) -> str:
    """What decides a study's walking network: its source, area, CRS, buffer and snapping rules."""
    return repr((study.network, study.place, study.area, study.crs, study.network_buffer_m,
                 getattr(study, "network_no_snap", None)))


def share_groups(todo: list[BatchRun]) -> list[list[BatchRun]]:
    """The runs grouped so that each group is one Dask task: the runs of one network, in batch order.

    The scenarios of a study (and any runs on the very same network) run one after another in one
    worker process, where :func:`toolkit.study.load_network` keeps the network it built in memory: the
    network is built once and shared by all of them. Different networks still run in parallel.
    """
    groups: dict[str, list[BatchRun]] = {}
    for run in todo:
        groups.setdefault(_network_key(run.study), []).append(run)
    return list(groups.values())


def execute_runs(runs: list[BatchRun], out: str, topic: str | None = None) -> list[dict[str, Any]]:
    """Run several runs one after another in this process (:func:`execute_run` each); never raises.

    This is the task each Dask worker executes, for the runs of one network (:func:`share_groups`), so
    that they share its build. Each run's summary is also sent as a Dask event on ``topic`` when it is
    known, so the batch reports runs as they finish rather than when the whole group does.
    """
    summaries = []
    for run in runs:
        summary = execute_run(run, out)
        summaries.append(summary)
        if topic:
            try:
                from distributed import get_worker

                get_worker().log_event(topic, summary)
            except Exception:  # not in a Dask worker (called directly): the returned list says it all
                pass
    return summaries


def _failed(run: BatchRun, exc: BaseException) -> dict[str, Any]:
    return {"run": run.run_id, "study": run.study_name, "scenario": run.scenario.name,
            "profile": run.study.profile, "key": run.key, "status": "failed", "error": _error_text(exc),
            "seconds": None}


def _execute(todo: list[BatchRun], out: Path, scheduler: str | None, workers: int,
             on_done: Callable[[dict[str, Any]], None]) -> str:
    import queue

    quiet = logging.getLogger("distributed")  # the scheduler's and client's INFO chatter, in this process
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    groups = share_groups(todo)
    client, cluster, executor = _connect(scheduler, workers, len(groups))
    topic = f"toolkit-batch-{os.urandom(6).hex()}"
    events: queue.Queue = queue.Queue()
    reported: set[Any] = set()  # run names (None for a summary without one)

    def report(summary: dict[str, Any]) -> None:
        if summary.get("run") not in reported:
            reported.add(summary.get("run"))
            on_done(summary)

    def drain() -> None:
        while True:
            try:
                report(events.get_nowait())
            except queue.Empty:
                return

    try:
        client.subscribe_topic(topic, lambda event: events.put(event[1]))  # event: (timestamp, message)
        futures = {client.submit(execute_runs, group, str(out.resolve()), topic, pure=False,
                                 key=f"toolkit-batch-{group[0].run_id}-{len(group)}-"
                                     f"{(group[0].key or '')[:12]}-{os.urandom(4).hex()}"): group
                   for group in groups}
        pending = set(futures)
        while pending:
            drain()
            finished = [f for f in pending if f.done()]
            if not finished:
                time.sleep(0.2)
                continue
            for fut in finished:
                pending.discard(fut)
                group = futures[fut]
                try:
                    summaries = fut.result()
                except Exception as exc:  # the worker died, or the task could not be sent
                    drain()  # the runs that did finish keep their own summaries
                    summaries = [_failed(run, exc) for run in group]
                for summary in summaries:
                    report(summary)
        drain()
    finally:
        try:
            client.unsubscribe_topic(topic)
        except Exception:  # the client may already be gone
            pass
        client.close()
        if cluster is not None:
            cluster.close()
        quiet.setLevel(level)
    return executor


def run_batch(batch: Batch | str | Path, out: str | Path | None = None, *, scheduler: str | None = None,
              workers: int = 2, force: bool = False, progress: bool = True) -> BatchReport:
    """Run every study x scenario of a batch, skipping the runs whose outputs are current.

    Parameters
    ----------
    batch : Batch or path
        A batch from :func:`load_batch`, or the path of a batch TOML (validated before anything runs).
    out : path, optional
        Output folder (default ``maps/<batch name>``): ``<out>/<study>__<scenario>/``, ``index.html``,
        ``batch.json``.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://HOST:PORT``); its workers must import the toolkit
        and see the same input and output paths. Default: a local cluster of ``workers`` processes.
    workers : int
        Worker processes of the local cluster (one thread each).
    force : bool
        Run everything, ignoring the cache.
    progress : bool
        Show a progress bar (on stderr).

    Returns
    -------
    BatchReport
        ``runs``: one summary per run (``status`` ok, cached or failed, with ``error``).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    t0 = time.perf_counter()
    if not isinstance(batch, Batch):
        batch = load_batch(batch)
    if workers < 1:
        raise InputError(f"workers must be at least 1, not {workers}", field="--workers", fix="e.g. --workers 2")
    out = Path(out) if out is not None else Path("maps") / batch.name
    # a read-only or full output folder fails the batch now, not each run after its analysis
    check_output_folder(out, batch.runs[0].run_id if batch.runs else "index")
    hasher, rules = _Hasher(), _rules_digest()
    results: dict[str, dict[str, Any]] = {}
    todo: list[BatchRun] = []
    for run in batch.runs:
        base = {"run": run.run_id, "study": run.study_name, "scenario": run.scenario.name,
                "profile": run.study.profile}
        try:
            run.key = cache_key(run.study, hasher, rules)
        except Exception as exc:  # a missing or corrupt input: this run fails, the others go on
            results[run.run_id] = {**base, "key": None, "status": "failed", "error": _error_text(exc),
                                   "seconds": None}
            continue
        hit = None if force else cached_summary(run.folder(out), run.key, run.study.write_map)
        if hit is not None:
            results[run.run_id] = {**hit, **base, "status": "cached", "error": None}
        else:
            todo.append(run)

    console = Console(stderr=True)
    executor = "nothing to run (all cached)" if not todo else ""
    if todo:
        with Progress(TextColumn("[bold]batch {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, disable=not progress, transient=False) as bar:
            task = bar.add_task(f"{batch.name}: starting {len(todo)} run(s)", total=len(todo))

            def done(summary: dict[str, Any]) -> None:
                results[summary["run"]] = summary
                ok = summary["status"] == "ok"
                secs = summary.get("seconds")
                # plain text, not rich markup: the [field] of an error message is no style tag to drop
                bar.console.print(Text.assemble(("done", "green") if ok else ("FAILED", "red"), f" {summary['run']}",
                                                f" in {secs:.1f} s" if secs is not None else "",
                                                "" if ok else f": {summary.get('error')}"), highlight=False)
                bar.update(task, advance=1, description=f"{batch.name}: {summary['run']} {summary['status']}")

            executor = _execute(todo, out, scheduler, workers, done)
    report = BatchReport(batch=batch, out=out, runs=[results[r.run_id] for r in batch.runs],
                         seconds=round(time.perf_counter() - t0, 1), executor=executor)
    write_index(report)
    return report
