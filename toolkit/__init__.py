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

__version__ = "0.1.0"

from .config import Study, load_study
from .errors import InputError, ToolkitError
from .study import StudyResult, run_study

__all__ = ["InputError", "Study", "StudyResult", "ToolkitError", "__version__", "load_study", "run_study"]
