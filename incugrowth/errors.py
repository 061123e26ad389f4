"""Error and warning types: every user mistake becomes one of these, with a one-line message."""

from __future__ import annotations

import os

__all__ = ["IncugrowthError", "IncugrowthWarning", "input_error"]


class IncugrowthError(ValueError):
    """Bad input: the message names the file (and line or well) and says what to fix."""


class IncugrowthWarning(UserWarning):
    """Something the analysis can go on with, also recorded as a QC flag or in run.json."""


def input_error(path: str | os.PathLike | None, message: str, *, line: int | None = None):
    """Build an :class:`IncugrowthError` whose text starts with ``file:line:``.

    Examples
    --------
    >>> str(input_error("plate.csv", "unknown well 'Q1': rows are A-P", line=4))
    "plate.csv:4: unknown well 'Q1': rows are A-P"
    """
    where = "" if path is None else os.fspath(path)
    if line is not None:
        where = f"{where}:{line}"
    text = f"{where}: {message}" if where else message
    return IncugrowthError(text)
