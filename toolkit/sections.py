"""Report sections that analysis modules contribute without touching the report.

A module that adds a figure to a run (capacity, catchments, priorities, an overlay...)
describes it for report.html as :class:`Section` objects, from the result alone. The
report (:mod:`toolkit.outputs.report`) renders every section the same way: a heading,
paragraphs, a table and notes, all escaped. A provider is listed in :data:`PROVIDERS`
(built-in modules, imported on use) or registered at run time with :func:`register`
(a notebook, a plug-in, a test).

Examples
--------
>>> from toolkit.sections import Section
>>> s = Section("demo", "Demo", paragraphs=("One line.",), header=("a", "b"), rows=((1, 2),))
>>> s.key, len(s.rows)
('demo', 1)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .result import StudyResult

__all__ = ["PROVIDERS", "Section", "SectionProvider", "register", "sections", "unregister"]


@dataclass(frozen=True)
class Section:
    """One block of report.html: plain text only (the report escapes it).

    Parameters
    ----------
    key : str
        Stable identifier, used as the HTML anchor (``id="s-<key>"``).
    title : str
        Heading, already in the report's language (from :func:`toolkit.labels.label`).
    paragraphs : sequence of str
        Text before the table.
    header, rows : sequence
        An optional table; ``rows`` are sequences of values as printed.
    num_cols : sequence of int
        Table columns to right-align (numbers).
    notes : sequence of str
        Small print after the table (sources, formulas, caveats).
    order : int
        Position among the contributed sections (lower first).
    """

    key: str
    title: str
    paragraphs: Sequence[str] = ()
    header: Sequence[str] = ()
    rows: Sequence[Sequence[Any]] = ()
    num_cols: Sequence[int] = ()
    notes: Sequence[str] = ()
    order: int = 100


SectionProvider = Callable[["StudyResult", str], Sequence[Section]]

# "module:function" of the built-in providers; each returns [] when its figures are not in the run
PROVIDERS: list[str] = ["toolkit.provision:provision_sections", "toolkit.equity:zone_sections",
                        "toolkit.overlays:report_sections", "toolkit.priority:report_sections",
                        "toolkit.scenario:report_sections", "toolkit.location:report_sections"]

_REGISTERED: dict[str, SectionProvider] = {}


def register(name: str, provider: SectionProvider) -> None:
    """Add a section provider for this session (``name`` replaces one of the same name)."""
    _REGISTERED[name] = provider


def unregister(name: str) -> None:
    """Remove a provider added with :func:`register` (no error when absent)."""
    _REGISTERED.pop(name, None)


def _providers() -> list[SectionProvider]:
    out: list[SectionProvider] = []
    for path in PROVIDERS:
        mod, _, fn = path.partition(":")
        out.append(getattr(importlib.import_module(mod), fn))
    return [*out, *_REGISTERED.values()]


def sections(result: StudyResult, lang: str) -> list[Section]:
    """Every contributed section for ``result`` in ``lang``, in ``order`` then provider order."""
    found: list[Section] = []
    for provider in _providers():
        found.extend(provider(result, lang) or ())
    return sorted(found, key=lambda s: s.order)
