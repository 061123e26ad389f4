"""Prism-ready tables hold exactly the growth table's numbers, in the documented layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from incugrowth import kinetics
from incugrowth.prism import prism_endpoint_table, prism_growth_table, write_prism_tables

LINES = ["M420", "M407 JAK1-KO"]
TREATMENTS = ["IFN gamma", "untreated", "2'3'-cGAMP"]  # control deliberately not first
TIMES = [0.0, 24.0, 48.0, 72.0]


@pytest.fixture
def growth() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    plate, counts = [], []
    for li, line in enumerate(LINES):
        for ti, t in enumerate(TREATMENTS):
            # Replicates listed out of plate order (D before B); the second cell line sits in
            # columns 10-12, which string order would put before column 2.
            col = 2 + ti + 8 * li
            for well in [f"D{col}", f"B{col}", f"C{col}"]:
                plate.append({"well": well, "cell_line": line, "treatment": t})
                for h in TIMES:
                    counts.append(
                        {"well": well, "field": 1, "elapsed_h": h, "count": rng.integers(80, 900)}
                    )
    counts = pd.DataFrame(counts)
    # One missing value: it must stay an empty cell, not shift the others.
    counts.loc[(counts.well == "C2") & (counts.elapsed_h == 48.0), "count"] = np.nan
    return kinetics.growth_table(counts, pd.DataFrame(plate))


def _plate_order(wells) -> list[str]:
    return sorted(wells, key=lambda w: (w[0], int(w[1:])))


def _expected_column(growth, line, treatment, well) -> str:
    wells = growth.loc[
        (growth.cell_line == line) & (growth.treatment == treatment), "well"
    ].unique()
    return f"{treatment}_{_plate_order(wells).index(well) + 1}"


def test_growth_tables_equal_the_growth_values(growth, tmp_path):
    paths = write_prism_tables(tmp_path, growth, None)
    assert [p.name for p in paths] == ["prism_growth_M420.csv", "prism_growth_M407_JAK1-KO.csv"]
    for line, path in zip(LINES, paths):
        table = pd.read_csv(path)
        assert list(table["Time (h)"]) == TIMES
        assert table.shape == (len(TIMES), 1 + 3 * len(TREATMENTS))
        for row in growth[growth.cell_line == line].itertuples():
            col = _expected_column(growth, line, row.treatment, row.well)
            got = table.loc[table["Time (h)"] == row.elapsed_h, col].iloc[0]
            if np.isnan(row.pct_change):
                assert np.isnan(got)
            else:
                assert got == pytest.approx(row.pct_change, rel=1e-12, abs=1e-12)


def test_missing_value_is_an_empty_cell(growth, tmp_path):
    write_prism_tables(tmp_path, growth, None)
    lines = (tmp_path / "prism_growth_M420.csv").read_text().splitlines()
    # C2 is the 2nd replicate (B2, C2, D2) of IFN gamma; at 48 h its cell is empty.
    header = lines[0].split(",")
    row_48 = next(r for r in lines[1:] if r.startswith("48.0,")).split(",")
    assert row_48[header.index("IFN gamma_2")] == ""
    assert sum(v == "" for v in row_48) == 1


def test_header_layout_control_first_replicates_side_by_side(growth):
    table = prism_growth_table(growth, "M420")
    assert list(table.columns) == [
        "Time (h)",
        "untreated_1", "untreated_2", "untreated_3",
        "IFN gamma_1", "IFN gamma_2", "IFN gamma_3",
        "2'3'-cGAMP_1", "2'3'-cGAMP_2", "2'3'-cGAMP_3",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="not in the growth table"):
        prism_growth_table(growth, "M999")


def test_endpoint_table_equals_endpoint_values(growth, tmp_path):
    end = kinetics.endpoint(growth, 72.0)
    paths = write_prism_tables(tmp_path, growth, end)
    assert paths[-1].name == "prism_endpoint.csv"
    table = pd.read_csv(paths[-1])
    assert list(table["Cell line"]) == LINES
    for row in end.itertuples():
        col = _expected_column(growth, row.cell_line, row.treatment, row.well)
        got = table.loc[table["Cell line"] == row.cell_line, col].iloc[0]
        assert got == pytest.approx(row.pct_change, rel=1e-12)
    assert not list(tmp_path.glob(".*.tmp"))


def test_unequal_replicates_leave_blank_cells():
    end = pd.DataFrame(
        {
            "well": ["B2", "B3", "C2", "C3", "D3"],
            "cell_line": ["A", "A", "B", "B", "B"],
            "treatment": ["untreated", "x", "untreated", "x", "x"],
            "pct_change": [200.0, 50.0, 180.0, 40.0, 45.0],
        }
    )
    table = prism_endpoint_table(end)
    assert list(table.columns) == ["Cell line", "untreated_1", "x_1", "x_2"]
    assert np.isnan(table.loc[0, "x_2"]) and table.loc[1, "x_2"] == 45.0


def test_several_doses_get_their_own_data_sets():
    end = pd.DataFrame(
        {
            "well": ["B2", "B3", "B4"],
            "cell_line": "A",
            "treatment": ["untreated", "drug", "drug"],
            "dose": [np.nan, 1.0, 10.0],
            "dose_unit": ["", "uM", "uM"],
            "pct_change": [200.0, 150.0, 20.0],
        }
    )
    table = prism_endpoint_table(end)
    assert list(table.columns) == ["Cell line", "untreated_1", "drug 1 uM_1", "drug 10 uM_1"]
    assert table.iloc[0, 1:].tolist() == [200.0, 150.0, 20.0]
