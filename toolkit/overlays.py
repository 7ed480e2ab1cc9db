"""The overlay contract: what an overlay declares, what it returns, and the registry the pipeline runs.

An overlay adds figures to a run without touching the pipeline or the outputs. It declares

* its **config section** (``[complaints]`` in the study TOML): a schema
  :class:`toolkit.study_schema.Section` or a plain list of key names, checked at load
  like every section (an unknown key is refused with the closest valid name);
* a **run** step, ``run(ctx) -> OverlayOutput``, reading the shared
  :class:`StudyContext` of the run (the study, the profile, the CRS, the area
  projected once, the network, blocks, streets, facilities, snaps, water...);
* what it returns, an :class:`OverlayOutput`: the **block columns** and **street
  columns** it adds (a table on the blocks' or streets' index), its **layers**
  (name -> GeoDataFrame), a JSON-able **summary** for run.json and the report,
  the **documentation** of its columns and layers (:class:`ColumnDoc`,
  :class:`LayerDoc`: label en/zh, meaning, unit) and which of them the **map**
  shows;
* optionally its own **report sections** (:class:`toolkit.sections.Section`).

:func:`toolkit.study.run_study` runs the registered overlays whose section is in
the study (or that are always on) in their declared ``order``; the outputs show any
overlay through generic fallbacks: its layers and columns go to the GeoPackage,
schema.md documents them from the declaration, map.html draws each mapped block
column as a classed layer with a legend and each point or line layer, QGIS gets a
graduated style per mapped column, run.json holds the summary under the overlay's
name and report.html a section (:func:`report_sections`). The built-in overlays
(compounds, heritage, waterfront, walkability) are registered by :mod:`toolkit.study`
on the same contract; their maps, styles and report sections stay the output
modules' own, so they declare none here.

This module imports no geodata library and nothing of the pipeline or the outputs.

Examples
--------
>>> import pandas as pd
>>> from toolkit.overlays import ColumnDoc, Overlay, OverlayOutput, names, register, unregister
>>> def run(ctx):
...     n = pd.Series(0, index=ctx.blocks.index, name="demo_count")
...     return OverlayOutput(block_columns=n.to_frame(), summary={"total": int(n.sum())},
...                          docs=(ColumnDoc("demo_count", "demo count", "示例计数"),))
>>> demo = register(Overlay("demo", run, title_en="Demo", title_zh="示例", keys=("radius_m",)))
>>> "demo" in names()
True
>>> unregister("demo")
"""

from __future__ import annotations

import keyword
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from .sections import Section

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    import pyproj
    import shapely

    from .config import Study
    from .network import WalkNetwork
    from .result import StudyResult
    from .snapping import Snapped
    from .standards import Profile
    from .study_schema import Section as SchemaSection

__all__ = ["ColumnDoc", "LayerDoc", "Overlay", "OverlayOutput", "StudyContext", "active", "get", "names",
           "register", "registered", "report_sections", "unregister"]


# ------------------------------------------------------------ documentation
@dataclass(frozen=True)
class ColumnDoc:
    """One column an overlay adds: its names, meaning and unit (schema.md, the map, the styles).

    Examples
    --------
    >>> ColumnDoc("complaints_n", "complaints", "投诉数", "complaints inside the block", "count").label("zh")
    '投诉数'
    """

    name: str
    label_en: str
    label_zh: str = ""
    description: str = ""
    unit: str = ""
    layer: str = "blocks"  # the layer the column is on: blocks, streets or one of the overlay's layers

    def label(self, lang: str | None = "en") -> str:
        """The column's name in ``lang`` (English when there is no Chinese one)."""
        return self.label_zh if lang == "zh" and self.label_zh else self.label_en


@dataclass(frozen=True)
class LayerDoc:
    """One layer an overlay adds: title en/zh and meaning (its columns are :class:`ColumnDoc` s of that layer).

    Examples
    --------
    >>> LayerDoc("complaints", "Complaints", "投诉").title("en")
    'Complaints'
    """

    name: str
    title_en: str
    title_zh: str = ""
    description: str = ""

    def title(self, lang: str | None = "en") -> str:
        """The layer's title in ``lang``."""
        return self.title_zh if lang == "zh" and self.title_zh else self.title_en


