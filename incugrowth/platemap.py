"""Plate maps: which cell line, treatment and dose sit in each well.

Three file formats are read and recognised from their content:

* **long CSV**, one row a well: ``well,cell_line,treatment,dose,dose_unit,...``;
* **grid CSV**, one 8 x 12 (or 16 x 24) block per attribute, as plate readers and Prism
  users lay them out;
* **IncuCyte .PlateMap** XML, as written by the IncuCyte software.

All three give the same table: ``well``, ``row``, ``col``, ``cell_line``, ``treatment``,
``dose``, ``dose_unit``, an optional ``control`` column, then any extra annotation columns.

Blank treatment rule (all formats): a well that appears in the map (it has a cell line or any
other annotation) but has no treatment gets ``treatment = "untreated"``; a well with nothing
at all (an empty grid cell, an XML well without items, a blank CSV row) is not in the map.

Several compounds in one .PlateMap well (a drug in its vehicle, a combination) give the
treatment ``"DMSO + Drug"``; ``dose`` is the concentration of the compound that varies
between such wells and is not the vehicle (a compound that also fills wells by itself at the
same concentration); any other compound whose concentration varies is named with it
(``"A + B 50 nM"``), so wells of different doses are never pooled. ``doses`` lists them all.
The compounds (and the cell types of a co-culture, ``"M420 + CD8 T cells"``) are named in the
order of the plate map's lists, whatever the order in which they were added to each well.
"""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable

import numpy as np
import pandas as pd

from incugrowth._io import (
    MixedNumbers,
    NumberFormat,
    is_plain_integer,
    number_format,
    plain_number,
    read_input,
)
from incugrowth.errors import IncugrowthError, IncugrowthWarning, input_error

__all__ = [
    "check_plate_map",
    "normalize_well",
    "plate_layout",
    "read_plate_map",
    "well_sort_key",
]

#: Rows x columns of the plate formats incugrowth knows.
PLATE_SHAPES = {6: (2, 3), 12: (3, 4), 24: (4, 6), 48: (6, 8), 96: (8, 12), 384: (16, 24)}

UNTREATED = "untreated"
BASE_COLUMNS = ["well", "row", "col", "cell_line", "treatment", "dose", "dose_unit"]

# Header spellings accepted for the standard columns (after lower_snake normalisation).
_ALIASES = {
    "well": "well",
    "well_id": "well",
    "wellid": "well",
    "well_name": "well",
    "cell_line": "cell_line",
    "cellline": "cell_line",
    "cell_type": "cell_line",
    "celltype": "cell_line",
    "cells": "cell_line",
    "treatment": "treatment",
    "compound": "treatment",
    "drug": "treatment",
    "dose": "dose",
    "concentration": "dose",
    "conc": "dose",
    "dose_concentration": "dose",
    "dose_unit": "dose_unit",
    "dose_units": "dose_unit",
    "unit": "dose_unit",
    "units": "dose_unit",
    "concentration_unit": "dose_unit",
    "concentration_units": "dose_unit",
    "conc_unit": "dose_unit",
    "conc_units": "dose_unit",
    "control": "control",
    "control_treatment": "control",
    "row": "row",
    "col": "col",
    "column": "col",
}
_REQUIRED = ("cell_line", "treatment")
_NO_DOSE = {"", "NA", "N/A", "NAN", "NONE", "-"}  # how R, Excel and people write "no dose"
# CSV cells that mean "no value" in any column: R's NA (write.csv writes it unquoted, but R and
# pandas read a quoted "NA" as missing too) and Excel's #N/A; other words ("None") are kept
_MISSING_CELLS = {"NA", "#N/A"}
_WELL_RE = re.compile(r"^\s*([A-Za-z])\s*0*(\d+)\s*$")
_UNIT_HEADER_RE = re.compile(r"^\s*(.*?)\s*[(\[]\s*([^()\[\]]+?)\s*[)\]]\s*$")
# a number (with thousands separators: "1,000", "1.000,5", "1 000") and the unit after it
_NUMBER_RE = re.compile(
    r"^\s*([-+]?(?:\d{1,3}(?:[,. \u00a0\u202f'\u2019]\d{3})+(?:[.,]\d*)?|\d+(?:[.,]\d*)?|[.,]\d+)"
    r"(?:[eE][-+]?\d+)?)(?!\d)\s*(.*?)\s*$"
)
# the decimal mark of a CSV whose cells the separator leaves open (a comma CSV has points)
_SEPARATOR_DECIMAL = {",": ".", ";": ","}


# --------------------------------------------------------------------------------------
# Wells
# --------------------------------------------------------------------------------------


def _shape(plate_size: int | None) -> tuple[int, int]:
    if plate_size is None:
        return PLATE_SHAPES[384]
    if plate_size not in PLATE_SHAPES:
        sizes = ", ".join(str(s) for s in PLATE_SHAPES)
        raise IncugrowthError(f"plate size must be one of {sizes}, got {plate_size!r}")
    return PLATE_SHAPES[plate_size]


