"""The study schema: every section and key a study TOML accepts, declared once.

Each TOML section is a :class:`Section` of :class:`Key` s; a key has a
:class:`Kind` (string, number with its range, one of some choices, a data
source, a nested table...), a default and a one-line meaning. From these
declarations come

* :func:`check_study_dict`: the check of a parsed study, run by
  :func:`toolkit.config.study_from_dict` before anything is built or read, and
  by :func:`toolkit.config.validate_study` on a :class:`~toolkit.config.Study`
  built or changed in Python. Unknown keys are refused with the closest valid
  name (``did you mean `facility_max_snap_m`?``), wrong types and values out
  of range with the key, the file and an example;
* :func:`config_markdown`: the configuration reference ``docs/config.md``
  (``python -m toolkit.study_schema docs/config.md`` writes it; a test keeps
  it in step).

The declarations are plain Python rather than pydantic or msgspec models: the
errors are the toolkit's own :class:`~toolkit.errors.InputError` (file, key,
fix), the suggestion comes from :mod:`difflib`, defaults that live in the
data files (``data/decisions.toml``, ``data/walkability.toml``) are read
from there, and nothing is added to the dependencies. Checking stays cheap:
this module imports no geodata library, so a typo is reported in well under
a second. Rules that tie keys together (an area needs ``bbox``, ``polygon``
or ``boundaries`` with ``name``; ``kind = "field"`` needs ``field``...) are
checked right after, while :func:`toolkit.config.study_from_dict` builds the
study.
"""

from __future__ import annotations

import difflib
import json
import math
import numbers
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, cast

from .errors import InputError
from .outfolder import FOLDER_NAME_RULE, check_folder_name

__all__ = [
    "ROOT",
    "SECTIONS",
    "SOURCE",
    "UNSET",
    "AnyOf",
    "Choice",
    "Flag",
    "FromData",
    "Key",
    "Kind",
    "ListOf",
    "MapOf",
    "Number",
    "Section",
    "SourceDict",
    "Text",
    "check_study_dict",
    "closest",
    "config_markdown",
    "extra_sections",
    "register_section",
    "source_keys",
    "unregister_section",
    "write_config_docs",
]


# ------------------------------------------------------------------ helpers
def closest(name: Any, names: Iterable[str]) -> str | None:
    """The valid name closest to a mistyped one, or None when none is close.

    Parameters
    ----------
    name : Any
        The name as written (anything but a ``str`` has no match).
    names : iterable of str
        The valid names.

    Returns
    -------
    str or None

    Examples
    --------
    >>> closest("facility_max_snap", ["buffer_m", "facility_max_snap_m", "search_limit_m"])
    'facility_max_snap_m'
    >>> closest("colour", ["lang", "map"]) is None
    True
    """
    near = _near(name, names)
    return near[0] if near else None


def _near(name: Any, names: Iterable[str]) -> list[str]:
    """The one or two valid names closest to ``name``: two when both are about as close."""
    if not isinstance(name, str):
        return []
    low = {n.lower(): n for n in names}
    scored = sorted(((difflib.SequenceMatcher(None, name.lower(), n).ratio(), n) for n in low), reverse=True)
    hits = [(r, low[n]) for r, n in scored if r >= 0.6][:2]
    if len(hits) == 2 and hits[1][0] < max(0.8, hits[0][0] - 0.1):
        hits = hits[:1]
    return [n for _, n in hits]


def _did_you_mean(name: Any, names: Iterable[str], fmt: str = "`{}`") -> str:
    """``"did you mean `x`? "`` (or ``"`x` or `y`"``), or ``""`` when nothing is close."""
    near = _near(name, names)
    return f"did you mean {' or '.join(fmt.format(n) for n in near)}? " if near else ""


def _toml(v: Any) -> str:
    """A value as it is written in TOML."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + " }" if v else "{}"
    return str(v)


def _names(items: Iterable[str], quote: str = "") -> str:
    return ", ".join(f"{quote}{n}{quote}" for n in items)


def _num(x: float) -> str:
    return f"{x:g}"


class SourceDict(dict):
    """A :class:`toolkit.config.Source` given in Python, as the table a TOML file would hold.

    :func:`toolkit.config.study_to_raw` turns each ``Source`` of a study into
    one, so that a Python-built study is checked against the same
    declarations; where a study held anything else (a path string, a plain
    dict) the check says a ``Source`` was expected.
    """


class _Check:
    """One run of the checks: where the values come from, and the checks left for the end."""

    def __init__(self, source: str | None, python: bool) -> None:
        self.source = source
        self.python = python
        self.deferred: list[Callable[[], None]] = []
        self._registry: list[str] | None = None

    def fail(self, path: str, problem: str, fix: str | None = None) -> NoReturn:
        raise InputError(problem, source=self.source, field=path or None, fix=fix)

    def bad(self, path: str, value: Any, kind: Kind, example: str = "") -> NoReturn:
        name = path.rsplit(".", 1)[-1] if path else "the study"
        self.fail(path, f"{name} must be {kind.expect()}, not {value!r}", f"e.g. {example}" if example else None)

    def datasets(self) -> list[str]:
        if self._registry is None:
            from .datasets import registry

            self._registry = sorted(registry())
        return self._registry


# -------------------------------------------------------------------- kinds
class Kind:
    """What a value must be: checked by :meth:`check`, described in ``docs/config.md``."""

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        """Raise :class:`InputError` (naming ``path``) unless ``value`` is of this kind."""
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has this kind's shape at first sight (:class:`AnyOf` picks the kind by it)."""
        return True

    def type_text(self) -> str:
        """The type column of the reference."""
        raise NotImplementedError

    def plural(self) -> str:
        return self.type_text() + "s"

    def limits(self) -> str:
        """The range or choices column of the reference."""
        return ""

    def expect(self) -> str:
        """What the value must be, for messages: ``"a number of metres > 0"``."""
        t = self.type_text()
        return f"{'an' if t[0] in 'aeiou' else 'a'} {t}"


@dataclass(frozen=True)
class Text(Kind):
    """A string; ``nonempty`` refuses ``""`` and blanks."""

    nonempty: bool = False

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        if not isinstance(value, str) or (self.nonempty and not value.strip()):
            ctx.bad(path, value, self, example)

    def type_text(self) -> str:
        return "string"

    def expect(self) -> str:
        return "a non-empty string" if self.nonempty else "a string"


@dataclass(frozen=True)
class Flag(Kind):
    """``true`` or ``false``."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        if not isinstance(value, bool):
            ctx.bad(path, value, self, example)

    def type_text(self) -> str:
        return "boolean"

    def expect(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Number(Kind):
    """A finite number (an integer with ``integer``), between ``lo`` and ``hi`` when given."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    unit: str = ""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        typ = numbers.Integral if self.integer else numbers.Real
        if isinstance(value, bool) or not isinstance(value, typ) or not math.isfinite(value):
            ctx.bad(path, value, self, example)
        lo, hi = self.lo, self.hi
        # typeshed gives numbers.Real no comparison operators; the value is a finite int or float here
        value = cast(float, value)
        if ((lo is not None and (value < lo or (self.lo_open and value == lo)))
                or (hi is not None and (value > hi or (self.hi_open and value == hi)))):
            ctx.bad(path, value, self, example)

    def type_text(self) -> str:
        return "integer" if self.integer else "number"

    def limits(self) -> str:
        lo = None if self.lo is None else ("> " if self.lo_open else ">= ") + _num(self.lo)
        hi = None if self.hi is None else ("< " if self.hi_open else "<= ") + _num(self.hi)
        if lo and hi and self.lo is not None and self.hi is not None:  # (the same test, spelt out for mypy)
            if not (self.lo_open or self.hi_open):
                return f"{_num(self.lo)} to {_num(self.hi)}"
            return f"{lo} and {hi}"
        return lo or hi or ""

    def expect(self) -> str:
        what = "integer" if self.integer else "number"
        unit = f" of {self.unit}" if self.unit else ""
        if self.lo == 0 and self.hi is None:
            return f"a positive {what}{unit}" if self.lo_open else f"zero or a positive {what}{unit}"
        return f"{'an' if self.integer else 'a'} {what}{unit} {self.limits()}".rstrip()


@dataclass(frozen=True)
class Choice(Kind):
    """One of some strings (``options``, or a function giving them); ``what`` names them in messages."""

    options: tuple[str, ...] | Callable[[], Iterable[str]]
    what: str = "value"
    doc: str | None = None

    def names(self) -> list[str]:
        return list(self.options() if callable(self.options) else self.options)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        names = self.names()
        if isinstance(value, str) and value in names:
            return
        if not isinstance(value, str):
            ctx.bad(path, value, self, example)
        ctx.fail(path, f"unknown {self.what} {value!r}", _did_you_mean(value, names, "{!r}")
                 + f"use one of: {_names(names)}")

    def type_text(self) -> str:
        return "string"

    def limits(self) -> str:
        return self.doc or _names(self.names(), "`")

    def expect(self) -> str:
        return f"one of {_names(self.names())}"


