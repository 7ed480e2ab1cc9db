"""Coordinate reference systems: parsing, Chinese datums and metric projections.

GCJ-02 ("Mars coordinates", used by Amap/Gaode, Tencent, Aliyun DataV) and
BD-09 (Baidu) are not EPSG systems: they are WGS84 with a deliberate,
non-linear offset. pyproj cannot express them, so they are handled here as
named pseudo-CRSs that are converted to WGS84 on import. The forward formula
is the published GCJ-02 algorithm; its inverse has no closed form, so it is
solved by fixed-point iteration to well below a millimetre.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from .errors import GeographicCRSError, InputError

__all__ = [
    "BD09_NAMES",
    "GCJ02_NAMES",
    "MAX_SCALE_ERROR",
    "WGS84",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "ensure_projected",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "parse_crs",
    "scale_error",
    "to_wgs84",
    "utm_crs_for",
    "wgs84_to_bd09",
    "wgs84_to_gcj02"
]

#: Names accepted for the Chinese pseudo-CRSs (case-insensitive).
GCJ02_NAMES = {"gcj02", "gcj-02", "gcj", "mars", "amap", "gaode"}
BD09_NAMES = {"bd09", "bd-09", "baidu"}
WGS84 = "EPSG:4326"

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 algorithm
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0


def _transform_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    # The offset is only applied inside mainland China's rough bounding box.
    return (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 lon/lat (degrees) to GCJ-02.

    GCJ-02 is the offset datum of Chinese web maps (Amap, Tencent); :func:`gcj02_to_wgs84` goes back.

    Parameters
    ----------
    lon, lat : float or array-like
        WGS84 longitude and latitude in degrees.

    Returns
    -------
    (ndarray, ndarray)
        GCJ-02 longitude and latitude.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(121.4365, 31.1945)  # Xujiahui: about 450 m east and 200 m south
    >>> round(float(lon), 4), round(float(lat), 4)
    (121.4411, 31.1926)
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _gcj_offset(lon, lat)
    inside = _in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(lon: Any, lat: Any, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 lon/lat to WGS84 by fixed-point iteration.

    The residual after convergence is below ``tol`` degrees (~1e-5 m).
    """
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(30):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon = wlon - elon
        wlat = wlat - elat
        if np.nanmax(np.abs(np.concatenate([elon.ravel(), elat.ravel()])), initial=0.0) < tol:
            break
    return wlon, wlat