# ------------------------------------------------------------------- output
@dataclass
class OverlayOutput:
    """What an overlay's run returns; the pipeline joins the columns and collects the rest.

    Parameters
    ----------
    block_columns, street_columns : DataFrame, optional
        The columns added, on the blocks' (streets') index; a name the layer has already is refused.
    layers : dict of str to GeoDataFrame
        Layers written to the GeoPackage, in this order (study CRS).
    summary : dict
        JSON-able figures, run.json's entry under the overlay's name (``details[name]`` in memory).
    docs : sequence of ColumnDoc
        The documentation of the columns (of blocks, streets and the layers): schema.md
        takes it for any column ``data/schema.toml`` does not describe.
    layer_docs : sequence of LayerDoc
        Titles and meanings of ``layers``.
    map_columns : dict of str to str, optional
        Block columns the map shows as classed layers, each with its colour ramp
        (a name of :mod:`toolkit.palette`: ``RAMP_REDS``, ``RAMP_WALK``, ``RAMP_COVERAGE``); None:
        every numeric block column added. The QGIS styles take the same columns.
    map_layers : sequence of str, optional
        Layers the map draws (points as markers, lines and polygons as outlines); None: all.
    notes : sequence of str
        Caveats for the run's notes.
    status : str
        ``measured``, or ``absent`` for an overlay that did not run (the pipeline's record of it).
    """

    block_columns: pd.DataFrame | None = None
    street_columns: pd.DataFrame | None = None
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    docs: Sequence[ColumnDoc] = ()
    layer_docs: Sequence[LayerDoc] = ()
    map_columns: Mapping[str, str] | None = None
    map_layers: Sequence[str] | None = None
    notes: Sequence[str] = ()
    status: str = "measured"
    title_en: str = ""
    title_zh: str = ""

    @property
    def present(self) -> bool:
        """Whether the overlay ran (its columns and layers are in the result)."""
        return self.status != "absent"

    def title(self, lang: str | None = "en") -> str:
        """The overlay's title in ``lang`` (filled in from its declaration by the pipeline)."""
        return self.title_zh if lang == "zh" and self.title_zh else self.title_en

    def block_column_names(self) -> list[str]:
        """The block columns the overlay added."""
        return [] if self.block_columns is None else [str(c) for c in self.block_columns.columns]

    def mapped_columns(self) -> dict[str, str]:
        """Block column -> colour ramp name, for the map and the QGIS styles."""
        if self.map_columns is not None:
            return dict(self.map_columns)
        cols = self.block_columns
        if cols is None:
            return {}
        # a count or a measure is drawn in classes; booleans and text are no gradient
        return {str(c): "RAMP_REDS" for c in cols.columns if cols[c].dtype.kind in "iuf"}

    def mapped_layers(self) -> list[str]:
        """The overlay's layers the map draws."""
        return list(self.layers) if self.map_layers is None else [n for n in self.map_layers if n in self.layers]

    def column_doc(self, layer: str, column: str) -> ColumnDoc | None:
        """The documentation of ``layer.column``, when the overlay gives one."""
        return next((d for d in self.docs if d.name == column and d.layer == layer), None)

    def layer_doc(self, layer: str) -> LayerDoc | None:
        """The documentation of one of the overlay's layers."""
        return next((d for d in self.layer_docs if d.name == layer), None)


