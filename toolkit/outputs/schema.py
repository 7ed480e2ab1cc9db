"""The data dictionary of a study's outputs (schema.md), from ``data/schema.toml``.

:func:`write_schema` documents every layer and column written; columns the dictionary does not
describe are listed as *undocumented* (:func:`undocumented_columns`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from .. import __version__
from ..datasets import data_dir
from ..labels import LABELS, label

if TYPE_CHECKING:
    pass

__all__ = ["describe_column", "load_schema", "overlay_column", "schema_layer", "schema_markdown",
           "undocumented_columns", "write_schema"]


# ===================================================================== schema
@cache
def load_schema() -> dict[str, Any]:
    """The data dictionary (``data/schema.toml``)."""
    with open(data_dir() / "schema.toml", "rb") as f:
        return tomllib.load(f)


@cache
def _vocabulary() -> dict[str, frozenset[str]]:
    from ..standards import categories
    from ..underserved import decision_defaults
    from ..walkability import walkability_defaults

    return {"category": frozenset(categories()),
            "component": frozenset(walkability_defaults()["components"]),
            "criterion": frozenset(decision_defaults()["sites"]["weights"])}


@cache
def _pattern(pattern: str) -> tuple[re.Pattern[str], str | None]:
    m = re.search(r"<(\w+)>", pattern)
    if not m:
        return re.compile(re.escape(pattern) + r"\Z"), None
    head, tail = pattern[:m.start()], pattern[m.end():]
    return re.compile(re.escape(head) + r"(?P<v>\w+?)" + re.escape(tail) + r"\Z"), m.group(1)


def schema_layer(layer: str) -> str:
    """The ``data/schema.toml`` entry a layer is described by: ``scenario_<name>_blocks`` -> ``scenario_blocks``.

    Examples
    --------
    >>> schema_layer("scenario_elderly_points_blocks"), schema_layer("blocks")
    ('scenario_blocks', 'blocks')
    """
    # one set of layers per [[scenario]] (toolkit.scenario), all described by one entry each
    return re.sub(r"\Ascenario_.+_(blocks|facilities|links)\Z", r"scenario_\1", layer)


def describe_column(layer: str, column: str) -> dict[str, str] | None:
    """The dictionary entry of ``layer.column`` (placeholders filled in), or None when undocumented."""
    spec = load_schema().get("layers", {}).get(schema_layer(layer))
    if spec is None:
        return None
    cols = spec.get("columns", [])
    for c in cols:
        if c.get("name") == column:
            return {k: str(v) for k, v in c.items()}
    vocab = _vocabulary()
    for c in cols:
        if "pattern" not in c:
            continue
        rx, ph = _pattern(c["pattern"])
        m = rx.match(column)
        if not m or (ph is not None and m.group("v") not in vocab.get(ph, frozenset())):
            continue
        value = m.group("v") if ph else ""
        # the Chinese name takes the value's Chinese name (至商业用地步行距离), never the key (至commercial...)
        names = {k: (_zh_name(ph, value) if k == "zh" else value) for k in c} if ph else {}
        return {k: str(v).replace(f"<{ph}>", names[k]) if ph else str(v) for k, v in c.items()} | {"name": column}
    return None


def _zh_name(placeholder: str, value: str) -> str:
    """The Chinese name of a placeholder's value: a category, walkability component or scoring criterion."""
    from ..labels import pattern_value_name

    return pattern_value_name(placeholder, value, "zh")


def overlay_column(overlays: Mapping[str, Any] | None, layer: str, column: str) -> dict[str, str] | None:
    """The entry of ``layer.column`` from a registered overlay's declaration (``result.overlays``), or None.

    For the columns and layers of an overlay that ``data/schema.toml`` does not describe
    (:class:`toolkit.overlays.ColumnDoc`: label en/zh, meaning, unit).
    """
    for out in (overlays or {}).values():
        doc = out.column_doc(layer, column) if hasattr(out, "column_doc") else None
        if doc is not None:
            return {"name": column, "unit": doc.unit, "zh": doc.label_zh,
                    "meaning": doc.description or doc.label_en}
    return None


def _overlay_layer(overlays: Mapping[str, Any] | None, layer: str) -> Any:
    """The :class:`toolkit.overlays.LayerDoc` of an overlay's layer, or None."""
    for out in (overlays or {}).values():
        doc = out.layer_doc(layer) if hasattr(out, "layer_doc") else None
        if doc is not None:
            return doc
    return None


def _data_columns(gdf: pd.DataFrame) -> list[str]:
    geom = gdf.geometry.name if isinstance(gdf, gpd.GeoDataFrame) and gdf._geometry_column_name in gdf else None
    return [str(c) for c in gdf.columns if c != geom]


def undocumented_columns(layers: Mapping[str, pd.DataFrame | None],
                         overlays: Mapping[str, Any] | None = None) -> dict[str, list[str]]:
    """Per layer, the columns present in the data that ``data/schema.toml`` (nor an overlay) does not describe."""
    out: dict[str, list[str]] = {}
    for name, gdf in layers.items():
        if gdf is None:
            continue
        missing = [c for c in _data_columns(gdf) if describe_column(name, c) is None
                   and overlay_column(overlays, name, c) is None]
        if missing:
            out[name] = missing
    return out