def _range_text(plate_size: int | None) -> str:
    n_rows, n_cols = _shape(plate_size)
    size = 384 if plate_size is None else plate_size
    return f"rows A-{chr(64 + n_rows)} and columns 1-{n_cols} on a {size}-well plate"


def normalize_well(text, *, plate_size: int | None = 96) -> str:
    """Return the canonical name of a well: row letter and column number, no padding.

    Parameters
    ----------
    text : str
        A well name as people write it: ``"B3"``, ``"b03"``, ``" B03 "``.
    plate_size : int or None
        96 (default), 384 (or 6, 12, 24, 48) to check the well lies on that plate;
        None accepts any well of a 384-well plate.

    Returns
    -------
    str
        The canonical name, e.g. ``"B3"``.

    Raises
    ------
    IncugrowthError
        If ``text`` is not a well of the plate; the message names the value and the range.

    Examples
    --------
    >>> normalize_well(" b03 ")
    'B3'
    >>> normalize_well("P24", plate_size=384)
    'P24'
    >>> normalize_well("A13")
    Traceback (most recent call last):
    ...
    incugrowth.errors.IncugrowthError: unknown well 'A13': rows A-H and columns 1-12 on a ...
    """
    n_rows, n_cols = _shape(plate_size)
    match = _WELL_RE.match(text) if isinstance(text, str) else None
    if match is not None:
        row = match.group(1).upper()
        col = int(match.group(2))
        if ord(row) - 64 <= n_rows and 1 <= col <= n_cols:
            return f"{row}{col}"
    raise IncugrowthError(f"unknown well {text!r}: {_range_text(plate_size)}")


def _try_well(text, plate_size: int | None = None) -> str | None:
    """Canonical well name, or None when ``text`` is not a well."""
    try:
        return normalize_well(text, plate_size=plate_size)
    except IncugrowthError:
        return None


def well_sort_key(well: str) -> tuple[int, int]:
    """Sort key putting wells in plate order: by row, then by column number.

    Examples
    --------
    >>> sorted(["B10", "A2", "B2", "A10"], key=well_sort_key)
    ['A2', 'A10', 'B2', 'B10']
    """
    canonical = normalize_well(well, plate_size=None)
    return ord(canonical[0]) - 65, int(canonical[1:])


def infer_plate_size(wells: Iterable[str]) -> int:
    """96, or 384 when any well lies beyond row H or column 12.

    Examples
    --------
    >>> infer_plate_size(["A1", "H12"]), infer_plate_size(["A1", "I1"])
    (96, 384)
    """
    for well in wells:
        row, col = well_sort_key(well)
        if row >= 8 or col > 12:
            return 384
    return 96


def plate_layout(plate_size: int = 96) -> pd.DataFrame:
    """Every well of a plate, in plate order, with its ``row`` letter and ``col`` number.

    Examples
    --------
    >>> layout = plate_layout(384)
    >>> len(layout), layout.well.iloc[-1], list(layout.columns)
    (384, 'P24', ['well', 'row', 'col'])
    """
    n_rows, n_cols = _shape(plate_size)
    rows = [chr(65 + r) for r in range(n_rows)]
    cols = list(range(1, n_cols + 1))
    return pd.DataFrame(
        {
            "well": [f"{r}{c}" for r in rows for c in cols],
            "row": [r for r in rows for _ in cols],
            "col": np.array([c for _ in rows for c in cols], dtype=np.int64),
        }
    )