@dataclass(frozen=True)
class ListOf(Kind):
    """A list of values of one kind, of ``length`` items when given."""

    item: Kind
    length: int | None = None

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list | tuple)

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        if not isinstance(value, list) and not (ctx.python and isinstance(value, tuple)):
            ctx.bad(path, value, self, example)
        if self.length is not None and len(value) != self.length:
            ctx.bad(path, value, self, example)
        for i, v in enumerate(value):
            self.item.check(v, f"{path}[{i}]", ctx, example)

    def type_text(self) -> str:
        return f"list of {self.item.plural()}"

    def limits(self) -> str:
        inner = self.item.limits()
        n = f"{self.length} items" if self.length else ""
        return "; ".join(x for x in (n, f"each {inner}" if inner else "") if x)

    def expect(self) -> str:
        n = f"{self.length} " if self.length else ""
        return f"a list of {n}{self.item.plural()}"


@dataclass(frozen=True)
class MapOf(Kind):
    """A table whose keys the user names (a category id, a column value); each value of one kind."""

    value: Kind
    key_doc: str = "name"
    keys: Choice | None = None  # the names allowed, when they are a known set

    def accepts(self, value: Any) -> bool:
        return isinstance(value, Mapping)

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        if not isinstance(value, Mapping):
            ctx.bad(path, value, self, example)
        for k, v in value.items():
            p = f"{path}.{k}"
            if self.keys is not None and k not in self.keys.names():
                ctx.fail(p, f"unknown {self.keys.what} {k!r} in {path}",
                         _did_you_mean(k, self.keys.names()) + f"use: {_names(self.keys.names())}")
            self.value.check(v, p, ctx, example)

    def type_text(self) -> str:
        return f"table of {self.key_doc} = {self.value.type_text()}"

    def plural(self) -> str:
        return f"tables of {self.key_doc} = {self.value.type_text()}"

    def limits(self) -> str:
        return "; ".join(x for x in (f"{self.key_doc}: {self.keys.limits()}" if self.keys else "",
                                     self.value.limits()) if x)

    def expect(self) -> str:
        return f"a table of {self.key_doc} = {self.value.type_text()}"


@dataclass(frozen=True)
class AnyOf(Kind):
    """One of several kinds, told apart by shape (a string, or a list of strings)."""

    kinds: tuple[Kind, ...]

    def accepts(self, value: Any) -> bool:
        return any(k.accepts(value) for k in self.kinds)

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        for k in self.kinds:
            if k.accepts(value):
                k.check(value, path, ctx, example)
                return
        ctx.bad(path, value, self, example)

    def type_text(self) -> str:
        return " or ".join(k.type_text() for k in self.kinds)

    def limits(self) -> str:
        return "; ".join(dict.fromkeys(x for x in (k.limits() for k in self.kinds) if x))

    def expect(self) -> str:
        return " or ".join(k.expect() for k in self.kinds)


@dataclass(frozen=True)
class _Folder(Kind):
    """A study name: one plain folder name (:func:`toolkit.outfolder.check_folder_name`)."""

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        check_folder_name(value, source=ctx.source, field=path, fix="rename the study, e.g. name = 'my_district'")

    def type_text(self) -> str:
        return "string"

    def limits(self) -> str:
        return FOLDER_NAME_RULE


@dataclass(frozen=True)
class _Path(Kind):
    """A file path (a string; in Python also a ``pathlib.Path``)."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str | os.PathLike)

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        ok = (isinstance(value, str) and value.strip()) or (ctx.python and isinstance(value, os.PathLike))
        if not ok:
            ctx.bad(path, value, self, example)

    def type_text(self) -> str:
        return "path"

    def expect(self) -> str:
        return "a file path (a non-empty string)"


@dataclass(frozen=True)
class _Crs(Kind):
    """A CRS: an EPSG code, anything pyproj reads, or ``gcj02`` / ``bd09`` (checked at the end: pyproj)."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str | int) and not isinstance(value, bool)

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        pyproj = sys.modules.get("pyproj")
        if ctx.python and pyproj is not None and isinstance(value, pyproj.CRS):  # a CRS object built in Python
            return
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip())):
            ctx.bad(path, value, self, example or "crs = 'EPSG:32651' (or 'gcj02', 'bd09')")

        def parse() -> None:
            from .crs import parse_crs

            parse_crs(value, source=ctx.source, field=path)

        ctx.deferred.append(parse)

    def type_text(self) -> str:
        return "CRS"

    def limits(self) -> str:
        return "an EPSG code (`\"EPSG:32651\"`, `4326`) or other pyproj CRS; `\"gcj02\"` (Amap), `\"bd09\"` (Baidu)"

    def expect(self) -> str:
        return "a CRS such as 'EPSG:32651' or 4326, or 'gcj02' / 'bd09'"


@dataclass(frozen=True)
class _BBox(Kind):
    """``[xmin, ymin, xmax, ymax]``."""

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        ex = "bbox = [lon_min, lat_min, lon_max, lat_max]"
        if not isinstance(value, list | tuple) or len(value) != 4:
            ctx.fail(path, f"bbox needs four numbers, not {value!r}", ex)
        for i, v in enumerate(value):
            Number().check(v, f"{path}[{i}]", ctx, ex)
        if not (value[0] < value[2] and value[1] < value[3]):
            ctx.fail(path, f"bbox {list(value)!r} has its minimum above its maximum", f"write {ex}")

    def type_text(self) -> str:
        return "list of 4 numbers"

    def limits(self) -> str:
        return "`[xmin, ymin, xmax, ymax]`, min < max"


@dataclass(frozen=True)
class _Dataset(Kind):
    """The name of a registered dataset (``data/registry.toml``)."""

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        if not isinstance(value, str) or not value:
            ctx.bad(path, value, self, example)
        names = ctx.datasets()
        if value not in names:
            ctx.fail(path, f"no dataset named {value!r}",
                     _did_you_mean(value, names, "{!r}") + f"use one of: {_names(names)}, or path = '...'")

    def type_text(self) -> str:
        return "string"

    def limits(self) -> str:
        return "a dataset of `data/registry.toml` (`toolkit datasets` lists them)"


@dataclass(frozen=True)
class _Profile(Kind):
    """A bundled standards profile by name, or a path to a profile TOML."""

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        if not isinstance(value, str) or not value.strip():
            ctx.bad(path, value, self, example or "profile = 'shanghai-main-city'")
        if Path(value).suffix:
            return  # a profile file: read (and checked) at the run's first step
        names = _profiles()
        if value not in names:
            ctx.fail(path, f"unknown standards profile {value!r}",
                     _did_you_mean(value, names, "{!r}") + f"use one of: {_names(names)}, or a path to a profile TOML")

    def type_text(self) -> str:
        return "string"

    def limits(self) -> str:
        return _names(_profiles(), "`") + ", or a path to a profile `.toml`"


