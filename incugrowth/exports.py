"""IncuCyte metric exports (.txt): read every variant into the export table, then into counts.

An export is tab-separated text: an optional ``Key: value`` preamble (ZOOM ``Label:``,
``Metric:``, ``Cell Type:``...; S3/SX5 ``Vessel Name:``, ``Metric:``, ``Analysis:``), then a
table whose header starts ``Date Time<TAB>Elapsed<TAB>`` (or, in the plate layout, one
``Time Stamp:<TAB>...<TAB>Elapsed:<TAB>12<TAB>hours`` block per scan holding plate grids,
each optionally under an ``Image 2`` or ``Std Err Img`` line; read as the equivalent table).
Time is always taken from ``Elapsed`` (hours); ``Date Time`` follows the locale of the PC and
is ignored. Column headers name a well (``B2``, or ``<plate-map label>: B2``, which is ``: B2``
when the plate map is empty, or ``<plate-map label> (B2)`` as newer software writes it), an
image of a well (``B2, Image 3``, ``: B2, Image 3``, ``<label> (B2), Image 3``), an error
column (``B2 (Std Err Img)``, ``A1 (Std Dev Well)``, ``: B2 (Std Err)``, also spelt out as
``B2 (Std Error)``) or a plate-map group label (several wells pooled under one label; a label
whose last parentheses hold anything but one well name, ``HEK 293 (LNP dynamic)``, is one).
Failed images, written as large negative numbers (about -4.29e8) or ``NA``, become missing.
Numbers are read with a decimal point or a decimal comma, and with the thousands separators
that Excel writes when an export is re-saved (``"1,234"``, ``1.234,5``, ``1 234``): which
mark is which is decided from the cells of the whole table.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from incugrowth._io import (
    MixedNumbers,
    NumberFormat,
    clean_number,
    is_plain_integer,
    number_format,
    plain_number,
    read_input,
    unquote,
)
from incugrowth.errors import IncugrowthWarning, input_error
from incugrowth.platemap import _decode, _try_well, well_sort_key

__all__ = ["export_to_counts", "read_export", "read_exports"]

EXPORT_COLUMNS = [
    "well", "field", "group", "elapsed_h", "metric", "unit", "value", "std_dev", "std_err",
    "source",
]  # fmt: skip
COUNTS_COLUMNS = ["well", "field", "elapsed_h", "count", "metric", "unit", "qc_flag"]
FAILED_IMAGE = "failed_image"

#: Values at or below this are IncuCyte's failed-image sentinel (INT32_MIN averaged in).
SENTINEL_LIMIT = -1e8
_MISSING = {"", "NA", "N/A", "NAN", "#N/A", "NULL"}
_HEADER_RE = re.compile(
    r"^\s*\"?date\s*time\"?\s*\t\s*\"?elapsed(\s*\((h|hr|hrs|hours?)\))?\"?\s*$", re.IGNORECASE
)
# "(Std Err Img)", "(Std Dev Well)", "(Std Err)", also spelt out: "(Std Error)", "(StDev)",
# "(Standard Deviation Img)"
_ERROR_SUFFIX_RE = re.compile(
    r"\s*\(\s*(?:st\.?d?\.?|standard)\s*(dev|err)(?:iation|or)?\.?(?:\s+(?:img|image|well))?\s*\)"
    r"\s*$",
    re.IGNORECASE,
)
_TIME_STAMP_RE = re.compile(r"^\s*\"?time\s*stamp\s*:", re.IGNORECASE)
_IMAGE_RE = re.compile(r"^(.*?)\s*,\s*image\s*0*(\d+)\s*$", re.IGNORECASE)
_UNIT_RE = re.compile(r"\(([^()]*)\)\s*$")
# "<plate-map label> (B2)": a well name in the last parentheses
_LABEL_WELL_RE = re.compile(r"^(.*?)\s*\(\s*([A-Za-z]\s*\d+)\s*\)$")
_NUMBER_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
# a space or apostrophe between digit groups ("1 234", "1'234")
_GROUP_CHARS = " \u00a0\u202f'\u2019"
_GROUP_MARK_RE = re.compile(rf"\d[{_GROUP_CHARS}]\d")
_TWO_COMMAS_RE = re.compile(r",[^\t,]*,")
# a comma not followed by three digits at the end of the cell: a decimal comma ("12,5")
_DECIMAL_COMMA_RE = re.compile(r",(?!\d{3}\"?(?:\t|$))")
_GROUPED_POINT_RE = re.compile(r"[-+]?[1-9]\d{0,2}(?:\.\d{3})+")


# --------------------------------------------------------------------------------------
# Reading one export
# --------------------------------------------------------------------------------------


def read_export(path: str | os.PathLike, *, metric: str | None = None) -> pd.DataFrame:
    """Read an IncuCyte metric export (.txt) into the long export table.

    Parameters
    ----------
    path : str or path-like
        A metric export as written by IncuCyte ZOOM, S3 or SX5 (any preamble or none, CRLF
        or LF, UTF-8 with or without BOM, UTF-16, or Windows cp1252; decimal point or
        decimal comma, with or without thousands separators: a cell with both marks
        (``1,234.5``, ``1.234,5``), a mark used twice (``1,234,567``) or a mark in any other
        place than before the last three digits (``12,5``) decides; ``1,234`` beside integers
        below 1000 written without a mark (``850``) is 1234; spaces and apostrophes between
        groups of three digits are thousands separators).
    metric : str, optional
        The metric name to record. By default the ``Metric:`` line of the preamble, or the
        file stem when the preamble has none. When given, it replaces the preamble's.

    Returns
    -------
    pandas.DataFrame
        One row per well (or image, or group label) and time point, with columns
        ``well`` (canonical "B2"; NaN for group-label columns), ``field`` (float, 1-based
        image number of ``B2, Image 3`` columns; NaN for well-level columns), ``group``
        (the plate-map label, as written: of group-label columns, e.g. ``"M420 IFN gamma"``,
        and of well columns written ``M420: B2`` or ``M420 (B2)``, e.g. ``"M420"``; else NaN),
        ``elapsed_h``, ``metric``, ``unit`` (from the metric name, e.g. ``"1/Image"``),
        ``value`` (NaN where missing), ``std_dev`` and ``std_err`` (from the matching
        ``(Std Dev ...)`` / ``(Std Err ...)`` columns, else NaN) and ``source`` (file name).
        Rows are in plate order (row, column, image), then group labels, each by time.
        ``df.attrs["preamble"]`` holds the preamble as a dict and ``df.attrs["n_failed"]``
        the number of failed-image values.

    Raises
    ------
    IncugrowthError
        For a missing or empty file, no ``Date Time<TAB>Elapsed`` header, a truncated row,
        a cell that is not a number, numbers written two ways (``12,5`` and ``12.5``),
        duplicate columns, or Elapsed times that do not increase. The message names the
        file and line.

    Warns
    -----
    IncugrowthWarning
        Once per file when failed images (values <= -1e8, negative counts, ``NA`` or
        empty cells) were set to missing, with how many and in which wells; and when the
        cells do not show which mark is the decimal mark (every mark has the form
        ``1,234``), naming the reading taken: a comma as thousands separator (not for a
        percentage), a point as decimal point.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "count.txt"
    >>> _ = path.write_text(
    ...     "Metric: Red Object Count (1/Image)\\n\\n"
    ...     "Date Time\\tElapsed\\tB2, Image 1\\tB2, Image 2\\tB2 (Std Err Img)\\n"
    ...     "25/11/2026 14:03:00\\t0\\t100\\t110\\t5\\n"
    ...     "26/11/2026 14:03:00\\t24\\t201\\t199\\t1\\n")
    >>> export = read_export(path)
    >>> export[["well", "field", "elapsed_h", "value", "std_err"]]
      well  field  elapsed_h  value  std_err
    0   B2    NaN        0.0    NaN      5.0
    1   B2    NaN       24.0    NaN      1.0
    2   B2    1.0        0.0  100.0      NaN
    3   B2    1.0       24.0  201.0      NaN
    4   B2    2.0        0.0  110.0      NaN
    5   B2    2.0       24.0  199.0      NaN
    >>> export.unit.iloc[0]
    '1/Image'
    """
    lines = _read_lines(path)
    if _find_plate_blocks(lines) is not None and _find_header(lines, None) is None:
        preamble, names, cells, line_numbers = _plate_blocks(lines, path)
        columns = _parse_columns(names[2:], path, None)
    else:
        header_at = _find_header(lines, path)
        preamble = _parse_preamble(lines[:header_at])
        names = [unquote(c) for c in lines[header_at].split("\t")]
        while len(names) > 2 and not names[-1]:
            names.pop()  # a trailing TAB after the last column
        header_line = header_at + 1
        if len(names) < 3:
            raise input_error(
                path, "the header has no data columns after Elapsed", line=header_line
            )
        columns = _parse_columns(names[2:], path, header_line)
        cells, line_numbers = _split_rows(lines, header_at, len(names), path)

    name = metric if metric is not None else preamble.get("Metric") or Path(path).stem
    unit = _UNIT_RE.search(name)
    percent = unit is not None and unit.group(1).strip().lower() in ("percent", "%")
    numbers, missing = _to_numbers(cells[:, 1:], names[1:], line_numbers, path, percent=percent)
    elapsed = _elapsed(numbers[:, 0], missing[:, 0], line_numbers, path)
    values, missing = numbers[:, 1:], missing[:, 1:]

    failed = _mark_failed(values, missing, columns, is_count="count" in name.lower())
    n_failed = _warn_failed(failed, columns, path)
    df = _assemble(values, elapsed, columns, name, Path(path).name)
    df.attrs["preamble"] = preamble
    df.attrs["n_failed"] = n_failed
    return df


def _read_lines(path) -> list[str]:
    data = read_input(
        path,
        expected="an IncuCyte metric export (.txt)",
        instead_of_excel="export the metric from IncuCyte as text (.txt)",
    )
    text = _decode(data).replace("\x00", "")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _find_header(lines: list[str], path) -> int | None:
    """Index of the ``Date Time<TAB>Elapsed`` line; without it, None if ``path`` is None,
    else an error naming the file."""
    for i, line in enumerate(lines):
        first_two = "\t".join(line.split("\t")[:2])
        if _HEADER_RE.match(first_two):
            return i
    if path is None:
        return None
    hint = ""
    if any(line.lower().replace('"', "").startswith("date time,") for line in lines):
        hint = " (this file is comma-separated; export it from IncuCyte as tab-separated .txt)"
    raise input_error(
        path,
        "no table header: expected a line starting 'Date Time<TAB>Elapsed<TAB>' followed by "
        "the well columns, or plate grids under 'Time Stamp:<TAB>...<TAB>Elapsed:<TAB>' lines, "
        f"as IncuCyte writes metric exports{hint}",
    )


def _find_plate_blocks(lines: list[str]) -> int | None:
    """Index of the first ``Time Stamp:`` line of a plate-layout export, or None."""
    for i, line in enumerate(lines):
        if _TIME_STAMP_RE.match(line):
            return i
    return None


def _grid_header(line: str) -> int | None:
    """Number of plate columns when ``line`` is a grid header ``<TAB>1<TAB>2...<TAB>N``."""
    cells = [c.strip() for c in line.split("\t")]
    while len(cells) > 1 and not cells[-1]:
        cells.pop()
    n = len(cells) - 1
    if n >= 1 and not cells[0] and cells[1:] == [str(i) for i in range(1, n + 1)]:
        return n
    return None


def _block_suffix(label: str | None, path, line: int) -> str:
    """How a grid's label line (``Image 2``, ``Std Err Img``) is written in a column header."""
    if not label:
        return ""
    image = re.fullmatch(r"image\s*0*(\d+)", label.strip(), re.IGNORECASE)
    if image is not None:
        return f", Image {int(image.group(1))}"
    if _ERROR_SUFFIX_RE.fullmatch(f"({label.strip()})"):
        return f" ({label.strip()})"
    raise input_error(
        path,
        f"unknown grid label {label!r}: expected 'Image <n>', 'Std Err ...' or 'Std Dev ...' "
        "above a plate grid",
        line=line,
    )


