"""The run record: what run.json holds, and the reference of its top-level keys.

:func:`run_record` turns a :class:`~toolkit.result.StudyResult` into plain
JSON data: the settings, the inputs with their checksums, the timings and
every detail of the run (:attr:`StudyResult.details <toolkit.result.StudyResult>`),
less the objects kept in memory for notebooks (:data:`IN_MEMORY_DETAILS`).
:func:`toolkit.outputs.writers.write_outputs` adds ``outputs`` and writes it as run.json;
the report shows it. The result is only read, never changed.

:data:`RUN_JSON_KEYS` says what each top-level key means; ``docs/run_json.md``
is generated from it (``python -m toolkit.record docs/run_json.md``) and
``tests/test_run_json.py`` keeps the file, the record and the details in step.

This module imports nothing of the pipeline or the writers (the result's type
for annotations only), so the result, the writers and the report can all take
the record from here.
"""

from __future__ import annotations

import copy
import datetime as _dt
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__

if TYPE_CHECKING:
    from .result import StudyResult

__all__ = ["IN_MEMORY_DETAILS", "RUN_JSON_KEYS", "run_json_markdown", "run_record", "write_run_json_docs"]

#: Entries of ``StudyResult.details`` that are objects for notebooks and checks, not data: left out of run.json.
IN_MEMORY_DETAILS: dict[str, str] = {
    "snap_obstacles": "the water and the roads nobody may walk that no leg to the streets may cross "
                      "(toolkit.snapping.SnapObstacles); run.json has what they refused (blocks/facilities "
                      "refused_by_reason)",
    "facility_access": "the access points facilities were attached by (a table); run.json has their count "
                       "by kind (facilities.access_points)",
}

#: What a top-level key taken from the details holds when the run has no such detail (else null).
_ABSENT: dict[str, Any] = {
    "data_status": {},
    "heritage": {"status": "absent", "reason": "no [heritage] section in the study"},
    "decisions": {"status": "absent", "reason": "no [underserved]/[sites]/[selection] section"},
    "equity_by_zone": {"status": "absent", "reason": "no zones: the decision step did not run "
                                                     "(no [underserved]/[zones]/[sites]/[selection] section)"},
    "waterfront": {"status": "absent", "reason": "no [waterfront] section in the study"},
    "compounds": {"status": "absent", "reason": "no [compounds] section in the study"},
    "voice": {"status": "absent", "reason": "no [voice] section in the study"},
    "priority": {"status": "absent", "reason": "no decision step (no [underserved]/[zones]/[sites]/[selection]/"
                                               "[priority] section)"},
    "scenarios": {"status": "absent", "reason": "no [[scenario]] section in the study"},
}