def _parse_plate_format(plate_format, path) -> int | None:
    if plate_format is None:
        return None
    text = str(plate_format).strip().lower().removesuffix("-well").removesuffix(" well")
    try:
        size = int(text)
    except ValueError:
        size = -1
    if size not in PLATE_SHAPES:
        sizes = ", ".join(str(s) for s in PLATE_SHAPES)
        raise input_error(path, f"plate_format must be one of {sizes}, got {plate_format!r}")
    return size


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def read_plate_map(path: str | os.PathLike, *, plate_format=None) -> pd.DataFrame:
    """Read a plate map (long CSV, grid CSV or IncuCyte .PlateMap XML) into a table.

    Parameters
    ----------
    path : str or path-like
        The plate map file. The format is recognised from the content.
    plate_format : int or str, optional
        The plate size, 96 or 384 (also 6, 12, 24, 48; ``"384-well"`` is accepted). Every
        well must lie on that plate. By default it is inferred: 384 when any well lies
        beyond row H or column 12 (for XML, beyond the wells the file lists), else 96.

    Returns
    -------
    pandas.DataFrame
        One row per well in use, sorted by row then column, with columns ``well`` ("B3"),
        ``row`` ("B"), ``col`` (int), ``cell_line`` (str, NaN if not given), ``treatment``
        (str; ``"untreated"`` where a well in use has none), ``dose`` (float, NaN if none),
        ``dose_unit`` (str, from a dose cell such as ``"100 ng/ml"``, a unit column or the
        dose column's header such as ``Dose (nM)``; ``""`` if none), ``control`` (only when
        the file has such a column: the treatment this well's treatment is compared with,
        NaN for the default),
        then the extra annotation columns in lower_snake case. ``df.attrs["plate_size"]``
        is the plate size, ``df.attrs["format"]`` one of ``"long"``, ``"grid"``, ``"xml"``.

    Raises
    ------
    IncugrowthError
        For a missing or empty file, missing required columns (cell line and treatment), a
        duplicate or unknown well, a dose that is not a number, doses written two ways
        (``0,5`` and ``2.5``), malformed XML, a .PlateMap whose rows and cols are numbered
        from 1 on a plate of the given size (none is 0 and one is 8 or 12 on a 96-well
        plate); the message names the file and line (or well).

    Warns
    -----
    IncugrowthWarning
        When the doses do not show which mark is the decimal mark (``1,000`` beside ``10``
        in a semicolon-separated file), naming the reading taken; and when, without
        ``plate_format``, a .PlateMap looks numbered from 1 (none is 0, all fit rows 1-8 and
        cols 1-12, one reaches 8 or 12): it is read from 0, as IncuCyte writes it, which
        makes it a 384-well plate map.

    Notes
    -----
    Doses are read with a decimal point or comma and with thousands separators, as Excel
    writes them (``"1,000"``, ``1.000,5``, ``1 000``). Which mark is which is decided from
    the dose cells of the file (a cell with both marks, a mark used twice, or a mark in any
    other place than before the last three digits, as in ``0,5``); when they leave it open, a
    comma-separated file has a decimal point and a semicolon-separated one a decimal comma.

    In a CSV, a cell ``NA`` (R's missing value, quoted or not, as R and pandas read it) or
    ``#N/A`` (Excel) is empty: a treatment ``NA`` is ``"untreated"``, a cell line ``NA`` is
    NaN; any other word, such as ``None``, is kept as written. The row names that R writes by
    default (a first column without a name, or without a header cell, numbering the rows 1,
    2, 3...) are left out.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "plate.csv").write_text(
    ...     "well,cell_line,treatment,dose,dose_unit\\n"
    ...     "B03,M420,IFN gamma,100,ng/ml\\n"
    ...     "B2,M420,,,\\n")
    >>> plate = read_plate_map(folder / "plate.csv")
    >>> plate[["well", "col", "treatment", "dose"]]
      well  col  treatment  dose
    0   B2    2  untreated   NaN
    1   B3    3  IFN gamma 100.0
    >>> plate.attrs["plate_size"]
    96
    """
    plate_size = _parse_plate_format(plate_format, path)
    data = _read_bytes(path)
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        records, sizes_seen, fmt = _read_xml(data, path, plate_size)
    else:
        rows, sep = _csv_rows(_decode(data))
        decimal = _SEPARATOR_DECIMAL.get(sep)
        if _is_grid(rows):
            records, fmt = _read_grid(rows, path, plate_size, decimal), "grid"
        else:
            records, fmt = _read_long(rows, path, plate_size, decimal), "long"
        sizes_seen = [r["well"] for r in records]
    if not records:
        raise input_error(path, "the plate map has no wells in use")
    size = plate_size if plate_size is not None else infer_plate_size(sizes_seen)
    return _to_frame(records, size, fmt)


def _read_bytes(path) -> bytes:
    return read_input(path, expected="a plate map file", instead_of_excel="save the sheet as CSV")


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else Windows cp1252 / latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _csv_rows(text: str) -> tuple[list[tuple[int, list[str]]], str]:
    """Rows of a CSV (separator ``,``, ``;`` or TAB) with their line numbers, cells stripped.

    The separator is the one of the three that occurs most often in the first lines. A cell
    ``NA`` (as R writes a missing value, quoted or not) or ``#N/A`` (Excel) is empty.
    """
    text = text.replace("\x00", "")
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    counts = {sep: sum(ln.count(sep) for ln in lines) for sep in (",", ";", "\t")}
    sep = max(counts, key=lambda s: (counts[s], s == ","))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    rows = []
    try:
        for cells in reader:
            cells = [c.strip() for c in cells]
            rows.append((reader.line_num, ["" if c in _MISSING_CELLS else c for c in cells]))
    except csv.Error:
        pass  # an unterminated quote: keep the rows read so far, later checks will complain
    return rows, sep


def _lower_snake(name: str) -> str:
    name = name.replace("\ufeff", "").strip().lower()
    return re.sub(r"[^0-9a-z]+", "_", name).strip("_")


