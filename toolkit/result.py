"""What a run produced: :class:`StudyResult`, and its run record (run.json).

:func:`toolkit.study.run_study` builds the result; the writers
(:mod:`toolkit.outputs.writers`, :mod:`toolkit.outputs.webmap`, :mod:`toolkit.outputs.report`,
:mod:`toolkit.outputs.styles`) only read it, never change it. This module imports the
configuration, the network and the standards it holds, and the record
(:mod:`toolkit.record`), never the pipeline; the writers name its type in
annotations only and take the record from :mod:`toolkit.record`, so the one
call up from here, :meth:`StudyResult.save`, leads nowhere back.
``toolkit.study.StudyResult`` is the same class, re-exported there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .config import Study
from .network import WalkNetwork
from .record import run_record
from .standards import Profile

__all__ = ["StudyResult", "run_record"]


@dataclass
class StudyResult:
    """Everything a run produced. ``blocks``, ``facilities`` and ``streets`` are GeoDataFrames."""

    study: Study
    profile: Profile
    crs: pyproj.CRS
    area: gpd.GeoDataFrame
    network: WalkNetwork
    blocks: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    rates: pd.DataFrame
    categories: list[str]
    no_data: list[str]
    population_balance: dict[str, dict[str, float]]
    inputs: list[dict[str, str]]
    timings: dict[str, float]
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    streets: gpd.GeoDataFrame | None = None
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    land: shapely.Geometry | None = None  # the area blocks are drawn in: the study area less any water
    #: every registered overlay by name, in run order: what it returned (toolkit.overlays.OverlayOutput), or
    #: its absent record; the outputs show any overlay from it
    overlays: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.streets is None:
            self.streets = self.network.streets()

    def summary(self) -> pd.DataFrame:
        """Coverage rate per category (total and 65+), thresholds, facility counts and data status.

        ``status`` is the category's data status (``complete``, ``sample``,
        ``unknown``, ``suspect`` or ``no data``, see :mod:`toolkit.completeness`);
        ``flags_underserved`` says whether it may make a block underserved (only
        complete data can; the others are measured on incomplete data, their
        rates shown but never counted as a service gap); ``underserved_missing``
        is how many underserved blocks miss it, which explains the underserved
        count category by category (NA for categories that cannot flag, or
        without a decisions step).

        Returns
        -------
        DataFrame
            On ``category``: ``label``, ``threshold_m``, ``facilities``, ``rate_total``, ``rate_65plus``,
            ``status``, ``flags_underserved`` and ``underserved_missing``.

        Examples
        --------
        >>> result = tk.run_study(tk.load_study("xuhui"))  # doctest: +SKIP
        >>> result.summary()[["rate_total", "status"]].head(3)  # doctest: +SKIP
        """
        cats = self.profile.catalogue
        counted = self.details.get("facilities", {}).get("coverage_sources", {})
        ds = self.details.get("data_status", {})
        by_cat = (self.details.get("decisions") or {}).get("underserved", {}).get("by_category", {})
        rows = []
        for c in self.profile.categories:
            rule = self.profile.rule(c)
            n = int((self.facilities["category"] == c).sum()) if len(self.facilities) else 0
            # a size tier or a lower tier counts other categories' facilities, less the too small
            n = counted[c]["facilities"] if c in counted else n
            row = {"category": c, "label": cats[c].label(self.study.lang), "threshold_m": round(rule.max_distance_m),
                   "facilities": n}
            if c in self.rates.index:
                row["rate_total"] = self.rates.loc[c, "rate_total"]
                row["rate_65plus"] = self.rates.loc[c].get("rate_65plus", np.nan)
                row["status"] = ds.get(c, {}).get("status", "measured")
            else:
                row["rate_total"] = row["rate_65plus"] = np.nan
                row["status"] = "no data"
            row["flags_underserved"] = row["status"] == "complete"
            row["underserved_missing"] = by_cat.get(c)
            rows.append(row)
        out = pd.DataFrame(rows).set_index("category")
        out["underserved_missing"] = pd.array(out["underserved_missing"].tolist(), dtype="Int64")
        return out

    def plot(self, category: str | None = None, ax=None, **kwargs):
        """Quick static plot: blocks coloured by distance to ``category`` (or categories within reach).

        Parameters
        ----------
        category : str, optional
            A measured category: blocks coloured by ``dist_<category>_m``, its facilities in red; without one,
            by ``n_within`` (how many categories are within reach).
        ax : matplotlib Axes, optional
            Where to draw; a new figure when omitted.
        **kwargs
            Passed to :meth:`geopandas.GeoDataFrame.plot` (``vmax``, ``cmap``...).

        Returns
        -------
        matplotlib Axes

        Examples
        --------
        >>> result = tk.run_study(tk.load_study("xuhui"))  # doctest: +SKIP
        >>> ax = result.plot("park", vmax=2000)  # doctest: +SKIP
        """
        col = f"dist_{category}_m" if category else "n_within"
        cmap = kwargs.pop("cmap", "viridis_r" if category else "viridis")
        # unreachable blocks (inf) would stretch the colour scale to nothing: show them as missing
        data = self.blocks.assign(**{col: self.blocks[col].replace([np.inf, -np.inf], np.nan)})
        ax = data.plot(column=col, legend=True, ax=ax, cmap=cmap,
                              missing_kwds={"color": "lightgrey"}, **kwargs)
        if category:
            self.facilities[self.facilities["category"] == category].plot(ax=ax, color="red", markersize=6)
        ax.set_title(f"{self.study.name}: {col}")
        return ax

    def explore(self, layer: str = "blocks", column: str | None = None, **kwargs: Any) -> Any:
        """A live map of one layer, offline, for a notebook cell (:func:`toolkit.outputs.explore.explore`).

        Parameters
        ----------
        layer : str
            ``"blocks"``, ``"streets"``, ``"facilities"`` or a name in :attr:`layers`.
        column : str, optional
            The column to colour by; without one, ``"blocks"`` gives the study's full map.
        **kwargs
            ``lang``, ``k``, ``scheme``, ``tiles`` of :func:`toolkit.outputs.explore.explore`.

        Returns
        -------
        folium.Map

        Examples
        --------
        >>> result.explore()  # doctest: +SKIP
        >>> result.explore("blocks", "dist_transit_m")  # doctest: +SKIP
        >>> result.explore("heritage")  # doctest: +SKIP
        """
        from .outputs.explore import explore

        return explore(self, layer, column, **kwargs)

    def save(self, out_dir: str, **kwargs) -> Any:
        """Write the GeoPackage, map and run.json to ``out_dir/<study>``.

        See :func:`toolkit.outputs.writers.write_outputs`.

        Parameters
        ----------
        out_dir : str
            The output folder; the study's outputs go to its subfolder named after the study.
        **kwargs
            Passed to :func:`~toolkit.outputs.writers.write_outputs` (``formats``, ``map``...).

        Returns
        -------
        Path
            The study's output folder.

        Examples
        --------
        >>> out = result.save("maps")  # doctest: +SKIP
        >>> sorted(p.name for p in out.iterdir())[:3]  # doctest: +SKIP
        ['map.html', 'report.html', 'run.json']
        """
        from .outputs.writers import write_outputs

        return write_outputs(self, out_dir, **kwargs)