def _dtype_name(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_integer_dtype(s):
        return "integer"
    if pd.api.types.is_float_dtype(s):
        return "real"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime"
    return "text"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _word(code: str, lang: str) -> str:
    """A type or geometry name (``schema.<code>``) in ``lang``; English output keeps the code itself."""
    key = f"schema.{code}"
    return label(key, lang) if lang == "zh" and key in LABELS else code


def _unit(unit: str, lang: str) -> str:
    """A column's unit as data/schema.toml writes it; in Chinese the glossary's ``unit.<unit>`` name.

    Units that list the column's values (``core | buffer | none``) are codes of the data: kept as written.
    """
    if lang != "zh" or not unit:
        return unit
    for key in (f"unit.{unit}", f"schema.{unit}"):
        if key in LABELS:
            return label(key, lang)
    return unit


def _layer_heading(name: str, s: Mapping[str, Any], lang: str) -> str:
    key = f"layer.{schema_layer(name)}"
    zh = label(key, "zh") if key in LABELS else s.get("zh")
    if lang == "zh":  # Chinese only: the layer's name in the other language is the English dictionary's
        return f"## `{name}`：{zh or s.get('title', name)}"
    # the English dictionary names each layer in both languages: its Chinese name is part of the dictionary
    title = label(key) if key in LABELS else s.get("title", name)
    return f"## `{name}`: {title}" + (f" ({zh})" if zh else "")


def _column_rows(name: str, gdf: pd.DataFrame, overlays: Mapping[str, Any] | None, lang: str) -> list[str]:
    t = lambda key: label(f"schema.{key}", lang)  # noqa: E731
    lines = [f"| {t('h_column')} | {t('h_type')} | {t('h_unit')} | {t('h_zh')} | {t('h_meaning')} |",
             "|---|---|---|---|---|"]
    for c in _data_columns(gdf):
        d = describe_column(name, c) or overlay_column(overlays, name, c)
        typ = _word(_dtype_name(gdf[c]), lang)
        if d is None:
            lines.append(f"| `{_md(c)}` | {typ} |  |  | {t('undocumented')} |")
        else:
            lines.append(f"| `{_md(c)}` | {typ} | {_md(_unit(d.get('unit', ''), lang))} | {_md(d.get('zh', ''))} | "
                         f"{_md(d.get('meaning', ''))} |")
    return lines


def schema_markdown(layers: Mapping[str, pd.DataFrame | None], *, study: str = "", crs: str = "",
                    files: Sequence[str] = (), overlays: Mapping[str, Any] | None = None,
                    lang: str | None = "en") -> str:
    """The data dictionary of ``layers`` as Markdown (what schema.md holds).

    Parameters
    ----------
    layers : mapping of str to DataFrame
        The layers written, by name.
    study, crs : str
        The study's name and CRS, for the heading.
    files : sequence of str
        The files written beside it.
    overlays : mapping, optional
        ``StudyResult.overlays``: they document the columns and layers of registered overlays that
        ``data/schema.toml`` does not describe.
    lang : {"en", "zh"}, default "en"
        Language of the headings, table header, types and units (all from the glossary,
        ``data/labels.toml`` sections ``schema`` and ``unit``). Every column's Chinese name is printed in
        both; the meanings are those of ``data/schema.toml``, which are written in English.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> blocks = gpd.GeoDataFrame({"population": [120.0]}, geometry=[shapely.box(0, 0, 1, 1)], crs=32651)
    >>> print(schema_markdown({"blocks": blocks}, lang="zh").splitlines()[0])
    # 数据字典
    >>> "| `population` | 实数 | 人 | 常住人口 |" in schema_markdown({"blocks": blocks}, lang="zh")
    True
    """
    lang = "zh" if lang == "zh" else "en"
    t = lambda key, **kw: label(f"schema.{key}", lang, **kw)  # noqa: E731
    spec = load_schema().get("layers", {})
    sep = "：" if lang == "zh" else ": "
    lines = [f"# {t('title')}{f'{sep}{study}' if study else ''}", ""]
    crs_txt = (f"（{crs}）" if lang == "zh" else f" ({crs})") if crs else ""
    lines += [t("generated", version=__version__, crs=crs_txt), ""]
    if files:
        lines += [t("files"), "", *[f"- `{f}`" for f in files], ""]
    lines += [t("csv_note"), ""]
    undocumented = undocumented_columns(layers, overlays)
    for name, gdf in layers.items():
        if gdf is None:
            continue
        s = spec.get(schema_layer(name), {})
        od = _overlay_layer(overlays, name) if not s else None
        if od is not None:  # an overlay's layer: its declaration's title and meaning
            s = {"title": od.title_en, "zh": od.title_zh, "description": od.description}
        kinds = sorted(set(gdf.geometry.geom_type.dropna())) if isinstance(gdf, gpd.GeoDataFrame) and len(gdf) else []
        kind = label("word.list_sep", lang).join(_word(k, lang) for k in kinds) if kinds \
            else label("word.none", lang)
        lines += [_layer_heading(name, s, lang), ""]
        if s.get("description"):
            lines += [s["description"], ""]
        lines += [t("rows", n=f"{len(gdf):,}", kind=kind), ""]
        lines += _column_rows(name, gdf, overlays, lang)
        lines.append("")
    lines += [f"## {t('undocumented_title')}", ""]
    if undocumented:
        lines += [t("undocumented_intro"), ""]
        lines += [f"- `{layer}`: {', '.join(f'`{c}`' for c in cols)}" for layer, cols in undocumented.items()]
    else:
        lines.append(t("all_documented"))
    lines.append("")
    return "\n".join(lines)


def write_schema(path: str | Path, layers: Mapping[str, pd.DataFrame | None], **kwargs: Any) -> Path:
    """Write :func:`schema_markdown` to ``path`` (UTF-8)."""
    path = Path(path)
    path.write_text(schema_markdown(layers, **kwargs), encoding="utf-8")
    return path


