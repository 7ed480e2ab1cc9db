"""Data sources: where a layer comes from and how to read it.

Every input of a study is a :class:`Source`: a registered dataset
(``{dataset = "xuhui_roads"}``, fetched and checksum-verified) or a file
(``{path = "my.gpkg"}``), with the options the readers take (``crs``, ``layer``,
``lon``, ``lat``, ``encoding``, ``records``, ``where``, ``field``). This is the
lowest layer of the configuration: the overlay configs
(:mod:`toolkit.overlay_config`), the study (:mod:`toolkit.config`) and the
readers build on it, and it imports none of them, nor the schema that declares
a source's TOML form (:data:`toolkit.study_schema.SOURCE`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .datasets import fetch, file_sha256, registry
from .errors import InputError

__all__ = ["Source", "iter_sources", "plain"]


@dataclass
class Source:
    """Where a layer comes from and how to read it."""

    dataset: str | None = None
    path: str | None = None
    crs: Any = None
    layer: str | None = None
    lon: str | None = None
    lat: str | None = None
    encoding: str | None = None
    records: str | None = None
    where: dict[str, Any] | None = None
    field: str | None = None  # the value column of a population table or layer
    base_dir: str | None = None

    def resolve(self) -> Path:
        """The local file, fetched and checksum-verified for registered datasets.

        Returns
        -------
        Path
            The file; a relative ``path`` is taken from the study file's folder.

        Examples
        --------
        >>> Source(dataset="xuhui_roads").resolve().name
        'xuhui_roads.osm'
        >>> Source(path="clinics.csv", base_dir="/data/my_study").resolve()  # doctest: +SKIP
        PosixPath('/data/my_study/clinics.csv')
        """
        if self.dataset:
            return fetch(self.dataset, self._abs(self.path) if self.path else None)
        assert self.path is not None
        p = self._abs(self.path)
        if not p.exists():
            raise InputError("file not found", source=str(p), field="path",
                             fix="check the path (relative paths are relative to the study file)")
        return p

    def _abs(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() or self.base_dir is None else Path(self.base_dir) / p

    def declared_crs(self) -> Any:
        """The CRS declared here, else the registry's for a dataset."""
        if self.crs is not None:
            return self.crs
        if self.dataset:
            return registry()[self.dataset].crs
        return None

    def reader_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`toolkit.io.read_layer`."""
        return {"crs": self.declared_crs(), "layer": self.layer, "lon": self.lon, "lat": self.lat,
                "encoding": self.encoding, "records": self.records, "where": self.where}

    def label(self) -> str:
        """Short description for reports.

        Returns
        -------
        str
            ``dataset:<name>`` for a registered dataset, else the path as given.

        Examples
        --------
        >>> Source(dataset="xuhui_roads").label(), Source(path="data/clinics.csv").label()
        ('dataset:xuhui_roads', 'data/clinics.csv')
        """
        return f"dataset:{self.dataset}" if self.dataset else str(self.path)

    def checksum(self) -> str:
        """sha256 of the resolved file."""
        return file_sha256(self.resolve())


#: The keys of a data source table: the fields of :class:`Source` but ``base_dir`` (the study file's folder),
#: the keys :data:`toolkit.study_schema.SOURCE` declares and checks (tests/test_study_schema.py compares them).
_SOURCE_KEYS = {f.name for f in fields(Source)} - {"base_dir"}


def _source(raw: Any, where: str, base: str | None) -> Source:
    """A :class:`Source` from its checked TOML form (:func:`toolkit.study_schema.check_study_dict`)."""
    if isinstance(raw, str):
        raw = {"dataset": raw} if raw in registry() else {"path": raw}
    return Source(**raw, base_dir=base)


def iter_sources(obj: Any, role: str = "") -> Iterator[tuple[str, Source]]:
    """Every :class:`Source` inside a study (or any part of it), with where it sits, e.g. ``heritage.osm``."""
    if isinstance(obj, Source):
        yield role, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from iter_sources(v, f"{role}.{k}" if role else str(k))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from iter_sources(v, f"{role}[{i}]")
    elif hasattr(obj, "__dataclass_fields__"):
        for name in obj.__dataclass_fields__:
            yield from iter_sources(getattr(obj, name), f"{role}.{name}" if role else name)


def plain(obj: Any) -> Any:
    """A dataclass's :func:`~dataclasses.asdict` form as run.json holds it: no None values, no ``base_dir``."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items() if k != "base_dir" and v is not None}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return obj


def _sources(raw: Any, key: str, base: str | None) -> list[Source]:
    """A list of :class:`Source` from a checked TOML value (one source or a list of them)."""
    items = raw if isinstance(raw, list) else [raw]
    return [_source(r, f"{key}[{i}]", base) for i, r in enumerate(items)]
