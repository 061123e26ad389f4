"""The edge-effect check: outer against inner wells of the same condition."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from incugrowth.cli import main
from incugrowth.qc_plate import edge_effect_test, edge_effects, is_outer_well

DATA = Path(__file__).parents[1] / "sample_data"
EXPORT = DATA / "export_red_count.txt"
PLATE = DATA / "plate_map.csv"


def _export_with_edge(tmp_path, factor: float) -> Path:
    """The sample export with every outer well's count after the first scan times
    ``factor``: outer wells grow less, as where medium evaporates."""
    lines = EXPORT.read_text(encoding="utf-8").splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("Date Time"))
    names = lines[head].split("\t")
    wells = [n.split(",")[0] for n in names[2:] if n]
    outer = is_outer_well(wells)
    for i in range(head + 2, len(lines)):  # the first scan (the baseline) stays
        cells = lines[i].split("\t")
        for j, edge in enumerate(outer):
            if edge and cells[j + 2].strip():
                cells[j + 2] = f"{float(cells[j + 2]) * factor:.0f}"
        lines[i] = "\t".join(cells)
    path = tmp_path / "export.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(tmp_path, export, capsys):
    out = tmp_path / "out"
    argv = ["run", "--export", str(export), "--plate-map", str(PLATE), "-o", str(out)]
    assert main([*argv, "--no-figures", "--no-report"]) == 0
    return out, capsys.readouterr().err


def test_outer_wells_that_grow_less_are_a_warning_and_a_table(tmp_path, capsys):
    out, err = _run(tmp_path, _export_with_edge(tmp_path, 0.6), capsys)
    lines = [line for line in err.splitlines() if "edge effect" in line]
    assert len(lines) == 1 and "outer wells (plate edge) grew less" in lines[0]
    table = pd.read_csv(out / "edge_effects.csv")
    both = table.dropna(subset=["difference"])
    # 12 conditions of the sample plate have wells in column 1 or 12 and inside
    assert len(both) == 12 and (both["n_outer"] == 1).all() and (both["n_inner"] == 2).all()
    end = pd.read_csv(out / "endpoint.csv")
    row = both[both["outer_wells"] == "B1"].iloc[0]
    b = end.set_index("well")["pct_change"]
    assert row["difference"] == pytest.approx(b["B1"] - (b["B2"] + b["B3"]) / 2)
    assert json.loads((out / "run.json").read_text())["warnings"][-1].startswith("edge effect")


def test_the_sample_plate_has_no_edge_effect(tmp_path, capsys):
    """Simulated without one: the 12 differences scatter around 0 (paired t-test P = 0.27)."""
    out, err = _run(tmp_path, EXPORT, capsys)
    assert "edge effect" not in err
    res = edge_effect_test(pd.read_csv(out / "edge_effects.csv"))
    assert res["n_conditions"] == 12 and res["p"] == pytest.approx(0.2725, abs=1e-3)


def test_the_paired_test_is_the_one_sample_t_test_of_the_differences():
    # R (tests/r/edge_effect.R): t.test(c(-55, -25, -40, -10), mu = 0)
    res = edge_effect_test(pd.DataFrame({"difference": [-55.0, -25.0, -40.0, -10.0]}))
    assert res["t"] == pytest.approx(-3.356586, abs=1e-6) and res["df"] == 3
    assert res["p"] == pytest.approx(0.0438441, abs=1e-7) and res["flagged"]
    assert np.isnan(edge_effect_test(pd.DataFrame({"difference": [-5.0, 3.0]}))["p"])


def test_384_well_geometry():
    wells = ["A1", "A24", "P1", "P24", "B2", "H12", "O23", "I1"]
    assert is_outer_well(wells).tolist() == [True, True, True, True, False, False, False, True]
    end = pd.DataFrame(
        {
            "well": ["A5", "B5", "C5", "P5"],
            "cell_line": "x",
            "treatment": "t",
            "pct_change": [10.0, 30.0, 50.0, 0.0],
        }
    )
    row = edge_effects(end).iloc[0]
    assert (row["n_outer"], row["n_inner"], row["difference"]) == (2, 2, 5.0 - 40.0)
