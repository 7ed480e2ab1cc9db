"""The glossary: one English and one Chinese name per thing the toolkit prints.

Every label of the web map (:mod:`toolkit.outputs.webmap`), the QGIS styles (:mod:`toolkit.outputs.styles`), the
static maps, report.html and the data dictionary (:mod:`toolkit.outputs.report`) comes from ``data/labels.toml`` through
:func:`label`, so 服务不足街坊 is called 服务不足街坊 in the map's layer switcher, in QGIS, in the report and
in schema.md alike. The file's header says how an entry is written.

Two kinds of names are referred to, not copied:

* facility categories keep their names in ``data/categories.toml`` (``label_en`` / ``label_zh``, through
  :meth:`toolkit.standards.Category.label`); the glossary holds none;
* a column's Chinese name is the one of the data dictionary, ``data/schema.toml`` (``zh`` of the column
  in the layer a ``[col]`` entry names): ``col.<name>`` keys take their Chinese from there and only their
  short English name from ``data/labels.toml``. :func:`column` names any column the same way.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from difflib import get_close_matches
from functools import cache
from types import MappingProxyType
from typing import Any

from .datasets import data_dir

LANGS = ("en", "zh")
_REF = re.compile(r"\$\{([\w.<>]+)\}")


class GlossaryError(ValueError):
    """``data/labels.toml`` cannot be read as a glossary (a missing text, a bad reference or alias)."""


@cache
def _schema_columns() -> dict[str, dict[str, str]]:
    """Per layer of ``data/schema.toml``, column name or pattern to its Chinese name."""
    with open(data_dir() / "schema.toml", "rb") as f:
        layers = tomllib.load(f).get("layers", {})
    return {name: {c.get("name") or c.get("pattern"): c.get("zh", "") for c in spec.get("columns", [])}
            for name, spec in layers.items()}


def _entries(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``section.name`` to its entry, every section a table of entries."""
    entries: dict[str, dict[str, Any]] = {}
    for section, items in raw.items():
        if not isinstance(items, dict):
            raise GlossaryError(f"labels.toml: {section!r} is not a section of entries")
        for name, entry in items.items():
            if not isinstance(entry, dict):
                raise GlossaryError(f"labels.toml: {section}.{name} is not an entry {{ en = ..., zh = ... }}")
            entries[f"{section}.{name}"] = entry
    return entries