#: run.json's top-level keys, in the order written, and what each holds.
RUN_JSON_KEYS: dict[str, str] = {
    "toolkit_version": "version of the toolkit that made the run",
    "created": "when the record was made (UTC, ISO 8601, to the second)",
    "study": "the study's name (`[study] name`), also the output folder's",
    "title": "the study's title (`[study] title`), empty when none",
    "crs": "the analysis CRS, a metric projection (`[study] crs`, else the UTM zone of the area)",
    "config": "the study's settings as run: the attributes of `toolkit.config.Study` (`network_buffer_m` for "
              "`[network] buffer_m`, see docs/config.md) with the defaults filled in, unset ones and the "
              "sources' base folders left out",
    "profile": "the standards profile: name, title, source, walking speeds, overridden keys, and per category "
               "its threshold, provision figure and their sources",
    "inputs": "every input file: `role` (where it sits in the study), `source`, `file`, `sha256`, and for text "
              "tables the `encoding` they were read with",
    "timings_s": "seconds per step of the run",
    "area_km2": "the study area (after clipping to the data), km²",
    "area_km2_before_clip": "the study area before it was clipped to the extent of the streets and population "
                            "data, km²; null with `clip_to_data = false`",
    "land_km2": "the land blocks are drawn on: the area less the water and the sea, km²; null without "
                "[waterfront] water or coastlines",
    "removed_km2": "the water and the sea cut out of the area (`water`, `sea`, km²); null as `land_km2`",
    "network": "the walking network: nodes and edges, the reader, ways and edges removed or not snappable, "
               "disconnected parts, the way-table cache",
    "blocks": "the street blocks: count, slivers dropped, parcels unused, legs refused to the streets by reason",
    "facilities": "the facility inputs: per source what was read, classified, attached or refused, the datum "
                  "check, access points, and which facilities each category's coverage counted",
    "population": "per population column: residents in the area, in blocks, outside blocks and in the source",
    "coverage": "`measured` and `no_data` categories, and `rates`: per category the residents covered, the "
                "coverage rate and those not assessed, total and 65+",
    "data_status": "per category: complete / sample / unknown / suspect / no data, why, and each source's part; "
                   "only complete categories can make a block underserved",
    "heritage": "the [heritage] overlay: blocks by class, zones, listed buildings, protected roads, datum check; "
                "`status: absent` and a reason without the section",
    "walkability": "the walkability overlay: settings, weights, 3+-way intersections, face lengths over the "
                   "guideline, medians, hostile street length",
    "decisions": "the decision step: underserved blocks, zones, further zone levels (`zone_levels`: per level "
                 "overlaps, gaps, blocks and residents in no zone or several, nesting in its parent, life-circle "
                 "units), candidate sites, selection, full coverage (`full_coverage`: the fewest hubs per hub "
                 "category and for all together, exact and greedy with the gap, with and without the existing "
                 "facilities, residents beyond every site, at the candidate sites and (`anywhere`) in any block; "
                 "toolkit.location) and sensitivity; "
                 "`status: absent` and a reason without [underserved]/[sites]/[selection]",
    "waterfront": "the [waterfront] overlay: bank length, access share and gaps, access points, blocks and "
                  "residents within reach; `status: absent` and a reason without the section or water",
    "compounds": "the [compounds] overlay: rows read and placed, floor area and years parsed, blocks, old stock, "
                 "residents from floor area; `status: absent` and a reason without the section",
    "voice": "the [voice] overlay (toolkit.voice): the `formula` of the voice index, per layer its source, "
             "topic and date fields, weight, points read, in blocks and in none, undated, date range, topics "
             "with counts and the reference rate; blocks with points; `status: absent` and a reason without "
             "the section",
    "priority": "the priority list (toolkit.priority): `formula`, `parameters` (distance cap, importance, population "
                "band and threshold per category, voice, zone weights), `categories_complete` (the only ones that "
                "rank) and `categories_indicative`, blocks and residents ranked, `top_blocks` and `top_zones` "
                "worst first with reasons in en and zh, `indicative` (the same on incomplete data, never added) and "
                "`sensitivity` (top-10 overlap and Kendall tau per variant, and a statement in en and zh); "
                "`status: absent` without the decision step",
    "equity": "per measured category and population group (total, 65+, 0-14): share within the threshold, Gini and "
              "Palma ratio of walking distance across residents, mean and median walk, the worst-decile blocks, "
              "blocks unmeasured or beyond the search (lower bounds), and the category's data status "
              "(toolkit.equity)",
    "equity_by_zone": "the same figures within each zone of every zone level (`[zones]` as `zones`, each "
                      "`[[zones.levels]]`, the life-circle units as `life_circle`): `columns`, `data_status` per "
                      "category, and per level in `levels` its zone count and one row per zone, category and group "
                      "(worst-decile blocks of the zone's residents); `status: absent` without the decision step "
                      "(toolkit.equity.equity_by_zone)",
    "provision": "capacity against need (toolkit.provision, 2SFCA/E2SFCA): the `formula`, its references, the "
                 "capacity column of each source, and per category its band, catchment, distance decay, standard "
                 "and its source, facilities with and without capacity, capacity per 1,000 residents of the band, "
                 "places missing and the data status; `status: no capacity data` and a reason when no facility "
                 "carries a capacity (a data gap, never zero provision)",
    "scenarios": "the [[scenario]] proposals measured against this run (toolkit.scenario): per scenario its "
                 "`proposals` (facilities added, refused, with an access point, closed; links and their length), "
                 "the `basis` (the baseline's categories, data status and denominators), blocks whose distances "
                 "changed or came newly within reach, `underserved` before and after, `categories` (per category: "
                 "data status, facilities and coverage rates of all residents, 65+ and 0-14 before, after and "
                 "change), `zones_changed` (per zone and category, the rows that changed) and its `layers`; "
                 "`status: absent` and a reason without the section",
    "notes": "every repair, refusal and caveat of the run, then those of the writing (a map that needs internet)",
    "outputs": "`formats` written and `files` in the output folder (added by the writer)",
}