@dataclass(frozen=True)
class _Source(Kind):
    """A data source: ``{ dataset = ... }`` or ``{ path = ... }`` with reader options, or a bare string."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str | Mapping)

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        if ctx.python and not isinstance(value, SourceDict):
            name = path.rsplit(".", 1)[-1]
            ctx.fail(path, f"{name} must be a toolkit.config.Source, not {value!r}",
                     "e.g. Source(dataset='xuhui_roads') or Source(path='roads.osm.pbf', crs='EPSG:4326')")
        if isinstance(value, str):
            if not value.strip():
                ctx.fail(path, "a data source cannot be an empty string",
                         "e.g. { dataset = 'xuhui_roads' } or { path = 'roads.osm.pbf' }")
            return
        if not isinstance(value, Mapping):
            ctx.fail(path, "a data source must be a table like {dataset = '...'} or {path = '...'}",
                     "e.g. source = { path = 'facilities.csv', crs = 'gcj02' }")
        _check_table(SOURCE, value, path, ctx, f"the data source {path}")
        if not value.get("dataset") and not value.get("path"):
            ctx.fail(path, "a data source needs 'dataset' or 'path'",
                     "add dataset = '<registered name>' or path = '<file>'")

    def type_text(self) -> str:
        return "data source"

    def limits(self) -> str:
        return "see [data sources](#data-sources)"


@dataclass(frozen=True)
class _Sources(Kind):
    """One data source or a list of them."""

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        if isinstance(value, list) or (ctx.python and isinstance(value, tuple)):
            for i, v in enumerate(value):
                _Source().check(v, f"{path}[{i}]", ctx, example)
        else:
            _Source().check(value, path, ctx, example)

    def type_text(self) -> str:
        return "list of data sources"

    def limits(self) -> str:
        return "one data source or a list; see [data sources](#data-sources)"


@dataclass(frozen=True)
class Table(Kind):
    """A nested table with the keys of its own :class:`Section`."""

    section: Section

    def accepts(self, value: Any) -> bool:
        return isinstance(value, Mapping)

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        _check_table(self.section, value, path, ctx)

    def type_text(self) -> str:
        return "table"

    def limits(self) -> str:
        return f"see [`{self.section.header()}`](#{self.section.anchor()})"


@dataclass(frozen=True)
class ArrayOf(Kind):
    """An array of tables (``[[facilities]]``, ``rivers = [{ ... }]``), each with the keys of a section."""

    section: Section

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list | tuple)

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        if not isinstance(value, list) and not (ctx.python and isinstance(value, tuple)):
            ctx.fail(path, f"{path} must be an array of tables, not {value!r}",
                     f"write one [[{path}]] table per entry" if path == self.section.name
                     else f"e.g. {self.section.example}" if self.section.example else None)
        for i, v in enumerate(value):
            label = f"[[{path}]] #{i + 1}" if path == self.section.name and "." not in path else f"{path}[{i}]"
            _check_table(self.section, v, f"{path}[{i}]", ctx, label)

    def type_text(self) -> str:
        return "array of tables"

    def limits(self) -> str:
        return f"see [`{self.section.header()}`](#{self.section.anchor()})"


# ------------------------------------------------------------------ sections
class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True)
class FromData:
    """A default kept in a data file of the toolkit, e.g. ``FromData("decisions.toml", "underserved.min_missing")``."""

    file: str
    path: str

    def value(self) -> Any:
        from .datasets import data_toml

        v: Any = data_toml(self.file)
        for part in self.path.split("."):
            v = v[part]
        return v


@dataclass(frozen=True)
class Key:
    """One key of a section: its kind, default and meaning.

    ``default`` is the value used when the key is left out (:data:`UNSET`:
    none, the feature is off or the note in ``default_doc`` applies);
    ``example`` is the TOML line a message suggests; ``missing`` the problem
    when a ``required`` key is left out.
    """

    name: str
    kind: Kind
    doc: str
    default: Any = UNSET
    default_doc: str = ""
    required: bool = False
    example: str = ""
    missing: str = ""

    def default_value(self) -> Any:
        return self.default.value() if isinstance(self.default, FromData) else self.default

    def default_text(self) -> str:
        if self.required:
            return "required"
        if self.default is UNSET:
            return self.default_doc or "—"
        text = f"`{_toml(self.default_value())}`"
        if isinstance(self.default, FromData):
            text += f" (data/{self.default.file})"
        return text + (f"; {self.default_doc}" if self.default_doc else "")

    def example_text(self) -> str:
        if self.example:
            return self.example
        if self.default is not UNSET:
            return f"{self.name} = {_toml(self.default_value())}"
        return ""

    def check(self, value: Any, path: str, ctx: _Check) -> None:
        self.kind.check(value, path, ctx, self.example_text())


@dataclass(frozen=True)
class Section:
    """A TOML table: its keys, and for an open table the kind of the values under names the user chooses."""

    name: str
    doc: str
    keys: tuple[Key, ...]
    array: bool = False  # [[name]]: an array of tables
    open: Kind | None = None  # the value kind of user-named keys (population layers)
    open_doc: str = ""
    example: str = ""
    rules: tuple[str, ...] = ()  # what ties the keys together (checked while the study is built)

    def get(self, name: Any) -> Key | None:
        return next((k for k in self.keys if k.name == name), None)

    def names(self) -> list[str]:
        return [k.name for k in self.keys]

    def header(self) -> str:
        return f"[[{self.name}]]" if self.array else f"[{self.name}]"

    def anchor(self) -> str:
        return "".join(c for c in self.name.lower().replace(".", "").replace(" ", "-")
                       if c.isalnum() or c in "-_")


def _check_table(section: Section, value: Any, path: str, ctx: _Check, label: str | None = None) -> None:
    label = label or (f"[{path}]" if path else "the study")
    takes = "a data source" if section is SOURCE else section.header()
    if not isinstance(value, Mapping):
        ctx.fail(path, f"{label} must be a table, not {value!r}",
                 f"e.g. {section.example}" if section.example else None)
    for name, v in value.items():
        key = section.get(name)
        p = f"{path}.{name}" if path else str(name)
        if key is None:
            if section.open is not None:
                try:
                    section.open.check(v, p, ctx)
                except InputError as exc:
                    hint = _did_you_mean(name, section.names())
                    if hint:
                        raise InputError(exc.problem, source=exc.source, field=exc.field,
                                         fix=hint + (exc.fix or "")) from None
                    raise
                continue
            ctx.fail(p, f"unknown key {name!r} in {label}",
                     _did_you_mean(name, section.names()) + f"{takes} takes: {_names(section.names())}")
        key.check(v, p, ctx)
    for key in section.keys:
        if key.required and key.name not in value:
            p = f"{path}.{key.name}" if path else key.name
            ctx.fail(p, key.missing or f"{label} needs {key.name}",
                     f"e.g. {key.example}" if key.example else f"add {key.name} = ...")


def _classifier_kinds() -> list[str]:
    from .datasets import data_dir

    return sorted(p.stem for p in (data_dir() / "classifiers").glob("*.toml"))


def _profiles() -> list[str]:
    from .datasets import data_dir

    return sorted(p.stem for p in (data_dir() / "profiles").glob("*.toml"))


# ------------------------------------------------------------- declarations
_POS_M = Number(0, lo_open=True, unit="metres")
_NONNEG_M = Number(0, unit="metres")
_SHARE = Number(0, 1)
_WEIGHT = Number(0)
_STRINGS = ListOf(Text())
_SCALAR = AnyOf((Text(), Number(), Flag()))
_DECLARED = ("complete", "sample", "unknown")  # toolkit.completeness.DECLARED
_YEARS = (1800, 2100)  # toolkit.compounds.YEAR_RANGE

SOURCE = Section(
    "data sources",
    "Every layer a study reads is a data source: a registered dataset, `{ dataset = \"xuhui_roads\" }`, or a "
    "file, `{ path = \"roads.osm.pbf\" }` (relative to the study file), with the options its reader takes. A "
    "bare string is a dataset name when one is registered under it, else a path.",
    (
        Key("dataset", _Dataset(), "a registered dataset, fetched and checked against its sha256"),
        Key("path", _Path(), "a file (GPKG, GeoJSON, Shapefile, CSV, Excel, JSON, OSM, GeoTIFF); with `dataset`, "
            "a local copy of that dataset"),
        Key("crs", _Crs(), "CRS of the coordinates, overriding what the file claims; `gcj02` and `bd09` are "
            "converted to WGS84 on import", default_doc="the file's (a dataset: the registry's)"),
        Key("layer", Text(), "layer of a multi-layer file; sheet of an Excel workbook", default_doc="the first"),
        Key("lon", Text(), "longitude (x) column of a CSV, Excel or JSON point table"),
        Key("lat", Text(), "latitude (y) column of a CSV, Excel or JSON point table"),
        Key("encoding", Text(), "text encoding of a CSV", default_doc="UTF-8, then GB18030"),
        Key("records", Text(), "JSON that is not GeoJSON: the key holding the list of records"),
        Key("where", MapOf(AnyOf((_SCALAR, ListOf(_SCALAR))), "column"),
            "keep only the rows whose column holds this value (or one of these values), "
            "e.g. `{ fclass = [\"water\", \"dock\"] }`"),
        Key("field", Text(), "the value column: residents of a population table or layer; the name column of "
            "a listed-building list"),
    ),
    example="source = { path = 'facilities.csv', crs = 'gcj02', lon = '经度', lat = '纬度' }",
)

_STUDY = Section(
    "study", "What the study is called and the CRS distances are measured in.",
    (
        Key("name", _Folder(), "short name: the output folder `<out>/<name>/` and its file names", required=True,
            missing="the study has no name", example="name = 'my_district'"),
        Key("title", Text(), "title of the map, the report and the summary", default=""),
        Key("crs", _Crs(), "analysis CRS, projected in metres", default_doc="the UTM zone of the area's centroid"),
        Key("profile", _Profile(), "older place of `[standards] profile`, used when that is not given"),
    ),
    example="[study] name = 'my_district'",
)

_AREA = Section(
    "area", "The study area.",
    (
        Key("boundaries", _Source(), "a layer of named areas (districts, subdistricts); the one named `name` is used"),
        Key("name_field", Text(), "column of `boundaries` holding the names", default="name"),
        Key("name", Text(), "the feature of `boundaries` that is the area, e.g. `\"徐汇区\"`"),
        Key("polygon", _Source(), "a polygon layer: its union is the area"),
        Key("bbox", _BBox(), "a box in `bbox_crs`: `[lon_min, lat_min, lon_max, lat_max]` by default"),
        Key("bbox_crs", _Crs(), "CRS of `bbox`", default="EPSG:4326"),
        Key("clip_to_data", Flag(), "clip the area to the extent of the roads and population data", default=True),
    ),
    rules=("one of `bbox`, `polygon`, or `boundaries` with `name` is required",),
)

_NETWORK = Section(
    "network", "The streets people walk on.",
    (
        Key("source", _Source(), "an OSM file (`.osm`, `.osm.bz2`, `.osm.pbf`)"),
        Key("place", Text(nonempty=True), "a place to download the network of (online, osmnx), "
            "e.g. `\"Xuhui, Shanghai\"`, instead of `source`"),
        Key("buffer_m", _NONNEG_M, "streets this far outside the area are kept, so edge blocks reach facilities "
            "beyond it", default=1000.0),
        Key("snap_main_only", Flag(), "attach blocks and facilities to the main connected part of the network only",
            default=True),
        Key("no_snap", ListOf(Text(nonempty=True)), "ways that carry walks but take no block or facility: tag rules "
            "such as `\"tunnel\"`, `\"layer<0\"`, `\"access=private\"`; `[]` attaches to every way",
            default_doc="tunnels, underground, indoor and private ways",
            example='no_snap = ["tunnel", "layer<0", "indoor=yes", "access=private"]'),
        Key("facility_max_snap_m", _POS_M, "facilities further than this from any street are refused and reported",
            default=250.0),
        Key("search_limit_m", _POS_M, "walks are searched up to this length; a block beyond it is not reached",
            default=5000.0),
    ),
    rules=("`source` or `place` is required",),
)

_BLOCKS = Section(
    "blocks", "The blocks measured: those the streets enclose, or your own parcels.",
    (
        Key("source", _Source(), "your own block or parcel polygons, instead of the blocks the streets enclose"),
        Key("id_field", Text(), "column of `source` with the block ids", default_doc="numbered in order"),
        Key("min_area_m2", Number(0, unit="m²"), "enclosed blocks smaller than this are slivers and dropped",
            default=500.0),
        Key("max_snap_m", _POS_M, "blocks further than this from any street are not attached", default=500.0),
    ),
)

_FROM_COMPOUNDS = Section(
    "population.from_compounds",
    "A second estimate of residents, `blocks.pop_compounds`: the floor area of the compounds "
    "([compounds]) times `persons_per_m2`.",
    (
        Key("persons_per_m2", Number(0, 1, lo_open=True), "residents per m² of floor area (Shanghai: about 37 m² "
            "of housing per resident, 0.027); no default, as it differs by city and decade", required=True,
            missing="residents from compounds need a declared number of persons per m² of floor area",
            example="persons_per_m2 = 0.027 (Shanghai: about 37 m² of housing per resident, Shanghai Statistical "
            "Yearbook)"),
    ),
    example="from_compounds = { persons_per_m2 = 0.027 }",
    rules=("needs a [compounds] section with `floor_area_field`",),
)

_POPULATION = Section(
    "population",
    "Residents per block. Each key names a column of the blocks layer (`population` is the total, "
    "`pop_65plus` and `pop_0_14` the age groups) and is a data source: a raster of people per cell, or a "
    "point or polygon layer with the number in `field`.",
    (Key("from_compounds", Table(_FROM_COMPOUNDS), "residents from the compounds' floor area"),),
    open=_Source(), open_doc="`<column>` (`population`, `pop_65plus`, `pop_0_14`, ...)",
)

_COMPOUNDS = Section(
    "compounds", "Residential compounds (小区), one point each, joined to the blocks (`compounds_*` columns).",
    (
        Key("source", _Source(), "the compound table, e.g. an `.xlsx` export with coordinate columns", required=True,
            missing="the compounds need a source",
            example="source = { path = 'compounds.xlsx', lon = 'POINT_X', lat = 'POINT_Y' }"),
        Key("name_field", Text(), "column with the compound's name (小区名)"),
        Key("address_field", Text(), "column with its address (小区坐落)"),
        Key("floor_area_field", Text(), "column with its total floor area in m² (总建面; `\"20000.0㎡\"`; "
            "`\"暂无\"` is unknown)"),
        Key("year_field", Text(), "column with its completion year (竣工时间; `\"2010年\"`)"),
        Key("old_before", Number(*_YEARS, integer=True), "compounds finished before this year count as old "
            "(a renewal signal: `compounds_old_n`)", example="old_before = 2000"),
    ),
    rules=("`old_before` needs `year_field`; `[population] from_compounds` needs `floor_area_field`",),
)

# also the keys of a profile's [categories.<id>] (toolkit/profile_schema.py): after changing them, regenerate
# docs/profile.md as well (python -m toolkit.profile_schema docs/profile.md)
_CATEGORY = Section(
    "standards.categories.<id>",
    "A category of the study: a new one (labels and a threshold required) or a change to a built-in one. "
    "`<id>` is a lower-case identifier (it names columns such as `dist_<id>_m`). The same keys change a "
    "category's threshold in `[standards.overrides.categories.<id>]`.",
    (
        Key("label_en", Text(nonempty=True), "English label", example='label_en = "Elderly canteen"'),
        Key("label_zh", Text(nonempty=True), "Chinese label (a new category needs one of the labels)",
            example='label_zh = "长者食堂"'),
        Key("description", Text(), "free text", example='description = "..."'),
        Key("osm", _STRINGS, "OSM tag rules: `\"key=value\"`, `\"key\"` (any value), `\"k=v&k2=v2\"` (all parts)",
            example='osm = ["amenity=social_facility&social_facility=day_care"]'),
        Key("landuse", _STRINGS, "values of a land-use type column (`kind = \"field\"` without a `map`)",
            example='landuse = ["park", "garden"]'),
        Key("match", MapOf(_STRINGS, "source kind", keys=Choice(lambda: [*_classifier_kinds(), "name"],
                                                               what="source kind")),
            "rules per export kind: Geofabrik `fclass` values, Amap typecode prefixes, Baidu tags; `name`: words "
            "the feature's name must also contain",
            example='match = { geofabrik = ["community_centre"], amap = ["0901"], name = ["长者食堂"] }'),
        Key("basic", Flag(), "counts for the underserved rule", default_doc="`data/decisions.toml` decides",
            example="basic = true"),
        Key("group", Text(), "the service this category is a tier of (`\"health\"`), for listings",
            example='group = "health"'),
        Key("served_by", _STRINGS, "categories whose facilities count for this one too",
            example='served_by = ["health_centre"]'),
        Key("max_distance_m", _POS_M, "threshold: walking distance in metres (or `minutes`)",
            example="max_distance_m = 300"),
        Key("minutes", Number(0, lo_open=True, unit="minutes"), "threshold: minutes of walking at `walker`'s speed",
            example="minutes = 5"),
        Key("walker", Text(nonempty=True), "whose walk: a walker of the profile (`adult` 1.2 m/s, `elderly` 0.8 m/s)",
            default_doc="`\"adult\"`", example='walker = "elderly"'),
        Key("min_area_m2", Number(0, unit="m²"), "smallest facility that counts (parks by size)",
            example="min_area_m2 = 10000 (1 ha)"),
        Key("unknown_area", Choice(("count", "exclude"), what="unknown_area rule"),
            "facilities of unknown size (points) when `min_area_m2` is set", default="count"),
        Key("source", Text(), "where the threshold comes from (a standard, a plan)",
            default_doc="recorded as a user override", example='source = "district plan 2025, p. 12"'),
        Key("per_residents", Number(0, lo_open=True), "provision: one facility per so many residents (the "
            "completeness check)", example="per_residents = 25000"),
        Key("per_residents_source", Text(), "where `per_residents` comes from",
            example='per_residents_source = "GB 50180-2018 Table 3.0.4"'),
        Key("provision_per_1000", Number(0, lo_open=True), "provision standard: capacity (beds, places) per 1,000 "
            "residents of the band; no published standard the profiles cite gives one, so set it with its source",
            default_doc="none: provision measured, no ratio or gap", example="provision_per_1000 = 40"),
        Key("provision_unit", Text(nonempty=True), "what the capacity counts (`\"beds\"`, `\"places\"`)",
            default_doc="`\"capacity\"`", example='provision_unit = "beds"'),
        Key("provision_source", Text(), "where `provision_per_1000` comes from",
            example='provision_source = "district plan 2025"'),
        Key("provision_band", Choice(("population", "pop_65plus", "pop_0_14"), what="population band"),
            "the residents who use the category (the demand of the 2SFCA)", default_doc="`pop_65plus` for elderly "
            "care and canteens, `pop_0_14` for kindergartens and schools, else `population`",
            example='provision_band = "pop_65plus"'),
        Key("provision_catchment_m", _POS_M, "the 2SFCA catchment", default_doc="the category's threshold",
            example="provision_catchment_m = 1000"),
        Key("provision_decay", Choice(("step", "zones", "gaussian"), what="distance decay"),
            "`step`: 2SFCA (Luo & Wang 2003); `zones`: E2SFCA weights 1/0.68/0.22 by thirds of the catchment "
            "(Luo & Qi 2009); `gaussian`: exp(-d²/2σ²) (PySAL access)", default="zones"),
        Key("provision_sigma_m", _POS_M, "the Gaussian's σ (`provision_decay = \"gaussian\"`)",
            default_doc="half the catchment", example="provision_sigma_m = 500"),
    ),
    example='[standards.categories.elderly_canteen] label_zh = "长者食堂", max_distance_m = 300',
)

_WALKER = Section(
    "standards.overrides.walkers.<walker>", "A walker's speed, changed for this study.",
    (
        Key("speed_m_per_s", Number(0, 5, lo_open=True, hi_open=True, unit="metres per second"),
            "walking speed"),
        Key("source", Text(), "where the speed comes from", default_doc="recorded as a user override"),
    ),
)

_WATERFRONT_THRESHOLD = Section(
    "standards.overrides.waterfront", "The distance within which a block counts as having waterfront access.",
    (
        Key("max_distance_m", _POS_M, "walking distance in metres"),
        Key("minutes", Number(0, lo_open=True, unit="minutes"), "or minutes of walking at `walker`'s speed"),
        Key("walker", Text(nonempty=True), "whose walk, with `minutes`", default_doc="`\"adult\"`"),
        Key("source", Text(), "where the threshold comes from", default_doc="recorded as a user override"),
    ),
)

_OVERRIDES = Section(
    "standards.overrides", "Changes to the profile's thresholds (a batch scenario writes here too).",
    (
        Key("categories", MapOf(Table(_CATEGORY), "category id"), "per category, as in "
            "`[standards.categories.<id>]`; applied on top of it"),
        Key("walkers", MapOf(Table(_WALKER), "walker"), "walking speeds"),
        Key("waterfront", Table(_WATERFRONT_THRESHOLD), "the waterfront-access threshold"),
    ),
)

_STANDARDS = Section(
    "standards", "The standards profile the thresholds come from, and the study's own categories.",
    (
        Key("profile", _Profile(), "the standards profile", default="shanghai-main-city"),
        Key("categories", MapOf(Table(_CATEGORY), "category id"), "the study's own categories, or changes to "
            "built-in ones"),
        Key("overrides", Table(_OVERRIDES), "changes to the profile's thresholds"),
    ),
)

_FACILITY = Section(
    "facilities", "One facility input per `[[facilities]]` table, and how its rows become categories.",
    (
        Key("source", _Source(), "the facility layer", required=True, missing="a facility entry needs a source",
            example="source = { dataset = '...' } or { path = '...' }"),
        Key("kind", Choice(lambda: ["osm", "field", "fixed", *_classifier_kinds()], what="facility kind"),
            "how rows are classified: `osm` by tags, `field` by a type column, `fixed` one category, or an export "
            "format by its table in `data/classifiers`", default_doc="`\"fixed\"` with `category`, else `\"osm\"`"),
        Key("field", Text(), "the type column (`kind = \"field\"`)"),
        Key("map", MapOf(Text(), "type value"), "type value = category id (`kind = \"field\"`)",
            default_doc="the categories' `landuse` values"),
        Key("category", Text(), "the one category of every row (`kind = \"fixed\"`)"),
        Key("categories", _STRINGS, "keep only these categories", default_doc="all"),
        Key("name_field", Text(), "column with the facilities' names"),
        Key("table", _Path(), "a mapping table replacing `data/classifiers/<kind>.toml` (export kinds), relative "
            "to the study file"),
        Key("status", AnyOf((Choice(_DECLARED, what="data status"),
                             MapOf(Choice(_DECLARED, what="data status"), "category"))),
            "how complete the data are: only `complete` data can make a block underserved; or a table per "
            "category", default="unknown"),
        Key("fetch_log", _Source(), "the export's query log: categories a capped query fed become samples"),
        Key("result_cap", Number(1, integer=True), "results per query at which the API cuts off", default_doc="the "
            "export format's (Amap: 200)"),
        Key("capacity", Text(nonempty=True), "the column holding each facility's capacity (beds, places, m²) for "
            "provision (2SFCA); numbers, or text such as `120张`; blanks are unknown, never zero; `\"count\"` "
            "(without such a column): each facility is one unit, provision is facilities per 1,000 residents",
            default_doc="none: provision of its categories is not computed (no capacity data)",
            example="capacity = 'beds'"),
    ),
    array=True,
    rules=("`kind = \"field\"` needs `field`; `kind = \"fixed\"` needs `category`; `table` is for export kinds; "
           "an `amap` or `baidu` export needs its `crs` declared",),
)

_OUTPUT = Section(
    "output", "What is written, and how it looks.",
    (
        Key("lang", Choice(("en", "zh"), what="language"), "language of labels, map and report", default="en"),
        Key("map", Flag(), "write `map.html`", default=True),
        Key("basemap", Choice(("none", "offline", "osm", "cartodb", "amap", "tianditu"), what="basemap"),
            "background of the map: `offline` is drawn from the study's own streets, water and heritage",
            default="offline"),
        Key("tianditu_key", Text(nonempty=True), "API key of the Tianditu basemap (required with it)"),
        Key("formats", ListOf(Choice(("gpkg", "parquet", "csv"), what="output format")), "data formats written",
            default=["gpkg"]),
        Key("static_maps", Flag(), "also write `static/<map>.png` and `.pdf`", default=False),
        Key("report", Flag(), "write `report.html`", default=True),
    ),
    rules=("`basemap = \"tianditu\"` needs `tianditu_key`",),
)

_WALK_WEIGHTS = Section(
    "walkability.weights", "Weight of each component in the walkability index (0 leaves one out).",
    tuple(Key(c, _WEIGHT, f"weight of `walk_{c}`" if c != "transit_m" else "weight of the distance to transit",
              default=FromData("walkability.toml", f"components.{c}.weight"))
          for c in ("intersection_density", "block_face_max_m", "link_node_ratio", "hostile_share", "mix_entropy",
                    "transit_m", "amenities")),
)

_WALKABILITY = Section(
    "walkability", "Street walkability per block and per street segment (defaults: `data/walkability.toml`).",
    (
        Key("landuse", _Source(), "land-use points or polygons, for the land-use mix"),
        Key("landuse_field", Text(), "their land-use type column", default="landuse_type"),
        Key("radius_m", _POS_M, "crow-fly neighbourhood for the densities",
            default=FromData("walkability.toml", "settings.radius_m")),
        Key("walk_minutes", Number(0, lo_open=True, unit="minutes"), "network walk for amenities and the land-use "
            "mix, at each walker's speed", default=FromData("walkability.toml", "settings.walk_minutes")),
        Key("scoring", Choice(("zscore", "minmax"), what="scoring"), "how components are scaled before weighting",
            default=FromData("walkability.toml", "settings.scoring")),
        Key("face_guideline_m", _POS_M, "block faces longer than this count against walkability",
            default=FromData("walkability.toml", "settings.face_guideline_m")),
        Key("weights", Table(_WALK_WEIGHTS), "component weights"),
    ),
)

_HERITAGE = Section(
    "heritage", "Heritage zones, listed buildings and protected roads: what renewal may do where.",
    (
        Key("style_areas", _Source(), "historic-cultural style areas (历史文化风貌区), polygons"),
        Key("style_name_field", Text(), "column with a style area's name", default="title"),
        Key("osm", _Source(), "an OSM heritage export: protected compounds and listed objects"),
        Key("listed_buildings", _Sources(), "point lists of listed buildings (the name column: the source's "
            "`field`)", default=[]),
        Key("relics", _Sources(), "cultural relics protection units (points)", default=[]),
        Key("protected_roads", AnyOf((Text(), _STRINGS)), "street names of roads never to be widened (永不拓宽)",
            default=[]),
        Key("buffer_m", _NONNEG_M, "control buffer around zones and listed buildings", default=50.0),
        Key("merge_distance_m", _NONNEG_M, "records of different sources this close, with compatible names, are one "
            "building", default=30.0),
    ),
)

_RIVER = Section(
    "waterfront.rivers", "A river centreline and its width: an assumed bank on each side.",
    (
        Key("source", _Source(), "the centreline layer", required=True, missing="a river needs a source and a width",
            example="rivers = [{ source = { dataset = 'huangpu_centreline' }, width_m = 400 }]"),
        Key("width_m", _POS_M, "bank-to-bank width, for every line (or those whose `width_field` is empty)"),
        Key("width_field", Text(), "column with each line's width in metres"),
    ),
    array=True,
    example="rivers = [{ source = { dataset = 'huangpu_centreline' }, width_m = 400 }]",
    rules=("`width_m` or `width_field` is required",),
)

_WATERFRONT = Section(
    "waterfront", "Public access along the water's edge.",
    (
        Key("water", _Sources(), "water polygons whose edge is the bank (riverbanks, lakes, docks)", default=[]),
        Key("rivers", ArrayOf(_RIVER), "river centrelines with a width", default=[]),
        Key("coastlines", _Sources(), "coastline lines, land on their left (OSM)", default=[]),
        Key("other_water", _Sources(), "water taken out of the land that is no bank (ponds, creeks)", default=[]),
        Key("corridor_m", _POS_M, "the public-access band on land along the bank", default=100.0),
        Key("access_distance_m", _POS_M, "a street this close to the bank is an access point (at most `corridor_m`)",
            default=50.0),
        Key("sample_m", _POS_M, "spacing of the shoreline samples", default=10.0),
        Key("min_gap_m", _NONNEG_M, "gaps in access shorter than this count as access", default=50.0),
        Key("dedup_m", _NONNEG_M, "access points closer than this to one nearer the shore are merged", default=25.0),
    ),
    rules=("`access_distance_m` must not exceed `corridor_m`",),
)

_D = "decisions.toml"
_UNDERSERVED = Section(
    "underserved", "When a block is underserved (defaults: `data/decisions.toml`). Only categories with complete "
    "data flag a block.",
    (
        Key("basic_categories", _STRINGS, "the basic services; replaces the categories' `basic` flags",
            default=FromData(_D, "underserved.basic_categories")),
        Key("min_missing", Number(1, integer=True), "a block missing at least this many basic categories is "
            "underserved", default=FromData(_D, "underserved.min_missing")),
        Key("elderly_category", Text(), "the elderly-care category", default=FromData(_D,
                                                                                       "underserved.elderly_category")),
        Key("elderly_share", _SHARE, "a block missing elderly care with more residents 65+ than this share is "
            "underserved", default=FromData(_D, "underserved.elderly_share")),
        Key("elderly_weight", _WEIGHT, "severity: residents 65+ count 1 + this", default=FromData(
            _D, "underserved.elderly_weight")),
        Key("distance_cap", Number(0, lo_open=True), "severity: distance over threshold, capped at this",
            default=FromData(_D, "underserved.distance_cap")),
        Key("suspect_below", _SHARE, "a category with fewer facilities than this share of its provision figure is "
            "suspect data (0: off)", default=FromData(_D, "underserved.suspect_below")),
    ),
)

_ZONE_LEVEL = Section(
    "zones.levels", "One more zone level (街道, 居委, a management grid, life-circle units), rolled up with its "
    "overlaps, gaps and nesting reported.",
    (
        Key("name", Text(nonempty=True), "the level's name (letters, digits, `_`): its layer is `zones_<name>`",
            required=True, example="levels = [{ name = 'jiedao', source = { path = 'jiedao.gpkg' } }]"),
        Key("source", _Source(), "zone polygons", default_doc="one of `source`, `grid_m`, `life_circle`"),
        Key("grid_m", _POS_M, "a square grid of this cell size instead of `source`"),
        Key("life_circle", Flag(), "life-circle units grown from the blocks instead of `source`", default=False),
        Key("population", ListOf(Number(0, lo_open=True, unit="residents")), "a life-circle unit's `[min, max]` "
            "(or `[min]`) residents", default_doc="the profile's `life_circle_population`"),
        Key("id_field", Text(nonempty=True), "column of `source` with the zone ids", default="zone_id"),
        Key("parent", Text(nonempty=True), "the level this one nests in (`zones` for `[zones]` itself): each "
            "zone crossing its parent's boundary is reported"),
        Key("parent_field", Text(nonempty=True), "column of `source` with the id of each zone's parent zone",
            default_doc="the parent holding most of the zone"),
    ),
    array=True,
    rules=("each level has one of `source`, `grid_m` or `life_circle = true`; names are unique and not `zones`; "
           "`parent` names `zones` or a level listed before",),
    example="levels = [{ name = 'jiedao', source = { path = 'jiedao.gpkg' }, id_field = 'name' }]",
)

_ZONES = Section(
    "zones", "The management units blocks are rolled up to.",
    (
        Key("source", _Source(), "zone polygons (街道, 居委, 网格)", default_doc="a square grid of `grid_m`"),
        Key("id_field", Text(), "column of `source` with the zone ids", default_doc="`\"zone_id\"`"),
        Key("grid_m", _POS_M, "cell size of the grid used without `source`", default=1000.0),
        Key("life_circle", Flag(), "also partition the blocks into life-circle units of the profile's "
            "`life_circle_population` (a level named `life_circle`; off when the profile gives none)", default=True),
        Key("levels", ArrayOf(_ZONE_LEVEL), "further zone levels, each rolled up on its own (layer `zones_<name>`)",
            default=[]),
    ),
)

_CANDIDATE = Section(
    "sites.candidates", "A layer of candidate sites for new facilities.",
    (
        Key("source", _Source(), "the layer", required=True, missing="a candidate layer needs a source",
            example="candidates = [{ source = { dataset = 'landuse_points' }, kind = 'landuse' }]"),
        Key("kind", Choice(("landuse", "osm", "all"), what="candidate kind"), "`landuse`: rows whose type is in "
            "`types`; `osm`: features matching `tags`; `all`: every feature", default="landuse"),
        Key("field", Text(), "the type column (`kind = \"landuse\"`)", default="landuse_type"),
        Key("types", _STRINGS, "land-use types that can host a site", default_doc="`[sites] landuse_types`"),
        Key("tags", _STRINGS, "OSM tag rules (`kind = \"osm\"`)", default_doc="`[sites] osm_tags`"),
        Key("type", Text(), "the site type of every row (`kind = \"all\"`)", default="user site"),
    ),
    array=True,
    example="candidates = [{ source = { dataset = 'landuse_points' }, kind = 'landuse', field = 'landuse_type' }]",
)

_SITE_WEIGHTS = Section(
    "sites.weights", "Weights of the site score's criteria, each scaled to 0-1 within the study (0: off).",
    tuple(Key(c, _WEIGHT, doc, default=FromData(_D, f"sites.weights.{c}")) for c, doc in (
        ("newly_served", "residents newly within reach of a hub there"),
        ("elderly_share", "share of residents 65+ among them"),
        ("walk_deficit", "how far the block's walkability lies below the study's"),
        ("heritage_fit", "fit with heritage controls (`[sites.heritage_fit]`)"),
        ("waterfront", "nearness to a waterfront access point"),
        ("cost", "cheaper sites score higher (with a `cost` column)"),
        ("voice", "residents' reports in the site's block (`[voice]` voice_index); 0 by default"),
    )),
)

_HERITAGE_FIT = Section(
    "sites.heritage_fit", "The heritage-fit criterion per heritage class of the site's block.",
    tuple(Key(c, _SHARE, doc, default=FromData(_D, f"sites.heritage_fit.{c}")) for c, doc in (
        ("none", "outside heritage zones"), ("buffer", "in a control buffer"), ("core", "in a heritage core"))),
)

def _interventions() -> list[str]:
    from .datasets import data_toml

    return list(data_toml("heritage_rules.toml")["interventions"])


_SITES = Section(
    "sites", "Candidate sites for new facilities and how they are scored (defaults: `data/decisions.toml`).",
    (
        Key("candidates", ArrayOf(_CANDIDATE), "the candidate layers", default=[]),
        Key("exclude", _Source(), "areas to leave alone: sites inside are excluded"),
        Key("landuse_types", _STRINGS, "land-use types that can host a site",
            default=FromData(_D, "sites.landuse_types")),
        Key("osm_tags", _STRINGS, "OSM tag rules of features that can host a site",
            default=FromData(_D, "sites.osm_tags")),
        Key("max_snap_m", _POS_M, "sites further than this from a street are not used",
            default=FromData(_D, "sites.max_snap_m")),
        Key("weights", Table(_SITE_WEIGHTS), "criteria weights"),
        Key("heritage_fit", Table(_HERITAGE_FIT), "heritage fit per class"),
        Key("hub_intervention", Choice(_interventions, what="intervention"),
            "what a hub on an open site needs (`data/heritage_rules.toml`): where the site's heritage class "
            "forbids it the site is left out of the selection", default=FromData(_D, "sites.hub_intervention")),
        Key("reuse_types", _STRINGS, "site types that are existing buildings: a hub there is `adaptive_reuse`",
            default=FromData(_D, "sites.reuse_types")),
        Key("green_types", _STRINGS, "site types that are existing green space",
            default=FromData(_D, "sites.green_types")),
        Key("build_on_green", Flag(), "offer existing green space (`green_types`) for a hub",
            default=FromData(_D, "sites.build_on_green")),
    ),
)

_SELECTION = Section(
    "selection", "Where to place new hubs: the sites that bring the most residents within reach.",
    (
        Key("categories", _STRINGS, "the categories a hub provides (a neighbourhood centre)",
            default=FromData(_D, "selection.categories")),
        Key("k", Number(1, integer=True), "number of hubs", default=FromData(_D, "selection.k"),
            default_doc="none when only `budget` is given"),
        Key("budget", Number(0, lo_open=True), "total cost the hubs may take (needs a `cost` column of the sites)"),
        Key("elderly_weight", _WEIGHT, "a resident 65+ counts 1 + this in the objective",
            default=FromData(_D, "selection.elderly_weight")),
        Key("time_limit_s", Number(0, lo_open=True, unit="seconds"), "time limit of the exact solver", default=60.0),
        Key("hub_capacity", AnyOf((Number(0, lo_open=True), MapOf(Number(0, lo_open=True), "category"))),
            "a capacitated selection beside the plain one: the weighted residents (residents + `elderly_weight` × "
            "65+) each hub serves at most, one number or one per category (candidate_sites.selected_capacitated)",
            default_doc="none: no capacitated selection", example="hub_capacity = 20000"),
        Key("full_coverage_share", Number(0, 1, lo_open=True),
            "full coverage (LSCP): the share of the residents some candidate site can reach that the fewest hubs "
            "must bring within each category's threshold (run.json decisions.full_coverage)",
            default=FromData(_D, "selection.full_coverage_share")),
        Key("full_coverage_anywhere", Flag(), "also count the hubs full coverage needs if a hub could go in any "
            "populated block whose heritage class allows one (not only at the candidate sites)",
            default=FromData(_D, "selection.full_coverage_anywhere")),
        Key("service_area_minutes", ListOf(Number(0, lo_open=True, unit="minutes")),
            "walking times of the service areas of the hubs and of the hub categories' facilities (layer "
            "service_areas)", default=FromData(_D, "selection.service_area_minutes")),
        Key("service_area_buffer_m", _POS_M, "a service area is its reached streets buffered by this either side",
            default=FromData(_D, "selection.service_area_buffer_m")),
        Key("facility_service_areas", Flag(), "service areas for every facility of the hub categories too, not "
            "only for the hubs (one polygon per facility and time)",
            default=FromData(_D, "selection.facility_service_areas")),
    ),
)

_LONLAT = ListOf(Number(-180, 180), length=2)


@dataclass(frozen=True)
class _Line(Kind):
    """A line as ``[[lon, lat], ...]``: two points or more (a scenario's walking link)."""

    def check(self, value: Any, path: str, ctx: _Check, example: str = "") -> None:
        ex = example or "coords = [[121.4401, 31.1902], [121.4432, 31.1915]]"
        if not isinstance(value, list | tuple) or len(value) < 2:
            ctx.fail(path, f"a line needs two [lon, lat] points or more, not {value!r}", ex)
        for i, v in enumerate(value):
            _LONLAT.check(v, f"{path}[{i}]", ctx, ex)

    def type_text(self) -> str:
        return "list of [lon, lat] points"

    def limits(self) -> str:
        return "two points or more, WGS84"

_SCENARIO_FACILITY = Section(
    "scenario.facilities", "A proposed facility of a scenario (toolkit.scenario).",
    (
        Key("category", Text(nonempty=True), "its category (a category of the profile)", required=True,
            missing="a proposed facility needs its category", example="category = 'elderly_care'"),
        Key("lon", Number(-180, 180), "longitude (WGS84)", required=True, example="lon = 121.437"),
        Key("lat", Number(-90, 90), "latitude (WGS84)", required=True, example="lat = 31.195"),
        Key("access", _LONLAT, "`[lon, lat]` of its entrance (an estate gate): the walk starts there, not at the "
            "point, so a facility deep inside an estate is not refused as too far from a street",
            default_doc="the point itself"),
        Key("name", Text(), "a name for the map and the tables", default=""),
    ),
    array=True,
    example="facilities = [{ category = 'elderly_care', lon = 121.437, lat = 31.195, access = [121.4372, 31.1938] }]",
)

_SCENARIO_LINK = Section(
    "scenario.links", "A proposed walking link of a scenario: a riverside path, a gate through an estate.",
    (
        Key("coords", _Line(), "its line, `[[lon, lat], ...]` (WGS84, two points or more); it joins the "
            "streets at its two ends only", required=True, missing="a link needs its line",
            example="coords = [[121.4401, 31.1902], [121.4432, 31.1915]]"),
        Key("name", Text(), "a name for the map and the tables", default=""),
    ),
    array=True,
    example="links = [{ coords = [[121.4401, 31.1902], [121.4432, 31.1915]], name = 'riverside path' }]",
)

_SCENARIO = Section(
    "scenario",
    "A proposal compared with the baseline run (toolkit.scenario): facilities added, facilities closed, walking "
    "links added. It is measured on the baseline's categories, data status and denominators; the baseline is "
    "never changed.",
    (
        Key("name", _Folder(), "short name: the layers `scenario_<name>_blocks` and `scenario_<name>_facilities`",
            required=True, missing="a scenario needs a name", example="name = 'elderly_points'"),
        Key("title", Text(), "title in the report and the map", default=""),
        Key("facilities", ArrayOf(_SCENARIO_FACILITY), "proposed facilities given inline", default=[]),
        Key("facilities_source", _Source(), "proposed facilities from a layer: a category column "
            "(`category_field`) and, optionally, `access_lon` / `access_lat` columns (WGS84) of their entrances"),
        Key("category_field", Text(nonempty=True), "the category column of `facilities_source`", default="category"),
        Key("close", ListOf(Number(1, integer=True)), "facilities closed, by `facility_id` (the facilities layer's)",
            default=[]),
        Key("close_source", _Source(), "facilities closed: those whose point lies in these polygons"),
        Key("close_categories", _STRINGS, "with `close_source`: close only facilities of these categories",
            default_doc="all"),
        Key("links", ArrayOf(_SCENARIO_LINK), "proposed walking links given inline", default=[]),
        Key("links_source", _Source(), "proposed walking links from a line layer"),
        Key("link_max_snap_m", _POS_M, "how far a link's end may lie from a street it joins", default=50.0),
    ),
    array=True,
    example="[[scenario]] name = 'elderly_points'",
    rules=("names are unique; categories are the profile's; `close` ids are the baseline's facility ids",),
)

_PRIORITY = Section(
    "priority", "The priority list (toolkit.priority): blocks and zones by severity, worst first, with reasons and "
    "their sensitivity (defaults: `data/decisions.toml`). Only categories with complete data rank a block.",
    (
        Key("distance_cap", Number(1), "the shortfall min(distance / threshold, cap) stops growing here",
            default=FromData(_D, "priority.distance_cap")),
        Key("basic_importance", _WEIGHT, "importance of the basic categories (`[underserved] basic_categories`)",
            default=FromData(_D, "priority.basic_importance")),
        Key("other_importance", _WEIGHT, "importance of the other categories",
            default=FromData(_D, "priority.other_importance")),
        Key("importance", MapOf(_WEIGHT, key_doc="category"), "importance per category, over the two above",
            default_doc="none"),
        Key("bands", MapOf(_STRINGS, key_doc="population column"), "the categories whose people are a population "
            "column's (`pop_0_14`, `pop_65plus`); all residents otherwise",
            default_doc="`data/decisions.toml` [priority.bands]"),
        Key("top_n", Number(1, integer=True), "blocks listed in run.json", default=FromData(_D, "priority.top_n")),
        Key("reason_items", Number(1, integer=True), "categories a block's reason names, largest part first",
            default=FromData(_D, "priority.reason_items")),
        Key("zone_weights", _Source(), "a CSV of zone weights (columns: the zones' id field and `weight`), e.g. a "
            "neighbourhood council's ranking: a zone's severity is multiplied by its weight (1 when not listed)"),
        Key("zone_weight_field", Text(), "the weight column of `zone_weights`", default="weight"),
        Key("use_voice", Flag(), "multiply the severity by 1 + the block's voice_index (with `[voice]`)",
            default=True),
    ),
)

_VOICE = Section(
    "voice", "Residents' voice (toolkit.voice): a point layer of complaints or survey responses (12345 hotline, "
    "随手拍), counted per block and zone, shown on the map and weighing the priority list and the site score.",
    (
        Key("source", _Source(), "the points: a CSV with lon/lat columns or any vector file; declare `crs = "
            "\"gcj02\"` for Amap-geocoded exports", required=True, missing="a voice layer needs its points",
            example="source = { path = 'complaints.csv', lon = 'lng', lat = 'lat', crs = 'gcj02' }"),
        Key("topic_field", Text(), "the column of each point's category or topic", required=True,
            missing="name the topic column", example="topic_field = '类别'"),
        Key("date_field", Text(), "the column of each point's date (2024-03-05, 2024/3/5, 2024年3月5日)",
            required=True, missing="name the date column", example="date_field = '受理时间'"),
        Key("weight", _WEIGHT, "the voice index's weight: severity x (1 + weight x normalised rate)", default=1.0),
        Key("name", Text(), "the layer's name in the outputs", default_doc="its source"),
        Key("topics", _STRINGS, "count only these topics", default_doc="all"),
        Key("snap_m", _NONNEG_M, "a point in no block counts for the nearest block within this", default=30.0),
        Key("normalise_quantile", Number(0, 1, lo_open=True), "the rate that counts as 1: this quantile of the "
            "rates of the blocks with points", default=0.95),
    ),
)

#: The top-level sections of a study TOML, in the order of the reference.
SECTIONS: tuple[Section, ...] = (_STUDY, _AREA, _NETWORK, _BLOCKS, _POPULATION, _COMPOUNDS, _STANDARDS, _FACILITY,
                                 _OUTPUT, _WALKABILITY, _HERITAGE, _WATERFRONT, _UNDERSERVED, _ZONES, _SITES,
                                 _SELECTION, _PRIORITY, _VOICE, _SCENARIO)

#: The whole file: one key per section.
ROOT = Section("", "A study TOML.", tuple(
    Key(s.name, ArrayOf(s) if s.array else Table(s), s.doc.split(". ")[0]) for s in SECTIONS))

#: Sections added at run time by the overlays registered with :func:`toolkit.overlays.register`
#: (not in docs/config.md, which documents the toolkit's own).
_EXTRA: dict[str, Section] = {}


def register_section(section: Section) -> None:
    """Accept ``[section.name]`` in study files from now on (an overlay's own section).

    Raises ``ValueError`` when the name is one of the toolkit's sections.

    Examples
    --------
    >>> register_section(Section("demo_overlay", "A demo.", (Key("radius_m", Number(0), "a radius"),)))
    >>> "demo_overlay" in extra_sections()
    True
    >>> unregister_section("demo_overlay")
    """
    if ROOT.get(section.name) is not None:
        raise ValueError(f"[{section.name}] is a section of the toolkit: choose another name")
    _EXTRA[section.name] = section


def unregister_section(name: str) -> None:
    """Stop accepting a section added by :func:`register_section` (no error when absent)."""
    _EXTRA.pop(name, None)


def extra_sections() -> dict[str, Section]:
    """The sections added by :func:`register_section`, by name."""
    return dict(_EXTRA)


def source_keys(section: Section) -> dict[str, bool]:
    """The keys of ``section`` that are data sources, each with whether it takes a list of them."""
    return {k.name: isinstance(k.kind, _Sources) for k in section.keys if isinstance(k.kind, _Source | _Sources)}


def _nested(sections: Iterable[Section]) -> list[Section]:
    """Every section, each followed by the tables nested in it (depth first), without repeats."""
    out: list[Section] = []

    def kinds(k: Kind) -> Iterable[Kind]:
        yield k
        for sub in (getattr(k, "item", None), getattr(k, "value", None), *getattr(k, "kinds", ())):
            if isinstance(sub, Kind):
                yield from kinds(sub)

    def visit(s: Section) -> None:
        if s in out:
            return
        out.append(s)
        for key in s.keys:
            for k in kinds(key.kind):
                if isinstance(k, Table | ArrayOf):
                    visit(k.section)

    for s in sections:
        visit(s)
    return out


# ----------------------------------------------------------------- checking
def check_study_dict(raw: Any, source: str | None = None, *, python: bool = False) -> None:
    """Check a parsed study against the declarations: every section, before anything is built or read.

    Unknown sections and keys are refused with the closest valid name, values
    of the wrong type or out of range with the key and an example. CRS values
    and the dataset names are checked last (the CRS through pyproj), so a typo
    anywhere is reported at once.

    Parameters
    ----------
    raw : dict
        The study as :func:`tomllib.load` gives it (or :func:`toolkit.config.study_to_raw`).
    source : str, optional
        The study file (or ``"Study (built in Python)"``), for the messages.
    python : bool
        The values come from a :class:`~toolkit.config.Study` built in Python:
        data sources must be :class:`~toolkit.config.Source` objects (see :class:`SourceDict`).

    Raises
    ------
    InputError
        The first problem found, naming ``source``, the key (``network.facility_max_snap``) and the fix.

    Examples
    --------
    >>> raw = {"study": {"name": "s"}, "area": {"bbox": [121.43, 31.19, 121.45, 31.21]},
    ...        "network": {"source": {"dataset": "xuhui_roads"}, "facility_max_snap": 300}}
    >>> try:
    ...     check_study_dict(raw, "s.toml")
    ... except InputError as e:
    ...     print(e.field, "|", e.problem, "|", e.fix.split("?")[0])
    network.facility_max_snap | unknown key 'facility_max_snap' in [network] | did you mean `facility_max_snap_m`
    """
    ctx = _Check(source, python)
    if not isinstance(raw, Mapping):
        ctx.fail("", f"a study must be a table of sections, not {type(raw).__name__}", "see docs/config.md")
    for name, value in raw.items():
        key = ROOT.get(name)
        if key is None and name in _EXTRA:  # an overlay's own section
            key = Key(str(name), Table(_EXTRA[name]), _EXTRA[name].doc)
        if key is None:
            home = [s.header() for s in SECTIONS if s.get(name) is not None]
            every = [*ROOT.names(), *_EXTRA]
            fix = _did_you_mean(name, every, "[{}]")
            if not fix and home and not isinstance(value, Mapping | list):
                fix = f"did you mean to write {name} under {' or '.join(home)}? "
            ctx.fail(str(name), f"unknown section [{name}]", fix + f"sections are: {_names(every)}")
        key.check(value, str(name), ctx)
    if "study" not in raw:
        _check_table(_STUDY, {}, "study", ctx)
    for check in ctx.deferred:
        check()


# -------------------------------------------------------------- reference
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def config_markdown() -> str:
    """The configuration reference (``docs/config.md``), generated from the declarations.

    Every section and key with its type, default, range or choices and meaning.

    Returns
    -------
    str
        Markdown.

    Examples
    --------
    >>> md = config_markdown()
    >>> "| `facility_max_snap_m` | number | `250` | > 0 |" in md
    True
    """
    lines = [
        "# Study configuration reference",
        "",
        "<!-- generated from toolkit/study_schema.py by `python -m toolkit.study_schema docs/config.md`; "
        "do not edit by hand (tests/test_study_schema.py compares) -->",
        "",
        "A study is a TOML file (`data/studies/xuhui.toml` is the annotated example); paths in it are relative to "
        "the file. Every section and key is checked when the study loads, before anything is read or computed: an "
        "unknown key is an error that names the closest valid one, a value of the wrong type or out of range an "
        "error with an example. A `Study` built or changed in Python gets the same checks when it runs "
        "(`toolkit.run_study`), is saved (`write_outputs`), or `study.validate()` is called.",
        "",
        "Sections: " + ", ".join(f"[`{s.header()}`](#{s.anchor()})" for s in SECTIONS)
        + ", and [data sources](#data-sources).",
        "",
    ]
    for s in [*_nested(SECTIONS), *_nested([SOURCE])]:
        title = "Data sources" if s is SOURCE else f"`{s.header()}`"
        lines += [f'<a id="{s.anchor()}"></a>', "", f"## {title}", "", s.doc, ""]
        if s.rules:
            lines += ["Rules: " + "; ".join(s.rules) + ".", ""]
        lines += ["| key | type | default | range / choices | meaning |", "|---|---|---|---|---|"]
        for k in s.keys:
            lines.append(f"| `{k.name}` | {_cell(k.kind.type_text())} | {_cell(k.default_text())} | "
                         f"{_cell(k.kind.limits())} | {_cell(k.doc)} |")
        if s.open is not None:
            lines.append(f"| {_cell(s.open_doc)} | {_cell(s.open.type_text())} | — | {_cell(s.open.limits())} | "
                         "any other key: a layer of that name |")
        lines.append("")
    n_keys = sum(len(s.keys) for s in [*_nested(SECTIONS), SOURCE])
    lines += [f"{len(_nested(SECTIONS)) + 1} tables, {n_keys} keys.", ""]
    return "\n".join(lines)


def write_config_docs(path: str | os.PathLike) -> Path:
    """Write :func:`config_markdown` to ``path`` (UTF-8) and return it.

    Examples
    --------
    >>> write_config_docs("docs/config.md")  # doctest: +SKIP
    PosixPath('docs/config.md')
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(config_markdown(), encoding="utf-8")
    return p


if __name__ == "__main__":
    print(write_config_docs(sys.argv[1] if len(sys.argv) > 1 else "docs/config.md"))
