"""Deprecated: moved to :mod:`toolkit.outputs.webassets` (this alias is kept for one release)."""

from ._deprecated import MOVED, moved

__getattr__, __dir__ = moved(__name__, MOVED[__name__])
