"""GraphPad Prism-ready tables: growth and endpoint values laid out as Prism grouped tables.

A Prism grouped table has one row per row title (here a time point, or a cell line), and one
data set per column group (here a treatment) with the replicate values side by side in its
subcolumns. The CSV files keep that layout with a single header row: the first column is the
row title (``Time (h)`` or ``Cell line``), then ``<treatment>_1``, ``<treatment>_2``, ... one
column per replicate well, in plate order. The control comes first, then the other treatments
in plate-map order; a missing value is an empty cell.

To use a table in Prism: create a Grouped (or, for growth over time, an XY table with X =
time) table with as many side-by-side replicate subcolumns as the file has ``_1``, ``_2`` ...
columns per treatment; copy everything *below* the header row, including the first column,
and paste into the first row-title (or X) cell. Prism fills the subcolumns left to right, so
each treatment lands in its own data set; name the data sets after the header (the part
before ``_1``). A single header row is used rather than two (treatment names, then replicate
letters) because it reads back into pandas, R or Excel as an ordinary table and the pasted
block is the same either way.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from incugrowth._io import write_csv
from incugrowth.platemap import well_sort_key

__all__ = [
    "prism_endpoint_table",
    "prism_growth_table",
    "prism_plates_table",
    "write_prism_plate_tables",
    "write_prism_tables",
]


def _conditions(df: pd.DataFrame, control: str) -> pd.DataFrame:
    """One row per well: its condition label (treatment, plus dose when there are several)."""
    from incugrowth.plots import condition_label

    cols = [c for c in ("well", "cell_line", "treatment", "dose", "dose_unit") if c in df.columns]
    wells = df[cols].drop_duplicates("well").copy()
    multi = "dose" in wells.columns and wells.groupby("treatment")["dose"].nunique().gt(1).any()
    wells["condition"] = [condition_label(r, bool(multi)) for r in wells.to_dict("records")]
    order = list(dict.fromkeys(wells["condition"]))
    first = {c: t for c, t in zip(wells["condition"], wells["treatment"])}
    order.sort(key=lambda c: first[c] != control)
    wells["_order"] = wells["condition"].map({c: i for i, c in enumerate(order)})
    wells["_well"] = wells["well"].map(well_sort_key)
    wells = wells.sort_values(["_order", "_well"], kind="stable")
    wells["replicate"] = wells.groupby(["cell_line", "condition"], sort=False).cumcount() + 1
    return wells.drop(columns=["_well"])


def _columns(wells: pd.DataFrame) -> list[tuple[str, int]]:
    n = wells.groupby("condition", sort=False)["replicate"].max()
    order = wells.drop_duplicates("condition").sort_values("_order")["condition"]
    return [(c, k) for c in order for k in range(1, int(n[c]) + 1)]


def prism_growth_table(
    growth: pd.DataFrame,
    cell_line,
    *,
    value: str = "pct_change",
    control: str = "untreated",
) -> pd.DataFrame:
    """One cell line's growth as a Prism grouped table: rows = time, columns = replicates.

    Examples
    --------
    >>> g = pd.DataFrame({"well": ["B2", "B2", "B3", "B3", "C2", "C2"],
    ...                   "elapsed_h": [0.0, 72.0] * 3, "cell_line": "M420",
    ...                   "treatment": ["IFN gamma"] * 2 + ["untreated"] * 2 + ["IFN gamma"] * 2,
    ...                   "pct_change": [0.0, 50.0, 0.0, 300.0, 0.0, 60.0]})
    >>> prism_growth_table(g, "M420")
       Time (h)  untreated_1  IFN gamma_1  IFN gamma_2
    0       0.0          0.0          0.0          0.0
    1      72.0        300.0         50.0         60.0
    """
    sub = growth[growth["cell_line"] == cell_line]
    if sub.empty:
        raise ValueError(f"`cell_line` {cell_line!r} is not in the growth table")
    wells = _conditions(sub, control)
    times = np.sort(sub["elapsed_h"].dropna().unique())
    values = sub.pivot_table(index="elapsed_h", columns="well", values=value, aggfunc="first")
    values = values.reindex(index=times)
    out = {"Time (h)": times}
    for cond, k in _columns(wells):
        hit = wells.loc[(wells["condition"] == cond) & (wells["replicate"] == k), "well"]
        well = hit.iloc[0]
        # A well with no value at any time is dropped by pivot_table: an empty column.
        col = values[well] if well in values.columns else pd.Series(np.nan, index=times)
        out[f"{cond}_{k}"] = col.to_numpy(dtype=float)
    return pd.DataFrame(out)


def prism_endpoint_table(
    endpoint: pd.DataFrame, *, value: str = "pct_change", control: str = "untreated"
) -> pd.DataFrame:
    """The endpoint as a Prism grouped table: rows = cell line, columns = replicates.

    This is the layout of Prism's two-way ANOVA (row factor cell line, column factor
    treatment, replicates in subcolumns).

    Examples
    --------
    >>> e = pd.DataFrame({"well": ["B2", "B3", "C2", "C3"], "cell_line": ["A", "A", "B", "B"],
    ...                   "treatment": ["x", "untreated", "x", "untreated"],
    ...                   "pct_change": [10.0, 200.0, 20.0, 150.0]})
    >>> prism_endpoint_table(e)
      Cell line  untreated_1  x_1
    0         A        200.0  10.0
    1         B        150.0  20.0
    """
    wells = _conditions(endpoint, control)
    vals = endpoint.drop_duplicates("well").set_index("well")[value]
    lines = list(dict.fromkeys(endpoint["cell_line"]))
    out: dict = {"Cell line": lines}
    for cond, k in _columns(wells):
        col = []
        for line in lines:
            hit = wells.loc[
                (wells["cell_line"] == line)
                & (wells["condition"] == cond)
                & (wells["replicate"] == k),
                "well",
            ]
            col.append(float(vals[hit.iloc[0]]) if len(hit) else np.nan)
        out[f"{cond}_{k}"] = col
    return pd.DataFrame(out)


def write_prism_tables(
    outdir: str | os.PathLike,
    growth: pd.DataFrame,
    endpoint: pd.DataFrame | None,
    *,
    value: str = "pct_change",
    control: str = "untreated",
) -> list[Path]:
    """Write ``prism_growth_<cell line>.csv`` per cell line and ``prism_endpoint.csv``.

    Files are written atomically; ``endpoint`` may be ``None`` (no endpoint reached), and then
    only the growth tables are written. Returns the paths written.
    """
    from incugrowth.plots import slug

    outdir = Path(outdir)
    paths = []
    for line in dict.fromkeys(growth["cell_line"].dropna()):
        table = prism_growth_table(growth, line, value=value, control=control)
        paths.append(write_csv(table, outdir / f"prism_growth_{slug(line)}.csv"))
    if endpoint is not None and len(endpoint):
        table = prism_endpoint_table(endpoint, value=value, control=control)
        paths.append(write_csv(table, outdir / "prism_endpoint.csv"))
    return paths


def prism_plates_table(
    means: pd.DataFrame, *, row: str = "cell_line", control: str = "untreated"
) -> pd.DataFrame:
    """Plate means as a Prism grouped table for matched experiments: one column per plate.

    Each treatment is a data set whose subcolumns are the plates (``<treatment>_<plate>``),
    so the values of one plate stay in the same subcolumn across rows and data sets: Prism's
    layout for a two-way ANOVA of repeated experiments ("each subcolumn is one experiment",
    matched values stacked in a subcolumn). ``row`` is the row title column of ``means``
    (``cell_line``, or ``elapsed_h`` for growth over time).

    Examples
    --------
    >>> m = pd.DataFrame({"plate": ["day1", "day1", "day2", "day2"], "cell_line": "A",
    ...                   "treatment": ["IFN", "untreated"] * 2, "mean": [50.0, 200, 60, 230]})
    >>> prism_plates_table(m)
      Cell line  untreated_day1  untreated_day2  IFN_day1  IFN_day2
    0         A           200.0           230.0      50.0      60.0
    """
    treatments = list(dict.fromkeys(means["treatment"]))
    treatments.sort(key=lambda t: t != control)
    plates = list(dict.fromkeys(means["plate"]))
    rows = list(dict.fromkeys(means[row]))
    if row == "elapsed_h":
        rows = sorted(rows)
    values = means.set_index([row, "treatment", "plate"])["mean"]
    values = values[~values.index.duplicated()]
    title = "Time (h)" if row == "elapsed_h" else "Cell line"
    out: dict = {title: rows}
    for t in treatments:
        for p in plates:
            out[f"{t}_{p}"] = [float(values.get((r, t, p), np.nan)) for r in rows]
    return pd.DataFrame(out)


def write_prism_plate_tables(
    outdir: str | os.PathLike,
    plate_means: pd.DataFrame,
    plate_curves: pd.DataFrame,
    *,
    control: str = "untreated",
) -> list[Path]:
    """Write the combined plates as Prism tables, one column per plate.

    ``prism_endpoint.csv`` (rows cell line: the plate means at the endpoint) and
    ``prism_growth_<cell line>.csv`` per cell line (rows time: each plate's mean curve).
    Returns the paths written.
    """
    from incugrowth.plots import slug

    outdir = Path(outdir)
    paths = [
        write_csv(prism_plates_table(plate_means, control=control), outdir / "prism_endpoint.csv")
    ]
    for line in dict.fromkeys(plate_curves["cell_line"].dropna()):
        sub = plate_curves[plate_curves["cell_line"] == line]
        table = prism_plates_table(sub, row="elapsed_h", control=control)
        paths.append(write_csv(table, outdir / f"prism_growth_{slug(line)}.csv"))
    return paths
