"""Residents' voice as data: complaints and survey responses per block and zone.

A point layer of what residents report (12345 hotline exports, 随手拍 photos,
survey responses) is read like any other source (a CSV with lon/lat columns, or
any vector file; ``crs = "gcj02"`` for an Amap-geocoded export, converted by
:mod:`toolkit.crs`), each point with a topic and a date, both named in the study:

.. code-block:: toml

    [voice]
    source = { path = "12345_2024.csv", lon = "lng", lat = "lat", crs = "gcj02" }
    topic_field = "类别"
    date_field = "受理时间"
    weight = 1.0

Only the topic and the date of each point are kept (a complaint's text and the
caller's details never reach the outputs). Per block (:func:`aggregate_voice`):
the number of points, the rate per 1,000 residents, the topics with their
counts and the date range. A point on a street, between blocks, counts for the
nearest block within ``snap_m``.

The voice index of a block is

.. math::

    v_b = w \\, \\min(r_b / r^{ref}, 1)

with :math:`w` the layer's ``weight``, :math:`r_b` its points per 1,000
residents of the block and :math:`r^{ref}` the ``normalise_quantile`` (0.95)
quantile of that rate over the populated blocks with at least one point (so one
tiny block with two complaints does not flatten every other block to 0). It
multiplies the priority severity by :math:`1 + v_b` (:mod:`toolkit.priority`)
and is the ``voice`` criterion of the site score (``[sites.weights] voice``, 0
unless the study sets it). A block without residents has no rate and index 0.

The step is an overlay (:mod:`toolkit.overlays`, registered by
:mod:`toolkit.study`): it runs before the decisions, so the site score and the
priority list both see the index; the map draws its points with the registered
overlays' layers, the report has its section (:func:`report_sections`).

Bad input stops the run with an :class:`~toolkit.errors.InputError` naming the
file, the row and the field: a topic or date column that is not there, a date
that cannot be read, no point inside the study area (a datum not declared).
Points outside the area, without a date or in no block are left out or kept
with a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError
from .io import read_layer
from .labels import label
from .overlays import LayerDoc, Overlay, OverlayOutput, StudyContext
from .sections import Section
from .sources import Source

if TYPE_CHECKING:
    from .result import StudyResult

__all__ = ["VOICE_COLUMNS", "VOICE_OVERLAY", "VoiceLayer", "aggregate_voice", "normalised_rate", "parse_dates",
           "read_voice", "report_sections", "run_overlay", "voice_overlay"]

#: The block columns :func:`voice_overlay` adds.
VOICE_COLUMNS = ("voice_n", "voice_rate", "voice_topics", "voice_first", "voice_last", "voice_index")


@dataclass
class VoiceLayer:
    """One ``[voice]`` layer of a study.

    Examples
    --------
    >>> v = VoiceLayer.from_config({"source": Source(path="c.csv"), "topic_field": "t", "date_field": "d"})
    >>> v.weight, v.name
    (1.0, 'c.csv')
    """

    source: Source
    topic_field: str
    date_field: str
    weight: float = 1.0
    name: str = ""
    topics: list[str] = field(default_factory=list)
    snap_m: float = 30.0
    normalise_quantile: float = 0.95

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> VoiceLayer:
        """A layer from its checked ``[voice]`` table (``source`` already a :class:`Source`)."""
        where = "voice"
        for key in ("source", "topic_field", "date_field"):
            if key not in raw:
                raise InputError(f"a voice layer needs {key}", field=f"{where}.{key}",
                                 fix="[voice] source = { path = 'complaints.csv', lon = 'lng', lat = 'lat' }, "
                                 "topic_field = '类别', date_field = '日期'")
        src = raw["source"]
        return cls(source=src, topic_field=str(raw["topic_field"]), date_field=str(raw["date_field"]),
                   weight=float(raw.get("weight", 1.0)), name=str(raw.get("name") or src.label()),
                   topics=list(raw.get("topics", [])), snap_m=float(raw.get("snap_m", 30.0)),
                   normalise_quantile=float(raw.get("normalise_quantile", 0.95)))


def parse_dates(values: pd.Series, *, source: str | None = None, field: str = "date") -> pd.Series:
    """Dates of a column: ISO (2024-03-05), 2024/3/5, 2024年3月5日, with or without a time; NaT when empty.

    Raises
    ------
    InputError
        For the first value that is not empty and not a date, naming its row
        (1 = the first data row) and the field.

    Examples
    --------
    >>> parse_dates(pd.Series(["2024-03-05", "2024/3/6 14:30", "2024年3月7日", ""])).dt.day.tolist()
    [5.0, 6.0, 7.0, nan]
    >>> try:
    ...     parse_dates(pd.Series(["2024-03-05", "next week"]), source="c.csv", field="日期")
    ... except InputError as e:
    ...     print(e.field, "|", e.problem)
    日期 | row 2 holds 'next week', which is not a date (1 of 2 values)
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values).dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
    s = values.astype("string").str.strip()
    empty = s.isna() | (s == "")
    norm = s.str.replace(r"\s*[年月]\s*", "-", regex=True).str.replace("日", "", regex=False).str.replace(
        "/", "-", regex=False)
    d = pd.to_datetime(norm.where(~empty), errors="coerce", format="mixed")
    bad = (~empty & d.isna()).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"row {i + 1} holds {values.iloc[i]!r}, which is not a date ({int(bad.sum())} of "
                         f"{len(values)} values)", source=source, field=field,
                         fix="write dates as YYYY-MM-DD (2024/3/5 and 2024年3月5日 are read too, with or without a "
                         "time), leave unknown dates empty, or name the right column in [voice] date_field")
    return d


