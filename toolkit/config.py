"""The study configuration: one object drives the notebook API and the CLI.

A study is a TOML file (see ``data/studies/xuhui.toml``). Paths in it are
relative to the file. Every data source is either a registered dataset
(``{dataset = "xuhui_roads"}``) or a file (``{path = "my.gpkg"}``) with the
options the readers take (``crs``, ``layer``, ``lon``, ``lat``, ``encoding``,
``records``, ``where``).

The layers below this module, which never import it: the data sources
(:mod:`toolkit.sources`), the overlay configs (:mod:`toolkit.overlay_config`),
the schema (:mod:`toolkit.study_schema`) and the folder-name rule
(:func:`toolkit.outfolder.check_folder_name`). ``Source``, ``iter_sources``,
``check_folder_name`` and ``FOLDER_NAME_*`` are re-exported here, the paths
they had before.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .datasets import data_dir
from .errors import InputError
from .outfolder import FOLDER_NAME_MAX_BYTES, FOLDER_NAME_RULE, check_folder_name
from .overlay_config import CompoundsConfig, HeritageConfig, RiverSource, WaterfrontConfig
from .sources import Source, _source, _sources, iter_sources, plain
from .study_schema import ROOT, SOURCE, SourceDict, check_study_dict, extra_sections, source_keys

__all__ = [
    "FOLDER_NAME_MAX_BYTES",
    "FOLDER_NAME_RULE",
    "STUDY_KEYS",
    "AreaConfig",
    "FacilitySource",
    "Source",
    "Study",
    "bundled_studies",
    "check_folder_name",
    "iter_sources",
    "load_study",
    "study_from_dict",
    "study_to_raw",
    "validate_study",
]


def _no_snap(raw: Any, where: str | None) -> list[str] | None:
    """``[network] no_snap``: rules like ``"tunnel"``, ``"layer<0"``, ``"access=private"``."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(r, str) and r.strip() for r in raw):
        raise InputError("no_snap must be a list of tag rules", source=where, field="network.no_snap",
                         fix='e.g. no_snap = ["tunnel", "layer<0", "indoor=yes", "access=private"]; [] snaps to all')
    for r in raw:
        if "<" in r:
            try:
                float(r.partition("<")[2])
            except ValueError:
                raise InputError(f"cannot read the rule {r!r}", source=where, field="network.no_snap",
                                 fix="a number follows '<', e.g. 'layer<0'") from None
    return list(raw)


@dataclass
class AreaConfig:
    """The study area: a boundary layer feature by name, a polygon file, or a bbox.

    Parameters
    ----------
    boundaries : Source, optional
        A boundary layer; the area is its feature whose ``name_field`` is ``name``.
    name_field : str, default "name"
        The column naming the features of ``boundaries``.
    name : str, optional
        The feature to take from ``boundaries`` (``"徐汇区"``).
    polygon : Source, optional
        A polygon file: its features, merged, are the area.
    bbox : list of float, optional
        ``[lon_min, lat_min, lon_max, lat_max]`` in ``bbox_crs``.
    bbox_crs : CRS-like, default "EPSG:4326"
        The CRS of ``bbox``.
    clip_to_data : bool, default True
        Clip the area to the extent of the population grid and the streets.

    Examples
    --------
    >>> AreaConfig(bbox=[121.425, 31.185, 121.450, 31.205]).bbox_crs
    'EPSG:4326'
    >>> import dataclasses, toolkit as tk
    >>> small = dataclasses.replace(tk.load_study("xuhui"), area=AreaConfig(bbox=[121.425, 31.185, 121.45, 31.205]))
    >>> small.area.bbox[0]
    121.425
    """

    boundaries: Source | None = None
    name_field: str = "name"
    name: str | None = None
    polygon: Source | None = None
    bbox: list[float] | None = None
    bbox_crs: Any = "EPSG:4326"
    clip_to_data: bool = True


@dataclass
class FacilitySource:
    """One facility input and how its rows become categories."""

    source: Source
    # "osm" (tags), "field" (a type column), "fixed" (one category), or an export format with a mapping
    # table in data/classifiers ("geofabrik", "amap", "baidu": toolkit.facilities.classifier_kinds)
    kind: str = "osm"
    field: str | None = None
    map: dict[str, str] | None = None
    category: str | None = None
    categories: list[str] | None = None
    name_field: str | None = None
    #: a user mapping table replacing data/classifiers/<kind>.toml (export kinds only)
    table: str | None = None
    #: "complete", "sample" or "unknown" (None: unknown), or a table per category (toolkit.completeness)
    status: str | dict[str, str] | None = None
    #: the export's query log: a capped query makes the categories it fed a sample
    fetch_log: Source | None = None
    result_cap: int | None = None  # results per query at which the API cuts off (Amap: 200)
    #: the column holding each facility's capacity (beds, places, m2): provision (toolkit.provision) needs it
    capacity: str | None = None


