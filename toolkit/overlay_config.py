"""The configuration of the overlays: ``[heritage]``, ``[waterfront]`` and ``[compounds]``.

These dataclasses are what a study file's overlay sections become
(:func:`toolkit.config.study_from_dict`) and what a notebook builds by hand
(``HeritageConfig.shanghai()``). They sit in the configuration layer, beside
:mod:`toolkit.sources`: the study (:mod:`toolkit.config`) holds them and the
analyses (:mod:`toolkit.heritage`, :mod:`toolkit.waterfront`,
:mod:`toolkit.compounds`, which re-export them) read them, and this module
imports neither, so configuration and analysis never import each other.
Checking a value here needs nothing heavier than :mod:`math`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import InputError
from .sources import Source, plain

__all__ = ["HUANGPU_TYPICAL_WIDTH_M", "YEAR_RANGE", "CompoundsConfig", "HeritageConfig", "RiverSource",
           "WaterfrontConfig"]

#: Width (m) used in messages as an example; the Huangpu is 300-700 m wide in
#: central Shanghai and about 400 m on average (the figure usually cited), so
#: 400 m is a sensible value to *write* in a config, never one applied unasked.
HUANGPU_TYPICAL_WIDTH_M = 400.0

#: Plausible completion years; a number outside is not a year (a price, a floor area, a typo).
YEAR_RANGE = (1800, 2100)


# ------------------------------------------------------------------ [heritage]
@dataclass
class HeritageConfig:
    """Where the heritage layers come from and the distances that govern them.

    Attributes
    ----------
    style_areas : Source, optional
        Polygons of historic-cultural style areas (e.g. ``Source(dataset="fengmao_areas")``,
        which the registry declares GCJ-02).
    style_name_field : str
        Column holding a style area's name.
    osm : Source, optional
        An OSM heritage export (e.g. ``Source(dataset="heritage_osm")``). Rows with
        ``boundary=protected_area`` become *compound* zones; other rows become listed
        objects when they carry a ``heritage`` tag (any value but ``no``), a
        ``historic`` value in :data:`toolkit.heritage.BUILDING_HISTORIC`, or any ``historic`` value
        together with a ``building`` tag. Lines (bridges, streets) are skipped.
    listed_buildings : list of Source
        Further point lists of listed buildings (any CRS the Source declares). The
        name column is ``Source.field`` when given, else the first of :data:`toolkit.heritage.NAME_FIELDS`.
    relics : list of Source
        Cultural relics protection units (points), merged into the same list.
    protected_roads : list of str
        Street names of style-protected roads (风貌保护道路), e.g. ``["岳阳路"]``.
    buffer_m : float
        Width of the control buffer around zones and listed buildings, metres.
    merge_distance_m : float
        Records of different sources closer than this with compatible names are one building.
    """

    style_areas: Source | None = None
    style_name_field: str = "title"
    osm: Source | None = None
    listed_buildings: list[Source] = field(default_factory=list)
    relics: list[Source] = field(default_factory=list)
    protected_roads: list[str] = field(default_factory=list)
    buffer_m: float = 50.0
    merge_distance_m: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.protected_roads, str):
            # a single name from a config file; iterating it would give characters
            self.protected_roads = [self.protected_roads]
        for name in ("buffer_m", "merge_distance_m"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0 or not math.isfinite(value):
                raise InputError(f"{name} must be a distance in metres >= 0, got {value!r}",
                                 source="heritage config", field=f"heritage.{name}",
                                 fix=f"e.g. {name} = {HeritageConfig.__dataclass_fields__[name].default}")

    @classmethod
    def shanghai(cls) -> HeritageConfig:
        """The registered Shanghai layers: style areas, OSM, both building registers, Yueyang Road.

        Only Yueyang Road (岳阳路) of Shanghai's never-widened roads (永不拓宽, 2007) is named here;
        add the others a district designates.
        """
        return cls(
            style_areas=Source(dataset="fengmao_areas"),
            osm=Source(dataset="heritage_osm"),
            listed_buildings=[
                Source(dataset="excellent_historic_buildings", lon="long", lat="lat", records="data"),
                Source(dataset="historic_buildings"),
            ],
            protected_roads=["岳阳路"],
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form (for run.json)."""
        return plain(asdict(self))