def bd09_to_gcj02(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convert Baidu BD-09 lon/lat to GCJ-02 (Baidu's published inverse)."""
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 lon/lat to BD-09."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_wgs84(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convert BD-09 lon/lat to WGS84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 lon/lat to BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84 = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def parse_crs(crs: Any, *, source: str | None = None, field: str = "crs") -> str | pyproj.CRS:
    """Interpret a user's CRS declaration.

    Parameters
    ----------
    crs : str, int or pyproj.CRS
        ``"gcj02"`` / ``"bd09"`` (and aliases), an EPSG code (``4326``,
        ``"EPSG:32651"``) or anything :class:`pyproj.CRS` understands.
    source, field : str, optional
        Where the declaration came from, for the error message.

    Returns
    -------
    str or pyproj.CRS
        ``"gcj02"`` or ``"bd09"`` for the Chinese datums, else a CRS.

    Raises
    ------
    InputError
        If the name is not a known CRS.
    """
    if isinstance(crs, pyproj.CRS):
        return crs
    if isinstance(crs, str):
        key = crs.strip().lower()
        if key in GCJ02_NAMES:
            return "gcj02"
        if key in BD09_NAMES:
            return "bd09"
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise InputError(
            f"unknown CRS {crs!r}",
            source=source,
            field=field,
            fix="use an EPSG code such as 'EPSG:4326' or 'EPSG:32651', "
            "or 'gcj02' (Amap/Gaode/Tencent) or 'bd09' (Baidu)",
        ) from None


def _convert_geoms(geoms: np.ndarray, func) -> np.ndarray:
    def _xy(coords: np.ndarray) -> np.ndarray:
        if len(coords) == 0:
            return coords
        x, y = func(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, _xy)


def to_wgs84(gdf: gpd.GeoDataFrame, crs: Any = None, *, source: str | None = None) -> gpd.GeoDataFrame:
    """Return ``gdf`` in WGS84, converting GCJ-02/BD-09 when declared.

    Parameters
    ----------
    gdf : GeoDataFrame
        Data to convert; its index is kept.
    crs : optional
        Declared CRS of the coordinates. When given it overrides whatever the
        file claims (a GCJ-02 file labelled EPSG:4326 is the common case).
        When omitted, the frame's own CRS is used.
    source : str, optional
        File name for error messages.
    """
    declared = parse_crs(crs, source=source) if crs is not None else gdf.crs
    if declared is None:
        raise InputError(
            "the layer has no CRS and none was declared",
            source=source,
            field="crs",
            fix="declare it in the study config, e.g. crs = 'EPSG:4326' or crs = 'gcj02'",
        )
    if isinstance(declared, str) and declared in _TO_WGS84:
        out = gdf.copy()
        out.geometry.values[:] = _convert_geoms(np.asarray(gdf.geometry.values), _TO_WGS84[declared])
        out = out.set_crs(WGS84, allow_override=True)
        return out
    if crs is not None:
        gdf = gdf.set_crs(declared, allow_override=True)
    return gdf.to_crs(WGS84)


def from_wgs84(gdf: gpd.GeoDataFrame, target: str) -> gpd.GeoDataFrame:
    """Shift WGS84 geometries into GCJ-02 or BD-09 (e.g. for Amap basemaps)."""
    if target not in _FROM_WGS84:
        raise InputError(f"cannot shift to {target!r}", field="crs", fix="use 'gcj02' or 'bd09'")
    g = gdf.to_crs(WGS84)
    out = g.copy()
    out.geometry.values[:] = _convert_geoms(np.asarray(g.geometry.values), _FROM_WGS84[target])
    return out


def utm_crs_for(geom_wgs84: shapely.Geometry) -> pyproj.CRS:
    """The UTM zone CRS of a WGS84 geometry's centroid (EPSG:32651 for Shanghai)."""
    c = geom_wgs84.centroid
    zone = int((c.x + 180) // 6) + 1
    epsg = (32600 if c.y >= 0 else 32700) + zone
    return pyproj.CRS.from_epsg(epsg)


#: Largest stretch of distances a study CRS may have at the study area (1%): a CRS beyond it (Web
#: Mercator: 17% in Shanghai) makes every walk and coverage rate wrong with no other sign.
MAX_SCALE_ERROR = 0.01


def scale_error(crs: Any, geom_wgs84: shapely.Geometry) -> float:
    """Largest relative error of a distance measured in ``crs`` over the area (its centre and corners).

    Examples
    --------
    >>> area = shapely.box(121.38, 31.10, 121.50, 31.23)
    >>> round(scale_error("EPSG:3857", area), 3)
    0.169
    >>> scale_error("EPSG:32651", area) < 0.001
    True
    """
    c = shapely.centroid(geom_wgs84)
    x0, y0, x1, y1 = geom_wgs84.bounds
    lon = np.array([c.x, x0, x0, x1, x1])
    lat = np.array([c.y, y0, y1, y0, y1])
    f = pyproj.Proj(pyproj.CRS.from_user_input(crs)).get_factors(lon, lat)
    k = np.concatenate([np.asarray(f.meridional_scale), np.asarray(f.parallel_scale)])
    return float(np.max(np.abs(k - 1.0)))


def ensure_projected(obj: Any, what: str = "input") -> None:
    """Raise if ``obj`` (a GeoDataFrame, GeoSeries or CRS) is not in a metric CRS.

    Distances computed in degrees are the classic silent wrong answer, so every
    distance function calls this first.
    """
    crs = getattr(obj, "crs", obj)
    if crs is None:
        raise GeographicCRSError(
            f"{what} has no CRS, so its distances cannot be trusted",
            field="crs",
            fix="set the CRS, then project it with .to_crs(study.crs) before measuring distances",
        )
    crs = pyproj.CRS.from_user_input(crs)
    if not crs.is_projected:
        raise GeographicCRSError(
            f"{what} is in the geographic CRS {crs.to_string()}: distances would be in degrees",
            field="crs",
            fix="project it first, e.g. gdf.to_crs(study.crs) (EPSG:32651 for Shanghai)",
        )
    unit = crs.axis_info[0].unit_name if crs.axis_info else "metre"
    if unit not in ("metre", "meter"):
        raise GeographicCRSError(
            f"{what} is in {crs.to_string()} whose unit is {unit!r}, not metres",
            field="crs",
            fix="project to a metric CRS such as the study's UTM zone",
        )
