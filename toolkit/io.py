"""Readers for user and bundled layers: vector files, CSV and Excel point tables, JSON records.

Everything read here comes back in WGS84 (EPSG:4326) with the caller's rows in
file order; GCJ-02 and BD-09 coordinates are converted on import when the
caller declares them. Projection to the study's metric CRS happens later, in
one place (:mod:`toolkit.study`).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .crs import WGS84, parse_crs, to_wgs84
from .errors import InputError

__all__ = [
    "BBOX_MARGIN_DEG",
    "EXCEL_SUFFIXES",
    "LAT_NAMES",
    "LON_NAMES",
    "TEXT_ENCODINGS",
    "TEXT_SUFFIXES",
    "VECTOR_SUFFIXES",
    "DataWarning",
    "column_hint",
    "drop_empty_geometries",
    "filter_rows",
    "lonlat_extent",
    "missing_column_fix",
    "near_column",
    "points_from_table",
    "quote_columns",
    "read_csv_points",
    "read_excel_points",
    "read_json_records",
    "read_layer",
    "read_vector",
    "repair_geometries",
    "text_encoding"
]

#: Column names recognised as longitude / latitude when none are declared.
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度", "wgs84_lon", "gcj_lon", "bd_lon",
             "location.lng", "location_lng")  # the last two: a Baidu Place API export flattened by json_normalize
LAT_NAMES = ("lat", "latitude", "y", "纬度", "wgs84_lat", "gcj_lat", "bd_lat", "location.lat", "location_lat")

VECTOR_SUFFIXES = {".gpkg", ".geojson", ".shp", ".fgb", ".gml", ".kml", ".parquet", ".zip"}
#: Spreadsheets read as point tables (pandas with python-calamine, a Rust reader 5x faster than openpyxl).
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")


class DataWarning(UserWarning):
    """Something in the input was repaired or dropped; the run goes on and reports it."""


def _name(path: str | os.PathLike) -> str:
    return str(path)


def quote_columns(columns: Any, n: int = 40) -> str:
    """Column names for a message, each quoted with ``repr`` so that spaces show: ``'lon ', 'lat'``.

    Examples
    --------
    >>> quote_columns(["name", "lon ", "纬度"])
    "'name', 'lon ', '纬度'"
    """
    cols = [str(c) for c in columns]
    return ", ".join(map(repr, cols[:n])) + (f", ... ({len(cols)} in all)" if len(cols) > n else "")


def near_column(wanted: str, columns: Any) -> str | None:
    """The column that differs from ``wanted`` only by surrounding spaces or by case, if exactly one does."""
    cols = [str(c) for c in columns]
    for same in (lambda c: c.strip() == wanted.strip(), lambda c: c.strip().lower() == wanted.strip().lower()):
        hits = [c for c in cols if c != wanted and same(c)]
        if len(hits) == 1:
            return hits[0]
    return None


def column_hint(wanted: str, columns: Any) -> str:
    """What is wrong with a name that is not a column, when a column nearly matches it ('' if none does).

    Examples
    --------
    >>> column_hint("lon", ["name", "lon ", "lat"])
    "column 'lon ' has a trailing space"
    >>> column_hint("Lat", ["lon", "lat"])
    "column 'lat' differs only in case"
    """
    c = near_column(wanted, columns)
    if c is None:
        return ""
    if c.strip() != wanted.strip():
        return f"column {c!r} differs only in case"
    lead, trail = c != c.lstrip(), c != c.rstrip()
    what = "a leading and a trailing space" if lead and trail else "a leading space" if lead else "a trailing space"
    if wanted != wanted.strip():
        return f"column {c!r} is without the spaces of {wanted!r}"
    return f"column {c!r} has {what}"


def missing_column_fix(wanted: str, columns: Any, key: str | None = None) -> str:
    """The fix for a column name that is not in the file: the near match to write, else the columns there are."""
    c = near_column(wanted, columns)
    if c is not None:
        where = f"write {key} = {c!r} in the config" if key else f"name the column {c!r} in the config"
        return f"{where} (exactly as in the file), or rename the column to {wanted!r} in the file"
    return f"use one of the columns: {quote_columns(columns)}"


def lonlat_extent(geom: shapely.Geometry | tuple[float, float, float, float] | None) -> str:
    """A WGS84 geometry's (or bounds') extent in words, for messages: ``lon 121.370 to 121.481, lat 31.120 to 31.230``.

    Examples
    --------
    >>> lonlat_extent(shapely.box(121.37, 31.12, 121.48, 31.23))
    'lon 121.370 to 121.480, lat 31.120 to 31.230'
    """
    b = geom if isinstance(geom, tuple) else (None if geom is None or geom.is_empty else geom.bounds)
    if b is None or not np.all(np.isfinite(b)):
        return "nowhere on the globe (its corners do not convert to lon/lat)"
    span = min(b[2] - b[0], b[3] - b[1])
    d = 3 if span >= 0.01 else 4 if span >= 0.001 else 6  # a small extent keeps its two ends apart
    return f"lon {b[0]:.{d}f} to {b[2]:.{d}f}, lat {b[1]:.{d}f} to {b[3]:.{d}f}"


# PLR0913 waived: a data source's reader options (toolkit.sources.Source.reader_options), all keywords
def read_layer(  # noqa: PLR0913
    path: str | os.PathLike,
    *,
    crs: Any = None,
    layer: str | None = None,
    lon: str | None = None,
    lat: str | None = None,
    encoding: str | None = None,
    records: str | None = None,
    where: dict[str, Any] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> gpd.GeoDataFrame:
    """Read any supported layer into WGS84.

    Parameters
    ----------
    path : path-like
        GPKG, GeoJSON, Shapefile (and anything else pyogrio reads), a CSV or
        Excel (``.xlsx``) point table, or a JSON file of records with lon/lat fields.
    crs : str or int, optional
        Declared CRS of the coordinates; overrides what the file claims.
        ``"gcj02"`` and ``"bd09"`` are converted to WGS84.
    layer : str, optional
        Layer name in a multi-layer file; the sheet of an Excel workbook (the first when omitted).
    lon, lat : str, optional
        Coordinate columns of a CSV / Excel / JSON records table.
    encoding : str, optional
        Text encoding of a CSV; UTF-8 then GB18030 (a superset of GBK) are
        tried when omitted.
    records : str, optional
        For JSON that is not GeoJSON: the key holding the list of records.
    where : dict, optional
        Keep rows whose column equals the value (or is in the list of values).
    bbox : tuple, optional
        WGS84 (lon_min, lat_min, lon_max, lat_max): a vector file in geographic
        coordinates is read only around it (GDAL's spatial filter, with a margin
        wide enough for GCJ-02 and BD-09 offsets), so a district reads what lies
        near it of a city-wide layer. Other files are read whole. The result may
        then be empty.

    Returns
    -------
    GeoDataFrame
        In EPSG:4326.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", source=_name(p), fix="check the path in the study config")
    suffix = p.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        gdf = read_csv_points(p, crs=crs, lon=lon, lat=lat, encoding=encoding)
    elif suffix in EXCEL_SUFFIXES:
        gdf = read_excel_points(p, crs=crs, lon=lon, lat=lat, sheet=layer)
    elif (suffix == ".json" and records is not None) or (suffix == ".json" and _is_records_json(p)):
        gdf = read_json_records(p, crs=crs, lon=lon, lat=lat, records=records)
    else:
        gdf = read_vector(p, crs=crs, layer=layer, bbox=bbox)
    if where:
        gdf = filter_rows(gdf, where, source=_name(p))
    return gdf