# ------------------------------------------------------------------ context
@dataclass
class StudyContext:
    """What the steps of a run share: set step by step by :func:`toolkit.study.run_study`.

    The study area is projected once per geometry: ``area_unclipped_m`` (the area as
    configured) and ``area`` (clipped to the data), both in ``crs``. An overlay reads
    what it needs and returns an :class:`OverlayOutput`; it changes nothing here.
    """

    study: Study
    timings: dict[str, float] = field(default_factory=dict)
    progress: Callable[[str], None] | None = None
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    # Set by the steps before any later step reads them (None until then): typed as what they then are, so
    # the steps need no None checks; the fields that stay None in some runs (water, hull...) are Optional.
    profile: Profile = field(default=cast("Profile", None))
    crs: pyproj.CRS = field(default=cast("pyproj.CRS", None))
    area_unclipped_w: shapely.Geometry = field(default=cast("shapely.Geometry", None))  # WGS84, as configured
    # the same, projected (once)
    area_unclipped_m: shapely.Geometry = field(default=cast("shapely.Geometry", None))
    area_w: gpd.GeoDataFrame = field(default=cast("gpd.GeoDataFrame", None))  # WGS84, clipped to the data
    # the same, projected (once): the result's area
    area_m: gpd.GeoDataFrame = field(default=cast("gpd.GeoDataFrame", None))
    area: shapely.Geometry = field(default=cast("shapely.Geometry", None))  # area_m's geometry
    streets_hull_m: shapely.Geometry | None = None  # the convex hull of the network's nodes (projected)
    hull: shapely.Geometry | None = None  # the streets' convex hull, WGS84 (when the area is clipped)
    wf_area: shapely.Geometry | None = None  # the area the shore is drawn in (projected), with [waterfront]
    land: shapely.Geometry | None = None  # the area less water and sea: blocks are drawn on it
    water: gpd.GeoDataFrame | None = None
    net: WalkNetwork = field(default=cast("WalkNetwork", None))
    blocks: gpd.GeoDataFrame = field(default=cast("gpd.GeoDataFrame", None))
    balance: dict[str, dict[str, float]] = field(default_factory=dict)
    facilities: gpd.GeoDataFrame = field(default=cast("gpd.GeoDataFrame", None))
    access: gpd.GeoDataFrame = field(default=cast("gpd.GeoDataFrame", None))  # the facilities' access points
    obstacles: Any = None  # toolkit.snapping.SnapObstacles
    block_snap: Snapped = field(default=cast("Snapped", None))
    facility_snap: Snapped = field(default=cast("Snapped", None))
    # one row per access point and category it counts for
    coverage_access: gpd.GeoDataFrame = field(default=cast("gpd.GeoDataFrame", None))
    rates: pd.DataFrame = field(default=cast("pd.DataFrame", None))
    measured: list[str] = field(default_factory=list)
    no_data: list[str] = field(default_factory=list)
    streets: gpd.GeoDataFrame = field(default=cast("gpd.GeoDataFrame", None))
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    overlays: dict[str, OverlayOutput] = field(default_factory=dict)

    def config(self, overlay: str) -> dict[str, Any]:
        """A registered overlay's section of the study, with the declared defaults filled in."""
        table = dict((getattr(self.study, "overlays", None) or {}).get(overlay, {}))
        ov = _REGISTRY.get(overlay)
        sec = ov.schema() if ov is not None else None
        from .study_schema import UNSET

        for key in sec.keys if sec is not None else ():
            if key.name not in table and key.default is not UNSET:
                table[key.name] = key.default_value()
        return table

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Time ``step`` into ``timings`` (and tell ``progress`` it starts)."""
        if self.progress:
            self.progress(step)
        t = time.perf_counter()
        yield
        self.timings[step] = round(time.perf_counter() - t, 3)


# -------------------------------------------------------------- declaration
@dataclass(frozen=True)
class Overlay:
    """An overlay's declaration.

    Parameters
    ----------
    name : str
        Its name: the run.json key, ``details[name]``, the timing step and, by default, its TOML section.
    run : callable
        ``run(ctx: StudyContext) -> OverlayOutput``.
    title_en, title_zh : str
        Its title (report section, map legend captions).
    keys : schema Section or sequence of str, optional
        Its TOML section's keys: a :class:`toolkit.study_schema.Section` (types, defaults,
        ranges), or a list of key names (any TOML value). None: a built-in section
        already declared in :mod:`toolkit.study_schema`, or no section.
    section : str, optional
        The TOML section, when not ``name``.
    always : bool
        Runs in every study (walkability); otherwise only when its section is in the study.
    order : int
        Position among the overlays (lower first; the built-ins: compounds 10, heritage 20,
        waterfront 30, walkability 40).
    doc : str
        What its run.json summary holds (docs/run_json.md for the built-ins).
    enabled : callable, optional
        ``enabled(study) -> bool``, for a built-in whose section is a Study attribute.
    absent_reason : str, optional
        Why it did not run, for run.json (``no [name] section in the study`` by default).
    sections : callable, optional
        ``sections(result, output, lang) -> list[Section]``: its report sections; the
        generic one (its summary's figures as a table) when omitted.
    """

    name: str
    run: Callable[[StudyContext], OverlayOutput]
    title_en: str = ""
    title_zh: str = ""
    keys: SchemaSection | Sequence[str] | None = None
    section: str | None = None
    always: bool = False
    order: int = 100
    doc: str = ""
    enabled: Callable[[Study], bool] | None = None
    absent_reason: str | None = None
    sections: Callable[[StudyResult, OverlayOutput, str], Sequence[Section]] | None = None

    @property
    def section_name(self) -> str:
        """The TOML section: ``section``, else the name of a declared schema Section, else ``name``."""
        return self.section or getattr(self.keys, "name", None) or self.name

    def schema(self) -> SchemaSection | None:
        """The section's declaration (a key list becomes keys of any TOML value)."""
        from .study_schema import AnyOf, Flag, Key, ListOf, Number, Text
        from .study_schema import Section as SchemaSection

        if self.keys is None or isinstance(self.keys, SchemaSection):
            return self.keys
        if isinstance(self.keys, str):
            raise ValueError(f"overlay {self.name!r}: keys is a list of key names, not one string {self.keys!r}")
        scalar = AnyOf((Text(), Number(), Flag(), ListOf(AnyOf((Text(), Number())))))
        return SchemaSection(self.section_name, self.doc or f"The {self.name} overlay.",
                             tuple(Key(str(k), scalar, f"a setting of the {self.name} overlay") for k in self.keys))

    def is_active(self, study: Study) -> bool:
        """Whether the overlay runs for ``study``."""
        if self.always:
            return True
        if self.enabled is not None:
            return bool(self.enabled(study))
        return self.section_name in (getattr(study, "overlays", None) or {})

    def absent(self) -> OverlayOutput:
        """The record of the overlay not running."""
        reason = self.absent_reason or f"no [{self.section_name}] section in the study"
        return OverlayOutput(summary={"status": "absent", "reason": reason}, status="absent",
                             title_en=self.title_en, title_zh=self.title_zh)


# ----------------------------------------------------------------- registry
_REGISTRY: dict[str, Overlay] = {}


def register(overlay: Overlay) -> Overlay:
    """Add ``overlay`` to the runs from now on (one of the same name is replaced); its section becomes valid.

    Raises
    ------
    ValueError
        For a name that is no identifier, or a section that is one of the toolkit's own
        (``[network]``...) while declaring keys of its own.
    """
    if not overlay.name.isidentifier() or keyword.iskeyword(overlay.name):
        raise ValueError(f"an overlay's name must be an identifier (a run.json key, a TOML section): {overlay.name!r}")
    from .study_schema import register_section, unregister_section

    old = _REGISTRY.get(overlay.name)
    if old is not None and old.keys is not None:
        unregister_section(old.section_name)
    sec = overlay.schema()
    if sec is not None:
        register_section(sec)
    _REGISTRY[overlay.name] = overlay
    return overlay


def unregister(name: str) -> None:
    """Remove an overlay (and its section) from the registry; no error when absent."""
    ov = _REGISTRY.pop(name, None)
    if ov is not None and ov.keys is not None:
        from .study_schema import unregister_section

        unregister_section(ov.section_name)


def get(name: str) -> Overlay | None:
    """The registered overlay of that name, or None."""
    return _REGISTRY.get(name)


def registered() -> list[Overlay]:
    """Every registered overlay, in run order (``order``, then registration)."""
    return sorted(_REGISTRY.values(), key=lambda o: o.order)


def names() -> list[str]:
    """The registered overlays' names, in run order."""
    return [o.name for o in registered()]


def active(study: Study) -> list[Overlay]:
    """The overlays that run for ``study``, in run order."""
    return [o for o in registered() if o.is_active(study)]


# ------------------------------------------------------------------- report
def _figures(summary: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """The summary's scalar figures, nested keys joined with dots."""
    for k, v in summary.items():
        if isinstance(v, Mapping):
            yield from _figures(v, f"{prefix}{k}.")
        elif isinstance(v, bool | int | float | str) or v is None:
            yield f"{prefix}{k}", v


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return "–" if v is None else str(v)


def generic_section(name: str, out: OverlayOutput, lang: str) -> Section:
    """An overlay's report section from its summary: one row per figure, its columns and layers in the notes."""
    from .labels import label

    rows = [(k, _value(v)) for k, v in _figures(out.summary)]
    notes: list[str] = []
    if out.docs:
        notes.append(label("overlay.columns", lang, names="; ".join(
            f"{d.name}: {d.label(lang)}" + (f" ({d.unit})" if d.unit else "") for d in out.docs)))
    if out.layer_docs:
        notes.append(label("overlay.layers", lang, names="; ".join(f"{d.name}: {d.title(lang)}"
                                                                   for d in out.layer_docs)))
    return Section(f"overlay-{name}", out.title(lang) or name,
                   header=(label("overlay.figure", lang), label("report.value", lang)), rows=rows, num_cols=(1,),
                   notes=(*notes, *out.notes), order=60)


def report_sections(result: StudyResult, lang: str) -> list[Section]:
    """The report sections of every overlay that ran (a provider of :mod:`toolkit.sections`).

    An overlay's own ``sections`` when it declares them, else :func:`generic_section`.
    """
    out: list[Section] = []
    for name, o in (getattr(result, "overlays", None) or {}).items():
        if not o.present:
            continue
        ov = _REGISTRY.get(name)
        if ov is not None and ov.sections is not None:
            out.extend(ov.sections(result, o, lang) or ())
        else:
            out.append(generic_section(name, o, lang))
    return out