def _plate_blocks(lines: list[str], path):
    """A plate-layout export (one ``Time Stamp:<TAB>...<TAB>Elapsed:<TAB>h`` block per scan,
    each with plate grids) as the cells of the equivalent ``Date Time<TAB>Elapsed`` table."""
    first = _find_plate_blocks(lines)
    preamble = _parse_preamble(lines[:first])
    times: list[tuple[str, int]] = []
    grids: list[dict[str, str]] = []
    label, label_line, i = None, 0, first
    while i < len(lines):
        line = lines[i]
        if _TIME_STAMP_RE.match(line):
            cells = [c.strip() for c in line.split("\t")]
            at = next((k for k, c in enumerate(cells) if c.lower() == "elapsed:"), None)
            if at is None or at + 1 >= len(cells):
                raise input_error(
                    path, "a 'Time Stamp:' line without 'Elapsed:<TAB>hours'", line=i + 1
                )
            times.append((cells[at + 1], i + 1))
            grids.append({})
            label = None
        elif not line.strip():
            pass
        elif (n_cols := _grid_header(line)) is not None:
            suffix = _block_suffix(label, path, label_line)
            label = None
            while i + 1 < len(lines) and re.match(r"^[A-Za-z]\t", lines[i + 1]):
                i += 1
                row_cells = lines[i].split("\t")
                for col, text in enumerate(row_cells[1 : n_cols + 1], start=1):
                    name = f"{row_cells[0].upper()}{col}{suffix}"
                    if name in grids[-1]:
                        raise input_error(path, f"{name} is given twice at one time", line=i + 1)
                    grids[-1][name] = text
        else:
            label, label_line = line.strip(), i + 1
        i += 1
    # a well is in the table when any scan has a value for it: unused wells are empty grid cells
    used = [n for n in dict.fromkeys(n for g in grids for n in g) if any(g.get(n, "").strip()
            for g in grids)]  # fmt: skip
    if not used:
        raise input_error(path, "the plate grids below 'Time Stamp:' hold no values")
    names = ["Date Time", "Elapsed", *used]
    cells = np.empty((len(times), len(names)), dtype=object)
    for r, ((elapsed, _), grid) in enumerate(zip(times, grids)):
        cells[r] = ["", elapsed, *(grid.get(n, "") for n in used)]
    return preamble, names, cells, np.asarray([line for _, line in times])