def read_voice(layer: VoiceLayer, area: shapely.Geometry, crs: Any,
               notes: list[str] | None = None) -> gpd.GeoDataFrame:
    """The points of a voice layer inside ``area`` (in ``crs``), on the file's index.

    Columns: ``layer`` (its name), ``row`` (1 = the first data row of the
    file), ``topic`` (``""`` when empty), ``date`` (datetime, NaT when empty).
    Points outside the area are left out and counted in ``notes``;
    polygons and lines count at a point on their surface.

    Raises
    ------
    InputError
        A missing topic or date column, a date that cannot be read, or no
        point inside the area.
    """
    where = "voice"
    path = layer.source.resolve()
    name = str(path)
    g = read_layer(path, **layer.source.reader_options())
    for key, col in (("topic_field", layer.topic_field), ("date_field", layer.date_field)):
        if col not in g.columns:
            cols = [c for c in g.columns if c != g.geometry.name]
            raise InputError(f"no column {col!r} in the voice layer", source=name, field=f"{where}.{key}",
                             fix=f"name one of its columns: {', '.join(map(str, cols))}")
    row = np.arange(1, len(g) + 1)
    dates = parse_dates(g[layer.date_field].reset_index(drop=True), source=name,
                        field=f"{layer.date_field} ({where}.date_field)")
    topic = g[layer.topic_field].astype("string").fillna("").str.strip().to_numpy(dtype=object)
    geoms = np.asarray(g.to_crs(crs).geometry.values)
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if empty.any():
        raise InputError(f"row {int(np.flatnonzero(empty)[0]) + 1} has no location ({int(empty.sum())} rows)",
                         source=name, field=f"{where}.source", fix="give every row coordinates, or drop it")
    pts = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
    shapely.prepare(area)
    inside = shapely.intersects(area, pts)
    keep = inside.copy()
    if layer.topics:
        keep &= np.isin(topic, layer.topics)
        if notes is not None and (inside & ~keep).any():
            notes.append(f"{name}: {int((inside & ~keep).sum())} points of other topics than "
                         f"{', '.join(layer.topics)} left out ([voice] topics)")
    if len(g) and not inside.any():
        raise InputError(f"none of the {len(g)} points lies in the study area", source=name, field=f"{where}.source",
                         fix="check the coordinates and their datum: declare crs = 'gcj02' for Amap-geocoded "
                         "exports (12345, 随手拍), 'bd09' for Baidu, or the file's EPSG code; and check that the "
                         "layer covers the study area")
    if notes is not None and (~inside).any():
        rows = ", ".join(map(str, row[~inside][:5]))
        notes.append(f"{name}: {int((~inside).sum())} of {len(g)} points lie outside the study area and are left "
                     f"out (rows {rows}{', ...' if (~inside).sum() > 5 else ''})")
    undated = int(dates[keep].isna().sum())
    if notes is not None and undated:
        notes.append(f"{name}: {undated} points have no date: counted, left out of the date range")
    return gpd.GeoDataFrame({"layer": layer.name, "row": row[keep], "topic": topic[keep],
                             "date": dates.to_numpy()[keep]}, geometry=pts[keep], crs=crs, index=g.index[keep])