def _column_name(raw: str) -> tuple[str, str]:
    """Standard name of a header cell and the unit it carries (``"Conc (µM)"``: dose, µM)."""
    unit = ""
    match = _UNIT_HEADER_RE.match(raw.replace("\ufeff", ""))
    if match is not None and _ALIASES.get(_lower_snake(match.group(1))) == "dose":
        raw, unit = match.group(1), match.group(2).strip()
    snake = _lower_snake(raw)
    return _ALIASES.get(snake, snake), unit


def _is_blank(cells: list[str]) -> bool:
    return not any(cells)


def _grid_columns(cells: list[str]) -> int | None:
    """Number of plate columns when ``cells`` is a grid header row ``name,1,2,...,N`` (or
    ``name,01,02,...``, as some plate-reader layouts write it)."""
    numbers = [n.lstrip("0") for n in cells[1:]]
    while numbers and not numbers[-1]:
        numbers.pop()
    if len(numbers) in (12, 24) and numbers == [str(i) for i in range(1, len(numbers) + 1)]:
        return len(numbers)
    return None


def _is_grid(rows) -> bool:
    for _, cells in rows:
        if _is_blank(cells) or cells[0].startswith("#"):
            continue
        if _ALIASES.get(_lower_snake(cells[0])) == "well" or any(
            _ALIASES.get(_lower_snake(c)) == "well" for c in cells
        ):
            return False
        break
    return any(_grid_columns(cells) for _, cells in rows)


def _dose_format(doses: list[tuple[str, int | None, str]], path, decimal) -> NumberFormat:
    """The decimal mark and thousands separator of the dose cells ``(text, line, well)``.

    ``decimal`` is the mark that the CSV separator implies (a point in a comma-separated
    file, a comma in a semicolon-separated one), used when the doses leave it open.
    """
    numbers = {}
    for text, line, well in doses:
        match = _NUMBER_RE.match(text) if text.upper() not in _NO_DOSE else None
        if match is not None:
            numbers.setdefault(match.group(1), (line, well))
    try:
        fmt = number_format(
            numbers, plain_integers=any(map(is_plain_integer, numbers)), decimal=decimal
        )
    except MixedNumbers as exc:
        line, well = numbers[exc.text]
        where = f"well {well}: " if line is None else ""
        raise input_error(
            path,
            f"{where}dose {exc.text!r} and elsewhere dose {exc.other!r}: {exc.reason}; write "
            "every dose one way",
            line=line,
        ) from None
    if fmt.assumed:
        warnings.warn(
            f"{os.fspath(path)}: dose {fmt.assumed}, as the doses do not show which mark is the "
            "decimal mark; write the doses without thousands separators if this is wrong",
            IncugrowthWarning,
            stacklevel=4,
        )
    return fmt


def _parse_dose(text: str, path, line, well, *, numbers: NumberFormat) -> tuple[float, str]:
    """A dose cell: number, optionally followed by its unit (``"100 ng/ml"``)."""
    if text.upper() in _NO_DOSE:
        return np.nan, ""
    match = _NUMBER_RE.match(text)
    number = plain_number(match.group(1), numbers) if match else None
    value = float(number) if number is not None else np.nan
    if number is None or not np.isfinite(value):
        where = f"well {well}: " if line is None else ""
        raise input_error(path, f"{where}dose {text!r} is not a number", line=line)
    if value < 0:
        where = f"well {well}: " if line is None else ""
        raise input_error(path, f"{where}dose {text!r} is negative", line=line)
    return value, match.group(2)


def _unit_key(unit: str) -> str:
    """A unit as compared: case, spaces and the spellings of micro (µ, μ, u) aside."""
    return "".join(unit.split()).casefold().replace("\u00b5", "u").replace("\u03bc", "u")


def _merge_unit(inline: str, unit: str, path, line, dose_text: str) -> str:
    if inline and unit and _unit_key(inline) != _unit_key(unit):
        raise input_error(
            path,
            f"dose {dose_text!r} carries a unit that differs from dose_unit {unit!r}",
            line=line,
        )
    return unit or inline