def _texts(key: str, entry: Mapping[str, Any], schema: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """An entry's texts per language (a column's Chinese name from data/schema.toml), each checked."""
    if key.startswith("col."):
        # a column's Chinese name is the data dictionary's: one source, data/schema.toml
        if "zh" in entry or "schema" not in entry:
            raise GlossaryError(f"labels.toml: {key} takes its Chinese name from data/schema.toml: give "
                                "`schema = \"<layer>\"` and no zh")
        col = key[4:]
        zh = schema.get(entry["schema"], {}).get(col)
        if not zh:
            raise GlossaryError(f"labels.toml: {key}: data/schema.toml has no zh for {entry['schema']}.{col}")
        entry = {"en": entry.get("en", ""), "zh": zh}
    elif "schema" in entry:
        raise GlossaryError(f"labels.toml: {key}: only [col] entries refer to data/schema.toml")
    for lang in LANGS:
        if not isinstance(entry.get(lang), str) or not entry[lang].strip():
            raise GlossaryError(f"labels.toml: {key} has no {lang} text")
    return {lang: entry[lang] for lang in LANGS}


def _split(entries: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """The entries' texts, and the aliases to the key each names in the end (chains followed)."""
    aliases: dict[str, str] = {}
    texts: dict[str, dict[str, str]] = {}
    schema = _schema_columns()
    for key, entry in entries.items():
        extra = set(entry) - {"en", "zh", "schema", "alias"}
        if extra:
            raise GlossaryError(f"labels.toml: {key} has unknown field(s) {', '.join(sorted(extra))}")
        if "alias" in entry:
            if set(entry) != {"alias"}:
                raise GlossaryError(f"labels.toml: {key} is an alias and has texts of its own")
            aliases[key] = entry["alias"]
            continue
        texts[key] = _texts(key, entry, schema)
    for key, target in aliases.items():
        while target in aliases:
            target = aliases[target]
        if target not in texts:
            raise GlossaryError(f"labels.toml: {key} is an alias of {aliases[key]!r}, which is not an entry")
        aliases[key] = target
    return texts, aliases


def _read() -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    with open(data_dir() / "labels.toml", "rb") as f:
        raw = tomllib.load(f)
    texts, aliases = _split(_entries(raw))

    def resolve(key: str, lang: str, seen: tuple[str, ...]) -> str:
        key = aliases.get(key, key)
        if key in seen:
            raise GlossaryError(f"labels.toml: {' -> '.join((*seen, key))} refers to itself")
        if key not in texts:
            raise GlossaryError(f"labels.toml: {seen[-1]} refers to ${{{key}}}, which is not an entry")
        return _REF.sub(lambda m: resolve(m.group(1), lang, (*seen, key)), texts[key][lang])

    out = {key: {lang: resolve(key, lang, ()) for lang in LANGS} for key in texts}
    out.update({key: out[target] for key, target in aliases.items()})
    return out, aliases


_LABELS, _ALIASES = _read()

#: Every key of the glossary to its texts, ``{"en": ..., "zh": ...}`` (references filled in, aliases included).
LABELS: Mapping[str, Mapping[str, str]] = MappingProxyType({k: MappingProxyType(v) for k, v in _LABELS.items()})
#: Keys declared as a second name of another key (``{ alias = "other.key" }``), to the key they name.
ALIASES: Mapping[str, str] = MappingProxyType(_ALIASES)


def _lang(lang: str | None) -> str:
    return "zh" if lang == "zh" else "en"


def _fill(text: str, fields: Mapping[str, Any]) -> str:
    if not fields:
        return text
    text = text.format(**fields)
    for k, v in fields.items():
        text = text.replace(f"<{k}>", str(v))
    return text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def label(key: str, lang: str | None = "en", *, cap: bool = False, **fields: Any) -> str:
    """The glossary's name of ``key`` in ``lang``.

    Parameters
    ----------
    key : str
        A key of ``data/labels.toml``, ``section.name`` (``layer.blocks``, ``col.pop_65plus``,
        ``legend.underserved``, ...).
    lang : {"en", "zh"}, default "en"
        Anything but ``"zh"`` gives English.
    cap : bool, default False
        Capitalise the first letter (a heading or a table header from a name written in lower case).
    **fields
        Values for the text's ``{field}`` (``str.format``) and ``<field>`` placeholders.

    Returns
    -------
    str

    Raises
    ------
    KeyError
        When the glossary has no ``key`` (the message names the closest keys).

    Examples
    --------
    >>> label("layer.underserved", "zh"), label("layer.underserved")
    ('服务不足街坊', 'Underserved blocks')
    >>> label("col.pop_65plus", "zh")  # a column: its Chinese name is the data dictionary's
    '65岁及以上人口'
    >>> label("legend.n_of", "en", i=2, n=5)
    '2 of 5 categories'
    >>> label("col.dist_<category>_m", "zh", category="公交/轨交站点")
    '至公交/轨交站点步行距离'
    """
    try:
        text = _LABELS[key][_lang(lang)]
    except KeyError:
        near = get_close_matches(key, _LABELS, n=3)
        raise KeyError(f"no label {key!r} in data/labels.toml" + (f" (did you mean {', '.join(near)}?)"
                                                                  if near else "")) from None
    text = _fill(text, fields)
    return _cap(text) if cap and _lang(lang) == "en" else text


def column(name: str, lang: str | None = "en", *, layer: str = "blocks", default: str | None = None) -> str:
    """The name of column ``name`` of ``layer`` in popups and tables.

    The glossary's ``col.<name>`` when it has one; otherwise, in Chinese, the column's ``zh`` in
    ``data/schema.toml`` and, in English (or without a dictionary entry), ``default`` or the column name.

    Examples
    --------
    >>> column("walk_intersection_density", "zh"), column("walk_intersection_density", default="intersections")
    ('交叉口密度', 'intersections')
    """
    if f"col.{name}" in _LABELS:
        return label(f"col.{name}", lang)
    zh = (_schema_columns().get(layer, {}).get(name) or _pattern_zh(name, layer)) if _lang(lang) == "zh" else None
    return zh or default or name


def pattern_value_name(placeholder: str, value: str, lang: str | None = "zh") -> str:
    """The name of a value filling a column pattern's ``<placeholder>``: a category (``<category>``, its name in
    data/categories.toml), a walkability component (``<component>``, its column's name in data/schema.toml)
    or a site-scoring criterion (``<criterion>``, the glossary's ``criterion.<name>``); the value itself
    when it names none of them.

    Examples
    --------
    >>> pattern_value_name("category", "transit"), pattern_value_name("criterion", "cost")
    ('公交/轨交站点', '成本')
    >>> column("dist_transit_m", "zh")  # not 至transit步行距离
    '至公交/轨交站点步行距离'
    """
    if placeholder == "category":
        from .standards import categories  # lazy: the glossary is imported by modules toolkit.standards uses

        cats = categories()
        return cats[value].label(_lang(lang)) if value in cats else value
    if placeholder == "criterion" and f"criterion.{value}" in _LABELS:
        return label(f"criterion.{value}", lang)
    if placeholder == "component" and _lang(lang) == "zh":
        return _schema_columns().get("blocks", {}).get(f"walk_{value}") or value
    return value


def _pattern_zh(name: str, layer: str) -> str | None:
    """The Chinese name of a pattern column (``dist_commercial_m``: 至商业用地步行距离), or None."""
    for pattern, zh in _schema_columns().get(layer, {}).items():
        m = re.fullmatch(r"(.*)<(\w+)>(.*)", pattern or "")
        if not m or not zh:
            continue
        head, ph, tail = m.groups()
        if name.startswith(head) and name.endswith(tail) and len(name) > len(head) + len(tail):
            value = name[len(head):len(name) - len(tail)]
            named = pattern_value_name(ph, value, "zh")
            if named != value:  # a known value: the pattern applies
                return zh.replace(f"<{ph}>", named)
    return None


def keys(section: str | None = None) -> list[str]:
    """The glossary's keys (of one ``section``, e.g. ``"layer"``), in file order."""
    return [k for k in _LABELS if section is None or k.split(".", 1)[0] == section]


__all__ = ["ALIASES", "LABELS", "LANGS", "GlossaryError", "column", "keys", "label", "pattern_value_name"]