def _block_of(points: gpd.GeoDataFrame, blocks: gpd.GeoDataFrame, snap_m: float) -> np.ndarray:
    """Position of each point's block (-1: none within ``snap_m``); the first block a point touches."""
    pts = np.asarray(points.to_crs(blocks.crs).geometry.values)
    tree = shapely.STRtree(np.asarray(blocks.geometry.values))
    pi, bi = tree.query(pts, predicate="intersects")
    pos = np.full(len(pts), -1)
    first = np.unique(pi, return_index=True)[1]
    pos[pi[first]] = bi[first]
    miss = np.flatnonzero(pos < 0)
    if len(miss) and snap_m > 0:
        mi, mb = tree.query_nearest(pts[miss], max_distance=snap_m, all_matches=False)
        pos[miss[mi]] = mb
    return pos


def _topics(topic: np.ndarray, pos: np.ndarray, n: int) -> list[str]:
    out = [""] * n
    if not len(pos):
        return out
    df = pd.DataFrame({"b": pos, "t": np.where(topic == "", "-", topic)})
    counts = df.groupby(["b", "t"]).size().reset_index(name="n").sort_values(["b", "n", "t"],
                                                                              ascending=[True, False, True])
    for b, grp in counts.groupby("b"):
        out[int(b)] = ";".join(f"{t}:{k}" for t, k in zip(grp["t"], grp["n"], strict=True))
    return out


def aggregate_voice(points: gpd.GeoDataFrame, blocks: gpd.GeoDataFrame, snap_m: float = 30.0) -> pd.DataFrame:
    """Per block: points, points per 1,000 residents, topics and date range, on ``blocks.index``.

    ``points`` as :func:`read_voice` gives them (``topic``, ``date``). A point
    in no block counts for the nearest within ``snap_m`` (0: none);
    ``result.attrs["unplaced"]`` counts those left out and
    ``result.attrs["block_pos"]`` is each point's block position (-1: none).

    Examples
    --------
    >>> blocks = gpd.GeoDataFrame({"population": [2000.0, 0.0]}, crs=32651,
    ...                           geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)])
    >>> pts = gpd.GeoDataFrame({"topic": ["noise", "noise", "parking"],
    ...                         "date": pd.to_datetime(["2024-01-02", "2024-03-01", None])},
    ...                        geometry=gpd.points_from_xy([10, 20, 150], [10, 20, 50]), crs=32651)
    >>> a = aggregate_voice(pts, blocks)
    >>> a[["voice_n", "voice_rate", "voice_topics"]].to_dict("list")
    {'voice_n': [2, 1], 'voice_rate': [1.0, nan], 'voice_topics': ['noise:2', 'parking:1']}
    >>> a["voice_first"].tolist(), a["voice_last"].tolist()
    (['2024-01-02', ''], ['2024-03-01', ''])
    """
    pos = _block_of(points, blocks, snap_m) if len(points) else np.zeros(0, dtype=int)
    ok = pos >= 0
    n = np.bincount(pos[ok], minlength=len(blocks))
    pop = blocks["population"].to_numpy(dtype=float) if "population" in blocks else np.full(len(blocks), np.nan)
    rate = np.divide(n * 1000.0, pop, out=np.full(len(blocks), np.nan), where=pop > 0)
    first = np.full(len(blocks), "", dtype=object)
    last = first.copy()
    if ok.any():
        d = pd.DataFrame({"b": pos[ok], "d": pd.to_datetime(points["date"].to_numpy()[ok])}).dropna()
        g = d.groupby("b")["d"]
        lo, hi = g.min(), g.max()
        first[lo.index.to_numpy()] = lo.dt.strftime("%Y-%m-%d").to_numpy()
        last[hi.index.to_numpy()] = hi.dt.strftime("%Y-%m-%d").to_numpy()
    topic = points["topic"].to_numpy(dtype=object)[ok] if len(points) else np.zeros(0, dtype=object)
    out = pd.DataFrame({"voice_n": n, "voice_rate": rate, "voice_topics": _topics(topic, pos[ok], len(blocks)),
                        "voice_first": first, "voice_last": last}, index=blocks.index)
    out.attrs["unplaced"] = int((~ok).sum())
    out.attrs["block_pos"] = pos
    return out