def _read_long(rows, path, plate_size, decimal: str | None) -> list[dict]:
    """Long CSV: a header naming the columns, then one row a well."""
    candidates = [
        i
        for i, (_, cells) in enumerate(rows)
        if not _is_blank(cells) and not cells[0].startswith("#")
    ]
    if not candidates:
        raise input_error(path, "the file is empty")
    # a title line or two above the header (as spreadsheets are often saved) is skipped
    header_at = next(
        (i for i in candidates[:10] if "well" in {_column_name(c)[0] for c in rows[i][1]}),
        candidates[0],
    )
    header_line, header = rows[header_at]
    row_names = _row_names(header, rows[header_at + 1 :])
    if row_names and len(header) < row_names:
        header = ["", *header]  # R's write.table names every column but the row names
    names, header_unit = [], ""
    for raw in header:
        name, unit = _column_name(raw)
        names.append(name)
        header_unit = header_unit or unit
    found = ",".join(header)
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            if i == 0 and row_names:
                continue  # R's row names (write.csv's default row.names = TRUE): 1, 2, 3...
            if any(i < len(cells) and cells[i] for _, cells in rows[header_at + 1 :]):
                raise input_error(
                    path, f"column {i + 1} has no name in the header", line=header_line
                )
            continue
        if name in seen:
            raise input_error(
                path,
                f"columns {header[seen[name]]!r} and {header[i]!r} both mean {name!r}",
                line=header_line,
            )
        seen[name] = i
    has_well = "well" in seen
    if not has_well and not ("row" in seen and "col" in seen):
        raise input_error(
            path,
            "not a plate map: no 'well' column (long form) and no grid blocks with a header "
            f"row ',1,2,...,12' (grid form); header found: {found!r}",
            line=header_line,
        )
    missing = [name for name in _REQUIRED if name not in seen]
    if missing:
        raise input_error(
            path,
            "missing required column(s) "
            + ", ".join(repr(m) for m in missing)
            + f"; header found: {found!r}",
            line=header_line,
        )
    doses = []
    if "dose" in seen:
        at = seen["dose"]
        doses = [(c[at], line, "") for line, c in rows[header_at + 1 :] if at < len(c) and c[at]]
    numbers = _dose_format(doses, path, decimal)
    records: list[dict] = []
    first_line: dict[str, int] = {}
    for line, cells in rows[header_at + 1 :]:
        if _is_blank(cells) or cells[0].startswith("#"):
            continue
        if len(cells) > len(names) and any(cells[len(names) :]):
            raise input_error(
                path, f"{len(cells)} cells but the header has {len(names)} columns", line=line
            )
        values = {n: (cells[i] if i < len(cells) else "") for n, i in seen.items()}
        if has_well:
            well_text = values.pop("well")
            values.pop("row", None)
            values.pop("col", None)
        else:
            well_text = values.pop("row") + values.pop("col")
        if not well_text:
            raise input_error(path, "the well is empty", line=line)
        well = _try_well(well_text, plate_size)
        if well is None:
            raise input_error(
                path, f"unknown well {well_text!r}: {_range_text(plate_size)}", line=line
            )
        if well in first_line:
            raise input_error(
                path, f"well {well} appears twice (lines {first_line[well]} and {line})", line=line
            )
        first_line[well] = line
        if not any(values.values()):
            continue  # a listed well with nothing in it is not in use
        records.append(_record(well, values, path, line, numbers, header_unit))
    return records


def _row_names(header: list[str], rows) -> int:
    """The number of cells of each data row when its first cell holds R's row names.

    R writes a data frame with its row names unless told not to: ``write.csv`` under an empty
    header cell, ``write.table`` under no header cell at all (one name fewer than cells). They
    are taken for row names only when the column is unnamed and numbers the rows 1, 2, 3...;
    else 0.
    """
    data = [cells for _, cells in rows if not _is_blank(cells) and not cells[0].startswith("#")]
    if not data or [c[0] for c in data] != [str(i) for i in range(1, len(data) + 1)]:
        return 0
    width = len(data[0])
    if any(len(c) != width for c in data):
        return 0
    if width == len(header) + 1 or (width == len(header) and not _column_name(header[0])[0]):
        return width
    return 0


def _record(
    well: str, values: dict[str, str], path, line, numbers: NumberFormat, header_unit: str = ""
) -> dict:
    """One plate-map row from the text cells of a well (long or grid form).

    ``header_unit`` is the unit written in the dose column's header (``Dose (nM)``).
    """
    dose_text = values.pop("dose", "")
    dose, inline_unit = _parse_dose(dose_text, path, line, well, numbers=numbers)
    unit = _merge_unit(inline_unit, values.pop("dose_unit", ""), path, line, dose_text)
    if header_unit and not np.isnan(dose):
        if unit and _unit_key(unit) != _unit_key(header_unit):
            where = f"well {well}: " if line is None else ""
            raise input_error(
                path,
                f"{where}dose {dose_text!r} has the unit {unit!r} but the dose column's header "
                f"says {header_unit!r}",
                line=line,
            )
        unit = header_unit
    record = {
        "well": well,
        "cell_line": values.pop("cell_line", "") or np.nan,
        "treatment": values.pop("treatment", "") or UNTREATED,
        "dose": dose,
        "dose_unit": unit,
    }
    if "control" in values:
        record["control"] = values.pop("control") or np.nan
    for name, value in values.items():
        record[name] = value if value else np.nan
    return record


