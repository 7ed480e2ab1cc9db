"""Compare two output folders of a study: every GeoPackage layer and run.json's figures.

Usage::

    .venv/bin/python bench/compare_outputs.py A B [--tol 1e-9] [--ignore KEY ...] [--max 20]

``A`` and ``B`` are study output folders (``maps/xuhui``), each holding one ``*.gpkg``
and ``run.json``. For every layer of the GeoPackages (the attribute tables too, e.g.
``layer_styles``, less their time stamps) the script compares the columns (names and
order), the dtypes, the values (numbers within ``--tol``, relative and absolute,
missing equal to missing; everything else exactly) and the geometries
(``shapely.equals_exact`` within ``--tol``). run.json is compared key by key, floats
within ``--tol``, except what differs between two runs of the same inputs by nature:
timings, dates, file paths and versions (:data:`IGNORED`, plus ``--ignore``).

Every difference is printed with where it is (layer, column, row; or the JSON path);
the exit code is 1 when there is any, 0 when the folders hold the same outputs.

Examples
--------
>>> _json_diff({"a": 1.0, "timings_s": {"x": 1}}, {"a": 1.0 + 1e-12, "timings_s": {"x": 2}}, "", 1e-9)
[]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import shapely

__all__ = ["IGNORED", "compare_folders", "compare_gpkg", "compare_run_json", "main"]

#: run.json keys (at any depth) that differ between two runs of the same inputs: timings, dates, paths, versions.
IGNORED = frozenset({"timings_s", "created", "toolkit_version", "file", "source_file", "base_dir", "folder",
                     "path_resolved", "seconds"})  # seconds: a solver's time (decisions.selection)
#: Attribute-table columns that are time stamps (QGIS's layer_styles).
TIME_COLUMNS = frozenset({"update_time", "last_change"})


def _gpkg(folder: Path) -> Path:
    found = sorted(folder.glob("*.gpkg"))
    if len(found) != 1:
        raise SystemExit(f"{folder}: expected one GeoPackage, found {len(found)}")
    return found[0]


def _close(a: np.ndarray, b: np.ndarray, tol: float) -> np.ndarray:
    """Element-wise equality of two float arrays within ``tol`` (relative and absolute); NaN equals NaN."""
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        return both_nan | (a == b) | np.isclose(a, b, rtol=tol, atol=tol)


def _equal(x: Any, y: Any) -> bool:
    """Two cell values equal (arrays element-wise; values that cannot be compared are different)."""
    try:
        r = x == y
        return bool(np.all(r)) if isinstance(r, np.ndarray) else bool(r)
    except (TypeError, ValueError):
        return False


def _column_diff(name: str, a: pd.Series, b: pd.Series, tol: float, limit: int) -> list[str]:
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b) and not (
            pd.api.types.is_bool_dtype(a) or pd.api.types.is_bool_dtype(b)):
        ok = _close(a.to_numpy(dtype=float, na_value=np.nan), b.to_numpy(dtype=float, na_value=np.nan), tol)
    else:
        na_a, na_b = a.isna().to_numpy(), b.isna().to_numpy()
        va, vb = a.astype(object).to_numpy(), b.astype(object).to_numpy()
        both = np.flatnonzero(~na_a & ~na_b)
        same = np.zeros(len(a), dtype=bool)
        same[both] = [_equal(va[i], vb[i]) for i in both]
        ok = (na_a & na_b) | same
    bad = np.flatnonzero(~ok)
    out = [f"{name}: row {i}: {a.iloc[i]!r} != {b.iloc[i]!r}" for i in bad[:limit]]
    if len(bad) > limit:
        out.append(f"{name}: ... {len(bad) - limit} more rows differ ({len(bad)} of {len(a)})")
    return out


def _geometry_diff(layer: str, a: np.ndarray, b: np.ndarray, tol: float, limit: int) -> list[str]:
    miss_a, miss_b = shapely.is_missing(a), shapely.is_missing(b)
    ok = (miss_a & miss_b)
    both = ~miss_a & ~miss_b
    ok[both] = shapely.equals_exact(a[both], b[both], tolerance=tol)
    bad = np.flatnonzero(~ok)
    out = [f"{layer}.geometry: row {i} differs" for i in bad[:limit]]
    if len(bad) > limit:
        out.append(f"{layer}.geometry: ... {len(bad) - limit} more rows differ ({len(bad)} of {len(a)})")
    return out


def compare_layer(layer: str, a: pd.DataFrame, b: pd.DataFrame, tol: float = 1e-9, limit: int = 20) -> list[str]:
    """The differences between two reads of one layer (columns, dtypes, values, geometry)."""
    out: list[str] = []
    if len(a) != len(b):
        return [f"{layer}: {len(a)} rows != {len(b)} rows"]
    ca, cb = [c for c in a.columns if c not in TIME_COLUMNS], [c for c in b.columns if c not in TIME_COLUMNS]
    if ca != cb:
        out.append(f"{layer}: columns differ: only in A {sorted(set(ca) - set(cb))}, only in B "
                   f"{sorted(set(cb) - set(ca))}" + ("" if set(ca) != set(cb) else f" (order: {ca} vs {cb})"))
    for c in [c for c in ca if c in cb]:
        if c == "geometry":
            out += _geometry_diff(layer, np.asarray(a[c].values), np.asarray(b[c].values), tol, limit)
            continue
        if str(a[c].dtype) != str(b[c].dtype):
            out.append(f"{layer}.{c}: dtype {a[c].dtype} != {b[c].dtype}")
        out += _column_diff(f"{layer}.{c}", a[c].reset_index(drop=True), b[c].reset_index(drop=True), tol, limit)
    return out


def compare_gpkg(a: Path, b: Path, tol: float = 1e-9, limit: int = 20) -> list[str]:
    """The differences between every layer of two GeoPackages (the attribute tables too)."""
    la = [str(n) for n, _ in pyogrio.list_layers(a)]
    lb = [str(n) for n, _ in pyogrio.list_layers(b)]
    out: list[str] = []
    if la != lb:
        out.append(f"layers differ: A {la}, B {lb}")
    for layer in [x for x in la if x in lb]:
        da = pyogrio.read_dataframe(a, layer=layer)
        db = pyogrio.read_dataframe(b, layer=layer)
        out += compare_layer(layer, da, db, tol, limit)
    return out


def _json_diff(a: Any, b: Any, path: str, tol: float, ignore: Iterable[str] = IGNORED) -> list[str]:
    ignore = frozenset(ignore)
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in [k for k in a if k not in ignore and k not in b]:
            out.append(f"{path}.{k}: only in A")
        for k in [k for k in b if k not in ignore and k not in a]:
            out.append(f"{path}.{k}: only in B")
        for k in [k for k in a if k in b and k not in ignore]:
            out += _json_diff(a[k], b[k], f"{path}.{k}", tol, ignore)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _json_diff(x, y, f"{path}[{i}]", tol,
                                                                                          ignore)]
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        if a == b or math.isclose(a, b, rel_tol=tol, abs_tol=tol):
            return []
        return [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def compare_run_json(a: Path, b: Path, tol: float = 1e-9, ignore: Iterable[str] = ()) -> list[str]:
    """The differences between two run.json files, less :data:`IGNORED` and ``ignore``."""
    ja = json.loads(a.read_text(encoding="utf-8"))
    jb = json.loads(b.read_text(encoding="utf-8"))
    out = []
    if [k for k in ja if k in jb] != [k for k in jb if k in ja]:
        out.append("run.json: the keys are in another order")
    return out + _json_diff(ja, jb, "run.json", tol, IGNORED | set(ignore))


def compare_folders(a: Path, b: Path, tol: float = 1e-9, ignore: Iterable[str] = (), limit: int = 20) -> list[str]:
    """Every difference between two output folders' GeoPackage and run.json."""
    return compare_gpkg(_gpkg(a), _gpkg(b), tol, limit) + compare_run_json(a / "run.json", b / "run.json", tol,
                                                                             ignore)


def main(argv: list[str] | None = None) -> int:
    """Command line: print the differences, return 1 when there are any."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--tol", type=float, default=1e-9, help="tolerance of numbers and coordinates (default 1e-9)")
    p.add_argument("--ignore", nargs="*", default=[], help="further run.json keys to leave out (any depth)")
    p.add_argument("--max", type=int, default=20, help="differences printed per column")
    args = p.parse_args(argv)
    diffs = compare_folders(args.a, args.b, args.tol, args.ignore, args.max)
    for d in diffs:
        print(d)
    print(f"{len(diffs)} difference(s) between {args.a} and {args.b}" if diffs else
          f"identical: {args.a} and {args.b} (GeoPackage layers and run.json, tolerance {args.tol:g})")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