@dataclass
class Study:
    """Everything a run needs. Build it with :func:`load_study` or directly in Python.

    Attributes
    ----------
    name : str
        Short name, used for the output folder.
    network : Source
        OSM file (``.osm``, ``.osm.bz2``, ``.osm.pbf``); or ``place`` for a download.
    population : dict of column name to Source
        Rasters of people per cell (``population``, ``pop_65plus``, ``pop_0_14``).
    facilities : list of FacilitySource
    profile : str
        Standards profile name or path.
    overrides : dict
        Profile overrides (``{"categories": {"transit": {"max_distance_m": 500}}}``).
    crs : str, optional
        Analysis CRS; the UTM zone of the area's centroid when omitted.
    """

    name: str
    area: AreaConfig
    network: Source | None = None
    place: str | None = None
    title: str = ""
    population: dict[str, Source] = field(default_factory=dict)
    facilities: list[FacilitySource] = field(default_factory=list)
    profile: str = "shanghai-main-city"
    overrides: dict[str, Any] = field(default_factory=dict)
    crs: str | None = None
    network_buffer_m: float = 1000.0
    snap_main_only: bool = True
    #: ways blocks and facilities are never attached to (``toolkit.osm_network.WalkRules.no_snap``);
    #: None keeps the default (tunnels, underground, indoor and private ways)
    network_no_snap: list[str] | None = None
    facility_max_snap_m: float = 250.0
    block_max_snap_m: float = 500.0
    search_limit_m: float = 5000.0
    min_block_area_m2: float = 500.0
    blocks: Source | None = None
    block_id_field: str | None = None
    lang: str = "en"
    write_map: bool = True
    basemap: str = "offline"  # none | offline | osm | cartodb | amap | tianditu
    tianditu_key: str | None = None
    formats: list[str] = field(default_factory=lambda: ["gpkg"])  # + "parquet", "csv"
    static_maps: bool = False
    report: bool = True
    walkability: dict[str, Any] = field(default_factory=dict)
    walk_landuse: Source | None = None
    walk_landuse_field: str = "landuse_type"
    underserved: dict[str, Any] = field(default_factory=dict)
    zones: Source | None = None
    zone_id_field: str | None = None
    zone_grid_m: float = 1000.0
    #: further zone levels ([[zones.levels]]): dicts of name, source (a Source) | grid_m | life_circle, id_field,
    #: parent, parent_field, population (toolkit.zones.ZoneLevel)
    zone_levels: list[dict[str, Any]] = field(default_factory=list)
    zone_life_circle: bool = True
    sites: dict[str, Any] = field(default_factory=dict)
    site_sources: list[dict[str, Any]] = field(default_factory=list)
    sites_exclude: Source | None = None
    selection: dict[str, Any] = field(default_factory=dict)
    decisions: bool = False
    #: [priority] as checked, its zone_weights a Source (toolkit.priority.PrioritySettings)
    priority: dict[str, Any] = field(default_factory=dict)
    #: [voice] as checked, its source a Source (toolkit.voice.VoiceLayer); empty: no voice layer
    voice: dict[str, Any] = field(default_factory=dict)
    heritage: HeritageConfig | None = None
    waterfront: WaterfrontConfig | None = None
    compounds: CompoundsConfig | None = None  # [compounds] and [population] from_compounds
    #: [[scenario]] tables as checked, their sources as Source objects (read by toolkit.scenario)
    scenarios: list[dict[str, Any]] = field(default_factory=list)
    source_file: str | None = None
    #: the sections of the overlays registered with toolkit.overlays.register, by name (their data sources
    #: as Source objects, the other values as the TOML gives them)
    overlays: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form (for run.json)."""
        d = plain(asdict(self))
        for k in ("overlays", "priority", "voice"):
            if not d.get(k):
                d.pop(k, None)  # a study without them records what it always did
        return d

    def validate(self) -> Study:
        """Check every setting as a study file is checked; see :func:`validate_study`.

        Examples
        --------
        >>> Study(name="s", area=AreaConfig(bbox=[121.43, 31.19, 121.45, 31.21]),
        ...       network=Source(dataset="xuhui_roads")).validate().name
        's'
        """
        return validate_study(self)


def _heritage(raw: dict[str, Any], where: str, base: str | None) -> HeritageConfig:
    return HeritageConfig(
        style_areas=_source(raw["style_areas"], "heritage.style_areas", base) if "style_areas" in raw else None,
        style_name_field=raw.get("style_name_field", "title"),
        osm=_source(raw["osm"], "heritage.osm", base) if "osm" in raw else None,
        listed_buildings=_sources(raw.get("listed_buildings", []), "heritage.listed_buildings", base),
        relics=_sources(raw.get("relics", []), "heritage.relics", base),
        protected_roads=raw.get("protected_roads", []),
        buffer_m=raw.get("buffer_m", 50.0), merge_distance_m=raw.get("merge_distance_m", 30.0))


def _waterfront(raw: dict[str, Any], where: str, base: str | None) -> WaterfrontConfig:
    rivers = [RiverSource(source=_source(r["source"], f"waterfront.rivers[{i}].source", base),
                          width_m=r.get("width_m"), width_field=r.get("width_field"))
              for i, r in enumerate(raw.get("rivers", []))]
    opts = {k: float(raw[k]) for k in ("corridor_m", "access_distance_m", "sample_m", "min_gap_m", "dedup_m")
            if k in raw}
    return WaterfrontConfig(water=_sources(raw.get("water", []), "waterfront.water", base), rivers=rivers,
                            coastlines=_sources(raw.get("coastlines", []), "waterfront.coastlines", base),
                            other_water=_sources(raw.get("other_water", []), "waterfront.other_water", base), **opts)


def _compounds(raw: dict[str, Any], where: str, base: str | None) -> CompoundsConfig | None:
    """``[compounds]`` and ``[population] from_compounds = { persons_per_m2 = ... }`` as one CompoundsConfig."""
    c = raw.get("compounds")
    fc = raw.get("population", {}).get("from_compounds")
    if c is None:
        if fc is not None:
            raise InputError("from_compounds needs a [compounds] section with the compound table", source=where,
                             field="population.from_compounds",
                             fix="add [compounds] source = { path = 'compounds.xlsx', lon = '...', lat = '...' } "
                             "with floor_area_field = '...'")
        return None
    # persons_per_m2 is required by the schema, with no default on purpose: residents per m2 differ
    # by city and decade, and a silent figure would pass for a measurement
    ppm2 = fc["persons_per_m2"] if fc is not None else None
    return CompoundsConfig(source=_source(c["source"], "compounds.source", base), name_field=c.get("name_field"),
                           address_field=c.get("address_field"), floor_area_field=c.get("floor_area_field"),
                           year_field=c.get("year_field"), old_before=c.get("old_before"), persons_per_m2=ppm2)


#: The sections of a study TOML (declared in :data:`toolkit.study_schema.SECTIONS`).
_STUDY_KEYS = set(ROOT.names())


def study_from_dict(raw: dict[str, Any], base_dir: str | None = None, source_file: str | None = None) -> Study:
    """Build a :class:`Study` from the parsed TOML structure; every section is checked first.

    The declarations of :mod:`toolkit.study_schema` are checked before anything
    is built (unknown keys with the closest valid name, types, ranges), then the
    rules that tie keys together, as the study is built. Nothing is read.

    Parameters
    ----------
    raw : dict
        The parsed TOML.
    base_dir : str, optional
        The folder relative paths are relative to (the study file's).
    source_file : str, optional
        The study file, for messages and ``Study.source_file``.

    Returns
    -------
    Study

    Raises
    ------
    InputError
        Naming the file, the key and the fix.

    Examples
    --------
    >>> st = study_from_dict({"study": {"name": "s"}, "area": {"bbox": [121.43, 31.19, 121.45, 31.21]},
    ...                       "network": {"source": {"dataset": "xuhui_roads"}, "facility_max_snap_m": 300}})
    >>> st.facility_max_snap_m
    300.0
    """
    where = source_file or "study"
    check_study_dict(raw, where)
    return _build(raw, base_dir, source_file, where)


def _facility_source(f: dict[str, Any], i: int, base_dir: str | None, where: str) -> FacilitySource:
    """One ``[[facilities]]`` table as a :class:`FacilitySource`, checking the keys that depend on its kind."""
    key = f"facilities[{i}]"
    fs = FacilitySource(source=_source(f["source"], f"{key}.source", base_dir),
                        kind=f.get("kind", "fixed" if "category" in f else "osm"), field=f.get("field"),
                        map=f.get("map"), category=f.get("category"), categories=f.get("categories"),
                        name_field=f.get("name_field"), capacity=f.get("capacity"))
    if "status" in f:
        from .completeness import parse_status

        fs.status = parse_status(f["status"], source=where, field=f"{key}.status")
    if "fetch_log" in f:
        fs.fetch_log = _source(f["fetch_log"], f"{key}.fetch_log", base_dir)
    if "result_cap" in f:
        fs.result_cap = int(f["result_cap"])
    from .facilities import classifier_kinds, load_classifier, require_declared_crs

    exports = classifier_kinds()
    if "table" in f:
        if fs.kind not in exports:
            raise InputError(f"table = ... is for export kinds ({', '.join(exports)}), not {fs.kind!r}",
                             source=where, field=f"{key}.table",
                             fix="use map = { value = 'category' } with kind = 'field', or drop table")
        t = Path(str(f["table"])).expanduser()
        fs.table = str(t if t.is_absolute() or base_dir is None else Path(base_dir) / t)
    if fs.kind in exports:
        # an Amap or Baidu CSV says nothing of its datum: refused now, not ~500 m off after the network build
        require_declared_crs(load_classifier(fs.kind), fs.source.declared_crs(), source=f"{where} {key}")
    if fs.kind == "field" and not fs.field:
        raise InputError("kind = 'field' needs the type column", source=where, field=f"{key}.field",
                         fix="add field = 'landuse_type' (the column holding the type)")
    if fs.kind == "fixed" and not fs.category:
        raise InputError("kind = 'fixed' needs a category", source=where, field=f"{key}.category",
                         fix="add category = 'health' (see data/categories.toml)")
    return fs


def _build(raw: dict[str, Any], base_dir: str | None, source_file: str | None, where: str) -> Study:
    """The :class:`Study` of a checked TOML structure, checking the rules that tie keys together."""
    st = raw.get("study", {})
    a = raw.get("area", {})
    area = AreaConfig(
        boundaries=_source(a["boundaries"], "area.boundaries", base_dir) if "boundaries" in a else None,
        name_field=a.get("name_field", "name"), name=a.get("name"),
        polygon=_source(a["polygon"], "area.polygon", base_dir) if "polygon" in a else None,
        bbox=a.get("bbox"), bbox_crs=a.get("bbox_crs", "EPSG:4326"), clip_to_data=a.get("clip_to_data", True),
    )
    if not (area.boundaries or area.polygon or area.bbox):
        raise InputError("the study area is not defined", source=where, field="area",
                         fix="give [area] bbox = [lon_min, lat_min, lon_max, lat_max], polygon = {path=...}, "
                         "or boundaries = {dataset='districts'} with name = '徐汇区'")
    if area.boundaries and not area.name:
        raise InputError("a boundaries layer needs the name of the feature to use", source=where,
                         field="area.name", fix="add name = '徐汇区' (and name_field if not 'name')")
    net = raw.get("network", {})
    blocks = raw.get("blocks", {})
    std = raw.get("standards", {})
    out = raw.get("output", {})
    walk = raw.get("walkability", {})
    if out.get("basemap") == "tianditu" and not out.get("tianditu_key"):
        raise InputError("the Tianditu basemap needs an API key", source=where, field="output.tianditu_key",
                         fix="add tianditu_key = '...' (free from the Tianditu developer site) or pick another basemap")
    from .walkability import WalkabilitySettings

    # the consumers' own readings of their sections, at load rather than at their step of the run
    WalkabilitySettings.from_config({k: v for k, v in walk.items() if k not in ("landuse", "landuse_field")})
    if any(k in raw for k in ("underserved", "sites", "selection")):
        from .decisions import SelectionSettings
        from .sites import SiteSettings
        from .underserved import UnderservedRule

        UnderservedRule.from_config(raw.get("underserved", {}))
        SiteSettings.from_config({k: v for k, v in raw.get("sites", {}).items() if k not in ("candidates", "exclude")})
        SelectionSettings.from_config(raw.get("selection", {}))
    facs = [_facility_source(f, i, base_dir, where) for i, f in enumerate(raw.get("facilities", []))]
    if "source" not in net and "place" not in net:
        raise InputError("the study has no street network", source=where, field="network.source",
                         fix="add [network] source = { path = 'roads.osm.pbf' } or place = 'Xuhui, Shanghai'")
    return Study(
        name=st["name"], title=st.get("title", ""), area=area,
        network=_source(net["source"], "network.source", base_dir) if "source" in net else None,
        place=net.get("place"),
        population={k: _source(v, f"population.{k}", base_dir) for k, v in raw.get("population", {}).items()
                    if k != "from_compounds"},
        facilities=facs, profile=std.get("profile", st.get("profile", "shanghai-main-city")),
        overrides=_standards_overrides(std, where), crs=st.get("crs"),
        network_buffer_m=float(net.get("buffer_m", 1000.0)),
        snap_main_only=bool(net.get("snap_main_only", True)),
        network_no_snap=_no_snap(net.get("no_snap"), where),
        facility_max_snap_m=float(net.get("facility_max_snap_m", 250.0)),
        block_max_snap_m=float(blocks.get("max_snap_m", 500.0)),
        search_limit_m=float(net.get("search_limit_m", 5000.0)),
        min_block_area_m2=float(blocks.get("min_area_m2", 500.0)),
        blocks=_source(blocks["source"], "blocks.source", base_dir) if "source" in blocks else None,
        block_id_field=blocks.get("id_field"),
        lang=out.get("lang", "en"), write_map=out.get("map", True), source_file=source_file,
        basemap=out.get("basemap", "offline"), tianditu_key=out.get("tianditu_key"),
        formats=list(out.get("formats", ["gpkg"])), static_maps=bool(out.get("static_maps", False)),
        report=bool(out.get("report", True)),
        walkability={k: v for k, v in walk.items() if k not in ("landuse", "landuse_field")},
        walk_landuse=_source(walk["landuse"], "walkability.landuse", base_dir) if "landuse" in walk else None,
        walk_landuse_field=walk.get("landuse_field", "landuse_type"),
        heritage=_heritage(raw["heritage"], where, base_dir) if "heritage" in raw else None,
        underserved=raw.get("underserved", {}),
        zones=_source(raw["zones"]["source"], "zones.source", base_dir) if "source" in raw.get("zones", {}) else None,
        zone_id_field=raw.get("zones", {}).get("id_field"),
        zone_grid_m=float(raw.get("zones", {}).get("grid_m", 1000.0)),
        zone_levels=[{**lv, "source": _source(lv["source"], f"zones.levels[{i}].source", base_dir)} if "source" in lv
                     else dict(lv) for i, lv in enumerate(_zone_levels(raw.get("zones", {}), where))],
        zone_life_circle=bool(raw.get("zones", {}).get("life_circle", True)),
        sites={k: v for k, v in raw.get("sites", {}).items() if k not in ("candidates", "exclude")},
        site_sources=[{**c, "source": _source(c["source"], f"sites.candidates[{i}].source", base_dir)}
                      for i, c in enumerate(raw.get("sites", {}).get("candidates", []))],
        sites_exclude=_source(raw["sites"]["exclude"], "sites.exclude", base_dir)
        if "exclude" in raw.get("sites", {}) else None,
        selection=raw.get("selection", {}),
        decisions=any(k in raw for k in ("underserved", "sites", "selection", "zones", "priority")),
        priority={**raw.get("priority", {}), **({"zone_weights": _source(raw["priority"]["zone_weights"],
                  "priority.zone_weights", base_dir)} if "zone_weights" in raw.get("priority", {}) else {})},
        voice={**raw["voice"], "source": _source(raw["voice"]["source"], "voice.source", base_dir)}
        if "source" in raw.get("voice", {}) else dict(raw.get("voice", {})),
        waterfront=_waterfront(raw["waterfront"], where, base_dir) if "waterfront" in raw else None,
        compounds=_compounds(raw, where, base_dir),
        scenarios=_scenario_tables(raw.get("scenario", []), base_dir),
        overlays={name: _overlay_table(raw[name], name, sec, base_dir) for name, sec in extra_sections().items()
                  if name in raw},
    )


def _overlay_table(raw: dict[str, Any], name: str, section: Any, base_dir: str | None) -> dict[str, Any]:
    """A registered overlay's section as ``Study.overlays[name]``: its data sources as Source objects."""
    out = dict(raw)
    for key, many in source_keys(section).items():
        if key in out:
            out[key] = (_sources if many else _source)(out[key], f"{name}.{key}", base_dir)
    return out


def _zone_levels(zones: dict[str, Any], where: str | None) -> list[dict[str, Any]]:
    """``[[zones.levels]]`` checked for what ties their keys together (the schema checked each key)."""
    levels = list(zones.get("levels", []))
    seen = {"zones"}
    for i, lv in enumerate(levels):
        at = f"zones.levels[{i}]"
        name = lv["name"]
        if not name.replace("_", "").isascii() or not name.replace("_", "").isalnum() or name in seen:
            raise InputError(f"zone level name {name!r} is {'taken' if name in seen else 'not a plain name'}",
                             source=where, field=f"{at}.name",
                             fix="use a new name of letters, digits and '_' (not 'zones'), e.g. 'jiedao'")
        kinds = [k for k in ("source", "grid_m") if k in lv] + (["life_circle"] if lv.get("life_circle") else [])
        if len(kinds) != 1:
            raise InputError(f"zone level {name!r} needs one of source, grid_m or life_circle = true, not "
                             f"{' and '.join(kinds) or 'none'}", source=where, field=f"{at}.source",
                             fix="e.g. source = { path = 'jiedao.gpkg' }, grid_m = 500 or life_circle = true")
        if "parent" in lv and lv["parent"] not in seen:
            raise InputError(f"zone level {name!r} nests in {lv['parent']!r}, which is not a level listed before it",
                             source=where, field=f"{at}.parent",
                             fix=f"use one of: {', '.join(sorted(seen))}, or list the parent level first")
        if "parent_field" in lv and "parent" not in lv:
            raise InputError(f"zone level {name!r} has parent_field but no parent", source=where,
                             field=f"{at}.parent", fix="add parent = '<the level it nests in>'")
        seen.add(name)
    return levels


def _standards_overrides(std: dict[str, Any], where: str) -> dict[str, Any]:
    """``[standards.overrides]`` with the study's own ``[standards.categories]`` merged in, checked now."""
    from .standards import available_profiles, load_profile, study_overrides

    overrides = study_overrides(std, source=where)
    profile = std.get("profile", "shanghai-main-city")
    if overrides.get("categories") and isinstance(profile, str) and profile in available_profiles():
        # a category without labels or threshold fails at load, not at the first step of the run
        load_profile(profile, overrides, source=where)
    return overrides


def bundled_studies() -> list[str]:
    """Names of the studies shipped in ``data/studies``.

    Returns
    -------
    list of str
        Sorted; each loads with :func:`load_study` by name.

    Examples
    --------
    >>> "xuhui" in bundled_studies()
    True
    """
    return sorted(p.stem for p in (data_dir() / "studies").glob("*.toml"))


def load_study(name_or_path: str | Path) -> Study:
    """Load a study from a TOML file, or a bundled study by name (``"xuhui"``).

    Raises :class:`InputError` naming the file, the field and the fix for a bad study, among them a
    ``study.name`` that is not a plain folder name (see :func:`check_folder_name`).

    Parameters
    ----------
    name_or_path : str or Path
        A bundled study's name (:func:`bundled_studies`) or the path of a study TOML (``docs/config.md``);
        paths inside the file are relative to it.

    Returns
    -------
    Study
        Checked against the study schema, nothing read or computed yet: run it with
        :func:`toolkit.run_study`.

    Examples
    --------
    >>> study = load_study("xuhui")
    >>> study.name, study.profile
    ('xuhui', 'shanghai-main-city')
    >>> load_study("my_district.toml")  # doctest: +SKIP
    """
    p = Path(name_or_path)
    if not p.exists() and not p.suffix:
        p = data_dir() / "studies" / f"{name_or_path}.toml"
    if not p.exists():
        raise InputError("study file not found", source=str(name_or_path),
                         fix="give a path to a study TOML, or one of the bundled studies: "
                         f"{', '.join(bundled_studies())}")
    try:
        with open(p, "rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", source=str(p), fix="fix the syntax at the line named") from None
    return study_from_dict(raw, base_dir=str(p.resolve().parent), source_file=str(p))


# ------------------------------------------------------------- Python-built studies
#: Study attributes that are one key of a section: attribute -> (section, key). The other attributes are
#: whole sections (``area``, ``heritage``, ``waterfront``, ``compounds``, ``facilities``, ``population``,
#: ``walkability``, ``underserved``, ``sites``, ``selection``), ``decisions`` and ``source_file``.
STUDY_KEYS: dict[str, tuple[str, str]] = {
    "name": ("study", "name"), "title": ("study", "title"), "crs": ("study", "crs"),
    "network": ("network", "source"), "place": ("network", "place"), "network_buffer_m": ("network", "buffer_m"),
    "snap_main_only": ("network", "snap_main_only"), "network_no_snap": ("network", "no_snap"),
    "facility_max_snap_m": ("network", "facility_max_snap_m"), "search_limit_m": ("network", "search_limit_m"),
    "blocks": ("blocks", "source"), "block_id_field": ("blocks", "id_field"),
    "min_block_area_m2": ("blocks", "min_area_m2"), "block_max_snap_m": ("blocks", "max_snap_m"),
    "profile": ("standards", "profile"), "overrides": ("standards", "overrides"),
    "lang": ("output", "lang"), "write_map": ("output", "map"), "basemap": ("output", "basemap"),
    "tianditu_key": ("output", "tianditu_key"), "formats": ("output", "formats"),
    "static_maps": ("output", "static_maps"), "report": ("output", "report"),
    "walk_landuse": ("walkability", "landuse"), "walk_landuse_field": ("walkability", "landuse_field"),
    "zones": ("zones", "source"), "zone_id_field": ("zones", "id_field"), "zone_grid_m": ("zones", "grid_m"),
    "zone_levels": ("zones", "levels"), "zone_life_circle": ("zones", "life_circle"),
    "site_sources": ("sites", "candidates"), "sites_exclude": ("sites", "exclude"),
}
_DECISION_SECTIONS = ("underserved", "zones", "sites", "selection")
_SCENARIO_SOURCES = ("facilities_source", "close_source", "links_source")  # the [[scenario]] keys that are sources
_WHOLE = {"area": "AreaConfig", "heritage": "HeritageConfig", "waterfront": "WaterfrontConfig",
          "compounds": "CompoundsConfig"}


def _scenario_tables(tables: list[dict[str, Any]], base_dir: str | None) -> list[dict[str, Any]]:
    """The checked ``[[scenario]]`` tables with their sources as :class:`Source` (read by toolkit.scenario)."""
    return [{**sc, **{k: _source(sc[k], f"scenario[{i}].{k}", base_dir) for k in _SCENARIO_SOURCES if k in sc}}
            for i, sc in enumerate(tables)]


def _as_raw(v: Any) -> Any:
    """A Source as the table a TOML file would hold (a :class:`~toolkit.study_schema.SourceDict`); lists too."""
    if isinstance(v, Source):
        return SourceDict({k: getattr(v, k) for k in SOURCE.names() if getattr(v, k) is not None})
    if isinstance(v, list | tuple):
        return [_as_raw(x) for x in v]
    return v


def _table(obj: Any, where: str, cls_name: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A config dataclass (AreaConfig, FacilitySource...) as its TOML table; None values left out."""
    if cls_name not in {c.__name__ for c in type(obj).__mro__} or not hasattr(obj, "__dataclass_fields__"):
        raise InputError(f"{where} must be a {cls_name}, not {obj!r}", source=None, field=where,
                         fix=f"build it with {cls_name}(...) (see docs/config.md for its keys)")
    out: dict[str, Any] = {}
    for name in obj.__dataclass_fields__:
        v = getattr(obj, name)
        if name in skip or v is None:
            continue
        if name == "rivers" and isinstance(v, list | tuple):
            v = [_table(r, f"{where}.rivers[{i}]", "RiverSource") if hasattr(r, "__dataclass_fields__") else r
                 for i, r in enumerate(v)]
        out[name] = _as_raw(v)
    return out


def study_to_raw(study: Study) -> dict[str, Any]:
    """The TOML structure of a :class:`Study`: what a study file holding the same settings would parse to.

    Sources become :class:`~toolkit.study_schema.SourceDict` tables, config
    objects (``AreaConfig``, ``FacilitySource``, ``HeritageConfig``...) their
    tables; the decision sections are included when ``study.decisions`` is set.

    Examples
    --------
    >>> st = Study(name="s", area=AreaConfig(bbox=[121.43, 31.19, 121.45, 31.21]),
    ...            network=Source(dataset="xuhui_roads"), facility_max_snap_m=300.0)
    >>> study_to_raw(st)["network"]["facility_max_snap_m"], dict(study_to_raw(st)["network"]["source"])
    (300.0, {'dataset': 'xuhui_roads'})
    """
    raw: dict[str, Any] = {}
    for attr, (section, key) in STUDY_KEYS.items():
        if section in _DECISION_SECTIONS and not study.decisions:
            continue
        v = getattr(study, attr)
        if v is None or (attr == "overrides" and v == {}):
            continue
        if attr in ("site_sources", "zone_levels") and isinstance(v, list | tuple):
            v = [{**c, "source": _as_raw(c.get("source"))} if isinstance(c, dict) and "source" in c else c
                 for c in v]
        raw.setdefault(section, {})[key] = _as_raw(v)
    for attr, cls_name in _WHOLE.items():
        obj = getattr(study, attr)
        if obj is not None:
            raw[attr] = _table(obj, attr, cls_name, skip=("persons_per_m2",) if attr == "compounds" else ())
    pop = study.population
    raw["population"] = {k: _as_raw(v) for k, v in pop.items()} if isinstance(pop, dict) else pop
    ppm2 = getattr(study.compounds, "persons_per_m2", None)
    if ppm2 is not None and isinstance(pop, dict):
        raw["population"]["from_compounds"] = {"persons_per_m2": ppm2}
    facs = study.facilities
    raw["facilities"] = ([_table(f, f"facilities[{i}]", "FacilitySource") for i, f in enumerate(facs)]
                         if isinstance(facs, list | tuple) else facs)
    if study.scenarios:
        raw["scenario"] = [{k: _as_raw(v) for k, v in sc.items()} if isinstance(sc, dict) else sc
                           for sc in study.scenarios]
    for attr in ("walkability", *(s for s in _DECISION_SECTIONS if s != "zones" and study.decisions)):
        v = getattr(study, attr)
        raw[attr] = {**v, **raw.get(attr, {})} if isinstance(v, dict) else v
    for attr in ("priority", "voice"):
        v = getattr(study, attr)
        if v:
            raw[attr] = {k: _as_raw(x) for k, x in v.items()} if isinstance(v, dict) else v
    for name, table in (getattr(study, "overlays", None) or {}).items():  # registered overlays' sections
        raw[name] = {k: _as_raw(v) for k, v in table.items()} if isinstance(table, dict) else table
    return raw


def _attribute(field: str | None) -> str | None:
    """The Study attribute a TOML key of an error lives in: ``network.buffer_m`` -> ``network_buffer_m``."""
    if not field:
        return None
    head, _, rest = field.partition(".")
    section, index = head.partition("[")[0], head[len(head.partition("[")[0]):]
    key = rest.split(".")[0].split("[")[0]
    tail = rest[len(key):]
    for attr, sk in STUDY_KEYS.items():
        if sk == (section, key):
            return attr + tail
    if section in _WHOLE or section == "facilities":
        return f"{section}{index}" + (f".{rest}" if rest else "")
    if section == "population":
        return "compounds.persons_per_m2" if key == "from_compounds" else f"population[{key!r}]"
    if section == "standards":
        return "overrides"
    if section in ("walkability", "underserved", "sites", "selection", "priority", "voice") and key:
        return f"{section}[{key!r}]"
    return None


def validate_study(study: Study) -> Study:
    """Check a :class:`Study` built or changed in Python with the checks a study file gets at load.

    The study is turned into its TOML structure (:func:`study_to_raw`) and
    checked against the declarations (:mod:`toolkit.study_schema`) and the
    rules that tie keys together, as :func:`study_from_dict` does; nothing is
    read. :func:`toolkit.study.run_study` and :func:`toolkit.outputs.writers.write_outputs`
    call it before any work, so ``dataclasses.replace(study, facility_max_snap_m="abc")``
    fails at once, with the same :class:`InputError` as the TOML key would.

    Parameters
    ----------
    study : Study

    Returns
    -------
    Study
        ``study``, unchanged.

    Raises
    ------
    InputError
        Naming the study file (or ``Study (built in Python)``), the TOML key, and the
        attribute, e.g. ``[network.facility_max_snap_m]: ... (Study.facility_max_snap_m)``.

    Examples
    --------
    >>> import dataclasses
    >>> st = Study(name="s", area=AreaConfig(bbox=[121.43, 31.19, 121.45, 31.21]),
    ...            network=Source(dataset="xuhui_roads"))
    >>> validate_study(st) is st
    True
    >>> try:
    ...     validate_study(dataclasses.replace(st, facility_max_snap_m="abc"))
    ... except InputError as e:
    ...     print(e.field)
    ...     print(e.problem)
    network.facility_max_snap_m
    facility_max_snap_m must be a positive number of metres, not 'abc' (Study.facility_max_snap_m)
    """
    where = study.source_file or "Study (built in Python)"
    try:
        raw = study_to_raw(study)
        check_study_dict(raw, where, python=True)
        _build(raw, None, study.source_file, where)
    except InputError as exc:
        attr = _attribute(exc.field)
        source = exc.source or where
        if attr and f"Study.{attr}" not in exc.problem:
            raise InputError(f"{exc.problem} (Study.{attr})", source=source, field=exc.field, fix=exc.fix) from None
        if source != exc.source:
            raise InputError(exc.problem, source=source, field=exc.field, fix=exc.fix) from None
        raise
    return study