def _read_grid(rows, path, plate_size, decimal: str | None) -> list[dict]:
    """Grid CSV: one plate-shaped block per attribute."""
    blocks: dict[str, dict[str, str]] = {}
    block_line: dict[str, int] = {}
    header_unit = ""
    pending_name = None
    i = 0
    while i < len(rows):
        line, cells = rows[i]
        n_cols = _grid_columns(cells)
        if n_cols is None:
            if not _is_blank(cells):
                if len(cells[0]) == 1 and cells[0].isalpha():
                    raise input_error(
                        path,
                        f"row {cells[0]!r} is outside a block: each block needs a header "
                        "row ',1,2,...,12' above its rows",
                        line=line,
                    )
                pending_name = cells[0]
            i += 1
            continue
        raw_name = cells[0] or pending_name
        if not raw_name:
            raise input_error(
                path,
                "this block has no name: put the attribute (e.g. treatment) on the line "
                "above its header row",
                line=line,
            )
        name, unit = _column_name(raw_name)
        if name in ("well", "row", "col") or not name:
            raise input_error(path, f"a block cannot be named {raw_name!r}", line=line)
        if name in blocks:
            raise input_error(
                path, f"two blocks named {name!r} (lines {block_line[name]} and {line})", line=line
            )
        blocks[name], block_line[name] = {}, line
        if unit:
            header_unit = unit
        pending_name = None
        seen_rows: set[str] = set()
        i += 1
        while i < len(rows):
            row_line, row_cells = rows[i]
            label = row_cells[0] if row_cells else ""
            if not (len(label) == 1 and label.isalpha()):
                break
            label = label.upper()
            if label in seen_rows:
                raise input_error(
                    path, f"row {label} appears twice in block {name!r}", line=row_line
                )
            seen_rows.add(label)
            if len(row_cells) > n_cols + 1 and any(row_cells[n_cols + 1 :]):
                raise input_error(path, f"row {label} has more than {n_cols} values", line=row_line)
            for col, value in enumerate(row_cells[1 : n_cols + 1], start=1):
                if not value:
                    continue
                well = _try_well(f"{label}{col}", plate_size)
                if well is None:
                    raise input_error(
                        path,
                        f"unknown well '{label}{col}': {_range_text(plate_size)}",
                        line=row_line,
                    )
                blocks[name][well] = (value, row_line)
            i += 1
    missing = [name for name in _REQUIRED if name not in blocks]
    if missing:
        found = ", ".join(repr(b) for b in blocks) or "none"
        raise input_error(
            path,
            "missing required block(s) "
            + ", ".join(repr(m) for m in missing)
            + f"; blocks found: {found}",
        )
    wells = sorted({w for block in blocks.values() for w in block}, key=well_sort_key)
    doses = [(text, line, well) for well, (text, line) in blocks.get("dose", {}).items()]
    numbers = _dose_format(doses, path, decimal)
    records = []
    for well in wells:
        values = {name: block.get(well, ("", None))[0] for name, block in blocks.items()}
        line = blocks.get("dose", {}).get(well, ("", None))[1]
        records.append(_record(well, values, path, line, numbers, header_unit))
    return records


