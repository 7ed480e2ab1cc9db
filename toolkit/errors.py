"""Errors raised for bad input.

Every error a user can trigger with their own data is an :class:`InputError`
that names the file, the row or field, and the fix, so the CLI can print it
as one readable message and exit non-zero.
"""

from __future__ import annotations

__all__ = ["ChecksumError", "DataNotFoundError", "GeographicCRSError", "InputError", "ToolkitError"]


class ToolkitError(Exception):
    """Base class for all errors raised by the toolkit."""


class InputError(ToolkitError, ValueError):
    """Bad input data or configuration.

    Parameters
    ----------
    problem : str
        What is wrong, in one sentence.
    source : str, optional
        The file (or config section) the problem was found in.
    field : str, optional
        The column, row or config key concerned.
    fix : str, optional
        What the user should do about it.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.field = field
        self.fix = fix
        super().__init__(self._format())

    def _format(self) -> str:
        parts = []
        if self.source:
            parts.append(f"{self.source}")
        if self.field:
            parts.append(f"[{self.field}]")
        where = " ".join(parts)
        msg = f"{where}: {self.problem}" if where else self.problem
        if self.fix:
            msg += f"\n  fix: {self.fix}"
        return msg


class GeographicCRSError(InputError):
    """A geographic (degree-based) CRS reached a distance computation."""


class DataNotFoundError(InputError):
    """A registered dataset could not be found locally nor downloaded."""


class ChecksumError(InputError):
    """A dataset's bytes do not match the checksum in the registry."""