def normalised_rate(rate: np.ndarray, n: np.ndarray, quantile: float = 0.95) -> tuple[np.ndarray, float]:
    """min(rate / reference, 1), the reference the ``quantile`` of the rates of blocks with points; 0 elsewhere.

    Examples
    --------
    >>> v, ref = normalised_rate(np.array([1.0, 4.0, np.nan, 0.0]), np.array([1, 2, 0, 0]), quantile=1.0)
    >>> v.tolist(), ref
    ([0.25, 1.0, 0.0, 0.0], 4.0)
    """
    rate = np.asarray(rate, dtype=float)
    has = (np.asarray(n) > 0) & np.isfinite(rate)
    if not has.any():
        return np.zeros(len(rate)), float("nan")
    ref = float(np.quantile(rate[has], quantile))
    if ref <= 0:
        return np.zeros(len(rate)), ref
    return np.where(has, np.minimum(rate / ref, 1.0), 0.0), ref


def voice_overlay(layer: VoiceLayer, blocks: gpd.GeoDataFrame, area: shapely.Geometry,
                  notes: list[str] | None = None) -> tuple[pd.DataFrame, gpd.GeoDataFrame, dict[str, Any]]:
    """The voice of one layer: :data:`VOICE_COLUMNS` on ``blocks.index``, its points and the run.json section.

    ``area`` is the study area in the blocks' CRS. The points keep ``layer``,
    ``row``, ``topic``, ``date`` (YYYY-MM-DD, "" when none) and the
    ``block_id`` they count for.

    Examples
    --------
    >>> cols, points, summary = voice_overlay(VoiceLayer.from_config(result.study.voice), result.blocks,
    ...                                       result.area.geometry.iloc[0])  # doctest: +SKIP
    >>> int(cols["voice_n"].sum()) <= summary["points"]  # doctest: +SKIP
    True
    """
    pts = read_voice(layer, area, blocks.crs, notes)
    agg = aggregate_voice(pts, blocks, layer.snap_m)
    norm, ref = normalised_rate(agg["voice_rate"].to_numpy(), agg["voice_n"].to_numpy(), layer.normalise_quantile)
    pos = agg.attrs["block_pos"]
    ids = blocks["block_id"].to_numpy() if "block_id" in blocks else np.asarray(blocks.index)
    block_id = pd.array([ids[k] if k >= 0 else None for k in pos], dtype=object)
    dated = pts["date"].dropna()
    if notes is not None and agg.attrs["unplaced"]:
        notes.append(f"{layer.name}: {agg.attrs['unplaced']} points lie in no block nor within {layer.snap_m:g} m "
                     "of one (on water or wide roads): shown on the map, counted for no block")
    cols = agg.assign(voice_index=layer.weight * norm)[list(VOICE_COLUMNS)]
    points = gpd.GeoDataFrame({"layer": pts["layer"].to_numpy(), "row": pts["row"].to_numpy(),
                               "topic": pts["topic"].to_numpy(),
                               "date": pd.to_datetime(pts["date"]).dt.strftime("%Y-%m-%d").fillna("").to_numpy(),
                               "block_id": block_id}, geometry=np.asarray(pts.geometry.values), crs=blocks.crs)
    summary = {
        "formula": "voice_index = weight * min(points per 1,000 residents / reference rate, 1), the reference the "
                   "normalise_quantile of the rates of the blocks with points; priority severity x (1 + "
                   "voice_index); site criterion `voice` ([sites.weights] voice)",
        "layers": [{
            "name": layer.name, "source": layer.source.label(), "weight": layer.weight,
            "topic_field": layer.topic_field, "date_field": layer.date_field, "points": len(pts),
            "in_blocks": int((pos >= 0).sum()), "not_in_a_block": agg.attrs["unplaced"],
            "undated": int(pts["date"].isna().sum()),
            "dates": [dated.min().strftime("%Y-%m-%d"), dated.max().strftime("%Y-%m-%d")] if len(dated) else None,
            "topics": pd.Series(pts["topic"]).replace("", "-").value_counts().to_dict(),
            "rate_reference_per_1000": ref, "normalise_quantile": layer.normalise_quantile}],
        "points": len(pts), "blocks_with_points": int((agg["voice_n"] > 0).sum()),
        "kept": "topic and date only: no text or caller details reach the outputs",
    }
    return cols, points, summary


