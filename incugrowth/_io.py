"""Input and output helpers.

Outputs are written under a temporary name and renamed, never left half-written. Inputs are
read with one-line errors, and numbers are read as spreadsheets write them: with a decimal
point or a decimal comma, with or without thousands separators, the convention decided from
the cells of the file (:func:`number_format`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from incugrowth.errors import input_error

__all__ = [
    "MixedNumbers",
    "NumberFormat",
    "atomic_path",
    "clean_number",
    "is_plain_integer",
    "naming_file",
    "number_format",
    "plain_number",
    "read_input",
    "sha256",
    "unquote",
    "write_csv",
    "write_json",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    If the body raises, the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); outputs get the permissions of a normal file.
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise naming_file(exc, path) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def naming_file(exc: OSError, path: str | os.PathLike) -> OSError:
    """`exc` naming the file `path` when it names none (a failed write, such as a full disk,
    names no file); else `exc` itself."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror, os.fspath(path))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_csv(df: pd.DataFrame, path: str | os.PathLike, **kwargs) -> Path:
    """Write ``df`` to ``path`` atomically (no index by default)."""
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, **kwargs)
    return Path(path)


def write_json(obj, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")
    return Path(path)


def sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_input(path: str | os.PathLike, *, expected: str, instead_of_excel: str) -> bytes:
    """The bytes of an input file, or a one-line error naming it and what to do.

    ``expected`` names the kind of file (for a folder given by mistake); ``instead_of_excel``
    says what to do when an Excel workbook was given.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise input_error(path, "file not found") from None
    except IsADirectoryError:
        raise input_error(path, f"is a folder, expected {expected}") from None
    except OSError as exc:
        raise input_error(path, f"cannot read the file ({exc.strerror})") from None
    if not data.strip():
        raise input_error(path, "the file is empty")
    if data.startswith(b"PK\x03\x04"):
        raise input_error(path, f"this is an Excel workbook; {instead_of_excel}")
    return data


# --------------------------------------------------------------------------------------
# Numbers as spreadsheets write them
# --------------------------------------------------------------------------------------

# "1 234", "1 234,5" (French, also with a no-break or narrow no-break space), "1'234.5" (Swiss)
_SPACE_GROUPED_RE = re.compile(r"[-+]?[1-9]\d{0,2}(?:[ \u00a0\u202f'\u2019]\d{3})+(?:[.,]\d*)?")
_SPACE_MARKS = str.maketrans("", "", " \u00a0\u202f'\u2019")
_PLAIN_INTEGER_RE = re.compile(r"[-+]?\d{1,3}")


def _grouped_re(group: str, decimal: str = "") -> re.Pattern:
    """``1,234`` (and ``1,234,567``); with ``decimal``, also ``1,234.5``."""
    tail = rf"(?:{re.escape(decimal)}\d*)?" if decimal else ""
    return re.compile(rf"[-+]?[1-9]\d{{0,2}}(?:{re.escape(group)}\d{{3}})+{tail}")


_GROUPED = {m: _grouped_re(m) for m in ",."}
_GROUPED_DECIMAL = {(g, d): _grouped_re(g, d) for g, d in ((",", "."), (".", ","))}
_DECIMAL = {
    m: re.compile(rf"[-+]?(?:\d+{re.escape(m)}\d*|{re.escape(m)}\d+)(?:[eE][-+]?\d+)?")
    for m in ",."
}
_MARK_NAMES = {",": "',' (comma)", ".": "'.' (point)"}


@dataclass(frozen=True)
class NumberFormat:
    """How the numbers of one file are written.

    Attributes
    ----------
    decimal : str
        The decimal mark, ``"."`` or ``","``.
    group : str
        The thousands separator besides spaces and apostrophes (always read as separators
        between groups of three digits): the mark that is not the decimal mark.
    assumed : str
        ``""`` when the cells decide the format; else what was assumed, for a warning.
    """

    decimal: str = "."
    group: str = ","
    assumed: str = ""


class MixedNumbers(ValueError):
    """Two cells of one file written in conventions that cannot both hold.

    ``text`` is a cell to point at, ``other`` the cell it disagrees with.
    """

    def __init__(self, text: str, other: str, reason: str):
        super().__init__(reason)
        self.text, self.other, self.reason = text, other, reason


def unquote(text: str) -> str:
    """A cell without surrounding spaces and double quotes."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text


def clean_number(text: str) -> str:
    """A cell without surrounding spaces and quotes, spaces between digit groups removed."""
    text = unquote(text)
    if _SPACE_GROUPED_RE.fullmatch(text):
        text = text.translate(_SPACE_MARKS)
    return text


def is_plain_integer(text: str) -> bool:
    """Whether a cell is an integer below 1000 written without any mark (``"850"``)."""
    return _PLAIN_INTEGER_RE.fullmatch(clean_number(text)) is not None


def number_format(
    texts: Iterable[str],
    *,
    plain_integers: bool = False,
    decimal: str | None = None,
    at_most: float | None = None,
) -> NumberFormat:
    """Decide from the cells of a file which mark is the decimal mark.

    A cell holding both marks (``1,234.5``, ``1.234,5``) has its decimal mark last; a mark
    used twice in a cell (``1,234,567``) separates thousands; a mark in any other position
    (``12,5``, ``0,33``, ``2,354702E+07``) is the decimal mark. When every cell with a mark
    has the form ``1,234`` the cells do not decide. Then ``decimal``, when given (the
    convention of the file, e.g. ``","`` for a semicolon-separated CSV), is the decimal mark;
    with ``at_most`` below 1000 (percentages) the mark is decimal, as thousands could not be;
    else a comma separates thousands and a point is the decimal mark. The reading is marked
    as assumed unless ``plain_integers`` (integers below 1000 written without a mark, as a
    spreadsheet writes them beside ``1,234``) backs it.

    Parameters
    ----------
    texts : iterable of str
        The number cells (any others, such as ``NA``, are passed over).
    plain_integers : bool
        Whether the values hold integers below 1000 written without a mark.
    decimal : str, optional
        The decimal mark of the file's convention, when it has one.
    at_most : float, optional
        The largest value the cells can hold.

    Returns
    -------
    NumberFormat

    Raises
    ------
    MixedNumbers
        When the cells use both marks as the decimal mark, or one mark both ways.

    Examples
    --------
    >>> number_format(["12.5", "1,234"])
    NumberFormat(decimal='.', group=',', assumed='')
    >>> number_format(["1.234,5", "850"]).decimal
    ','
    >>> number_format(["1,234"], plain_integers=True).assumed
    ''
    >>> number_format(["1,234"]).assumed
    "'1,234' read as 1234: ',' taken as the thousands separator"
    """
    decimal_at: dict[str, str] = {}
    group_at: dict[str, str] = {}
    undecided: dict[str, str] = {}
    for raw in texts:
        text = clean_number(raw)
        has_comma, has_point = "," in text, "." in text
        if has_comma and has_point:
            mark = "," if text.rfind(",") > text.rfind(".") else "."
            other = "." if mark == "," else ","
            if _GROUPED_DECIMAL[other, mark].fullmatch(text):
                decimal_at.setdefault(mark, text)
                group_at.setdefault(other, text)
        elif has_comma or has_point:
            mark = "," if has_comma else "."
            if _GROUPED[mark].fullmatch(text):
                (group_at if text.count(mark) > 1 else undecided).setdefault(mark, text)
            elif _DECIMAL[mark].fullmatch(text):
                decimal_at.setdefault(mark, text)
        # anything else is not a number in any convention: the caller says so
    if len(decimal_at) == 2:
        raise MixedNumbers(
            decimal_at[","], decimal_at["."], "both ',' and '.' are used as the decimal mark"
        )
    if len(group_at) == 2:
        raise MixedNumbers(
            group_at[","], group_at["."], "both ',' and '.' are used as the thousands separator"
        )
    for mark, text in decimal_at.items():
        if mark in group_at:
            raise MixedNumbers(
                group_at[mark],
                text,
                f"{_MARK_NAMES[mark]} is used both as the decimal mark and as the thousands "
                "separator",
            )
    if decimal_at or group_at:
        mark = next(iter(decimal_at)) if decimal_at else "." if "," in group_at else ","
        return _with_group(mark)
    if not undecided:
        return NumberFormat()
    assumed = True
    if len(undecided) == 1:
        (mark,) = undecided
        if at_most is not None and at_most < 1000:
            choice, assumed = mark, False
        elif decimal is not None:
            choice, assumed = decimal, mark == decimal and plain_integers
        else:
            choice = "."
            assumed = plain_integers if mark == "." else not plain_integers
    else:
        choice = decimal or "."
    fmt = _with_group(choice)
    if not assumed:
        return fmt
    notes = []
    for mark, text in sorted(undecided.items()):
        value = plain_number(text, fmt)
        role = "decimal mark" if mark == fmt.decimal else "thousands separator"
        notes.append(f"{text!r} read as {_plain_text(value)}: {mark!r} taken as the {role}")
    return NumberFormat(fmt.decimal, fmt.group, "; ".join(notes))


def _with_group(decimal: str) -> NumberFormat:
    return NumberFormat(decimal, "." if decimal == "," else ",")


def _plain_text(text: str | None) -> str:
    return format(float(text), ".10g") if text is not None else "?"


def plain_number(text: str, fmt: NumberFormat) -> str | None:
    """A number cell in Python's spelling (``"1.234,5"`` as ``"1234.5"`` under a decimal
    comma), None when it holds a mark that ``fmt`` does not allow there; other cells (``NA``,
    typos) come back cleaned but otherwise as they are.

    Examples
    --------
    >>> plain_number('"1,234"', NumberFormat(".", ","))
    '1234'
    >>> plain_number("1 234,5", NumberFormat(",", "."))
    '1234.5'
    >>> plain_number("12,5", NumberFormat(".", ",")) is None
    True
    """
    text = clean_number(text)
    if fmt.group in text:
        if not _GROUPED_DECIMAL[fmt.group, fmt.decimal].fullmatch(text):
            return None
        text = text.replace(fmt.group, "")
    if fmt.decimal == ",":
        text = text.replace(",", ".")
    return text