def _is_records_json(p: Path) -> bool:
    with open(p, "rb") as f:
        head = f.read(4096)
    return b'"FeatureCollection"' not in head and b'"Feature"' not in head


def filter_rows(gdf: gpd.GeoDataFrame, where: dict[str, Any], *, source: str) -> gpd.GeoDataFrame:
    """Keep rows matching every ``column: value(s)`` condition."""
    mask = np.ones(len(gdf), dtype=bool)
    for col, val in where.items():
        if col not in gdf.columns:
            hint = column_hint(str(col), gdf.columns)
            raise InputError(f"column {col!r} used in a filter does not exist" + (f" ({hint})" if hint else ""),
                             source=source, field=col, fix=missing_column_fix(str(col), gdf.columns))
        vals = val if isinstance(val, list | tuple | set) else [val]
        mask &= gdf[col].isin(vals).to_numpy()
    return gdf.loc[mask]


#: Degrees added around a read's bbox: GCJ-02 and BD-09 lie up to about 1 km from WGS84.
BBOX_MARGIN_DEG = 0.02


def read_vector(path: str | os.PathLike, *, crs: Any = None, layer: str | None = None,
                bbox: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
    """Read a vector file with pyogrio, repair invalid geometries, return WGS84.

    ``bbox`` (WGS84) limits the read of a file in geographic coordinates to
    the features near it; see :func:`read_layer`.
    """
    p = Path(path)
    window = None
    try:
        if bbox is not None:
            import pyogrio

            file_crs = pyogrio.read_info(p, layer=layer).get("crs")
            if file_crs and pyproj.CRS.from_user_input(file_crs).is_geographic:
                m = BBOX_MARGIN_DEG
                window = (bbox[0] - m, bbox[1] - m, bbox[2] + m, bbox[3] + m)
        gdf = gpd.read_file(p, layer=layer, engine="pyogrio", bbox=window)
    except Exception as exc:
        raise InputError(f"cannot read the layer: {exc}", source=_name(p), field=layer,
                         fix="check that the file is a valid GPKG/GeoJSON/Shapefile") from None
    if len(gdf) == 0 and window is not None:
        return to_wgs84(gdf, crs, source=_name(p))  # nothing near the study: reported as 0 kept
    if len(gdf) == 0:
        raise InputError("the layer is empty (no features)", source=_name(p), field=layer,
                         fix="export the layer again with its features, or remove it from the study")
    gdf = drop_empty_geometries(gdf, source=_name(p))
    gdf = repair_geometries(gdf, source=_name(p))
    return to_wgs84(gdf, crs, source=_name(p))


def drop_empty_geometries(gdf: gpd.GeoDataFrame, *, source: str) -> gpd.GeoDataFrame:
    """Drop rows with missing or empty geometry, warning with their row numbers."""
    bad = gdf.geometry.isna().to_numpy() | gdf.geometry.is_empty.to_numpy()
    if bad.all():
        raise InputError("every feature has an empty geometry", source=source, field="geometry",
                         fix="check the export: the geometry column is empty")
    if bad.any():
        rows = np.flatnonzero(bad)
        warnings.warn(f"{source}: dropped {bad.sum()} features with empty geometry (rows {_rows(rows)})",
                      DataWarning, stacklevel=3)
        gdf = gdf.loc[~bad]
    return gdf


def repair_geometries(gdf: gpd.GeoDataFrame, *, source: str) -> gpd.GeoDataFrame:
    """Repair invalid (e.g. self-intersecting) polygons with ``make_valid`` and report them."""
    valid = gdf.geometry.is_valid.to_numpy()
    if valid.all():
        return gdf
    rows = np.flatnonzero(~valid)
    reasons = shapely.is_valid_reason(gdf.geometry.values[rows])
    warnings.warn(
        f"{source}: repaired {len(rows)} invalid geometries (rows {_rows(rows)}; first: {reasons[0]})",
        DataWarning, stacklevel=3,
    )
    gdf = gdf.copy()
    orig = np.asarray(gdf.geometry.values[rows])
    fixed = shapely.make_valid(orig)
    # make_valid may return a GeometryCollection of polygons and stray lines; a
    # polygon stays polygonal so areas and overlays keep their meaning.
    was_poly = np.isin(shapely.get_type_id(orig), [3, 6])
    fixed = np.array([_polygonal(g) if p else g for g, p in zip(fixed, was_poly, strict=True)], dtype=object)
    gdf.geometry.values[rows] = fixed
    return gdf


def _polygonal(g: shapely.Geometry) -> shapely.Geometry:
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in getattr(g, "geoms", [g]) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else g


def _rows(rows: np.ndarray, n: int = 10) -> str:
    s = ", ".join(str(int(r)) for r in rows[:n])
    return s + (", ..." if len(rows) > n else "")


#: Suffixes read as delimited text tables (:func:`read_csv_points`).
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
#: Encodings tried, in order, when a text table declares none: UTF-8 (with or without the byte-order mark
#: Excel and Amap exports start with), then GB18030, the superset of GBK that Chinese exports use.
TEXT_ENCODINGS = ("utf-8", "gb18030")


def text_encoding(path: str | os.PathLike, encoding: str | None = None) -> str | None:
    """The encoding :func:`read_layer` reads a text table with: the declared one, else the first that decodes.

    ``"utf-8-sig"`` is UTF-8 with a byte-order mark, ``"utf-8"`` without one; ``None`` when no
    candidate decodes the file (reading it is then an error naming the encodings tried). This is
    what run.json records as the input's ``encoding``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_bytes("名称,lon,lat\\n".encode("gbk"))
    >>> text_encoding(p)
    'gb18030'
    """
    if encoding:
        return encoding
    data = Path(path).read_bytes()
    for enc in TEXT_ENCODINGS:
        try:
            data.decode(enc)
        except UnicodeDecodeError:
            continue
        return "utf-8-sig" if enc == "utf-8" and data.startswith(b"\xef\xbb\xbf") else enc
    return None


def _read_text_table(p: Path, encoding: str | None) -> tuple[pd.DataFrame, str]:
    enc = text_encoding(p, encoding)
    if enc is None:
        raise InputError(f"cannot decode the CSV as {' or '.join(TEXT_ENCODINGS)}", source=str(p),
                         field="encoding", fix="declare its encoding, e.g. encoding = 'gbk' or 'utf-8', in the "
                         "source, or save it again as UTF-8")
    opts = {"sep": None if p.suffix.lower() == ".txt" else ",",
            "engine": "python" if p.suffix.lower() == ".txt" else "c"}
    try:
        df = pd.read_csv(p, encoding=enc, **opts)
    except UnicodeDecodeError as exc:  # only a declared encoding can fail here
        raise InputError(f"cannot decode the CSV as {enc} ({exc})", source=str(p), field="encoding",
                         fix="declare the file's encoding ('utf-8' or 'gbk'), or leave encoding out to have it "
                         "detected") from None
    except LookupError:
        raise InputError(f"unknown encoding {enc!r}", source=str(p), field="encoding",
                         fix="use 'utf-8', 'utf-8-sig', 'gbk' or 'gb18030'") from None
    except pd.errors.EmptyDataError:
        raise InputError("the CSV file is empty", source=str(p),
                         fix="export the table again with a header row and data") from None
    return _keep_leading_zeros(p, df, enc, opts), enc


def _keep_leading_zeros(p: Path, df: pd.DataFrame, enc: str, opts: dict[str, Any]) -> pd.DataFrame:
    """Numeric-looking columns whose text has leading zeros, back as text.

    Codes are zero-padded (an Amap typecode 090601, a Geofabrik-style 0205):
    read as numbers they become 90601, which no classification table knows.
    """
    # only whole numbers can have lost a zero (a code column with blanks reads as float): coordinates
    # are not, so most point tables are not read twice
    def whole(col: pd.Series) -> bool:
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            return False
        v = col.dropna().to_numpy()
        return pd.api.types.is_integer_dtype(col) or bool(len(v) and np.all(np.mod(v, 1) == 0))

    numeric = [c for c in df.columns if whole(df[c])]
    if not numeric:
        return df
    text = pd.read_csv(p, encoding=enc, dtype=str, keep_default_na=False, usecols=numeric, **opts)
    for c in numeric:
        if c in text.columns and text[c].str.match(r"\s*[+-]?0\d").any():
            df[c] = text[c].str.strip().replace("", pd.NA).astype("string")
    return df


def _pick(columns: list[str], wanted: str | None, names: tuple[str, ...], what: str, p: Path) -> str:
    if wanted is not None:
        if wanted in columns:
            return wanted
        near = near_column(wanted, columns)
        if near is not None and near.strip() == wanted.strip():
            # Only spaces differ (an exported header "lon "): the name can mean nothing else, and the
            # columns are found this way when none is declared. Accepted, and said.
            warnings.warn(f"{p}: {column_hint(wanted, columns)}: read as the declared {what} = {wanted!r} "
                          "(take the spaces out of the header to make this note go away)", DataWarning,
                          stacklevel=4)
            return near
        hint = column_hint(wanted, columns)
        raise InputError(f"the {what} column {wanted!r} does not exist" + (f" ({hint})" if hint else ""),
                         source=str(p), field=what, fix=missing_column_fix(wanted, columns, what))
    lower = {c.strip().lower(): c for c in columns}
    for n in names:
        if n in lower:
            return lower[n]
    raise InputError(f"no {what} column found", source=str(p), field=what,
                     fix=f"name it with {what} = '...' in the config; columns are: {quote_columns(columns)}")


#: How rows are numbered in messages: as a spreadsheet shows them (the header is row 1, the
#: first data row row 2), or, for JSON, as records counted from 1.
ROWS_SHEET, ROWS_RECORDS = "sheet", "records"
_ROW_NOTE = {ROWS_SHEET: "rows numbered as in a spreadsheet: the header is row 1",
             ROWS_RECORDS: "records counted from 1"}


def _row_list(pos: np.ndarray, rows: str, n: int = 10) -> str:
    """Positions (0 = the first data row) as the user finds them in the file: ``rows 3, 5``."""
    pos = np.asarray(pos)
    word = "record" if rows == ROWS_RECORDS else "row"
    return f"{word}{'s' if len(pos) > 1 else ''} {_rows(pos + (1 if rows == ROWS_RECORDS else 2), n)}"


def _n(k: int, word: str) -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"


def points_from_table(
    df: pd.DataFrame,
    *,
    source: str,
    crs: Any = None,
    lon: str | None = None,
    lat: str | None = None,
    rows: str = ROWS_SHEET,
) -> gpd.GeoDataFrame:
    """Validate lon/lat columns of a table and build WGS84 points.

    Swapped columns and out-of-range values are errors naming the rows,
    because a silently misplaced point is worse than no point. When only some
    rows have their lon and lat the other way round, the rows are named and the
    fix is to correct them; swapping the columns is offered only when every row
    is swapped. Rows are numbered as a spreadsheet shows them (header = row 1)
    unless ``rows = "records"`` (JSON: the first record is 1).
    """
    p = Path(source)
    cols = [str(c) for c in df.columns]
    df.columns = cols
    lon_c = _pick(cols, lon, LON_NAMES, "lon", p)
    lat_c = _pick(cols, lat, LAT_NAMES, "lat", p)
    x = pd.to_numeric(df[lon_c], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(df[lat_c], errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(x) | np.isnan(y)
    if bad.all():
        raise InputError("no row has numeric coordinates", source=source, field=f"{lon_c}/{lat_c}",
                         fix="check the coordinate columns hold decimal degrees")
    if bad.any():
        warnings.warn(f"{source}: dropped {bad.sum()} rows without numeric {lon_c}/{lat_c} "
                      f"({_row_list(np.flatnonzero(bad), rows)}; {_ROW_NOTE[rows]})", DataWarning, stacklevel=3)
    ok = ~bad
    declared = parse_crs(crs, source=source) if crs is not None else parse_crs(WGS84)
    geographic = isinstance(declared, str) or declared.is_geographic
    if geographic:
        _check_degrees(x[ok], y[ok], np.flatnonzero(ok), lon_c, lat_c, source, rows)
    gdf = gpd.GeoDataFrame(df.loc[ok].drop(columns=[lon_c, lat_c]),
                           geometry=gpd.points_from_xy(x[ok], y[ok]), crs=None)
    if isinstance(declared, str):
        return to_wgs84(gdf, declared, source=source)
    return to_wgs84(gdf.set_crs(declared), source=source)


def _check_degrees(xv: np.ndarray, yv: np.ndarray, pos: np.ndarray, lon_c: str, lat_c: str, source: str,
                   rows: str) -> None:
    """Raise on coordinates that cannot be degrees: swapped in every row, in some rows, or out of range."""
    out = (np.abs(xv) > 180) | (np.abs(yv) > 90)
    if not out.any():
        return
    # a latitude above 90 with a longitude that would be a fine latitude: lon and lat the other way round
    swapped = (np.abs(yv) > 90) & (np.abs(yv) <= 180) & (np.abs(xv) <= 90)
    field = f"{lon_c}/{lat_c}"
    note = _ROW_NOTE[rows]

    def eg(i: int) -> str:
        return f"{_row_list(pos[[i]], rows)}: {lon_c}={xv[i]:g}, {lat_c}={yv[i]:g}"

    if swapped.all():
        raise InputError(
            f"latitude values above 90 in every row ({len(xv)}; e.g. {eg(0)}): "
            f"the {lon_c!r} and {lat_c!r} columns look swapped",
            source=source, field=field,
            fix=f"declare lon = '{lat_c}' and lat = '{lon_c}' in the config, or swap the two columns' headers",
        )
    if swapped.any() and not (out & ~swapped).any():
        n, m = int(swapped.sum()), len(xv)
        where = _row_list(pos[swapped], rows)
        raise InputError(
            f"{n} of {_n(m, 'row')} have their longitude and latitude the other way round: {where} "
            f"(e.g. {eg(int(np.flatnonzero(swapped)[0]))}); the other {m - n} are in order ({note})",
            source=source, field=field,
            fix=f"swap the {lon_c!r} and {lat_c!r} values in {where} of the file, or delete "
                f"{'them' if n > 1 else 'it'}; do not swap the columns or the lon/lat declaration: that would "
                f"break the other {_n(m - n, 'row')}",
        )
    bad = out & ~swapped
    k = int(swapped.sum())
    also = (f"; {k} more {'have their' if k > 1 else 'has its'} longitude and latitude the other way round: "
            f"{_row_list(pos[swapped], rows)}") if k else ""
    raise InputError(
        f"{_n(int(bad.sum()), 'row')} with coordinates out of range: {_row_list(pos[bad], rows)} "
        f"(e.g. {eg(int(np.flatnonzero(bad)[0]))}){also} ({note})",
        source=source, field=field,
        fix="coordinates must be decimal degrees (longitude -180..180, latitude -90..90): correct those rows; "
            "if the columns are projected metres, declare their crs",
    )


def read_csv_points(
    path: str | os.PathLike,
    *,
    crs: Any = None,
    lon: str | None = None,
    lat: str | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a CSV of points (UTF-8 or GBK/GB18030) into WGS84.

    The encoding actually used is stored in ``gdf.attrs["encoding"]``.

    Parameters
    ----------
    path : path-like
        The CSV file.
    crs : CRS-like, optional
        The CRS of the coordinates: ``"gcj02"`` and ``"bd09"`` (Amap, Baidu exports) are converted to WGS84;
        WGS84 when omitted.
    lon, lat : str, optional
        The coordinate columns; found by name (``lon``, ``经度``, ``POINT_X``...) when omitted.
    encoding : str, optional
        The text encoding; UTF-8, then GB18030 when omitted.

    Returns
    -------
    GeoDataFrame
        The other columns, points in EPSG:4326.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "clinics.csv"
    >>> _ = p.write_bytes("名称,经度,纬度\\n诊所,121.4411,31.1926\\n".encode("gbk"))
    >>> g = read_csv_points(p, crs="gcj02", encoding="gbk")
    >>> g.crs.to_epsg(), round(float(g.geometry.x[0]), 4), round(float(g.geometry.y[0]), 4)
    (4326, 121.4365, 31.1945)
    """
    p = Path(path)
    df, enc = _read_text_table(p, encoding)
    if len(df) == 0:
        raise InputError("the CSV has a header but no rows", source=str(p),
                         fix="export the table again with its data")
    gdf = points_from_table(df, source=str(p), crs=crs, lon=lon, lat=lat)
    gdf.attrs["encoding"] = enc
    return gdf


def read_excel_points(
    path: str | os.PathLike,
    *,
    crs: Any = None,
    lon: str | None = None,
    lat: str | None = None,
    sheet: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a sheet of an Excel workbook holding points (one row each, lon/lat columns) into WGS84.

    Planners' tables (compound lists, survey points) often come as ``.xlsx``;
    they are read with pandas (python-calamine) and validated as CSV tables are
    (:func:`points_from_table`). Cells stay as Excel stored them: text such as
    ``"暂无"`` or ``"2010年"`` is left to the caller to parse.

    Parameters
    ----------
    path : path-like
        ``.xlsx`` / ``.xlsm`` (``.xls`` needs the xlrd package).
    crs, lon, lat
        As for :func:`read_csv_points`.
    sheet : str, optional
        Sheet name; the first sheet when omitted.

    Returns
    -------
    GeoDataFrame
        In EPSG:4326; the index is the data row (0 = the first row under the header).

    Raises
    ------
    InputError
        The workbook cannot be read, the sheet does not exist, or it has no rows.

    Examples
    --------
    >>> g = read_excel_points("compounds.xlsx", lon="POINT_X", lat="POINT_Y")  # doctest: +SKIP
    >>> g.crs.to_epsg()  # doctest: +SKIP
    4326
    """
    p = Path(path)
    try:
        book = pd.ExcelFile(p, engine="calamine")
    except ImportError as exc:
        raise InputError(f"cannot open the workbook: {exc}", source=str(p), field="engine",
                         fix="pip install python-calamine, or save the sheet as CSV (UTF-8)") from None
    except Exception as exc:  # a damaged or mislabelled file: zip, XML and format errors alike
        raise InputError(f"cannot read the workbook: {exc}", source=str(p),
                         fix="check that it is an Excel workbook (.xlsx), or save the sheet as CSV (UTF-8)") from None
    with book:
        if sheet is not None and sheet not in book.sheet_names:
            raise InputError(f"no sheet named {sheet!r}", source=str(p), field="layer",
                             fix=f"name one of the sheets: {', '.join(map(str, book.sheet_names))}")
        df = pd.read_excel(book, sheet_name=sheet if sheet is not None else 0)
    if len(df) == 0:
        raise InputError("the sheet has a header but no rows" if len(df.columns) else "the sheet is empty",
                         source=str(p), field="layer",
                         fix="name the sheet holding the table with layer = '<sheet>', or export it again")
    return points_from_table(df, source=str(p), crs=crs, lon=lon, lat=lat)


def read_json_records(
    path: str | os.PathLike,
    *,
    crs: Any = None,
    lon: str | None = None,
    lat: str | None = None,
    records: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a JSON file holding a list of records with lon/lat fields (strings allowed)."""
    p = Path(path)
    try:
        with open(p, encoding="utf-8-sig") as f:
            raw = json.load(f)
    except UnicodeDecodeError as exc:
        raise InputError(f"the JSON is not UTF-8 ({exc})", source=str(p), field="encoding",
                         fix="save the file again as UTF-8 (JSON files are UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"the file is not valid JSON: {exc}", source=str(p),
                         fix="check the export: it was cut short or is not JSON") from None
    if records is not None:
        if not isinstance(raw, dict) or records not in raw:
            raise InputError(f"no key {records!r} in the JSON", source=str(p), field="records",
                             fix="name the key that holds the list of records")
        rows = raw[records]
    elif isinstance(raw, list):
        rows = raw
    else:
        lists = [k for k, v in raw.items() if isinstance(v, list)]
        if len(lists) != 1:
            raise InputError("cannot tell which key holds the records", source=str(p), field="records",
                             fix=f"declare records = one of {lists}")
        rows = raw[lists[0]]
    if not rows:
        raise InputError("the JSON holds no records", source=str(p), fix="check the export")
    df = pd.DataFrame.from_records(rows)
    return points_from_table(df, source=str(p), crs=crs, lon=lon, lat=lat, rows=ROWS_RECORDS)