def _parse_preamble(lines: list[str]) -> dict[str, str]:
    """``Key: value`` lines above the table; lines without a colon are skipped."""
    preamble: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.strip().partition(":")
        key = key.strip().strip('"').strip()
        if sep and key and key not in preamble:
            preamble[key] = value.strip().strip('"').strip()
    return preamble


def _parse_column(name: str) -> tuple[str | float, float, str | float, str]:
    """``(well, field, group, kind)`` of a column header; kind is value, std_dev or std_err."""
    kind = "value"
    suffix = _ERROR_SUFFIX_RE.search(name)
    if suffix is not None and suffix.start() > 0:
        kind = "std_dev" if suffix.group(1).lower() == "dev" else "std_err"
        name = name[: suffix.start()].strip()
    field = np.nan
    image = _IMAGE_RE.match(name)
    if image is not None and image.group(1):
        name, field = image.group(1).strip(), float(image.group(2))
    well, label = _try_well(name), ""
    if well is None and ":" in name:
        # "<plate-map label>: B2" names one well (the label is empty when the plate map is)
        label, _, rest = name.rpartition(":")
        well = _try_well(rest)
    if well is None:
        # "<plate-map label> (B2)", as newer IncuCyte software writes the labels of a plate map
        in_parens = _LABEL_WELL_RE.match(name)
        if in_parens is not None:
            label, well = in_parens.group(1), _try_well(in_parens.group(2))
    if well is not None:
        return well, field, label.strip() or np.nan, kind
    return np.nan, field, name, kind