def run_overlay(ctx: StudyContext) -> OverlayOutput:
    """The ``[voice]`` overlay's run (:mod:`toolkit.overlays`): columns, the ``voice`` layer and the summary."""
    notes: list[str] = []
    cols, points, summary = voice_overlay(VoiceLayer.from_config(ctx.study.voice), ctx.blocks, ctx.area, notes)
    # the columns and the layer are described in data/schema.toml; the map draws the points
    return OverlayOutput(block_columns=cols, layers={"voice": points}, summary=summary, notes=notes,
                         layer_docs=(LayerDoc("voice", label("layer.voice", "en"), label("layer.voice", "zh")),),
                         map_columns={}, map_layers=("voice",))


def _sections(result: StudyResult, out: OverlayOutput, lang: str) -> list[Section]:
    return report_sections(result, lang)


def report_sections(result: StudyResult, lang: str) -> list[Section]:
    """report.html section of the voice layers ([] without them)."""
    v = result.details.get("voice")
    if not v:
        return []
    rows = []
    for s in v["layers"]:
        top = sorted(s["topics"].items(), key=lambda kv: -kv[1])[:5]
        rows.append((s["name"], f"{s['points']:,}", f"{s['in_blocks']:,}", f"{s['weight']:g}",
                     " - ".join(s["dates"]) if s["dates"] else "", ", ".join(f"{t} ({n})" for t, n in top)))
    return [Section("voice", label("layer.voice", lang), paragraphs=(label("voice.intro", lang),),
                    header=(label("voice.layer", lang), label("voice.points", lang), label("voice.in_blocks", lang),
                            label("voice.weight", lang), label("voice.dates", lang), label("voice.topics", lang)),
                    rows=rows, num_cols=(1, 2, 3), notes=(label("voice.kept", lang),), order=59)]


def _declaration() -> Overlay:
    # the section is one of the toolkit's (toolkit.study_schema); registered by toolkit.study
    return Overlay("voice", run_overlay, title_en=label("layer.voice", "en"), title_zh=label("layer.voice", "zh"),
                   order=50, enabled=lambda s: bool(getattr(s, "voice", None)), sections=_sections,
                   absent_reason="no [voice] section in the study")


#: The ``[voice]`` overlay's declaration.
VOICE_OVERLAY = _declaration()