def _read_xml(data: bytes, path, plate_size) -> tuple[list[dict], list[str], str]:
    """IncuCyte .PlateMap: ``<well row= col=>`` elements holding ``<wellItem>`` items."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise input_error(path, f"malformed XML: {exc}", line=line) from None
    except (ValueError, LookupError) as exc:  # e.g. an unknown encoding in the XML prolog
        raise input_error(path, f"malformed XML: {exc}") from None
    _check_zero_based(root, path, plate_size)
    items: list[tuple[str, list[tuple[str, str, str]], dict[str, str]]] = []
    listed: list[str] = []
    rank = _reference_order(root)
    for element in root.iter():
        if _local(element.tag) != "well":
            continue
        well = _xml_well(element, path, plate_size)
        if well in listed:
            raise input_error(path, f"well {well} is listed twice")
        listed.append(well)
        found = _xml_items(element, rank)
        if found is not None:
            items.append((well, *found))
    if not listed:
        raise input_error(path, "no <well> elements: not an IncuCyte .PlateMap file")
    dose_choice = _dose_compounds([compounds for _, compounds, _ in items])
    records = []
    for well, compounds, values in items:
        if compounds:
            values.update(_treatment_values(compounds, dose_choice[_names(compounds)]))
        records.append(_record(well, values, path, None, NumberFormat()))
    return records, listed, "xml"


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _check_zero_based(root, path, plate_size) -> None:
    """Stop at (or, when the plate size is not given, warn about) a .PlateMap whose ``row`` and
    ``col`` are numbered from 1: none is 0 and one reaches the plate's number of rows or
    columns (``col="12"`` on a 96-well plate), which numbering from 0 cannot give."""
    positions = []
    for element in root.iter():
        if _local(element.tag) == "well":
            try:
                positions.append((int(element.get("row")), int(element.get("col"))))
            except (TypeError, ValueError):
                return  # reported with the well
    if not positions:
        return
    size = 96 if plate_size is None else plate_size
    n_rows, n_cols = _shape(size)
    rows, cols = [r for r, _ in positions], [c for _, c in positions]
    if not (1 <= min(rows) and max(rows) <= n_rows and 1 <= min(cols) and max(cols) <= n_cols):
        return
    if max(rows) < n_rows and max(cols) < n_cols:
        return
    reach = f"row {n_rows}" if max(rows) == n_rows else f"col {n_cols}"
    problem = (
        f"the wells look numbered from 1 (no row or col is 0, and {reach} is off a {size}-well "
        "plate numbered from 0), but IncuCyte numbers .PlateMap rows and cols from 0"
    )
    if plate_size is not None:
        raise input_error(path, f"{problem}: number them from 0 (row 0 is row A, col 0 column 1)")
    warnings.warn(
        f"{os.fspath(path)}: {problem}; read from 0, this is a 384-well plate map (row 1 col 1 "
        "is B2); if it is a 96-well plate, number its rows and cols from 0",
        IncugrowthWarning,
        stacklevel=4,
    )


def _xml_well(element, path, plate_size) -> str:
    row_text, col_text = element.get("row"), element.get("col")
    try:
        row, col = int(row_text), int(col_text)
    except (TypeError, ValueError):
        raise input_error(
            path, f"<well row={row_text!r} col={col_text!r}>: row and col must be 0-based integers"
        ) from None
    n_rows, n_cols = _shape(plate_size)
    if not (0 <= row < n_rows and 0 <= col < n_cols):
        raise input_error(
            path,
            f"<well row={row_text!r} col={col_text!r}> is off the plate (0-based row and col; "
            f"{_range_text(plate_size)})",
        )
    return f"{chr(65 + row)}{col + 1}"


def _reference_order(root) -> dict[tuple[str, str], int]:
    """The rank of each ``(type, name)`` item: its place in the plate map's list of compounds,
    cell types... (``referenceItems``). Items not listed come after them, in each well's own
    order."""
    rank: dict[tuple[str, str], int] = {}
    for element in root.iter():
        if _local(element.tag) == "referenceItem":
            rank.setdefault((element.get("type", ""), _item_name(element)), len(rank))
    return rank


def _item_name(ref) -> str:
    return (ref.get("displayName") or ref.get("description") or "").strip()


def _xml_items(element, rank) -> tuple[list[tuple[str, str, str]], dict[str, str]] | None:
    """The compounds ``(name, concentration, unit)`` and other annotations of a well.

    IncuCyte keeps a well's items in the order they were added to it, so "A + B" in one well
    can be "B + A" in the next: they are taken in the order of ``rank``, the plate map's list.
    """
    compounds: list[tuple[str, str, str]] = []
    values: dict[str, str] = {}
    items = []
    for item in element.iter():
        if _local(item.tag) == "wellItem":
            ref = next((r for r in item.iter() if _local(r.tag) == "referenceItem"), None)
            items.append((item, "" if ref is None else _item_name(ref)))
    if not items:
        return None
    items.sort(key=lambda pair: rank.get((pair[0].get("type", ""), pair[1]), len(rank)))
    for item, name in items:
        kind = item.get("type", "")
        if kind == "Compound":
            compounds.append(
                (
                    name,
                    _plain_number(item.get("concentration", "").strip()),
                    item.get("concentrationUnits", "").strip(),
                )
            )
        elif kind == "CellType":
            # co-cultures (e.g. tumour cells with T cells) hold several cell types
            earlier = values.get("cell_line")
            values["cell_line"] = f"{earlier} + {name}" if earlier else name
            for attr, value in item.attrib.items():
                if attr != "type":
                    values[_lower_snake(re.sub(r"(?<!^)(?=[A-Z])", "_", attr))] = value.strip()
        else:
            column = _lower_snake(re.sub(r"(?<!^)(?=[A-Z])", "_", kind)) or "item"
            values[column] = name
    return compounds, values


def _plain_number(text: str) -> str:
    """A concentration as one spelling per value (``"0.10"`` and ``"1e-1"`` as ``"0.1"``,
    ``"5000.0"`` as ``"5000"``), so that equal concentrations compare equal; other text as
    it is."""
    try:
        value = float(text)
    except ValueError:
        return text
    if not np.isfinite(value):
        return text
    return np.format_float_positional(value, trim="-")


def _names(compounds) -> tuple[str, ...]:
    return tuple(name for name, _, _ in compounds)


def _dose_compounds(wells: list[list[tuple[str, str, str]]]) -> dict[tuple, tuple[int, set]]:
    """For each set of compounds given together: which one's concentration is ``dose``, and
    which others vary from well to well (their concentration goes into the treatment name).

    The dose is a compound whose concentration varies between the wells of that set, preferring
    one that is not a vehicle (a compound that also fills a well by itself at the same
    concentration, as a vehicle control does); without variation, the first that is not a
    vehicle. Wells that differ only in a second compound's concentration are thus never pooled.
    """
    alone = {compounds[0] for compounds in wells if len(compounds) == 1}
    by_set: dict[tuple, list[list[tuple[str, str, str]]]] = {}
    for compounds in wells:
        if compounds:
            by_set.setdefault(_names(compounds), []).append(compounds)
    choice = {}
    for names, members in by_set.items():
        positions = range(len(names))
        varies = {i for i in positions if len({m[i][1:] for m in members}) > 1}
        vehicle = {i for i in positions if all(m[i] in alone for m in members)}
        dosed = [i for i in positions if any(m[i][1] for m in members)]
        ranked = sorted(dosed, key=lambda i: (i in vehicle, i not in varies, i))
        dose_at = ranked[0] if ranked and len(names) > 1 else 0
        choice[names] = (dose_at, varies - {dose_at})
    return choice


def _treatment_values(compounds, choice: tuple[int, set]) -> dict[str, str]:
    dose_at, in_name = choice
    parts = []
    for i, (name, conc, unit) in enumerate(compounds):
        parts.append(f"{name} {conc} {unit}".strip() if i in in_name and conc else name)
    values = {
        "treatment": " + ".join(parts),
        "dose": compounds[dose_at][1],
        "dose_unit": compounds[dose_at][2],
    }
    if len(compounds) > 1:
        values["doses"] = " + ".join(f"{c[0]} {c[1]} {c[2]}".strip() for c in compounds)
    return values


def _to_frame(records: list[dict], plate_size: int, fmt: str) -> pd.DataFrame:
    df = pd.DataFrame.from_records(records)
    df["row"] = df["well"].str[0]
    df["col"] = df["well"].str[1:].astype(np.int64)
    df["dose"] = df["dose"].astype(float)
    df = df.sort_values(["row", "col"], kind="stable").reset_index(drop=True)
    extras = [c for c in df.columns if c not in BASE_COLUMNS and c != "control"]
    for name in extras:
        numeric = pd.to_numeric(df[name], errors="coerce")
        if numeric.notna().sum() == df[name].notna().sum() and df[name].notna().any():
            df[name] = numeric
    order = BASE_COLUMNS + (["control"] if "control" in df.columns else []) + extras
    df = df[order]
    df.attrs["plate_size"] = plate_size
    df.attrs["format"] = fmt
    return df


# --------------------------------------------------------------------------------------
# Checking against the data
# --------------------------------------------------------------------------------------


def _well_list(wells: list[str], limit: int = 12) -> str:
    shown = ", ".join(wells[:limit])
    return shown + (f" and {len(wells) - limit} more" if len(wells) > limit else "")


def _agree(wells: list[str]) -> tuple[str, str, str]:
    """ "1 well", "has", "is" or "3 wells", "have", "are"."""
    if len(wells) == 1:
        return "1 well", "has", "is"
    return f"{len(wells)} wells", "have", "are"


def check_plate_map(plate: pd.DataFrame, wells: Iterable[str], *, path=None) -> list[str]:
    """Compare the plate map with the wells that have data, warning about any mismatch.

    Parameters
    ----------
    plate : pandas.DataFrame
        A plate map table (from :func:`read_plate_map`).
    wells : iterable of str
        The wells present in the data (any spelling; repeats are fine).
    path : str or path-like, optional
        The plate-map file, named in the messages.

    Returns
    -------
    list of str
        The problems found (also issued as :class:`~incugrowth.errors.IncugrowthWarning`):
        wells in the map without data, and wells with data not in the map (these are left
        out of the analysis). Empty when the two agree.

    Examples
    --------
    >>> plate = pd.DataFrame({"well": ["B2", "B3"]})
    >>> check_plate_map(plate, ["B2", "B3", "B3"])
    []
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     problems = check_plate_map(plate, ["B02", "C1"], path="plate.csv")
    >>> for problem in problems:
    ...     print(problem)
    plate.csv: 1 well in the plate map has no data: B3
    plate.csv: 1 well has data but is not in the plate map (left out of the analysis): C1
    """
    in_map = {normalize_well(w, plate_size=None) for w in plate["well"]}
    in_data = {normalize_well(str(w), plate_size=None) for w in wells if pd.notna(w)}
    prefix = "" if path is None else f"{os.fspath(path)}: "
    problems = []
    no_data = sorted(in_map - in_data, key=well_sort_key)
    if no_data:
        wells_, have, _ = _agree(no_data)
        problems.append(f"{prefix}{wells_} in the plate map {have} no data: {_well_list(no_data)}")
    not_mapped = sorted(in_data - in_map, key=well_sort_key)
    if not_mapped:
        wells_, have, are = _agree(not_mapped)
        problems.append(
            f"{prefix}{wells_} {have} data but {are} not in the plate map (left out of the "
            f"analysis): {_well_list(not_mapped)}"
        )
    for problem in problems:
        warnings.warn(problem, IncugrowthWarning, stacklevel=2)
    return problems
