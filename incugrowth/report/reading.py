"""Reading a run's output folder: its tables and ``run.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from incugrowth.tables import TABLES

#: Tables the report reads from the output folder (``<name>.csv``): those `run` writes.
TABLE_FILES = TABLES
_STRING_COLUMNS = (
    "well",
    "cell_line",
    "treatment",
    "control",
    "stars",
    "qc_flag",
    "source",
    "response",
)


def _read_table(path: Path) -> pd.DataFrame:
    try:
        head = pd.read_csv(path, nrows=0)
    except pd.errors.EmptyDataError:  # a table that could not be computed, written empty
        return pd.DataFrame()
    dtype = {c: str for c in head.columns if c in _STRING_COLUMNS or c == "dose_unit"}
    # "NA" or "None" can be a treatment name; only truly empty cells are missing.
    df = pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=["", "NaN", "nan"])
    for col in ("qc_flag", "stars"):
        if col in df.columns:
            df[col] = df[col].fillna("")
    return df


def read_outputs(outdir: str | os.PathLike) -> tuple[dict[str, pd.DataFrame | None], dict]:
    """The tables (``None`` where a file is missing) and ``run.json`` of an output folder."""
    outdir = Path(outdir)
    tables: dict[str, pd.DataFrame | None] = {}
    for name in TABLE_FILES:
        path = outdir / f"{name}.csv"
        tables[name] = _read_table(path) if path.exists() else None
    run_path = outdir / "run.json"
    run = json.loads(run_path.read_text(encoding="utf-8")) if run_path.exists() else {}
    return tables, run
