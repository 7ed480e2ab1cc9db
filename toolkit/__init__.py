"""Urban micro-renewal planning toolkit: 15-minute life-circle coverage, block by block.

Notebook use::

    import toolkit as tk
    study = tk.load_study("xuhui")          # or a path to your own study TOML
    result = tk.run_study(study)
    result.summary()                        # coverage rate per category
    result.blocks                           # GeoDataFrame, one row per street block
    result.save("maps")                     # GeoPackage, map.html, run.json
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["InputError", "Study", "StudyResult", "ToolkitError", "__version__", "load_study", "run_study"]

if TYPE_CHECKING:
    from .config import Study, load_study
    from .errors import InputError, ToolkitError
    from .result import StudyResult
    from .study import run_study

_LAZY = {"Study": "config", "load_study": "config", "InputError": "errors", "ToolkitError": "errors",
         "StudyResult": "result", "run_study": "study"}


def __getattr__(name: str) -> Any:
    # Imported on first use so that `toolkit --help` and cached batch runs start fast
    # without loading geopandas, osmnx and scipy.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