def _parse_columns(names: list[str], path, header_line: int) -> list[tuple]:
    columns = []
    first_seen: dict[tuple, str] = {}
    for j, name in enumerate(names, start=3):
        if not name:
            raise input_error(path, f"column {j} has no name in the header", line=header_line)
        well, field, group, kind = _parse_column(name)
        identity = (*_column_key(well, field, group), kind)
        if identity in first_seen:
            other = first_seen[identity]
            same = "twice" if other == name else f"twice (as {other!r} and {name!r})"
            raise input_error(
                path,
                f"column {name!r} appears {same}: each well (image, error column) may appear "
                "once; export each plate's metric once, not appended to another export",
                line=header_line,
            )
        first_seen[identity] = name
        columns.append((well, field, group, kind, name))
    return columns


def _split_rows(lines: list[str], header_at: int, n_names: int, path):
    """The table cells as an object array (rows x columns) and the line number of each row."""
    rows, line_numbers = [], []
    for i in range(header_at + 1, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != n_names:
            if len(cells) < n_names or any(c.strip() for c in cells[n_names:]):
                raise input_error(
                    path,
                    f"this row has {len(cells)} tab-separated cells but the header has "
                    f"{n_names}: the row is truncated or has extra cells",
                    line=i + 1,
                )
            cells = cells[:n_names]
        rows.append(cells)
        line_numbers.append(i + 1)
    if not rows:
        raise input_error(path, "no data rows below the table header", line=header_at + 1)
    array = np.empty((len(rows), n_names), dtype=object)
    array[:] = rows
    return array, np.asarray(line_numbers)


def _to_numbers(cells: np.ndarray, names: list[str], line_numbers, path, *, percent: bool):
    """Parse every cell at once: floats (NaN where missing) and the missing mask.

    The decimal mark and any thousands separators are decided from the cells of the whole
    table (:func:`_number_format`). A table written as IncuCyte writes it goes through one
    vectorised conversion; only the cells it cannot read (missing markers, quoted numbers,
    typos) are looked at one by one.
    """
    n_rows, n_cols = cells.shape
    flat = cells.ravel()
    joined = "\t".join(flat)
    grouped = _has_group_mark(joined)
    fmt = _number_format(cells, joined, grouped, names, line_numbers, path, percent=percent)
    unreadable = np.zeros(flat.shape, dtype=bool)
    if fmt.decimal == "," and "." not in joined and not grouped:
        # decimal comma and no thousands marks: one replacement (the separator is still TAB)
        flat = np.array(joined.replace(",", ".").split("\t"), dtype=object)
    elif "," in joined or grouped or fmt.decimal == ",":
        codes, uniques = pd.factorize(flat)
        plain = [plain_number(text, fmt) for text in uniques]
        unreadable = np.array([text is None for text in plain])[codes]
        flat = np.array(["" if text is None else text for text in plain], dtype=object)[codes]
    numbers = pd.to_numeric(flat, errors="coerce").astype(float)
    missing = np.zeros(numbers.shape, dtype=bool)
    for k in np.flatnonzero(np.isnan(numbers) & ~unreadable):
        text = unquote(str(flat[k]))
        if text.upper() in _MISSING:
            missing[k] = True
        elif _NUMBER_RE.match(text):
            numbers[k] = float(text)
    numbers[unreadable] = np.nan
    bad = (np.isnan(numbers) & ~missing) | np.isinf(numbers)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        r, c = divmod(k, n_cols)
        raise input_error(
            path,
            f"column {names[c]!r} has {unquote(str(cells[r, c]))!r}, expected a number",
            line=int(line_numbers[r]),
        )
    return numbers.reshape(n_rows, n_cols), missing.reshape(n_rows, n_cols)


def _has_group_mark(joined: str) -> bool:
    """Whether a cell of the TAB-joined cells has a space or apostrophe between digits."""
    # the characters are looked for first: the pattern costs a step at every digit
    return any(c in joined for c in _GROUP_CHARS) and bool(_GROUP_MARK_RE.search(joined))


def _number_format(cells, joined: str, grouped: bool, names, line_numbers, path, *, percent: bool):
    """The decimal mark and thousands separator of the table, decided from its cells.

    ``grouped`` says whether a cell has a space or apostrophe between digit groups. Excel
    writes counts with thousands separators (``"1,234"``) when an export is re-saved;
    IncuCyte itself writes a decimal comma or point, as the PC's locale has it. A mark that
    the cells leave undecided is read with a warning naming the file and the reading.
    """
    if "," not in joined and not grouped:
        if "." not in joined or not _only_grouped_points(cells.ravel()):
            return NumberFormat()  # decimal points only (or no marks): as IncuCyte writes
    elif "." not in joined and not grouped:
        if not _TWO_COMMAS_RE.search(joined) and _DECIMAL_COMMA_RE.search(joined):
            return NumberFormat(",", ".")  # decimal commas only ("12,5"): as IncuCyte writes
    texts = pd.unique(cells.ravel())
    # the values (not Elapsed) hold integers below 1000 written without a mark ("850")
    plain = any(is_plain_integer(t) for t in pd.unique(cells[:, 1:].ravel()))
    try:
        fmt = number_format(texts, plain_integers=plain, at_most=100.0 if percent else None)
    except MixedNumbers as exc:
        r, c = (int(i[0]) for i in np.nonzero(np.vectorize(clean_number)(cells) == exc.text))
        raise input_error(
            path,
            f"column {names[c]!r} has {exc.text!r} and elsewhere the file has {exc.other!r}: "
            f"{exc.reason}; write every number of the file one way",
            line=int(line_numbers[r]),
        ) from None
    if fmt.assumed:
        warnings.warn(
            f"{os.fspath(path)}: {fmt.assumed}, as the numbers do not show which mark is the "
            "decimal mark; check the values, or export the metric again from IncuCyte",
            IncugrowthWarning,
            stacklevel=4,
        )
    return fmt


def _only_grouped_points(flat) -> bool:
    """Whether every cell with a point has the form of thousands marks (``"1.234"``)."""
    found = False
    for text in flat:
        if "." in text:
            if not _GROUPED_POINT_RE.fullmatch(clean_number(text)):
                return False
            found = True
    return found


def _elapsed(elapsed: np.ndarray, missing: np.ndarray, line_numbers, path) -> np.ndarray:
    if missing.any():
        r = int(np.flatnonzero(missing)[0])
        raise input_error(path, "Elapsed is empty: every row needs its time in hours",
                          line=int(line_numbers[r]))  # fmt: skip
    steps = np.diff(elapsed)
    if (steps <= 0).any():
        r = int(np.flatnonzero(steps <= 0)[0]) + 1
        what = "repeats" if steps[r - 1] == 0 else "goes back to"
        raise input_error(
            path,
            f"Elapsed {what} {elapsed[r]:g} h after {elapsed[r - 1]:g} h: times must increase "
            "(a duplicated or out-of-order row)",
            line=int(line_numbers[r]),
        )
    return elapsed


def _mark_failed(values: np.ndarray, missing: np.ndarray, columns, *, is_count: bool):
    """Set failed images to NaN in place; return the mask of failed value cells."""
    with np.errstate(invalid="ignore"):
        sentinel = values <= SENTINEL_LIMIT
        negative = values < 0
    is_value = np.array([c[3] == "value" for c in columns])
    failed = (sentinel | missing | (negative & is_count)) & is_value
    values[sentinel | failed | (negative & ~is_value)] = np.nan
    return failed


def _warn_failed(failed: np.ndarray, columns, path) -> int:
    n_failed = int(failed.sum())
    if n_failed:
        where = []
        for j in np.flatnonzero(failed.any(axis=0)):
            well, _, group, _, _ = columns[j]
            label = group if isinstance(well, float) else well
            if label not in where:
                where.append(label)
        shown = ", ".join(where[:12]) + (f" and {len(where) - 12} more" if len(where) > 12 else "")
        s = "s" if n_failed > 1 else ""
        warnings.warn(
            f"{os.fspath(path)}: {n_failed} value{s} from failed images (large negative "
            f"numbers such as -4.29e+08, negative counts, NA or empty) set to missing in "
            f"{shown}",
            IncugrowthWarning,
            stacklevel=3,
        )
    return n_failed


def _key_order(key) -> tuple:
    well, field, group, first = key
    if isinstance(well, str):
        return (0, ord(well[0]), int(well[1:]), -1.0 if np.isnan(field) else field, first)
    return (1, 0, 0, -1.0 if np.isnan(field) else field, first)


def _repeat_labels(labels: list, n: int) -> pd.api.extensions.ExtensionArray:
    """Each label ``n`` times, as strings with NaN kept missing (numpy would write "nan")."""
    return pd.array(np.repeat(np.array(labels, dtype=object), n), dtype="str")


def _column_key(well, field, group) -> tuple[str, float, str]:
    """What a column measures: its well (or group label) and image, whatever it holds
    (value or error). A well is keyed without its plate-map label ("B2" and "M420: B2" are
    one well, and its error column may be written without the label); NaN never equals
    itself, so a missing image number is keyed as -1."""
    label = str(group) if isinstance(well, float) else ""
    return str(well), -1.0 if np.isnan(field) else float(field), label


def _assemble(values, elapsed, columns, metric: str, source: str) -> pd.DataFrame:
    """Turn the (time x column) matrix into long rows, std columns beside their values."""
    keys: dict[tuple, int] = {}
    key_list: list[tuple] = []
    for well, field, group, _, _ in columns:
        key = _column_key(well, field, group)
        if key not in keys:
            keys[key] = len(keys)
            key_list.append((well, field, group, keys[key]))
        elif isinstance(key_list[keys[key]][2], float):
            key_list[keys[key]] = (well, field, group, keys[key])  # the label, where written
    order = sorted(range(len(key_list)), key=lambda k: _key_order(key_list[k]))
    rank = np.empty(len(order), dtype=int)
    rank[order] = np.arange(len(order))

    n_times, n_keys = len(elapsed), len(key_list)
    mats = {kind: np.full((n_times, n_keys), np.nan) for kind in ("value", "std_dev", "std_err")}
    for j, (well, field, group, kind, _) in enumerate(columns):
        mats[kind][:, rank[keys[_column_key(well, field, group)]]] = values[:, j]
    ordered = [key_list[k] for k in order]
    unit_match = _UNIT_RE.search(metric)
    df = pd.DataFrame(
        {
            "well": _repeat_labels([k[0] for k in ordered], n_times),
            "field": np.repeat(np.array([k[1] for k in ordered], dtype=float), n_times),
            "group": _repeat_labels([k[2] for k in ordered], n_times),
            "elapsed_h": np.tile(elapsed.astype(float), n_keys),
            "metric": metric,
            "unit": unit_match.group(1).strip() if unit_match else "",
            "value": mats["value"].T.ravel(),
            "std_dev": mats["std_dev"].T.ravel(),
            "std_err": mats["std_err"].T.ravel(),
            "source": source,
        }
    )
    for name in ("metric", "unit", "source"):
        df[name] = df[name].astype("str")
    return df


# --------------------------------------------------------------------------------------
# Several exports of one plate
# --------------------------------------------------------------------------------------


def read_exports(paths) -> pd.DataFrame:
    """Read several exports of one plate (e.g. a count and a confluence) into one table.

    Parameters
    ----------
    paths : path or list of paths
        The export files.

    Returns
    -------
    pandas.DataFrame
        The export tables one after the other (columns as :func:`read_export`).
        ``df.attrs["preamble"]`` maps each file name to its preamble and
        ``df.attrs["n_failed"]`` is the total number of failed-image values.

    Raises
    ------
    IncugrowthError
        When two files hold the same metric for the same well, image and time; the message
        names both files.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name, metric, value in [("count.txt", "Red Object Count (1/Image)", 100),
    ...                             ("conf.txt", "Phase Object Confluence (Percent)", 12.5)]:
    ...     _ = (folder / name).write_text(
    ...         f"Metric: {metric}\\nDate Time\\tElapsed\\tB2\\n1/1/2026 9:00\\t0\\t{value}\\n")
    >>> both = read_exports([folder / "count.txt", folder / "conf.txt"])
    >>> both[["well", "metric", "value", "source"]]
      well                             metric  value     source
    0   B2         Red Object Count (1/Image)  100.0  count.txt
    1   B2  Phase Object Confluence (Percent)   12.5   conf.txt
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise input_error(None, "no export files given")
    frames = [read_export(p) for p in paths]
    for i, frame in enumerate(frames):
        frame["_file"] = i
    combined = pd.concat(frames, ignore_index=True)
    # a well is the same well whatever its plate-map label in each file
    combined["_group"] = combined["group"].where(combined["well"].isna())
    keys = ["metric", "well", "field", "_group", "elapsed_h"]
    dup = combined.duplicated(subset=keys, keep=False)
    if dup.any():
        rows = combined[dup]
        first = rows.iloc[0]
        same = rows[
            (rows.metric == first.metric)
            & (rows.well.fillna("") == ("" if pd.isna(first.well) else first.well))
            & (rows._group.fillna("") == ("" if pd.isna(first._group) else first._group))
        ]
        files = list(dict.fromkeys(int(f) for f in same["_file"]))
        what = first.well if pd.notna(first.well) else first.group
        if pd.notna(first.field):
            what = f"{what}, image {int(first.field)}"
        raise input_error(
            paths[files[-1]],
            f"metric {first.metric!r} for {what} at {first.elapsed_h:g} h is also in "
            f"{os.fspath(paths[files[0]])}: give each metric of a well once",
        )
    combined = combined.drop(columns=["_file", "_group"])
    combined.attrs = {
        "preamble": {f.source.iloc[0]: f.attrs.get("preamble", {}) for f in frames},
        "n_failed": sum(f.attrs.get("n_failed", 0) for f in frames),
    }
    return combined


# --------------------------------------------------------------------------------------
# Export to counts
# --------------------------------------------------------------------------------------


def _sources(export: pd.DataFrame) -> str | None:
    if "source" not in export.columns:
        return None
    names = [str(s) for s in export["source"].dropna().unique()]
    return ", ".join(names) if names else None


def _choices(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names) if names else "none"


def _well_rows(export: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows of one metric with a well; per-image rows win over per-well rows of the same well."""
    rows = export[(export["metric"] == metric) & export["well"].notna()]
    imaged = rows.loc[rows["field"].notna(), "well"].unique()
    return rows[rows["field"].notna() | ~rows["well"].isin(imaged)]


def _shell_word(text: str) -> str:
    """`text` quoted for a command line when it needs it, in double quotes, which the POSIX
    shells and Windows' cmd.exe and PowerShell all read (metric names hold no ``"``, ``$``
    or backquote)."""
    if re.fullmatch(r"[\w.,:/%+-]+", text):
        return text
    return '"' + text.replace('"', '\\"') + '"'


def export_to_counts(
    export: pd.DataFrame, *, metric: str | None = None, confluence: str | bool | None = None
) -> pd.DataFrame:
    """Turn an export table into the counts table (one row per well, image and time).

    Parameters
    ----------
    export : pandas.DataFrame
        An export table from :func:`read_export` or :func:`read_exports`.
    metric : str, optional
        The count metric. By default the one metric whose name contains "Count"; it must be
        given when there are several.
    confluence : str or bool, optional
        The confluence metric to add as a ``confluence`` column. By default the metric whose
        name contains "Confluence" (preferring a "Phase" one when there are several);
        False leaves it out.

    Returns
    -------
    pandas.DataFrame
        Columns ``well``, ``field`` (NaN for well-level counts), ``elapsed_h``, ``count``
        (NaN for failed images), ``metric``, ``unit``, ``qc_flag`` (``"failed_image"`` where
        the export had a failed-image value, else ``""``), and ``confluence`` (percent) when
        a confluence metric is present. A per-image count takes the confluence of the same
        image; when one is per image and the other per well, the well mean is used.
        Group-label rows are dropped (with a warning); when a well has both per-image and
        per-well columns the per-image ones are used. Sorted by well, image and time.

    Raises
    ------
    IncugrowthError
        When there is no count metric, several and ``metric`` is not given, or only
        group-label columns.

    Examples
    --------
    >>> export = pd.DataFrame({
    ...     "well": ["B2", "B2", "B2", "B2"], "field": [1.0, 1.0, float("nan"), float("nan")],
    ...     "group": float("nan"), "elapsed_h": [0.0, 24.0, 0.0, 24.0],
    ...     "metric": ["Red Count (1/Image)"] * 2 + ["Phase Confluence (Percent)"] * 2,
    ...     "unit": ["1/Image"] * 2 + ["Percent"] * 2, "value": [100.0, None, 10.0, 20.0],
    ...     "std_dev": float("nan"), "std_err": float("nan"), "source": "x.txt"})
    >>> counts = export_to_counts(export)
    >>> counts[["well", "field", "elapsed_h", "count", "qc_flag", "confluence"]]
      well  field  elapsed_h  count       qc_flag  confluence
    0   B2    1.0        0.0  100.0                      10.0
    1   B2    1.0       24.0    NaN  failed_image        20.0
    """
    where = _sources(export)
    metrics = list(export["metric"].dropna().unique())
    if metric is None:
        candidates = [m for m in metrics if "count" in m.lower()]
        if len(candidates) != 1:
            if candidates:
                advice = "choose one with --metric (metric= in Python)"
                problem = "several count metrics"
            else:
                problem = "no count metric"
                confluent = [m for m in metrics if "confluence" in m.lower()]
                advice = (
                    f"to analyse confluence, give --metric {_shell_word(confluent[0])} "
                    "(metric= in Python)"
                    if confluent
                    else "export a count metric, or name the metric to analyse with --metric "
                    "(metric= in Python)"
                )
            raise input_error(
                where, f"{problem} in the export (metrics: {_choices(metrics)}); {advice}"
            )
        metric = candidates[0]
    elif metric not in metrics:
        raise input_error(where, f"metric {metric!r} is not in the export; choices: "
                          f"{_choices(metrics)}")  # fmt: skip

    rows = export[export["metric"] == metric]
    if rows["well"].isna().all():
        labels = list(rows["group"].dropna().unique()[:3])
        raise input_error(
            where,
            f"metric {metric!r} has only group-label columns (e.g. {_choices(labels)}), which "
            "cannot become counts per well: export the metric per well from IncuCyte",
        )
    if rows["well"].isna().any():
        labels = list(rows.loc[rows["well"].isna(), "group"].dropna().unique())
        warnings.warn(
            f"{where}: group-label columns left out of the counts: {_choices(labels[:6])}",
            IncugrowthWarning,
            stacklevel=2,
        )
    rows = _well_rows(export, metric)
    counts = pd.DataFrame(
        {
            "well": rows["well"].to_numpy(),
            "field": rows["field"].to_numpy(dtype=float),
            "elapsed_h": rows["elapsed_h"].to_numpy(dtype=float),
            "count": rows["value"].to_numpy(dtype=float),
            "metric": rows["metric"].to_numpy(),
            "unit": rows["unit"].to_numpy(),
        }
    )
    counts["qc_flag"] = np.where(counts["count"].isna(), FAILED_IMAGE, "")
    counts = counts.astype({"well": "str", "metric": "str", "unit": "str", "qc_flag": "str"})

    conf_metric = _pick_confluence(metrics, metric, confluence, where)
    if conf_metric is not None:
        counts = _add_confluence(counts, _well_rows(export, conf_metric))
    codes, wells = pd.factorize(counts["well"])
    plate_order = sorted(range(len(wells)), key=lambda i: well_sort_key(wells[i]))
    well_rank = np.empty(len(wells), dtype=np.int64)
    well_rank[plate_order] = np.arange(len(wells))
    order = np.lexsort(
        (counts["elapsed_h"].to_numpy(), counts["field"].fillna(-1).to_numpy(), well_rank[codes])
    )
    return counts.iloc[order].reset_index(drop=True)


def _pick_confluence(metrics, count_metric, confluence, where) -> str | None:
    if confluence is False:
        return None
    if isinstance(confluence, str):
        if confluence not in metrics:
            raise input_error(where, f"confluence metric {confluence!r} is not in the export; "
                              f"choices: {_choices(metrics)}")  # fmt: skip
        return confluence
    candidates = [m for m in metrics if "confluence" in m.lower() and m != count_metric]
    if len(candidates) > 1:
        phase = [m for m in candidates if "phase" in m.lower()]
        if len(phase) != 1:
            raise input_error(
                where,
                f"several confluence metrics: {_choices(candidates)}; pass confluence= with "
                "the one to use",
            )
        candidates = phase
    return candidates[0] if candidates else None


def _add_confluence(counts: pd.DataFrame, conf: pd.DataFrame) -> pd.DataFrame:
    conf = pd.DataFrame(
        {
            "well": conf["well"].to_numpy(),
            "field": conf["field"].to_numpy(dtype=float),
            "_t": conf["elapsed_h"].to_numpy(dtype=float).round(6),
            "confluence": conf["value"].to_numpy(dtype=float),
        }
    )
    counts = counts.assign(_t=counts["elapsed_h"].round(6))
    both_per_image = counts["field"].notna().all() and conf["field"].notna().all()
    if both_per_image:
        keys = ["well", "field", "_t"]
    else:
        keys = ["well", "_t"]
        conf = conf.groupby(keys, as_index=False, sort=False)["confluence"].mean()
    merged = counts.merge(conf[keys + ["confluence"]], on=keys, how="left", validate="m:1")
    return merged.drop(columns="_t")