#: The top-level keys that are a detail of the run (``StudyResult.details``) of the same name.
_FROM_DETAILS = ("area_km2", "area_km2_before_clip", "land_km2", "removed_km2", "network", "blocks", "facilities",
                 "data_status", "equity", "equity_by_zone", "heritage", "walkability", "decisions", "waterfront",
                 "compounds", "voice", "priority",
                 "provision", "scenarios")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if np.isnan(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if not np.isfinite(obj) else round(float(obj), 6)
    return obj


def run_record(result: StudyResult, *, output_notes: Iterable[str] = ()) -> dict[str, Any]:
    """The provenance record written as run.json (its keys: :data:`RUN_JSON_KEYS`, less ``outputs``).

    Parameters
    ----------
    result : StudyResult
        Read only: nothing in it is changed.
    output_notes : iterable of str
        Notes of the writing (a map that loads its scripts from a CDN), listed
        after the run's own notes.

    Returns
    -------
    dict
        JSON data but for numpy scalars and paths (written with ``default=_json_default``).
        Every detail of the run is in it, under its own name, but for :data:`IN_MEMORY_DETAILS`.
    """
    d = result.details
    rates = result.rates.reset_index().to_dict(orient="records") if len(result.rates) else []
    rec: dict[str, Any] = {
        "toolkit_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "study": result.study.name,
        "title": result.study.title,
        "crs": result.crs.to_string(),
        "config": result.study.to_dict(),
        "profile": result.profile.to_dict(),
        "inputs": result.inputs,
        "timings_s": result.timings,
        **{k: d.get(k, copy.deepcopy(_ABSENT.get(k))) for k in _FROM_DETAILS},
        "population": result.population_balance,
        "coverage": {"measured": result.categories, "no_data": result.no_data, "rates": rates},
        "notes": [*result.notes, *output_notes],
    }
    rec = {k: rec[k] for k in RUN_JSON_KEYS if k in rec}  # in the documented order
    rec = _with_overlays(rec, result)
    # a detail no key above takes still reaches run.json, under its own name (and fails the docs test until
    # RUN_JSON_KEYS says what it is)
    rec.update({k: v for k, v in d.items() if k not in rec and k not in IN_MEMORY_DETAILS})
    return _clean(rec)


def _with_overlays(rec: dict[str, Any], result: StudyResult) -> dict[str, Any]:
    """``rec`` with every overlay of the run (``result.overlays``, from the registry of :mod:`toolkit.overlays`)
    that no documented key holds: its summary under its name, after the built-in overlays' keys."""
    extra = {k: result.details.get(k, getattr(o, "summary", None))
             for k, o in (getattr(result, "overlays", None) or {}).items() if k not in rec}
    if not extra:
        return rec
    keys = list(rec)
    at = keys.index(_OVERLAYS_AFTER) + 1 if _OVERLAYS_AFTER in keys else len(keys)
    return {**{k: rec[k] for k in keys[:at]}, **extra, **{k: rec[k] for k in keys[at:]}}


#: The key after which the overlays beyond the built-ins come, in run.json.
_OVERLAYS_AFTER = "compounds"

#: How docs/run_json.md describes the overlays.
_OVERLAYS_DOC = (
    "Overlays (`toolkit.overlays`): the built-in ones are `compounds`, `heritage`, `waterfront` and `walkability` "
    "(above). An overlay registered with `toolkit.overlays.register` adds its summary under its own name, after "
    "`compounds`: what its declaration's `doc` says, or `status: absent` and a reason when its section is not in "
    "the study. Its section's settings are in `config.overlays.<name>`."
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def run_json_markdown() -> str:
    """The reference of run.json's top-level keys (``docs/run_json.md``), generated from :data:`RUN_JSON_KEYS`.

    Examples
    --------
    >>> "| `data_status` |" in run_json_markdown()
    True
    """
    lines = [
        "# run.json",
        "",
        "<!-- generated from toolkit/record.py by `python -m toolkit.record docs/run_json.md`; "
        "do not edit by hand (tests/test_run_json.py compares) -->",
        "",
        "Every output folder holds `run.json`, the run's provenance record (`toolkit.record.run_record`): the "
        "settings, the inputs with their checksums, the timings and every detail of the run, in UTF-8 JSON. "
        "Floats are rounded to 6 decimals; infinite and missing values are `null`. The top-level keys, in the "
        "order written:",
        "",
        "| key | meaning |",
        "|---|---|",
        *(f"| `{k}` | {_cell(v)} |" for k, v in RUN_JSON_KEYS.items()),
        "",
        _OVERLAYS_DOC,
        "",
        "Left out, as they are objects rather than data (`StudyResult.details` keeps them for notebooks):",
        "",
        *(f"- `{k}`: {v}" for k, v in IN_MEMORY_DETAILS.items()),
        "",
    ]
    return "\n".join(lines)


def write_run_json_docs(path: str | os.PathLike) -> Path:
    """Write :func:`run_json_markdown` to ``path`` (UTF-8) and return it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(run_json_markdown(), encoding="utf-8")
    return p


if __name__ == "__main__":
    print(write_run_json_docs(sys.argv[1] if len(sys.argv) > 1 else "docs/run_json.md"))
