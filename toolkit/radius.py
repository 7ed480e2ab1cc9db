"""Sums of point weights within a Euclidean radius of many query points (a compiled cell-list search).

Walkability counts, around every block and every street segment of a city,
the intersections, nodes and street lengths within 400 m. At a million
places that is a few hundred million (place, point) pairs; materialising them
(``cKDTree.sparse_distance_matrix``) costs seconds per million places and
gigabytes. Here the points are bucketed in square cells of the radius, the
queries are visited cell by cell (so the same few cells stay in cache) and
each query scans only the 3 x 3 cells around it, adding the weights of the
points within the radius: no pair is ever stored.

numba compiles the loop (``cache=True`` keeps the machine code between runs).
It is single-threaded on purpose: batch runs call it from several threads at
once, which numba's default parallel backend does not allow.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["sums_within"]


@numba.njit(cache=True, nogil=True)
def _cell_sums(sx: np.ndarray, sy: np.ndarray, w: np.ndarray, cstart: np.ndarray, ncx: int, ncy: int,  # noqa: PLR0913  numba kernel: flat arrays, no dataclass
               x0: float, y0: float, cell: float, qx: np.ndarray, qy: np.ndarray,
               r2: float) -> np.ndarray:  # pragma: no cover - compiled
    n, k = len(qx), w.shape[1]
    out = np.zeros((n, k))
    for i in range(n):
        px, py = qx[i], qy[i]
        cx = int((px - x0) // cell)
        cy = int((py - y0) // cell)
        for yy in range(max(cy - 1, 0), min(cy + 1, ncy - 1) + 1):
            lo = cstart[yy * ncx + max(cx - 1, 0)]
            hi = cstart[yy * ncx + min(cx + 1, ncx - 1) + 1]
            for j in range(lo, hi):
                dx = sx[j] - px
                dy = sy[j] - py
                if dx * dx + dy * dy <= r2:
                    for c in range(k):
                        out[i, c] += w[j, c]
    return out


def sums_within(xy: np.ndarray, weights: list[np.ndarray], query_xy: np.ndarray, radius: float) -> list[np.ndarray]:
    """For each query point, the sum of each weight vector over the points within ``radius`` (inclusive).

    Parameters
    ----------
    xy : ndarray, shape (n, 2)
        Point coordinates in a projected CRS (metres).
    weights : list of ndarray, each shape (n,)
        Weight vectors over ``xy`` (use ones to count points).
    query_xy : ndarray, shape (m, 2)
        Query coordinates, same CRS.
    radius : float
        Metres; a point at exactly ``radius`` counts.

    Returns
    -------
    list of ndarray, each shape (m,)
        One array of sums per weight vector, in the order of ``query_xy``.
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    query_xy = np.asarray(query_xy, dtype=float).reshape(-1, 2)
    m = len(query_xy)
    if m == 0 or len(xy) == 0 or not weights:
        return [np.zeros(m) for _ in weights]
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive number of metres, got {radius!r}")
    lo = np.minimum(xy.min(axis=0), query_xy.min(axis=0))
    hi = np.maximum(xy.max(axis=0), query_xy.max(axis=0))
    # cells no smaller than the radius (so 3 x 3 cells hold the disc) and no more than
    # ~4 per point (an empty grid over a sparse, wide extent would waste memory)
    cell = max(float(radius), float(np.sqrt((hi - lo).prod() / max(len(xy), 1) / 4.0)))
    ncx, ncy = int((hi[0] - lo[0]) // cell) + 1, int((hi[1] - lo[1]) // cell) + 1

    def cell_key(p: np.ndarray) -> np.ndarray:
        return ((p[:, 1] - lo[1]) // cell).astype(np.int64) * ncx + ((p[:, 0] - lo[0]) // cell).astype(np.int64)

    key = cell_key(xy)
    order = np.argsort(key, kind="stable")
    cstart = np.searchsorted(key[order], np.arange(ncx * ncy + 1, dtype=np.int64))
    w = np.ascontiguousarray(np.column_stack([np.asarray(v, dtype=float) for v in weights])[order])
    q_order = np.argsort(cell_key(query_xy), kind="stable")
    q = query_xy[q_order]
    s = _cell_sums(np.ascontiguousarray(xy[order, 0]), np.ascontiguousarray(xy[order, 1]), w, cstart, ncx, ncy,
                   float(lo[0]), float(lo[1]), cell, np.ascontiguousarray(q[:, 0]), np.ascontiguousarray(q[:, 1]),
                   float(radius) ** 2)
    out = np.empty_like(s)
    out[q_order] = s
    return [out[:, c].copy() for c in range(out.shape[1])]