# ------------------------------------------------------------------ [waterfront]
@dataclass
class RiverSource:
    """A river centreline layer and how wide the river is.

    Parameters
    ----------
    source : Source
        The line layer, e.g. ``Source(dataset="huangpu_centreline")``.
    width_m : float, optional
        Bank-to-bank width in metres, for every line (or for the lines whose
        ``width_field`` is empty). The Huangpu is about 400 m wide in central
        Shanghai (300-700 m along its length); measure it for other rivers.
    width_field : str, optional
        Column holding each line's width in metres.

    Raises
    ------
    InputError
        If neither ``width_m`` nor ``width_field`` is given, or ``width_m`` is
        not a positive number: a centreline has no banks without a width.
    """

    source: Source
    width_m: float | None = None
    width_field: str | None = None

    def __post_init__(self) -> None:
        _check_width(self, self.source.label())


@dataclass
class WaterfrontConfig:
    """Which water layers to use and how the waterfront is measured.

    Parameters
    ----------
    water : list of Source
        Water polygons whose edge is the waterfront (``natural=water``, riverbanks,
        lakes, docks), e.g. the Huangpu's riverbank polygons.
    rivers : list of RiverSource
        River centrelines with a width.
    coastlines : list of Source
        Coastline lines with the land on their left (OSM convention).
    other_water : list of Source
        Water polygons removed from the land (no blocks are drawn on them) whose
        edges are not waterfront: ponds, creeks, park lakes. A polygon listed in
        both ``water`` and ``other_water`` is bank water.
    corridor_m : float
        Width of the band of land along the shore; a shore point whose nearest
        street in the band is within this distance has access.
    access_distance_m : float
        A street edge within this distance of the shore gives an access point.
        Must not exceed ``corridor_m`` (access points lie in the band).
    sample_m : float
        Spacing of the shoreline samples.
    min_gap_m : float
        Gaps in access shorter than this are counted as access.
    dedup_m : float
        Access points closer than this to one nearer the shore are merged.
    """

    water: list[Source] = field(default_factory=list)
    rivers: list[RiverSource] = field(default_factory=list)
    coastlines: list[Source] = field(default_factory=list)
    other_water: list[Source] = field(default_factory=list)
    corridor_m: float = 100.0
    access_distance_m: float = 50.0
    sample_m: float = 10.0
    min_gap_m: float = 50.0
    dedup_m: float = 25.0

    def __post_init__(self) -> None:
        for name in ("corridor_m", "access_distance_m", "sample_m"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise InputError(f"{name} must be a positive number of metres, not {v!r}",
                                 field=f"waterfront.{name}", fix=f"e.g. {name} = {getattr(type(self), name)}")
        for name in ("min_gap_m", "dedup_m"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise InputError(f"{name} must be zero or a positive number of metres, not {v!r}",
                                 field=f"waterfront.{name}", fix=f"e.g. {name} = {getattr(type(self), name)}")
        if self.access_distance_m > self.corridor_m:
            raise InputError(f"access_distance_m ({self.access_distance_m:g}) exceeds corridor_m "
                             f"({self.corridor_m:g}): access points are looked for inside the corridor band",
                             field="waterfront.access_distance_m",
                             fix="lower access_distance_m or widen corridor_m")

    @property
    def has_sources(self) -> bool:
        """True when at least one water, river or coastline layer (a shore) is configured.

        ``other_water`` alone is no shore: it only takes land away.
        """
        return bool(self.water or self.rivers or self.coastlines)

    def labels(self) -> list[str]:
        """Short descriptions of the layers giving the shore (water, rivers, coastlines), for reports."""
        return ([s.label() for s in self.water] + [r.source.label() for r in self.rivers]
                + [s.label() for s in self.coastlines])


def _check_width(rs: RiverSource, where: str) -> None:
    if rs.width_m is None and rs.width_field is None:
        raise InputError(
            "a river centreline needs a width to become water, and none was given", source=where,
            field="width_m",
            fix=f"add width_m = ... (bank-to-bank metres; the Huangpu in central Shanghai is about "
            f"{HUANGPU_TYPICAL_WIDTH_M:.0f} m) or width_field = '<column with widths>'")
    if rs.width_m is not None:
        w = rs.width_m
        if not (isinstance(w, int | float) and math.isfinite(w) and w > 0):
            raise InputError(f"width_m must be a positive number of metres, not {w!r}", source=where,
                             field="width_m", fix=f"e.g. width_m = {HUANGPU_TYPICAL_WIDTH_M:.0f} for the Huangpu")


# ------------------------------------------------------------------ [compounds]
@dataclass
class CompoundsConfig:
    """Where the compound table is and which of its columns mean what.

    Parameters
    ----------
    source : Source
        The point table, e.g. ``Source(dataset="residential_compounds", lon="POINT_X", lat="POINT_Y")``.
    name_field, address_field : str, optional
        Columns with the compound's name (小区名) and address (小区坐落).
    floor_area_field : str, optional
        Total floor area in m² (总建面); text such as ``"20000.0㎡"`` or ``"暂无"`` is parsed.
        Needed for the floor-area columns and for ``persons_per_m2``.
    year_field : str, optional
        Completion year (竣工时间), e.g. ``"2010年"``; needed for the year columns and ``old_before``.
    old_before : int, optional
        Compounds whose (first) completion year is before this count as old, e.g. 2000 for
        the estates built without lifts.
    persons_per_m2 : float, optional
        Residents per m² of floor area, declared in ``[population] from_compounds``; with it
        blocks get ``pop_compounds``. It has no default: the figure depends on the city and year
        (Shanghai: about 37 m² of housing per resident, i.e. 0.027 per m²).

    Raises
    ------
    InputError
        ``old_before`` is not a year, ``persons_per_m2`` is not a positive number of at
        most 1, or a figure needs a column that is not named.

    Examples
    --------
    >>> cfg = CompoundsConfig(Source(dataset="residential_compounds", lon="POINT_X", lat="POINT_Y"),
    ...                       floor_area_field="总建面", year_field="竣工时", old_before=2000)
    >>> cfg.old_before
    2000
    """

    source: Source
    name_field: str | None = None
    address_field: str | None = None
    floor_area_field: str | None = None
    year_field: str | None = None
    old_before: int | None = None
    persons_per_m2: float | None = None

    def __post_init__(self) -> None:
        if self.old_before is not None:
            y = self.old_before
            if isinstance(y, bool) or not isinstance(y, int) or not YEAR_RANGE[0] <= y <= YEAR_RANGE[1]:
                raise InputError(f"old_before must be a year, not {y!r}", source=self.source.label(),
                                 field="compounds.old_before", fix="e.g. old_before = 2000 (estates built before it)")
            if not self.year_field:
                raise InputError("old_before needs the completion-year column", source=self.source.label(),
                                 field="compounds.year_field", fix="add year_field = '<column>', e.g. '竣工时'")
        if self.persons_per_m2 is not None:
            v = self.persons_per_m2
            if isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and 0 < v <= 1):
                raise InputError(f"persons_per_m2 must be a positive number of residents per m² of floor area "
                                 f"(at most 1), not {v!r}", source=self.source.label(),
                                 field="population.from_compounds.persons_per_m2",
                                 fix="e.g. persons_per_m2 = 0.027 (Shanghai: about 37 m² of housing per resident)")
            if not self.floor_area_field:
                raise InputError("residents from compounds need their floor area", source=self.source.label(),
                                 field="compounds.floor_area_field",
                                 fix="add floor_area_field = '<column>' to [compounds], e.g. '总建面'")
