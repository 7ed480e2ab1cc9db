"""Old import paths kept for one release after the outputs moved to :mod:`toolkit.outputs`.

``toolkit.maps``, ``toolkit.report``, ``toolkit.styles``, ``toolkit.export`` and
``toolkit.webassets`` still work, but every name taken from them raises a
``FutureWarning`` naming the new module, as osmnx and momepy deprecate: a script
keeps running for one release and says what to change.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["MOVED", "moved"]

# old module -> the modules that now hold its names, searched in order
MOVED: dict[str, tuple[str, ...]] = {
    "toolkit.maps": ("toolkit.outputs.webmap",),
    "toolkit.webassets": ("toolkit.outputs.webassets",),
    "toolkit.styles": ("toolkit.outputs.styles",),
    "toolkit.export": ("toolkit.outputs.writers",),
    "toolkit.report": ("toolkit.outputs.report", "toolkit.outputs.schema", "toolkit.outputs.static"),
}


def moved(old: str, targets: Sequence[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for a module whose names moved to ``targets``.

    Examples
    --------
    In ``toolkit/maps.py``::

        __getattr__, __dir__ = moved(__name__, ["toolkit.outputs.webmap"])
    """

    def _modules() -> list[Any]:
        return [importlib.import_module(t) for t in targets]

    def __getattr__(name: str) -> Any:
        if name.startswith("__") and name != "__all__":
            raise AttributeError(name)
        for mod in _modules():
            if name == "__all__":
                continue
            if hasattr(mod, name):
                warnings.warn(f"{old}.{name} moved to {mod.__name__}.{name}; {old} will be removed in the next release",
                              FutureWarning, stacklevel=2)
                return getattr(mod, name)
        if name == "__all__":
            return sorted({n for mod in _modules() for n in getattr(mod, "__all__", ())})
        raise AttributeError(f"module {old!r} has no attribute {name!r} (it moved to {', '.join(targets)})")

    def __dir__() -> list[str]:
        return sorted({n for mod in _modules() for n in dir(mod) if not n.startswith("_")})

    return __getattr__, __dir__
